"""Our extension keys: dependencies, health checks, critical programs, backoff, tree kill,
and the ``[supervisord]`` container options (exit_when, output forwarding, JSON log).

Owns: parsing and validating those keys. supervisord ignores keys it does not know, so a file
that uses them still loads there; nobody is locked in. A closed choice becomes its model enum
here (``choice``), and its error lists the enum's values in declaration order.
May import: supervisor_grpc.model, supervisor_grpc.errors, our config modules, stdlib.
Threading: plain functions, used during one load.
"""

from __future__ import annotations

import enum
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

from supervisor_grpc.config import datatypes as dt
from supervisor_grpc.config.getter import Getter
from supervisor_grpc.errors import ConfigError
from supervisor_grpc.model import (
    ExitWhen,
    ForwardOutput,
    GroupSpec,
    HealthKind,
    HealthSpec,
    LogFormat,
    UnhealthyAction,
)

E = TypeVar("E", bound=enum.Enum)

PROGRAM_EXTENSION_KEYS = frozenset(
    {
        "depends_on",
        "restart_with_dependencies",
        "healthcheck_command",
        "healthcheck_tcp",
        "healthcheck_http",
        "healthcheck_interval",
        "healthcheck_timeout",
        "healthcheck_retries",
        "healthcheck_start_period",
        "unhealthy_action",
        "critical",
        "backoff_initial",
        "backoff_max",
        "backoff_multiplier",
        "killtree",
    }
)
SUPERVISORD_EXTENSION_KEYS = frozenset(
    {"exit_when", "forward_output", "forward_buffer_bytes", "log_format"}
)


def seconds(text: str) -> float:
    value = float(text)
    if value < 0 or value != value:
        raise ValueError(f"{text!r} is not a number of seconds >= 0")
    return value


def _positive_seconds(text: str) -> float:
    value = seconds(text)
    if value <= 0:
        raise ValueError(f"{text!r} must be greater than 0")
    return value


def choice(kind: type[E]) -> Callable[[str], E]:
    """A converter to ``kind``'s member spelled ``text`` (case and spaces ignored)."""
    allowed = tuple(member.value for member in kind)

    def convert(text: str) -> E:
        low = text.strip().lower()
        if low not in allowed:
            raise ValueError(f"{text!r} is not one of {', '.join(allowed)}")
        return kind(low)

    return convert


def _command_target(text: str) -> str:
    return text.strip()


def _tcp_target(text: str) -> str:
    host, _, port = text.strip().rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not host:port")
    return text.strip()


def _http_target(text: str) -> str:
    parsed = urllib.parse.urlsplit(text.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"{text!r} is not an http:// or https:// URL")
    return text.strip()


def program_extensions(g: Getter) -> dict[str, Any]:
    """ProgramSpec keyword arguments for the extension keys present in this section."""
    out: dict[str, Any] = {}
    deps = g.text("depends_on")
    if deps is not None:
        out["depends_on"] = tuple(dt.list_of_strings(deps))
    out["restart_with_dependencies"] = g.get("restart_with_dependencies", dt.boolean, False)
    out["critical"] = g.get("critical", dt.boolean, False)
    out["killtree"] = g.get("killtree", dt.boolean, False)
    out["backoff_initial"] = g.get("backoff_initial", seconds, 1.0)
    out["backoff_max"] = g.get("backoff_max", seconds, 0.0)
    multiplier = g.get("backoff_multiplier", float, None)
    if multiplier is not None and multiplier < 1:
        raise g.error("must be >= 1", "backoff_multiplier")
    out["backoff_multiplier"] = multiplier
    out["health"] = _health(g)
    return out


def _health(g: Getter) -> HealthSpec | None:
    probes: list[tuple[HealthKind, str, Callable[[str], str]]] = [
        (HealthKind.COMMAND, "healthcheck_command", _command_target),
        (HealthKind.TCP, "healthcheck_tcp", _tcp_target),
        (HealthKind.HTTP, "healthcheck_http", _http_target),
    ]
    present = [(kind, key, conv) for kind, key, conv in probes if g.raw(key) is not None]
    tuning = (
        "healthcheck_interval",
        "healthcheck_timeout",
        "healthcheck_retries",
        "healthcheck_start_period",
        "unhealthy_action",
    )
    if not present:
        for key in tuning:
            if g.raw(key) is not None:
                raise g.error("set healthcheck_command, healthcheck_tcp or healthcheck_http", key)
        return None
    if len(present) > 1:
        raise g.error(
            "only one of healthcheck_command, healthcheck_tcp, healthcheck_http may be set",
            present[1][1],
        )
    kind, key, conv = present[0]
    target = g.get(key, conv, "")
    if not target:
        raise g.error("is empty", key)
    retries = g.get("healthcheck_retries", dt.integer, 3)
    if retries < 1:
        raise g.error("must be >= 1", "healthcheck_retries")
    return HealthSpec(
        kind=kind,
        target=target,
        interval=g.get("healthcheck_interval", _positive_seconds, 10.0),
        timeout=g.get("healthcheck_timeout", _positive_seconds, 5.0),
        retries=retries,
        start_period=g.get("healthcheck_start_period", seconds, 0.0),
        unhealthy_action=g.get(
            "unhealthy_action", choice(UnhealthyAction), UnhealthyAction.NONE
        ),
    )


def supervisord_extensions(g: Getter) -> dict[str, Any]:
    return {
        "exit_when": g.get("exit_when", choice(ExitWhen), ExitWhen.NEVER),
        "forward_output": g.get("forward_output", choice(ForwardOutput), ForwardOutput.OFF),
        "forward_buffer_bytes": g.get("forward_buffer_bytes", dt.byte_size, 4 * 1024 * 1024),
        "log_format": g.get("log_format", choice(LogFormat), LogFormat.TEXT),
    }


def check_dependencies(groups: tuple[GroupSpec, ...], file: str) -> None:
    """Every ``depends_on`` names something that exists, and the graph has no cycle."""
    by_namespec = {}
    by_name: dict[str, list[str]] = {}
    for group in groups:
        for program in group.programs:
            by_namespec[program.namespec] = program
            by_name.setdefault(program.name, []).append(program.namespec)
    group_names = {group.name: group for group in groups}

    def resolve(dep: str, owner_section: str) -> list[str]:
        if dep.endswith(":*"):
            group = group_names.get(dep[:-2])
            if group is None:
                raise ConfigError(
                    f"unknown group {dep!r}", file=file, section=owner_section, key="depends_on"
                )
            return [p.namespec for p in group.programs]
        if dep in by_namespec:
            return [dep]
        matches = by_name.get(dep, [])
        if len(matches) == 1:
            return matches
        if dep in group_names:  # a program whose process names are templated (numprocs)
            return [p.namespec for p in group_names[dep].programs]
        raise ConfigError(
            f"unknown program {dep!r}", file=file, section=owner_section, key="depends_on"
        )

    edges: dict[str, list[str]] = {}
    for namespec, program in by_namespec.items():
        targets: list[str] = []
        for dep in program.depends_on:
            targets.extend(resolve(dep, program.section))
        if namespec in targets:
            raise ConfigError(
                "a program cannot depend on itself",
                file=file,
                section=program.section,
                key="depends_on",
            )
        edges[namespec] = targets

    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            cycle = [*path[path.index(node) :], node]
            raise ConfigError(
                f"dependency cycle: {' -> '.join(cycle)}",
                file=file,
                section=by_namespec[node].section,
                key="depends_on",
            )
        state[node] = 1
        for nxt in edges[node]:
            visit(nxt, [*path, node])
        state[node] = 2

    for node in edges:
        visit(node, [])
