"""Where the programs are and how to write ``command=`` lines for them.

Owns: paths of the repository, the fixtures and the venv's executables; ``command=`` builders
that survive supervisor's %-interpolation and any quoting; ``run`` for one-shot commands.
May import: the standard library only (the bench imports it too).
Threading: any thread.
"""

from __future__ import annotations

import base64
import os
import shlex
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
PYTHON = sys.executable
BIN = Path(sys.executable).parent
SUPGRPCD = str(BIN / "supgrpcd")
SUPERVISORD = str(BIN / "supervisord")
SUPERVISORCTL = str(BIN / "supervisorctl")
CLI = str(BIN / "supgrpc-cli")


def _venv_script(name: str) -> str | None:
    path = BIN / name
    return str(path) if path.exists() else None


def supgrpcd_argv() -> list[str]:
    """How to run the daemon: the venv's console script next to this interpreter, else -m."""
    script = _venv_script("supgrpcd")
    return [script] if script else [PYTHON, "-m", "supervisor_grpc"]


def supervisord_argv() -> list[str]:
    """The reference: supervisor 4.3.0's supervisord from the same venv."""
    script = _venv_script("supervisord")
    return [script] if script else [PYTHON, "-m", "supervisor.supervisord"]


def conf_escape(value: str) -> str:
    """Protect a literal value from supervisor's %-interpolation."""
    return value.replace("%", "%%")


def fixture(name: str) -> str:
    """Absolute path of a script in tests/fixtures/."""
    path = FIXTURES / name
    assert path.exists(), path
    return str(path)


def fixture_command(name: str, *args: object) -> str:
    """A ``command=`` line running fixture ``name`` (Python fixtures run with this Python)."""
    path = fixture(name)
    argv = [PYTHON, path] if name.endswith(".py") else [path]
    return conf_escape(shlex.join([*argv, *(str(a) for a in args)]))


def python(code: str) -> list[str]:
    """argv for a child that runs ``code`` (``sys`` is already imported)."""
    return [PYTHON, "-c", "import sys\n" + code]


def python_command(code: str) -> str:
    """A ``command=`` line that runs ``code``: base64 so any quoting, newline or % survives."""
    blob = base64.b64encode(("import sys\n" + code).encode()).decode()
    return shlex.join([PYTHON, "-c", f"import base64;exec(base64.b64decode('{blob}'))"])


def py(code: str) -> str:
    """A short ``command=`` running Python code unbuffered; the code must not contain quotes
    (for longer programs use ``python_command`` or ``script``)."""
    code = textwrap.dedent(code).strip()
    assert "'" not in code
    return f"{PYTHON} -u -c '{code}'"


def script(directory: str | os.PathLike[str], name: str, code: str) -> str:
    """Write a small Python fixture program; return the ``command=`` that runs it."""
    path = Path(directory) / f"{name}.py"
    path.write_text(textwrap.dedent(code).lstrip())
    return f"{PYTHON} -u {path}"


def short_tmpdir(prefix: str = "sg-") -> str:
    """A private directory under /tmp: unix socket paths are limited to 107 bytes, and
    pytest's tmp_path can be longer. The caller removes it (``Daemon.close`` does)."""
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")


def read_text(path: str | os.PathLike[str]) -> str:
    """A file's text, or "" while it does not exist yet."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def run(
    argv: Sequence[str],
    *,
    timeout: float = 20.0,
    input: bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        list(argv),
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )


def numbered_lines(count: int, start: int = 0, width: int = 8) -> list[str]:
    """What tests/fixtures/spew.py prints: zero-padded numbers, one per line."""
    return [f"{i:0{width}d}" for i in range(start, start + count)]


def concat_rotated(path: str | os.PathLike[str], backups: int) -> bytes:
    """A rotated log's whole content in write order: path.N ... path.1, then path."""
    parts = []
    for i in range(backups, 0, -1):
        p = f"{path}.{i}"
        if os.path.exists(p):
            with open(p, "rb") as f:
                parts.append(f.read())
    with open(path, "rb") as f:
        parts.append(f.read())
    return b"".join(parts)
