"""How each suite lays out its daemon: the keywords that make the one ``Daemon`` the gRPC suites'
(debug log, gRPC socket, optional token and TCP port), the compat suite's (a config that
``make_conf`` wrote, supgrpcd or supervisord 4.3.0), or a bare launcher argv (single-command
mode, PID 1 in a namespace).

Owns: ``command_line``, ``grpc_options``, ``grpc_daemon``, ``running``, ``xmlrpc_daemon``.
May import: ``tests.support`` siblings. Threading: the test thread.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tests.support.commands import short_tmpdir
from tests.support.daemon import SUPERVISORD, SUPGRPCD, Daemon
from tests.support.net import free_port


def command_line(directory: str | os.PathLike[str], argv: Sequence[str], **popen_kw: Any) -> Daemon:
    """A launcher ``argv`` run as is, without a config (``supgrpcd [opts] -- CMD``, or PID 1 in
    a namespace, or a wrapper that execs one), its output captured under ``directory``."""
    return Daemon(
        directory, None, argv=argv, grpc=True, ready=None, cwd=os.getcwd(), popen_kw=popen_kw
    )


def grpc_options(
    workdir: str | os.PathLike[str],
    *,
    grpc_section: str | None = None,
    supervisord_extra: str = "",
    token: str | None = None,
    tcp: bool = False,
) -> dict[str, Any]:
    """``Daemon`` keywords for the gRPC suites' layout: debug log, silent, one output file,
    its own session, gRPC on ``workdir/g.sock`` (and, with ``tcp``, on 127.0.0.1:``port``;
    with ``token``, bearer-protected) unless ``grpc_section`` says otherwise, and ``start()``
    waiting until the unix socket accepts."""
    grpc_sock = Path(workdir) / "g.sock"
    port = free_port()
    if grpc_section is None:
        listen = f"unix://{grpc_sock}" + (f", 127.0.0.1:{port}" if tcp else "")
        grpc_section = f"listen = {listen}\n" + (f"token = {token}\n" if token else "")
    return {
        "port": port,
        "loglevel": "debug",
        "grpc_section": grpc_section,
        "supervisord_extra": "silent = true\n" + supervisord_extra,
        "conf_name": "supgrpc.conf",
        "new_session": True,
        "merge_stderr": True,
        "ready": "grpc",
    }


def grpc_daemon(
    workdir: str | os.PathLike[str],
    programs: str,
    *,
    grpc_section: str | None = None,
    supervisord_extra: str = "",
    token: str | None = None,
    tcp: bool = False,
    **kw: Any,
) -> Daemon:
    """A ``Daemon`` in the gRPC suites' layout (``grpc_options``); ``kw`` overrides it."""
    options = grpc_options(
        workdir,
        grpc_section=grpc_section,
        supervisord_extra=supervisord_extra,
        token=token,
        tcp=tcp,
    )
    return Daemon(workdir, programs, **{**options, **kw})


def xmlrpc_daemon(
    directory: str | os.PathLike[str],
    config: Path,
    *,
    real: bool = False,
    env: dict[str, str] | None = None,
    **kw: Any,
) -> Daemon:
    """The compat suite's daemon on a config ``make_conf`` wrote: supgrpcd (or, with
    ``real``, supervisord 4.3.0 as the oracle); ``env`` adds to this process's environment;
    ``start()`` waits until getState answers RUNNING."""
    return Daemon(
        directory,
        config,
        kind=SUPERVISORD if real else SUPGRPCD,
        env={**os.environ, **(env or {})},
        ready="xmlrpc",
        merge_stderr=True,
        **kw,
    )


@contextlib.contextmanager
def running(programs: str, **kw: Any) -> Iterator[Daemon]:
    """A started ``grpc_daemon`` in a fresh short directory, closed (and removed) after."""
    ready = kw.pop("wait_for", True)
    with grpc_daemon(short_tmpdir(), programs, **kw) as daemon:
        daemon.start(wait=ready)
        yield daemon
