"""The same files through supervisord 4.3.0's own parser: both must mean the same thing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from supervisor import datatypes as sdt  # type: ignore[import-untyped]

from supervisor_grpc.config import load
from supervisor_grpc.errors import ConfigError
from supervisor_grpc.model import AutoRestart, DaemonSpec, LogSpec
from tests.unit.config_helpers import conf, oracle, write

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "realistic" / "supervisord.conf"

_RESTART = {
    sdt.RestartUnconditionally: AutoRestart.ALWAYS,
    sdt.RestartWhenExitUnexpected: AutoRestart.UNEXPECTED,
    False: AutoRestart.NEVER,
}


def _their_log(path: Any) -> tuple[str | None, bool]:
    if path is sdt.Automatic:
        return None, True
    return path, False


def _ours_log(log: LogSpec) -> tuple[str | None, bool]:
    return log.path, log.auto


def theirs(opts: Any) -> list[tuple[Any, ...]]:
    rows = []
    for g in opts.process_group_configs:
        for p in sorted(g.process_configs, key=lambda c: (c.priority, c.name)):
            rows.append(
                (
                    g.name,
                    g.priority,
                    p.name,
                    p.priority,
                    p.command,
                    p.autostart,
                    _RESTART[p.autorestart],
                    p.startsecs,
                    p.startretries,
                    frozenset(p.exitcodes),
                    p.stopsignal,
                    p.stopwaitsecs,
                    p.stopasgroup,
                    p.killasgroup,
                    p.uid,
                    p.redirect_stderr,
                    _their_log(p.stdout_logfile),
                    p.stdout_logfile_maxbytes,
                    p.stdout_logfile_backups,
                    p.stdout_capture_maxbytes,
                    p.stdout_syslog,
                    _their_log(p.stderr_logfile),
                    p.stderr_logfile_maxbytes,
                    p.stderr_logfile_backups,
                    p.stderr_capture_maxbytes,
                    p.stderr_syslog,
                    sorted(p.environment.items()),
                    p.directory,
                    p.umask,
                    p.serverurl,
                )
            )
    return rows


def ours(spec: DaemonSpec) -> list[tuple[Any, ...]]:
    return [
        (
            g.name,
            g.priority,
            p.name,
            p.priority,
            p.command,
            p.autostart,
            p.autorestart,
            int(p.startsecs),
            p.startretries,
            p.exitcodes,
            p.stopsignal,
            int(p.stopwaitsecs),
            p.stopasgroup,
            p.killasgroup,
            p.uid,
            p.redirect_stderr,
            _ours_log(p.stdout),
            p.stdout.maxbytes,
            p.stdout.backups,
            p.stdout.capture_maxbytes,
            p.stdout.syslog,
            _ours_log(p.stderr),
            p.stderr.maxbytes,
            p.stderr.backups,
            p.stderr.capture_maxbytes,
            p.stderr.syslog,
            sorted(p.environment),
            p.directory,
            p.umask,
            p.serverurl,
        )
        for g in spec.groups
        for p in g.programs
    ]


def agree(path: str, environ: dict[str, str]) -> DaemonSpec:
    opts = oracle(path, environ)
    assert not isinstance(opts, str), opts
    spec = load(path, environ=environ)
    assert ours(spec) == theirs(opts)
    assert spec.logfile == opts.logfile and spec.pidfile == opts.pidfile
    assert (spec.logfile_maxbytes, spec.logfile_backups) == (
        opts.logfile_maxbytes,
        opts.logfile_backups,
    )
    assert (spec.nodaemon, spec.silent, spec.minfds, spec.minprocs, spec.umask) == (
        opts.nodaemon,
        opts.silent,
        opts.minfds,
        opts.minprocs,
        opts.umask,
    )
    assert (spec.identifier, spec.childlogdir, spec.nocleanup, spec.strip_ansi) == (
        opts.identifier,
        opts.childlogdir,
        opts.nocleanup,
        opts.strip_ansi,
    )
    theirs_servers = sorted(
        (c["file"] if "file" in c else f"{c['host']}:{c['port']}") for c in opts.server_configs
    )
    assert sorted(s.address for s in spec.http_servers) == theirs_servers
    return spec


def test_realistic_example_agrees() -> None:
    spec = agree(str(EXAMPLE), {"HOME": "/root", "PATH": "/usr/bin:/bin"})
    names = [p.namespec for g in spec.groups for p in g.programs]
    assert names == ["clock", "web:api_01", "web:api_02", "web:worker"]


def test_defaults_agree(tmp_path: Path) -> None:
    agree(conf(tmp_path, "[program:a]\ncommand=/bin/cat\n"), {})


def test_multi_program_config_with_includes_agrees(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    write(
        tmp_path / "conf.d" / "workers.conf",
        """
