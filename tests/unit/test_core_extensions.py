"""Container extensions in the core, through the fake runtime: dependencies, health checks,
critical programs, exit_when, restart policies."""

from __future__ import annotations

from collections.abc import Callable

from supervisor_grpc.core import Supervisor
from supervisor_grpc.model import (
    AutoRestart,
    DaemonSpec,
    DaemonState,
    ExitStatus,
    ExitWhen,
    GroupSpec,
    Health,
    HealthKind,
    HealthSpec,
    ProcessState,
    UnhealthyAction,
)
from tests.support.fakes import FakeRuntime, exit_, program, single, state

S = ProcessState


def make_with(*groups: GroupSpec, **daemon: object) -> tuple[Supervisor, FakeRuntime]:
    rt = FakeRuntime()
    spec = DaemonSpec(logfile=None, groups=groups, **daemon)  # type: ignore[arg-type]
    core = Supervisor(spec, clock=rt.clock, spawner=rt, reactor=rt, pipes=rt, reaper=rt.reap)
    core.add_initial_groups()
    return core, rt


def tick(core: Supervisor, rt: FakeRuntime, t: float) -> None:
    rt.now = t
    core.service(t)


class FakeProber:
    """Holds network probes until the test answers them."""

    def __init__(self) -> None:
        self.pending: list[Callable[[tuple[bool, str]], None]] = []
        self.asked: list[HealthSpec] = []

    def __call__(self, spec: HealthSpec, done: Callable[[tuple[bool, str]], None]) -> None:
        self.asked.append(spec)
        self.pending.append(done)

    def answer(self, ok: bool, text: str = "") -> None:
        self.pending.pop(0)((ok, text))


def test_dependent_waits_in_starting_with_a_description_then_starts() -> None:
    core, rt = make_with(
        single("web", startsecs=0, depends_on=("db",), priority=1),
        single("db", startsecs=1, priority=50),
    )
    core.autostart()
    web = core.find("web")
    assert state(core, "web") is S.STARTING and web.machine.pid == 0
    assert core.info(web).description == "waiting for db (STARTING)"
    assert [n for n, _ in rt.spawned] == ["db"]
    tick(core, rt, 1.0)  # db RUNNING -> web released in the same service pass
    assert [n for n, _ in rt.spawned] == ["db", "web"]
    assert state(core, "web") is S.RUNNING


def test_starting_a_dependent_starts_its_stopped_dependencies() -> None:
    core, _rt = make_with(
        single("web", startsecs=0, autostart=False, depends_on=("db",)),
        single("db", startsecs=0, autostart=False),
    )
    outcome = core.start_process(core.find("web"))
    assert outcome.error is None
    assert state(core, "db") is S.RUNNING
    core.service(0.0)
    assert state(core, "web") is S.RUNNING
    assert outcome.waiter is not None and outcome.waiter.result(0) is True


def test_stopping_a_dependency_stops_dependents_first() -> None:
    core, rt = make_with(single("web", startsecs=0, depends_on=("db",)), single("db", startsecs=0))
    core.autostart()
    core.service(0.0)
    pids = {n: core.find(n).machine.pid for n in ("web", "db")}
    outcome = core.stop_process(core.find("db"))
    assert [k[0] for k in rt.kills] == [pids["web"]]  # db not signalled yet
    exit_(core, rt, "web")
    assert [k[0] for k in rt.kills] == [pids["web"], pids["db"]]
    exit_(core, rt, "db")
    assert outcome.waiter is not None and outcome.waiter.result(0) is True


def test_shutdown_stops_dependents_before_dependencies_whatever_the_priority() -> None:
    core, rt = make_with(
        single("web", startsecs=0, depends_on=("db",), priority=1),
        single("db", startsecs=0, priority=999),
    )
    core.autostart()
    core.service(0.0)
    web_pid = core.find("web").machine.pid
    core.request_shutdown("test")
    assert [k[0] for k in rt.kills] == [web_pid]


