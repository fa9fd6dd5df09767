#!/usr/bin/env python3
"""Generate the ``supgrpc`` Python package from ``proto/`` with grpcio-tools + mypy-protobuf.

Owns: the one codegen command line (so CI, developers and tests/tooling/test_proto_sync.py run
exactly the same thing).
May import: grpc_tools, stdlib.
Threading: a plain script.

Usage: ``python scripts/gen_proto.py [--out DIR]`` (default ``client/``). Writes
``DIR/supgrpc/v1/supervisor_pb2.py``, ``supervisor_pb2_grpc.py`` and their ``.pyi`` stubs, plus
the package's ``__init__.py`` files and ``py.typed`` marker. The output depends only on the
.proto files and the tool versions pinned by the environment.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PROTO_FILES = ("supgrpc/v1/supervisor.proto",)
PACKAGE_FILES = {
    "supgrpc/__init__.py": '"""Generated gRPC code for supgrpc (from proto/; never edit)."""\n',
    "supgrpc/v1/__init__.py": '"""supgrpc.v1: generated from proto/supgrpc/v1/."""\n',
    "supgrpc/py.typed": "",
}


def _plugin(name: str) -> str:
    """protoc plugins from mypy-protobuf live next to the interpreter (venv bin dir)."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"gen_proto: {name} not found (pip install mypy-protobuf)")
    return found


def generate(out: Path) -> list[Path]:
    """Run protoc into ``out``; return the files written (relative to ``out``)."""
    from grpc_tools import protoc  # imported here so --help works without grpcio-tools

    well_known = Path(protoc.__file__).resolve().parent / "_proto"
    out.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *PROTO_FILES,
    ]
    # protoc resolves the .proto paths relative to the -I roots; run from proto/ so the
    # generated files carry no machine-specific paths.
    cwd = os.getcwd()
    os.chdir(PROTO_ROOT)
    try:
        status = protoc.main(args)
    finally:
        os.chdir(cwd)
    if status != 0:
        raise SystemExit(f"gen_proto: protoc failed with status {status}")
    for rel, text in PACKAGE_FILES.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return sorted(p.relative_to(out) for p in (out / "supgrpc").rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "client",
        help="directory that receives the supgrpc package (default: client/)",
    )
    ns = parser.parse_args(argv)
    for rel in generate(ns.out):
        print(ns.out / rel)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
