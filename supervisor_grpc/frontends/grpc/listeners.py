"""Where the gRPC service listens: addresses, the default socket, unix socket hygiene, TLS.

Owns: turning ``[grpc] listen/chmod/chown/token/tls_*`` into bound ports on a ``grpc.Server``,
and the refusal rules (no TCP listener without a token or mutual TLS).
May import: model, errors, grpc, stdlib.
Threading: called once by ``start_grpc`` (daemon start-up thread); no state of its own.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from ...errors import ConfigError
from ...model import GrpcSpec

# sun_path is 108 bytes on Linux, including the terminating NUL.
_UNIX_PATH_MAX = 107


@dataclass(frozen=True, slots=True)
class Listener:
    """One address to listen on: a unix socket path, or a TCP host and port."""

    address: str  # as the user wrote it, for messages
    unix_path: str | None = None
    host: str = ""
    port: int = 0

    @property
    def is_unix(self) -> bool:
        return self.unix_path is not None

    @property
    def bind_target(self) -> str:
        if self.unix_path is not None:
            return f"unix:{self.unix_path}"
        host = self.host or "[::]"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        if self.is_unix:
            return True
        host = self.host.strip("[]")
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False  # a hostname or all interfaces: assume reachable from outside


def default_socket_path(
    uid: int | None = None,
    environ: Mapping[str, str] | None = None,
    run_dir: str = "/run",
) -> str:
    """The socket used when ``[grpc] listen`` is empty (the README and docs/grpc.md say so).

    1. ``/run/supgrpc.sock`` when running as root and /run is writable;
    2. else ``$XDG_RUNTIME_DIR/supgrpc.sock`` when that directory exists and is writable;
    3. else ``/tmp/supgrpc-<uid>.sock``.
    """
    uid = os.geteuid() if uid is None else uid
    environ = os.environ if environ is None else environ
    if uid == 0 and os.path.isdir(run_dir) and os.access(run_dir, os.W_OK):
        return os.path.join(run_dir, "supgrpc.sock")
    xdg = environ.get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isabs(xdg) and os.path.isdir(xdg) and os.access(xdg, os.W_OK):
        return os.path.join(xdg, "supgrpc.sock")
    return f"/tmp/supgrpc-{uid}.sock"


def _error(message: str, spec_file: str, key: str = "listen") -> ConfigError:
    return ConfigError(message, file=spec_file or None, section="grpc", key=key)


def parse_address(text: str, config_file: str = "") -> Listener:
    """``unix:///abs/path``, ``unix:/abs/path``, ``/abs/path``, ``host:port``, ``:port``."""
    text = text.strip()
    path: str | None = None
    if text.startswith("unix://"):
        path = text[len("unix://") :]
    elif text.startswith("unix:"):
        path = text[len("unix:") :]
    elif text.startswith("/"):
        path = text
    if path is not None:
        if not path.startswith("/"):
            raise _error(
                f"{text!r}: a unix socket path must be absolute (unix:///path)", config_file
            )
        path = os.path.normpath(path)
        if len(os.fsencode(path)) > _UNIX_PATH_MAX:
            raise _error(
                f"{path}: a unix socket path is limited to {_UNIX_PATH_MAX} bytes", config_file
            )
        return Listener(text, unix_path=path)
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise _error(f"{text!r} is neither unix:///path nor host:port", config_file)
    host = "" if host in ("*", "") else host
    return Listener(text, host=host, port=int(port_text))


def check_security(listeners: list[Listener], spec: GrpcSpec, config_file: str = "") -> None:
    """Every TCP listener needs a bearer token or mutual TLS; say which rule was broken."""
    if spec.token or spec.tls_client_ca:
        return
    for listener in listeners:
        if listener.is_unix:
            continue
        if listener.is_loopback:
            raise _error(
                f"TCP address {listener.address} needs a bearer token (token= or token_file=) "
                "or mutual TLS (tls_client_ca=)",
                config_file,
            )
        raise _error(
            f"refusing to listen on non-loopback address {listener.address} without a bearer "
            "token (token= or token_file=) or mutual TLS (tls_client_ca=)",
            config_file,
        )


def plaintext_token_listeners(listeners: list[Listener], spec: GrpcSpec) -> list[Listener]:
    """TCP listeners reachable from other hosts where the bearer token would travel in clear
    text: a token but no TLS (tls_cert/tls_key)."""
    if not spec.token or (spec.tls_cert and spec.tls_key):
        return []
    return [x for x in listeners if not x.is_unix and not x.is_loopback]


