"""``start_grpc``: build, bind and start the gRPC server; ``GrpcFrontend`` stops it.

Owns: the grpc.Server and its bounded thread pool, the interceptor chain (token, then
errors), health and reflection registration, and the shutdown order (followers first).
May import: control, model, errors, the generated package, grpc, grpc_health, grpc_reflection.
Threading: ``start_grpc`` and ``stop`` run on the daemon's main thread (before and after the
loop); ``process_changed`` runs on the loop thread and only hands a value to the health
reporter. Handlers run on the pool.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from supgrpc.v1 import supervisor_pb2 as pb
from supgrpc.v1 import supervisor_pb2_grpc as pb_grpc

from ...control import Control
from ...model import DaemonSpec, ProcessState
from . import listeners as net
from .health import HealthReporter
from .interceptors import ErrorInterceptor, TokenInterceptor
from .servicer import SupervisorServicer
from .streams import StreamSlots

log = logging.getLogger(__name__)

# Handler threads. Streams hold one each for their whole life, so they get fewer slots than
# there are threads: unary control RPCs (start/stop/status) always find a free thread.
POOL_THREADS = 16
STREAM_SLOTS = 8
# The health-only listener answers probes: Check is instant, Watch holds a thread.
HEALTH_THREADS = 4
# How long stop() lets in-flight RPCs finish; followers notice the stop flag sooner (within
# streams.FOLLOW_WAIT_SECONDS) and end their streams cleanly first.
STOP_GRACE_SECONDS = 1.0

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


class GrpcFrontend:
    """The running gRPC service, as ``frontends.launch`` sees it."""

    def __init__(
        self,
        server: Any,
        executor: ThreadPoolExecutor,
        reporter: HealthReporter,
        stopping: threading.Event,
        sockets: list[tuple[str, int | None]],
        addresses: list[str],
        health_server: Any = None,
    ) -> None:
        self._server = server
        self._health_server = health_server
        self._executor = executor
        self._reporter = reporter
        self._stopping = stopping
        self._sockets = sockets
        self.addresses = addresses
        self._stopped = False

    def process_changed(self, namespec: str, state: ProcessState) -> None:
        """Loop thread: O(1), never blocks (see health.HealthReporter)."""
        self._reporter.process_changed(namespec, state)

    def stop(self) -> None:
        """End follower streams, then stop the server (at most ~STOP_GRACE_SECONDS + 0.5)."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        self._reporter.stop()
        done = self._server.stop(STOP_GRACE_SECONDS)
        if self._health_server is not None:
            self._health_server.stop(0)
        done.wait(STOP_GRACE_SECONDS + 0.5)
        self._executor.shutdown(wait=False, cancel_futures=True)
        for path, inode in self._sockets:
            net.remove_socket(path, inode)


def _listeners(spec: DaemonSpec, listen: tuple[str, ...]) -> list[net.Listener]:
    addresses = list(listen) or [f"unix://{net.default_socket_path()}"]
    return [net.parse_address(a, spec.config_file) for a in addresses]


def start_grpc(control: Control, spec: DaemonSpec, listen: tuple[str, ...]) -> GrpcFrontend:
    """Serve SupervisorService, grpc.health.v1 and reflection on every ``listen`` address
    (or the default socket). A bad address or a failed bind raises ConfigError."""
    gspec = spec.grpc
    listeners = _listeners(spec, listen)
    net.check_security(listeners, gspec, spec.config_file)
    credentials = net.server_credentials(gspec, spec.config_file)

    interceptors: list[Any] = []
    if gspec.token:
        interceptors.append(TokenInterceptor(gspec.token))
    interceptors.append(ErrorInterceptor())
    executor = ThreadPoolExecutor(max_workers=POOL_THREADS, thread_name_prefix="grpc")
    server = grpc.server(executor, interceptors=interceptors, options=SERVER_OPTIONS)

    stopping = threading.Event()
    health_servicer = health.HealthServicer()
    reporter = HealthReporter(control, health_servicer)
    servicer = SupervisorServicer(control, slots=StreamSlots(STREAM_SLOTS), stopping=stopping)
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

    sockets: list[tuple[str, int | None]] = []
    try:
        for listener in listeners:
            net.bind(server, listener, credentials, gspec, spec.config_file)
            if listener.unix_path is not None:
                sockets.append((listener.unix_path, net.socket_inode(listener.unix_path)))
        reporter.start()
        server.start()
    except BaseException:
        server.stop(None)
        executor.shutdown(wait=False)
        for path, inode in sockets:
            net.remove_socket(path, inode)
        raise
    shown = [listener.address for listener in listeners]
    log.info("gRPC listening on %s", ", ".join(shown))
    try:
        health_server = _start_health_only(spec, health_servicer, sockets)
    except BaseException:
        reporter.stop()
        server.stop(None)
        executor.shutdown(wait=False)
        for path, inode in sockets:
            net.remove_socket(path, inode)
        raise
    return GrpcFrontend(server, executor, reporter, stopping, sockets, shown, health_server)


def _start_health_only(
    spec: DaemonSpec, servicer: health.HealthServicer, sockets: list[tuple[str, int | None]]
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
    server = grpc.server(
        ThreadPoolExecutor(max_workers=HEALTH_THREADS, thread_name_prefix="grpc-health"),
        options=SERVER_OPTIONS,
    )
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    try:
        for listener in listeners:
            net.bind(server, listener, None, gspec, spec.config_file, key="health_listen")
            if listener.unix_path is not None:
                sockets.append((listener.unix_path, net.socket_inode(listener.unix_path)))
        server.start()
    except BaseException:
        server.stop(None)
        raise
    log.info("gRPC health only on %s", ", ".join(x.address for x in listeners))
    return server
