"""Shared helpers for the config tests: writing files and running supervisor's own parser."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any

from supervisor_grpc.config import load
from supervisor_grpc.model import DaemonSpec, ProgramSpec

HEAD = "[supervisord]\n"


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def conf(tmp_path: Path, body: str, *, head: str = HEAD) -> str:
    return write(tmp_path / "supervisord.conf", head + body)


def load_body(tmp_path: Path, body: str, environ: dict[str, str] | None = None) -> DaemonSpec:
    return load(conf(tmp_path, body), environ=environ or {})


def programs(spec: DaemonSpec) -> dict[str, ProgramSpec]:
    return {p.namespec: p for g in spec.groups for p in g.programs}


def only(spec: DaemonSpec) -> ProgramSpec:
    procs = list(programs(spec).values())
    assert len(procs) == 1, procs
    return procs[0]


def oracle(path: str, environ: dict[str, str] | None = None) -> Any:
    """supervisord 4.3.0's own parse of ``path``: its ServerOptions, or the usage message
    (as a str) when it refuses the file."""
    from supervisor.options import ServerOptions  # type: ignore[import-untyped]

    saved = dict(os.environ)
    if environ is not None:
        os.environ.clear()
        os.environ.update(environ)
    try:
        opts = ServerOptions()
        err = io.StringIO()
        opts.stderr = err
        opts.exit = _raise_exit
        with contextlib.redirect_stderr(err):
            try:
                opts.realize(args=["-c", path])
            except _Exit:
                return err.getvalue()
        return opts
    finally:
        os.environ.clear()
        os.environ.update(saved)


class _Exit(Exception):
    pass


def _raise_exit(code: int = 0) -> None:
    raise _Exit(code)
