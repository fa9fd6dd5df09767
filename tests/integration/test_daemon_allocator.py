"""host.tune_allocator: with glibc, repeated 1 MiB pipe reads (what Pipes.read does for every
chunk of child output) reuse heap pages instead of faulting fresh ones in for every read."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from supervisor_grpc.daemon import host

CODE = """
import os, resource, sys
from supervisor_grpc.daemon import host
if sys.argv[1] == "tuned":
    assert host.tune_allocator()
r, w = os.pipe()
def reads(n):
    kept = []  # like a ring: a few recent chunks stay referenced, older ones are freed
    for _ in range(n):
        os.write(w, b"x" * 60000)
        kept.append(os.read(r, 1 << 20))
        del kept[:-4]
reads(50)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
reads(500)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc mallopt")


def faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", CODE, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout)


@glibc_only
def test_tuned_allocator_reuses_read_buffers() -> None:
    # Untuned glibc trims the heap top after each freed 1 MiB buffer: ~16 faults per read.
    assert faults("tuned") < 100  # 500 reads: essentially none once warmed up
    assert faults("default") > faults("tuned")


def test_tune_allocator_never_raises() -> None:
    assert host.tune_allocator() in (True, False)
