"""Helpers for tests that run real processes: children, daemons, /proc inspection, polling.

- ``python(code)`` / ``python_command(code)``: a child running ``code`` in this interpreter
  (trio's ``test_subprocess.python``), as an argv list or as a ``command=`` line.
- ``wait_until(predicate, timeout)``: poll with a deadline instead of sleeping (tini's
  ``busy_wait``); returns the predicate's truthy value.
- ``zombies_of(pid)``, ``children_of(pid)``, ``proc_state(pid)``, ``proc_status(pid)``: /proc.
- ``Daemon``: one ``supgrpcd -c`` subprocess with its config, logs and captured output under a
  directory; ``tests/conftest.py`` turns it into the ``daemon`` fixture.
- ``InProcessCore``: the real core (Supervisor + Spawner + Pipes + reaper + Loop) running its
  loop in a background thread, driven through ``Control`` from the test thread.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
PYTHON = sys.executable


def supgrpcd_argv() -> list[str]:
    """How to run the daemon: the venv's console script next to this interpreter, else -m."""
    script = Path(sys.executable).parent / "supgrpcd"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "supervisor_grpc"]


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
    return [sys.executable, "-c", "import sys\n" + code]


def python_command(code: str) -> str:
    """A ``command=`` line that runs ``code``: base64 so any quoting, newline or % survives."""
    blob = base64.b64encode(("import sys\n" + code).encode()).decode()
    return shlex.join([sys.executable, "-c", f"import base64;exec(base64.b64decode('{blob}'))"])


def conf_escape(value: str) -> str:
    """Protect a literal value from supervisor's %-interpolation."""
    return value.replace("%", "%%")


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.005,
    message: str | Callable[[], str] = "",
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = interval
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate!r}. {text}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.05)


# ---- /proc -------------------------------------------------------------------------------


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgrp) of ``pid``, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    fields = data[data.rindex(b")") + 2 :].split()
    return fields[0].decode(), int(fields[1]), int(fields[2])


def proc_state(pid: int) -> str | None:
    st = proc_stat(pid)
    return None if st is None else st[0]


