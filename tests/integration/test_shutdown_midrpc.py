"""A shutdown signal in the middle of every RPC: the init exits in bounded time, with status
0, every client gets a clean answer, and the main log has no traceback.

Every RPC of SupervisorService (checked against the proto) is started against a daemon whose
shutdown takes ``STOPWAIT`` seconds (see midrpc_harness), then the daemon gets SIGTERM, SIGINT,
or SIGTERM and a second SIGTERM while the first shutdown is waiting. An RPC that takes time
(start/stop/restart with wait, Update, a follower stream) is caught in flight; one that is
quick is called over and over from before the signal until the daemon is gone, so some of
its calls land in every phase of the shutdown.

A clean answer for gRPC is the RPC's normal result, a domain status that says why (the
shutdown: FAILED_PRECONDITION), or the transport's UNAVAILABLE/CANCELLED once the server goes
away; never DEADLINE_EXCEEDED (a hang), UNKNOWN or INTERNAL (a crash).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from supgrpc.v1 import supervisor_pb2 as pb
from supgrpc.v1 import supervisor_pb2_grpc as pb_grpc

from tests.support import Daemon
from tests.support.midrpc_cases import (
    CASES,
    EXTRA_STREAMS,
    LATE,
    InFlight,
    run_in_flight,
    run_repeated,
)
from tests.support.midrpc_harness import (
    BOUND,
    CLIENT_TIMEOUT,
    PROGRAMS,
    XMLRPC,
    assert_clean_logs,
    channel,
    daemons,
    grpc_outcome,
    signal_params,
)


@pytest.fixture
def midrpc() -> Iterator[Callable[..., Daemon]]:
    yield from daemons()


def test_every_rpc_of_the_service_has_a_case() -> None:
    service = pb.DESCRIPTOR.services_by_name["SupervisorService"]
    assert set(CASES) == {m.name for m in service.methods}


@pytest.mark.parametrize(
    ("rpc", "sigs"),
    [
        # Calls in flight meet both a shutdown and a second signal during it.
        *signal_params(
            (n for n, c in CASES.items() if isinstance(c, InFlight)),
            every=("SIGTERM", "SIGTERM-twice"),
            sampled=("StopProcess", "TailLog"),
        ),
        *signal_params(EXTRA_STREAMS, every=("SIGTERM", "SIGTERM-twice"), sampled=()),
        # Quick calls repeated across the shutdown: the signal hardly matters to them.
        *signal_params(
            (n for n, c in CASES.items() if not isinstance(c, InFlight)),
            every=("SIGTERM",),
            sampled=("GetState",),
        ),
    ],
)
def test_shutdown_in_the_middle_of_a_grpc_call(
    midrpc: Callable[..., Daemon], rpc: str, sigs: tuple[int, ...]
) -> None:
    config = XMLRPC + PROGRAMS + (LATE if rpc == "AddGroup" else "")
    d = midrpc(config)
    case = CASES.get(rpc) or EXTRA_STREAMS[rpc]
    with channel(d) as ch:
        stub = pb_grpc.SupervisorServiceStub(ch)
        if isinstance(case, InFlight):
            outcomes = {run_in_flight(d, stub, case, sigs)}
        else:
            outcomes = run_repeated(d, stub, case, sigs)
    assert outcomes <= case.allowed, f"{rpc}: {outcomes} not within {set(case.allowed)}"
    assert_clean_logs(d)


def test_a_health_watch_sees_not_serving_then_ends_and_does_not_delay_the_exit(
    midrpc: Callable[..., Daemon],
) -> None:
    # gRPC clients with client-side health checking hold a Watch open for as long as they
    # are connected. It used to stay open after NOT_SERVING until the server stop's grace
    # ran out and cut it (UNAVAILABLE): every exit waited that grace (1 s) for nothing.
    # NOT_SERVING comes as soon as the shutdown begins (programs may still be stopping);
    # the stream ends when the gRPC front-end stops.
    d = midrpc()
    statuses: list[str] = []
    with channel(d) as ch:
        watch = health_pb2_grpc.HealthStub(ch).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=CLIENT_TIMEOUT
        )
        statuses.append(health_pb2.HealthCheckResponse.ServingStatus.Name(next(watch).status))
        d.send(signal.SIGTERM)

        def rest() -> None:
            for m in watch:
                statuses.append(health_pb2.HealthCheckResponse.ServingStatus.Name(m.status))

        outcome = grpc_outcome(rest)
        assert d.wait(BOUND) == 0
    assert statuses == ["SERVING", "NOT_SERVING"]
    assert outcome == "OK"  # ended by the servicer when the front-end stops, not cut off
    assert_clean_logs(d)
