"""supervisor's wire shapes: namespecs, argument coercion and the structs methods return.

Owns: ``split_namespec``, the lenient int/str argument checks, and the result, process info
and config info structs with supervisor 4.3.0's exact key sets.
May import: control, model, this package's faults/codec, stdlib.
Threading: pure functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...control import ActionResult, ConfigInfo
from ...model import LogSpec, ProcessInfo
from .codec import capped_int
from .faults import Faults, RpcFault, from_error

Struct = dict[str, Any]
_MAX_OFFSET = 2**62


def split_namespec(name: str) -> tuple[str, str | None]:
    group, sep, process = name.partition(":")
    if not sep:
        return name, name
    return group, (None if process in ("", "*") else process)


def string_arg(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise RpcFault(Faults.INCORRECT_PARAMETERS, f"{what} must be a string")
    return value


def int_arg(value: object, what: str) -> int:
    """An int, or anything supervisor's ``int()`` accepts (``"-100"`` from untyped values).
    Clamped so no file offset can overflow a seek."""
    try:
        if isinstance(value, (bool, int, float, str)):
            number = int(value.strip() if isinstance(value, str) else value)
            return max(-_MAX_OFFSET, min(_MAX_OFFSET, number))
    except (ValueError, OverflowError):
        pass
    raise RpcFault(Faults.INCORRECT_PARAMETERS, f"{what} must be an integer")


def result(r: ActionResult) -> Struct:
    if r.error is None:
        return {
            "name": r.name,
            "group": r.group,
            "status": int(Faults.SUCCESS),
            "description": "OK",
        }
    fault = from_error(r.error, r.namespec)
    return {"name": r.name, "group": r.group, "status": int(fault.code), "description": fault.text}


def _logfile(spec: LogSpec) -> str:
    return "auto" if spec.auto else (spec.path or "none")


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def info_struct(
    info: ProcessInfo, now: float, wall: Callable[[float | None], float], description: str
) -> Struct:
    status = info.exit_status
    return {
        "name": info.name,
        "group": info.group,
        "start": capped_int(wall(info.start_mono)),
        "stop": capped_int(wall(info.stop_mono)),
        "now": capped_int(now),
        "state": int(info.state),
        "statename": info.state.name,
        "spawnerr": info.spawn_error or "",
        "exitstatus": status.policy_code if status is not None else 0,
        "logfile": info.stdout_logfile,
        "stdout_logfile": info.stdout_logfile,
        "stderr_logfile": info.stderr_logfile,
        "pid": info.pid,
        "description": description,
    }


def result_structs(results: list[ActionResult], *, skip: str) -> list[Struct]:
    """supervisor's group/all operations only touch processes the predicate selects (start:
    not running, stop: running, signal: signallable); the others are left out."""
    return [result(r) for r in results if r.error is None or r.error.code != skip]


def config_struct(config: ConfigInfo, live: ProcessInfo | None) -> Struct:
    """supervisor shows the concrete AUTO log names of loaded processes, ``auto`` otherwise."""
    s = config.spec
    live_out = live.stdout_logfile if live is not None and config.inuse else ""
    live_err = live.stderr_logfile if live is not None and config.inuse else ""
    return {
        "autostart": s.autostart,
        "directory": s.directory if s.directory is not None else "none",
        "uid": s.uid if s.uid is not None else "none",
        "command": s.command,
        "exitcodes": sorted(s.exitcodes),
        "group": s.group,
        "group_prio": config.group_priority,
        "inuse": config.inuse,
        "killasgroup": s.killasgroup,
        "name": s.name,
        "process_prio": s.priority,
        "redirect_stderr": s.redirect_stderr,
        "startretries": s.startretries,
        "startsecs": _number(s.startsecs),
        "stdout_capture_maxbytes": capped_int(s.stdout.capture_maxbytes),
        "stdout_events_enabled": s.stdout.events_enabled,
        "stdout_logfile": live_out if s.stdout.auto and live_out else _logfile(s.stdout),
        "stdout_logfile_backups": s.stdout.backups,
        "stdout_logfile_maxbytes": capped_int(s.stdout.maxbytes),
        "stdout_syslog": s.stdout.syslog,
        "stopsignal": int(s.stopsignal),
        "stopwaitsecs": _number(s.stopwaitsecs),
        "stderr_capture_maxbytes": capped_int(s.stderr.capture_maxbytes),
        "stderr_events_enabled": s.stderr.events_enabled,
        "stderr_logfile": live_err if s.stderr.auto and live_err else _logfile(s.stderr),
        "stderr_logfile_backups": s.stderr.backups,
        "stderr_logfile_maxbytes": capped_int(s.stderr.maxbytes),
        "stderr_syslog": s.stderr.syslog,
        "serverurl": s.serverurl if s.serverurl is not None else "none",
    }
