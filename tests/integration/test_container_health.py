"""Health checks with real children under a real supgrpcd: a TCP server that comes and goes,
and ``unhealthy_action = restart``.

The children are steered by files the test creates (``down``, ``up``, ``sick``), so every
transition happens when the test asks for it, and the test waits for the main log's
``health: NAME is STATUS`` lines with deadlines.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from tests.support import Daemon, free_port, is_alive, python_command, wait_until

# Listens on PORT and accepts (a probe must not fill the backlog); closes the listener while
# DOWN exists and UP does not; listens again once UP exists.
FLAPPING_SERVER = """
import os, socket, time
def listen():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", {port}))
    s.listen(16)
    s.settimeout(0.05)
    return s
server = listen()
while True:
    if server is None:
        time.sleep(0.05)
        if os.path.exists({up!r}):
            server = listen()
        continue
    try:
        conn, _ = server.accept()
        conn.close()
    except socket.timeout:
        pass
    if os.path.exists({down!r}) and not os.path.exists({up!r}):
        server.close()
        server = None
"""


def health_sequence(log: str, name: str) -> list[str]:
    return re.findall(rf"health: {re.escape(name)} is (\w+)", log)


def test_tcp_health_follows_a_server_that_comes_and_goes(
    daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    port = free_port()
    down, up = tmp_path / "down", tmp_path / "up"
    code = FLAPPING_SERVER.format(port=port, down=str(down), up=str(up))
    d = daemon(
        f"""
[program:web]
command={python_command(code)}
startsecs=0
healthcheck_tcp=127.0.0.1:{port}
healthcheck_interval=0.1
healthcheck_timeout=0.5
healthcheck_retries=2
"""
    )
    d.wait_log(r"health: web is healthy")
    down.touch()
    unhealthy = d.wait_log(r"WARN health: web is unhealthy \((.*)\)")[0]
    assert f"127.0.0.1:{port}" in unhealthy.group(1)  # the probe's own words say why
    up.touch()
    d.wait_log(r"health: web is healthy", count=2)
    assert d.stop() == 0
    log = d.log()
    assert health_sequence(log, "web")[:4] == ["starting", "healthy", "unhealthy", "healthy"]
    # unhealthy_action defaults to none: the program itself was left alone.
    assert len(d.spawned_pids("web")) == 1
    assert "restarting web" not in log


def test_unhealthy_action_restart_replaces_the_process(
    daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    sick = tmp_path / "sick"
    d = daemon(
        f"""
[program:web]
command=/bin/sleep 60
startsecs=0
healthcheck_command=/bin/sh -c 'test ! -e {sick} || {{ echo "web is sick"; exit 1; }}'
healthcheck_interval=0.1
healthcheck_retries=2
unhealthy_action=restart
"""
    )
    d.wait_log(r"health: web is healthy")
    first = d.wait_spawned("web")
    sick.touch()
    d.wait_log(r"restarting web: unhealthy")
    sick.unlink()
    second = d.wait_spawned("web", count=2)
    assert second != first
    wait_until(lambda: not is_alive(first), timeout=5)
    d.wait_log(r"health: web is healthy", count=2)
    assert d.stop() == 0
    log = d.log()
    assert "health: web is unhealthy (web is sick)" in log
    assert re.search(r"stopped: web \(terminated by SIGTERM\)", log)
    seq = health_sequence(log, "web")
    first_unhealthy = seq.index("unhealthy")
    assert seq[first_unhealthy + 1 :].count("healthy") >= 1
