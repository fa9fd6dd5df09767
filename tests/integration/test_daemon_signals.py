"""supgrpcd's signal policy in supervisor mode: shutdown, reload, and what it ignores."""

from __future__ import annotations

import itertools
import re
import signal
import time

import pytest

from tests.support import fixture_command, is_alive, wait_until

SLEEPERS = """
[program:alpha]
command=sleep 1000
startsecs=0
[program:beta]
command=sleep 1000
startsecs=0
"""


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT], ids=lambda s: signal.Signals(s).name
)
def test_exit_request_signals_stop_every_program_and_exit_0(daemon, sig):
    d = daemon(SLEEPERS)
    pids = [d.wait_spawned("alpha"), d.wait_spawned("beta")]
    assert d.stop(sig) == 0
    log = d.log()
    assert f"received {signal.Signals(sig).name} indicating exit request" in log
    assert "stopped: alpha (terminated by SIGTERM)" in log
    assert "stopped: beta (terminated by SIGTERM)" in log
    assert not any(is_alive(p) for p in pids)


def _dies_slowly(name: str, seconds: float) -> str:
    # On SIGTERM: say so in the program's log, take `seconds` to clean up, exit 0.
    script = (
        f'trap "echo {name} got TERM; sleep {seconds}; exit 0" TERM; '
        "echo up; while :; do sleep 0.05; done"
    )
    return f"""
command=sh -c '{script}'
stdout_logfile=%(here)s/{name}.log
startsecs=0
"""


def test_shutdown_stops_in_reverse_priority_order_one_level_at_a_time(daemon):
    # The first to stop (highest priority) takes longest to die: if all were signalled at
    # once, the lowest would be logged as stopped first.
    d = daemon(
        "[program:low]\npriority=10\n"
        + _dies_slowly("low", 0)
        + "[program:mid]\npriority=20\n"
        + _dies_slowly("mid", 0.2)
        + "[program:high]\npriority=30\n"
        + _dies_slowly("high", 0.4)
    )
    for name in ("low", "mid", "high"):
        d.wait_running(name)
        wait_until(lambda name=name: "up" in d.program_log(f"{name}.log"))
    assert d.stop() == 0
    log = d.log()
    starts = [m.group(1) for m in re.finditer(r"spawned: '(\w+)'", log)]
    assert starts == ["low", "mid", "high"]
    stops = [m.group(1) for m in re.finditer(r"stopped: (\w+) \(exit status 0\)", log)]
    assert stops == ["high", "mid", "low"]
    waits = re.findall(r"waiting for (\w+) to die", log)
    assert waits == ["high", "mid", "low"]


def test_group_priority_orders_the_shutdown_too(daemon):
    d = daemon(
        "[group:late]\nprograms=l1,l2\npriority=900\n"
        "[program:l1]\n"
        + _dies_slowly("l1", 0.3)
        + "[program:l2]\n"
        + _dies_slowly("l2", 0.3)
        + "[program:early]\npriority=1\n"
        + _dies_slowly("early", 0)
    )
    for name in ("l1", "l2", "early"):
        wait_until(lambda name=name: "up" in d.program_log(f"{name}.log"))
    assert d.stop() == 0
    stops = re.findall(r"stopped: (\w+) \(exit status 0\)", d.log())
    assert stops[-1] == "early"
    assert sorted(stops[:2]) == ["l1", "l2"]


