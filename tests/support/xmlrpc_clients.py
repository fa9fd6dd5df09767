"""The XML-RPC side of a test daemon: supervisor 4.3.0's own transport and ``supervisorctl``
against supgrpcd or the reference supervisord, and the config layout a supervisor user writes.

Owns: ``XmlRpcClients`` (mixed into ``Daemon``), ``CtlResult``, ``make_conf`` and
``STANDARD_PROGRAMS`` (the config that exercises every supervisorctl command).
May import: supervisor 4.3.0 (``supervisorctl``, ``SupervisorTransport``), the standard
library, ``tests.support.wait``/``commands``.
Threading: in-process ``supervisorctl`` redirects sys.stdout, so those calls are serialised by
``_CTL_LOCK`` (a lock, not state: nothing else lives at module level).
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import textwrap
import threading
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervisor import supervisorctl  # type: ignore[import-untyped]
from supervisor.xmlrpc import SupervisorTransport  # type: ignore[import-untyped]

from tests.support.commands import SUPERVISORCTL
from tests.support.wait import wait_until

_CTL_LOCK = threading.Lock()

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
        logfile={directory}/supervisord.log
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


@dataclass
class CtlResult:
    rc: int
    out: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


class XmlRpcClients:
    """XML-RPC proxies and supervisorctl runs for a daemon with ``config_path``/``serverurl``."""

    config_path: Path
    dir: Path
    auth: tuple[str, str] | None
    serverurl: str

    def rpc(
        self, username: str | None = None, password: str | None = None, serverurl: str | None = None
    ) -> Any:
        if username is None and self.auth is not None:
            username, password = self.auth
        transport = SupervisorTransport(username, password, serverurl or self.serverurl)
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def rpc_state(self) -> int | None:
        """getState's statecode, or None while the daemon does not answer yet."""
        try:
            return int(self.rpc().supervisor.getState()["statecode"])
        except (OSError, xmlrpc.client.Error):
            return None

    def ctl(self, *args: str, input: str | None = None, timeout: float = 30) -> CtlResult:
        """``supervisorctl -c <conf> args...``: supervisor 4.3.0's own ``supervisorctl.main``,
        run in this process (a fresh interpreter per command would cost ~0.2 s of CPU each).
        Commands reading stdin run the installed executable instead."""
        if input is not None:
            done = subprocess.run(
                [SUPERVISORCTL, "-c", str(self.config_path), *args],
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
                supervisorctl.main(["-c", str(self.config_path), *args])
                rc = 0
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 1
        return CtlResult(rc, out.getvalue())

    def ctl_all(self, *commands: tuple[str, ...]) -> list[CtlResult]:
        """Several independent supervisorctl commands (their order must not matter)."""
        return [self.ctl(*args) for args in commands]

    def popen_ctl(self, *args: str, stdin: int | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [SUPERVISORCTL, "-c", str(self.config_path), *args],
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
