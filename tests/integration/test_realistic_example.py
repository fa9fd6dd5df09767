"""issue 2's "done when": examples/realistic (several programs, a group, includes, numprocs,
environment quoting, AUTO and /dev/stdout logs) runs unchanged under supgrpcd, and the real
supervisorctl 4.3.0 manages it through the same file."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

from tests.support import REPO, wait_until

SUPGRPCD = str(Path(sys.executable).with_name("supgrpcd"))
SUPERVISORCTL = str(Path(sys.executable).with_name("supervisorctl"))


def ctl(conf: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SUPERVISORCTL, "-c", str(conf), *args], capture_output=True, text=True, timeout=30
    )


def test_the_realistic_example_runs_unchanged(tmp_path: Path) -> None:
    copy = tmp_path / "realistic"
    shutil.copytree(REPO / "examples" / "realistic", copy)
    conf = copy / "supervisord.conf"
    out = (tmp_path / "stdout.txt").open("w")
    daemon = subprocess.Popen(
        [SUPGRPCD, "-c", str(conf), "--no-grpc"], stdout=out, stderr=subprocess.STDOUT
    )
    try:
        names = ["clock", "web:api_01", "web:api_02", "web:worker"]

        def all_running() -> bool:
            result = ctl(conf, "status")
            lines = [line.split() for line in result.stdout.splitlines() if line.strip()]
            states = {parts[0]: parts[1] for parts in lines if len(parts) > 1}
            return result.returncode == 0 and all(states.get(n) == "RUNNING" for n in names)

        wait_until(all_running, 20)
        # Expansions and quoting reached the programs: numprocs names, ports from
        # %(process_num)02d, environment from [supervisord] and from the program.
        api_log = copy / "logs" / "api-1.log"  # %(here)s/../logs, here being conf.d
        wait_until(lambda: api_log.exists() and "on port 8001" in api_log.read_text(), 20)
        assert "api 1 up in staging on port 8001" in api_log.read_text()
        wait_until(lambda: "worker says hello, world" in ctl(conf, "tail", "web:worker").stdout, 20)
        wait_until(lambda: "clock " in (tmp_path / "stdout.txt").read_text(), 20)
        # The real supervisorctl drives it: group stop/start, then shutdown.
        assert ctl(conf, "stop", "web:*").returncode == 0
        assert all(
            line.split()[1] == "STOPPED"
            for line in ctl(conf, "status", "web:*").stdout.splitlines()
        )
        assert ctl(conf, "start", "web:*").returncode == 0
        wait_until(all_running, 20)
        assert ctl(conf, "shutdown").stdout == "Shut down\n"
        assert daemon.wait(30) == 0
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGKILL)
            daemon.wait()
        out.close()
