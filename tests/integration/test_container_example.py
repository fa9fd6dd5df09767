"""The image's config (examples/container/supervisord.conf) run for real, with its paths moved
under the test's directory, a free port instead of 8080 and short health intervals; and the
Dockerfile's own HEALTHCHECK command run against it.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support import REPO, Daemon, free_port, run, wait_until

EXAMPLE = REPO / "examples" / "container"
BIN = Path(sys.executable).parent


def relocated_example(directory: Path, port: int) -> str:
    (directory / "www").mkdir(parents=True, exist_ok=True)
    text = (EXAMPLE / "supervisord.conf").read_text()
    moves = {
        "/tmp/supgrpcd.log": f"{directory}/supervisord.log",  # where Daemon reads it
        "/etc/supgrpc/": f"{EXAMPLE}/",
        "/srv/www": f"{directory}/www",
        "/tmp/": f"{directory}/",
        "=/tmp\n": f"={directory}\n",
        "8080": str(port),
        "0.0.0.0:8081": f"127.0.0.1:{free_port()}",  # the health-only port of the probes
    }
    for old in moves:
        assert old in text, old
    pattern = "|".join(re.escape(old) for old in moves)  # one pass: no move applies twice
    text = re.sub(pattern, lambda m: moves[m.group(0)], text)
    text = re.sub(r"^healthcheck_interval=.*$", "healthcheck_interval=0.2", text, flags=re.M)
    text = re.sub(r"^healthcheck_start_period=.*$", "healthcheck_start_period=0", text, flags=re.M)
    return text


def dockerfile_healthcheck() -> list[str]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])$", text, re.M)
    assert match, "no HEALTHCHECK CMD [...] in the Dockerfile"
    argv: list[str] = json.loads(match.group(1))
    return argv


def test_the_example_config_runs_and_the_healthcheck_passes(
    daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    port = free_port()
    directory = tmp_path / "d0"
    d = daemon(relocated_example(directory, port), grpc=True)
    assert d.dir == directory
    argv = [a.replace("/tmp/", f"{directory}/") for a in dockerfile_healthcheck()]
    argv[0] = str(BIN / argv[0])
    d.wait_log(r"health: web is healthy")
    d.wait_spawned("worker")
    answered = f"worker | worker: http://127.0.0.1:{port}/ answered 200\n"
    wait_until(lambda: answered in d.stdout(), timeout=10)  # forwarded, with its prefix
    # Ready once every autostart program is RUNNING (worker has startsecs=2) and healthy.
    d.wait_running("worker")
    check = wait_until(lambda: (c := run(argv, timeout=30)).returncode == 0 and c, timeout=15)
    assert check.stdout.decode().strip() == "SERVING"
    web = run([*argv[:-1], "health", "web"], timeout=30)
    assert web.returncode == 0, web

    assert d.stop() == 0
    log = d.log()
    assert log.index("stopped: worker") < log.index("stopped: web")
