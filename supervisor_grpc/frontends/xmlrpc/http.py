"""A small HTTP/1.0 + 1.1 server side: request framing with limits, responses, chunked streams.

Owns: reading one request at a time from a socket (keep-alive, pipelining, ``Expect:
100-continue``) under a size limit and deadlines, and writing responses.
May import: stdlib.
Threading: one ``Reader`` per connection, used only by that connection's thread.

Deadlines: a new connection must begin its first request within ``request_timeout``; between
requests a keep-alive connection may idle for ``idle_timeout`` (as medusa keeps
supervisorctl's interactive connection). Once a request has begun, all of it (head and body)
must arrive within ``request_timeout`` or the client gets 408 and is closed. A slow client
therefore holds only its own thread, never anyone else's.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from email.utils import formatdate
from http import HTTPStatus

from ... import __version__

SERVER = f"supgrpcd/{__version__}"
_MAX_HEADERS = 100


@dataclass(frozen=True)
class Limits:
    """Bounds that keep one client from hurting another (env ``SUPGRPC_XMLRPC_<FIELD>``)."""

    max_connections: int = 64
    max_streams: int = 16  # /logtail followers; fewer than connections, so RPCs find a slot
    max_body: int = 4 << 20
    max_head: int = 64 << 10
    request_timeout: float = 30.0
    idle_timeout: float = 1800.0  # medusa's zombie timeout: interactive supervisorctl idles
    send_timeout: float = 60.0
    stop_grace: float = 2.0  # how long stop() lets in-flight replies finish

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Limits:
        values: dict[str, float | int] = {}
        for f in fields(cls):
            raw = env.get(f"SUPGRPC_XMLRPC_{f.name.upper()}")
            if raw is None:
                continue
            try:
                number = float(raw) if f.type in ("float", float) else int(raw)
            except ValueError:
                continue
            if number > 0:
                values[f.name] = number
        return cls(**values)  # type: ignore[arg-type]


class HttpError(Exception):
    """Answer with ``status`` and (when ``close``) end the connection."""

    def __init__(self, status: int, detail: str = "", *, close: bool = True) -> None:
        super().__init__(detail or HTTPStatus(status).phrase)
        self.status = status
        self.close = close


class ClientGone(Exception):
    """The peer closed or reset the connection in the middle of a request."""


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def path(self) -> str:
        target = self.target
        if "://" in target:  # absolute-form: keep only the path
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        return target.split("?", 1)[0].split("#", 1)[0]

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in (self.header("connection") or "").split(",")}
        if self.version == "HTTP/1.1":
            return "close" not in tokens
        return "keep-alive" in tokens


class Reader:
    """Reads requests from one socket; ``on_busy`` is called when a request begins."""

    def __init__(self, sock: socket.socket, limits: Limits, on_busy: Callable[[], None]) -> None:
        self.sock = sock
        self.limits = limits
        self.on_busy = on_busy
        self.buffer = bytearray()
        self.served = False

    def _fill(self, deadline: float) -> bool:
        """One recv into the buffer; False on EOF. socket.timeout past the deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return False
        if not data:
            return False
        self.buffer += data
        return True

    def read_request(self) -> Request | None:
        """The next request, or None when the client closed (or idled out) between requests.

        Raises HttpError for a bad or too slow request, ClientGone for EOF inside one.
        """
        # A new connection must start its first request promptly; between requests a
        # keep-alive connection may idle for long (supervisorctl's interactive shell does).
        wait = self.limits.idle_timeout if self.served else self.limits.request_timeout
        idle_deadline = time.monotonic() + wait
        while True:
            # Clients may send stray CRLFs between requests (supervisor's own tail client does).
            while self.buffer[:2] == b"\r\n" or self.buffer[:1] == b"\n":
                del self.buffer[: 2 if self.buffer[:1] == b"\r" else 1]
            if self.buffer:
                break
            try:
                if not self._fill(idle_deadline):
                    return None
            except (TimeoutError, OSError):
                return None
        self.on_busy()
        deadline = time.monotonic() + self.limits.request_timeout
        head = self._read_head(deadline)
        request = _parse_head(head)
        length = _content_length(request)
        if length > self.limits.max_body:
            raise HttpError(413, f"body of {length} bytes is over the {self.limits.max_body} limit")
        if (
            length
            and len(self.buffer) < length
            and request.version == "HTTP/1.1"
            and (request.header("expect") or "").lower() == "100-continue"
        ):
            send_all(self.sock, b"HTTP/1.1 100 Continue\r\n\r\n", self.limits.send_timeout)
        while len(self.buffer) < length:
            self._fill_in_request(deadline)
        request.body = bytes(self.buffer[:length])
        del self.buffer[:length]
        self.served = True
        return request

    def _fill_in_request(self, deadline: float) -> None:
        try:
            ok = self._fill(deadline)
        except TimeoutError:
            raise HttpError(408, "request not received in time")
        if not ok:
            raise ClientGone

    def _read_head(self, deadline: float) -> bytes:
        scanned = 0
        while True:
            end = self.buffer.find(b"\r\n\r\n", max(0, scanned - 3))
            if end >= 0:
                head = bytes(self.buffer[:end])
                del self.buffer[: end + 4]
                return head
            end = self.buffer.find(b"\n\n", max(0, scanned - 1))
            if end >= 0:
                head = bytes(self.buffer[:end])
                del self.buffer[: end + 2]
                return head
            if len(self.buffer) > self.limits.max_head:
                raise HttpError(431, "request head too large")
            scanned = len(self.buffer)
            self._fill_in_request(deadline)


