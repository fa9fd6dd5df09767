"""Event listeners with real clients, side by side with supervisord 4.3.0.

Each scenario runs on supgrpcd and on real supervisord with the same config: a
``supervisor.childutils`` recorder, superlance's crashmail (with a fake sendmail) and memmon, a
watchdog that shuts the daemon down on PROCESS_STATE_FATAL. Event names, their order per
process, header keys and payload keys must be the same on both.
"""

from __future__ import annotations

import json
import re
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import BIN, wait_until
from tests.support.daemon import DaemonFactory

RECORDER = str(Path(__file__).resolve().parents[1] / "fixtures" / "event_recorder.py")
PY = sys.executable
BOTH = pytest.mark.parametrize("real", [False, True], ids=["supgrpcd", "supervisord"])


def recorder(events: str, mode: str = "ok", name: str = "rec") -> str:
    return (
        f"\n[eventlistener:{name}]\ncommand={PY} {RECORDER} {{dir}}/{name}.jsonl {mode}\n"
        f"events={events}\nstderr_logfile={{dir}}/{name}.err\n"
    )


def recorded(d: Any, name: str = "rec") -> list[dict[str, Any]]:
    path = d.dir / f"{name}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def payload_keys(event: dict[str, Any]) -> list[str]:
    first = event["payload"].split("\n", 1)[0]
    return [kv.split(":", 1)[0] for kv in first.split()]


def shape(events: list[dict[str, Any]], process: str | None = None) -> list[tuple[str, ...]]:
    """(eventname, payload keys...) for the events about ``process`` (all when None)."""
    out = []
    for e in events:
        if process is not None and f"processname:{process} " not in e["payload"]:
            continue
        out.append((e["headers"]["eventname"], *payload_keys(e)))
    return out


def run_both(factory: DaemonFactory, programs: str, done: Any) -> dict[bool, Any]:
    """Run ``programs`` on both daemons until ``done(daemon)``; returns {real: daemon}."""
    out = {}
    for real in (False, True):
        d = factory(programs, real=real)
        wait_until(lambda d=d: done(d), 20, f"events on {'supervisord' if real else 'supgrpcd'}")
        d.rpc().supervisor.shutdown()
        assert d.proc is not None and d.proc.wait(20) == 0
        out[real] = d
    return out


PROGRAM_EVENTS = (
    "PROCESS_STATE,PROCESS_GROUP,SUPERVISOR_STATE_CHANGE,PROCESS_LOG,PROCESS_COMMUNICATION"
)
QUICK = """
[program:quick]
command=/bin/sh -c "sleep 0.5; echo hello; exit 3"
startsecs=0
autorestart=false
stdout_events_enabled=true
"""


def test_a_childutils_listener_gets_the_same_events_as_from_supervisord(
    daemon_factory: DaemonFactory,
) -> None:
    def done(d: Any) -> bool:
        return any(
            e["headers"]["eventname"] == "PROCESS_STATE_EXITED" for e in recorded(d)
        ) and any("processname:rec " in e["payload"] for e in recorded(d)[3:])

    runs = run_both(daemon_factory, recorder(PROGRAM_EVENTS) + QUICK, done)
    ours, theirs = recorded(runs[False]), recorded(runs[True])
    # Start-up: the groups in priority order, then RUNNING, before any process event.
    assert (
        shape(ours)[:3]
        == shape(theirs)[:3]
        == [
            ("PROCESS_GROUP_ADDED", "groupname"),
            ("PROCESS_GROUP_ADDED", "groupname"),
            ("SUPERVISOR_STATE_CHANGE_RUNNING",),
        ]
    )
    assert shape(ours, "quick") == shape(theirs, "quick")
    assert [n for n, *_ in shape(ours, "quick")] == [
        "PROCESS_STATE_STARTING",
        "PROCESS_STATE_RUNNING",
        "PROCESS_LOG_STDOUT",
        "PROCESS_STATE_EXITED",
    ]
    assert shape(ours, "rec") == shape(theirs, "rec")
    for events in (ours, theirs):
        serials = [int(e["headers"]["serial"]) for e in events]
        assert serials == list(range(len(events)))  # one pool: nothing skipped
        assert all(e["headers"]["poolserial"] == e["headers"]["serial"] for e in events)
        assert {tuple(sorted(e["headers"])) for e in events} == {
            ("eventname", "len", "pool", "poolserial", "serial", "server", "ver")
        }

    def texts(events: list[dict[str, Any]]) -> list[str]:
        return [
            re.sub(r"pid:\d+", "pid:N", e["payload"])
            for e in events
            if "processname:quick " in e["payload"]
        ]

    assert texts(ours) == texts(theirs)
    assert texts(ours)[-1] == (
        "processname:quick groupname:quick from_state:RUNNING expected:0 pid:N"
    )
    for run in runs.values():
        env = recorded(run)[0]["env"]
        assert env["SUPERVISOR_ENABLED"] == "1"
        assert env["SUPERVISOR_PROCESS_NAME"] == env["SUPERVISOR_GROUP_NAME"] == "rec"
        assert env["SUPERVISOR_SERVER_URL"] == f"unix://{run.dir}/s.sock"


