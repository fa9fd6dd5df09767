"""supgrpc's benchmark suite (issue 7): supgrpcd against supervisord 4.3.0, in one run.

    python bench/run.py [--quick] [--only a,b] [--repeat N] [--results FILE] [--keep]

Each scenario writes its own supervisord-compatible config into a temporary directory and runs
it under supgrpcd and supervisord one after the other (reap: supgrpcd and ``tini --`` as PID 1),
talking to both over the same XML-RPC client and to supgrpcd over gRPC where the scenario says
so. Each figure is the median of ``--repeat`` runs (default 3; ``--quick``: small sizes and one
run). The table gives ratios supgrpcd / reference and says for each whether higher or lower is
better; absolute figures on a shared machine are noise, ratios from one run are what count.

A full run (no --quick, no --only) writes bench/RESULTS.md; text after the ANALYSIS marker in
an existing RESULTS.md is kept. Nothing is left running and the temporary directory is removed
(unless --keep).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

os.environ["GRPC_ENABLE_FORK_SUPPORT"] = "false"  # before anything imports grpc
sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from harness import Context, Row, fmt, log
from scenarios import ORDER, SCENARIOS

RESULTS = harness.BENCH / "RESULTS.md"
ANALYSIS = "<!-- ANALYSIS: everything below this line is kept when run.py rewrites the file -->"
HEADER = (
    "scenario",
    "metric",
    "unit",
    "supgrpcd",
    "reference",
    "ref value",
    "ratio (supgrpcd / ref)",
    "better",
    "target",
    "met",
)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, one repeat (smoke test)")
    p.add_argument("--only", default="", help="comma-separated scenarios: " + ",".join(ORDER))
    p.add_argument("--repeat", type=int, default=None, help="repeats per figure (default 3)")
    p.add_argument("--results", default=None, help="write the Markdown report here")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = p.parse_args(argv)
    a.names = [n.strip() for n in a.only.split(",") if n.strip()] or list(ORDER)
    unknown = [n for n in a.names if n not in SCENARIOS]
    if unknown:
        p.error(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(ORDER)}")
    if a.repeat is None:
        a.repeat = 1 if a.quick else 3
    if a.repeat < 1:
        p.error("--repeat must be at least 1")
    if a.results is None and not a.quick and not a.only:
        a.results = str(RESULTS)
    return a


def cells(row: Row) -> list[str]:
    ratio = row.ratio
    return [
        row.scenario,
        row.metric + (f" ({row.note})" if row.note else ""),
        row.unit,
        fmt(row.ours),
        row.ref_name,
        fmt(row.ref),
        "-" if ratio is None else f"{ratio:.2f}x",
        {"higher": "higher ↑", "lower": "lower ↓"}.get(row.better, "-"),
        row.target,
        row.met,
    ]


def table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def misses(rows: list[Row]) -> list[str]:
    out = []
    for r in rows:
        if r.met not in ("**NO**", "not run"):
            continue
        if r.met == "not run":
            out.append(f"- {r.scenario} / {r.metric}: not run")
            continue
        got = (
            f"ratio {r.ratio:.2f}x"
            if r.ratio is not None and "x" in r.target
            else (f"{fmt(r.ours)} {r.unit}")
        )
        out.append(f"- **{r.scenario}** / {r.metric}: {got}, target {r.target}")
    return out


def machine() -> dict[str, str]:
    def run(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"

    return {
        "nproc": run(["nproc"]),
        "kernel": run(["uname", "-r"]),
        "python": platform.python_version(),
        "supervisord": run([*harness.supervisord_argv(), "--version"]),
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "?",
        ),
    }


def write_results(
    path: Path,
    argv: list[str],
    a: argparse.Namespace,
    rows: list[Row],
    details: list[str],
    started: float,
    elapsed: float,
) -> None:
    kept = ""
    if path.exists():
        old = path.read_text()
        if ANALYSIS in old:
            kept = old.split(ANALYSIS, 1)[1].lstrip("\n")
    m = machine()
    missed = misses(rows)
    text = [
        "# Benchmark results: supgrpcd vs supervisord 4.3.0",
        "",
        f"- command: `{shlex.join(['python', 'bench/run.py', *argv])}`"
        f" (repeats per figure: {a.repeat}, median reported)",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z', time.localtime(started))}",
        f"- machine: `nproc` = {m['nproc']}, `uname -r` = {m['kernel']}, CPU {m['cpu']}",
        f"- python {m['python']}, supervisord {m['supervisord']}",
        f"- wall time of the run: {elapsed:.0f} s",
        "",
        "Ratios are supgrpcd / reference, measured in the same run; the `better` column says",
        "which direction is good for each figure. Absolute times on this shared machine are",
        "noise; the ratios are the figures that count.",
        "",
        table(rows),
        "",
        "## Targets missed in this run",
        "",
        *(missed or ["- none"]),
        "",
        "## Per-repeat figures and evidence (from this run)",
        "",
        *[f"- {d}" for d in details],
        "",
        ANALYSIS,
        "",
        kept,
    ]
    path.write_text("\n".join(text).rstrip("\n") + "\n")


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    a = parse(argv)
    signal.signal(signal.SIGTERM, _terminate)
    harness.become_subreaper()
    started = time.time()
    t0 = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="supgrpc-bench-"))
    ctx = Context(quick=a.quick, repeat=a.repeat, root=root)
    log(f"work directory: {root}")
    rows: list[Row] = []
    failed: list[str] = []
    try:
        for name in a.names:
            log(f"scenario {name} ...")
            t = time.monotonic()
            try:
                rows += SCENARIOS[name](ctx)
            except Exception as exc:  # one broken scenario must not hide the others
                traceback.print_exc()
                failed.append(name)
                rows.append(Row(name, f"FAILED: {type(exc).__name__}: {exc}"[:200], "", None))
                ctx.note(f"{name} failed: {type(exc).__name__}: {exc}")
            log(f"scenario {name} done in {time.monotonic() - t:.1f} s")
    finally:
        left = harness.sweep_descendants()
        if left:
            log(f"killed {left} leftover process(es)")
        if a.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    elapsed = time.monotonic() - t0
    print(table(rows))
    print(
        f"\n{len(rows)} figures from {len(a.names)} scenarios in {elapsed:.0f} s "
        f"(repeat={a.repeat}{', quick' if a.quick else ''})"
    )
    missed = misses(rows)
    if missed:
        print("targets missed:\n" + "\n".join(missed))
    if a.results:
        write_results(Path(a.results), argv, a, rows, ctx.details, started, elapsed)
        log(f"wrote {a.results}")
    if failed:
        print(f"FAILED scenarios: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
