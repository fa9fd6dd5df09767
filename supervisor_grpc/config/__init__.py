"""The configuration parser: an unchanged supervisord.conf in, a frozen DaemonSpec out.

Owns: reading supervisor 4.3.0's file format with the same names, defaults, types and
``%()`` expansion rules, plus our ``[grpc]`` section; every bad input becomes one ConfigError
whose one-line message names the file, section and key.
May import: supervisor_grpc.model, supervisor_grpc.errors, stdlib.
Threading: ``load`` is a pure function of the files, the environment and the user database;
call it from any thread.
"""

from __future__ import annotations

import dataclasses
import os
import platform
from collections.abc import Mapping

from supervisor_grpc.config import sections as sec
from supervisor_grpc.config.datatypes import parse_signal
from supervisor_grpc.config.extensions import check_dependencies
from supervisor_grpc.config.programs import ProgramReader, build_groups
from supervisor_grpc.config.reader import one_line, read
from supervisor_grpc.errors import ConfigError
from supervisor_grpc.model import DaemonSpec, GrpcSpec, HttpServerSpec

__all__ = ["find_config", "load", "parse_signal"]

_PREFIXED = ("program:", "group:", "eventlistener:", "fcgi-program:", "rpcinterface:", "ctlplugin:")
_PLAIN = ("supervisord", "include", "supervisorctl", "grpc")
_SERVERS = ("unix_http_server", "inet_http_server")


def _check_section_name(name: str) -> bool:
    if name in _PLAIN:
        return True
    if name.split(":", 1)[0] in _SERVERS:
        return True
    return any(name.startswith(p) and len(name) > len(p) for p in _PREFIXED)


def load(path: str, *, environ: Mapping[str, str] | None = None) -> DaemonSpec:
    """Parse ``path`` (and its includes) as supervisord 4.3.0 would."""
    try:
        return _load(path, os.environ if environ is None else environ)
    except ConfigError as exc:
        if "\n" in exc.message:
            raise ConfigError(one_line(exc.message)) from exc
        raise
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        # Converters raise ValueError and are wrapped with file/section/key where they are
        # called; anything reaching here is unexpected, but must still be a ConfigError.
        raise ConfigError(one_line(f"{type(exc).__name__}: {exc}"), file=path) from exc


def _load(path: str, environ: Mapping[str, str]) -> DaemonSpec:
    host = platform.node()
    env_names = {f"ENV_{k}": v for k, v in environ.items()}
    raw = read(path, env_names, host)
    warnings = raw.warnings
    for name, section in raw.sections.items():
        if not _check_section_name(name):
            raise ConfigError("unknown section type", file=section.file, section=name)
    main = raw.sections.get("supervisord")
    if main is None:
        raise ConfigError(".ini file does not include supervisord section", file=raw.main_file)
    daemon = sec.supervisord(main, env_names, host, warnings)
    # From here on, [supervisord] environment= entries are ENV_ names too (as in supervisor).
    env_names = {**env_names, **{f"ENV_{k}": v for k, v in daemon.environment}}
    reader = ProgramReader(env_names, daemon.environment, host, warnings)
    groups = build_groups(raw.sections, reader, env_names)
    check_dependencies(groups, raw.main_file)
    servers: tuple[HttpServerSpec, ...] = sec.http_servers(raw.sections, env_names, warnings)
    ctl = raw.sections.get("supervisorctl")
    grpc_section = raw.sections.get("grpc")
    grpc = GrpcSpec() if grpc_section is None else sec.grpc(grpc_section, env_names, host)
    return dataclasses.replace(
        daemon,
        config_file=raw.main_file,
        http_servers=servers,
        grpc=grpc,
        groups=groups,
        ctl_serverurl=None if ctl is None else sec.ctl_serverurl(ctl, env_names, warnings),
        warnings=tuple(dict.fromkeys(warnings)),
    )


def find_config(cwd: str, exe_dir: str) -> str | None:
    """supervisord's search path, trying our own ``supgrpc.conf`` before each
    ``supervisord.conf`` so a host can hold both daemons' files side by side."""
    prefix = os.path.dirname(os.path.abspath(exe_dir))
    dirs = [
        os.path.join(prefix, "etc"),
        prefix,
        cwd,
        os.path.join(cwd, "etc"),
        "/etc",
        "/etc/supervisor",
    ]
    for directory in dirs:
        for name in ("supgrpc.conf", "supervisord.conf"):
            candidate = os.path.join(directory, name)
            if os.path.exists(candidate):
                return candidate
    return None
