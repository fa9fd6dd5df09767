"""The committed ``client/supgrpc`` package is exactly what ``scripts/gen_proto.py`` makes from
``proto/`` (so nobody edits generated code by hand, and nobody forgets to regenerate), and the
proto passes ``buf lint``."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "client"


def _gen_proto() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_proto", ROOT / "scripts" / "gen_proto.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_in_sync_with_proto(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    generated = _gen_proto().generate(tmp_path)
    committed = sorted(
        p.relative_to(COMMITTED)
        for p in (COMMITTED / "supgrpc").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert generated == committed, "files differ: run scripts/gen_proto.py"
    for rel in generated:
        assert (tmp_path / rel).read_bytes() == (COMMITTED / rel).read_bytes(), (
            f"{rel} is stale: run `python scripts/gen_proto.py`"
        )


def test_proto_passes_buf_lint() -> None:
    buf = shutil.which("buf", path=str(Path(sys.executable).parent)) or shutil.which("buf")
    if buf is None:
        pytest.skip("buf is not installed (pip install buf-bin)")
    result = subprocess.run(
        [buf, "lint"], cwd=ROOT / "proto", capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
