"""Every SupervisorService RPC, end to end against a real supgrpcd, over a unix socket and
over TCP on loopback (both listeners of one daemon; the token is required on both)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from supgrpc.v1 import supervisor_pb2 as pb

from tests.support import Daemon, grpc_daemon, short_tmpdir, wait_until
from tests.support.grpc_clients import RPC_ERRORS, TOKEN, auth, wait_state, with_metadata

pytestmark = pytest.mark.integration

PROGRAMS = """
[program:cat]
command = /bin/cat
startsecs = 0

[program:sleeper]
command = /bin/sleep 1000
startsecs = 0
autostart = false

[group:grp]
programs = w1,w2

[program:w1]
command = /bin/sleep 1000
startsecs = 0

[program:w2]
command = /bin/sleep 1000
startsecs = 0
"""


BASE = ["cat", "grp:w1", "grp:w2", "sleeper"]


@pytest.fixture(scope="module")
def grpcd() -> Iterator[Daemon]:
    with grpc_daemon(short_tmpdir(), PROGRAMS, token=TOKEN, tcp=True) as d:
        yield d.start()


class Conn:
    """A raw stub with the token attached to every call."""

    def __init__(self, grpcd: Daemon, address: str, transport: str) -> None:
        self.grpcd = grpcd
        self.transport = transport
        self._stub = grpcd.stub(address)
        self.md = auth()

    def __getattr__(self, rpc: str) -> Any:
        method = getattr(self._stub, rpc)

        def call(request: Any, **kw: Any) -> Any:
            kw.setdefault("metadata", self.md)
            if rpc not in ("TailLog", "WatchEvents"):
                kw.setdefault("timeout", 20)
            return method(request, **kw)

        return call


@pytest.fixture(params=["unix", "tcp"])
def conn(request: pytest.FixtureRequest, grpcd: Daemon) -> Conn:
    address = grpcd.unix_address if request.param == "unix" else grpcd.tcp_address
    return Conn(grpcd, address, request.param)


def _state(conn: Conn, name: str) -> int:
    return int(conn.GetProcess(pb.GetProcessRequest(process=name)).process.state)


def test_get_state(conn: Conn) -> None:
    reply = conn.GetState(pb.GetStateRequest())
    assert reply.state == pb.DAEMON_STATE_RUNNING
    assert reply.version
    assert reply.pid == conn.grpcd.proc.pid  # type: ignore[union-attr]
    assert reply.identifier == "supervisor"
    assert reply.config_file == str(conn.grpcd.config_path)
    assert abs(reply.start_time.seconds - time.time()) < 600


def test_list_and_get_process(conn: Conn) -> None:
    wait_until(lambda: _state(conn, "grp:w1") == pb.PROCESS_STATE_RUNNING, retry_on=RPC_ERRORS)
    names = [p.namespec for p in conn.ListProcesses(pb.ListProcessesRequest()).processes]
    # Sorted by group, then name; later tests may have added groups of their own.
    assert [n for n in names if n in BASE] == BASE and names == sorted(names)
    only = conn.ListProcesses(pb.ListProcessesRequest(patterns=["grp:*"])).processes
    assert [p.namespec for p in only] == ["grp:w1", "grp:w2"]
    info = conn.GetProcess(pb.GetProcessRequest(process="w1")).process
    assert (info.name, info.group, info.namespec) == ("w1", "grp", "grp:w1")
    assert info.state == pb.PROCESS_STATE_RUNNING and info.pid > 0
    assert info.description.startswith(f"pid {info.pid}, uptime ")
    assert info.HasField("start_time") and not info.HasField("exit_status")
    assert info.stdout_logfile.startswith(str(conn.grpcd.dir))
    assert info.resources.rss_bytes > 0


def test_start_stop_restart_with_results(conn: Conn) -> None:
    started = conn.StartProcess(pb.StartProcessRequest(target="sleeper", wait=True)).results
    assert [(r.process, r.code) for r in started] == [("sleeper", pb.RESULT_CODE_OK)]
    assert _state(conn, "sleeper") == pb.PROCESS_STATE_RUNNING
    again = conn.StartProcess(pb.StartProcessRequest(target="sleeper", wait=True)).results
    assert again[0].code == pb.RESULT_CODE_ALREADY_STARTED and again[0].message
    pid = conn.GetProcess(pb.GetProcessRequest(process="sleeper")).process.pid
    restarted = conn.RestartProcess(pb.RestartProcessRequest(target="sleeper", wait=True))
    assert restarted.results[0].code == pb.RESULT_CODE_OK
    assert conn.GetProcess(pb.GetProcessRequest(process="sleeper")).process.pid != pid
    stopped = conn.StopProcess(pb.StopProcessRequest(target="sleeper", wait=True)).results
    assert stopped[0].code == pb.RESULT_CODE_OK
    info = conn.GetProcess(pb.GetProcessRequest(process="sleeper")).process
    assert info.state == pb.PROCESS_STATE_STOPPED
    assert info.exit_status.WhichOneof("kind") == "signal" and info.HasField("stop_time")
    not_running = conn.StopProcess(pb.StopProcessRequest(target="sleeper", wait=True)).results
    assert not_running[0].code == pb.RESULT_CODE_NOT_RUNNING


def test_group_targets_and_timeout(conn: Conn) -> None:
    timeout = Duration(seconds=10)
    stopped = conn.StopProcess(
        pb.StopProcessRequest(target="grp:*", wait=True, timeout=timeout)
    ).results
    assert [r.process for r in stopped] == ["grp:w1", "grp:w2"]
    assert all(r.code == pb.RESULT_CODE_OK for r in stopped)
    started = conn.StartProcess(
        pb.StartProcessRequest(target="grp:*", wait=True, timeout=timeout)
    ).results
    assert {r.code for r in started} == {pb.RESULT_CODE_OK}


def test_signal_by_name_and_number(conn: Conn) -> None:
    wait_until(lambda: _state(conn, "grp:w1") == pb.PROCESS_STATE_RUNNING, retry_on=RPC_ERRORS)
    by_name = conn.SignalProcess(pb.SignalProcessRequest(target="grp:w1", name="CONT"))
    assert by_name.results[0].code == pb.RESULT_CODE_OK
    by_number = conn.SignalProcess(pb.SignalProcessRequest(target="grp:*", number=18))
    assert [r.code for r in by_number.results] == [pb.RESULT_CODE_OK] * 2
    stopped = conn.SignalProcess(pb.SignalProcessRequest(target="sleeper", name="HUP"))
    assert stopped.results[0].code == pb.RESULT_CODE_NOT_RUNNING


def test_write_stdin_then_read_and_tail_log(conn: Conn) -> None:
    marker = f"hello over {conn.transport} {time.monotonic_ns()}\n".encode()
    conn.WriteStdin(pb.WriteStdinRequest(process="cat", data=marker))

    def echoed() -> bool:
        reply = conn.ReadLog(pb.ReadLogRequest(process="cat", offset=-4096))
        return marker in reply.data

    wait_until(echoed, what="cat to echo stdin", retry_on=RPC_ERRORS)
    reply = conn.ReadLog(pb.ReadLogRequest(process="cat", stream=pb.LOG_STREAM_STDOUT))
    assert marker in reply.data and reply.file_size >= len(reply.data)
    head = conn.ReadLog(pb.ReadLogRequest(process="cat", offset=0, length=3))
    assert len(head.data) == 3
    chunks = list(conn.TailLog(pb.TailLogRequest(processes=["cat"], tail_lines=1)))
    assert b"".join(c.data for c in chunks) == marker
    assert {(c.process, c.stream) for c in chunks} == {("cat", pb.LOG_STREAM_STDOUT)}
    daemon_log = conn.ReadLog(pb.ReadLogRequest(process="", offset=-2000))
    assert b"spawned: 'cat'" in daemon_log.data or daemon_log.file_size > 0


def test_clear_log(conn: Conn) -> None:
    conn.WriteStdin(pb.WriteStdinRequest(process="cat", data=b"to be cleared\n"))
    wait_until(lambda: conn.ReadLog(pb.ReadLogRequest(process="cat")).data, retry_on=RPC_ERRORS)
    reply = conn.ClearLog(pb.ClearLogRequest(process="cat"))
    assert [(r.process, r.code) for r in reply.results] == [("cat", pb.RESULT_CODE_OK)]
    assert conn.ReadLog(pb.ReadLogRequest(process="cat")).data == b""
    every = conn.ClearLog(pb.ClearLogRequest(process="*"))
    cleared = [r.process for r in every.results]
    assert [n for n in cleared if n in BASE] == BASE
    assert {r.code for r in every.results} == {pb.RESULT_CODE_OK}


def test_tail_main_log_and_reopen(conn: Conn) -> None:
    conn.ReopenLogs(pb.ReopenLogsRequest())
    chunks = list(conn.TailLog(pb.TailLogRequest(streams=[pb.LOG_STREAM_MAIN], tail_bytes=4096)))
    text = b"".join(c.data for c in chunks)
    assert b"spawned" in text and all(c.process == "" for c in chunks)
    assert all(c.stream == pb.LOG_STREAM_MAIN for c in chunks)


def test_watch_events_sees_a_restart(conn: Conn) -> None:
    stream = conn.WatchEvents(
        pb.WatchEventsRequest(
            after_sequence=0, processes=["grp:w2"], kinds=[pb.EVENT_KIND_PROCESS_STATE]
        )
    )
    conn.RestartProcess(pb.RestartProcessRequest(target="grp:w2", wait=True))
    seen: list[Any] = []
    for event in stream:
        assert event.WhichOneof("event") == "process_state"
        assert event.process_state.namespec == "grp:w2" and event.HasField("time")
        seen.append(event)
        if (
            len(seen) >= 4
            and seen[-1].process_state.to_state == pb.PROCESS_STATE_RUNNING
            and any(e.process_state.to_state == pb.PROCESS_STATE_STOPPED for e in seen)
        ):
            break
    stream.cancel()
    seqs = [e.sequence for e in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def _append(grpcd: Daemon, text: str) -> None:
    with open(grpcd.config_path, "a") as fh:
        fh.write(text)


def test_reread_add_remove_update(conn: Conn) -> None:
    t = conn.transport
    _append(
        conn.grpcd,
        f"\n[program:extra_{t}]\ncommand=/bin/sleep 1000\nstartsecs=0\nautostart=false\n",
    )
    diff = conn.Reread(pb.RereadRequest())
    assert f"extra_{t}" in diff.added and not diff.removed
    conn.AddGroup(pb.AddGroupRequest(group=f"extra_{t}"))
    assert _state(conn, f"extra_{t}") == pb.PROCESS_STATE_STOPPED
    conn.RemoveGroup(pb.RemoveGroupRequest(group=f"extra_{t}"))
    with pytest.raises(grpc.RpcError) as info:
        conn.GetProcess(pb.GetProcessRequest(process=f"extra_{t}"))
    assert info.value.code() is grpc.StatusCode.NOT_FOUND

    _append(conn.grpcd, f"\n[program:upd_{t}]\ncommand=/bin/sleep 1000\nstartsecs=0\n")
    applied = conn.Update(pb.UpdateRequest(groups=[f"upd_{t}"], timeout=Duration(seconds=10)))
    assert list(applied.added) == [f"upd_{t}"]
    wait_until(lambda: _state(conn, f"upd_{t}") == pb.PROCESS_STATE_RUNNING, retry_on=RPC_ERRORS)


def test_reflection_lists_services(conn: Conn) -> None:
    address = conn.grpcd.unix_address if conn.transport == "unix" else conn.grpcd.tcp_address
    channel = with_metadata(conn.grpcd.channel(address), auth())
    services = ProtoReflectionDescriptorDatabase(channel).get_services()
    assert "supgrpc.v1.SupervisorService" in services
    assert "grpc.health.v1.Health" in services


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_shutdown(transport: str) -> None:
    workdir = short_tmpdir()
    program = "[program:s]\ncommand=/bin/sleep 1000\nstartsecs=0\n"
    d = grpc_daemon(workdir, program, token=TOKEN, tcp=True).start()
    try:
        stub = d.stub(d.unix_address if transport == "unix" else d.tcp_address)
        wait_state(stub, "s", pb.PROCESS_STATE_RUNNING, auth())
        stub.Shutdown(pb.ShutdownRequest(), metadata=auth(), timeout=5)
        assert d.wait(10) == 0
        assert "shutdown requested through the API" in d.log()
    finally:
        d.close()


def test_waits_outstanding_at_shutdown_are_answered() -> None:
    """Issue 11, item 2: a start waiting for RUNNING (no timeout, no deadline) when the daemon
    shuts down gets an answer, and the daemon still exits promptly."""
    workdir = short_tmpdir()
    d = grpc_daemon(
        workdir, "[program:slow]\ncommand=/bin/sleep 1000\nstartsecs=60\nautostart=false\n"
    )
    d.start()
    try:
        stub = d.stub()
        pending = stub.StartProcess.future(pb.StartProcessRequest(target="slow", wait=True))
        wait_state(stub, "slow", pb.PROCESS_STATE_STARTING)
        assert not pending.done()
        assert d.proc is not None
        t0 = time.monotonic()
        d.proc.terminate()
        assert d.wait(15) == 0
        reply = pending.result(timeout=15)  # answered (per-process result), not hanging
        assert [r.process for r in reply.results] == ["slow"]
        assert reply.results[0].code != pb.RESULT_CODE_OK, reply
        assert time.monotonic() - t0 < 15
    finally:
        d.close()
