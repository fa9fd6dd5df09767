"""Errors the client raises: one class per gRPC status code, never a raw ``grpc.RpcError``.

Owns: turning a failed call into a :class:`SupgrpcError` subclass carrying the status code,
the server's message and supervisor's fault name (trailing metadata ``supgrpc-error``).
May import: grpc, stdlib (never the server package).
Threading: plain exceptions.
"""

from __future__ import annotations

from typing import Any

import grpc

FAULT_METADATA_KEY = "supgrpc-error"


class SupgrpcError(Exception):
    """A call failed. ``status`` is the gRPC status name (``NOT_FOUND``...), ``fault`` the
    supervisor fault name when the server sent one (``BAD_NAME``, ``NOT_RUNNING``...)."""

    status = "UNKNOWN"

    def __init__(self, message: str, *, status: str | None = None, fault: str | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.fault = fault

    def __str__(self) -> str:
        return self.message


class NotFound(SupgrpcError):
    status = "NOT_FOUND"


class FailedPrecondition(SupgrpcError):
    status = "FAILED_PRECONDITION"


class InvalidArgument(SupgrpcError):
    status = "INVALID_ARGUMENT"


class Unauthenticated(SupgrpcError):
    status = "UNAUTHENTICATED"


class PermissionDenied(SupgrpcError):
    status = "PERMISSION_DENIED"


class DeadlineExceeded(SupgrpcError):
    status = "DEADLINE_EXCEEDED"


class Unavailable(SupgrpcError):
    """The server cannot be reached (not running, wrong address, TLS mismatch...)."""

    status = "UNAVAILABLE"


class ResourceExhausted(SupgrpcError):
    status = "RESOURCE_EXHAUSTED"


class Aborted(SupgrpcError):
    status = "ABORTED"


class Cancelled(SupgrpcError):
    status = "CANCELLED"


class Unimplemented(SupgrpcError):
    status = "UNIMPLEMENTED"


class Internal(SupgrpcError):
    status = "INTERNAL"


_BY_STATUS: dict[str, type[SupgrpcError]] = {
    cls.status: cls
    for cls in (
        NotFound,
        FailedPrecondition,
        InvalidArgument,
        Unauthenticated,
        PermissionDenied,
        DeadlineExceeded,
        Unavailable,
        ResourceExhausted,
        Aborted,
        Cancelled,
        Unimplemented,
        Internal,
    )
}


def from_rpc_error(exc: Any) -> SupgrpcError:
    """Translate a ``grpc.RpcError`` (which is also a ``grpc.Call``)."""
    code = exc.code() if hasattr(exc, "code") else None
    status = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    details = exc.details() if hasattr(exc, "details") else None
    fault = None
    try:
        for key, value in exc.trailing_metadata() or ():
            if key == FAULT_METADATA_KEY:
                fault = value if isinstance(value, str) else value.decode()
    except Exception:  # no metadata on locally generated errors
        fault = None
    cls = _BY_STATUS.get(status, SupgrpcError)
    return cls(details or status, status=status, fault=fault)
