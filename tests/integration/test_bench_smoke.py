"""bench/ must not rot: ``python bench/run.py --quick`` runs every scenario (small sizes, one
repeat) against supgrpcd and supervisord and prints the table. No timing is asserted: only that
it completes, that every scenario of issue 7 has a row, that the ratio column is there, and that
it leaves nothing behind.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = (
    "log_throughput",
    "log_throughput_rotating",
    "log_fanout",
    "idle_cpu",
    "spawn",
    "restart_rate",
    "rpc",
    "shutdown",
    "reap",
    "rss",
    "scale",
)

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("supervisor") is None, reason="supervisor 4.3.0 not installed"
)


def _table_rows(stdout: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        for line in stdout.splitlines()
        if line.startswith("| ")
    ]


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{pid}: {cmdline}")
    return found


@pytest.mark.timeout(900)
def test_quick_run_prints_every_scenario_with_ratios() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    rows = _table_rows(proc.stdout)
    assert rows, proc.stdout
    header, body = rows[0], rows[1:]
    assert "ratio (supgrpcd / ref)" in header
    assert "better" in header
    names = {row[0] for row in body}
    missing = [s for s in SCENARIOS if s not in names]
    assert not missing, f"scenarios without a row: {missing}\n{proc.stdout}"
    assert not [row for row in body if "FAILED" in " ".join(row)], proc.stdout
    # Nothing left running, the work directory removed.
    marker = "work directory: "
    lines = [line for line in proc.stderr.splitlines() if marker in line]
    assert lines, proc.stderr[-2000:]
    work = lines[0].split(marker, 1)[1].strip()
    assert not Path(work).exists()
    assert not _processes_mentioning(work)
