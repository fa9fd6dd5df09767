"""Listeners that misbehave (hang, crash, reject, flood) must cost only themselves.

Real supgrpcd, real listener processes (tests/fixtures/event_recorder.py, built on
supervisor.childutils), XML-RPC over the unix socket to inject REMOTE_COMMUNICATION events.
"""

from __future__ import annotations

import json
import time
import xmlrpc.client
from collections.abc import Callable
from typing import Any

from supervisor.xmlrpc import SupervisorTransport  # type: ignore[import-untyped]

from tests.support import PYTHON, Daemon, fixture, grpc_daemon, short_tmpdir, wait_until

HEADER = """
[unix_http_server]
file=%(here)s/s.sock
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
"""


def listener(name: str, mode: str, events: str = "REMOTE_COMMUNICATION", **keys: object) -> str:
    extra = "".join(f"{k}={v}\n" for k, v in keys.items())
    return (
        f"[eventlistener:{name}]\n"
        f"command={PYTHON} {fixture('event_recorder.py')} %(here)s/{name}.jsonl {mode}\n"
        f"events={events}\nstartsecs=0\n{extra}"
    )


def rpc(d: Daemon) -> Any:
    transport = SupervisorTransport(None, None, f"unix://{d.dir}/s.sock")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def recorded(d: Daemon, name: str) -> list[dict[str, Any]]:
    path = d.dir / f"{name}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def ready(d: Daemon, name: str) -> None:
    d.wait_log(f"{name}: ACKNOWLEDGED -> READY")


def start(daemon: Callable[..., Daemon], body: str) -> Daemon:
    d: Daemon = daemon(HEADER + body, loglevel="debug")
    return d


def test_a_hung_listener_overflows_only_its_own_pool(daemon: Callable[..., Daemon]) -> None:
    d = start(
        daemon, listener("stuck", "hang", buffer_size=2) + listener("rec", "ok", buffer_size=50)
    )
    ready(d, "stuck")
    ready(d, "rec")
    server = rpc(d)
    for i in range(10):
        assert server.supervisor.sendRemoteCommEvent("t", str(i)) is True
    wait_until(lambda: len(recorded(d, "rec")) == 10, 10, what="rec to get all ten events")
    assert [e["payload"] for e in recorded(d, "rec")] == [f"type:t\n{i}" for i in range(10)]
    # stuck holds event 0 in flight and keeps the newest two; the seven between are dropped,
    # each with supervisor's log line.
    wait_until(lambda: len(d.find_log("pool stuck event buffer overflowed")) == 7, 10, what=d.log)
    assert [
        int(m.group(1))
        for m in d.find_log(r"pool stuck event buffer overflowed, discarding event (\d+)")
    ] == list(range(1, 8))
    assert [e["payload"] for e in recorded(d, "stuck")] == ["type:t\n0"]
    assert len(d.spawned_pids("stuck")) == 1
    # The loop is not held up by the listener that does not read: control answers at once.
    began = time.monotonic()
    assert server.supervisor.getProcessInfo("stuck")["statename"] == "RUNNING"
    assert time.monotonic() - began < 5.0  # generous bound: it is one loop job


def test_a_listener_that_crashes_mid_event_gets_it_again(daemon: Callable[..., Daemon]) -> None:
    d = start(daemon, listener("crashy", "crash1"))
    ready(d, "crashy")
    assert rpc(d).supervisor.sendRemoteCommEvent("t", "once") is True
    wait_until(lambda: recorded(d, "crashy"), 10, what="the event after the restart")
    (event,) = recorded(d, "crashy")
    assert (event["headers"]["serial"], event["payload"]) == ("0", "type:t\nonce")
    assert len(d.spawned_pids("crashy")) == 2


def test_a_rejected_event_is_sent_again_with_the_same_serial(daemon: Callable[..., Daemon]) -> None:
    d = start(daemon, listener("picky", "fail1"))
    ready(d, "picky")
    server = rpc(d)
    server.supervisor.sendRemoteCommEvent("t", "a")
    server.supervisor.sendRemoteCommEvent("t", "b")
    wait_until(lambda: len(recorded(d, "picky")) == 4, 10, what="two events, each twice")
    got = [(e["headers"]["serial"], e["payload"]) for e in recorded(d, "picky")]
    assert got == [("0", "type:t\na"), ("0", "type:t\na"), ("1", "type:t\nb"), ("1", "type:t\nb")]
    assert len(d.find_log("picky: event was rejected")) == 2


def test_a_flooding_listener_goes_unknown_and_others_keep_their_events(
    daemon: Callable[..., Daemon],
) -> None:
    d = start(
        daemon,
        listener("flood", "flood", events="PROCESS_STATE")
        + listener("rec", "ok", events="PROCESS_STATE_EXITED")
        + "[program:job]\ncommand=/bin/sh -c 'exit 0'\nstartsecs=0\nautorestart=false\n"
        "autostart=false\n",
    )
    d.wait_log("flood: has entered the UNKNOWN state and will no longer receive events")
    ready(d, "rec")
    server = rpc(d)
    for _ in range(3):
        server.supervisor.startProcess("job", False)
        wait_until(lambda: server.supervisor.getProcessInfo("job")["statename"] == "EXITED", 10)
    wait_until(lambda: len(recorded(d, "rec")) == 3, 10, what="rec to see three exits")
    assert server.supervisor.getProcessInfo("flood")["statename"] == "RUNNING"


