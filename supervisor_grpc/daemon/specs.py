"""The DaemonSpec the daemon runs: what is refused, the single command's group, and the
command-line values that override the config file.

Owns: nothing kept; pure functions from (spec, options) to spec.
May import: model, errors, config, logstore (level names), daemon.args.
Threading: main thread, before the loop starts.
"""

from __future__ import annotations

import dataclasses
import shlex
from typing import Any

from ..errors import ConfigError, SupervisorError
from ..logstore import log_level
from ..model import AutoRestart, DaemonSpec, GroupKind, GroupSpec, LogSpec, ProgramSpec
from .args import Options

MAIN_NAME = "main"


def check_supported(spec: DaemonSpec) -> None:
    """Refuse, by name, what is parsed but not implemented yet (never a silent ignore)."""
    for group in spec.groups:
        if group.kind is GroupKind.FCGI_PROGRAM:
            raise ConfigError(
                f"{group.kind.value} sections are not supported yet",
                file=spec.config_file,
                section=group.section,
            )
        for program in group.programs:
            for channel, logspec in (("stdout", program.stdout), ("stderr", program.stderr)):
                for key, used in (("syslog", logspec.syslog),):
                    if used:
                        raise ConfigError(
                            f"{channel}_{key} is not supported yet",
                            file=spec.config_file,
                            section=program.section,
                            key=f"{channel}_{key}",
                        )
    if spec.logfile == "syslog":
        raise ConfigError(
            "logfile=syslog is not supported yet",
            file=spec.config_file,
            section="supervisord",
            key="logfile",
        )


def single_command_spec(command: list[str], taken: set[str]) -> GroupSpec:
    name = MAIN_NAME if MAIN_NAME not in taken else "main-command"
    program = ProgramSpec(
        name=name,
        group=name,
        program_name=name,
        command=shlex.join(command),
        priority=1000,
        startsecs=0,
        startretries=0,
        autorestart=AutoRestart.NEVER,
        # Every ending is passed through (tini): none is "unexpected", signal deaths (-1)
        # included, so a normal run adds no warning to CMD's stderr.
        exitcodes=frozenset(range(-1, 256)),
        stdout=LogSpec(path=None),
        stderr=LogSpec(path=None),
        inherit_stdio=True,
        section="command line",
    )
    return GroupSpec(name=name, priority=1000, programs=(program,), section="command line")


def apply_overrides(spec: DaemonSpec, opts: Options) -> DaemonSpec:
    from ..config import datatypes as dt

    changes: dict[str, Any] = {}
    try:
        for key, convert in (
            ("logfile", str),
            ("logfile_maxbytes", dt.byte_size),
            ("logfile_backups", int),
            ("pidfile", str),
            ("identifier", str),
            ("childlogdir", str),
            ("minfds", int),
            ("minprocs", int),
            ("user", str),
            ("directory", str),
        ):
            value = getattr(opts, key)
            if value is not None:
                changes[key] = convert(value)
        if opts.umask is not None:
            changes["umask"] = int(opts.umask, 8)
        if opts.loglevel is not None:
            changes["loglevel"] = log_level(opts.loglevel)
    except (ValueError, SupervisorError) as exc:
        raise ConfigError(f"bad command-line value: {exc}")
    if opts.silent:
        changes["silent"] = True
    if opts.nocleanup:
        changes["nocleanup"] = True
    if opts.strip_ansi:
        changes["strip_ansi"] = True
    return dataclasses.replace(spec, **changes)
