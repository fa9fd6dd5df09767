"""ResourceSampler: figures read per pid (psutil's oneshot), descendants from the program's own
subtree, one sample shared by every call within MAX_AGE (a fake clock, fake figures and a fake
/proc tree of children files; the real process is in tests/integration/test_resources_real.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from supervisor_grpc.frontends.grpc import resources
from supervisor_grpc.frontends.grpc.resources import ZERO, Figures, ResourceSampler

TICKS = 100  # the fake tree's CPU ticks per second
PAGE = 4096  # and bytes per RSS page


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def write_proc(
    root: Path,
    pid: int,
    *,
    ppid: int = 1,
    ticks: int = 0,
    start: int = 5,
    rss: int = 10,
    children: tuple[int, ...] | None = (),
    comm: str = "prog (x) y",
) -> None:
    """A /proc/<pid> with a stat line and (unless children is None) one task's children file."""
    d = root / str(pid)
    (d / "task" / str(pid)).mkdir(parents=True, exist_ok=True)
    fields = (
        ["S", str(ppid)] + ["0"] * 9 + [str(ticks), "0"] + ["0"] * 6 + [str(start), "0", str(rss)]
    )
    (d / "stat").write_text(f"{pid} ({comm}) " + " ".join(fields) + " 0 0\n")
    if children is not None:
        (d / "task" / str(pid) / "children").write_text(" ".join(map(str, children)) + " ")


def tree(tmp_path: Path, *, with_children_files: bool) -> Path:
    """Program 100 -> 101 -> 102 (two descendants); 200 with none; 300 unrelated (host)."""
    kids = {100: (101,), 101: (102,), 102: (), 200: (), 300: ()}
    parents = {100: 1, 101: 100, 102: 101, 200: 1, 300: 1}
    for pid, ch in kids.items():
        write_proc(
            tmp_path,
            pid,
            ppid=parents[pid],
            ticks=pid,
            rss=pid,
            children=ch if with_children_files else None,
        )
    return tmp_path


def fake_figures(proc: Path) -> Callable[[int], Figures | None]:
    """Figures from the fake tree's stat lines (what psutil reads from a real one)."""

    def read(pid: int) -> Figures | None:
        try:
            data = (proc / str(pid) / "stat").read_bytes()
        except OSError:
            return None
        rest = data[data.rfind(b")") + 2 :].split()
        ticks, start, rss = int(rest[11]) + int(rest[12]), int(rest[19]), int(rest[21])
        return Figures(ticks / TICKS, float(start), rss * PAGE)

    return read


def sampler(proc: Path, clock: Clock, *, children_files: bool) -> ResourceSampler:
    def scan(pid: int) -> int:  # psutil's host-wide scan, over the fake tree's parents
        return {100: 2}.get(pid, 0)

    s = ResourceSampler(
        clock=clock, proc=str(proc), figures=fake_figures(proc), wall=clock, scan_descendants=scan
    )
    s._children_files = children_files  # the probe looks at the real /proc of this process
    return s


@pytest.mark.parametrize("children_files", [True, False])
def test_reads_rss_and_counts_descendants_of_each_program(
    tmp_path: Path, children_files: bool
) -> None:
    proc = tree(tmp_path, with_children_files=children_files)
    out = sampler(proc, Clock(), children_files=children_files).sample([100, 200, 999])
    assert out[100].rss_bytes == 100 * PAGE and out[100].children == 2
    assert out[200].rss_bytes == 200 * PAGE and out[200].children == 0
    assert out[999] == ZERO  # gone


def test_children_walk_reads_only_the_programs_own_subtree(tmp_path: Path) -> None:
    proc = tree(tmp_path, with_children_files=True)
    (proc / "300" / "stat").chmod(0)  # any read of a host process outside the subtree fails
    (proc / "300" / "task").rename(proc / "300" / "task-hidden")
    opened = []
    real_open = open

    def spy(path, *a, **kw):  # type: ignore[no-untyped-def]
        opened.append(str(path))
        return real_open(path, *a, **kw)

    resources.open = spy  # type: ignore[attr-defined]
    try:
        sampler(proc, Clock(), children_files=True).sample([100])
    finally:
        del resources.open  # type: ignore[attr-defined]
    assert not any("/300/" in p or "/200/" in p for p in opened)


def test_burst_of_calls_shares_one_sample_then_cpu_is_a_rate(tmp_path: Path) -> None:
    clock = Clock()
    proc = tree(tmp_path, with_children_files=True)
    s = sampler(proc, clock, children_files=True)
    first = s.sample([100])[100]
    write_proc(proc, 100, ticks=100 + TICKS // 2, rss=7, children=(101,))  # 0.5 s of CPU more
    clock.now += resources.MAX_AGE_SECONDS / 2
    assert s.sample([100])[100] == first  # within MAX_AGE: the same sample, nothing re-read
    clock.now = 1000.0 + 1.0 + resources.MAX_AGE_SECONDS  # ...later: a new sample
    later = s.sample([100])[100]
    assert later.rss_bytes == 7 * PAGE
    expected = 100.0 * 0.5 / (1.0 + resources.MAX_AGE_SECONDS)
    assert later.cpu_percent == pytest.approx(expected, abs=0.02)


def test_reused_pid_starts_over_with_the_lifetime_average(tmp_path: Path) -> None:
    clock = Clock()
    proc = tree(tmp_path, with_children_files=True)
    s = sampler(proc, clock, children_files=True)
    s.sample([200])
    # Another process with the same pid, started later, with fewer ticks than before.
    write_proc(proc, 200, ticks=0, start=10**12)
    clock.now += 10
    assert s.sample([200])[200].cpu_percent == 0.0  # not a negative rate against the old one


def test_cached_answers_a_fresh_sample_without_reading_and_none_when_one_is_due(
    tmp_path: Path,
) -> None:
    """ListProcesses asks ``cached`` on the asyncio thread first (issue 13): within MAX_AGE it
    gets the figures with no /proc read and no executor round trip."""
    clock = Clock()
    proc = tree(tmp_path, with_children_files=True)
    s = sampler(proc, clock, children_files=True)
    assert s.cached([100, 200]) is None  # never sampled
    taken = s.sample([100, 200])
    (proc / "100" / "stat").unlink()  # a read now would give zeros
    clock.now += resources.MAX_AGE_SECONDS / 2
    assert s.cached([100, 200, 0, -1]) == taken  # pid 0 / -1: not running, not asked
    assert s.cached([100, 300]) is None  # 300 was never sampled
    with s._lock:  # a sample is being taken on another thread
        assert s.cached([100]) is None
    clock.now += resources.MAX_AGE_SECONDS
    assert s.cached([100]) is None  # stale
