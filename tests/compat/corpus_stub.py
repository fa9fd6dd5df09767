"""Laying one corpus case out under a private root, the same way for both daemons, and
running a daemon on it until its processes settle.

A case's files are copied to where its image puts them, under the root; each line is kept
except what cannot run here: commands become long-running stubs (event listeners: a stub
that speaks the listener protocol) that keep the config's own ``%(...)s`` expansions as
arguments; absolute paths move under the root (streams such as ``/dev/stdout`` stay);
``[inet_http_server]`` gets a free loopback port; ``user=``/``chown=`` naming accounts this
machine lacks are dropped. A config with no HTTP server gets one so it can be observed.
Both daemons get byte-identical files (only the root differs), the same environment and the
same command-line options, so any difference in what they report is a difference in how
they read the same configuration.
"""

from __future__ import annotations

import contextlib
import grp
import http.client
import io
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supervisor import supervisorctl  # type: ignore[import-untyped]
from supervisor.options import ClientOptions  # type: ignore[import-untyped]
from supervisor.xmlrpc import SupervisorTransport  # type: ignore[import-untyped]

# supervisorctl.main and ClientOptions use process-wide stdout, stderr and os.environ.
_GLOBAL_STATE = threading.Lock()
CORPUS = Path(__file__).resolve().parents[1] / "corpus"
BIN = Path(sys.executable).parent
STREAMS = ("/dev/stdout", "/dev/stderr", "/dev/null", "/dev/fd/", "/proc/self/fd/")
PATH_KEYS = frozenset(
    {
        "logfile",
        "pidfile",
        "childlogdir",
        "directory",
        "file",
        "stdout_logfile",
        "stderr_logfile",
        "serverurl",
        "files",
    }
)
DIR_KEYS = frozenset({"directory", "childlogdir"})
RPC_ERRORS = (OSError, xmlrpc.client.Error, http.client.HTTPException)
UNSETTLED = frozenset({"STARTING", "BACKOFF", "STOPPING"})
EXPANSION = re.compile(r"%\([^)]*\)[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]|%%")
HEADER = re.compile(r"^\s*\[([^\]]+)\]")
OPTION = re.compile(r"^([^\s=:;#\[][^=:]*?)\s*[=:]\s*(.*)$")
SLEEPER = '/bin/sh -c "exec /bin/sleep 1000" stub'
LISTENER = """\
import sys
while True:
    sys.stdout.write("READY\\n")
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:
        break
    headers = dict(item.split(":", 1) for item in line.split())
    sys.stdin.read(int(headers["len"]))
    sys.stdout.write("RESULT 2\\nOK")
    sys.stdout.flush()
"""
# supervisord imports a listener's result_handler when it reads the config.
RESULT_HANDLER = "def event_handler(event, response):\n    pass\n"