TALK = "a<!--XSUPERVISOR:BEGIN-->hi there<!--XSUPERVISOR:END-->b\\n"
CAPTURE = f"""
[program:talker]
command=/bin/sh -c "sleep 0.5; printf '{TALK}'; exec sleep 100"
startsecs=0
stdout_capture_maxbytes=1MB
stdout_logfile={{dir}}/talker.log
"""


def test_capture_mode_and_remote_communication_as_supervisord(
    daemon_factory: DaemonFactory,
) -> None:
    sent: set[str] = set()

    def done(d: Any) -> bool:
        names = [e["headers"]["eventname"] for e in recorded(d)]
        if "PROCESS_COMMUNICATION_STDOUT" in names and str(d.dir) not in sent:
            sent.add(str(d.dir))
            assert d.rpc().supervisor.sendRemoteCommEvent("mytype", "line1\nline2") is True
        return "REMOTE_COMMUNICATION" in names

    runs = run_both(
        daemon_factory, recorder("PROCESS_COMMUNICATION,REMOTE_COMMUNICATION") + CAPTURE, done
    )
    for run in runs.values():
        events = recorded(run)
        comm = [e for e in events if e["headers"]["eventname"] == "PROCESS_COMMUNICATION_STDOUT"]
        assert [re.sub(r"pid:\d+", "pid:N", e["payload"]) for e in comm] == [
            "processname:talker groupname:talker pid:N\nhi there"
        ]
        remote = [e for e in events if e["headers"]["eventname"] == "REMOTE_COMMUNICATION"]
        assert [e["payload"] for e in remote] == ["type:mytype\nline1\nline2"]
        # supervisord holds output after a capture until more than a token's length (22
        # bytes) has arrived; we release it at once (documented difference).
        assert (run.dir / "talker.log").read_text() == ("a" if run.real else "ab\n")


@BOTH
def test_a_childutils_watchdog_stops_the_daemon_on_fatal(
    daemon_factory: DaemonFactory, real: bool
) -> None:
    programs = recorder("PROCESS_STATE_FATAL", "fatal", "watchdog") + (
        "\n[program:doomed]\ncommand=/bin/sh -c 'sleep 0.3; exit 1'\nstartsecs=5\nstartretries=1\n"
    )
    d = daemon_factory(programs, real=real)
    assert d.proc is not None and d.proc.wait(30) == 0
    (event,) = recorded(d, "watchdog")
    assert event["headers"]["eventname"] == "PROCESS_STATE_FATAL"
    assert event["payload"] == "processname:doomed groupname:doomed from_state:BACKOFF"


@BOTH
def test_superlance_crashmail_mails_an_unexpected_exit(
    daemon_factory: DaemonFactory, real: bool, tmp_path: Path
) -> None:
    mailbox = tmp_path / "mail.txt"
    sendmail = tmp_path / "sendmail.sh"
    sendmail.write_text(f"#!/bin/sh\ncat >> {mailbox}\n")
    sendmail.chmod(0o755)
    programs = f"""
[eventlistener:crashmail]
command={BIN}/crashmail -a -m ops@example.com -s {sendmail}
events=PROCESS_STATE_EXITED
[program:crashy]
command=/bin/sh -c "sleep 1.5; exit 2"
startsecs=0
autorestart=false
"""
    d = daemon_factory(programs, real=real)
    text = wait_until(lambda: mailbox.exists() and mailbox.read_text(), 20, "crashmail's mail")
    pid = d.rpc().supervisor.getProcessInfo("crashy")["pid"] or r"\d+"
    assert re.fullmatch(
        r"To: ops@example.com\nSubject:  crashy crashed at .+\n\n"
        rf"Process crashy in group crashy exited unexpectedly \(pid {pid}\) from state RUNNING",
        text,
    ), text


@BOTH
def test_superlance_memmon_restarts_a_program_over_its_rss_limit(
    daemon_factory: DaemonFactory, real: bool
) -> None:
    hog = f'{PY} -c "b = bytearray(60 << 20); import time; time.sleep(1000)"'
    programs = f"""
[eventlistener:memmon]
command={BIN}/memmon -p hog=20MB
events=TICK_5
[program:hog]
command={hog}
startsecs=0
"""
    d = daemon_factory(programs, real=real)
    d.wait_state("hog", "RUNNING")
    first = d.rpc().supervisor.getProcessInfo("hog")["pid"]
    wait_until(
        lambda: d.rpc().supervisor.getProcessInfo("hog")["pid"] not in (0, first),
        20,
        "memmon to restart hog",
    )
    assert d.rpc().supervisor.getProcessInfo("memmon")["statename"] == "RUNNING"


@BOTH
def test_listeners_show_in_status_like_programs(daemon_factory: DaemonFactory, real: bool) -> None:
    d = daemon_factory(recorder("PROCESS_STATE") + QUICK, real=real)
    d.wait_state("rec", "RUNNING")
    info = d.rpc().supervisor.getProcessInfo("rec")
    assert (info["name"], info["group"], info["statename"]) == ("rec", "rec", "RUNNING")
    lines = d.ctl("status", "rec").out.splitlines()
    assert re.fullmatch(r"rec\s+RUNNING\s+pid \d+, uptime \S+", lines[0]), lines


