"""The unit-test guard (tests/unit/conftest.py) refuses each kind of I/O with one clear line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from tests.unit.conftest import UnitTestDidIO


@pytest.mark.parametrize(
    ("what", "call"),
    [
        ("subprocess.Popen", lambda: subprocess.Popen([sys.executable, "-c", "pass"])),
        ("subprocess.Popen", lambda: subprocess.run(["true"], check=False)),
        ("socket.socket", lambda: socket.socket()),
        ("socket.socket", lambda: socket.socketpair()),
        ("os.fork", lambda: os.fork()),
        ("os.posix_spawn", lambda: os.posix_spawn("/bin/true", ["true"], {})),
        ("time.sleep", lambda: time.sleep(0)),
    ],
    ids=["popen", "run", "socket", "socketpair", "fork", "posix_spawn", "sleep"],
)
def test_io_in_a_unit_test_fails_loudly(what: str, call: Callable[[], object]) -> None:
    with pytest.raises(UnitTestDidIO) as refused:
        call()
    message = str(refused.value)
    assert f"called {what};" in message
    assert "test_no_io_guard.py::test_io_in_a_unit_test_fails_loudly" in message
    assert "move it to tests/integration" in message
    assert "\n" not in message


def test_the_real_classes_still_answer_isinstance() -> None:
    # Annotations and isinstance checks in the code under test name the real classes.
    assert issubclass(socket.socket, socket.SocketType)
    assert socket.socket.__mro__[1].__module__ == "socket"
