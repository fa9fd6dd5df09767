"""``start_grpc``: build, bind and start the gRPC servers; ``GrpcFrontend`` stops them.

Owns: the front-end's asyncio loop and its thread, the grpc.aio servers (the service and the
optional health-only one), the interceptor chain (token, then errors), health and reflection
registration, and the shutdown order (control waits answered, followers ended, then the
servers stopped).
May import: control, model, errors, the generated package, grpc, grpc_health, grpc_reflection.
Threading: ``start_grpc`` and ``stop`` run on the daemon's main thread (before and after the
loop) and hand work to the front-end's asyncio thread; every RPC is a coroutine there, so no
client (a half-open connection, an idle follower, a reflection stream) holds a thread.
``process_changed`` runs on the supervisor loop thread and only hands a value to the health
reporter.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from supgrpc.v1 import supervisor_pb2 as pb
from supgrpc.v1 import supervisor_pb2_grpc as pb_grpc

from ...control import Control
from ...control.aio import AsyncControl
from ...model import DaemonSpec, ProcessState
from . import listeners as net
from .health import HealthReporter
from .health_servicer import HealthServicer as AsyncHealthServicer
from .inflight import CallCounter
from .interceptors import ErrorInterceptor, TokenInterceptor
from .servicer import SupervisorServicer
from .streams import GroupsAdded, StreamSlots, Wakeups

log = logging.getLogger(__name__)
T = TypeVar("T")

# Concurrent streams (TailLog, WatchEvents). They are coroutines, not threads: the cap only
# bounds memory (a few KiB each) and is far above any real number of followers.
STREAM_SLOTS = 4096
# How long stop() lets in-flight RPCs finish after followers were told to end.
STOP_GRACE_SECONDS = 1.0
# Once no handler runs: how long the servers get to send the last statuses before the rest
# (connections without a call, which grpc's grace would wait on in full) is cut.
STOP_LINGER_SECONDS = 0.1
# Starting or stopping the servers on the asyncio thread: binding is quick, but never wait
# for that thread without a bound.
LIFECYCLE_SECONDS = 10.0

SERVER_OPTIONS = (
    # grpc enables SO_REUSEPORT by default, which lets a second daemon bind the same TCP port
    # silently: we want "address in use" instead.
    ("grpc.so_reuseport", 0),
    # Detect dead followers (a client that vanished without closing) within a minute.
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
)


class AioThread:
    """The front-end's own asyncio loop, run by one daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="grpc-aio", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = LIFECYCLE_SECONDS) -> T:
        """Run ``coro`` on the loop and wait (bounded) for its result."""
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(LIFECYCLE_SECONDS)
        if not self._thread.is_alive():
            self.loop.close()


class GrpcFrontend:
    """The running gRPC service, as ``frontends.launch`` sees it."""

    def __init__(
        self,
        aio: AioThread,
        servers: list[Any],
        reporter: HealthReporter,
        state: _State,
        sockets: list[tuple[str, int | None]],
        addresses: list[str],
    ) -> None:
        self._aio = aio
        self._servers = servers
        self._reporter = reporter
        self._state = state
        self._sockets = sockets
        self.addresses = addresses
        self._stopped = False

    def process_changed(self, namespec: str, state: ProcessState) -> None:
        """Loop thread: O(1), never blocks (see health.HealthReporter)."""
        self._reporter.process_changed(namespec, state)

    def stop(self) -> None:
        """End follower streams, then stop the servers (at most ~STOP_GRACE_SECONDS + 1)."""
        if self._stopped:
            return
        self._stopped = True
        self._reporter.stop()
        try:
            self._aio.run(_stop(self._servers, self._state), STOP_GRACE_SECONDS + LIFECYCLE_SECONDS)
        except Exception:
            log.exception("stopping the gRPC servers failed")
        self._aio.close()
        for path, inode in self._sockets:
            net.remove_socket(path, inode)


class _State:
    """What the asyncio side shares: the stopping flag and the follower wake-ups."""

    def __init__(self, loop: asyncio.AbstractEventLoop, control: Control) -> None:
        self.stopping = False
        self.calls = CallCounter()
        self.wakeups = Wakeups(loop)
        self.groups = GroupsAdded(control.journal)

    def is_stopping(self) -> bool:
        return self.stopping


async def _stop(servers: list[Any], state: _State) -> None:
    state.stopping = True
    state.wakeups.wake_all()  # followers see the flag and end their streams with OK
    answered = await state.calls.idle(STOP_GRACE_SECONDS)
    linger = STOP_LINGER_SECONDS if answered else 0.0
    await asyncio.gather(*(server.stop(linger) for server in servers))