def warn_plaintext_token(listeners: list[Listener], spec: GrpcSpec, log: logging.Logger) -> None:
    """Say so loudly, once per address: anyone on the path can read the token and then
    control every process (the listener still starts; put it behind TLS or a private net)."""
    for listener in plaintext_token_listeners(listeners, spec):
        log.warning(
            "INSECURE: [grpc] listen %s is not loopback and has no TLS: the bearer token is "
            "sent in clear text and can be sniffed; set tls_cert= and tls_key=",
            listener.address,
        )


def server_credentials(spec: GrpcSpec, config_file: str = "") -> Any:
    """TLS credentials for the TCP listeners (mutual when tls_client_ca is set), or None."""
    if not spec.tls_cert or not spec.tls_key:
        return None
    try:
        with open(spec.tls_key, "rb") as fh:
            key = fh.read()
        with open(spec.tls_cert, "rb") as fh:
            cert = fh.read()
        client_ca = None
        if spec.tls_client_ca:
            with open(spec.tls_client_ca, "rb") as fh:
                client_ca = fh.read()
    except OSError as exc:
        raise ConfigError(
            f"cannot read {exc.filename}: {exc.strerror}",
            file=config_file or None,
            section="grpc",
            key="tls_cert",
        )
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def _socket_in_use(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except OSError as exc:
        # Refused: a socket file nobody accepts on (the owner died). Anything else (EACCES,
        # a timeout) may be a live owner we cannot see: do not take its socket away.
        return exc.errno not in (errno.ECONNREFUSED, errno.ENOENT)
    else:
        return True
    finally:
        probe.close()


def prepare_unix_path(listener: Listener, config_file: str = "") -> None:
    """Remove a stale socket file; refuse a live one or anything that is not a socket."""
    path = listener.unix_path
    assert path is not None
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise _error(f"cannot listen on {path}: directory {parent} does not exist", config_file)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise _error(f"cannot listen on {path}: it exists and is not a socket", config_file)
    if _socket_in_use(path):
        raise _error(f"cannot listen on {path}: another process is accepting on it", config_file)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _error(f"cannot remove stale socket {path}: {exc.strerror}", config_file)


def bind(
    server: Any,
    listener: Listener,
    credentials: Any,
    spec: GrpcSpec,
    config_file: str = "",
    key: str = "listen",
) -> int:
    """Add one port to ``server``; unix sockets get ``chmod``/``chown``. Returns the port."""
    if listener.is_unix:
        prepare_unix_path(listener, config_file)
    target = listener.bind_target
    try:
        if credentials is not None and not listener.is_unix:
            port = server.add_secure_port(target, credentials)
        else:
            port = server.add_insecure_port(target)
    except RuntimeError:  # recent grpcio raises instead of returning 0
        port = 0
    if not port:
        raise _error(
            f"cannot listen on {listener.address}: {_why_bind_fails(listener)}", config_file, key
        )
    if listener.unix_path is not None:
        try:
            os.chmod(listener.unix_path, spec.chmod)
            uid, gid = spec.chown
            if (uid, gid) != (-1, -1):
                os.chown(listener.unix_path, uid, gid)
        except OSError as exc:
            raise ConfigError(
                f"cannot set mode/owner of {listener.unix_path}: {exc.strerror}",
                file=config_file or None,
                section="grpc",
                key="chmod",
            )
    return int(port)


def _why_bind_fails(listener: Listener) -> str:
    """grpc only says "failed to bind": retry the bind ourselves to name the errno."""
    try:
        if listener.unix_path is not None:
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.bind(listener.unix_path)
                remove_socket(listener.unix_path, None)  # ours: we just created it
            finally:
                probe.close()
        else:
            infos = socket.getaddrinfo(
                listener.host.strip("[]") or None,
                listener.port,
                type=socket.SOCK_STREAM,
                flags=socket.AI_PASSIVE,
            )
            for family, kind, proto, _, sockaddr in infos:
                probe = socket.socket(family, kind, proto)
                try:
                    probe.bind(sockaddr)
                finally:
                    probe.close()
    except OSError as exc:
        return exc.strerror or str(exc)
    return "the address is not available"


def remove_socket(path: str, inode: int | None) -> None:
    """Unlink our socket file at shutdown, unless someone else replaced it meanwhile."""
    try:
        st = os.lstat(path)
        if stat.S_ISSOCK(st.st_mode) and (inode is None or st.st_ino == inode):
            os.unlink(path)
    except OSError:
        pass


def socket_inode(path: str) -> int | None:
    try:
        return os.lstat(path).st_ino
    except OSError:
        return None
