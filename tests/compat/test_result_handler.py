"""A listener pool's ``result_handler``, with a real daemon, side by side with supervisord 4.3.0.

The same config and the same handler module (on ``PYTHONPATH``, as a user installs one) run
under supgrpcd and under supervisord. The handler records what it is given and decides: accept,
``RejectEvent`` once (the event must come back, same serial), or raise (the listener goes
UNKNOWN and gets nothing more; its event waits in the pool for the next process). What each
handler saw, in order, must be the same on both daemons.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import SUPERVISORD, SUPGRPCD, fixture, wait_until
from tests.support.daemon import DaemonFactory

pytestmark = pytest.mark.compat

HANDLER = """\
import json, os
from supervisor.dispatchers import RejectEvent

_decided = set()

def handle(event, result):
    pid, _, body = result.decode().partition(" ")
    verdict = "ok"
    if body in ("reject", "boom") and event.serial not in _decided:
        _decided.add(event.serial)
        verdict = body
    record = {
        "type": type(result).__name__,
        "body": body,
        "pid": int(pid),
        "serial": event.serial,
        "pool_serials": event.pool_serials,
        "payload": event.payload(),
        "verdict": verdict,
    }
    with open(os.environ["RH_OUT"], "a") as fh:
        fh.write(json.dumps(record) + "\\n")
    if verdict == "reject":
        raise RejectEvent(result)
    if verdict == "boom":
        raise ValueError("boom")
"""
PROGRAMS = f"""
[eventlistener:rh]
command={sys.executable} {fixture("listener_stub.py")} echo
events=REMOTE_COMMUNICATION
result_handler=rh_recorder:handle
startsecs=0
"""


def records(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines()]


def bodies(out: Path) -> list[str]:
    return [r["body"] for r in records(out)]


def run(factory: DaemonFactory, tmp_path: Path, real: bool) -> tuple[list[dict[str, Any]], str]:
    """One daemon through the scenario; returns what its handler saw and its main log."""
    name = "supervisord" if real else "supgrpcd"
    modules = tmp_path / "modules"
    modules.mkdir(exist_ok=True)
    (modules / "rh_recorder.py").write_text(HANDLER)
    out = tmp_path / f"{name}.jsonl"
    d = factory(
        PROGRAMS, real=real, start=False, env={"PYTHONPATH": str(modules), "RH_OUT": str(out)}
    )
    d.start()
    d.wait_state("rh", "RUNNING")
    rpc = d.rpc()

    def send(body: str, *expected: str) -> None:
        rpc.supervisor.sendRemoteCommEvent("t", body)
        wait_until(lambda: bodies(out)[-len(expected) :] == list(expected), 20, f"{body} on {name}")

    send("first", "first")
    send("reject", "reject", "reject")  # rejected, then the same event again: accepted
    send("boom", "boom")  # the handler raises: the listener is UNKNOWN
    wait_until(lambda: "rh: has entered the UNKNOWN state" in d.log(), 10, "UNKNOWN")
    rpc.supervisor.sendRemoteCommEvent("t", "after")  # waits in the pool
    assert bodies(out)[-1] == "boom"
    rpc.supervisor.stopProcess("rh")
    rpc.supervisor.startProcess("rh")
    wait_until(lambda: bodies(out)[-2:] == ["boom", "after"], 20, f"redelivery on {name}")
    rpc.supervisor.shutdown()
    assert d.proc is not None and d.proc.wait(20) == 0
    return records(out), d.log()


def test_a_result_handler_sees_and_decides_the_same_under_both_daemons(
    daemon_factory: DaemonFactory, tmp_path: Path
) -> None:
    seen: dict[bool, list[dict[str, Any]]] = {}
    for real in (False, True):
        seen[real], log = run(daemon_factory, tmp_path, real)
        assert "rh: event was rejected" in log
        assert "rh: event caused an error" in log
    ours = seen[False]
    assert [(r["body"], r["verdict"]) for r in ours] == [
        ("first", "ok"),
        ("reject", "reject"),
        ("reject", "ok"),
        ("boom", "boom"),
        ("boom", "ok"),  # handed to the listener's next process, before what came after
        ("after", "ok"),
    ]
    assert all(r["type"] == "bytes" for r in ours)
    assert ours[1]["serial"] == ours[2]["serial"] and ours[3]["serial"] == ours[4]["serial"]
    assert ours[0]["payload"] == "type:t\nfirst"
    first_pid, next_pid = ours[0]["pid"], ours[-1]["pid"]
    assert [r["pid"] for r in ours] == [first_pid] * 4 + [next_pid] * 2 and first_pid != next_pid

    def comparable(rs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [
            (r["type"], r["body"], r["verdict"], r["serial"], r["pool_serials"], r["payload"])
            for r in rs
        ]

    assert comparable(ours) == comparable(seen[True])


OTHER = "\ndef other(event, result):\n    pass\n"


@pytest.mark.parametrize("real", [False, True], ids=["supgrpcd", "supervisord"])
def test_a_reread_keeps_an_unchanged_handler_and_sees_a_new_one_as_a_change(
    daemon_factory: DaemonFactory, tmp_path: Path, real: bool
) -> None:
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "rh_recorder.py").write_text(HANDLER + OTHER)
    d = daemon_factory(
        PROGRAMS, real=real, start=False, env={"PYTHONPATH": str(modules), "RH_OUT": "/dev/null"}
    )
    d.start()
    d.wait_state("rh", "RUNNING")
    assert d.ctl("reread").out.strip() == "No config updates to processes"
    d.config_path.write_text(
        d.config_path.read_text().replace("rh_recorder:handle", "rh_recorder:other")
    )
    assert d.ctl("reread").out.strip() == "rh: changed"


def test_a_handler_module_that_fails_at_import_refuses_the_config_in_one_line(
    daemon_factory: DaemonFactory, tmp_path: Path
) -> None:
    """supervisord refuses it too, but with a traceback; supgrpcd names file, section, key."""
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "rh_recorder.py").write_text("raise RuntimeError('no database')\n")
    d = daemon_factory(PROGRAMS, start=False, env={"PYTHONPATH": str(modules)})
    outcomes = {}
    for argv in (
        [SUPGRPCD, "-c", str(d.config_path), "--no-grpc"],
        [SUPERVISORD, "-n", "-c", str(d.config_path)],
    ):
        outcomes[argv[0]] = subprocess.run(
            argv, capture_output=True, text=True, timeout=30, env=d.env, cwd=str(d.dir)
        )
    ours, theirs = outcomes[SUPGRPCD], outcomes[SUPERVISORD]
    assert theirs.returncode != 0 and "RuntimeError: no database" in theirs.stderr
    assert "Traceback" in theirs.stderr
    assert ours.returncode == 2 and ours.stdout == ""
    assert ours.stderr.count("\n") == 1 and "Traceback" not in ours.stderr
    assert ours.stderr.endswith(
        f"{d.config_path} [eventlistener:rh] result_handler: 'rh_recorder:handle' cannot be "
        "resolved (importing rh_recorder raised RuntimeError: no database)\n"
    )
