"""supgrpcd's command line: supervisord's options, or tini's when there is a command.

Owns: argv (and tini's environment variables) -> Options, the usage errors (exit status 2,
one line, no traceback) and the --help text.
May import: model (the log level), stdlib and the package version.
Threading: main thread, before anything starts.

Two dialects share one program; which one is decided before any option is interpreted:

- tini's, when there is a command (``CMD``) and no ``-c``: ``supgrpcd [OPTIONS] CMD [ARGS]``,
  ``supgrpcd [OPTIONS] -- CMD [ARGS]`` or tini's own ``supgrpcd [OPTIONS] CMD -- [ARGS]``.
  Parsed as tini parses (glibc getopt): options may come anywhere before the first ``--``,
  the other words before it are CMD and its first arguments, everything after it is passed
  verbatim. So ``supgrpcd -s sh -c x`` is refused exactly as ``tini -s sh -c x`` is (write
  ``supgrpcd -s -- sh -c x``). Short options are tini's (``-s -e N -v -g -w -p SIG``);
  supervisord's long options and ours keep working; TINI_SUBREAPER, TINI_VERBOSITY and
  TINI_KILL_PROCESS_GROUP are read as tini reads them. A config file lying around (./, /etc)
  is not loaded: a command without ``-c`` is single-command mode, always.
- supervisord's otherwise (no command, or ``-c``): ``-c``, ``-n``, ``-s`` silent, ``-e LEVEL``,
  ``-v`` version... With ``-c FILE -- CMD`` the options before ``--`` are tini's (CMD becomes
  the program ``main``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from .. import __version__
from ..model import LogLevel

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
    verbosity: int = 1  # tini's level: 0 fatal only, 1 warnings (its default), 2 info, 3+ debug
    warn_on_reap: bool = False
    parent_death_signal: str | None = None
    grpc_listen: list[str] = field(default_factory=list)
    no_grpc: bool = False
    show_version: bool = False
    show_help: bool = False


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
    p.add_argument("-h", "--help", action="store_true", dest="show_help")
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
    p = _Parser(prog="supgrpcd", add_help=False)
    _common(p)
    p.add_argument("-s", "--silent-short", action="store_true", dest="silent", default=None)
    p.add_argument("-e", "--loglevel-short", dest="loglevel")
    p.add_argument("-v", "--version-short", action="store_true", dest="show_version")
    p.add_argument("command", nargs=argparse.REMAINDER)
    return p


def _tini_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="supgrpcd", add_help=False)
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
    p.add_argument("-v", action="count", default=0, dest="more_verbose")
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


def _takes_value(parser: argparse.ArgumentParser, option: str) -> bool:
    action = parser._option_string_actions.get(option)
    return action is not None and action.nargs != 0


def _split_like_getopt(
    argv: list[str], parser: argparse.ArgumentParser
) -> tuple[list[str], list[str], int]:
    """(options, command, leading) as glibc getopt permutes them for tini: options anywhere
    before the first ``--``, every other word before it is the command, everything after it
    verbatim. ``leading``: how many of the option words came before the command's first."""
    options: list[str] = []
    command: list[str] = []
    leading = -1
    words = iter(enumerate(argv))
    for i, word in words:
        if word == "--":
            command += argv[i + 1 :]
            break
        if not word.startswith("-") or word == "-":
            if leading < 0:
                leading = len(options)
            command.append(word)
            continue
        options.append(word)
        if word.startswith("--"):
            needs_next = "=" not in word and _takes_value(parser, word)
        else:  # a cluster such as -sgv or -e3: a value ends it, attached or next
            needs_next = False
            for at, letter in enumerate(word[1:], start=1):
                if _takes_value(parser, f"-{letter}"):
                    needs_next = at == len(word) - 1
                    break
        if needs_next:
            following = next(words, None)
            if following is not None:
                options.append(following[1])
    return options, command, len(options) if leading < 0 else leading


def _has_configuration(options: list[str]) -> bool:
    return any(
        o in ("-c", "--configuration")
        or o.startswith("--configuration=")
        or (o.startswith("-c") and not o.startswith("--"))
        for o in options
    )


def parse(argv: list[str], environ: Mapping[str, str] | None = None) -> Options:
    """Parse argv (without the program name). Raises UsageError with a one-line message."""
    environ = os.environ if environ is None else environ
    tini = _tini_parser()
    options, command, leading = _split_like_getopt(argv, tini)
    if "-h" in options or "--help" in options:
        return Options(show_help=True)  # whatever else was given, in either dialect
    with_config = _has_configuration(options[:leading])
    if command and not with_config and "--" not in argv and _has_configuration(options):
        raise UsageError(
            f"-c after the command {command[0]!r} is read as our option (tini reads options "
            f"up to --); to pass it to the command write: supgrpcd [OPTIONS] -- "
            f"{shlex.join(argv[argv.index(command[0]) :])}"
        )
    if "--" in argv or (command and not with_config):
        ns = tini.parse_args(options)
        if not command and not (ns.show_help or ns.show_version):
            raise UsageError("no command given after --")
        tini_dialect = True
    else:
        ns = _supervisord_parser().parse_args(argv)
        command = list(ns.command)
        if command and command[0].startswith("-"):
            raise UsageError(f"unrecognized arguments: {' '.join(command)}")
        tini_dialect = False
    opts = Options()
    for key, value in vars(ns).items():
        if hasattr(opts, key) and key != "command":
            setattr(opts, key, value)
    opts.command = command
    if tini_dialect:
        _apply_tini(opts, ns, environ)
    for exit_code in opts.remap_exit:
        if not 0 <= exit_code <= 255:
            raise UsageError(f"-e: exit code {exit_code} is not in 0..255")
    return opts