def is_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    state = proc_state(pid)
    return state is not None and state not in ("Z", "X")


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def zombies_of(pid: int) -> list[int]:
    """Pids in state Z whose parent is ``pid``."""
    out = []
    for child in all_pids():
        st = proc_stat(child)
        if st is not None and st[0] == "Z" and st[1] == pid:
            out.append(child)
    return out


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (any state), from /proc/<pid>/task/*/children."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(p) for p in f.read().split())
        except OSError:
            continue
    return out


def descendants_of(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children_of(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def proc_status(pid: int | str = "self") -> dict[str, str]:
    """/proc/<pid>/status as a dict."""
    with open(f"/proc/{pid}/status") as f:
        return parse_status(f.read())


def parse_status(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def signal_set(mask_hex: str) -> set[int]:
    """Signal numbers in a /proc status mask such as ``SigIgn: 0000000000001000``."""
    mask = int(mask_hex, 16)
    return {n for n in range(1, 65) if mask & (1 << (n - 1))}


def kill_quietly(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def kill_orphan(pid: int) -> None:
    """SIGKILL a process the test left behind; reap it if it was re-parented to us (when the
    test runner is itself a subreaper), so the zombie check stays meaningful."""
    kill_quietly(pid)
    st = proc_stat(pid)
    if st is not None and st[1] == os.getpid():
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_text(path: str | os.PathLike[str]) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


# ---- the daemon as a subprocess ------------------------------------------------------------

STARTED = re.compile(r"supgrpcd started with pid (\d+), config (\S+)")


class DaemonDied(AssertionError):
    pass


class Daemon:
    """One ``supgrpcd -c <dir>/supervisord.conf`` subprocess.

    ``config`` is the body of the file. Unless it has its own ``[supervisord]`` section, a
    header is prepended that puts the main log, the pidfile and AUTO child logs in ``dir``
    (``loglevel`` as given). ``%(here)s`` in the body is ``dir``. stdout/stderr of the daemon
    go to ``dir/daemon.out`` and ``dir/daemon.err``.

    The gRPC front-end is off (``--no-grpc``) unless ``grpc=True``; pass ``--grpc-listen``
    through ``args`` for a socket of your own.
    """

    def __init__(
        self,
        directory: Path,
        config: str = "",
        *,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        loglevel: str = "info",
        grpc: bool = False,
        conf_name: str = "supervisord.conf",
        use_config_flag: bool = True,
        argv: Sequence[str] | None = None,
        popen_kw: dict[str, Any] | None = None,
    ) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.dir / conf_name
        self.log_path = self.dir / "supervisord.log"
        self.out_path = self.dir / "daemon.out"
        self.err_path = self.dir / "daemon.err"
        self.loglevel = loglevel
        self.args = list(args)
        if not grpc and "--no-grpc" not in self.args:
            self.args.append("--no-grpc")
        self.env = env
        self.cwd = cwd
        self.use_config_flag = use_config_flag
        self.argv = list(argv) if argv is not None else supgrpcd_argv()
        self.popen_kw = popen_kw or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.write_config(config)

    # -- config --

    def write_config(self, body: str) -> Path:
        body = body.strip("\n") + "\n"
        if not re.search(r"^\[supervisord\]", body, re.M):
            header = (
                "[supervisord]\n"
                "logfile=%(here)s/supervisord.log\n"
                "pidfile=%(here)s/supervisord.pid\n"
                "childlogdir=%(here)s\n"
                f"loglevel={self.loglevel}\n"
            )
            body = header + "\n" + body
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(body)
        os.replace(tmp, self.config_path)
        return self.config_path

    # -- lifecycle --

    @property
    def command(self) -> list[str]:
        conf = ["-c", str(self.config_path)] if self.use_config_flag else []
        return [*self.argv, *conf, *self.args]

    def start(self, wait: bool = True, timeout: float = 15.0) -> Daemon:
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=env,
                cwd=str(self.cwd or self.dir),
                **self.popen_kw,
            )
        if wait:
            self.wait_started(timeout)
        return self

    def wait_started(self, timeout: float = 15.0) -> int:
        """Wait for the main log's "supgrpcd started with pid N" line; return N."""
        match = self.wait_log(STARTED, timeout=timeout)[-1]
        return int(match.group(1))

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def send(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"supgrpcd did not exit within {timeout}s\n{self.diagnostics()}"
            ) from None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send ``sig`` (SIGTERM) and wait for the exit status."""
        if self.running:
            self.send(sig)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()

    # -- observing --

    def log(self) -> str:
        return read_text(self.log_path)

    def stdout(self) -> str:
        return read_text(self.out_path)

    def stderr(self) -> str:
        return read_text(self.err_path)

    def diagnostics(self) -> str:
        return (
            f"--- command: {self.command}\n--- returncode: {self.returncode}\n"
            f"--- main log:\n{self.log()[-6000:]}\n--- stderr:\n{self.stderr()[-3000:]}"
        )

    def find_log(self, pattern: str | re.Pattern[str]) -> list[re.Match[str]]:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        return list(regex.finditer(self.log()))

    def wait_log(
        self, pattern: str | re.Pattern[str], count: int = 1, timeout: float = 10.0
    ) -> list[re.Match[str]]:
        """Wait until ``pattern`` matches the main log ``count`` times; return the matches.

        Fails at once if the daemon exits first.
        """
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            matches = list(regex.finditer(self.log()))
            if len(matches) >= count:
                return matches
            if self.proc is not None and self.proc.poll() is not None:
                # One last look: the line may have been written just before exiting.
                matches = list(regex.finditer(self.log()))
                if len(matches) >= count:
                    return matches
                raise DaemonDied(
                    f"supgrpcd exited while waiting for {regex.pattern!r} x{count}\n"
                    + self.diagnostics()
                )
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out waiting for {regex.pattern!r} x{count} "
                    f"(found {len(matches)})\n" + self.diagnostics()
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.05)

    def spawned_pids(self, name: str) -> list[int]:
        pattern = rf"spawned: '{re.escape(name)}' with pid (\d+)"
        return [int(m.group(1)) for m in self.find_log(pattern)]

    def wait_spawned(self, name: str, count: int = 1, timeout: float = 10.0) -> int:
        """Wait for the ``count``-th spawn of ``name``; return that pid."""
        pattern = rf"spawned: '{re.escape(name)}' with pid (\d+)"
        return int(self.wait_log(pattern, count, timeout)[count - 1].group(1))

    def wait_running(self, name: str, count: int = 1, timeout: float = 10.0) -> None:
        self.wait_log(rf"success: {re.escape(name)} entered RUNNING state", count, timeout)

    def program_log(self, name: str) -> str:
        return read_text(self.dir / name)


# ---- the core in-process --------------------------------------------------------------------


class InProcessCore:
    """The real core with the real runtime; its loop runs on a background thread.

    Built from a config file (parsed by our config module). The test thread talks to it only
    through ``self.control`` (thread-safe); ``loop.reraise`` and ``inbox.reraise`` are on, and
    an exception that escapes the loop thread is re-raised by ``close()``.

    ``sigchld=True`` (the default; needs the main thread) installs a SIGCHLD handler whose
    wakeup byte wakes the loop thread, as the daemon's signal intake does. Without it the loop
    only reaps when something else wakes it, and a child's pipe EOF is not enough: the EOF
    often arrives before the child is a reapable zombie, so about one exit in ten is then
    only noticed at the next unrelated wake-up (measured: 102 of 1000 sequential runs).
    """

    def __init__(self, config_path: str | os.PathLike[str], *, sigchld: bool = True) -> None:
        from supervisor_grpc import config
        from supervisor_grpc.control import Control
        from supervisor_grpc.core import Supervisor
        from supervisor_grpc.runtime import reaper
        from supervisor_grpc.runtime.inbox import Inbox
        from supervisor_grpc.runtime.loop import Loop
        from supervisor_grpc.runtime.pipes import Pipes
        from supervisor_grpc.runtime.spawner import Spawner

        self.spec = config.load(str(config_path))
        self.loop = Loop()
        self.loop.reraise = True
        self.inbox = Inbox()
        self.inbox.reraise = True
        self.spawner = Spawner(os.environ | dict(self.spec.environment))
        self.core = Supervisor(
            self.spec,
            clock=self.loop.clock,
            spawner=self.spawner,
            reactor=self.loop,
            pipes=Pipes(),
            reaper=reaper.reap,
        )
        self.control = Control(self.inbox, self.core, lambda: config.load(str(config_path)))
        self.error: BaseException | None = None
        self._sigchld = sigchld and threading.current_thread() is threading.main_thread()
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._previous_fd = -1
        self._previous_handler: Any = None
        self._thread = threading.Thread(target=self._run, name="supgrpc-loop", daemon=True)

    def start(self) -> InProcessCore:
        self.loop.add_reader(self.inbox.open(), lambda _fd: self.inbox.run_pending())
        if self._sigchld:
            assert threading.current_thread() is threading.main_thread()
            reader, writer = socket.socketpair()
            reader.setblocking(False)
            writer.setblocking(False)
            self._wake = (reader, writer)
            self._previous_handler = signal.signal(signal.SIGCHLD, lambda *_: None)
            self._previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
            self.loop.add_reader(reader.fileno(), lambda _fd: self._drain_wakeups())
        self.core.add_initial_groups()
        self.core.autostart()
        self._thread.start()
        return self

    def _drain_wakeups(self) -> None:
        assert self._wake is not None
        try:
            while self._wake[0].recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _run(self) -> None:
        try:
            self.loop.run(self.core.service, lambda: self.core.finished)
        except BaseException as exc:
            self.error = exc

    def close(self, timeout: float = 20.0) -> None:
        """Shut down (stopping every program) and re-raise anything the loop thread raised."""
        try:
            if self._thread.is_alive() and self.error is None:
                try:
                    self.control.shutdown()
                except Exception:
                    if self.error is None:
                        raise
            self._thread.join(timeout)
            assert not self._thread.is_alive(), "the loop thread did not finish"
        finally:
            if not self._thread.is_alive():
                self.inbox.close()
                self.core.close()
                self.loop.close()
            if self._wake is not None:
                signal.set_wakeup_fd(self._previous_fd)
                signal.signal(signal.SIGCHLD, self._previous_handler)
                for sock in self._wake:
                    sock.close()
                self._wake = None
        if self.error is not None:
            raise self.error

    def __enter__(self) -> InProcessCore:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def info(self, name: str) -> Any:
        return self.control.process_info(name)


def lines_of(text: str) -> list[str]:
    return text.splitlines()


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


def flatten(items: Iterable[Iterable[T]]) -> list[T]:
    return [x for it in items for x in it]
