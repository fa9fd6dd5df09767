"""GRPC_ENABLE_FORK_SUPPORT for this process only.

Owns: setting it before anything imports grpc, and keeping it out of our children's
environment unless the caller set it.
May import: stdlib.
Threading: import time, then read-only.

We only fork+exec (grpc fork_support.md), so gRPC's fork handlers are not wanted here. A
variable we set for ourselves is not the caller's: our children must not see it (a Python
program using grpc under us would silently get fork support turned off).
"""

from __future__ import annotations

import os

_NAME = "GRPC_ENABLE_FORK_SUPPORT"
_IS_OURS = _NAME not in os.environ
os.environ.setdefault(_NAME, "false")


def caller_environment() -> dict[str, str]:
    """The environment our children inherit: the caller's, without what we set for ourselves."""
    env = dict(os.environ)
    if _IS_OURS:
        env.pop(_NAME, None)
    return env
