"""Where the daemon listens, seen from the client: addresses, the default socket, and the
``[grpc]`` section of a supervisord-style config.

Owns: the client's copy of the default-socket rule (it must match
``supervisor_grpc.frontends.grpc.listeners.default_socket_path``; a test compares them), the
address syntax accepted by the client, and reading ``listen``/``token``/``token_file`` from a
config file (only that section, with configparser; the server package is never imported).
May import: stdlib.
Threading: pure functions.
"""

from __future__ import annotations

import configparser
import glob
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass

# The daemon's own search path (supervisord's, with supgrpc.conf tried first in each place).
CONFIG_SEARCH = (
    "supgrpc.conf",
    "supervisord.conf",
    "etc/supgrpc.conf",
    "etc/supervisord.conf",
    "/etc/supgrpc.conf",
    "/etc/supervisord.conf",
    "/etc/supervisor/supgrpc.conf",
    "/etc/supervisor/supervisord.conf",
)


class ConfigProblem(Exception):
    """The config file could not be read or its [grpc] section is unusable."""


@dataclass(frozen=True, slots=True)
class ConfigEndpoint:
    """What a config file says about reaching the daemon."""

    address: str | None
    token: str | None
    path: str


def default_socket_path(
    uid: int | None = None,
    environ: Mapping[str, str] | None = None,
    run_dir: str = "/run",
) -> str:
    """The daemon's default socket (same rule as the server):

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


def default_address() -> str:
    return f"unix://{default_socket_path()}"


def grpc_target(address: str) -> tuple[str, bool]:
    """A user address -> (gRPC target, is_unix). Accepts ``unix:///path``, ``unix:/path``,
    ``/path``, ``host:port``, ``:port`` (localhost) and ``http(s)://host:port``."""
    text = address.strip()
    for prefix in ("unix://", "unix:"):
        if text.startswith(prefix):
            return f"unix:{text[len(prefix) :]}", True
    if text.startswith("/"):
        return f"unix:{text}", True
    text = re.sub(r"^(?:https?|grpcs?|tcp)://", "", text).rstrip("/")
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{address!r} is neither unix:///path nor host:port")
    if host in ("", "*", "0.0.0.0", "[::]"):
        host = "localhost"
    return f"{host}:{port}", False


def find_config(cwd: str | None = None) -> str | None:
    base = cwd or os.getcwd()
    for rel in CONFIG_SEARCH:
        path = os.path.join(base, rel)
        if os.path.isfile(path):
            return path
    return None


def _expand(text: str, here: str, key: str, path: str) -> str:
    names = {"here": here, "host_node_name": socket.gethostname()}
    names.update({f"ENV_{k}": v for k, v in os.environ.items()})
    try:
        return text % names
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigProblem(f"{path}: [grpc] {key}: cannot expand {text!r} ({exc})")


def _parser() -> configparser.RawConfigParser:
    return configparser.RawConfigParser(
        strict=False, inline_comment_prefixes=(";", "#"), interpolation=None
    )


def _files(path: str) -> list[str]:
    """The file itself, then what its [include] files= globs name (supervisor's rules)."""
    parser = _parser()
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh, source=path)
    except (OSError, configparser.Error) as exc:
        raise ConfigProblem(f"cannot read {path}: {exc}")
    out = [path]
    if parser.has_option("include", "files"):
        here = os.path.dirname(os.path.abspath(path))
        for pattern in parser.get("include", "files").split():
            pattern = _expand(pattern, here, "files", path)
            out += sorted(glob.glob(os.path.join(here, os.path.expanduser(pattern))))
    return out


def read_config(path: str) -> ConfigEndpoint:
    """The first listen address (unix sockets preferred) and token of ``[grpc]``."""
    for file in _files(path):
        parser = _parser()
        try:
            with open(file, encoding="utf-8") as fh:
                parser.read_file(fh, source=file)
        except (OSError, configparser.Error) as exc:
            raise ConfigProblem(f"cannot read {file}: {exc}")
        if not parser.has_section("grpc"):
            continue
        here = os.path.dirname(os.path.abspath(file))
        section = dict(parser.items("grpc"))
        listen = _expand(section.get("listen", ""), here, "listen", file)
        addresses = [a for a in re.split(r"[\s,]+", listen) if a]
        unix = [a for a in addresses if a.startswith("unix:")]
        address = (unix or addresses or [None])[0]
        token = section.get("token")
        if token is not None:
            token = _expand(token, here, "token", file).strip() or None
        elif section.get("token_file"):
            token_path = _expand(section["token_file"], here, "token_file", file)
            try:
                with open(os.path.expanduser(token_path), encoding="utf-8") as fh:
                    token = fh.read().strip() or None
            except OSError as exc:
                raise ConfigProblem(f"cannot read token_file {token_path}: {exc.strerror}")
        return ConfigEndpoint(address, token, file)
    return ConfigEndpoint(None, None, path)
