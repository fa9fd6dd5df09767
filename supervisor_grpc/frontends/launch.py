"""Start every configured front-end; each returns an object with ``stop()``.

Owns: which front-ends a DaemonSpec (and the command line) asks for, their start order, and
closing control last at exit.
May import: control, model, the front-end packages (imported lazily, so ``--no-grpc`` never
loads grpc).
Threading: main thread, at start and at exit.

A front-end may also expose ``process_changed(namespec, state)``: daemon registers it as a
core listener (called on the loop thread, so it must be quick and never block).
"""

from __future__ import annotations

from typing import Any, Protocol

from ..control import Control
from ..model import DaemonSpec, ProcessState


class Frontend(Protocol):
    def stop(self) -> None: ...


class HealthAware(Frontend, Protocol):
    def process_changed(self, namespec: str, state: ProcessState) -> None: ...


class _CloseControl:
    """Listed last, so the daemon (which stops front-ends in reverse) stops it first: once the
    loop has ended, every control wait still outstanding in any front-end is answered with
    ShuttingDown instead of waiting out its bound."""

    def __init__(self, control: Control) -> None:
        self._control = control

    def stop(self) -> None:
        self._control.close()


def start_all(
    spec: DaemonSpec, opts: Any, control: Control, *, single_only: bool
) -> list[Frontend]:
    """Start the XML-RPC shim on every [unix_http_server]/[inet_http_server] and the gRPC
    service on its listen addresses. A failure to bind is a ConfigError naming the section."""
    started: list[Frontend] = []
    try:
        if spec.http_servers:
            from .xmlrpc.server import start_xmlrpc  # type: ignore[import-not-found, unused-ignore]

            started.append(start_xmlrpc(control, spec))
        if not getattr(opts, "no_grpc", False):
            listen = tuple(getattr(opts, "grpc_listen", ()) or ()) or spec.grpc.listen
            if listen or not single_only:
                from .grpc.server import start_grpc  # type: ignore[import-not-found, unused-ignore]

                started.append(start_grpc(control, spec, listen))
    except BaseException:
        for frontend in reversed(started):
            frontend.stop()
        raise
    started.append(_CloseControl(control))
    return started
