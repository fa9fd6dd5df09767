"""The pidfile belongs to the daemon that runs: one that refuses to start leaves it alone."""

from __future__ import annotations

import os

from tests.support import read_text, run, supgrpcd_argv


def test_a_second_daemon_that_refuses_to_start_keeps_the_first_ones_pidfile(daemon, tmp_path):
    sock = tmp_path / "ctl.sock"
    d = daemon(f"[unix_http_server]\nfile={sock}\n[program:idle]\ncommand=sleep 1000\n")
    d.wait_spawned("idle")
    pidfile = d.dir / "supervisord.pid"
    assert read_text(pidfile).strip() == str(d.pid)
    mtime = os.stat(pidfile).st_mtime_ns
    second = run([*supgrpcd_argv(), "-c", str(d.config_path), "--no-grpc"], timeout=20)
    assert second.returncode == 2, second.stderr
    assert b"error:" in second.stderr
    assert d.running
    assert read_text(pidfile).strip() == str(d.pid)
    assert os.stat(pidfile).st_mtime_ns == mtime  # not even rewritten
    assert d.stop() == 0
    assert not pidfile.exists()  # the daemon that wrote it removes it
