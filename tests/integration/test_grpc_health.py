"""grpc.health.v1: ``""`` for the whole init, ``program:NAME`` per process."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from supgrpc.v1 import supervisor_pb2 as pb
from supgrpc.v1 import supervisor_pb2_grpc as pb_grpc

from tests.support import Daemon, free_port, grpc_daemon, running, script, short_tmpdir, wait_until
from tests.support.grpc_clients import RPC_ERRORS, TOKEN, wait_state

pytestmark = pytest.mark.integration

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# Takes a few seconds to stop, so the test has a wide window in which the init is shutting
# down but still answering (0.5 s was too narrow on a loaded machine). startsecs=1 makes
# RUNNING mean "the SIGTERM handler is installed": Python needs a moment to get there.
SLOW_STOP = """
    import signal, sys, time
    signal.signal(signal.SIGTERM, lambda *a: (time.sleep(3), sys.exit(0)))
    time.sleep(1000)
"""


@pytest.fixture(scope="module")
def grpcd() -> Iterator[Daemon]:
    programs = """
        [program:web]
        command = /bin/sleep 1000
        startsecs = 0

        [program:later]
        command = /bin/sleep 1000
        startsecs = 0
        autostart = false

        [program:checked]
        command = /bin/sleep 1000
        startsecs = 0
        healthcheck_command = /bin/sh -c "test -e %(here)s/checked.ok"
        healthcheck_interval = 0.1
        healthcheck_timeout = 2
        healthcheck_retries = 1

        [group:pool]
        programs = p1

        [program:p1]
        command = /bin/sleep 1000
        startsecs = 0
    """
    with running(programs) as d:
        yield d


def _check(d: Daemon, service: str) -> int:
    stub = health_pb2_grpc.HealthStub(d.channel())
    return int(stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status)


def _wait_health(d: Daemon, service: str, status: int) -> None:
    name = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
    wait_until(
        lambda: _check(d, service) == status,
        timeout=10,
        what=f"{service!r} to be {name}",
        retry_on=RPC_ERRORS,
    )


def test_running_programs_are_serving(grpcd: Daemon) -> None:
    _wait_health(grpcd, "program:web", SERVING)
    _wait_health(grpcd, "program:pool:p1", SERVING)
    _wait_health(grpcd, "program:later", NOT_SERVING)


def test_unknown_service_is_not_found(grpcd: Daemon) -> None:
    with pytest.raises(grpc.RpcError) as info:
        _check(grpcd, "program:nope")
    assert info.value.code() is grpc.StatusCode.NOT_FOUND


def test_program_follows_its_state_and_watch_sees_it(grpcd: Daemon) -> None:
    stub = grpcd.stub()
    health = health_pb2_grpc.HealthStub(grpcd.channel())
    watch = health.Watch(health_pb2.HealthCheckRequest(service="program:later"))
    seen: list[int] = []

    def collect() -> None:
        try:
            for reply in watch:
                seen.append(int(reply.status))
        except grpc.RpcError:
            pass

    reader = threading.Thread(target=collect)
    reader.start()
    wait_until(lambda: seen == [NOT_SERVING], what="the first Watch answer", retry_on=RPC_ERRORS)
    stub.StartProcess(pb.StartProcessRequest(target="later", wait=True), timeout=10)
    _wait_health(grpcd, "program:later", SERVING)
    stub.StopProcess(pb.StopProcessRequest(target="later", wait=True), timeout=10)
    _wait_health(grpcd, "program:later", NOT_SERVING)
    wait_until(lambda: seen[-1:] == [NOT_SERVING] and SERVING in seen, retry_on=RPC_ERRORS)
    watch.cancel()
    reader.join(5)


def test_added_group_gets_a_status(grpcd: Daemon) -> None:
    with open(grpcd.config_path, "a") as fh:
        fh.write("\n[program:fresh]\ncommand=/bin/sleep 1000\nautostart=false\n")
    stub = grpcd.stub()
    stub.Reread(pb.RereadRequest(), timeout=10)
    stub.AddGroup(pb.AddGroupRequest(group="fresh"), timeout=10)
    _wait_health(grpcd, "program:fresh", NOT_SERVING)


def test_init_is_not_serving_while_shutting_down() -> None:
    workdir = short_tmpdir()
    slow = script(workdir, "slow_stop", SLOW_STOP)
    d = grpc_daemon(
        workdir, f"[program:slow]\ncommand = {slow}\nstartsecs = 1\nstopwaitsecs = 10\n"
    )
    d.start()
    try:
        stub = d.stub()
        wait_state(stub, "slow", pb.PROCESS_STATE_RUNNING)
        _wait_health(d, "", SERVING)
        stub.Shutdown(pb.ShutdownRequest(), timeout=5)
        wait_until(
            lambda: _check(d, "") == NOT_SERVING,
            timeout=5,
            what="the init to report NOT_SERVING",
            retry_on=RPC_ERRORS,
        )
        assert d.wait(15) == 0
    finally:
        d.close()


def test_program_health_check_decides_serving(grpcd: Daemon) -> None:
    stub = grpcd.stub()
    events = stub.WatchEvents(
        pb.WatchEventsRequest(
            after_sequence=0, processes=["checked"], kinds=[pb.EVENT_KIND_PROGRAM_HEALTH]
        )
    )
    wait_state(stub, "checked", pb.PROCESS_STATE_RUNNING)
    # RUNNING, but its own check fails: not serving.
    wait_until(
        lambda: (
            stub.GetProcess(pb.GetProcessRequest(process="checked"), timeout=5).process.health
            == pb.PROGRAM_HEALTH_UNHEALTHY
        ),
        retry_on=RPC_ERRORS,
    )
    _wait_health(grpcd, "program:checked", NOT_SERVING)
    # Readiness of the whole init waits for every autostart program to be healthy
    # (`later` is not autostart, so it does not count).
    assert _check(grpcd, "") == NOT_SERVING
    (grpcd.dir / "checked.ok").write_text("")
    _wait_health(grpcd, "program:checked", SERVING)
    _wait_health(grpcd, "", SERVING)
    info = stub.GetProcess(pb.GetProcessRequest(process="checked"), timeout=5).process
    assert info.health == pb.PROGRAM_HEALTH_HEALTHY
    seen = []
    for event in events:
        seen.append(event.program_health.health)
        if event.program_health.health == pb.PROGRAM_HEALTH_HEALTHY:
            break
    events.cancel()
    assert seen[-2:] == [pb.PROGRAM_HEALTH_UNHEALTHY, pb.PROGRAM_HEALTH_HEALTHY]
    assert event.program_health.namespec == "checked"


def test_health_only_listener_needs_no_token_and_serves_nothing_else() -> None:
    """[grpc] health_listen: what Kubernetes' native gRPC probes can reach."""
    health_port = free_port()
    workdir = short_tmpdir()
    d = grpc_daemon(
        workdir,
        "[program:web]\ncommand = /bin/sleep 1000\nstartsecs = 0\n",
        grpc_section=(
            f"listen = unix://{workdir}/g.sock\ntoken = {TOKEN}\n"
            f"health_listen = 0.0.0.0:{health_port}\n"
        ),
    )
    d.start(wait=False)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{health_port}")
        probe = health_pb2_grpc.HealthStub(channel)

        def ready() -> bool:
            try:
                reply = probe.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
            except grpc.RpcError:
                return False
            return bool(reply.status == SERVING)

        wait_until(
            ready, timeout=10, what="the health-only port to report SERVING", retry_on=RPC_ERRORS
        )
        reply = probe.Check(health_pb2.HealthCheckRequest(service="program:web"), timeout=5)
        assert reply.status == SERVING
        control = pb_grpc.SupervisorServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            control.GetState(pb.GetStateRequest(), timeout=5)
        assert info.value.code() is grpc.StatusCode.UNIMPLEMENTED
        channel.close()
    finally:
        d.stop()
