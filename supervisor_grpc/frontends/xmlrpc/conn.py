"""One XML-RPC connection as the reactor sees it, and the error answers it sends.

Owns: a connection's state, buffers and deadline (plain data), and error pages with their
headers (401's challenge).
May import: this package's auth and http, stdlib.
Threading: the reactor thread alone writes a Conn that is not BUSY; while BUSY, the worker
that owns it may set ``streaming`` and take requests out of ``inbuf`` (keepalive.py).
"""

from __future__ import annotations

import enum
import math
import socket
import time
from dataclasses import dataclass, field

from .auth import CHALLENGE, BasicAuth
from .http import Request, error_page, response


class State(enum.Enum):
    IDLE = "idle"  # between requests (or before the first)
    HEAD = "head"  # a request has begun; its head is not complete
    BODY = "body"  # head accepted; waiting for Content-Length bytes
    BUSY = "busy"  # a worker (or a stream thread) owns the socket
    WRITE = "write"  # sending an answer
    LINGER = "linger"  # answered and half-closed; draining input until EOF or deadline


@dataclass(eq=False)
class Conn:
    sock: socket.socket
    auth: BasicAuth
    reject: bool = False
    state: State = State.IDLE
    since: float = field(default_factory=time.monotonic)
    deadline: float = math.inf
    served: bool = False
    streaming: bool = False  # set by the worker that turned it into a /logtail stream
    inbuf: bytearray = field(default_factory=bytearray)
    out: memoryview | None = None
    keep: bool = False
    request: Request | None = None
    need: int = 0  # the body's length (buffered as it arrives: memory follows what was sent)
    events: int = 0


def error_answer(version: str, status: int, *, keep_alive: bool) -> bytes:
    extra = [("WWW-Authenticate", CHALLENGE)] if status == 401 else []
    page = error_page(status)
    return response(
        version, status, page, content_type="text/html", keep_alive=keep_alive, extra=extra
    )
