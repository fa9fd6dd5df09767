"""What a start loads: psutil only once resource figures are asked for (issue 13).

A start that never reports resource use (an init in a container that nobody queries, the
reap bench, ``--no-grpc``) should not pay psutil's import time and resident memory; the first
ListProcesses/GetProcess with figures loads it, and the figures are real.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from supgrpc.v1 import supervisor_pb2 as pb

from tests.support import grpc_daemon, short_tmpdir, wait_until
from tests.support.grpc_clients import RPC_ERRORS, TOKEN, auth

pytestmark = pytest.mark.integration

PROGRAMS = """
[program:sleeper]
command = /bin/sleep 1000
startsecs = 0
"""


def _maps(pid: int) -> str:
    with open(f"/proc/{pid}/maps") as f:
        return f.read()


def test_psutil_is_loaded_by_the_first_resource_request_not_by_the_start() -> None:
    with grpc_daemon(short_tmpdir(), PROGRAMS, token=TOKEN) as d:
        d.start()
        stub = d.stub()

        def running() -> bool:
            reply = stub.GetProcess(
                pb.GetProcessRequest(process="sleeper"), metadata=auth(), timeout=20
            )
            return bool(reply.process.state == pb.PROCESS_STATE_RUNNING)

        # GetState answers without resource figures: still no psutil after the start.
        wait_until(
            lambda: stub.GetState(pb.GetStateRequest(), metadata=auth(), timeout=20).state
            == pb.DAEMON_STATE_RUNNING,
            retry_on=RPC_ERRORS,
        )
        assert d.proc is not None
        assert "_psutil_linux" not in _maps(d.proc.pid)
        wait_until(running, retry_on=RPC_ERRORS)
        info = stub.GetProcess(
            pb.GetProcessRequest(process="sleeper"), metadata=auth(), timeout=20
        ).process
        assert info.resources.rss_bytes > 0
        assert "_psutil_linux" in _maps(d.proc.pid)


def test_the_daemon_and_its_front_ends_import_neither_psutil_nor_urllib_request() -> None:
    # What a start imports (the composition root and both front-ends), in a fresh interpreter:
    # psutil waits for the first resource sample, urllib.request for the first HTTP probe.
    code = (
        "import sys\n"
        "import supervisor_grpc.daemon.app, supervisor_grpc.frontends.launch\n"
        "import supervisor_grpc.frontends.grpc.server, supervisor_grpc.frontends.xmlrpc.server\n"
        "print(sorted(m for m in ('psutil', 'urllib.request') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
