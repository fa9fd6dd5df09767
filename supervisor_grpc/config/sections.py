"""``[supervisord]``, the HTTP server sections, ``[supervisorctl]`` and our ``[grpc]``.

Owns: the daemon-wide options and where the front-ends listen.
May import: supervisor_grpc.model, supervisor_grpc.errors, our config modules, stdlib.
Threading: plain functions, used during one load.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping

from supervisor_grpc.config import datatypes as dt
from supervisor_grpc.config.expand import expand
from supervisor_grpc.config.extensions import SUPERVISORD_EXTENSION_KEYS, supervisord_extensions
from supervisor_grpc.config.getter import Getter
from supervisor_grpc.config.reader import Section
from supervisor_grpc.model import DaemonSpec, GrpcSpec, HttpKind, HttpServerSpec, LogLevel

SUPERVISORD_KEYS = frozenset(
    {
        "logfile",
        "logfile_maxbytes",
        "logfile_backups",
        "loglevel",
        "pidfile",
        "umask",
        "nodaemon",
        "silent",
        "minfds",
        "minprocs",
        "nocleanup",
        "childlogdir",
        "user",
        "directory",
        "strip_ansi",
        "environment",
        "identifier",
        *SUPERVISORD_EXTENSION_KEYS,
    }
)
UNIX_HTTP_KEYS = frozenset({"file", "chmod", "chown", "username", "password"})
INET_HTTP_KEYS = frozenset({"port", "username", "password"})
CTL_KEYS = frozenset({"serverurl", "username", "password", "prompt", "history_file"})
GRPC_KEYS = frozenset(
    {
        "listen",
        "health_listen",
        "chmod",
        "chown",
        "token",
        "token_file",
        "tls_cert",
        "tls_key",
        "tls_client_ca",
    }
)


def supervisord(
    section: Section, env_names: Mapping[str, str], host_node_name: str, warnings: list[str]
) -> DaemonSpec:
    # supervisor offers only here and ENV_ in this section (no host_node_name), except
    # that environment= is expanded a second time with host_node_name too.
    g = Getter(section, env_names)
    warnings.extend(g.unknown_keys(SUPERVISORD_KEYS))
    logfile = g.get("logfile", dt.existing_dirpath, "supervisord.log")
    if logfile != "syslog":
        logfile = dt.normalize_path(logfile)
    user = g.text("user")
    if user is not None:
        g.convert("user", dt.name_to_uid, user)
    directory = g.get("directory", dt.existing_directory, None)
    env_text = g.text("environment") or ""
    value = section.lookup("environment")
    here = value.here if value else os.path.dirname(section.file)
    try:
        env_text = expand(env_text, {**env_names, "here": here, "host_node_name": host_node_name})
    except ValueError as exc:
        raise g.error(str(exc), "environment")
    environment = g.convert("environment", dt.environment_pairs, env_text)
    return DaemonSpec(
        minfds=g.get("minfds", dt.integer, 1024),
        minprocs=g.get("minprocs", dt.integer, 200),
        directory=directory,
        user=user,
        umask=g.get("umask", dt.octal, 0o022),
        logfile=logfile,
        logfile_maxbytes=g.get("logfile_maxbytes", dt.byte_size, 50 * 1024 * 1024),
        logfile_backups=g.get("logfile_backups", dt.integer, 10),
        loglevel=g.get("loglevel", _log_level, LogLevel.INFO),
        pidfile=dt.normalize_path(g.get("pidfile", dt.existing_dirpath, "supervisord.pid")),
        identifier=g.get("identifier", str, "supervisor"),
        nodaemon=g.get("nodaemon", dt.boolean, False),
        silent=g.get("silent", dt.boolean, False),
        childlogdir=g.get("childlogdir", dt.existing_directory, tempfile.gettempdir()),
        nocleanup=g.get("nocleanup", dt.boolean, False),
        strip_ansi=g.get("strip_ansi", dt.boolean, False),
        environment=environment,
        **supervisord_extensions(g),
    )


def _log_level(text: str) -> LogLevel:
    """supervisor's check and message (datatypes.log_level), then our enum."""
    return LogLevel(dt.log_level(text))


def _credentials(g: Getter) -> tuple[str | None, str | None]:
    username, password = g.text("username"), g.text("password")
    if (username is None) != (password is None):
        missing = "password" if password is None else "username"
        raise g.error(
            "incomplete authentication: username and password must be given together",
            missing,
        )
    return username, password