LIFECYCLE = """
[program:doomed]
command=/bin/sh -c 'sleep 0.2; exit 1'
startsecs=5
startretries=1
[program:sleeper]
command=/bin/sleep 100
startsecs=0
"""


def test_retries_stop_and_fatal_payloads_match_supervisord(daemon_factory: DaemonFactory) -> None:
    stopped: set[str] = set()

    def done(d: Any) -> bool:
        names = [tuple(x) for x in shape(recorded(d), "sleeper")]
        running = ("PROCESS_STATE_RUNNING", "processname", "groupname", "from_state", "pid")
        if running in names and str(d.dir) not in stopped:
            stopped.add(str(d.dir))
            d.rpc().supervisor.stopProcess("sleeper")
        fatal = any(e["headers"]["eventname"] == "PROCESS_STATE_FATAL" for e in recorded(d))
        return fatal and any(n[0] == "PROCESS_STATE_STOPPED" for n in names)

    runs = run_both(daemon_factory, recorder("PROCESS_STATE") + LIFECYCLE, done)

    def texts(events: list[dict[str, Any]], name: str) -> list[str]:
        return [
            re.sub(r"pid:\d+", "pid:N", e["headers"]["eventname"] + " " + e["payload"])
            for e in events
            if f"processname:{name} " in e["payload"]
        ]

    ours, theirs = recorded(runs[False]), recorded(runs[True])
    assert texts(ours, "doomed") == texts(theirs, "doomed")
    assert texts(ours, "sleeper") == texts(theirs, "sleeper")
    assert texts(ours, "doomed") == [
        "PROCESS_STATE_STARTING processname:doomed groupname:doomed from_state:STOPPED tries:0",
        "PROCESS_STATE_BACKOFF processname:doomed groupname:doomed from_state:STARTING tries:1",
        "PROCESS_STATE_STARTING processname:doomed groupname:doomed from_state:BACKOFF tries:1",
        "PROCESS_STATE_BACKOFF processname:doomed groupname:doomed from_state:STARTING tries:2",
        "PROCESS_STATE_FATAL processname:doomed groupname:doomed from_state:BACKOFF",
    ]
    assert texts(ours, "sleeper")[-2:] == [
        "PROCESS_STATE_STOPPING processname:sleeper groupname:sleeper from_state:RUNNING pid:N",
        "PROCESS_STATE_STOPPED processname:sleeper groupname:sleeper from_state:STOPPING pid:N",
    ]


SLOW_STOP = """
[program:slow]
command=/bin/sh -c "trap 'sleep 1; exit 0' TERM; sleep 100 & wait"
startsecs=0
"""


@BOTH
def test_shutdown_is_announced_to_listeners_still_running(
    daemon_factory: DaemonFactory, real: bool
) -> None:
    d = daemon_factory(recorder("SUPERVISOR_STATE_CHANGE") + SLOW_STOP, real=real)
    wait_until(lambda: len(recorded(d)) == 1, 10, "the RUNNING event")
    d.wait_state("slow", "RUNNING")
    d.rpc().supervisor.shutdown()
    assert d.proc is not None and d.proc.wait(20) == 0
    assert [e["headers"]["eventname"] for e in recorded(d)] == [
        "SUPERVISOR_STATE_CHANGE_RUNNING",
        "SUPERVISOR_STATE_CHANGE_STOPPING",
    ]


def test_listener_config_info_matches_supervisord(daemon_factory: DaemonFactory) -> None:
    infos = {}
    for real in (False, True):
        d = daemon_factory(recorder("PROCESS_STATE", name="rec") + "numprocs=1\n", real=real)
        d.wait_state("rec", "RUNNING")
        (info,) = d.rpc().supervisor.getAllConfigInfo()
        infos[real] = {
            k: str(v).replace(str(d.dir), "DIR") for k, v in info.items() if "logfile" not in k
        }
        infos[real]["logfile keys"] = str(sorted(k for k in info if "logfile" in k))
    assert infos[False] == infos[True]
    assert (infos[False]["group_prio"], infos[False]["process_prio"]) == ("-1", "999")


@BOTH
def test_superlance_httpok_restarts_a_program_whose_url_fails(
    daemon_factory: DaemonFactory, real: bool
) -> None:
    with socket.socket() as s:  # a port nothing listens on: every GET fails at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    programs = f"""
[eventlistener:httpok]
command={BIN}/httpok -p web -t 2 http://127.0.0.1:{port}/
events=TICK_5
[program:web]
command=/bin/sleep 1000
startsecs=0
"""
    d = daemon_factory(programs, real=real)
    d.wait_state("web", "RUNNING")
    first = d.rpc().supervisor.getProcessInfo("web")["pid"]
    wait_until(
        lambda: d.rpc().supervisor.getProcessInfo("web")["pid"] not in (0, first),
        20,
        "httpok to restart web",
    )
