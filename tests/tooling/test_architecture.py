"""Dependencies point one way (ARCHITECTURE.md "Rooms"): checked, not just hoped for.

- import-linter's layers contract (pyproject.toml ``[tool.importlinter]``) over the package.
- An AST check that the pure rooms stay pure: ``machine`` and ``model`` import only from a
  small allow-list (no os, time, logging, threading, subprocess, ...), and ``errors`` imports
  nothing of ours. Function-level imports count too.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "supervisor_grpc"

PURE_STDLIB = {"__future__", "enum", "dataclasses", "signal", "collections.abc", "typing"}
MACHINE_ALLOWED = PURE_STDLIB | {
    "supervisor_grpc.model",
    "supervisor_grpc.errors",
    "supervisor_grpc.machine.process",
    "supervisor_grpc.machine.vocabulary",
}
MODEL_ALLOWED = PURE_STDLIB | {
    "supervisor_grpc.errors",
    *(f"supervisor_grpc.model.{p.stem}" for p in (PACKAGE / "model").glob("*.py")),
}
ALLOWED = {
    **{
        f"machine/{p.name}": MACHINE_ALLOWED
        for p in sorted((PACKAGE / "machine").glob("*.py"))
    },
    **{
        f"model/{p.name}": MODEL_ALLOWED
        for p in sorted((PACKAGE / "model").glob("*.py"))
    },
}


def imported_modules(source: str, package: str = "supervisor_grpc") -> set[str]:
    """Every module a source file imports from, relative imports resolved against
    ``package`` (a top-level module of that package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
                if node.module is None:
                    # ``from . import x``: x is a module of the package.
                    found.update(f"{name}.{alias.name}" for alias in node.names)
                    continue
                found.add(name)
            else:
                found.add(node.module or "")
    return found


def _lint_imports() -> str | None:
    candidate = Path(sys.executable).parent / "lint-imports"
    if candidate.exists():
        return str(candidate)
    return shutil.which("lint-imports")


def test_import_linter_contracts_are_kept():
    exe = _lint_imports()
    if exe is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    result = subprocess.run(
        [exe, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and " 0 broken" in result.stdout, result.stdout


@pytest.mark.parametrize("filename", sorted(ALLOWED))
def test_pure_rooms_import_only_the_allow_list(filename):
    package = f"supervisor_grpc.{filename.split('/')[0]}"
    modules = imported_modules((PACKAGE / filename).read_text(), package)
    unexpected = sorted(modules - ALLOWED[filename])
    assert unexpected == [], f"{filename} imports {unexpected}"


def test_errors_import_nothing_of_ours():
    modules = imported_modules((PACKAGE / "errors.py").read_text())
    ours = sorted(m for m in modules if m == "supervisor_grpc" or m.startswith("supervisor_grpc."))
    assert ours == []


@pytest.mark.parametrize(
    ("source", "expected", "pure"),
    [
        ("import os", {"os"}, False),
        ("import os.path as p", {"os.path"}, False),
        ("from time import monotonic", {"time"}, False),
        ("def f():\n    import logging\n", {"logging"}, False),
        ("from .model import X", {"supervisor_grpc.model"}, True),
        ("from . import runtime", {"supervisor_grpc.runtime"}, False),
        ("from .runtime.spawner import Spawner", {"supervisor_grpc.runtime.spawner"}, False),
        ("import collections", {"collections"}, False),
        ("from collections.abc import Mapping", {"collections.abc"}, True),
        ("from dataclasses import dataclass", {"dataclasses"}, True),
    ],
)
def test_the_import_scanner_sees_every_kind_of_import(source, expected, pure):
    assert imported_modules(source) == expected
    assert (expected <= MACHINE_ALLOWED) is pure
