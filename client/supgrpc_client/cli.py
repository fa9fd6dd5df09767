"""``supgrpc-cli``: supervisorctl's commands over gRPC, plus multiplexed logs and events.

Owns: the command line (global options, one sub-command), where the address and token come
from, and the exit status when things go wrong: one line on stderr, never a traceback.
May import: supgrpc_client, stdlib (never the server package).
Threading: the main thread; Ctrl-C during a follow cancels the stream and exits 130.

Address and token, first found wins: ``-s``/``--token``; then ``-c CONFIG``'s ``[grpc]``
section; then ``$SUPGRPC_ADDRESS``/``$SUPGRPC_TOKEN``; then the first config file found where
supgrpcd looks for one; then the default socket (docs/grpc.md).

Exit status: 0 success; 1 a requested action failed, or the server could not be reached or
refused us; 2 usage error; 3 ``status``: some process is not running; 4 ``status``: no such
process; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TextIO

from .address import ConfigProblem, find_config, read_config
from .client import DEFAULT_TIMEOUT, Client, TlsOptions
from .commands import COMMANDS, EXIT_FAILED
from .errors import SupgrpcError, Unauthenticated, Unavailable
from .output import Printer
from .types import EVENT_KINDS

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _global_options(p: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Global options, accepted before or after the command name."""

    def d(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    p.add_argument(
        "-c",
        "--configuration",
        metavar="CONFIG",
        default=d(None),
        help="read the address and token from this config's [grpc] section",
    )
    p.add_argument(
        "-s",
        "--server",
        metavar="ADDRESS",
        default=d(None),
        help="unix:///path or host:port (env SUPGRPC_ADDRESS)",
    )
    p.add_argument("--token", default=d(None), help="bearer token (env SUPGRPC_TOKEN)")
    p.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default=d("text"),
        help="output format (default text)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=d(None),
        metavar="SECONDS",
        help="deadline for calls and waits (default: 10 s for calls, "
        "none for waited-for start/stop)",
    )
    p.add_argument(
        "--tls",
        action="store_true",
        default=d(False),
        help="use TLS on a TCP address (implied by --tls-ca/--tls-cert)",
    )
    p.add_argument("--tls-ca", metavar="PEM", default=d(None), help="CA that signed the server")
    p.add_argument(
        "--tls-cert", metavar="PEM", default=d(None), help="client certificate (mutual TLS)"
    )
    p.add_argument("--tls-key", metavar="PEM", default=d(None), help="client key (mutual TLS)")
    p.add_argument(
        "--tls-server-name",
        metavar="NAME",
        default=d(None),
        help="name expected in the server certificate",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supgrpc-cli", description="Control supgrpcd over gRPC (supervisorctl-like)."
    )
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def cmd(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _global_options(p, suppress=True)
        return p

    cmd("status", "show processes (like supervisorctl status)").add_argument(
        "names", nargs="*", help="names, group:*, globs (default all)"
    )
    for name, verb in (("start", "start"), ("stop", "stop"), ("restart", "restart")):
        p = cmd(name, f"{verb} processes: names, group:* or all")
        p.add_argument("names", nargs="+")
        p.add_argument("--no-wait", action="store_true", help="return once requested")
    p = cmd("signal", "send a signal to processes")
    p.add_argument("signal", help="HUP, SIGHUP or a number")
    p.add_argument("names", nargs="+")
    cmd("pid", "the daemon's pid, or the pid of named processes (or all)").add_argument(
        "names", nargs="*"
    )
    p = cmd("tail", "show (and with -f follow) one process's output")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-n", "--lines", type=int, help="last N lines (default: last 1600 bytes)")
    p.add_argument("--bytes", type=int, help="last N bytes")
    p.add_argument("name")
    p.add_argument("channel", nargs="?", choices=("stdout", "stderr"), default="stdout")
    p = cmd("logs", "output of many processes, each line prefixed with its name")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-n", "--lines", type=int, help="last N lines of each stream")
    p.add_argument("--no-color", action="store_true", help="never colour the prefixes")
    p.add_argument("names", nargs="*", help="names, group:*, globs (default all)")
    p = cmd("maintail", "show (and with -f follow) the daemon's own log")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-n", "--lines", type=int, help="last N lines (default: last 1600 bytes)")
    p = cmd("events", "print state changes as they happen (until Ctrl-C)")
    p.add_argument("--replay", action="store_true", help="start with the oldest event kept")
    p.add_argument("--since", type=int, metavar="SEQ", help="start after sequence number SEQ")
    p.add_argument(
        "--kind",
        action="append",
        choices=tuple(EVENT_KINDS),
    )
    p.add_argument("names", nargs="*", help="only these processes/groups (globs)")
    cmd("reread", "show what a reload of the config would change")
    cmd("update", "apply config changes (all groups, or the named ones)").add_argument(
        "groups", nargs="*"
    )
    cmd("add", "add groups from the config").add_argument("names", nargs="+")
    cmd("remove", "remove stopped groups").add_argument("names", nargs="+")
    cmd("clear", "clear the log files of processes (or all)").add_argument("names", nargs="+")
    cmd("shutdown", "stop everything and end the daemon")
    p = cmd("health", "grpc.health.v1 check: exit 0 when SERVING")
    p.add_argument("name", nargs="?", help="a process (service program:NAME); default: init")
    p.add_argument("--service", help="a raw health service name")
    cmd("version", "show the daemon's version")
    return parser


def _endpoint(args: argparse.Namespace) -> tuple[str | None, str | None]:
    address: str | None = args.server
    token: str | None = args.token
    config = args.configuration
    if config is None and not (address or os.environ.get("SUPGRPC_ADDRESS")):
        config = find_config()
    if config is not None:
        endpoint = read_config(config)
        address = address or endpoint.address
        token = token or endpoint.token
    address = address or os.environ.get("SUPGRPC_ADDRESS") or None
    token = token or os.environ.get("SUPGRPC_TOKEN") or None
    return address, token


def _tls(args: argparse.Namespace) -> TlsOptions | None:
    if not (args.tls or args.tls_ca or args.tls_cert or args.tls_key):
        return None
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigProblem("--tls-cert and --tls-key go together")
    return TlsOptions(args.tls_ca, args.tls_cert, args.tls_key, args.tls_server_name)


def main(
    argv: list[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run one command; returns the exit status (the console script exits with it)."""
    out = Printer("text", stdout or sys.stdout, stderr or sys.stderr)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage and the error
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    out.json_mode = args.output == "json"
    try:
        address, token = _endpoint(args)
        tls = _tls(args)
    except ConfigProblem as exc:
        out.error(str(exc))
        return EXIT_USAGE
    client = None
    try:
        client = Client(
            address,
            token=token,
            tls=tls,
            timeout=args.timeout if args.timeout is not None else DEFAULT_TIMEOUT,
        )
        return COMMANDS[args.command](client, args, out)
    except KeyboardInterrupt:
        out.flush()
        return EXIT_INTERRUPTED
    except Unavailable as exc:
        where = client.address if client is not None else address
        out.error(f"cannot reach supgrpcd at {where}: {exc.message}")
        return EXIT_FAILED
    except Unauthenticated as exc:
        out.error(f"not allowed: {exc.message} (use --token or SUPGRPC_TOKEN)")
        return EXIT_FAILED
    except SupgrpcError as exc:
        out.error(f"{exc.status}: {exc.message}")
        return EXIT_FAILED
    except BrokenPipeError:  # `supgrpc-cli logs -f | head`
        _silence_stdout()
        return 0
    except (OSError, ValueError) as exc:  # unreadable TLS files, a malformed address
        out.error(str(exc))
        return EXIT_FAILED
    finally:
        if client is not None:
            try:
                client.close()
            except Exception:
                pass


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
