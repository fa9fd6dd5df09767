"""Each error becomes its status code through the one interceptor, never UNKNOWN; per-process
failures of start/stop/signal come back as result codes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from supgrpc.v1 import supervisor_pb2 as pb

from supervisor_grpc import errors
from supervisor_grpc.frontends.grpc.interceptors import (
    ERROR_METADATA_KEY,
    Abort,
    ErrorInterceptor,
    status_for,
)
from tests.support import Daemon, grpc_daemon, script, short_tmpdir
from tests.support.grpc_clients import wait_state

pytestmark = pytest.mark.integration

STUBBORN = """
    import signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(1000)
"""


def _programs(workdir: str, stubborn_arg: str = "") -> str:
    stubborn = script(workdir, "stubborn", STUBBORN)
    return f"""
        [program:stopped]
        command = /bin/cat
        autostart = false
        startsecs = 0

        [program:running]
        command = /bin/sleep 1000
        startsecs = 0

        [program:nolog]
        command = /bin/sleep 1000
        startsecs = 0
        stdout_logfile = NONE

        [program:crasher]
        command = /bin/sh -c "exit 1"
        autostart = false
        startsecs = 1
        startretries = 0

        [program:slowstart]
        command = /bin/sleep 1000
        autostart = false
        startsecs = 3

        [program:missing]
        command = /nonexistent/binary
        autostart = false

        [program:stubborn]
        command = {stubborn} {stubborn_arg}
        startsecs = 0
        stopwaitsecs = 1
    """


@pytest.fixture(scope="module")
def grpcd() -> Iterator[Daemon]:
    workdir = short_tmpdir()
    d = grpc_daemon(workdir, _programs(workdir))
    d.start()
    wait_state(d.stub(), "running", pb.PROCESS_STATE_RUNNING)
    yield d
    d.close()


def _code(call: Any) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    with pytest.raises(grpc.RpcError) as info:
        result = call()
        if hasattr(result, "__next__"):
            next(result)
    exc = info.value
    return exc.code(), exc.details(), dict(exc.trailing_metadata() or ())


def test_not_found(grpcd: Daemon) -> None:
    stub = grpcd.stub()
    code, details, md = _code(lambda: stub.GetProcess(pb.GetProcessRequest(process="nope")))
    assert code is grpc.StatusCode.NOT_FOUND and "nope" in details
    assert md[ERROR_METADATA_KEY] == "BAD_NAME"
    for call in (
        lambda: stub.StartProcess(pb.StartProcessRequest(target="nope")),
        lambda: stub.StopProcess(pb.StopProcessRequest(target="nogroup:*")),
        lambda: stub.TailLog(pb.TailLogRequest(processes=["nope"])),
        lambda: stub.TailLog(pb.TailLogRequest(processes=["nothing*"])),
        lambda: stub.ReadLog(pb.ReadLogRequest(process="nolog")),  # NoFile
        lambda: stub.RemoveGroup(pb.RemoveGroupRequest(group="nope")),
    ):
        assert _code(call)[0] is grpc.StatusCode.NOT_FOUND


def test_failed_precondition(grpcd: Daemon) -> None:
    stub = grpcd.stub()
    cases = {
        "NOT_RUNNING": lambda: stub.WriteStdin(pb.WriteStdinRequest(process="stopped", data=b"x")),
        "ALREADY_ADDED": lambda: stub.AddGroup(pb.AddGroupRequest(group="running")),
        "STILL_RUNNING": lambda: stub.RemoveGroup(pb.RemoveGroupRequest(group="running")),
    }
    for fault, call in cases.items():
        code, _, md = _code(call)
        assert code is grpc.StatusCode.FAILED_PRECONDITION
        assert md[ERROR_METADATA_KEY] == fault


def test_unreadable_config_on_reread_is_failed_precondition(grpcd: Daemon) -> None:
    good = grpcd.config_path.read_text()
    try:
        grpcd.config_path.write_text(good + "\n[program:broken]\nautostart = maybe\n")
        code, details, md = _code(lambda: grpcd.stub().Reread(pb.RereadRequest()))
        assert code is grpc.StatusCode.FAILED_PRECONDITION and "broken" in details
        assert md[ERROR_METADATA_KEY] == "CANT_REREAD"
    finally:
        grpcd.config_path.write_text(good)


def test_invalid_argument(grpcd: Daemon) -> None:
    stub = grpcd.stub()
    for call in (
        lambda: stub.SignalProcess(pb.SignalProcessRequest(target="running", name="BOGUS")),
        lambda: stub.SignalProcess(pb.SignalProcessRequest(target="running", number=999)),
        lambda: stub.SignalProcess(pb.SignalProcessRequest(target="running")),
        lambda: stub.GetProcess(pb.GetProcessRequest()),
        lambda: stub.StartProcess(pb.StartProcessRequest()),
        lambda: stub.ReadLog(pb.ReadLogRequest(process="running", offset=-10, length=5)),
        lambda: stub.TailLog(pb.TailLogRequest()),
    ):
        assert _code(call)[0] is grpc.StatusCode.INVALID_ARGUMENT


def test_per_process_result_codes(grpcd: Daemon) -> None:
    stub = grpcd.stub()
    results = {}
    for target in ("crasher", "missing"):
        reply = stub.StartProcess(pb.StartProcessRequest(target=target, wait=True), timeout=15)
        results[target] = reply.results[0]
    assert results["crasher"].code == pb.RESULT_CODE_SPAWN_ERROR
    assert results["missing"].code == pb.RESULT_CODE_NO_FILE
    assert "nonexistent" in results["missing"].message
    slow = stub.StartProcess(
        pb.StartProcessRequest(target="slowstart", wait=True, timeout=Duration(nanos=300_000_000))
    )
    assert slow.results[0].code == pb.RESULT_CODE_TIMEOUT
    stub.StopProcess(pb.StopProcessRequest(target="slowstart", wait=True), timeout=10)


def test_update_past_its_timeout_is_deadline_exceeded(grpcd: Daemon) -> None:
    good = grpcd.config_path.read_text()
    grpcd.write_config(_programs(str(grpcd.dir), stubborn_arg="changed"))
    try:
        code, _, md = _code(
            lambda: grpcd.stub().Update(
                pb.UpdateRequest(groups=["stubborn"], timeout=Duration(nanos=300_000_000)),
                timeout=10,
            )
        )
        assert code is grpc.StatusCode.DEADLINE_EXCEEDED
        assert md[ERROR_METADATA_KEY] == "TIMEOUT"
    finally:
        grpcd.config_path.write_text(good)


# ---- the interceptor itself (no grpcd) ---------------------------------------------------


class FakeContext:
    def __init__(self) -> None:
        self.aborted: tuple[grpc.StatusCode, str] | None = None
        self.trailing: Any = ()

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.aborted = (code, details)
        raise grpc.aio.AbortError()  # what grpc.aio does

    def code(self) -> grpc.StatusCode | None:
        return self.aborted[0] if self.aborted else None

    def set_trailing_metadata(self, md: Any) -> None:
        self.trailing = md


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.NoSuchProcess("x"), grpc.StatusCode.NOT_FOUND),
        (errors.NoSuchGroup("x"), grpc.StatusCode.NOT_FOUND),
        (errors.NoFile("x"), grpc.StatusCode.NOT_FOUND),
        (errors.AlreadyStarted("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (errors.NotRunning("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (errors.ShuttingDown("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (errors.StillRunning("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (errors.AlreadyAdded("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (errors.CantReread("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (errors.ConfigError("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (errors.BadSignal("x"), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.BadArgument("x"), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.Timeout("x"), grpc.StatusCode.DEADLINE_EXCEEDED),
        (errors.SpawnError("x"), grpc.StatusCode.ABORTED),
        (errors.AbnormalTermination("x"), grpc.StatusCode.ABORTED),
        (errors.Failed("x"), grpc.StatusCode.INTERNAL),
        (Abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "x"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (RuntimeError("boom"), grpc.StatusCode.INTERNAL),
        (KeyError("k"), grpc.StatusCode.INTERNAL),
    ],
)
def test_status_table(error: Exception, code: grpc.StatusCode) -> None:
    assert status_for(error)[0] is code


def _handler_for(kind: str, behavior: Any) -> Any:
    details = type("D", (), {"method": "/supgrpc.v1.SupervisorService/X"})()
    if kind == "unary":
        handler = grpc.unary_unary_rpc_method_handler(behavior)
    else:
        handler = grpc.unary_stream_rpc_method_handler(behavior)

    async def continuation(_: Any) -> Any:
        return handler

    return asyncio.run(ErrorInterceptor().intercept_service(continuation, details))


def test_unexpected_exception_is_internal_not_unknown() -> None:
    async def boom(request: Any, context: Any) -> Any:
        raise RuntimeError("boom")

    async def boom_stream(request: Any, context: Any) -> AsyncIterator[int]:
        yield 1
        raise ZeroDivisionError("stream boom")

    ctx = FakeContext()
    with pytest.raises(grpc.aio.AbortError):
        asyncio.run(_handler_for("unary", boom).unary_unary(None, ctx))
    assert ctx.aborted == (grpc.StatusCode.INTERNAL, "internal error: RuntimeError: boom")

    ctx = FakeContext()
    seen: list[Any] = []
    handler = _handler_for("stream", boom_stream)

    async def consume() -> None:
        async for item in handler.unary_stream(None, ctx):
            seen.append(item)

    with pytest.raises(grpc.aio.AbortError):
        asyncio.run(consume())
    assert seen == [1]
    assert ctx.aborted is not None and ctx.aborted[0] is grpc.StatusCode.INTERNAL
    assert "ZeroDivisionError" in ctx.aborted[1]


def test_domain_error_carries_its_fault_name() -> None:
    async def missing(request: Any, context: Any) -> Any:
        raise errors.NoSuchProcess("web")

    ctx = FakeContext()
    with pytest.raises(grpc.aio.AbortError):
        asyncio.run(_handler_for("unary", missing).unary_unary(None, ctx))
    assert ctx.aborted == (grpc.StatusCode.NOT_FOUND, "BAD_NAME: web")
    assert ctx.trailing == ((ERROR_METADATA_KEY, "BAD_NAME"),)
