"""The streaming RPCs: TailLog (follow across rotation, multiplexing, slow and fast followers,
cancellation and slots) and WatchEvents (order, falling behind)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from supgrpc.v1 import supervisor_pb2 as pb
from supgrpc.v1 import supervisor_pb2_grpc as pb_grpc

from supervisor_grpc.frontends.grpc import server as grpc_server
from supervisor_grpc.frontends.grpc.interceptors import Abort
from supervisor_grpc.frontends.grpc.streams import (
    LogSource,
    StreamSlots,
    Wakeups,
    follow_events,
    follow_logs,
)
from supervisor_grpc.logstore import EventJournal, LogChannel
from tests.support import Daemon, grpc_daemon, running, script, short_tmpdir
from tests.support.grpc_clients import wait_state

pytestmark = pytest.mark.integration

COUNTER = """
    import itertools, sys, time
    for i in itertools.count():
        sys.stdout.write("%08d\\n" % i)
        if i % 50 == 0:
            time.sleep(0.005)
"""
# 40,000 lines of 100 bytes (4 MB, four times the 1 MiB ring) in 32 kB bursts every 10 ms:
# about 3 MB/s, easy for a reader that keeps up, impossible to hold for one that does not.
SPEWER_LINES = 40_000
SPEWER = """
    import sys, time
    pad = "x" * 90
    for burst in range(125):
        sys.stdout.write("".join("%08d %s\\n" % (i, pad)
                                 for i in range(burst * 320, (burst + 1) * 320)))
        time.sleep(0.01)
    sys.stdout.write("END\\n")
    time.sleep(1000)
"""
TICKER = """
    import itertools, sys, time
    for i in itertools.count():
        print("%s %d" % (sys.argv[1], i))
        print("%s err %d" % (sys.argv[1], i), file=sys.stderr)
        time.sleep(0.05)
