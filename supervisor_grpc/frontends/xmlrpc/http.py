"""A small HTTP/1.0 + 1.1 server side, sans I/O: request heads, limits, responses, chunks.

Owns: cutting a request head out of a connection's buffer under limits (head size, line
length, field count), reading Content-Length strictly (ASCII digits only), and rendering
responses and error pages.
May import: stdlib.
Threading: pure functions and frozen values; any thread.

Deadlines (enforced by the connection reactor): a new connection must begin its first
request within ``request_timeout``; between requests a keep-alive connection may idle for
``idle_timeout`` (as medusa keeps supervisorctl's interactive connection). Once a request has
begun, all of it (head and body) must arrive within ``request_timeout`` or the client gets
408 and is closed.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from email.utils import formatdate
from http import HTTPStatus

from ... import __version__

SERVER = f"supgrpcd/{__version__}"
_MAX_HEADERS = 100
_MAX_LINE = 8192
_DIGITS = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True)
class Limits:
    """Bounds that keep one client from hurting another (env ``SUPGRPC_XMLRPC_<FIELD>``)."""

    max_connections: int = 64  # when full, the longest idle or slowest unfinished one goes
    max_workers: int = 32  # threads answering complete requests (startProcess may wait)
    max_streams: int = 16  # /logtail followers; fewer than connections, so RPCs find a slot
    max_body: int = 4 << 20
    max_head: int = 64 << 10
    request_timeout: float = 30.0
    idle_timeout: float = 1800.0  # medusa's zombie timeout: interactive supervisorctl idles
    send_timeout: float = 60.0
    linger: float = 2.0  # after a closing answer, how long unread input is drained
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


def strip_blank_lines(buffer: bytearray) -> None:
    """Clients may send stray CRLFs between requests (supervisor's own tail client does)."""
    while buffer[:2] == b"\r\n" or buffer[:1] == b"\n":
        del buffer[: 2 if buffer[:1] == b"\r" else 1]


def take_head(buffer: bytearray, limits: Limits) -> Request | None:
    """The request head at the start of ``buffer`` (removed from it), or None while it is
    incomplete. Raises HttpError when it is malformed or too large."""
    end, sep = buffer.find(b"\r\n\r\n"), 4
    lf = buffer.find(b"\n\n")
    if lf >= 0 and (end < 0 or lf < end):
        end, sep = lf, 2
    if end < 0:
        if len(buffer) > limits.max_head:
            raise HttpError(431, f"request head over {limits.max_head} bytes")
        newline = buffer.rfind(b"\n")
        if len(buffer) - newline - 1 > _MAX_LINE:
            raise HttpError(431, f"a request head line over {_MAX_LINE} bytes")
        return None
    if end > limits.max_head:
        raise HttpError(431, f"request head over {limits.max_head} bytes")
    head = bytes(buffer[:end])
    del buffer[: end + sep]
    return _parse_head(head)


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
            raise HttpError(400, f"bad header line {line[:60]!r}")
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
        last = name
    return Request(method.upper(), target, version, headers)


def content_length(request: Request) -> int:
    encoding = request.header("transfer-encoding")
    if encoding and encoding.lower() != "identity":
        raise HttpError(501, "chunked request bodies are not supported; send Content-Length")
    raw = request.header("content-length")
    if raw is None:
        if request.method == "POST":
            raise HttpError(411, "a POST needs Content-Length")
        return 0
    values = {v.strip() for v in raw.split(",")}
    value = next(iter(values))
    if len(values) != 1 or not _DIGITS.fullmatch(value):  # str.isdigit() takes "²" (int() does not)
        raise HttpError(400, f"bad Content-Length {raw[:40]!r}")
    return int(value)


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
