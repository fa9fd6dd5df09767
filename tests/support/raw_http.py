"""Raw HTTP to the XML-RPC server, byte by byte, for hostile-client tests and the bench's
slow_clients scenario: the same slow and oversized requests in both, built here once.

Owns: ``CALL``, ``post``, ``connect``, ``read_response``, ``exchange``, ``is_closed``,
``dribblers`` (slowloris), ``big_body``, ``peak_rss``, ``ctl_answers``.
May import: the standard library, ``tests.support.commands`` (no pytest: the bench uses it).
Threading: ``dribblers`` runs one sender thread for its connections; the rest runs in the
caller's thread.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from tests.support.commands import SUPERVISORCTL

CALL = (
    b"<?xml version='1.0'?><methodCall><methodName>supervisor.getAPIVersion</methodName>"
    b"<params></params></methodCall>"
)


class Served(Protocol):
    """What these helpers need of a daemon (tests' Daemon and the bench's alike)."""

    serverurl: str
    config_path: Path
    dir: Path


def post(
    body: bytes, *, path: str = "/RPC2", version: str = "HTTP/1.1", headers: str = ""
) -> bytes:
    return (
        f"POST {path} {version}\r\nHost: x\r\nContent-Type: text/xml\r\n"
        f"Content-Length: {len(body)}\r\n{headers}\r\n"
    ).encode() + body


def connect(d: Served, timeout: float = 10) -> socket.socket:
    """A plain connection to where the daemon's supervisorctl connects (unix or TCP)."""
    if d.serverurl.startswith("unix://"):
        s = socket.socket(socket.AF_UNIX)
        s.connect(d.serverurl[7:])
    else:
        host, port = d.serverurl[7:].rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
    s.settimeout(timeout)
    return s


def read_response(s: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One Content-Length response from ``s``, consuming nothing of the next one (pipelined
    responses can arrive in one segment): the head byte by byte, then exactly the body."""
    data = b""
    while not data.endswith(b"\r\n\r\n"):
        more = s.recv(1)
        if not more:
            raise EOFError(data)
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        more = s.recv(length - len(rest))
        if not more:
            break
        rest += more
    return status, headers, rest[:length]


def exchange(d: Served, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with connect(d) as s:
        s.sendall(request)
        return read_response(s)


def is_closed(s: socket.socket, timeout: float = 5) -> bool:
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
    except (ConnectionResetError, TimeoutError):
        return False
    return True


@contextmanager
def dribblers(
    d: Served, count: int, interval: float, timeout: float = 10
) -> Iterator[list[socket.socket]]:
    """Slowloris: ``count`` connections each sending one more byte of a request every
    ``interval`` seconds, never completing it."""
    request = post(CALL)
    socks = [connect(d, timeout) for _ in range(count)]
    stop = threading.Event()

    def dribble() -> None:
        sent = 0
        while not stop.wait(interval if sent else 0):
            for s in socks:
                try:
                    s.send(request[sent : sent + 1])
                except OSError:
                    pass
            sent = min(sent + 1, len(request) - 2)  # never complete the request

    thread = threading.Thread(target=dribble, daemon=True)
    thread.start()
    try:
        yield socks
    finally:
        stop.set()
        thread.join()
        for s in socks:
            s.close()


def big_body(size: int = 4 * 1024 * 1024) -> bytes:
    """A ``size``-byte methodCall holding an array of ``<value/>``: cheap to send, and a naive
    parse builds a tree costing tens of times that."""
    head = b"<methodCall><methodName>supervisor.getAPIVersion</methodName><params><param>"
    head += b"<value><array><data>"
    tail = b"</data></array></value></param></params></methodCall>"
    return head + b"<value/>" * ((size - len(head) - len(tail)) // 8) + tail


def peak_rss(pid: int) -> int:
    """VmHWM of ``pid`` in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


def ctl_answers(d: Served, tries: int, timeout: float, *names: str) -> int:
    """How many of ``tries`` runs of the installed supervisorctl print a RUNNING status."""
    answered = 0
    for _ in range(tries):
        try:
            done = subprocess.run(
                [SUPERVISORCTL, "-c", str(d.config_path), "status", *names],
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=str(d.dir),
            )
        except subprocess.TimeoutExpired:
            continue
        answered += "RUNNING" in done.stdout
    return answered