def _apply_tini(opts: Options, ns: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """tini's environment variables, read after its options as tini does (so
    TINI_VERBOSITY replaces what -v said)."""
    if ns.tini_subreaper and not opts.subreaper:
        raise UsageError("-s and --no-subreaper contradict each other")
    opts.verbosity = 1 + ns.more_verbose
    if "TINI_VERBOSITY" in environ:
        value = environ["TINI_VERBOSITY"].strip()
        try:
            opts.verbosity = int(value)
        except ValueError:
            raise UsageError(f"TINI_VERBOSITY={value!r} is not a number")
    if "TINI_KILL_PROCESS_GROUP" in environ:
        opts.process_group = True
    # TINI_SUBREAPER asks for what is our default already; an explicit --no-subreaper wins.


def loglevel_for_verbosity(verbosity: int) -> LogLevel:
    """Our log level for tini's verbosity level (what -v and TINI_VERBOSITY set)."""
    if verbosity <= 0:
        return LogLevel.CRITICAL
    return {1: LogLevel.WARN, 2: LogLevel.INFO, 3: LogLevel.DEBUG}.get(verbosity, LogLevel.TRACE)


HELP = """\
usage: supgrpcd [-c FILE] [SUPERVISORD OPTIONS]          supervisor mode
       supgrpcd [TINI OPTIONS] CMD [ARGS...]              single-command mode (like tini)
       supgrpcd [TINI OPTIONS] -- CMD [ARGS...]
       supgrpcd -c FILE [TINI OPTIONS] -- CMD [ARGS...]   supervisor mode, CMD as program main

Supervisor mode runs a supervisord.conf (supervisor 4.3.0) as an init, in the foreground.
Without -c it looks for supgrpc.conf, then supervisord.conf, where supervisord does.
Single-command mode runs CMD like tini: CMD gets our stdin/stdout/stderr and terminal,
signals are forwarded to it, orphans are reaped, and we exit with CMD's status. A command
without -c always means single-command mode (a config file nearby is not read).
Options are read before the first word that is not one, or before "--" (and, as in tini,
anywhere before "--"). Which dialect applies is decided by: a command and no -c: tini's.

Supervisord options (supervisor mode):
  -c, --configuration FILE   the configuration file
  -n, --nodaemon             accepted: supgrpcd always stays in the foreground
  -s, --silent               do not echo our log to stdout
  -e, --loglevel LEVEL       critical, error, warn, info, debug, trace or blather
  -v, --version              print the version and exit
  -u, --user USER            run as USER (started as root)
  -m, --umask UMASK          umask (octal) for us and the programs
  -d, --directory DIR        chdir to DIR before starting
  -l, --logfile FILE         our log file
  -y, --logfile_maxbytes N   rotate our log at N bytes (KB/MB/GB suffixes)
  -z, --logfile_backups N    keep N rotated logs
  -j, --pidfile FILE         write our pid there (once our sockets are bound)
  -i, --identifier STR       the identifier supervisor's API reports
  -q, --childlogdir DIR      where AUTO child logs go
  -k, --nocleanup            keep old AUTO child logs at start
  -a, --minfds N             raise the open-files limit to at least N
      --minprocs N           raise the processes limit to at least N
  -t, --strip_ansi           strip ANSI escapes from child logs

tini options (single-command mode, and before "--" with -c):
  -s                         register as a child subreaper (already the default when not PID 1)
  -e EXIT_CODE               treat this exit code of CMD (0..255) as success; repeatable
  -v                         more verbose: -v info, -vv debug, -vvv trace (tini's levels)
  -g                         forward signals to CMD's process group, not CMD alone
  -w                         warn for every orphan reaped ("Reaped zombie process with pid=N")
  -p SIGNAL                  ask for SIGNAL when our parent dies, e.g. -p SIGKILL
  -l FILE                    (not tini's -l license) our log file, as in supervisor mode
  --version                  print the version and exit
  Environment, read as tini reads it: TINI_SUBREAPER (set: -s), TINI_VERBOSITY=N (tini's
  level, 0 fatal only .. 4 trace; replaces -v), TINI_KILL_PROCESS_GROUP (set: -g).

Options of both modes:
  -h, --help                 this help
      --no-subreaper         do not register as a child subreaper when not PID 1
      --grpc-listen ADDR     gRPC address (unix:///path or host:port), repeatable;
                             overrides [grpc] listen
      --no-grpc              serve no gRPC endpoint
      --silent, --loglevel LEVEL, and every long supervisord option above

Exit status: CMD's (128+N if signal N killed it, 126/127 if it could not run) in
single-command mode; 0 after a clean shutdown in supervisor mode; 2 for a usage or
configuration error (one line on stderr); 1 for an internal error.
"""


def version_line() -> str:
    return f"supgrpcd {__version__} (python {sys.version.split()[0]})"
