"""Running supgrpcd and supervisord 4.3.0 side by side on one corpus case (laid out by
corpus_stub) until each has refused it or its processes have settled, and reading what each
then reports, normalised so that only real differences remain.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supervisor import supervisorctl  # type: ignore[import-untyped]
from supervisor.options import ClientOptions  # type: ignore[import-untyped]
from supervisor.xmlrpc import SupervisorTransport  # type: ignore[import-untyped]

from tests.compat.corpus_stub import Case, Layout

# supervisorctl.main and ClientOptions use process-wide stdout, stderr and os.environ.
_GLOBAL_STATE = threading.Lock()
RPC_ERRORS = (OSError, xmlrpc.client.Error, http.client.HTTPException)
UNSETTLED = frozenset({"STARTING", "BACKOFF", "STOPPING"})


@dataclass
class Outcome:
    """What one daemon did with one layout: refused (``rc`` and its output) or ran, with its
    settled process table and ``supervisorctl status``, normalised."""

    rc: int | None = None
    output: str = ""
    info: list[dict[str, Any]] = field(default_factory=list)
    config: list[dict[str, str]] = field(default_factory=list)
    status: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.rc is not None:
            return f"refused at start (exit {self.rc}): {self.output.strip()[-600:]}"
        return "\n".join(self.status)


def normalise(text: str, root: Path) -> str:
    text = text.replace(str(root), "<root>")
    text = re.sub(r"pid \d+, uptime \d+:\d\d:\d\d", "pid N, uptime T", text)
    return re.sub(r"---(\w+)-\w+\.log", r"---\1-XXXX.log", text)


class Runner:
    """One daemon on one layout; ``start`` does not wait, so two can start at once."""

    FIELDS = (
        "group",
        "name",
        "statename",
        "spawnerr",
        "exitstatus",
        "stdout_logfile",
        "stderr_logfile",
        "description",
    )

    def __init__(self, layout: Layout, real: bool) -> None:
        self.layout, self.real = layout, real
        self.log = layout.root / "daemon.out"
        self.proc: subprocess.Popen[bytes] | None = None
        self._auth: tuple[str, str | None, str | None] | None = None

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.layout.argv(self.real),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.layout.environ(),
                cwd=str(self.layout.root),
            )

    def _client(self) -> tuple[str, str | None, str | None]:
        opts = ClientOptions()
        opts.environ_expansions = {f"ENV_{k}": v for k, v in self.layout.environ().items()}
        opts.realize(args=["-c", str(self.layout.main)])
        if opts.username is not None:
            return opts.serverurl, opts.username, opts.password
        # [supervisorctl] without credentials for a server that wants them (zabbix): its
        # supervisorctl is refused, which is compared too, but we still need to look.
        auth = {
            k: re.sub(r"%\(ENV_(\w+)\)s", lambda m: self.layout.env.get(m.group(1), ""), v)
            for k, v in self.layout.server_auth.items()
        }
        return opts.serverurl, auth.get("username"), auth.get("password")

    def rpc(self) -> Any:
        if self._auth is None:
            with _GLOBAL_STATE:
                self._auth = self._client()
        url, user, password = self._auth
        transport = SupervisorTransport(user, password, url)
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def answering(self) -> bool:
        try:
            return bool(self.rpc().supervisor.getState()["statecode"] == 1)
        except RPC_ERRORS:
            return False

    def settled(self) -> Outcome | None:
        """The outcome once the daemon has refused, or once none of its processes is in a
        passing state (STARTING, BACKOFF, STOPPING, or autostart but not started yet);
        None while it is not there yet."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            return Outcome(rc=self.proc.returncode, output=self.log.read_text(errors="replace"))
        try:
            if self.rpc().supervisor.getState()["statecode"] != 1:
                return None
            info = self.rpc().supervisor.getAllProcessInfo()
            config = self.rpc().supervisor.getAllConfigInfo()
        except RPC_ERRORS:
            return None
        if any(p["statename"] in UNSETTLED for p in info):
            return None
        autostart = {(c["group"], c["name"]) for c in config if c["autostart"]}
        if any(p["statename"] == "STOPPED" and (p["group"], p["name"]) in autostart for p in info):
            return None  # not started yet (a later priority level)
        root = self.layout.root
        rows = [{k: normalise(str(p[k]), root) for k in self.FIELDS} for p in info]
        for row, p in zip(rows, info, strict=True):
            # where the program runs: directory=, else the daemon's own directory
            row["cwd"] = normalise(os.readlink(f"/proc/{p['pid']}/cwd"), root) if p["pid"] else ""
        return Outcome(
            info=rows,
            config=[{k: normalise(str(v), root) for k, v in sorted(c.items())} for c in config],
            status=self.ctl_status(),
        )

    def ctl_status(self) -> list[str]:
        """supervisor 4.3.0's own ``supervisorctl status`` on the same file, in-process."""
        out = io.StringIO()
        with _GLOBAL_STATE:
            saved = dict(os.environ)
            os.environ.update(self.layout.environ())
            try:
                with (
                    contextlib.redirect_stdout(out),
                    contextlib.redirect_stderr(out),
                    contextlib.suppress(SystemExit),
                ):
                    supervisorctl.main(["-c", str(self.layout.main), "status"])
            finally:
                os.environ.clear()
                os.environ.update(saved)
        text = normalise(out.getvalue(), self.layout.root)
        return [re.sub(r"\s+", " ", line).strip() for line in text.splitlines()]

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def poke(self) -> None:
        """supervisord stops one priority group per turn of its main loop, which sleeps up
        to a second unless a request arrives (a child's exit does not wake it): asking its
        state while it stops keeps the loop turning."""
        with contextlib.suppress(*RPC_ERRORS):
            self.rpc().supervisor.getState()


