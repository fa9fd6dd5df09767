"""Unit tests do no I/O: inside tests/unit, starting a process, opening a socket, forking or
sleeping fails at once with a line that says so.

Why: a unit test that spawns, listens or sleeps is slow and can be flaky under load; it belongs
in tests/integration (real processes and sockets) or tests/tooling (lint and codegen checks).
The guard makes the rule a failure instead of a review comment. Writing a config text to
``tmp_path`` and parsing it is allowed: the code under test is a file reader.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest


class UnitTestDidIO(AssertionError):
    """Raised when a unit test reaches for a process, a socket, fork or sleep."""


def _refusal(what: str, nodeid: str) -> Callable[..., NoReturn]:
    def refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise UnitTestDidIO(
            f"{nodeid}: unit tests do no I/O, but this one called {what}; "
            "move it to tests/integration (or tests/tooling), or use tests/support/fakes.py"
        )

    return refuse


def _refusing_class(base: type, what: str, nodeid: str) -> type:
    """A subclass whose construction refuses: ``isinstance`` checks and annotations that name
    the real class keep working, only making a new one fails."""
    refuse = _refusal(what, nodeid)
    return type(base.__name__, (base,), {"__init__": refuse, "__new__": refuse})


@pytest.fixture(autouse=True)
def _unit_tests_do_no_io(request: pytest.FixtureRequest) -> Iterator[None]:
    nodeid = request.node.nodeid
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            subprocess, "Popen", _refusing_class(subprocess.Popen, "subprocess.Popen", nodeid)
        )
        mp.setattr(socket, "socket", _refusing_class(socket.socket, "socket.socket", nodeid))
        mp.setattr(os, "fork", _refusal("os.fork", nodeid))
        mp.setattr(os, "posix_spawn", _refusal("os.posix_spawn", nodeid))
        mp.setattr(time, "sleep", _refusal("time.sleep", nodeid))
        yield
