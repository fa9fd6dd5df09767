"""supgrpc_client: a typed Python client for supgrpcd, and the ``supgrpc-cli`` command.

Owns: the public client API (re-exported here) and the CLI (``supgrpc_client.cli``).
May import: the generated ``supgrpc`` package, grpc, grpc_health, stdlib. Never the server
package ``supervisor_grpc``: clients install without it.
Threading: see ``client.Client`` (shareable) and ``client.Stream`` (one consumer).
"""

from __future__ import annotations

from .client import Client, Stream, TlsOptions
from .errors import (
    Aborted,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    SupgrpcError,
    Unauthenticated,
    Unavailable,
)
from .types import (
    ConfigChanges,
    DaemonStatus,
    Event,
    ExitStatus,
    LogChunk,
    LogFaults,
    ProcessInfo,
    ProcessResult,
    ResourceUsage,
)

__all__ = [
    "Aborted",
    "Client",
    "ConfigChanges",
    "DaemonStatus",
    "DeadlineExceeded",
    "Event",
    "ExitStatus",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "LogChunk",
    "LogFaults",
    "NotFound",
    "PermissionDenied",
    "ProcessInfo",
    "ProcessResult",
    "ResourceExhausted",
    "ResourceUsage",
    "Stream",
    "SupgrpcError",
    "TlsOptions",
    "Unauthenticated",
    "Unavailable",
]