def _parse_head(head: bytes) -> Request:
    try:
        text = head.decode("iso-8859-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes everything
        raise HttpError(400, "undecodable request head")
    lines = text.replace("\r\n", "\n").split("\n")
    parts = lines[0].split()
    if len(parts) != 3:
        raise HttpError(400, "bad request line")
    method, target, version = parts
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise HttpError(505, f"{version} is not supported")
    if not method.isalpha() or not target:
        raise HttpError(400, "bad request line")
    headers: dict[str, str] = {}
    last: str | None = None
    if len(lines) - 1 > _MAX_HEADERS:
        raise HttpError(431, "too many header fields")
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and last is not None:  # obsolete line folding
            headers[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        name = name.strip().lower()
        if not sep or not name or " " in name:
            raise HttpError(400, "bad header line")
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
        last = name
    return Request(method.upper(), target, version, headers)


def _content_length(request: Request) -> int:
    encoding = request.header("transfer-encoding")
    if encoding and encoding.lower() != "identity":
        raise HttpError(501, "chunked request bodies are not supported; send Content-Length")
    raw = request.header("content-length")
    if raw is None:
        if request.method == "POST":
            raise HttpError(411, "a POST needs Content-Length")
        return 0
    values = {v.strip() for v in raw.split(",")}
    if len(values) != 1 or not next(iter(values)).isdigit():
        raise HttpError(400, "bad Content-Length")
    return int(next(iter(values)))


def send_all(sock: socket.socket, data: bytes, timeout: float) -> None:
    sock.settimeout(timeout)
    sock.sendall(data)


def response_head(
    version: str, status: int, headers: Iterable[tuple[str, str]], *, keep_alive: bool
) -> bytes:
    lines = [
        f"{version} {status} {HTTPStatus(status).phrase}",
        f"Date: {formatdate(usegmt=True)}",
        f"Server: {SERVER}",
    ]
    lines += [f"{name}: {value}" for name, value in headers]
    if not keep_alive:
        lines.append("Connection: close")
    elif version == "HTTP/1.0":
        lines.append("Connection: Keep-Alive")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("iso-8859-1")


def response(
    request_version: str,
    status: int,
    body: bytes,
    *,
    content_type: str,
    keep_alive: bool,
    extra: Iterable[tuple[str, str]] = (),
) -> bytes:
    version = "HTTP/1.1" if request_version == "HTTP/1.1" else "HTTP/1.0"
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra]
    return response_head(version, status, headers, keep_alive=keep_alive) + body


def error_page(status: int) -> bytes:
    phrase = HTTPStatus(status).phrase
    return (
        "<html><head><title>Error response</title></head><body>"
        f"<h1>Error response</h1><p>Error code {status}.<p>Message: {phrase}.</body></html>"
    ).encode("ascii")


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


LAST_CHUNK = b"0\r\n\r\n"
