"""ResourceSampler on a real process tree: a program with two grandchildren is seen with its
children counted and its resident memory read (the unit tests use a fake /proc tree)."""

from __future__ import annotations

import subprocess
import sys

from supervisor_grpc.frontends.grpc.resources import ResourceSampler
from tests.support import descendants_of, kill_tree, wait_until


def test_real_process_with_grandchildren() -> None:
    code = (
        "import subprocess, sys, time\n"
        "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])"
        " for _ in range(2)]\n"
        "print('ready', flush=True)\n"
        "sum(range(10**7))\n"
        "time.sleep(30)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        s = ResourceSampler(max_age=0.0)
        usage = wait_until(
            lambda: (u := s.sample([proc.pid])[proc.pid]).children == 2 and u,
            what=lambda: f"two children of {proc.pid} (saw {descendants_of(proc.pid)})",
        )
        assert usage.children == 2
        assert usage.rss_bytes > 1 << 20
    finally:
        kill_tree(proc.pid)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
