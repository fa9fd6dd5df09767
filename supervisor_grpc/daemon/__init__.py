"""supgrpcd: the composition root. ``main()`` reads as tini's does: a numbered checklist.

Owns: wiring concrete objects together, the signal policy, the exit status.
May import: everything. Nothing imports it.
Threading: ``main`` runs the loop on the main thread; front-ends run their own threads.

Exit statuses (also in the README):
    0    clean shutdown (SIGTERM/SIGINT/SIGQUIT or a shutdown RPC) in supervisor mode
    1    an internal error the daemon could not survive
    2    bad configuration or usage (before anything started)
    N    single-command mode: CMD's exit code, 128+S if it died of signal S, 0 for codes
         given with -e; 126 if CMD is not executable, 127 if it was not found
    N    a critical program ended: its status as above, or 1 if it ended with 0
         (core/policy.py); exit_when=any/all: the ending program's status / the first
         non-zero one
"""

from __future__ import annotations

import logging
import os
import sys

from .. import config
from ..errors import ConfigError, SupervisorError
from . import args as cli
from ._fork_env import caller_environment  # before .app and grpc
from .app import App

EXIT_INTERNAL = 1
__all__ = ["caller_environment", "main"]


def _fail(message: str, status: int) -> int:
    sys.stderr.write(f"supgrpcd: error: {message}\n")
    return status


def main(argv: list[str] | None = None) -> int:
    """supgrpcd's entry point. Called without ``argv`` it is the program: it ends the process
    itself once the daemon is done (see ``_end_process``); with ``argv`` it returns."""
    if argv is not None:
        return _main(argv)
    _end_process(_main(sys.argv[1:]))
    return EXIT_INTERNAL  # not reached


def _end_process(status: int) -> None:
    """Exit now, whatever other threads are doing.

    A normal interpreter exit joins every non-daemon thread (gRPC's and the XML-RPC server's
    worker pools among them): one stuck on a wait would keep us alive after "exiting with
    status N", and as PID 1 the container would never end. Everything of ours is closed or
    flushed by now; what is left to flush is the logging handlers and stdio.
    """
    try:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # a closed or broken stdout must not change our status
        pass
    os._exit(status)


def _main(argv: list[str]) -> int:
    # 1. Parse the command line (usage errors exit 2 with one line).
    try:
        opts = cli.parse(argv)
    except cli.UsageError as exc:
        return _fail(str(exc), cli.EXIT_USAGE)
    if opts.show_help:
        sys.stdout.write(cli.HELP)
        return 0
    if opts.show_version:
        print(cli.version_line())
        return 0
    # 2. Load and validate the configuration before anything starts.
    try:
        app = App.from_options(opts)
    except (ConfigError, SupervisorError) as exc:
        return _fail(str(exc), cli.EXIT_USAGE)
    # 3..n. Run (see App.run for the rest of the checklist).
    try:
        return app.run()
    except (ConfigError, SupervisorError) as exc:
        return _fail(str(exc), cli.EXIT_USAGE)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: log it, never a bare traceback
        logger = logging.getLogger("supgrpc")
        logger.critical("fatal internal error: %s: %s", type(exc).__name__, exc)
        logger.debug("traceback of the fatal internal error", exc_info=True)
        return _fail(f"internal error: {type(exc).__name__}: {exc}", EXIT_INTERNAL)


def find_config_or_fail(opts: cli.Options) -> str:
    exe_dir = os.path.dirname(os.path.abspath(sys.argv[0]))
    path = config.find_config(os.getcwd(), exe_dir)
    if path is None:
        raise ConfigError(
            "no configuration file found (looked for supgrpc.conf and supervisord.conf in "
            "./, ./etc/, /etc/, /etc/supervisor/); use -c FILE or -- CMD"
        )
    return path