@dataclass(frozen=True)
class Case:
    """One image's configuration: ``files`` pairs a corpus file with where the image puts it
    (the first is the main config); ``env`` are the image's ENV defaults; ``args`` the
    command-line options its entrypoint passes; ``subst`` what its entrypoint substitutes
    in the files before starting; ``dirs`` directories its Dockerfile creates."""

    name: str
    files: tuple[tuple[str, str], ...]
    env: Mapping[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    subst: Mapping[str, str] = field(default_factory=dict)
    dirs: tuple[str, ...] = ()
    needs: str | None = None


def relocate(value: str, root: Path) -> str:
    value = value.strip()
    if value.startswith("unix://"):
        return "unix://" + relocate(value[7:], root)
    if not value.startswith("/") or value.startswith(STREAMS):
        return value
    return str(root) + value


def _strip_comment(value: str) -> str:
    return re.split(r"\s[;#]", " " + value, maxsplit=1)[0].strip()


def _account_exists(value: str, env: Mapping[str, str]) -> bool:
    name = re.sub(r"%\(ENV_(\w+)\)s", lambda m: env.get(m.group(1), ""), value)
    user, _, group = name.partition(":")
    try:
        pwd.getpwnam(user)
        if group:
            grp.getgrnam(group)
    except KeyError:
        return False
    return os.geteuid() == 0


class Layout:
    """One root with one case's stubbed files in it."""

    def __init__(self, case: Case, root: Path, port: int) -> None:
        self.case, self.root, self.port = case, root, port
        self.server_auth: dict[str, str] = {}  # the HTTP server's own username/password
        self.env = {k: relocate(v, root) for k, v in case.env.items()}
        (root / "stub").mkdir(parents=True)
        (root / "stub" / "listener.py").write_text(LISTENER)
        (root / "stub" / "supervisor_stdout.py").write_text(RESULT_HANDLER)
        for directory in case.dirs:
            Path(relocate(directory, root)).mkdir(parents=True, exist_ok=True)
        for value in self.env.values():
            if value.startswith(str(root)):
                Path(value).parent.mkdir(parents=True, exist_ok=True)
        sections: set[str] = set()
        for source, target in case.files:
            text = (CORPUS / source).read_text()
            for old, new in case.subst.items():
                text = text.replace(old, new)
            out = Path(relocate(target, root))
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(self._rewrite(text, sections))
        self.main = Path(relocate(case.files[0][1], root))
        self._add_observer(sections)

    def _rewrite(self, text: str, sections: set[str]) -> str:
        out: list[str] = []
        section = ""
        dropping = False  # continuation lines of a replaced command
        for line in text.splitlines():
            if dropping and line[:1].isspace() and line.strip():
                out[-1] += " " + " ".join(EXPANSION.findall(_strip_comment(line)))
                continue
            dropping = False
            header = HEADER.match(line)
            if header:
                section = header.group(1).strip()
                sections.add(section)
                out.append(line)
                continue
            option = OPTION.match(line)
            if not option or line.lstrip().startswith((";", "#")):
                out.append(line)
                continue
            key, value = option.group(1).strip().lower(), _strip_comment(option.group(2))
            out.append(self._option(line, section, key, value))
            dropping = key == "command"
        return "\n".join(out) + "\n"

    def _option(self, line: str, section: str, key: str, value: str) -> str:
        kind = section.split(":", 1)[0]
        if kind in ("unix_http_server", "inet_http_server") and key in ("username", "password"):
            self.server_auth.setdefault(key, value)
        if key == "command" and kind in ("program", "eventlistener", "fcgi-program"):
            args = " ".join(EXPANSION.findall(value))
            if kind == "eventlistener":
                return f"command={sys.executable} {self.root}/stub/listener.py {args}".rstrip()
            return f"command={SLEEPER} {args}".rstrip()
        if key in ("user", "chown") and not _account_exists(value, self.case.env):
            return f"; (stubbed: {key}={value} names no account here)"
        if kind == "inet_http_server" and key == "port":
            return f"port=127.0.0.1:{self.port}"
        if key == "serverurl" and value.startswith("http://"):
            return f"serverurl=http://127.0.0.1:{self.port}"
        if key not in PATH_KEYS:
            return line
        moved = " ".join(relocate(v, self.root) for v in value.split()) if value else value
        if key != "files" and moved.startswith(str(self.root)):
            path = Path(moved[7:] if moved.startswith("unix://") else moved)
            made = path if key in DIR_KEYS else path.parent  # as the image's Dockerfile did
            if "%(" not in str(made):
                made.mkdir(parents=True, exist_ok=True)
        return f"{key}={moved}"

    def _add_observer(self, sections: set[str]) -> None:
        extra = []
        if not sections & {"unix_http_server", "inet_http_server"}:
            extra.append(f"[unix_http_server]\nfile={self.root}/observe.sock\n")
        if "rpcinterface:supervisor" not in sections:
            extra.append(
                "[rpcinterface:supervisor]\n"
                "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
            )
        if "supervisorctl" not in sections:
            extra.append(f"[supervisorctl]\nserverurl=unix://{self.root}/observe.sock\n")
        if extra:
            with self.main.open("a") as fh:
                fh.write("\n" + "\n".join(extra))

    def environ(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": f"{self.root}/stub",
            **self.env,
        }

    def argv(self, real: bool) -> list[str]:
        args = [relocate(a, self.root) for a in self.case.args]
        if os.geteuid() != 0 and "--user" in args:
            i = args.index("--user")
            del args[i : i + 2]
        # Both in the foreground, as a container entrypoint runs them (the same options).
        fg = [] if "-n" in args else ["-n"]
        if real:
            return [str(BIN / "supervisord"), *fg, "-c", str(self.main), *args]
        return [str(BIN / "supgrpcd"), *fg, "-c", str(self.main), "--no-grpc", *args]


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
    from tests.helpers import free_port

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
