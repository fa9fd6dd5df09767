"""Fixtures for the compatibility suite: supgrpcd (or, as an oracle, real supervisord 4.3.0)
started as a subprocess on a config written into a short temporary directory, supervisor
4.3.0's own ``supervisorctl`` run against it (its ``main()`` in-process for one-shot commands;
the installed executable for ``tail -f``, ``maintail -f``, ``fg``, interactive sessions and
the oracle comparisons), and ``xmlrpc.client`` proxies using supervisor's own transport.
Every wait is a poll with a deadline; nothing sleeps a fixed time.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import xmlrpc.client
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from supervisor import supervisorctl  # type: ignore[import-untyped]
from supervisor.xmlrpc import SupervisorTransport  # type: ignore[import-untyped]

BIN = Path(sys.executable).parent
SUPGRPCD = str(BIN / "supgrpcd")
SUPERVISORD = str(BIN / "supervisord")
SUPERVISORCTL = str(BIN / "supervisorctl")
_CTL_LOCK = threading.Lock()  # in-process supervisorctl redirects sys.stdout


# A config exercising every supervisorctl command. {dir} is the daemon's private directory.
STANDARD_PROGRAMS = """
[program:sleeper]
command=/bin/sleep 1000
startsecs=0
stopwaitsecs=5

[program:cat]
command=/bin/cat
startsecs=0

[program:writer]
command=/bin/sh -c "echo out-line; echo err-line >&2; exec /bin/sleep 1000"
startsecs=0

[program:ticker]
command=/bin/sh -c "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.1; done"
startsecs=0
stopasgroup=true

[program:quick]
command=/bin/false
startsecs=1
startretries=0
autostart=false

[program:nocmd]
command=/nonexistent/program
autostart=false

[program:slow]
command=/bin/sleep 1000
startsecs=1
autostart=false

[group:grp]
programs=ga,gb

[program:ga]
command=/bin/sleep 1000
startsecs=0