def test_command_health_check_gates_dependents_and_reports_health() -> None:
    check = HealthSpec(HealthKind.COMMAND, "/bin/check", interval=2, timeout=1, retries=2)
    core, rt = make_with(
        single("db", startsecs=0, health=check),
        single("web", startsecs=0, depends_on=("db",)),
    )
    seen: list[Health] = []
    core.health_listeners.append(lambda p, h: seen.append(h))
    core.autostart()
    db = core.find("db")
    assert core.info(db).health is Health.STARTING
    assert core.service(0.0) == 2.0
    tick(core, rt, 2.0)  # the check runs as a child
    check_pid = rt.spawned[-1][1]
    assert rt.spawned[-1][0] == "db"
    assert state(core, "web") is S.STARTING and core.find("web").machine.pid == 0
    rt.exits.append((check_pid, ExitStatus(code=0)))
    core.service(2.1)
    assert core.info(db).health is Health.HEALTHY
    assert state(core, "web") is S.RUNNING
    assert seen == [Health.STARTING, Health.HEALTHY]


def test_network_check_failures_make_unhealthy_after_retries_and_restart() -> None:
    check = HealthSpec(
        HealthKind.TCP,
        "127.0.0.1:1",
        interval=1,
        timeout=1,
        retries=2,
        unhealthy_action=UnhealthyAction.RESTART,
    )
    core, rt = make_with(single("api", startsecs=0, health=check))
    offload = FakeProber()
    core.health.prober = offload
    seen: list[Health] = []
    core.health_listeners.append(lambda p, h: seen.append(h))
    core.autostart()
    first_pid = core.find("api").machine.pid
    tick(core, rt, 1.0)
    offload.answer(False, "refused")
    assert core.info(core.find("api")).health is Health.STARTING
    tick(core, rt, 2.0)
    offload.answer(False, "refused")
    assert seen == [Health.STARTING, Health.UNHEALTHY, Health.NONE]
    assert core.info(core.find("api")).health_output == "refused"
    assert state(core, "api") is S.STOPPING
    assert rt.kills[-1][0] == first_pid  # unhealthy_action=restart stops it...
    exit_(core, rt, "api", at=2.5)
    assert state(core, "api") is S.RUNNING  # ...and starts it again
    assert core.find("api").machine.pid != first_pid
    assert core.info(core.find("api")).health is Health.STARTING


def test_failures_during_start_period_do_not_count() -> None:
    check = HealthSpec(HealthKind.TCP, "h:1", interval=1, timeout=1, retries=1, start_period=5)
    core, rt = make_with(single("api", startsecs=0, health=check))
    offload = FakeProber()
    core.health.prober = offload
    core.autostart()
    tick(core, rt, 1.0)
    offload.answer(False)
    assert core.info(core.find("api")).health is Health.STARTING
    tick(core, rt, 6.0)
    offload.answer(False)
    assert core.info(core.find("api")).health is Health.UNHEALTHY


def test_critical_fatal_stops_everything_with_its_code() -> None:
    core, rt = make_with(
        single("vital", startsecs=1, startretries=0, critical=True),
        single("other", startsecs=0),
    )
    core.autostart()
    exit_(core, rt, "vital", code=3, at=0.5)
    assert state(core, "vital") is S.FATAL
    assert core.mood is DaemonState.SHUTDOWN
    assert core.exit_code == 3


def test_critical_exit_that_will_be_restarted_does_not_end_the_init() -> None:
    core, rt = make_with(single("vital", startsecs=0, critical=True))
    core.autostart()
    exit_(core, rt, "vital", code=1, at=5.0)  # unexpected: autorestart brings it back
    assert core.mood is DaemonState.RUNNING
    exit_(core, rt, "vital", code=0, at=9.0)  # expected: not restarted -> critical fires
    assert core.mood is DaemonState.SHUTDOWN
    assert core.exit_code == 1  # a critical program that ends fails the container


