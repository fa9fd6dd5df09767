"""What every scenario shares: the two daemons, configs, the XML-RPC client, /proc sampling,
result rows, and cleanup that leaves nothing running.

Cleanup model: the bench process registers as a child subreaper, so anything a daemon leaves
behind (orphans of a SIGKILLed daemon, say) is re-parented to us; ``Daemon.stop`` and
``sweep_descendants`` then end every descendant by pid and reap it. Each daemon run gets its own
work directory under the run's temporary root, which ``run.py`` removes at the end.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import shlex
import signal
import socket
import statistics
import sys
import time
import xmlrpc.client
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
# The daemon launcher, the poll with a deadline and the /proc helpers are the test suite's
# (tests/support): one copy, reviewed and exercised by every test run, serves both. The
# bench imports the tests' support and not the other way round: tests/ is a package the
# suite already imports everywhere, while bench/ is a directory of scripts that put
# themselves on sys.path, and the tests must not depend on benchmark tooling.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.commands import PYTHON, conf_escape, supervisord_argv, supgrpcd_argv  # noqa: E402
from tests.support.daemon import SUPERVISORD, SUPGRPCD, Daemon  # noqa: E402
from tests.support.procfs import (  # noqa: E402
    children_of,
    descendants_of,
    kill_tree,
    proc_state,
    reap_quietly,
    sweep_descendants,
)
from tests.support.wait import wait_until  # noqa: E402

__all__ = [
    "PYTHON",
    "children_of",
    "descendants_of",
    "kill_tree",
    "proc_state",
    "reap_quietly",
    "supervisord_argv",
    "supgrpcd_argv",
    "sweep_descendants",
    "wait_until",
]

GEN = str(BENCH / "gen_lines.py")
CLK_TCK = os.sysconf("SC_CLK_TCK")

# ---- the two daemons ------------------------------------------------------------------------


OURS = SUPGRPCD
REF = SUPERVISORD
DAEMONS = (OURS, REF)


def log(msg: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


# ---- configs --------------------------------------------------------------------------------


def command(argv: Sequence[str]) -> str:
    return conf_escape(shlex.join(argv))


def python_command(code: str) -> str:
    return command([PYTHON, "-c", code])


SLEEPER = command(["sleep", "100000"])
# A program that ignores SIGTERM (installs SIG_IGN, then sleeps).
TERM_IGNORER = python_command(
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(100000)"
)


@dataclass
class Program:
    name: str
    command: str
    options: dict[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        lines = [f"[program:{self.name}]", f"command={self.command}"]
        lines += [f"{k}={v}" for k, v in self.options.items()]
        return "\n".join(lines) + "\n"


def make_config(work: Path, programs: Sequence[Program], **supervisord: Any) -> str:
    """One supervisord-compatible config; both daemons read the same text.

    ``nodaemon=true`` is for supervisord (supgrpcd always stays in the foreground); the XML-RPC
    socket is ``work/rpc.sock``.
    """
    opts: dict[str, Any] = {
        "logfile": work / "main.log",
        "logfile_maxbytes": 0,
        "pidfile": work / "supervisord.pid",
        "childlogdir": work,
        "nodaemon": "true",
        "minfds": 16384,
        "loglevel": "info",
    }
    opts.update(supervisord)
    out = ["[supervisord]"] + [f"{k}={v}" for k, v in opts.items()]
    out += [
        "",
        "[unix_http_server]",
        f"file={work / 'rpc.sock'}",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{work / 'rpc.sock'}",
        "",
    ]
    return "\n".join(out) + "\n" + "\n".join(p.render() for p in programs)


# ---- XML-RPC over a unix socket -------------------------------------------------------------


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.unix_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class UnixTransport(xmlrpc.client.Transport):
    """xmlrpc.client over a unix socket, keeping one HTTP/1.1 connection alive."""

    def __init__(self, path: str, timeout: float = 60.0) -> None:
        super().__init__()
        self.unix_path = path
        self.timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        if self._connection and host == self._connection[0]:
            return self._connection[1]
        conn = _UnixHTTPConnection(self.unix_path, self.timeout)
        self._connection = host, conn
        return conn


def xmlrpc_proxy(sock_path: str | Path, timeout: float = 60.0) -> xmlrpc.client.ServerProxy:
    return xmlrpc.client.ServerProxy(
        "http://localhost/RPC2", transport=UnixTransport(str(sock_path), timeout)
    )


# ---- /proc ------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of ``pid`` (children not included)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _status_fields(path: str) -> dict[str, str]:
    out = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def rss_kib(pid: int) -> int:
    return int(_status_fields(f"/proc/{pid}/status")["VmRSS"].split()[0])


def thread_switches(pid: int) -> dict[str, tuple[int, int]]:
    """Per thread ("tid:name"): (voluntary, involuntary) context switches so far."""
    out: dict[str, tuple[int, int]] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            st = _status_fields(f"/proc/{pid}/task/{tid}/status")
        except OSError:
            continue
        out[f"{tid}:{st.get('Name', '?')}"] = (
            int(st["voluntary_ctxt_switches"]),
            int(st["nonvoluntary_ctxt_switches"]),
        )
    return out


def ignores_sigterm(pid: int) -> bool:
    try:
        mask = int(_status_fields(f"/proc/{pid}/status")["SigIgn"], 16)
    except (OSError, KeyError):
        return False
    return bool(mask & (1 << (signal.SIGTERM - 1)))


@dataclass
class IdleSample:
    cpu: float
    voluntary: int
    involuntary: int
    per_thread: dict[str, tuple[int, int]]


def oncpu_seconds(pid: int) -> float:
    """Time on CPU of every thread of ``pid`` from /proc/<pid>/task/*/schedstat (nanosecond
    resolution, where utime/stime count 10 ms ticks)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9


def idle_sample(pid: int) -> IdleSample:
    per_thread = thread_switches(pid)
    return IdleSample(
        oncpu_seconds(pid),
        sum(v for v, _ in per_thread.values()),
        sum(i for _, i in per_thread.values()),
        per_thread,
    )


def idle_window(pid: int, seconds: float) -> dict[str, Any]:
    """CPU time (schedstat) and wake-ups (voluntary context switches, every thread) of
    ``pid`` over ``seconds`` of doing nothing on our side."""
    a = idle_sample(pid)
    t0 = time.monotonic()
    time.sleep(seconds)
    b = idle_sample(pid)
    dt = time.monotonic() - t0
    threads = {
        name: b.per_thread[name][0] - a.per_thread.get(name, (0, 0))[0] for name in b.per_thread
    }
    return {
        "cpu_ms": (b.cpu - a.cpu) * 1000.0,
        "cpu_pct": (b.cpu - a.cpu) / dt * 100.0,
        "wakeups_per_s": (b.voluntary - a.voluntary) / dt,
        "involuntary_per_s": (b.involuntary - a.involuntary) / dt,
        "threads": {k: v for k, v in threads.items() if v},
        "seconds": dt,
    }


# ---- process hygiene -------------------------------------------------------------------------


def become_subreaper() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except OSError:
        pass


# ---- one daemon run --------------------------------------------------------------------------


class BenchDaemon(Daemon):
    """tests.support's Daemon as the bench runs it: supgrpcd or supervisord on a generated
    config under ``work``, its own session, gRPC on ``work/grpc.sock``, one keep-alive XML-RPC
    connection, and a stop that times the exit and sweeps whatever was left below us."""

    def __init__(self, kind: str, work: Path, config: str, extra: Sequence[str] = ()) -> None:
        grpc_sock = work / "grpc.sock"
        # Always our own gRPC socket: never the shared default /run/supgrpc.sock.
        args = ["--grpc-listen", f"unix://{grpc_sock}", *extra] if kind == OURS else [*extra]
        super().__init__(
            work,
            config,
            kind=kind,
            args=args,
            grpc=True,
            ready="xmlrpc",
            new_session=True,
            merge_stderr=True,
        )
        self.grpc_sock = str(grpc_sock)
        self.rpc_sock = str(work / "rpc.sock")
        self.log_path = work / "main.log"
        self.t_start = 0.0
        self._rpc: xmlrpc.client.ServerProxy | None = None

    def start(self, wait: bool | str = False, timeout: float = 30.0, **kw: Any) -> BenchDaemon:
        self.t_start = time.monotonic()
        super().start(wait, timeout, **kw)
        return self

    def rpc(self, *_args: Any, **_kw: Any) -> xmlrpc.client.ServerProxy:
        if self._rpc is None:
            self._rpc = xmlrpc_proxy(self.rpc_sock)
        return self._rpc

    def close_rpc(self) -> None:
        if self._rpc is not None:
            self._rpc("close")()
            self._rpc = None

    def wait_ready(self, mode: str | None = None, timeout: float = 30.0) -> None:
        """Until getState answers RUNNING (connection errors while starting are retried)."""

        def ready() -> bool:
            self.check_alive()
            try:
                return bool(self.rpc().supervisor.getState()["statecode"] == 1)
            except (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError):
                self._rpc = None
                return False

        wait_until(ready, timeout, f"{self.kind} to answer getState", backoff=False)

    def all_info(self) -> list[dict[str, Any]]:
        return self.rpc().supervisor.getAllProcessInfo()  # type: ignore[no-any-return]

    def wait_all_running(self, count: int, timeout: float = 60.0, interval: float = 0.01) -> float:
        """Poll getAllProcessInfo until ``count`` processes are RUNNING; returns the monotonic
        time of the poll that saw it."""

        def all_running() -> float | None:
            self.check_alive()
            try:
                info = self.all_info()
            except (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError):
                self._rpc = None
                return None
            now = time.monotonic()
            running = sum(1 for p in info if p["statename"] == "RUNNING")
            return now if running >= count else None

        found: float = wait_until(
            all_running, timeout, f"{count} RUNNING", interval=interval, backoff=False
        )
        return found

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> float | None:  # type: ignore[override]
        """SIGTERM and wait; SIGKILL the whole tree if it does not exit in time. Returns the
        seconds from SIGTERM to exit (None when it had to be killed or was gone)."""
        self._rpc = None
        if self.proc is None:
            return None
        try:
            super().stop(sig, timeout)
        except AssertionError:
            log(f"{self.kind} did not exit {timeout:.0f}s after SIGTERM: killed it")
            self.stop_seconds = None
        finally:
            # Anything the daemon left behind was re-parented to us (subreaper): swept by pid.
            if self.running:
                self.kill_all()
            sweep_descendants()
            self.proc = None
        return self.stop_seconds


# ---- results ---------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table. ``ratio`` is ours / ref; ``better`` says which way is good."""

    scenario: str
    metric: str
    unit: str
    ours: float | None
    ref: float | None = None
    ref_name: str = "-"
    better: str = ""  # "higher" | "lower" | ""
    target: str = "reported"
    check: Callable[[Row], bool] | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.ref is None or self.ref == 0:
            return None
        return self.ours / self.ref

    @property
    def met(self) -> str:
        if self.check is None:
            return "-"
        if self.ours is None:
            return "not run"
        try:
            return "yes" if self.check(self) else "**NO**"
        except (TypeError, ZeroDivisionError):
            return "?"


def ratio_at_least(x: float) -> Callable[[Row], bool]:
    return lambda r: r.ratio is not None and r.ratio >= x


def ratio_at_most(x: float) -> Callable[[Row], bool]:
    return lambda r: r.ratio is not None and r.ratio <= x


def value_at_most(x: float) -> Callable[[Row], bool]:
    return lambda r: r.ours is not None and r.ours <= x


def median(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


@dataclass
class Context:
    quick: bool
    repeat: int
    root: Path
    details: list[str] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)  # figures one scenario lends another
    _counter: int = 0

    def __post_init__(self) -> None:
        # Bytecode as a real install has it: written once, then read. The environment may set
        # PYTHONDONTWRITEBYTECODE (so no .pyc lands in the repo), and then every daemon start
        # compiles every module of its build: a cost no installed init pays, and one that
        # grows with the number of modules, not with what a start does. The cache goes under
        # the run's temporary root (removed at the end), never into the repo or the venv;
        # with a prefix set Python reads only there, so both daemons (and grpc, psutil,
        # supervisor) compile on their first start: scenarios that time a start warm up first.
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = str(self.root / "pycache")

    def workdir(self, label: str) -> Path:
        self._counter += 1
        path = self.root / f"{self._counter:03d}-{label}"
        path.mkdir(parents=True)
        return path

    def note(self, text: str) -> None:
        """Extra evidence for RESULTS.md (per-repeat figures, per-thread wake-ups...)."""
        self.details.append(text)
        log(text)


@contextlib.contextmanager
def daemon(
    ctx: Context, kind: str, label: str, config: Callable[[Path], str], extra: Sequence[str] = ()
) -> Iterator[BenchDaemon]:
    """Start ``kind`` on ``config(work)`` in a fresh work directory; always stopped after."""
    work = ctx.workdir(f"{label}-{kind}")
    d = BenchDaemon(kind, work, config(work), extra)
    d.start()
    try:
        yield d
    finally:
        d.stop()


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    mag = abs(value)
    if mag >= 1000:
        return f"{value:,.0f}"
    if mag >= 100:
        return f"{value:.1f}"
    if mag >= 1:
        return f"{value:.{digits - 1}f}"
    return f"{value:.{digits}g}"
