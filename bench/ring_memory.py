"""How much real memory a log ring costs when programs write tiny lines (issue 11, item 11).

    python bench/ring_memory.py [--programs N] [--mib M]

Runs supgrpcd with N programs that each write M MiB as 10-byte lines, one write per line
(``print`` unbuffered), to a channel with no file (``stdout_logfile=NONE``): only the
in-memory ring (1 MiB each) keeps their output. Reports the daemon's RSS growth per ring
against the ring's byte bound, and against the same run with 4 KiB lines (the reference,
measured in the same run: what a ring costs when reads are big). Before the fix each read was
kept as its own bytes object and tiny writes cost several times the bound.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RING_BYTES = 1 << 20


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--programs", type=int, default=8)
    parser.add_argument("--mib", type=float, default=2.0)
    args = parser.parse_args()
    small = measure(args.programs, args.mib, 10)
    big = measure(args.programs, args.mib, 4096)
    for size, per_ring in ((10, small), (4096, big)):
        print(
            f"{args.programs} programs x {args.mib} MiB in {size}-byte writes: daemon RSS "
            f"+{per_ring / 2**20:.2f} MiB per 1 MiB ring = {per_ring / RING_BYTES:.2f}x the bound"
        )
    print(f"10-byte vs 4 KiB writes: {small / big:.2f}x")
    return 0


def measure(programs: int, mib: float, line_bytes: int) -> float:
    """RSS growth of the daemon per program (= per ring) once every program is done."""
    supgrpcd = str(Path(sys.executable).parent / "supgrpcd")
    with tempfile.TemporaryDirectory(prefix="ringmem-") as tmp:
        go = Path(tmp) / "go"
        lines = int(mib * (1 << 20) / line_bytes)
        code = (
            "import os, time\n"
            f"while not os.path.exists({str(go)!r}): time.sleep(0.01)\n"
            f"for _ in range({lines}): print({line_bytes - 1} * 'x', flush=True)\n"
        )
        child = Path(tmp) / "child.py"
        child.write_text(code)
        conf = Path(tmp) / "supervisord.conf"
        sections = "".join(
            f"[program:p{i}]\ncommand={sys.executable} {child}\nstdout_logfile=NONE\n"
            "autorestart=false\nstartsecs=0\n\n"
            for i in range(programs)
        )
        conf.write_text(
            f"[supervisord]\nlogfile={tmp}/main.log\npidfile={tmp}/d.pid\n"
            f"childlogdir={tmp}\n\n{sections}"
        )
        log = Path(tmp) / "main.log"
        proc = subprocess.Popen(
            [supgrpcd, "-c", str(conf), "--no-grpc"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(
                lambda: (
                    len(re.findall("entered RUNNING", log.read_text() if log.exists() else ""))
                    == programs
                ),
                30,
                "programs RUNNING",
            )
            before = rss(proc.pid)
            go.touch()
            wait_for(
                lambda: len(re.findall(r"exited: p\d+", log.read_text())) == programs,
                600,
                "programs to finish",
            )
            after = rss(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)
    return (after - before) / programs


if __name__ == "__main__":
    sys.exit(main())
