"""Configs supervisord 4.3.0 runs although a line in them is wrong: supgrpcd must run them too,
and show the same thing for the wrong part (a drop-in never refuses what supervisord runs)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import wait_until
from tests.support.daemon import DaemonFactory

pytestmark = pytest.mark.compat

EMPTY_COMMAND = """
[program:empty]
command=
startsecs=0
startretries=0

[program:fine]
command=/bin/sleep 1000
startsecs=0
"""

KEYS = ("name", "group", "statename", "spawnerr", "exitstatus", "description")


def _settled(d: Any, name: str) -> dict[str, Any]:
    def fatal() -> dict[str, Any] | None:
        info: dict[str, Any] = d.rpc().supervisor.getProcessInfo(name)
        return info if info["statename"] == "FATAL" else None

    info = wait_until(fatal, 15, f"{name} to be FATAL")
    return {k: info[k] for k in KEYS}


def test_an_empty_command_is_a_spawn_error_not_a_refusal(daemon_factory: DaemonFactory) -> None:
    # supervisord reads command= with no value and fails the spawn ("command is empty"),
    # leaving every other program running.
    theirs = daemon_factory(EMPTY_COMMAND, real=True)
    ours = daemon_factory(EMPTY_COMMAND)
    assert _settled(ours, "empty") == _settled(theirs, "empty")
    assert _settled(ours, "empty")["spawnerr"] == "command is empty"
    ours.wait_state("fine", "RUNNING")
    theirs.wait_state("fine", "RUNNING")