def stop_all(runners: list[Runner], timeout: float = 30.0) -> None:
    """SIGTERM every daemon, then reap each as soon as it exits (a daemon left unreaped
    while another one stops would be a zombie of the test process)."""
    for runner in runners:
        runner.terminate()
    running = [r.proc for r in runners if r.proc is not None]
    end = time.monotonic() + timeout
    while running and time.monotonic() < end:
        for runner in runners:
            if runner.proc in running and runner.proc is not None:
                if runner.proc.poll() is None:
                    runner.poke()
                else:
                    running.remove(runner.proc)
        time.sleep(0.05)
    for proc in running:
        proc.kill()
        proc.wait()


def run_pair(case: Case, deadline_s: float = 30.0) -> tuple[Outcome, Outcome]:
    """(supervisord's outcome, supgrpcd's outcome) for ``case``, both daemons running at
    the same time, each in its own root laid out the same way."""
    from tests.support import free_port

    port = free_port()
    roots = [Path(tempfile.mkdtemp(prefix="cp-", dir="/tmp")) for _ in range(2)]
    runners = []
    try:
        for root, real in zip(roots, (True, False), strict=True):
            root.chmod(0o755)  # programs with user=www-data must reach their directories
            runners.append(Runner(Layout(case, root, port if real else free_port()), real))
        for runner in runners:
            runner.start()
        results: list[Outcome | None] = [None, None]
        end = time.monotonic() + deadline_s
        while None in results:
            for i, runner in enumerate(runners):
                if results[i] is None:
                    results[i] = runner.settled()
            for i, other in ((0, 1), (1, 0)):
                # One side refused: the other only has to show that it does not.
                refused = results[other] is not None and results[other].rc is not None
                if refused and results[i] is None and runners[i].answering():
                    results[i] = Outcome()
            if None in results:
                if time.monotonic() > end:
                    raise AssertionError(f"{case.name}: did not settle in {deadline_s}s")
                time.sleep(0.05)
        assert results[0] is not None and results[1] is not None
        return results[0], results[1]
    finally:
        stop_all(runners)
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)
