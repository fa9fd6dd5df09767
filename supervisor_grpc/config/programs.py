"""``[program:x]``, ``[eventlistener:x]``, ``[fcgi-program:x]`` and ``[group:x]`` sections.

Owns: expanding one program section into one ProgramSpec per ``process_num``, and building
the groups (heterogeneous ones first, as supervisor does, then one per remaining section).
May import: supervisor_grpc.model, supervisor_grpc.errors, our config modules, stdlib.
Threading: plain functions, used during one load.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from supervisor_grpc.config import datatypes as dt
from supervisor_grpc.config.extensions import PROGRAM_EXTENSION_KEYS, program_extensions
from supervisor_grpc.config.getter import Getter
from supervisor_grpc.config.reader import Section
from supervisor_grpc.errors import ConfigError
from supervisor_grpc.model import AutoRestart, GroupKind, GroupSpec, LogSpec, ProgramSpec

_LOG_KEYS = tuple(
    f"{channel}_{suffix}"
    for channel in ("stdout", "stderr")
    for suffix in (
        "logfile",
        "logfile_maxbytes",
        "logfile_backups",
        "capture_maxbytes",
        "events_enabled",
        "syslog",
    )
)
PROGRAM_KEYS = frozenset(
    {
        "command",
        "process_name",
        "numprocs",
        "numprocs_start",
        "priority",
        "autostart",
        "startsecs",
        "startretries",
        "autorestart",
        "exitcodes",
        "stopsignal",
        "stopwaitsecs",
        "stopasgroup",
        "killasgroup",
        "user",
        "redirect_stderr",
        "environment",
        "directory",
        "umask",
        "serverurl",
        *_LOG_KEYS,
        *PROGRAM_EXTENSION_KEYS,
    }
)
EVENTLISTENER_KEYS = PROGRAM_KEYS | {"events", "buffer_size", "result_handler"}
FCGI_KEYS = PROGRAM_KEYS | {"socket", "socket_backlog", "socket_owner", "socket_mode"}
GROUP_KEYS = frozenset({"programs", "priority"})

_AUTORESTART = {"unexpected": AutoRestart.UNEXPECTED}


def _autorestart(text: str) -> AutoRestart:
    low = text.lower()
    if low in _AUTORESTART:
        return _AUTORESTART[low]
    try:
        return AutoRestart.ALWAYS if dt.boolean(low) else AutoRestart.NEVER
    except ValueError:
        raise ValueError(f"invalid 'autorestart' value {text!r}")


class ProgramReader:
    """Everything a program section needs from the rest of the config."""

    def __init__(
        self,
        env_names: Mapping[str, str],
        daemon_env: tuple[tuple[str, str], ...],
        host_node_name: str,
        warnings: list[str],
    ) -> None:
        self.env_names = env_names
        self.daemon_env = daemon_env
        self.host_node_name = host_node_name
        self.warnings = warnings

    def processes(
        self, section: Section, group_name: str, known: frozenset[str]
    ) -> list[ProgramSpec]:
        g = Getter(section, {})
        program_name = g.convert("", dt.check_name, section.name.split(":", 1)[1])
        g.names = {
            **self.env_names,
            "program_name": program_name,
            "group_name": group_name,
            "host_node_name": self.host_node_name,
        }
        self.warnings.extend(g.unknown_keys(known))

        priority = g.get("priority", dt.integer, 999)
        autostart = g.get("autostart", dt.boolean, True)
        autorestart = g.get("autorestart", _autorestart, AutoRestart.UNEXPECTED)
        startsecs = g.get("startsecs", dt.integer, 1)
        startretries = g.get("startretries", dt.integer, 3)
        stopsignal = g.get("stopsignal", dt.parse_signal, dt.parse_signal("TERM"))
        stopwaitsecs = g.get("stopwaitsecs", dt.integer, 10)
        stopasgroup = g.get("stopasgroup", dt.boolean, False)
        killasgroup = g.get("killasgroup", dt.boolean, stopasgroup)
        exitcodes = g.get("exitcodes", dt.exitcodes, frozenset({0}))
        redirect_stderr = g.get("redirect_stderr", dt.boolean, False)
        numprocs = g.get("numprocs", dt.integer, 1)
        numprocs_start = g.get("numprocs_start", dt.integer, 0)
        captures = {
            ch: g.get(f"{ch}_capture_maxbytes", dt.byte_size, 0) for ch in ("stdout", "stderr")
        }
        events = {
            ch: g.get(f"{ch}_events_enabled", dt.boolean, False) for ch in ("stdout", "stderr")
        }
        serverurl = g.text("serverurl")
        if serverurl is not None and serverurl.strip().upper() == "AUTO":
            serverurl = None
        user = g.text("user")
        uid = gid = None
        if user is not None:
            uid = g.convert("user", dt.name_to_uid, user)
            gid = _gid(g, uid)
        umask = g.get("umask", dt.octal, None)
        name_template = g.convert(
            "process_name", dt.check_name, g.raw("process_name") or "%(program_name)s"
        )
        if numprocs > 1 and "%(process_num)" not in name_template:
            raise g.error(
                "%(process_num) must be present within process_name when numprocs > 1",
                "process_name",
            )
        if stopasgroup and not killasgroup:
            raise g.error("cannot set stopasgroup=true and killasgroup=false", "killasgroup")
        if startretries < -1:
            raise g.error("must be >= 0, or -1 to retry forever", "startretries")
        extensions = program_extensions(g)

        out = []
        for num in range(numprocs_start, numprocs_start + numprocs):
            extra: dict[str, str | int] = {"process_num": num, "numprocs": numprocs}
            own_env: tuple[tuple[str, str], ...] = g.get(
                "environment", dt.environment_pairs, (), extra=extra
            )
            extra.update({f"ENV_{k}": v for k, v in own_env})
            logs = {
                ch: self._log(g, ch, extra, captures[ch], events[ch]) for ch in ("stdout", "stderr")
            }
            if redirect_stderr:
                if logs["stderr"].path is not None:
                    self.warnings.append(
                        f"{section.file}: [{section.name}] redirect_stderr=true but "
                        "stderr_logfile has also been set to a filename; it is ignored"
                    )
                logs["stderr"] = LogSpec(
                    path=None,
                    maxbytes=logs["stderr"].maxbytes,
                    backups=logs["stderr"].backups,
                    capture_maxbytes=logs["stderr"].capture_maxbytes,
                    events_enabled=logs["stderr"].events_enabled,
                    syslog=logs["stderr"].syslog,
                )
            command = g.text("command", extra=extra)
            if command is None:
                raise g.error("program section does not specify a command", "command")
            # An empty command= is not refused here: supervisord runs such a config and
            # fails only that spawn ("command is empty"), and so does our spawner.
            name = g.text("process_name", extra=extra) or program_name
            name = g.convert("process_name", dt.check_name, name)
            merged = dict(self.daemon_env)
            merged.update(own_env)
            out.append(
                ProgramSpec(
                    name=name,
                    group=group_name,
                    program_name=program_name,
                    command=command,
                    process_num=num,
                    numprocs=numprocs,
                    priority=priority,
                    autostart=autostart,
                    startsecs=float(startsecs),
                    startretries=startretries,
                    autorestart=autorestart,
                    exitcodes=exitcodes,
                    stopsignal=stopsignal,
                    stopwaitsecs=float(stopwaitsecs),
                    stopasgroup=stopasgroup,
                    killasgroup=killasgroup,
                    user=user,
                    uid=uid,
                    gid=gid,
                    redirect_stderr=redirect_stderr,
                    stdout=logs["stdout"],
                    stderr=logs["stderr"],
                    environment=tuple(merged.items()),
                    directory=g.text("directory", extra=extra),
                    umask=umask,
                    serverurl=serverurl,
                    section=section.name,
                    **extensions,
                )
            )
        return out

    def _log(
        self, g: Getter, ch: str, extra: dict[str, str | int], capture: int, events: bool
    ) -> LogSpec:
        key = f"{ch}_logfile"
        text = g.text(key, extra=extra, twice=True)
        backups = g.get(f"{ch}_logfile_backups", dt.integer, 10, extra=extra)
        maxbytes = g.get(f"{ch}_logfile_maxbytes", dt.byte_size, 50 * 1024 * 1024, extra=extra)
        syslog = g.get(f"{ch}_syslog", dt.boolean, False, extra=extra)
        low = "auto" if text is None else text.lower()
        path: str | None = None
        auto = False
        if low == "auto":
            auto = True
            if not maxbytes:
                self.warnings.append(
                    f"{g.section.file}: [{g.section.name}] AUTO logging used for {key} "
                    "without rollover; set maxbytes > 0 to avoid filling up the filesystem"
                )
        elif low == "syslog":
            syslog = True
            self.warnings.append(
                f"{g.section.file}: [{g.section.name}] {key}=syslog is deprecated; "
                f"use {ch}_syslog=true instead"
            )
        elif low not in ("none", "off") and text is not None:
            path = g.convert(key, dt.existing_dirpath, text)
        return LogSpec(
            path=path,
            auto=auto,
            maxbytes=maxbytes,
            backups=backups,
            capture_maxbytes=capture,
            events_enabled=events,
            syslog=syslog,
        )


def _gid(g: Getter, uid: int) -> int:
    try:
        return dt.gid_for_uid(uid)
    except KeyError:
        raise g.error(f"invalid user id {uid}", "user")


DEFAULT_RESULT_HANDLER = "supervisor.dispatchers:default_handler"


def _eventlistener_checks(g: Getter) -> tuple[tuple[str, ...], int]:
    """Validate a listener section; returns its (events, buffer_size)."""
    buffer_size = g.get("buffer_size", dt.integer, 10)
    if buffer_size < 1:
        raise g.error(f"invalid buffer_size ({buffer_size})", "buffer_size")
    names = {x.upper() for x in dt.list_of_strings(g.text("events") or "")}
    if not names:
        raise g.error('section requires an "events" line', "events")
    for name in sorted(names):
        if name not in dt.EVENT_TYPES:
            raise g.error(f"unknown event type {name}", "events")
    if g.get("redirect_stderr", dt.boolean, False):
        raise g.error(
            "redirect_stderr=true is not allowed: it would interfere with the "
            "eventlistener protocol",
            "redirect_stderr",
        )
    handler = (g.text("result_handler") or DEFAULT_RESULT_HANDLER).strip()
    if handler != DEFAULT_RESULT_HANDLER:
        raise g.error(
            f"result_handler {handler!r} is not supported: only {DEFAULT_RESULT_HANDLER} "
            "(RESULT OK accepts, anything else rejects) can run outside supervisord",
            "result_handler",
        )
    return tuple(sorted(names)), buffer_size


def _fcgi_checks(g: Getter, program_name: str) -> None:
    backlog = g.get("socket_backlog", dt.integer, None)
    if backlog is not None and not 1 <= backlog <= 65535:
        raise g.error(f"invalid socket_backlog value {backlog}", "socket_backlog")
    owner = g.get("socket_owner", dt.user_group, None)
    mode = g.get("socket_mode", dt.octal, None)
    sock = g.text("socket", extra={"program_name": program_name})
    if not sock:
        raise g.error('section requires a "socket" line', "socket")
    if sock.startswith("unix://"):
        if not sock[7:].startswith("/"):
            raise g.error(f"unix socket path {sock[7:]} is not an absolute path", "socket")
        return
    if owner is not None or mode is not None:
        raise g.error(
            "socket_owner and socket_mode may only be used with a unix domain socket", "socket"
        )
    if not re.fullmatch(r"tcp://[^\s:]+:\d+", sock):
        raise g.error(f"bad socket format {sock}", "socket")


def build_groups(
    sections: Mapping[str, Section], reader: ProgramReader, env_names: Mapping[str, str]
) -> tuple[GroupSpec, ...]:
    groups: list[GroupSpec] = []
    in_groups: set[str] = set()
    for section in sections.values():
        if not section.name.startswith("group:"):
            continue
        g = Getter(section, env_names)
        name = g.convert("", dt.check_name, section.name.split(":", 1)[1])
        reader.warnings.extend(g.unknown_keys(GROUP_KEYS))
        members = dt.list_of_strings(g.text("programs") or "")
        priority = g.get("priority", dt.integer, 999)
        procs: list[ProgramSpec] = []
        for member in members:
            candidates = [f"program:{member}", f"fcgi-program:{member}"]
            found = [c for c in candidates if c in sections]
            if not found:
                raise g.error(f"names unknown program or fcgi-program {member!r}", "programs")
            if len(found) > 1:
                raise g.error(
                    f"name {member!r} is ambiguous (exists as program and fcgi-program)",
                    "programs",
                )
            in_groups.add(found[0])
            known = FCGI_KEYS if found[0].startswith("fcgi") else PROGRAM_KEYS
            procs.extend(reader.processes(sections[found[0]], name, known))
        groups.append(_group(g, name, priority, procs, GroupKind.PROGRAM))

    kinds = (
        ("program:", GroupKind.PROGRAM, PROGRAM_KEYS, 999),
        ("eventlistener:", GroupKind.EVENTLISTENER, EVENTLISTENER_KEYS, -1),
        ("fcgi-program:", GroupKind.FCGI_PROGRAM, FCGI_KEYS, 999),
    )
    for prefix, kind, known, default_priority in kinds:
        for section in sections.values():
            if not section.name.startswith(prefix) or section.name in in_groups:
                continue
            g = Getter(section, env_names)
            name = g.convert("", dt.check_name, section.name.split(":", 1)[1])
            priority = g.get("priority", dt.integer, default_priority)
            events: tuple[str, ...] = ()
            buffer_size = 10
            if kind is GroupKind.EVENTLISTENER:
                events, buffer_size = _eventlistener_checks(g)
            elif kind is GroupKind.FCGI_PROGRAM:
                _fcgi_checks(g, name)
            procs = reader.processes(section, name, known)
            group = _group(g, name, priority, procs, kind)
            if events:
                group = dataclasses.replace(group, events=events, buffer_size=buffer_size)
            groups.append(group)

    seen: dict[str, str] = {}
    for group in groups:
        if group.name in seen:
            raise ConfigError(
                f"group name {group.name!r} is also used by [{seen[group.name]}]",
                file=sections[group.section].file,
                section=group.section,
            )
        seen[group.name] = group.section
    return tuple(sorted(groups, key=lambda grp: (grp.priority, grp.name)))


def _group(
    g: Getter, name: str, priority: int, procs: list[ProgramSpec], kind: GroupKind
) -> GroupSpec:
    seen: dict[str, ProgramSpec] = {}
    for proc in procs:
        if proc.name in seen:
            first = seen[proc.name]
            raise g.error(
                f"process name {proc.name!r} occurs twice in group {name!r} "
                f"([{first.section}] and [{proc.section}])"
            )
        seen[proc.name] = proc
    ordered = tuple(sorted(procs, key=lambda p: (p.priority, p.name)))
    return GroupSpec(
        name=name, priority=priority, programs=ordered, kind=kind, section=g.section.name
    )
