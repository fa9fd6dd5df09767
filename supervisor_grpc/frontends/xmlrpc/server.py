"""``start_xmlrpc``: the listeners, the reactor, the workers and the routes.

Owns: routing complete requests (``/RPC2``, ``/logtail``, ``/mainlogtail``; everything else
404) to the XML-RPC dispatcher or a log stream, the bounded worker pool, the bound on
streams, and a prompt ``stop``.
May import: control, model, errors, this package, stdlib.
Threading: the reactor thread (see reactor.py) reads requests and writes answers, except
that a worker writes its own answer and takes the next request on a busy keep-alive
connection while they come back to back (keepalive.py); a pool
of at most ``max_workers`` threads runs complete requests (a call may wait, e.g.
``startProcess`` until RUNNING, without holding anyone else up); each /logtail stream gets
its own thread while it holds one of ``max_streams`` slots, so RPCs always find a worker.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from ...control import Control
from ...model import DaemonSpec
from . import codec, keepalive, logtail
from .conn import Conn, error_answer
from .faults import RpcFault
from .http import HttpError, Limits, Request, response
from .reactor import Reactor
from .rpc import Dispatcher
from .sockets import Bound, bind
from .supervisor_ns import SupervisorNamespace

log = logging.getLogger("supgrpc")
TRACE = 5


class _Pool:
    """Threads started on demand up to ``size``; jobs queue when all are busy."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._waiting = 0  # threads blocked on the queue
        self._queued = 0

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            self._queued += 1
            if self._queued > self._waiting and self._threads < self._size:
                threading.Thread(target=self._work, name="xmlrpc-worker", daemon=True).start()
                self._threads += 1
        self._jobs.put(job)

    def _work(self) -> None:
        while True:
            with self._lock:
                self._waiting += 1
            job = self._jobs.get()
            with self._lock:
                self._waiting -= 1
                self._queued -= 1
            if job is None:
                return
            job()

    def close(self) -> None:
        with self._lock:
            threads = self._threads
        for _ in range(threads):
            self._jobs.put(None)


class XmlRpcServer:
    def __init__(self, control: Control, listeners: list[Bound], limits: Limits) -> None:
        self.control = control
        self.listeners = listeners
        self.limits = limits
        self.dispatcher = Dispatcher(SupervisorNamespace(control))
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._streams = 0
        self._pool = _Pool(limits.max_workers)
        self._reactor = Reactor(listeners, limits, self._dispatch, self.stopping)

    def start(self) -> None:
        self._reactor.thread.start()

    def _dispatch(self, conn: Conn, request: Request) -> None:
        self._pool.submit(lambda: self._handle(conn, request))

    # ---- on a worker ----------------------------------------------------------------------

    def _handle(self, conn: Conn, request: Request) -> None:
        """Answer complete requests on this connection while they come back to back (see
        keepalive.py), then give the connection back to the reactor."""
        next_request: Request | None = request
        while next_request is not None:
            answer = self._answer(conn, next_request)
            if answer is None:  # a log stream owns the connection now
                return
            data, keep = answer
            next_request = keepalive.finish(self._reactor, conn, data, keep, self.stopping)

    def _answer(self, conn: Conn, request: Request) -> tuple[bytes, bool] | None:
        keep = request.keep_alive and not self.stopping.is_set()
        path = request.path
        try:
            if path.startswith("/RPC2"):
                return self._rpc(request, keep), keep
            if path.startswith("/logtail") or path.startswith("/mainlogtail"):
                self._tail(conn, request, main=path.startswith("/mainlogtail"))
                return None
            raise HttpError(404, close=not keep)
        except HttpError as exc:
            keep = keep and not exc.close
            return error_answer(request.version, exc.status, keep_alive=keep), keep
        except Exception:
            log.critical("XML-RPC: handling a request to %s failed", path, exc_info=True)
            return error_answer(request.version, 500, keep_alive=False), False

    def _rpc(self, request: Request, keep: bool) -> bytes:
        if request.method != "POST":
            raise HttpError(400, "XML-RPC needs POST", close=not keep)
        try:
            method, params = codec.parse_call(request.body)
        except codec.BadRequest as exc:
            log.error("XML-RPC request data %r is invalid: %s", request.body[:200], exc)
            raise HttpError(400, close=not keep) from None
        log.log(TRACE, "XML-RPC method called: %s()", method)
        try:
            body = codec.dump_result(self.dispatcher.call(method, params))
        except RpcFault as fault:
            log.log(
                TRACE, "XML-RPC method %s() returned fault: [%d] %s", method, fault.code, fault.text
            )
            body = codec.dump_fault(fault)
        except Exception:
            log.critical(
                "handling XML-RPC request %s() raised an unexpected exception",
                method,
                exc_info=True,
            )
            raise HttpError(500, close=True) from None
        return response(request.version, 200, body, content_type="text/xml", keep_alive=keep)

    def _tail(self, conn: Conn, request: Request, *, main: bool) -> None:
        """Hand the connection to a thread of its own that follows the log."""
        channel = logtail.resolve(self.control, request, main=main)
        with self._lock:
            if self._streams >= self.limits.max_streams:
                raise HttpError(503, "too many log followers", close=True)
            self._streams += 1
        conn.streaming = True

        def follow() -> None:
            try:
                logtail.stream(
                    conn.sock, request, channel, not main, self.stopping, self.limits.send_timeout
                )
            except OSError:
                pass
            finally:
                with self._lock:
                    self._streams -= 1
                self._reactor.close(conn)

        try:
            threading.Thread(target=follow, name="xmlrpc-tail", daemon=True).start()
        except RuntimeError:  # no more threads
            conn.streaming = False
            with self._lock:
                self._streams -= 1
            raise HttpError(503, "cannot start a log follower", close=True) from None

    # ---- stopping -----------------------------------------------------------------------

    def stop(self) -> None:
        """Stop accepting, end streams and idle connections now, and give requests in flight
        (a shutdown reply, say) ``stop_grace`` seconds to finish before closing them too."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        self._reactor.wake()
        if self._reactor.thread.is_alive():
            self._reactor.thread.join(timeout=self.limits.stop_grace + 1.0)
        for bound in self.listeners:
            bound.close()
        self._pool.close()


def start_xmlrpc(control: Control, spec: DaemonSpec) -> XmlRpcServer:
    """Bind every ``[unix_http_server]``/``[inet_http_server]`` and start serving.

    Raises ConfigError naming the section when a socket cannot be bound.
    """
    bound: list[Bound] = []
    try:
        for server_spec in spec.http_servers:
            bound.append(bind(server_spec))
    except BaseException:
        for b in bound:
            b.close()
        raise
    for b in bound:
        if not b.spec.username:
            section = b.spec.section or b.spec.kind.section
            log.critical("Server %r running without any HTTP authentication checking", section)
    log.info("RPC interface 'supervisor' initialized")
    server = XmlRpcServer(control, bound, Limits.from_env())
    server.start()
    return server
