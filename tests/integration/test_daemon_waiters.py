"""Nothing keeps supgrpcd alive after it said "exiting with status N".

An Update interrupted by the shutdown used to leave its Future pending: the gRPC thread waited
on it forever, and that non-daemon thread kept the process (as PID 1: the container) alive.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import grpc
from supgrpc.v1 import supervisor_pb2 as pb
from supgrpc.v1 import supervisor_pb2_grpc as pb_grpc

from tests.support import wait_until


def _slow(tag: str) -> str:
    # Takes 1 s to honour SIGTERM, so an Update is still waiting for it when we shut down.
    script = (
        f'trap "echo {tag} got TERM; sleep 1; exit 0" TERM; echo {tag}; '
        "while :; do sleep 0.05; done"
    )
    return f"""
[program:slow]
command=sh -c '{script}'
stdout_logfile=%(here)s/slow.log
startsecs=0
"""


def test_an_update_interrupted_by_shutdown_fails_and_the_daemon_exits(daemon, tmp_path):
    sock = tmp_path / "g.sock"
    d = daemon(_slow("v1"), grpc=True, args=["--grpc-listen", f"unix://{sock}"])
    wait_until(lambda: "v1" in d.program_log("slow.log"))
    d.write_config(_slow("v2"))
    with grpc.insecure_channel(f"unix://{sock}") as channel:
        stub = pb_grpc.SupervisorServiceStub(channel)
        update = stub.Update.future(pb.UpdateRequest())  # no deadline: waits for the stop
        wait_until(lambda: "v1 got TERM" in d.program_log("slow.log"))  # Update is waiting
        d.send(signal.SIGTERM)
        assert d.wait(20) == 0, d.diagnostics()
        assert "exiting with status 0" in d.log()
        error = update.exception(timeout=10)
    assert isinstance(error, grpc.RpcError), error
    assert error.code() is not grpc.StatusCode.OK


STUCK = textwrap.dedent(
    """
    import sys, threading
    from supervisor_grpc.daemon import main
    # A non-daemon thread that never ends, as a handler stuck on a wait would be.
    threading.Thread(target=threading.Event().wait, name="stuck", daemon=False).start()
    sys.argv = ["supgrpcd", "--", "sh", "-c", "exit 3"]
    main()
    raise SystemExit("main() returned")
    """
)


def test_a_stuck_non_daemon_thread_does_not_keep_the_process_alive():
    env = dict(os.environ)
    done = subprocess.run([sys.executable, "-c", STUCK], env=env, capture_output=True, timeout=15)
    assert done.returncode == 3, done.stderr