[program:worker]
command=/usr/bin/worker --n %(process_num)d --of %(numprocs)d --here %(here)s
process_name=%(program_name)s_%(process_num)d
numprocs=3
numprocs_start=1
environment=IDX="%(process_num)d",HOMEDIR=%(ENV_HOME)s,QUOTED="a, b"
stdout_logfile=%(here)s/../logs/%(program_name)s-%(process_num)d.out
stderr_logfile=%(ENV_LOGDIR)s/%(group_name)s-%(ENV_IDX)s.err
directory=/tmp
exitcodes=0,1,2
stopsignal=QUIT
priority=20
user=root
umask=002

[eventlistener:listener]
command=/usr/bin/listener
events=PROCESS_STATE
""",
    )
    write(
        tmp_path / "conf.d" / "nested" / "web.ini",
        """
[group:web]
programs=front,back
priority=5

[program:front]
command=front %(group_name)s %(program_name)s
autorestart=false
stdout_logfile=NONE
stderr_logfile=syslog
startsecs=0
[program:back]
command=back
redirect_stderr=true
stopasgroup=true
stdout_logfile_maxbytes=0
stdout_capture_maxbytes=1KB
stdout_events_enabled=true
serverurl=AUTO
""",
    )
    main = conf(
        tmp_path,
        """
[inet_http_server]
port=127.0.0.1:9001
[unix_http_server]
file=%(here)s/sup.sock
[include]
files=conf.d/*.conf conf.d/*/*.ini
""",
        head="[supervisord]\nenvironment=GLOBAL=1,LOGDIR=%(here)s/logs\nlogfile=%(here)s/x.log\n"
        "childlogdir=%(here)s/logs\nnodaemon=true\nloglevel=debug\n",
    )
    spec = agree(main, {"HOME": "/home/u"})
    assert len([p for g in spec.groups for p in g.programs]) == 6


@pytest.mark.parametrize(
    "body",
    [
        "[program:a]\ncommand=x\nstopsignal=FOO\n",
        "[program:a]\ncommand=x\nautostart=maybe\n",
        "[program:a]\ncommand=x\nexitcodes=256\n",
        "[program:a]\ncommand=x\nnumprocs=2\n",
        "[program:a]\ncommand=x\nstopasgroup=true\nkillasgroup=false\n",
        "[program:a]\ncommand=x %(nope)s\n",
        "[program:a]\ncommand=x\nuser=no-such-user-xyz\n",
        "[program:a]\ncommand=x\nenvironment=A=1,B\n",
        "[program:a]\ncommand=x\nstdout_logfile=/nonexistent/a.log\n",
        "[program:a]\npriority=1\n",
        "[program:a b]\ncommand=x\n",
        "[program:a]\ncommand=x\nprocess_name=a:b\n",
        "[group:g]\nprograms=nope\n",
        "[eventlistener:e]\ncommand=x\n",
        "[fcgi-program:f]\ncommand=x\n",
        "[unix_http_server]\nchmod=0700\n",
        "[inet_http_server]\nport=localhost:\n",
        "[inet_http_server]\nport=9001\nusername=u\n",
        "[include]\n",
    ],
)
def test_both_reject(tmp_path: Path, body: str) -> None:
    path = conf(tmp_path, body)
    assert isinstance(oracle(path, {}), str)
    with pytest.raises(ConfigError):
        load(path, environ={})


@pytest.mark.parametrize(
    "head",
    [
        "[supervisord]\nloglevel=loud\n",
        "[supervisord]\nminfds=x\n",
        "[supervisord]\nuser=no-such-user-xyz\n",
        "[supervisord]\nchildlogdir=/nonexistent\n",
        "[supervisord]\nidentifier=%(host_node_name)s\n",
        "[supervisor]\n",
    ],
)
def test_both_reject_daemon_options(tmp_path: Path, head: str) -> None:
    path = conf(tmp_path, "", head=head)
    assert isinstance(oracle(path, {}), str)
    with pytest.raises(ConfigError):
        load(path, environ={})


def test_both_accept_unknown_keys(tmp_path: Path) -> None:
    path = conf(
        tmp_path, "[program:a]\ncommand=x\nbogus_key=1\n", head="[supervisord]\nnonsense=5\n"
    )
    agree(path, {})
    assert len(load(path, environ={}).warnings) == 2


def test_example_runs_from_a_copy(tmp_path: Path) -> None:
    """%(here)s makes the example relocatable for both parsers."""
    copy = tmp_path / "ex"
    shutil.copytree(EXAMPLE.parent, copy)
    spec = agree(str(copy / "supervisord.conf"), {})
    assert spec.http_servers[0].address == os.path.join(copy, "supervisor.sock")