def test_a_second_exit_request_kills_what_is_still_stopping(daemon):
    d = daemon(
        f"""
[program:stubborn]
command={fixture_command("ignore_term.py")}
stdout_logfile=%(here)s/stubborn.log
startsecs=0
stopwaitsecs=60
"""
    )
    wait_until(lambda: "ready" in d.program_log("stubborn.log"))
    d.send(signal.SIGTERM)
    d.wait_log(r"waiting for stubborn to die")
    d.send(signal.SIGTERM)  # at once: a duplicate delivery, not a second request
    d.wait_log(r"already shutting down")
    assert "killing remaining programs" not in d.log()
    t0 = time.monotonic()
    # One request at a time, each answered in the log before the next is sent: requests
    # inside ESCALATE_AFTER_SECONDS say "already shutting down", the first after it kills.
    # No SIGTERM is ever sent once the daemon has begun to exit.
    for answered in itertools.count(2):
        d.send(signal.SIGTERM)
        d.wait_log(r"already shutting down|killing remaining programs", count=answered)
        if "killing remaining programs" in d.log():
            break
        assert time.monotonic() - t0 < 10, "a later request never escalated"
    assert d.wait(10) == 0
    assert time.monotonic() - t0 < 30  # SIGKILL, long before stopwaitsecs=60
    assert "stopped: stubborn (terminated by SIGKILL)" in d.log()


def test_sighup_reload_restarts_changed_keeps_unchanged_adds_and_removes(daemon):
    v1 = """
[program:keep]
command=sleep 1000
startsecs=0
[program:change]
command=sh -c 'echo v1; exec sleep 1000'
stdout_logfile=%(here)s/change.log
startsecs=0
[program:remove]
command=sleep 1000
startsecs=0
"""
    v2 = """
[program:keep]
command=sleep 1000
startsecs=0
[program:change]
command=sh -c 'echo v2; exec sleep 1000'
stdout_logfile=%(here)s/change.log
startsecs=0
[program:added]
command=sleep 1000
startsecs=0
"""
    d = daemon(v1)
    keep = d.wait_spawned("keep")
    change = d.wait_spawned("change")
    remove = d.wait_spawned("remove")
    # Spawned is not yet "said v1": a reload that stops it before its shell runs `echo`
    # leaves only "v2" in the log, and the check below times out (a loaded machine does it).
    wait_until(lambda: d.program_log("change.log") == "v1\n")
    d.write_config(v2)
    d.send(signal.SIGHUP)
    d.wait_log(r"received SIGHUP indicating a reload request")
    d.wait_running("added")
    d.wait_spawned("change", count=2)
    d.wait_log(r"stopped: remove \(terminated by SIGTERM\)")
    wait_until(lambda: d.program_log("change.log") == "v1\nv2\n")
    assert d.spawned_pids("keep") == [keep] and is_alive(keep)
    assert not is_alive(remove)
    wait_until(lambda: not is_alive(change))
    assert d.stop() == 0
    log = d.log()
    assert "stopped: keep" in log and "stopped: added" in log
    assert log.count("stopped: remove") == 1


def test_sighup_with_an_invalid_config_keeps_the_running_one(daemon):
    good = """
[program:steady]
command=sleep 1000
startsecs=0
"""
    d = daemon(good)
    pid = d.wait_spawned("steady")
    d.write_config(good + "startretries=lots\n[program:new]\ncommand=sleep 1000\n")
    d.send(signal.SIGHUP)
    refused = d.wait_log(r"ERRO reload refused, keeping the running configuration: (.*)")
    message = refused[0].group(1)
    assert str(d.config_path) in message and "startretries" in message
    assert d.running and is_alive(pid)
    # The old config is still in force: a later valid reload works from it.
    d.write_config(good + "[program:later]\ncommand=sleep 1000\nstartsecs=0\n")
    d.send(signal.SIGHUP)
    d.wait_running("later")
    assert d.spawned_pids("steady") == [pid]
    assert "spawned: 'new'" not in d.log()


def test_other_signals_are_ignored_in_supervisor_mode(daemon):
    d = daemon(SLEEPERS, loglevel="debug")
    alpha = d.wait_spawned("alpha")
    for sig in (signal.SIGUSR1, signal.SIGALRM, signal.SIGWINCH, signal.SIGCONT):
        d.send(sig)
    d.wait_log(r"received SIGCONT indicating nothing")
    assert d.running and is_alive(alpha)
    assert d.spawned_pids("alpha") == [alpha]