[program:gb]
command=/bin/sleep 1000
startsecs=0
autostart=false
"""


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class CtlResult:
    rc: int
    out: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


def make_conf(
    directory: Path,
    programs: str = STANDARD_PROGRAMS,
    *,
    unix: bool = True,
    inet_port: int | None = None,
    auth: tuple[str, str] | None = None,
    ctl_auth: tuple[str, str] | None = None,
    extra: str = "",
) -> Path:
    """Write ``supervisord.conf`` the way a supervisor user would."""
    creds = f"username={auth[0]}\npassword={auth[1]}\n" if auth else ""
    parts = [
        f"""
        [supervisord]
        logfile={directory}/main.log
        pidfile={directory}/daemon.pid
        childlogdir={directory}
        identifier=compat

        [rpcinterface:supervisor]
        supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
        """
    ]
    if unix:
        parts.append(f"[unix_http_server]\nfile={directory}/s.sock\n{creds}")
    if inet_port is not None:
        parts.append(f"[inet_http_server]\nport=127.0.0.1:{inet_port}\n{creds}")
    url = f"unix://{directory}/s.sock" if unix else f"http://127.0.0.1:{inet_port}"
    ctl_creds = ctl_auth or auth
    ctl = f"[supervisorctl]\nserverurl={url}\n"
    if ctl_creds:
        ctl += f"username={ctl_creds[0]}\npassword={ctl_creds[1]}\n"
    parts.append(ctl)
    text = "\n".join(textwrap.dedent(p) for p in parts) + programs + extra
    path = directory / "supervisord.conf"
    path.write_text(text.replace("{dir}", str(directory)))
    return path


class Daemon:
    """One daemon process on one config: supgrpcd by default, or supervisord as the oracle."""

    def __init__(
        self, directory: Path, conf: Path, *, real: bool = False, env: dict[str, str] | None = None
    ) -> None:
        self.dir = directory
        self.conf = conf
        self.real = real
        self.sock = str(directory / "s.sock")
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.serverurl = ""
        for line in conf.read_text().splitlines():
            if line.startswith("serverurl="):
                self.serverurl = line.split("=", 1)[1]
        self.auth: tuple[str, str] | None = None

    def start(self, *, wait: bool = True) -> Daemon:
        if self.real:
            argv = [SUPERVISORD, "-n", "-c", str(self.conf)]
        else:
            argv = [SUPGRPCD, "-c", str(self.conf), "--no-grpc"]
        self.output = open(self.dir / "daemon.out", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            argv, stdout=self.output, stderr=subprocess.STDOUT, env=self.env, cwd=str(self.dir)
        )
        if wait:
            wait_until(self._ready, 15, f"{argv[0]} to answer")
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.out()}")
        try:
            return self.rpc().supervisor.getState()["statecode"] == 1  # type: ignore[no-any-return]
        except (OSError, xmlrpc.client.Error):
            return False

    def out(self) -> str:
        return (self.dir / "daemon.out").read_text(errors="replace")

    def main_log(self) -> str:
        path = self.dir / "main.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def rpc(
        self, username: str | None = None, password: str | None = None, serverurl: str | None = None
    ) -> Any:
        if username is None and self.auth is not None:
            username, password = self.auth
        transport = SupervisorTransport(username, password, serverurl or self.serverurl)
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def ctl(self, *args: str, input: str | None = None, timeout: float = 30) -> CtlResult:
        """``supervisorctl -c <conf> args...``: supervisor 4.3.0's own ``supervisorctl.main``,
        run in this process (a fresh interpreter per command would cost ~0.2 s of CPU each).
        Commands reading stdin run the installed executable instead."""
        if input is not None:
            done = subprocess.run(
                [SUPERVISORCTL, "-c", str(self.conf), *args],
                input=input,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=str(self.dir),
            )
            return CtlResult(done.returncode, done.stdout + done.stderr)
        out = io.StringIO()
        with _CTL_LOCK, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                supervisorctl.main(["-c", str(self.conf), *args])
                rc = 0
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 1
        return CtlResult(rc, out.getvalue())

    def ctl_all(self, *commands: tuple[str, ...]) -> list[CtlResult]:
        """Several independent supervisorctl commands (their order must not matter)."""
        return [self.ctl(*args) for args in commands]

    def popen_ctl(self, *args: str, stdin: int | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [SUPERVISORCTL, "-c", str(self.conf), *args],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=str(self.dir),
        )

    def state(self, name: str) -> str:
        return self.rpc().supervisor.getProcessInfo(name)["statename"]  # type: ignore[no-any-return]

    def wait_state(self, name: str, state: str, timeout: float = 10) -> None:
        wait_until(lambda: self.state(name) == state, timeout, f"{name} to be {state}")

    def stop(self, timeout: float = 15) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.output.close()
        return proc.returncode


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A short private directory (unix socket paths are limited to 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="xr-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


DaemonFactory = Callable[..., Daemon]


@pytest.fixture
def daemon_factory() -> Iterator[DaemonFactory]:
    """``daemon_factory(programs=..., real=False, **make_conf options)`` -> started Daemon."""
    made: list[tuple[Daemon, Path]] = []

    def make(
        programs: str = STANDARD_PROGRAMS,
        *,
        real: bool = False,
        start: bool = True,
        env: dict[str, str] | None = None,
        **conf: Any,
    ) -> Daemon:
        directory = Path(tempfile.mkdtemp(prefix="xr-", dir="/tmp"))
        path = make_conf(directory, programs, **conf)
        daemon = Daemon(directory, path, real=real, env=env)
        if conf.get("ctl_auth") or conf.get("auth"):
            daemon.auth = conf.get("ctl_auth") or conf["auth"]
        made.append((daemon, directory))
        if start:
            daemon.start()
        return daemon

    yield make
    for daemon, directory in made:
        with contextlib.suppress(Exception):
            daemon.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def daemon(daemon_factory: DaemonFactory) -> Daemon:
    """supgrpcd on the standard config, everything autostarted and settled."""
    d = daemon_factory()
    for name in ("sleeper", "cat", "writer", "ticker", "grp:ga"):
        d.wait_state(name, "RUNNING")
    return d


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One supgrpcd per module for read-only tests."""
    directory = Path(tempfile.mkdtemp(prefix="xr-", dir="/tmp"))
    d = Daemon(directory, make_conf(directory)).start()
    for name in ("sleeper", "cat", "writer", "ticker", "grp:ga"):
        d.wait_state(name, "RUNNING")
    yield d
    d.stop()
    shutil.rmtree(directory, ignore_errors=True)