"""


@pytest.fixture(scope="module")
def grpcd() -> Iterator[Daemon]:
    workdir = short_tmpdir()
    counter = script(workdir, "counter", COUNTER)
    spewer = script(workdir, "spewer", SPEWER)
    ticker = script(workdir, "ticker", TICKER)
    programs = f"""
        [program:counter]
        command = {counter}
        startsecs = 0
        stdout_logfile = {workdir}/counter.log
        stdout_logfile_maxbytes = 16KB
        stdout_logfile_backups = 2

        [program:spewer]
        command = {spewer}
        startsecs = 0
        autostart = false

        [program:ticker_a]
        command = {ticker} a
        startsecs = 0

        [program:ticker_b]
        command = {ticker} b
        startsecs = 0

        [program:watched]
        command = /bin/sleep 1000
        startsecs = 1
        autostart = false
    """
    d = grpc_daemon(workdir, programs)
    d.start()
    yield d
    d.close()


def _lines_of(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def test_follow_has_no_gap_no_duplicate_across_rotation(grpcd: Daemon) -> None:
    stub = grpcd.stub()
    wait_state(stub, "counter", pb.PROCESS_STATE_RUNNING)
    stream = stub.TailLog(pb.TailLogRequest(processes=["counter"], tail_bytes=0, follow=True))
    received = bytearray()
    expected_offset: int | None = None
    for chunk in stream:
        assert chunk.WhichOneof("content") == "data", f"unexpected gap of {chunk.gap}"
        if expected_offset is not None:
            assert chunk.offset == expected_offset
        expected_offset = chunk.offset + len(chunk.data)
        received += chunk.data
        if len(received) > 60_000:  # > 3 rotations of 16 kB
            break
    stream.cancel()
    lines = _lines_of(bytes(received))[1:-1]  # the first and last may be partial
    numbers = [int(line) for line in lines]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    assert os.path.exists(f"{grpcd.dir}/counter.log.1"), "the log never rotated"


def test_multiplexed_follow_keeps_each_stream_in_order(grpcd: Daemon) -> None:
    stub = grpcd.stub()
    stream = stub.TailLog(
        pb.TailLogRequest(
            processes=["ticker_*"],
            streams=[pb.LOG_STREAM_STDOUT, pb.LOG_STREAM_STDERR],
            tail_lines=1,
            follow=True,
        )
    )
    per: dict[tuple[str, int], bytearray] = {}
    for chunk in stream:
        per.setdefault((chunk.process, chunk.stream), bytearray()).extend(chunk.data)
        if len(per) == 4 and all(buf.count(b"\n") >= 4 for buf in per.values()):
            break
    stream.cancel()
    assert set(per) == {
        (p, s)
        for p in ("ticker_a", "ticker_b")
        for s in (pb.LOG_STREAM_STDOUT, pb.LOG_STREAM_STDERR)
    }
    for (process, _), buf in per.items():
        numbers = [int(line.split()[-1]) for line in bytes(buf).splitlines()]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        assert all(line.startswith(process[-1:].encode()) for line in bytes(buf).splitlines())


def _collect(
    stream: Any,
    until: bytes,
    out: list[Any],
    pause: threading.Event | None = None,
    started: threading.Event | None = None,
) -> None:
    tail = b""
    for chunk in stream:
        out.append(chunk)
        if started is not None and not started.is_set():
            started.set()
            assert pause is not None
            pause.wait(30)  # the deliberately slow part: stop reading for a while
        tail = (tail + chunk.data)[-8:]
        if until in tail:
            return


def _check_contiguous(chunks: list[Any]) -> tuple[bytes, int]:
    data, gaps, offset = bytearray(), 0, 0
    for chunk in chunks:
        assert chunk.offset == offset, (chunk.offset, offset)
        if chunk.WhichOneof("content") == "gap":
            gaps += chunk.gap
            offset += chunk.gap
        else:
            data += chunk.data
            offset += len(chunk.data)
    return bytes(data), gaps


def test_slow_follower_gets_a_gap_and_never_slows_the_fast_one(grpcd: Daemon) -> None:
    fast_stub = grpcd.stub()
    # A separate connection with a fixed, small flow-control window for the slow reader.
    slow_channel = grpc.insecure_channel(
        grpcd.unix_address.replace("unix://", "unix:"), options=[("grpc.http2.bdp_probe", 0)]
    )
    slow_stub = pb_grpc.SupervisorServiceStub(slow_channel)
    request = pb.TailLogRequest(processes=["spewer"], offset=0, follow=True)
    fast_chunks: list[Any] = []
    slow_chunks: list[Any] = []
    resume, started = threading.Event(), threading.Event()
    fast = fast_stub.TailLog(request)
    slow = slow_stub.TailLog(request)
    threads = [
        threading.Thread(target=_collect, args=(fast, b"END\n", fast_chunks)),
        threading.Thread(target=_collect, args=(slow, b"END\n", slow_chunks, resume, started)),
    ]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    fast_stub.StartProcess(pb.StartProcessRequest(target="spewer", wait=True), timeout=10)
    threads[0].join(30)
    fast_seconds = time.monotonic() - t0
    assert not threads[0].is_alive(), "the fast follower never saw END"
    resume.set()
    threads[1].join(30)
    assert not threads[1].is_alive(), "the slow follower never saw END"
    fast.cancel()
    slow.cancel()
    fast_stub.StopProcess(pb.StopProcessRequest(target="spewer", wait=True), timeout=10)

    data, gaps = _check_contiguous(fast_chunks)
    assert gaps == 0
    lines = data.split(b"\n")
    assert [int(line[:8]) for line in lines[:-2]] == list(range(SPEWER_LINES))
    assert lines[-2:] == [b"END", b""]
    assert fast_seconds < 20

    slow_data, slow_gaps = _check_contiguous(slow_chunks)
    assert slow_gaps > 0, "the slow follower should have fallen behind the 1 MiB ring"
    assert len(slow_data) + slow_gaps == len(data)
    assert slow_data.endswith(b"END\n")


def test_stream_slots_refuse_one_more_and_free_on_exit() -> None:
    """Streams are coroutines now, so the cap is large (memory only); its rule is the same:
    one more than capacity gets RESOURCE_EXHAUSTED at once, and leaving (normally, by error
    or by cancellation) frees the slot."""
    slots = StreamSlots(2)
    assert grpc_server.STREAM_SLOTS >= 1000
    with slots.hold(), slots.hold():
        with pytest.raises(Abort) as info, slots.hold():
            pass
        assert info.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED

    async def hold_until_cancelled() -> None:
        with slots.hold():
            await asyncio.Event().wait()

    async def main() -> None:
        tasks = [asyncio.ensure_future(hold_until_cancelled()) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(Abort):
            slots.hold().__enter__()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with slots.hold():
            pass

    asyncio.run(main())


def test_cancel_mid_stream_ends_it_on_the_server(grpcd: Daemon) -> None:
    """A cancelled follower ends; unary RPCs answer while many followers are open."""
    stub = grpcd.stub()
    request = pb.TailLogRequest(processes=["counter"], tail_bytes=0, follow=True)
    streams = [stub.TailLog(request) for _ in range(50)]
    for s in streams:
        next(s)  # the server is streaming to every one of them
    assert stub.GetState(pb.GetStateRequest(), timeout=5).state == pb.DAEMON_STATE_RUNNING
    for s in streams:
        s.cancel()
    for s in streams:
        assert s.code() is grpc.StatusCode.CANCELLED


def test_watch_events_sees_the_lifecycle_in_order(grpcd: Daemon) -> None:
    stub = grpcd.stub()
    stream = stub.WatchEvents(
        pb.WatchEventsRequest(
            after_sequence=0, processes=["watched"], kinds=[pb.EVENT_KIND_PROCESS_STATE]
        )
    )
    stub.StartProcess(pb.StartProcessRequest(target="watched", wait=True), timeout=10)
    stub.StopProcess(pb.StopProcessRequest(target="watched", wait=True), timeout=10)
    events = []
    for event in stream:
        events.append(event)
        if len(events) == 4:
            break
    stream.cancel()
    transitions = [(e.process_state.from_state, e.process_state.to_state) for e in events]
    assert transitions == [
        (pb.PROCESS_STATE_STOPPED, pb.PROCESS_STATE_STARTING),
        (pb.PROCESS_STATE_STARTING, pb.PROCESS_STATE_RUNNING),
        (pb.PROCESS_STATE_RUNNING, pb.PROCESS_STATE_STOPPING),
        (pb.PROCESS_STATE_STOPPING, pb.PROCESS_STATE_STOPPED),
    ]
    seqs = [e.sequence for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert events[1].process_state.pid > 0


def test_daemon_stop_ends_followers_promptly() -> None:
    with running("[program:s]\ncommand=/bin/sleep 1000\nstartsecs=0\n") as d:
        stub = d.stub()
        wait_state(stub, "s", pb.PROCESS_STATE_RUNNING)
        logs = stub.TailLog(
            pb.TailLogRequest(streams=[pb.LOG_STREAM_MAIN], tail_lines=1, follow=True)
        )
        events = stub.WatchEvents(pb.WatchEventsRequest(after_sequence=0))
        next(logs), next(events)  # both followers are running on the server
        t0 = time.monotonic()
        assert d.proc is not None
        d.proc.terminate()
        assert d.wait(10) == 0
        assert time.monotonic() - t0 < 4
        for stream in (logs, events):
            try:
                for _ in stream:
                    pass
            except grpc.RpcError as exc:  # ended by the server going away is fine too
                assert exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)


# ---- the follower loops themselves, on in-memory channels (no grpcd) -----------------------


def _run_follower(agen_factory: Any) -> list[Any]:
    """Run an async follower to its end on a fresh loop; return what it yielded."""

    async def main() -> list[Any]:
        wakeups = Wakeups(asyncio.get_running_loop())
        return [item async for item in agen_factory(wakeups)]

    return asyncio.run(main())


def test_follow_logs_reports_the_exact_gap() -> None:
    channel = LogChannel("x", None, ring_bytes=100)
    channel.write(b"a" * 80)
    channel.write(b"b" * 80)  # pushes the first chunk out of the 100-byte ring
    pieces = _run_follower(
        lambda w: follow_logs(
            [LogSource("x", 1, channel, 0, channel.end_offset)],
            follow=False,
            wakeups=w,
            stopping=lambda: False,
        )
    )
    assert [(p.offset, p.gap, p.data) for p in pieces] == [(0, 80, b""), (80, 0, b"b" * 80)]


def test_follow_logs_round_robin_is_fair() -> None:
    busy, quiet = LogChannel("busy", None), LogChannel("quiet", None)
    busy.write(b"x" * 3_000_000)
    quiet.write(b"q\n")
    sources = [LogSource(n, 1, c, 0, c.end_offset) for n, c in (("busy", busy), ("quiet", quiet))]
    pieces = _run_follower(
        lambda w: follow_logs(sources, follow=False, wakeups=w, stopping=lambda: False)
    )
    order = [p.source.process for p in pieces]
    assert order.index("quiet") == 1  # right after busy's first chunk, not after all of it


def test_follow_logs_wakes_on_output_from_another_thread_and_on_stop() -> None:
    """An idle follower holds no thread: a write on another thread wakes it (through the
    channel's watcher), and so does the front-end stopping."""
    channel = LogChannel("x", None)
    stop = threading.Event()

    async def main() -> list[bytes]:
        wakeups = Wakeups(asyncio.get_running_loop())
        got = []
        threading.Timer(0.1, channel.write, (b"late\n",)).start()
        async for piece in follow_logs(
            [LogSource("x", 1, channel, 0)], follow=True, wakeups=wakeups, stopping=stop.is_set
        ):
            got.append(piece.data)
            stop.set()
            wakeups.wake_all()
        return got

    assert asyncio.run(asyncio.wait_for(main(), 10)) == [b"late\n"]


def test_follow_events_tells_a_late_reader_what_it_missed() -> None:
    journal: EventJournal[str] = EventJournal(capacity=3)
    for item in "abcde":
        journal.append(item)
    journal.close()
    entries = _run_follower(lambda w: follow_events(journal, 0, wakeups=w, stopping=lambda: False))
    assert [(e.seq, e.item, e.missed) for e in entries] == [
        (0, None, 2),
        (3, "c", 0),
        (4, "d", 0),
        (5, "e", 0),
    ]


# ---- followers across a reload (issue 11, item 7) -------------------------------------------

SAYER = """
    import sys, time
    print(sys.argv[1], flush=True)
    time.sleep(1000)
"""


def _read_until_text(stream: Any, needles: set[bytes], timeout: float = 20.0) -> dict[str, bytes]:
    """Read a TailLog stream until every needle was seen; per-process bytes."""
    seen: dict[str, bytes] = {}
    deadline = time.monotonic() + timeout
    while not all(any(n in b for b in seen.values()) for n in needles):
        assert time.monotonic() < deadline, f"only saw {seen!r}"
        piece = next(stream)
        seen[piece.process] = seen.get(piece.process, b"") + piece.data
    return seen


def test_followers_continue_across_a_reload_and_star_picks_up_new_programs() -> None:
    """A reload that changes ``web`` replaces its process (and log channel): a ``web``
    follower goes on with the new one instead of ending with OK as if the daemon had shut
    down, and a ``*`` follower also picks up a program the reload added."""
    workdir = short_tmpdir()
    sayer = script(workdir, "sayer", SAYER)
    web = f"[program:web]\ncommand = {sayer} web-v1\nstartsecs = 0\n"
    d = grpc_daemon(workdir, web)
    d.start()
    try:
        stub = d.stub()
        wait_state(stub, "web", pb.PROCESS_STATE_RUNNING)
        one = stub.TailLog(pb.TailLogRequest(processes=["web"], follow=True, offset=0), timeout=60)
        star = stub.TailLog(pb.TailLogRequest(processes=["*"], follow=True, offset=0), timeout=60)
        _read_until_text(one, {b"web-v1"})
        _read_until_text(star, {b"web-v1"})

        d.write_config(
            f"[program:web]\ncommand = {sayer} web-v2\nstartsecs = 0\n"
            f"[program:extra]\ncommand = {sayer} extra-v1\nstartsecs = 0\n"
        )
        stub.Update(pb.UpdateRequest(), timeout=30)

        assert b"web-v2" in _read_until_text(one, {b"web-v2"})["web"]
        seen = _read_until_text(star, {b"web-v2", b"extra-v1"})
        assert b"extra-v1" in seen["extra"]
        one.cancel()
        star.cancel()
    finally:
        d.close()
