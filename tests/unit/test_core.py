"""The core driven through a fake runtime: scripted spawns, hand-fed exits, no processes."""

from __future__ import annotations

import errno
import signal

import pytest

from supervisor_grpc.errors import (
    AbnormalTermination,
    AlreadyAdded,
    NoFile,
    NoSuchGroup,
    NoSuchProcess,
    NotRunning,
    ShuttingDown,
    SpawnError,
    StillRunning,
)
from supervisor_grpc.model import (
    AutoRestart,
    DaemonSpec,
    DaemonState,
    ExitStatus,
    GroupSpec,
    ProcessState,
)
from tests.support.fakes import exit_, make, program, single, state

S = ProcessState


def test_autostart_spawns_in_priority_order() -> None:
    core, rt = make(
        single("b", priority=20), single("a", priority=10), single("c", autostart=False)
    )
    core.autostart()
    assert [n for n, _ in rt.spawned] == ["a", "b"]
    assert state(core, "c") is S.STOPPED


def test_startsecs_deadline_drives_running_and_next_deadline() -> None:
    core, rt = make(single("a", startsecs=2))
    core.autostart()
    assert core.service(0.0) == 2.0
    rt.now = 2.0
    assert core.service(2.0) is None
    assert state(core, "a") is S.RUNNING


def test_idle_core_has_no_deadline() -> None:
    core, _rt = make(single("a", startsecs=0))
    core.autostart()
    assert state(core, "a") is S.RUNNING
    assert core.service(0.0) is None


def test_waiter_resolves_on_running_and_fails_on_backoff() -> None:
    core, rt = make(single("a", startsecs=1), single("b", startsecs=1))
    ok = core.start_process(core.find("a"))
    bad = core.start_process(core.find("b"))
    assert ok.waiter is not None and not ok.waiter.done()
    rt.now = 0.5
    exit_(core, rt, "b", code=1)
    assert bad.waiter is not None
    with pytest.raises(SpawnError, match="Exited too quickly"):
        bad.waiter.result(0)
    rt.now = 1.0
    core.service(1.0)
    assert ok.waiter.result(0) is True


def test_waited_start_that_exits_after_running_is_abnormal() -> None:
    core, rt = make(single("a", startsecs=1, autorestart=AutoRestart.NEVER))
    outcome = core.start_process(core.find("a"))
    rt.now = 1.5
    exit_(core, rt, "a", code=0)  # ran longer than startsecs: RUNNING then EXITED
    assert outcome.waiter is not None
    assert outcome.waiter.result(0) is True  # it did reach RUNNING first
    assert state(core, "a") is S.EXITED


def test_start_precheck_reports_missing_command_without_state_change() -> None:
    core, rt = make(single("a", autostart=False))
    rt.missing.add("a")
    outcome = core.start_process(core.find("a"))
    assert isinstance(outcome.error, NoFile)
    assert state(core, "a") is S.STOPPED
    assert rt.spawned == []


def test_autostart_with_missing_command_goes_fatal_like_supervisor() -> None:
    core, rt = make(single("a", startretries=2))
    rt.missing.add("a")
    core.autostart()
    assert state(core, "a") is S.BACKOFF
    for t in (1.0, 3.0):
        rt.now = t
        core.service(t)
    assert state(core, "a") is S.FATAL
    assert "can't find command" in core.find("a").machine.spawn_error


def test_spawn_failure_errno_becomes_backoff_not_a_crash() -> None:
    core, rt = make(single("a", startretries=0))
    rt.fail_spawn["a"] = SpawnError("too many open files to spawn 'a'")
    core.autostart()
    assert state(core, "a") is S.FATAL
    assert core.find("a").machine.spawn_error == "too many open files to spawn 'a'"


def test_exit_drains_pipes_before_exited_is_recorded() -> None:
    core, rt = make(single("a", startsecs=0, autorestart=AutoRestart.NEVER))
    core.autostart()
    proc = core.find("a")
    out_fd = next(fd for fd in rt.readers)
    rt.pipe_data[out_fd] = [b"last ", b"words\n", b""]
    seen: list[tuple[bytes, S]] = []
    core.listeners.append(lambda p, pub: seen.append((p.stdout.read(0).data, pub.to_state)))
    exit_(core, rt, "a", code=0)
    assert seen[-1] == (b"last words\n", S.EXITED)
    assert proc.stdout.end_offset == len(b"last words\n")
    assert out_fd not in rt.readers  # EOF closed and unregistered


def test_stop_kills_with_stopsignal_then_sigkill_at_deadline() -> None:
    core, rt = make(single("a", startsecs=0, stopwaitsecs=5, stopasgroup=True, killasgroup=True))
    core.autostart()
    pid = core.find("a").machine.pid
    outcome = core.stop_process(core.find("a"))
    assert rt.kills == [(pid, signal.SIGTERM, True)]
    assert core.service(0.0) == 5.0
    rt.now = 5.0
    core.service(5.0)
    assert rt.kills[-1] == (pid, signal.SIGKILL, True)
    exit_(core, rt, "a", code=0)
    assert state(core, "a") is S.STOPPED
    assert outcome.waiter is not None and outcome.waiter.result(0) is True


def test_stop_of_stopped_process_is_not_running() -> None:
    core, _ = make(single("a", autostart=False))
    assert isinstance(core.stop_process(core.find("a")).error, NotRunning)


def test_unknown_pid_is_reaped_and_ignored() -> None:
    core, rt = make(single("a", startsecs=0))
    core.autostart()
    rt.exits.append((4242, ExitStatus(code=0)))
    core.service(0.0)
    assert 4242 in rt.released
    assert state(core, "a") is S.RUNNING