def test_exit_when_all_ends_with_zero_when_every_batch_job_succeeded() -> None:
    jobs = [single(n, startsecs=0, autorestart=AutoRestart.NEVER) for n in ("a", "b")]
    core, rt = make_with(*jobs, exit_when=ExitWhen.ALL)
    core.autostart()
    exit_(core, rt, "a", code=0)
    assert core.mood is DaemonState.RUNNING
    exit_(core, rt, "b", code=0)
    assert core.mood is DaemonState.SHUTDOWN and core.exit_code == 0


def test_exit_when_any_reports_the_first_programs_code() -> None:
    jobs = [single(n, startsecs=0, autorestart=AutoRestart.NEVER) for n in ("a", "b")]
    core, rt = make_with(*jobs, exit_when=ExitWhen.ANY)
    core.autostart()
    exit_(core, rt, "b", code=4)
    assert core.mood is DaemonState.SHUTDOWN and core.exit_code == 4


def test_restart_with_dependencies_restarts_dependents() -> None:
    core, rt = make_with(
        single("db", startsecs=0),
        single("web", startsecs=0, depends_on=("db",), restart_with_dependencies=True),
    )
    core.autostart()
    core.service(0.0)
    web_pid = core.find("web").machine.pid
    exit_(core, rt, "db", code=1, at=3.0)  # crash: db autorestarts
    assert rt.kills[-1][0] == web_pid
    exit_(core, rt, "web", at=3.1)
    core.service(3.1)
    assert state(core, "web") is S.RUNNING and core.find("web").machine.pid != web_pid


def test_group_dependency_and_unknown_at_runtime() -> None:
    grp = GroupSpec(
        "workers",
        5,
        (program("w1", group="workers", startsecs=0), program("w2", group="workers", startsecs=0)),
    )
    core, _rt = make_with(grp, single("lb", startsecs=0, depends_on=("workers:*",)))
    core.autostart()
    core.service(0.0)
    assert state(core, "lb") is S.RUNNING
    assert {p.name for p in core.deps(core.find("lb"))} == {"w1", "w2"}


def test_critical_program_held_by_a_dependency_that_gave_up_ends_the_init() -> None:
    core, rt = make_with(
        single("db", startsecs=1, startretries=0),
        single("web", startsecs=0, depends_on=("db",), critical=True),
    )
    core.autostart()
    assert core.find("web").machine.waiting
    exit_(core, rt, "db", code=7, at=0.5)  # too quickly, no retries: FATAL
    assert state(core, "db") is S.FATAL
    assert core.mood is DaemonState.SHUTDOWN
    assert core.exit_code == 7


def test_bound_dependents_are_the_running_ones_with_restart_with_dependencies() -> None:
    core, _rt = make_with(
        single("db", startsecs=0),
        single("web", startsecs=0, depends_on=("db",), restart_with_dependencies=True),
        single("cron", startsecs=0, depends_on=("db",)),
    )
    core.autostart()
    core.service(0.0)
    assert [p.name for p in core.bound_dependents([core.find("db")])] == ["web"]


def test_shutdown_of_a_chain_of_held_dependents_finishes_in_the_pass_that_stopped_them() -> None:
    """Regression (PID 1 hang, issue 10): a FATAL setup step with two programs chained behind
    it. Nothing of theirs runs, so no exit or deadline will wake the loop again: the service
    pass that began the shutdown must leave ``finished`` set, or the loop sleeps forever."""
    core, rt = make_with(
        single("setup", startsecs=1, startretries=0),
        single("migrate", startsecs=0, autorestart=AutoRestart.NEVER, depends_on=("setup",)),
        single("job", startsecs=0, autorestart=AutoRestart.NEVER, depends_on=("migrate",)),
        exit_when=ExitWhen.ALL,
    )
    core.autostart()
    exit_(core, rt, "setup", code=6, at=0.1)  # dies in STARTING -> BACKOFF -> FATAL
    assert state(core, "setup") is S.FATAL
    assert core.mood is DaemonState.SHUTDOWN and core.exit_code == 6
    assert state(core, "migrate") is S.STOPPED and state(core, "job") is S.STOPPED
    assert core.finished, "nothing is left to wake the loop: the init would hang here"
