"""supgrpcd's command line: supervisord's options, plus tini's after ``--``.

Owns: argv -> Options, and the usage errors (exit status 2, one line, no traceback).
Threading: main thread, before anything starts.

Two dialects share one program. Without ``--`` the options are supervisord's (``-c``, ``-n``,
``-s`` silent, ``-e`` loglevel ...). When argv contains ``--`` (``supgrpcd [opts] -- CMD``),
the short options before it are tini's where tini has one (``-s`` subreaper, ``-e N`` exit code
remap, ``-v`` verbose, ``-g``, ``-w``, ``-p SIG``); supervisord's long forms keep working.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

from .. import __version__

EXIT_USAGE = 2


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


@dataclass
class Options:
    configuration: str | None = None
    command: list[str] = field(default_factory=list)
    nodaemon: bool = False  # -n: we stay in the foreground anyway; it matters for directory=
    silent: bool | None = None
    user: str | None = None
    umask: str | None = None
    directory: str | None = None
    logfile: str | None = None
    logfile_maxbytes: str | None = None
    logfile_backups: str | None = None
    loglevel: str | None = None
    pidfile: str | None = None
    identifier: str | None = None
    childlogdir: str | None = None
    nocleanup: bool = False
    minfds: str | None = None
    minprocs: str | None = None
    strip_ansi: bool = False
    subreaper: bool = True
    process_group: bool = False
    remap_exit: list[int] = field(default_factory=list)
    verbosity: int = 0
    warn_on_reap: bool = False
    parent_death_signal: str | None = None
    grpc_listen: list[str] = field(default_factory=list)
    no_grpc: bool = False
    show_version: bool = False


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--configuration", dest="configuration")
    p.add_argument(
        "-n",
        "--nodaemon",
        action="store_true",
        help="accepted for compatibility: supgrpcd always stays in the foreground",
    )
    p.add_argument("-u", "--user", dest="user")
    p.add_argument("-m", "--umask", dest="umask")
    p.add_argument("-d", "--directory", dest="directory")
    p.add_argument("-l", "--logfile", dest="logfile")
    p.add_argument("-y", "--logfile_maxbytes", dest="logfile_maxbytes")
    p.add_argument("-z", "--logfile_backups", dest="logfile_backups")
    p.add_argument("-j", "--pidfile", dest="pidfile")
    p.add_argument("-i", "--identifier", dest="identifier")
    p.add_argument("-q", "--childlogdir", dest="childlogdir")
    p.add_argument("-k", "--nocleanup", action="store_true")
    p.add_argument("-a", "--minfds", dest="minfds")
    p.add_argument("--minprocs", dest="minprocs")
    p.add_argument("-t", "--strip_ansi", action="store_true")
    p.add_argument("--silent", action="store_true", default=None)
    p.add_argument("--loglevel", dest="loglevel")
    p.add_argument("--version", action="store_true", dest="show_version")
    p.add_argument(
        "--no-subreaper",
        action="store_false",
        dest="subreaper",
        help="do not register as a child subreaper when not PID 1",
    )
    p.add_argument(
        "--grpc-listen",
        action="append",
        default=[],
        dest="grpc_listen",
        help="gRPC address (unix:///path or host:port); overrides [grpc] listen",
    )
    p.add_argument("--no-grpc", action="store_true", dest="no_grpc", help="serve no gRPC endpoint")


def _supervisord_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="supgrpcd",
        add_help=True,
        description="Run a supervisord.conf as an init; or `supgrpcd -- CMD` like tini.",
    )
    _common(p)
    p.add_argument("-s", "--silent-short", action="store_true", dest="silent", default=None)
    p.add_argument("-e", "--loglevel-short", dest="loglevel")
    p.add_argument("-v", "--version-short", action="store_true", dest="show_version")
    p.add_argument("command", nargs=argparse.REMAINDER)
    return p


def _tini_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="supgrpcd", add_help=True)
    _common(p)
    p.add_argument(
        "-s",
        action="store_true",
        dest="tini_subreaper",
        help="register as a child subreaper (the default when not PID 1)",
    )
    p.add_argument(
        "-e",
        action="append",
        type=int,
        default=[],
        dest="remap_exit",
        metavar="EXIT_CODE",
        help="treat this exit code of CMD as success (0)",
    )
    p.add_argument("-v", action="count", default=0, dest="verbosity")
    p.add_argument(
        "-g",
        action="store_true",
        dest="process_group",
        help="forward signals to CMD's process group",
    )
    p.add_argument(
        "-w", action="store_true", dest="warn_on_reap", help="log a warning for every orphan reaped"
    )
    p.add_argument(
        "-p",
        dest="parent_death_signal",
        metavar="SIGNAL",
        help="signal to receive when our parent dies",
    )
    return p


def parse(argv: list[str]) -> Options:
    """Parse argv (without the program name). Raises UsageError with a one-line message."""
    if "--" in argv:
        cut = argv.index("--")
        head, command = argv[:cut], argv[cut + 1 :]
        ns = _tini_parser().parse_args(head)
        if not command:
            raise UsageError("no command given after --")
    else:
        ns = _supervisord_parser().parse_args(argv)
        command = list(ns.command)
        if command and command[0].startswith("-"):
            raise UsageError(f"unrecognized arguments: {' '.join(command)}")
    opts = Options()
    for key, value in vars(ns).items():
        if hasattr(opts, key) and key != "command":
            setattr(opts, key, value)
    opts.command = command
    for exit_code in opts.remap_exit:
        if not 0 <= exit_code <= 255:
            raise UsageError(f"-e: exit code {exit_code} is not in 0..255")
    return opts


def version_line() -> str:
    return f"supgrpcd {__version__} (python {sys.version.split()[0]})"