def test_find_rules() -> None:
    grp = GroupSpec("g", 5, (program("x", group="g"), program("y", group="g")))
    core, _ = make(grp, single("solo"))
    assert core.find("g:x").name == "x"
    assert core.find("x").group == "g"  # unambiguous bare name
    assert core.find("solo").name == "solo"
    assert [p.name for p in core.find_targets("g:*")] == ["x", "y"]
    assert {p.name for p in core.find_targets("all")} == {"x", "y", "solo"}
    with pytest.raises(NoSuchGroup):
        core.find_targets("nope:*")
    with pytest.raises(NoSuchProcess):
        core.find("g:z")


def test_shutdown_stops_highest_priority_first_and_finishes() -> None:
    core, rt = make(
        single("low", startsecs=0, priority=1), single("high", startsecs=0, priority=50)
    )
    core.autostart()
    pids = {n: core.find(n).machine.pid for n in ("low", "high")}
    core.request_shutdown("test")
    assert [k[0] for k in rt.kills] == [pids["high"]]
    exit_(core, rt, "high")
    assert [k[0] for k in rt.kills] == [pids["high"], pids["low"]]
    assert not core.finished
    exit_(core, rt, "low")
    assert core.finished


def test_shutdown_stops_same_priority_in_parallel() -> None:
    core, rt = make(single("a", startsecs=0), single("b", startsecs=0))
    core.autostart()
    core.request_shutdown("test")
    assert len(rt.kills) == 2


def test_no_autorestart_during_shutdown_and_requests_refused() -> None:
    core, rt = make(
        single("a", startsecs=0, autorestart=AutoRestart.ALWAYS, priority=1),
        single("b", startsecs=0, priority=50),
    )
    core.autostart()
    core.request_shutdown("test")
    exit_(core, rt, "a", code=1)  # a dies on its own while b is being stopped
    assert state(core, "a") is S.EXITED
    assert len(rt.spawned) == 2
    with pytest.raises(ShuttingDown):
        core.start_process(core.find("a"))
    assert core.mood is DaemonState.SHUTDOWN


def test_second_shutdown_request_sigkills_what_is_stopping() -> None:
    core, rt = make(single("a", startsecs=0, stopwaitsecs=100))
    core.autostart()
    core.request_shutdown("first")
    rt.now = 1.0
    core.request_shutdown("second")
    assert rt.kills[-1][1] == signal.SIGKILL


def test_a_duplicate_shutdown_signal_at_once_does_not_escalate() -> None:
    core, rt = make(single("a", startsecs=0, stopwaitsecs=100))
    core.autostart()
    core.request_shutdown("first")
    rt.now = 0.01  # e.g. GNU timeout signals us and our process group
    core.request_shutdown("again")
    assert [k[1] for k in rt.kills] == [signal.SIGTERM]


def test_update_restarts_changed_keeps_unchanged_adds_and_removes() -> None:
    core, rt = make(
        single("same", startsecs=0), single("chg", startsecs=0), single("gone", startsecs=0)
    )
    core.autostart()
    same_pid = core.find("same").machine.pid
    new = DaemonSpec(
        logfile=None,
        groups=(
            single("same", startsecs=0),
            single("chg", startsecs=0, command="/bin/other"),
            single("new", startsecs=0),
        ),
    )
    core.latest = new
    diff = core.diff(new)
    assert (diff.added, diff.changed, diff.removed) == (("new",), ("chg",), ("gone",))
    done = core.update()
    assert state(core, "new") is S.RUNNING
    assert not done.done()
    exit_(core, rt, "chg")
    exit_(core, rt, "gone")
    assert done.result(0) == diff
    assert "gone" not in core.groups
    assert core.find("chg").spec.command == "/bin/other"
    assert state(core, "chg") is S.RUNNING
    assert core.find("same").machine.pid == same_pid


def test_add_and_remove_group_rules() -> None:
    core, _rt = make(single("a", startsecs=0))
    core.autostart()
    with pytest.raises(AlreadyAdded):
        core.add_group("a")
    with pytest.raises(StillRunning):
        core.remove_group("a")
    with pytest.raises(NoSuchProcess):
        core.add_group("zzz")


def test_send_stdin_writes_and_refuses_when_not_running() -> None:
    core, rt = make(single("a", startsecs=0), single("b", autostart=False))
    core.autostart()
    core.send_stdin(core.find("a"), b"hello\n")
    assert b"hello\n" in rt.written.values()
    with pytest.raises(NotRunning):
        core.send_stdin(core.find("b"), b"x")


def test_restart_request_while_stopping_resolves_start_waiter_on_running() -> None:
    core, rt = make(single("a", startsecs=0))
    core.autostart()
    core.stop_process(core.find("a"))
    outcome = core.start_process(core.find("a"))
    assert outcome.error is None and outcome.waiter is not None
    exit_(core, rt, "a")
    assert state(core, "a") is S.RUNNING
    assert outcome.waiter.result(0) is True


def test_kill_failure_goes_unknown() -> None:
    core, rt = make(single("a", startsecs=0))
    core.autostart()

    def failing_kill(pid: int, signum: int, as_group: bool, tree: bool = False) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    rt.kill = failing_kill  # type: ignore[method-assign]
    core.stop_process(core.find("a"))
    assert state(core, "a") is S.UNKNOWN


def test_abnormal_termination_when_process_stops_during_start() -> None:
    core, rt = make(single("a", startsecs=5))
    outcome = core.start_process(core.find("a"))
    core.stop_process(core.find("a"))
    exit_(core, rt, "a")
    assert outcome.waiter is not None
    with pytest.raises(AbnormalTermination):
        outcome.waiter.result(0)