def http_servers(
    sections: Mapping[str, Section], env_names: Mapping[str, str], warnings: list[str]
) -> tuple[HttpServerSpec, ...]:
    out: list[HttpServerSpec] = []
    for section in sections.values():
        kind = section.name.split(":", 1)[0]
        if kind == "inet_http_server":
            g = Getter(section, env_names)
            warnings.extend(g.unknown_keys(INET_HTTP_KEYS))
            username, password = _credentials(g)
            port = g.text("port")
            if port is None:
                raise g.error("section has no port value", "port")
            host, num = g.convert("port", dt.inet_address, port)
            out.append(
                HttpServerSpec(
                    HttpKind.INET,
                    f"{host}:{num}",
                    username=username,
                    password=password,
                    section=section.name,
                )
            )
    for section in sections.values():
        kind = section.name.split(":", 1)[0]
        if kind == "unix_http_server":
            g = Getter(section, env_names)
            warnings.extend(g.unknown_keys(UNIX_HTTP_KEYS))
            path = g.text("file")
            if path is None:
                raise g.error("section has no file value", "file")
            username, password = _credentials(g)
            out.append(
                HttpServerSpec(
                    HttpKind.UNIX,
                    dt.normalize_path(path.strip()),
                    chmod=g.get("chmod", dt.octal, 0o700),
                    chown=g.get("chown", dt.user_group, (-1, -1)),
                    username=username,
                    password=password,
                    section=section.name,
                )
            )
    return tuple(out)


def ctl_serverurl(section: Section, env_names: Mapping[str, str], warnings: list[str]) -> str:
    g = Getter(section, env_names)
    warnings.extend(g.unknown_keys(CTL_KEYS))
    url = g.text("serverurl") or "http://localhost:9001"
    if url.startswith("unix://"):
        url = "unix://" + dt.normalize_path(url[7:])
    return url


def _listen_address(text: str) -> str:
    if text.startswith("unix://"):
        if not text[7:].startswith("/"):
            raise ValueError(f"{text!r}: a unix socket path must be absolute (unix:///path)")
        return "unix://" + os.path.normpath(text[7:])
    host, port = dt.inet_address(text)
    if not host and not text.startswith((":", "*:")):
        raise ValueError(f"{text!r} is neither unix:///path nor host:port")
    return f"{host}:{port}"


def _existing_file(text: str) -> str:
    path = os.path.expanduser(text)
    if not os.path.isfile(path):
        raise ValueError(f"{text} is not an existing file")
    return path


def _read_token(text: str) -> str:
    with open(os.path.expanduser(text), encoding="utf-8") as fh:
        token = fh.read().strip()
    if not token:
        raise ValueError(f"token file {text} is empty")
    return token


def grpc(section: Section, env_names: Mapping[str, str], host_node_name: str) -> GrpcSpec:
    g = Getter(section, {**env_names, "host_node_name": host_node_name})
    for key in section.values:
        if key not in GRPC_KEYS:
            raise g.error("unknown option", key)
    listen_text = g.text("listen") or ""
    listen = tuple(
        g.convert("listen", _listen_address, item)
        for item in re.split(r"[\s,]+", listen_text)
        if item
    )
    health_text = g.text("health_listen") or ""
    health_listen = tuple(
        g.convert("health_listen", _listen_address, item)
        for item in re.split(r"[\s,]+", health_text)
        if item
    )
    token: str | None = g.text("token")
    if g.raw("token_file") is not None:
        if token is not None:
            raise g.error("token and token_file are mutually exclusive", "token_file")
        token = g.get("token_file", _read_token, None)
    cert = g.get("tls_cert", _existing_file, None)
    tls_key = g.get("tls_key", _existing_file, None)
    if (cert is None) != (tls_key is None):
        raise g.error(
            "tls_cert and tls_key must be given together",
            "tls_key" if tls_key is None else "tls_cert",
        )
    client_ca = g.get("tls_client_ca", _existing_file, None)
    if client_ca is not None and cert is None:
        raise g.error("tls_client_ca needs tls_cert and tls_key", "tls_client_ca")
    return GrpcSpec(
        listen=listen,
        health_listen=health_listen,
        chmod=g.get("chmod", dt.octal, 0o700),
        chown=g.get("chown", dt.user_group, (-1, -1)),
        token=token or None,
        tls_cert=cert,
        tls_key=tls_key,
        tls_client_ca=client_ca,
    )
