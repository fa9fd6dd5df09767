"""Fixtures for the compatibility suite: supgrpcd (or, as an oracle, real supervisord 4.3.0)
started as a subprocess on a config written into a short temporary directory. The daemon, its
supervisorctl and XML-RPC clients are ``tests.support``'s (``xmlrpc_daemon``, ``make_conf``);
this module only turns them into fixtures. Every wait is a poll with a deadline.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import Daemon, DaemonFactory
from tests.support.layouts import xmlrpc_daemon
from tests.support.xmlrpc_clients import STANDARD_PROGRAMS, make_conf


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A short private directory (unix socket paths are limited to 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="xr-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


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
        daemon = xmlrpc_daemon(directory, path, real=real, env=env)
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
    d = xmlrpc_daemon(directory, make_conf(directory)).start()
    for name in ("sleeper", "cat", "writer", "ticker", "grp:ga"):
        d.wait_state(name, "RUNNING")
    yield d
    d.stop()
    shutil.rmtree(directory, ignore_errors=True)
