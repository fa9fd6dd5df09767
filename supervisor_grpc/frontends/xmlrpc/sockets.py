"""Listening sockets for ``[unix_http_server]`` and ``[inet_http_server]``, made as supervisor
makes them.

Owns: binding (unix: ``<file>.<pid>`` then a hard link to ``<file>``, so two daemons never
race on one name; a stale socket is detected by connecting, and unlinked), chmod/chown, and
removing our socket file at the end (only if it is still ours).
May import: errors, model, stdlib.
Threading: called once from the daemon's main thread (bind) and from ``stop``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import stat
from dataclasses import dataclass

from ...errors import ConfigError
from ...model import HttpKind, HttpServerSpec

log = logging.getLogger("supgrpc")
BACKLOG = 128


@dataclass
class Bound:
    """A listening socket and, for unix sockets, the file identity we created."""

    sock: socket.socket
    spec: HttpServerSpec
    path: str | None = None
    identity: tuple[int, int] | None = None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        if self.path is None or self.identity is None:
            return
        try:
            st = os.stat(self.path)
        except OSError:
            return
        if (st.st_dev, st.st_ino) == self.identity:  # a later daemon may own the name now
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def _error(spec: HttpServerSpec, key: str, message: str) -> ConfigError:
    return ConfigError(message, section=spec.section or spec.kind.section, key=key)


def bind(spec: HttpServerSpec) -> Bound:
    """Listen as ``spec`` says. Raises ConfigError naming the section when that fails."""
    if spec.kind is HttpKind.UNIX:
        return _bind_unix(spec)
    return _bind_inet(spec)


def _in_use(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except OSError:
        return False
    else:
        return True
    finally:
        probe.close()


def _bind_unix(spec: HttpServerSpec) -> Bound:
    path = spec.address
    temp = f"{path}.{os.getpid()}"
    with contextlib.suppress(OSError):
        os.unlink(temp)
    for _attempt in range(3):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                sock.bind(temp)
                os.chmod(temp, spec.chmod)
                os.link(temp, path)
            except FileExistsError:
                sock.close()
                if _in_use(path):
                    raise _error(
                        spec,
                        "file",
                        f"another program is already listening on {path}: shut it down first",
                    )
                log.warning("unlinking stale socket %s", path)
                with contextlib.suppress(OSError):
                    os.unlink(path)
                continue
            except OSError as exc:
                sock.close()
                raise _error(spec, "file", f"cannot create socket {path}: {exc.strerror or exc}")
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        st = os.stat(path)
        bound = Bound(sock, spec, path, (st.st_dev, st.st_ino))
        uid, gid = spec.chown
        if (uid, gid) != (-1, -1):
            try:
                os.chown(path, uid, gid)
            except OSError as exc:
                bound.close()
                why = "not permitted" if exc.errno == errno.EPERM else exc.strerror
                raise _error(spec, "chown", f"cannot chown {path} to {uid}:{gid}: {why}")
        sock.listen(BACKLOG)
        if not stat.S_ISSOCK(st.st_mode):  # pragma: no cover - the link is our socket
            bound.close()
            raise _error(spec, "file", f"{path} is not a socket")
        return bound
    raise _error(spec, "file", f"cannot create socket {path}: it keeps reappearing")


def _bind_inet(spec: HttpServerSpec) -> Bound:
    host, _, port_text = spec.address.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port_text)))
        sock.listen(BACKLOG)
    except (OSError, ValueError, OverflowError) as exc:
        sock.close()
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise _error(spec, "port", f"cannot listen on {spec.address}: {why}")
    return Bound(sock, spec)
