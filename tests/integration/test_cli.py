"""``supgrpc-cli`` against a real daemon: outputs, JSON shapes and exit statuses. Most runs
are in-process (``cli.main``) for speed; Ctrl-C, tracebacks and follow run as subprocesses."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest
from supgrpc_client import cli

from tests.support import CLI, Daemon, grpc_daemon, running, script, short_tmpdir, wait_until
from tests.support.grpc_clients import RPC_ERRORS, TOKEN, auth, wait_state

pytestmark = pytest.mark.integration

TICKER = """
    import itertools, sys, time
    for i in itertools.count():
        print("tick %d" % i)
        print("warn %d" % i, file=sys.stderr)
        time.sleep(0.05)
"""
PROCESS_KEYS = {
    "name",
    "group",
    "namespec",
    "state",
    "description",
    "pid",
    "start_time",
    "stop_time",
    "exit_status",
    "expected",
    "spawn_error",
    "stdout_logfile",
    "stderr_logfile",
    "resources",
    "health",
    "health_output",
    "stdout_log",
    "stderr_log",
}
LOG_FAULT_KEYS = {"dropped_bytes", "dropped_lines", "write_errors", "last_error", "failing"}


@pytest.fixture(scope="module")
def grpcd() -> Iterator[Daemon]:
    workdir = short_tmpdir()
    ticker = script(workdir, "ticker", TICKER)
    programs = f"""
        [program:ticker]
        command = {ticker}
        startsecs = 0

        [program:idle]
        command = /bin/sleep 1000
        startsecs = 0
        autostart = false

        [group:web]
        programs = app1,app2

        [program:app1]
        command = /bin/sleep 1000
        startsecs = 0

        [program:app2]
        command = /bin/sleep 1000
        startsecs = 0
    """
    d = grpc_daemon(workdir, programs, token=TOKEN).start()
    stub, md = d.stub(), auth()
    for name in ("ticker", "web:app1", "web:app2"):
        wait_state(stub, name, 3, md)  # PROCESS_STATE_RUNNING
    yield d
    d.close()


def run(grpcd: Daemon, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["-c", str(grpcd.config_path), *args], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_status_is_aligned_like_supervisorctl(grpcd: Daemon) -> None:
    code, out, err = run(grpcd, "status")
    lines = out.splitlines()
    assert [line[:33].rstrip() for line in lines] == ["idle", "ticker", "web:app1", "web:app2"]
    assert [line[33:43].rstrip() for line in lines] == ["STOPPED", "RUNNING", "RUNNING", "RUNNING"]
    assert lines[0][43:] == "Not started" and lines[1][43:].startswith("pid ")
    assert code == 3 and err == ""  # supervisorctl: 3 when some process is not running
    assert run(grpcd, "status", "ticker", "web:*")[0] == 0
    code, out, _ = run(grpcd, "status", "nope")
    assert code == 4 and out == "nope: ERROR (no such process)\n"


def test_status_json_is_stable(grpcd: Daemon) -> None:
    code, out, _ = run(grpcd, "-o", "json", "status", "ticker")
    doc = json.loads(out)
    assert code == 0 and set(doc) == {"processes", "errors", "main_log"}
    assert set(doc["main_log"]) == LOG_FAULT_KEYS and doc["main_log"]["dropped_lines"] == 0
    (proc,) = doc["processes"]
    assert set(proc) == PROCESS_KEYS
    assert proc["state"] == "RUNNING" and proc["namespec"] == "ticker"
    assert set(proc["resources"]) == {"cpu_percent", "rss_bytes", "children"}
    assert set(proc["stdout_log"]) == set(proc["stderr_log"]) == LOG_FAULT_KEYS
    # Global options are accepted after the command too.
    assert json.loads(run(grpcd, "status", "ticker", "-o", "json")[1])["processes"]


def test_start_stop_restart_outputs_and_exit_codes(grpcd: Daemon) -> None:
    assert run(grpcd, "start", "idle") == (0, "idle: started\n", "")
    assert run(grpcd, "start", "idle") == (1, "idle: ERROR (already started)\n", "")
    assert run(grpcd, "restart", "idle") == (0, "idle: restarted\n", "")
    assert run(grpcd, "stop", "idle", "nope") == (
        1,
        "idle: stopped\nnope: ERROR (no such process)\n",
        "",
    )
    code, out, _ = run(grpcd, "stop", "web:*")
    assert (code, out) == (0, "web:app1: stopped\nweb:app2: stopped\n")
    code, out, _ = run(grpcd, "-o", "json", "start", "web:*", "nogroup:*")
    doc = json.loads(out)
    assert code == 1
    assert [(r["process"], r["code"]) for r in doc["results"]] == [
        ("web:app1", "OK"),
        ("web:app2", "OK"),
        ("nogroup:*", "NOT_FOUND"),
    ]
    assert set(doc["results"][0]) == {"process", "name", "group", "code", "message"}


def test_signal_and_pid(grpcd: Daemon) -> None:
    assert run(grpcd, "signal", "CONT", "web:*") == (
        0,
        "web:app1: signalled\nweb:app2: signalled\n",
        "",
    )
    code, out, err = run(grpcd, "signal", "BOGUS", "ticker")
    assert code == 1 and out == "" and err.count("\n") == 1 and "BAD_SIGNAL" in err
    assert run(grpcd, "signal", "HUP", "idle")[1] == "idle: ERROR (not running)\n"
    code, out, _ = run(grpcd, "pid")
    assert code == 0 and int(out) == grpcd.proc.pid  # type: ignore[union-attr]
    code, out, _ = run(grpcd, "pid", "ticker")
    assert code == 0 and int(out) > 0
    code, out, _ = run(grpcd, "pid", "all")
    assert [line.split()[0] for line in out.splitlines()] == [
        "idle",
        "ticker",
        "web:app1",
        "web:app2",
    ]


def test_tail_and_maintail(grpcd: Daemon) -> None:
    code, out, _ = run(grpcd, "tail", "-n", "2", "ticker")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2 and all(line.startswith("tick ") for line in lines)
    code, out, _ = run(grpcd, "tail", "-n", "1", "ticker", "stderr")
    assert code == 0 and out.startswith("warn ")
    code, out, _ = run(grpcd, "-o", "json", "tail", "-n", "1", "ticker")
    assert json.loads(out)["line"].startswith("tick ")
    code, out, _ = run(grpcd, "maintail", "-n", "50")
    assert code == 0 and "spawned: 'ticker'" in out
    code, _, err = run(grpcd, "tail", "nope")
    assert code == 1 and err.startswith("supgrpc-cli: NOT_FOUND") and err.count("\n") == 1


def test_logs_prefixes_every_line_with_its_process(grpcd: Daemon) -> None:
    code, out, _ = run(grpcd, "logs", "-n", "2", "ticker", "web:*")
    lines = out.splitlines()
    assert code == 0 and lines
    assert all(line.startswith("ticker   | ") for line in lines)  # width of "web:app1"
    assert {line.split(" | ")[1].split()[0] for line in lines} == {"tick", "warn"}
    code, out, _ = run(grpcd, "-o", "json", "logs", "-n", "1", "ticker")
    docs = [json.loads(line) for line in out.splitlines()]
    assert {d["stream"] for d in docs} == {"stdout", "stderr"}
    assert all(set(d) == {"process", "stream", "line"} for d in docs)


def test_config_changes(grpcd: Daemon) -> None:
    assert run(grpcd, "reread") == (0, "No config updates to processes\n", "")
    with open(grpcd.config_path, "a") as fh:
        fh.write(
            "\n[program:extra]\ncommand=/bin/sleep 1000\nstartsecs=0\n"
            "\n[program:extra2]\ncommand=/bin/sleep 1000\nstartsecs=0\nautostart=false\n"
        )
    assert run(grpcd, "reread") == (0, "extra: available\nextra2: available\n", "")
    assert run(grpcd, "add", "extra2") == (0, "extra2: added process group\n", "")
    assert run(grpcd, "add", "extra2")[1] == "ERROR: process group already active\n"
    assert run(grpcd, "update", "extra") == (0, "extra: added process group\n", "")
    code, out, _ = run(grpcd, "remove", "extra")
    assert (code, out) == (1, "ERROR: process/group still running: extra\n")
    run(grpcd, "stop", "extra")
    assert run(grpcd, "remove", "extra", "extra2") == (
        0,
        "extra: removed process group\nextra2: removed process group\n",
        "",
    )
    assert run(grpcd, "remove", "nope")[:2] == (1, "ERROR: no such process/group: nope\n")
    code, out, _ = run(grpcd, "-o", "json", "reread")
    assert code == 0 and json.loads(out) == {
        "added": ["extra", "extra2"],
        "changed": [],
        "removed": [],
    }


def test_clear(grpcd: Daemon) -> None:
    assert run(grpcd, "clear", "ticker") == (0, "ticker: cleared\n", "")
    code, out, _ = run(grpcd, "clear", "all")
    assert code == 0 and "web:app1: cleared\n" in out
    assert run(grpcd, "clear", "nope")[:2] == (1, "nope: ERROR (no such process)\n")


def test_health_and_version(grpcd: Daemon) -> None:
    assert run(grpcd, "health") == (0, "SERVING\n", "")
    wait_until(lambda: run(grpcd, "health", "ticker") == (0, "SERVING\n", ""), retry_on=RPC_ERRORS)
    assert run(grpcd, "stop", "idle")[0] in (0, 1)
    wait_until(
        lambda: run(grpcd, "health", "idle") == (1, "NOT_SERVING\n", ""), retry_on=RPC_ERRORS
    )
    assert run(grpcd, "health", "nope") == (1, "SERVICE_UNKNOWN\n", "")
    code, out, _ = run(grpcd, "version")
    assert code == 0 and out.strip()[0].isdigit()
    assert set(json.loads(run(grpcd, "-o", "json", "version")[1])) == {"server", "client"}


def test_address_and_token_sources(grpcd: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["-s", grpcd.unix_address, "status", "ticker"], stdout=out, stderr=err) == 1
    assert "not allowed: missing bearer token" in err.getvalue()
    assert (
        cli.main(
            ["-s", grpcd.unix_address, "--token", TOKEN, "status", "ticker"],
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
        == 0
    )
    monkeypatch.setenv("SUPGRPC_ADDRESS", grpcd.unix_address)
    monkeypatch.setenv("SUPGRPC_TOKEN", TOKEN)
    assert cli.main(["status", "ticker"], stdout=io.StringIO(), stderr=io.StringIO()) == 0
    err = io.StringIO()
    assert cli.main(["--token", "wrong", "status"], stdout=io.StringIO(), stderr=err) == 1
    assert err.getvalue().startswith("supgrpc-cli: not allowed: invalid bearer token")


def _subprocess_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SUPGRPC_")}


def test_unreachable_server_is_one_line_and_no_traceback() -> None:
    result = subprocess.run(
        [CLI, "-s", "unix:///tmp/no-such-supgrpcd.sock", "status"],
        capture_output=True,
        text=True,
        timeout=30,
        env=_subprocess_env(),
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("supgrpc-cli: cannot reach supgrpcd at unix:///tmp/no-such")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_usage_error_exits_2() -> None:
    assert cli.main(["start"], stdout=io.StringIO(), stderr=io.StringIO()) == 2
    assert cli.main(["frobnicate"], stdout=io.StringIO(), stderr=io.StringIO()) == 2


def _read_until(proc: subprocess.Popen[bytes], needle: bytes, timeout: float = 10) -> bytes:
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        assert time.monotonic() < deadline, f"never saw {needle!r} in {seen[-500:]!r}"
        chunk = proc.stdout.read()
        if chunk:
            seen += chunk
        else:
            time.sleep(0.02)
    return seen


@pytest.mark.parametrize(
    "command",
    [["tail", "-f", "ticker"], ["logs", "-f"], ["maintail", "-f"], ["events", "--replay"]],
)
def test_ctrl_c_during_follow_exits_130_cleanly(grpcd: Daemon, command: list[str]) -> None:
    proc = subprocess.Popen(
        [CLI, "-c", str(grpcd.config_path), *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_subprocess_env(),
    )
    try:
        if command[0] == "events":
            seen = _read_until(proc, b"ticker STARTING -> RUNNING")  # replayed: stream is open
            run(grpcd, "restart", "web:app1")
            seen += _read_until(proc, b"web:app1 STOPPING -> STOPPED")
            assert b"web:app1 RUNNING -> STOPPING" in seen
        elif command[0] == "maintail":
            _read_until(proc, b"INFO")
        else:
            _read_until(proc, b"tick")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 130
        assert proc.stderr is not None and proc.stderr.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_follow_ends_when_the_daemon_shuts_down() -> None:
    with running("[program:one]\ncommand = /bin/sleep 1000\nstartsecs = 0\n") as d:
        follower = subprocess.Popen(
            [CLI, "-s", d.unix_address, "maintail", "-f"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_subprocess_env(),
        )
        try:
            _read_until(follower, b"gRPC listening")
            out, err = io.StringIO(), io.StringIO()
            assert cli.main(["-s", d.unix_address, "shutdown"], stdout=out, stderr=err) == 0
            assert out.getvalue() == "Shut down\n"
            assert d.wait(10) == 0
            assert follower.wait(10) == 0
        finally:
            if follower.poll() is None:
                follower.kill()
                follower.wait()


def test_tail_follow_goes_on_across_a_reload_that_changes_the_program() -> None:
    """Issue 11, item 7: ``tail -f web`` used to exit 0 when ``update`` replaced web."""
    workdir = short_tmpdir()
    sayer = script(
        workdir, "sayer", "import sys, time\nprint(sys.argv[1], flush=True)\ntime.sleep(1000)\n"
    )
    d = grpc_daemon(workdir, f"[program:web]\ncommand = {sayer} web-v1\nstartsecs = 0\n")
    d.start()
    follower = subprocess.Popen(
        [CLI, "-s", d.unix_address, "tail", "-f", "web"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_subprocess_env(),
    )
    try:
        _read_until(follower, b"web-v1")
        d.write_config(f"[program:web]\ncommand = {sayer} web-v2\nstartsecs = 0\n")
        out, err = io.StringIO(), io.StringIO()
        assert cli.main(["-s", d.unix_address, "update"], stdout=out, stderr=err) == 0, err
        _read_until(follower, b"web-v2")
        assert follower.poll() is None
        follower.send_signal(signal.SIGINT)
        assert follower.wait(10) == 130
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
        d.close()