def test_watch_events_carries_supervisor_event_types_and_communications() -> None:
    from supgrpc.v1 import supervisor_pb2 as pb
    from supgrpc_client.output import event_line
    from supgrpc_client.types import Event as ClientEvent

    workdir = short_tmpdir()
    talk = "x<!--XSUPERVISOR:BEGIN-->hello<!--XSUPERVISOR:END-->y"
    d = grpc_daemon(
        workdir,
        f"""
        [unix_http_server]
        file = {workdir}/s.sock
        [rpcinterface:supervisor]
        supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
        [program:talker]
        command = /bin/sh -c "printf '{talk}'; exec sleep 100"
        startsecs = 0
        stdout_capture_maxbytes = 1KB
        [program:doomed]
        command = /bin/sh -c "exit 1"
        startsecs = 5
        startretries = 1
        """,
    )
    d.start()
    try:
        stub = d.stub()
        stream = stub.WatchEvents(pb.WatchEventsRequest(after_sequence=0))
        transport = SupervisorTransport(None, None, f"unix://{workdir}/s.sock")
        server = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
        got: list[Any] = []
        sent = False
        for event in stream:
            got.append(event)
            names = [e.supervisor_event for e in got]
            if not sent and "PROCESS_COMMUNICATION_STDOUT" in names:
                server.supervisor.sendRemoteCommEvent("kind", "body")
                sent = True
            if "REMOTE_COMMUNICATION" in names and "PROCESS_STATE_FATAL" in names:
                break
        stream.cancel()
    finally:
        d.close()
    names = [e.supervisor_event for e in got]
    assert names[:3] == [
        "PROCESS_GROUP_ADDED",
        "PROCESS_GROUP_ADDED",
        "SUPERVISOR_STATE_CHANGE_RUNNING",
    ]
    (comm,) = [e for e in got if e.WhichOneof("event") == "process_communication"]
    assert comm.process_communication.data == b"hello"
    assert comm.process_communication.namespec == "talker"
    assert comm.process_communication.stream == pb.LOG_STREAM_STDOUT
    (remote,) = [e for e in got if e.WhichOneof("event") == "remote_communication"]
    assert (remote.remote_communication.type, remote.remote_communication.data) == ("kind", "body")
    doomed = [
        (e.supervisor_event, e.process_state.tries)
        for e in got
        if e.WhichOneof("event") == "process_state" and e.process_state.name == "doomed"
    ]
    assert doomed == [
        ("PROCESS_STATE_STARTING", 0),
        ("PROCESS_STATE_BACKOFF", 1),
        ("PROCESS_STATE_STARTING", 1),
        ("PROCESS_STATE_BACKOFF", 2),
        ("PROCESS_STATE_FATAL", 0),
    ]
    # supgrpc-cli events renders the new kinds.
    line = event_line(ClientEvent.from_pb(comm))
    assert line.endswith("talker stdout communication: 'hello'")
    client_remote = ClientEvent.from_pb(remote)
    assert client_remote.supervisor_event == "REMOTE_COMMUNICATION"
    assert event_line(client_remote).endswith("remote communication kind: 'body'")


def test_listener_pools_come_and_go_with_config_updates(daemon: Callable[..., Daemon]) -> None:
    base = HEADER + "[program:a]\ncommand=/bin/sleep 100\nstartsecs=0\n"
    d: Daemon = daemon(base, loglevel="debug")
    wait_until(lambda: (d.dir / "s.sock").exists(), 10, what="the XML-RPC socket")
    server = rpc(d)
    rec = listener("rec", "ok", events="PROCESS_GROUP")
    d.write_config(base + rec)
    server.supervisor.reloadConfig()
    assert server.supervisor.addProcessGroup("rec") is True
    ready(d, "rec")
    late = "[program:late]\ncommand=/bin/sleep 100\nstartsecs=0\nautostart=false\n"
    d.write_config(base + rec + late)
    server.supervisor.reloadConfig()
    assert server.supervisor.addProcessGroup("late") is True
    assert server.supervisor.removeProcessGroup("late") is True
    wait_until(lambda: len(recorded(d, "rec")) == 3, 10, what=d.log)
    assert [e["payload"] for e in recorded(d, "rec")] == [
        "groupname:rec\n",  # a pool hears its own addition, as in supervisord
        "groupname:late\n",
        "groupname:late\n",
    ]
    assert [e["headers"]["eventname"] for e in recorded(d, "rec")][-1] == "PROCESS_GROUP_REMOVED"
    info = {p["name"]: p["statename"] for p in server.supervisor.getAllProcessInfo()}
    assert info == {"a": "RUNNING", "rec": "RUNNING"}
