"""The one launcher of a real daemon for tests and the bench: supgrpcd (or supervisord 4.3.0,
the reference) on a config written into its own directory, its output captured, readiness
awaited with a deadline, and a teardown that leaves nothing running.

Owns: ``Daemon`` (process, config file, sockets, logs), ``DaemonDied``, ``DaemonFactory``.
The suites' layouts (``grpc_daemon``, ``xmlrpc_daemon``, ``command_line``) are in ``layouts``.
May import: the standard library, ``tests.support`` siblings; ``grpc`` and supervisor 4.3.0's
XML-RPC transport through the client mixins.
Threading: one test thread drives a Daemon; nothing here starts threads.

Why one class: four copies (tests/helpers, the gRPC fixtures, the compat conftest, the bench)
had drifted (different stop escalation, env handling, readiness checks); a fix to how a daemon is
stopped or waited for now lands everywhere at once.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.support.commands import read_text, supervisord_argv, supgrpcd_argv
from tests.support.grpc_clients import GrpcClients
from tests.support.net import free_port
from tests.support.procfs import kill_tree
from tests.support.wait import wait_until
from tests.support.xmlrpc_clients import XmlRpcClients

STARTED = re.compile(r"supgrpcd started with pid (\d+), config (\S+)")
SUPGRPCD = "supgrpcd"
SUPERVISORD = "supervisord"


class DaemonDied(AssertionError):
    pass


DaemonFactory = Callable[..., "Daemon"]


class Daemon(GrpcClients, XmlRpcClients):
    """One ``supgrpcd -c <dir>/<conf_name>`` (or ``supervisord -n -c``) subprocess.

    ``config`` is the body of the config file, a ``Path`` to one already written, or None (no
    config: ``supgrpcd -- CMD`` or any other ``argv`` of one's own, see ``command_line``). A body
    without its own ``[supervisord]`` section gets a header that puts the main log, the pidfile
    and AUTO child logs in ``dir`` (``loglevel`` as given, ``supervisord_extra`` appended) and,
    when ``grpc_section`` is set, a ``[grpc]`` section with it. ``%(here)s`` is ``dir``.

    The gRPC front-end is off (``--no-grpc``) unless ``grpc=True`` or a ``grpc_section`` is
    given. Output goes to ``dir/daemon.out`` and ``dir/daemon.err`` (one file with
    ``merge_stderr``). ``ready`` says what ``start()`` waits for: ``"started"`` (the main log's
    start line), ``"grpc"`` (the gRPC unix socket accepts), ``"tcp"`` (``port`` accepts),
    ``"xmlrpc"`` (getState answers RUNNING), or None.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        config: str | Path | None = "",
        *,
        kind: str = SUPGRPCD,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        loglevel: str = "info",
        grpc: bool = False,
        grpc_section: str | None = None,
        supervisord_extra: str = "",
        conf_name: str = "supervisord.conf",
        use_config_flag: bool = True,
        argv: Sequence[str] | None = None,
        popen_kw: dict[str, Any] | None = None,
        ready: str | None = "started",
        new_session: bool = False,
        merge_stderr: bool = False,
        port: int | None = None,
    ) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.kind = kind
        self.log_path = self.dir / "supervisord.log"
        self.out_path = self.dir / "daemon.out"
        self.err_path = self.out_path if merge_stderr else self.dir / "daemon.err"
        self.grpc_sock = str(self.dir / "g.sock")
        self.rpc_sock = str(self.dir / "s.sock")
        self.port = free_port() if port is None else port
        self.loglevel = loglevel
        self.grpc_section = grpc_section
        self.supervisord_extra = supervisord_extra
        self.args = list(args)
        if kind == SUPGRPCD and not grpc and grpc_section is None and "--no-grpc" not in args:
            self.args.append("--no-grpc")
        self.env = env
        self.cwd = cwd
        self.use_config_flag = use_config_flag
        if argv is not None:
            self.argv = list(argv)
        elif kind == SUPGRPCD:
            self.argv = supgrpcd_argv()
        else:
            self.argv = [*supervisord_argv(), "-n"]
        self.popen_kw = dict(popen_kw or {})
        self.ready = ready
        self.new_session = new_session
        self.auth: tuple[str, str] | None = None
        self.serverurl_override: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.stop_seconds: float | None = None
        self.body = ""
        if isinstance(config, Path):
            self.config_path = config
        elif config is None:
            self.config_path = self.dir / conf_name
            self.use_config_flag = False
        else:
            self.config_path = self.dir / conf_name
            self.write_config(config)

    # -- config --

    def write_config(self, body: str | None = None) -> Path:
        """(Re)write the config file; without ``body``, the last one (after the test changed
        ``grpc_section``, say)."""
        if body is not None:
            self.body = textwrap.dedent(body).strip("\n") + "\n"
        text = self.body
        if not re.search(r"^\[supervisord\]", text, re.M):
            header = (
                "[supervisord]\n"
                "logfile=%(here)s/supervisord.log\n"
                "pidfile=%(here)s/supervisord.pid\n"
                "childlogdir=%(here)s\n"
                f"loglevel={self.loglevel}\n"
                f"{textwrap.dedent(self.supervisord_extra)}\n"
            )
            if self.grpc_section is not None:
                header += f"[grpc]\n{textwrap.dedent(self.grpc_section)}\n"
            text = header + "\n" + text
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.config_path)
        return self.config_path

    @property
    def real(self) -> bool:
        """True for the reference (supervisord 4.3.0), False for supgrpcd."""
        return self.kind == SUPERVISORD

    @property
    def serverurl(self) -> str:
        """Where our XML-RPC proxies connect: what a test set, else the config's own
        ``[supervisorctl] serverurl``, else the unix socket in ``dir``."""
        if self.serverurl_override is not None:
            return self.serverurl_override
        for line in read_text(self.config_path).splitlines():
            if line.replace(" ", "").startswith("serverurl="):
                return line.split("=", 1)[1].strip()
        return f"unix://{self.rpc_sock}"

    @serverurl.setter
    def serverurl(self, url: str) -> None:
        self.serverurl_override = url

    # -- lifecycle --

    @property
    def command(self) -> list[str]:
        conf = ["-c", str(self.config_path)] if self.use_config_flag else []
        return [*self.argv, *conf, *self.args]

    def start(
        self, wait: bool | str = True, timeout: float = 15.0, extra_args: Sequence[str] = ()
    ) -> Daemon:
        """Launch; with ``wait`` (True: ``self.ready``; or a mode name) block until ready."""
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
        self.stop_seconds = None
        with contextlib.ExitStack() as files:
            out = files.enter_context(open(self.out_path, "wb"))
            err: Any = subprocess.STDOUT
            if self.err_path != self.out_path:
                err = files.enter_context(open(self.err_path, "wb"))
            kw: dict[str, Any] = {
                "stdin": subprocess.DEVNULL,
                "stdout": out,
                "stderr": err,
                "env": env,
                "cwd": str(self.cwd or self.dir),
                "start_new_session": self.new_session,
            }
            kw.update(self.popen_kw)
            self.proc = subprocess.Popen([*self.command, *extra_args], **kw)
        mode = self.ready if wait is True else (wait or None)
        if mode is not None:
            self.wait_ready(mode, timeout)
        return self

    def wait_ready(self, mode: str = "started", timeout: float = 15.0) -> None:
        if mode == "started":
            self.wait_started(timeout)
            return
        probes = {
            "grpc": lambda: self._accepts(socket.AF_UNIX, self.grpc_sock),
            "tcp": lambda: self._accepts(socket.AF_INET, ("127.0.0.1", self.port)),
            "xmlrpc": self._xmlrpc_running,
        }
        wait_until(probes[mode], timeout, f"{self.kind} to be ready ({mode})")

    def _accepts(self, family: int, address: Any) -> bool:
        self.check_alive()
        with socket.socket(family) as s:
            s.settimeout(1.0)
            try:
                s.connect(address)
            except OSError:
                return False
        return True

    def _xmlrpc_running(self) -> bool:
        self.check_alive()
        return self.rpc_state() == 1

    def check_alive(self) -> None:
        """Fail at once (with the daemon's output) if it exited while we waited for it."""
        if self.proc is not None and self.proc.poll() is not None:
            raise DaemonDied(f"{self.kind} exited while we waited for it\n{self.diagnostics()}")

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
        """The exit status; past ``timeout`` the daemon and its tree are SIGKILLed and the
        test fails with the daemon's logs."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_all()
            raise AssertionError(
                f"{self.kind} did not exit within {timeout}s\n{self.diagnostics()}"
            ) from None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        """Send ``sig`` (SIGTERM) and wait for the exit status (None if never started).
        ``stop_seconds`` keeps how long the exit took."""
        if self.proc is None:
            return None
        if self.running:
            t0 = time.monotonic()
            with contextlib.suppress(OSError):
                self.send(sig)
            code = self.wait(timeout)
            self.stop_seconds = time.monotonic() - t0
            return code
        return self.proc.wait()

    def kill(self) -> None:
        """SIGKILL the daemon alone (what it leaves behind is what some tests look at)."""
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()

    def kill_all(self) -> None:
        """SIGKILL the daemon and, by pid, everything below it; reap the daemon."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            kill_tree(self.proc.pid)
        self.proc.wait()

    def close(self) -> None:
        """Stop, then remove the directory (configs, logs, sockets)."""
        try:
            self.stop()
        finally:
            if self.running:
                self.kill_all()
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Daemon:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- observing --

    def log(self) -> str:
        """The main log."""
        return read_text(self.log_path)

    def stdout(self) -> str:
        return read_text(self.out_path)

    def stderr(self) -> str:
        return "" if self.err_path == self.out_path else read_text(self.err_path)

    def output(self) -> str:
        """Everything the daemon wrote to stdout and stderr."""
        return self.stdout() + self.stderr()

    def diagnostics(self) -> str:
        return (
            f"--- command: {self.command}\n--- returncode: {self.returncode}\n"
            f"--- main log:\n{self.log()[-6000:]}\n--- output:\n{self.output()[-3000:]}"
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

        def matched() -> list[re.Match[str]] | None:
            exited = self.proc is not None and self.proc.poll() is not None
            # Read after polling: a line written just before the exit still counts.
            matches = list(regex.finditer(self.log()))
            if len(matches) >= count:
                return matches
            if exited:
                raise DaemonDied(
                    f"{self.kind} exited while waiting for {regex.pattern!r} x{count}\n"
                    + self.diagnostics()
                )
            return None

        found: list[re.Match[str]] = wait_until(
            matched,
            timeout,
            lambda: (
                f"{regex.pattern!r} x{count} (found {len(self.find_log(regex))})\n"
                + self.diagnostics()
            ),
        )
        return found

    def wait_stdout(self, text: str, timeout: float = 10.0) -> str:
        """Wait until ``text`` is in what the daemon wrote to stdout; return all of it."""
        return wait_until(
            lambda: text in self.stdout() and self.stdout(),
            timeout,
            lambda: f"{text!r} on stdout\n{self.diagnostics()}",
        )

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
