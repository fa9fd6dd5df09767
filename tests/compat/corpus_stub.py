"""Laying one corpus case out under a private root, the same way for both daemons.

A case's files are copied to where its image puts them, under the root; each line is kept
except what cannot run here: commands become long-running stubs (event listeners: a stub
that speaks the listener protocol) that keep the config's own ``%(...)s`` expansions as
arguments; absolute paths move under the root (streams such as ``/dev/stdout`` stay);
``[inet_http_server]`` gets a free loopback port; ``user=``/``chown=`` naming accounts this
machine lacks are dropped. A config with no HTTP server gets one so it can be observed.
Both daemons get the same files (only the root and a free port differ), the same
environment and the same command-line options, so any difference in what they report is a
difference in how they read the same configuration.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import fixture

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
EXPANSION = re.compile(r"%\([^)]*\)[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]|%%")
HEADER = re.compile(r"^\s*\[([^\]]+)\]")
OPTION = re.compile(r"^([^\s=:;#\[][^=:]*?)\s*[=:]\s*(.*)$")
SLEEPER = '/bin/sh -c "exec /bin/sleep 1000" stub'
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
        shutil.copy(fixture("listener_stub.py"), root / "stub" / "listener.py")
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