def _listeners(spec: DaemonSpec, listen: tuple[str, ...]) -> list[net.Listener]:
    addresses = list(listen) or [f"unix://{net.default_socket_path()}"]
    return [net.parse_address(a, spec.config_file) for a in addresses]


def start_grpc(control: Control, spec: DaemonSpec, listen: tuple[str, ...]) -> GrpcFrontend:
    """Serve SupervisorService, grpc.health.v1 and reflection on every ``listen`` address
    (or the default socket). A bad address or a failed bind raises ConfigError."""
    gspec = spec.grpc
    # grpc.aio logs "Loaded running loop" and every cancelled follower at DEBUG: at the
    # daemon's loglevel=debug that buried the daemon's own records in its log.
    logging.getLogger("grpc._cython.cygrpc").setLevel(logging.INFO)
    listeners = _listeners(spec, listen)
    net.check_security(listeners, gspec, spec.config_file)
    net.warn_plaintext_token(listeners, gspec, log)
    credentials = net.server_credentials(gspec, spec.config_file)
    aio = AioThread()
    sockets: list[tuple[str, int | None]] = []
    try:
        servers, reporter, state = aio.run(_start(control, spec, listeners, credentials, sockets))
    except BaseException:
        aio.close()
        for path, inode in sockets:
            net.remove_socket(path, inode)
        raise
    shown = [listener.address for listener in listeners]
    return GrpcFrontend(aio, servers, reporter, state, sockets, shown)


async def _start(
    control: Control,
    spec: DaemonSpec,
    listeners: list[net.Listener],
    credentials: Any,
    sockets: list[tuple[str, int | None]],
) -> tuple[list[Any], HealthReporter, _State]:
    """On the asyncio thread: build, bind and start both servers (or stop what started)."""
    gspec = spec.grpc
    loop = asyncio.get_running_loop()
    state = _State(loop, control)
    interceptors: list[Any] = [state.calls]
    if gspec.token:
        interceptors.append(TokenInterceptor(gspec.token))
    interceptors.append(ErrorInterceptor())
    server = grpc.aio.server(interceptors=interceptors, options=SERVER_OPTIONS)
    state.groups.start()
    health_servicer = AsyncHealthServicer()
    reporter = HealthReporter(control, health_servicer, loop)
    servicer = SupervisorServicer(
        AsyncControl(control, loop),
        slots=StreamSlots(STREAM_SLOTS),
        wakeups=state.wakeups,
        groups=state.groups,
        stopping=state.is_stopping,
    )
    pb_grpc.add_SupervisorServiceServicer_to_server(servicer, server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (
            pb.DESCRIPTOR.services_by_name["SupervisorService"].full_name,
            health.SERVICE_NAME,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    servers = [server]
    try:
        for listener in listeners:
            net.bind(server, listener, credentials, gspec, spec.config_file)
            if listener.unix_path is not None:
                sockets.append((listener.unix_path, net.socket_inode(listener.unix_path)))
        await server.start()
        log.info("gRPC listening on %s", ", ".join(x.address for x in listeners))
        health_server = await _start_health_only(spec, health_servicer, sockets)
        if health_server is not None:
            servers.append(health_server)
        reporter.start()
    except BaseException:
        await asyncio.gather(*(s.stop(None) for s in servers))
        raise
    return servers, reporter, state


async def _start_health_only(
    spec: DaemonSpec, servicer: AsyncHealthServicer, sockets: list[tuple[str, int | None]]
) -> Any:
    """``[grpc] health_listen``: grpc.health.v1 alone, without a token or TLS.

    Kubernetes' native gRPC probes and most load balancers cannot send a bearer token or a
    client certificate, and health statuses reveal nothing that needs one; the control RPCs
    are simply not served on these ports.
    """
    gspec = spec.grpc
    if not gspec.health_listen:
        return None
    listeners = [net.parse_address(a, spec.config_file) for a in gspec.health_listen]
    server = grpc.aio.server(options=SERVER_OPTIONS)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    try:
        for listener in listeners:
            net.bind(server, listener, None, gspec, spec.config_file, key="health_listen")
            if listener.unix_path is not None:
                sockets.append((listener.unix_path, net.socket_inode(listener.unix_path)))
        await server.start()
    except BaseException:
        await server.stop(None)
        raise
    log.info("gRPC health only on %s", ", ".join(x.address for x in listeners))
    return server
