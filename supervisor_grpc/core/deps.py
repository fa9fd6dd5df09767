"""Resolving ``depends_on`` entries to live processes, and describing what a start waits for.

Pure functions over the core's tables (the same rules config/extensions.py validates with).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..model import GroupSpec
from .process import Process


def dependencies_of(
    proc: Process,
    processes: Mapping[tuple[str, str], Process],
    groups: Mapping[str, GroupSpec],
) -> list[Process]:
    """The processes ``proc`` depends on that are loaded now (a removed one is just absent)."""
    found: list[Process] = []
    for dep in proc.spec.depends_on:
        if dep.endswith(":*"):
            found.extend(p for (g, _), p in processes.items() if g == dep[:-2])
            continue
        if ":" in dep:
            group, _, name = dep.partition(":")
            hit = processes.get((group, name))
            if hit is not None:
                found.append(hit)
            continue
        exact = processes.get((dep, dep))
        if exact is not None:
            found.append(exact)
            continue
        by_name = [p for (_, n), p in processes.items() if n == dep]
        if len(by_name) == 1:
            found.append(by_name[0])
        elif dep in groups:
            found.extend(p for (g, _), p in processes.items() if g == dep)
    unique: dict[int, Process] = {id(p): p for p in found if p is not proc}
    return list(unique.values())


def waiting_description(
    deps: list[Process], wanted: tuple[str, ...], ready: Callable[[Process], bool]
) -> str:
    """``waiting for db (STOPPED), cache (not healthy yet)`` — what status shows while held."""
    parts = []
    for dep in deps:
        if ready(dep):
            continue
        if dep.machine.state.name == "RUNNING":
            parts.append(f"{dep.namespec} (not healthy yet)")
        else:
            parts.append(f"{dep.namespec} ({dep.machine.state.name})")
    if not deps and wanted:
        parts.append(", ".join(f"{w} (not loaded)" for w in wanted))
    return "waiting for " + ", ".join(parts) if parts else "dependencies ready"
