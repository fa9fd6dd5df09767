"""``start_xmlrpc``: the listeners, the connection threads and the routes.

Owns: accepting on every configured server section, the bound on concurrent connections
(an idle keep-alive connection is closed to make room; otherwise 503) and on streams, routing
``/RPC2``, ``/logtail``, ``/mainlogtail`` (everything else 404), auth per section, and a
prompt ``stop``.
May import: control, model, errors, this package, stdlib.
Threading: one acceptor thread (a selector over the listeners and a wakeup socket) and one
daemon thread per connection. They share only the connection registry, under one lock.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from dataclasses import dataclass, field

from ...control import Control
from ...model import DaemonSpec
from . import codec, logtail
from .auth import CHALLENGE, BasicAuth
from .faults import RpcFault
from .http import ClientGone, HttpError, Limits, Reader, Request, error_page, response, send_all
from .rpc import Dispatcher
from .sockets import Bound, bind
from .supervisor_ns import SupervisorNamespace

log = logging.getLogger("supgrpc")
TRACE = 5
MAX_REJECTORS = 8  # threads answering 503 at once; beyond that, excess connections are closed
REJECT_SECONDS = 1.0


@dataclass(eq=False)
class _Conn:
    sock: socket.socket
    listener: Bound
    auth: BasicAuth
    idle: bool = True
    streaming: bool = False
    since: float = field(default_factory=time.monotonic)

    def shut(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


class XmlRpcServer:
    def __init__(self, control: Control, listeners: list[Bound], limits: Limits) -> None:
        self.control = control
        self.listeners = listeners
        self.limits = limits
        self.dispatcher = Dispatcher(SupervisorNamespace(control))
        self.auth = {id(b): BasicAuth(b.spec.username, b.spec.password) for b in listeners}
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._idle_changed = threading.Condition(self._lock)
        self._conns: set[_Conn] = set()
        self._streams = 0
        self._rejectors = threading.BoundedSemaphore(MAX_REJECTORS)
        self._wake_r, self._wake_w = socket.socketpair()
        self._acceptor = threading.Thread(
            target=self._accept_loop, name="xmlrpc-accept", daemon=True
        )

    def start(self) -> None:
        self._acceptor.start()

    # ---- accepting ----------------------------------------------------------------------

    def _accept_loop(self) -> None:
        selector = selectors.DefaultSelector()
        for bound in self.listeners:
            bound.sock.setblocking(False)
            selector.register(bound.sock, selectors.EVENT_READ, bound)
        selector.register(self._wake_r, selectors.EVENT_READ, None)
        try:
            while not self.stopping.is_set():
                for key, _ in selector.select():
                    if key.data is None:
                        return
                    try:
                        self._accept(key.data)
                    except Exception:  # one bad accept must not end the acceptor
                        log.critical("XML-RPC: accepting a connection failed", exc_info=True)
        finally:
            selector.close()

    def _accept(self, bound: Bound) -> None:
        try:
            sock, _ = bound.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # EMFILE and friends: drop this one, keep serving
            log.error("XML-RPC accept failed: %s", exc)
            time.sleep(0.05)
            return
        sock.setblocking(True)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Conn(sock, bound, self.auth[id(bound)])
        with self._lock:
            room = len(self._conns) < self.limits.max_connections or self._evict_idle()
            if room:
                self._conns.add(conn)
        if room:
            thread = threading.Thread(
                target=self._serve, args=(conn,), name="xmlrpc-conn", daemon=True
            )
            try:
                thread.start()
                return
            except RuntimeError:  # no more threads: answer as if full
                with self._lock:
                    self._conns.discard(conn)
        log.warning("XML-RPC: %d connections open; refusing one", len(self._conns))
        if not self._rejectors.acquire(blocking=False):
            sock.close()  # far too many: just close
            return
        try:
            threading.Thread(
                target=self._reject, args=(sock,), name="xmlrpc-503", daemon=True
            ).start()
        except RuntimeError:
            self._rejectors.release()
            sock.close()

    def _reject(self, sock: socket.socket) -> None:
        """Answer 503 politely: read the request head first (so the client's send does not
        fail), then close our side and let the client read the answer."""
        try:
            sock.settimeout(REJECT_SECONDS)
            data = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    more = sock.recv(65536)
                    if not more:
                        break
                    data += more
            page = response(
                "HTTP/1.1", 503, error_page(503), content_type="text/html", keep_alive=False
            )
            with contextlib.suppress(OSError):
                send_all(sock, page, REJECT_SECONDS)
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(65536):  # drain the body until the client closes
                    pass
        finally:
            sock.close()
            self._rejectors.release()

    def _evict_idle(self) -> bool:
        """Lock held. Close the longest-idle keep-alive connection to make room."""
        idle = [c for c in self._conns if c.idle and not c.streaming]
        if not idle:
            return False
        victim = min(idle, key=lambda c: c.since)
        self._conns.discard(victim)
        victim.shut()
        return True

    # ---- one connection -------------------------------------------------------------------

    def _set_idle(self, conn: _Conn, idle: bool) -> None:
        with self._lock:
            conn.idle = idle
            conn.since = time.monotonic()
            self._idle_changed.notify_all()

    def _serve(self, conn: _Conn) -> None:
        reader = Reader(conn.sock, self.limits, lambda: self._set_idle(conn, False))
        try:
            while not self.stopping.is_set():
                self._set_idle(conn, True)
                try:
                    request = reader.read_request()
                except HttpError as exc:
                    self._send_error(conn, "HTTP/1.1", exc.status, keep_alive=False)
                    return
                except ClientGone:
                    return
                if request is None or not self._handle(conn, request):
                    return
        except OSError:
            pass  # the client went away while we wrote
        except Exception:
            log.critical("XML-RPC connection failed", exc_info=True)
            with contextlib.suppress(Exception):
                self._send_error(conn, "HTTP/1.1", 500, keep_alive=False)
        finally:
            with self._lock:
                self._conns.discard(conn)
                self._idle_changed.notify_all()
            with contextlib.suppress(OSError):
                conn.sock.close()

    def _send_error(self, conn: _Conn, version: str, status: int, *, keep_alive: bool) -> None:
        extra = [("WWW-Authenticate", CHALLENGE)] if status == 401 else []
        data = response(
            version,
            status,
            error_page(status),
            content_type="text/html",
            keep_alive=keep_alive,
            extra=extra,
        )
        send_all(conn.sock, data, self.limits.send_timeout)

    def _handle(self, conn: _Conn, request: Request) -> bool:
        """Answer one request; True to keep the connection for the next one."""
        keep = request.keep_alive and not self.stopping.is_set()
        if not conn.auth.allows(request.header("authorization")):
            self._send_error(conn, request.version, 401, keep_alive=keep)
            return keep
        path = request.path
        try:
            if path.startswith("/RPC2"):
                return self._rpc(conn, request, keep)
            if path.startswith("/logtail") or path.startswith("/mainlogtail"):
                self._tail(conn, request, main=path.startswith("/mainlogtail"))
                return False
            raise HttpError(404, close=not keep)
        except HttpError as exc:
            keep = keep and not exc.close
            self._send_error(conn, request.version, exc.status, keep_alive=keep)
            return keep

    def _rpc(self, conn: _Conn, request: Request, keep: bool) -> bool:
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
        send_all(
            conn.sock,
            response(request.version, 200, body, content_type="text/xml", keep_alive=keep),
            self.limits.send_timeout,
        )
        return keep

    def _tail(self, conn: _Conn, request: Request, *, main: bool) -> None:
        channel = logtail.resolve(self.control, request, main=main)
        with self._lock:
            if self._streams >= self.limits.max_streams:
                raise HttpError(503, "too many log followers", close=True)
            self._streams += 1
            conn.streaming = True
        try:
            logtail.stream(
                conn.sock, request, channel, not main, self.stopping, self.limits.send_timeout
            )
        finally:
            with self._lock:
                self._streams -= 1

    # ---- stopping -----------------------------------------------------------------------

    def stop(self) -> None:
        """Stop accepting, end streams and idle connections now, and give requests in flight
        (a shutdown reply, say) ``stop_grace`` seconds to finish before closing them too."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")
        if self._acceptor.is_alive():
            self._acceptor.join(timeout=1.0)
        for bound in self.listeners:
            bound.close()
        deadline = time.monotonic() + self.limits.stop_grace
        with self._lock:
            while True:
                busy = [c for c in self._conns if not c.idle and not c.streaming]
                for c in self._conns:
                    if c.idle or c.streaming:
                        c.shut()
                remaining = deadline - time.monotonic()
                if not busy or remaining <= 0:
                    break
                self._idle_changed.wait(remaining)
            for c in self._conns:
                c.shut()
        for sock in (self._wake_r, self._wake_w):
            sock.close()


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
            section = b.spec.section or f"{b.spec.kind}_http_server"
            log.critical("Server %r running without any HTTP authentication checking", section)
    log.info("RPC interface 'supervisor' initialized")
    server = XmlRpcServer(control, bound, Limits.from_env())
    server.start()
    return server
