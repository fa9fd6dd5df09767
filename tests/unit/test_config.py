"""Program, group and include parsing: defaults, every option, expansions, numprocs."""

from __future__ import annotations

import os
import platform
import pwd
import signal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor_grpc.config import load, parse_signal
from supervisor_grpc.errors import ConfigError
from supervisor_grpc.model import AutoRestart, GroupKind, LogSpec, ProgramSpec
from tests.unit.config_helpers import conf, load_body, only, programs, write


def test_program_defaults(tmp_path: Path) -> None:
    p = only(load_body(tmp_path, "[program:cat]\ncommand=/bin/cat\n"))
    assert p == ProgramSpec(
        name="cat",
        group="cat",
        program_name="cat",
        command="/bin/cat",
        stdout=LogSpec(auto=True),
        stderr=LogSpec(auto=True),
        section="program:cat",
    )
    assert p.priority == 999 and p.autostart and p.startsecs == 1 and p.startretries == 3
    assert p.autorestart is AutoRestart.UNEXPECTED and p.exitcodes == {0}
    assert p.stopsignal == signal.SIGTERM and p.stopwaitsecs == 10
    assert not p.stopasgroup and not p.killasgroup and p.umask is None
    assert p.stdout.maxbytes == 50 * 1024 * 1024 and p.stdout.backups == 10


def test_every_program_option(tmp_path: Path) -> None:
    me = pwd.getpwuid(os.getuid())
    logdir = tmp_path / "logs"
    logdir.mkdir()
    body = f"""
[program:web]
command = /usr/bin/env python3 -m http.server
priority = 5
autostart = no
startsecs = 7
startretries = 9
autorestart = TRUE
exitcodes = 0, 2,3
stopsignal = sigint
stopwaitsecs = 30
stopasgroup = on
killasgroup = 1
user = {me.pw_name}
redirect_stderr = yes
stdout_logfile = {logdir}/out.log
stdout_logfile_maxbytes = 1KB
stdout_logfile_backups = 2
stdout_capture_maxbytes = 2mb
stdout_events_enabled = true
stdout_syslog = true
stderr_logfile_maxbytes = 1GB
stderr_logfile_backups = 0
stderr_capture_maxbytes = 5
stderr_events_enabled = true
stderr_syslog = false
environment = A="x,y",B=2
directory = /tmp
umask = 027
serverurl = http://127.0.0.1:9001
"""
    p = only(load_body(tmp_path, body))
    assert p.command == "/usr/bin/env python3 -m http.server"
    assert (p.priority, p.autostart, p.startsecs, p.startretries) == (5, False, 7.0, 9)
    assert p.autorestart is AutoRestart.ALWAYS
    assert p.exitcodes == frozenset({0, 2, 3})
    assert p.stopsignal == signal.SIGINT and p.stopwaitsecs == 30.0
    assert p.stopasgroup and p.killasgroup
    assert (p.user, p.uid, p.gid) == (me.pw_name, me.pw_uid, me.pw_gid)
    assert p.redirect_stderr
    assert p.stdout == LogSpec(
        path=f"{logdir}/out.log",
        maxbytes=1024,
        backups=2,
        capture_maxbytes=2 * 1024 * 1024,
        events_enabled=True,
        syslog=True,
    )
    assert p.stderr == LogSpec(
        path=None, maxbytes=1024**3, backups=0, capture_maxbytes=5, events_enabled=True
    )
    assert p.environment == (("A", "x,y"), ("B", "2"))
    assert p.directory == "/tmp" and p.umask == 0o027
    assert p.serverurl == "http://127.0.0.1:9001"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", AutoRestart.ALWAYS),
        ("Yes", AutoRestart.ALWAYS),
        ("false", AutoRestart.NEVER),
        ("OFF", AutoRestart.NEVER),
        ("0", AutoRestart.NEVER),
        ("unexpected", AutoRestart.UNEXPECTED),
        ("UNEXPECTED", AutoRestart.UNEXPECTED),
    ],
)
def test_autorestart(tmp_path: Path, value: str, expected: AutoRestart) -> None:
    p = only(load_body(tmp_path, f"[program:a]\ncommand=x\nautorestart={value}\n"))
    assert p.autorestart is expected


@pytest.mark.parametrize("value", ["yes", "true", "on", "1", "YES", "True", "On"])
def test_boolean_truthy(tmp_path: Path, value: str) -> None:
    assert not only(load_body(tmp_path, "[program:a]\ncommand=x\nautostart=no\n")).autostart
    p = only(load_body(tmp_path, f"[program:a]\ncommand=x\nautostart={value}\n"))
    assert p.autostart is True


@pytest.mark.parametrize("value", ["no", "false", "off", "0", "NO", "False"])
def test_boolean_falsy(tmp_path: Path, value: str) -> None:
    p = only(load_body(tmp_path, f"[program:a]\ncommand=x\nautostart={value}\n"))
    assert p.autostart is False


def test_killasgroup_defaults_to_stopasgroup(tmp_path: Path) -> None:
    p = only(load_body(tmp_path, "[program:a]\ncommand=x\nstopasgroup=true\n"))
    assert p.killasgroup is True


@pytest.mark.parametrize(
    ("value", "expected"),
    [("TERM", 15), ("SIGKILL", 9), ("hup", 1), ("9", 9), (" usr1 ", int(signal.SIGUSR1))],
)
def test_parse_signal(value: str, expected: int) -> None:
    assert parse_signal(value) == expected


@pytest.mark.parametrize("value", ["FOO", "SIGFOO", "", "99999", "-1"])
def test_parse_signal_rejects(value: str) -> None:
    with pytest.raises(ValueError):
        parse_signal(value)


@pytest.mark.parametrize(
    ("value", "path", "auto", "syslog"),
    [
        ("NONE", None, False, False),
        ("off", None, False, False),
        ("AUTO", None, True, False),
        ("auto", None, True, False),
        ("syslog", None, False, True),
        ("/dev/stdout", "/dev/stdout", False, False),
        ("rel.log", "rel.log", False, False),
    ],
)
def test_logfile_names(
    tmp_path: Path, value: str, path: str | None, auto: bool, syslog: bool
) -> None:
    spec = load_body(tmp_path, f"[program:a]\ncommand=x\nstdout_logfile={value}\n")
    log = only(spec).stdout
    assert (log.path, log.auto, log.syslog) == (path, auto, syslog)
    if value == "syslog":
        assert any("deprecated" in w for w in spec.warnings)


def test_logfile_directory_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_body(tmp_path, "[program:a]\ncommand=x\nstdout_logfile=/nonexistent/dir/a.log\n")
    assert "[program:a] stdout_logfile" in str(exc.value)


def test_redirect_stderr_drops_stderr_logfile(tmp_path: Path) -> None:
    body = f"[program:a]\ncommand=x\nredirect_stderr=true\nstderr_logfile={tmp_path}/e.log\n"
    spec = load_body(tmp_path, body)
    assert only(spec).stderr.path is None and not only(spec).stderr.auto
    assert any("redirect_stderr" in w for w in spec.warnings)


def test_auto_log_without_rollover_warns(tmp_path: Path) -> None:
    spec = load_body(tmp_path, "[program:a]\ncommand=x\nstdout_logfile_maxbytes=0\n")
    assert any("AUTO logging used for stdout_logfile" in w for w in spec.warnings)


def test_environment_quoting(tmp_path: Path) -> None:
    body = (
        "[program:a]\ncommand=x\n"
        'environment=A="a, b",B=\'single\',C=plain/path:1.2-3+(x),D="",A=again\n'
    )
    p = only(load_body(tmp_path, body))
    assert p.environment == (
        ("A", "again"),
        ("B", "single"),
        ("C", "plain/path:1.2-3+(x)"),
        ("D", ""),
    )


def test_environment_merges_supervisord_environment(tmp_path: Path) -> None:
    spec = load(
        conf(
            tmp_path,
            "[program:a]\ncommand=x\nenvironment=B=prog,C=3\n",
            head="[supervisord]\nenvironment=A=1,B=daemon\n",
        ),
        environ={},
    )
    assert only(spec).environment == (("A", "1"), ("B", "prog"), ("C", "3"))
    assert spec.environment == (("A", "1"), ("B", "daemon"))


def test_expansions_in_program(tmp_path: Path) -> None:
    body = (
        "[program:a]\n"
        "command=%(here)s %(program_name)s %(group_name)s %(host_node_name)s "
        "%(process_num)d %(numprocs)d %(ENV_HOME)s %(ENV_X)s %%\n"
        "environment=X=from-%(ENV_HOME)s\n"
    )
    p = only(load_body(tmp_path, body, environ={"HOME": "/home/u"}))
    assert p.command == f"{tmp_path} a a {platform.node()} 0 1 /home/u from-/home/u %"


def test_supervisord_environment_provides_env_names(tmp_path: Path) -> None:
    path = conf(
        tmp_path,
        "[program:a]\ncommand=echo %(ENV_GREETING)s\n",
        head="[supervisord]\nenvironment=GREETING=hi\n",
    )
    assert only(load(path, environ={})).command == "echo hi"


def test_unknown_expansion_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_body(tmp_path, "[program:a]\ncommand=echo %(nope)s\n")
    msg = str(exc.value)
    assert "[program:a] command" in msg and "nope" in msg and "\n" not in msg


def test_process_num_not_available_outside_the_process_loop(tmp_path: Path) -> None:
    # supervisor reads priority before it knows process_num
    with pytest.raises(ConfigError, match=r"\[program:a\] priority"):
        load_body(tmp_path, "[program:a]\ncommand=x\npriority=%(process_num)d\n")


def test_lone_percent_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[program:a\] command"):
        load_body(tmp_path, "[program:a]\ncommand=printf 100%s\n")


def test_numprocs(tmp_path: Path) -> None:
    body = (
        "[program:w]\ncommand=worker --id %(process_num)02d\n"
        "process_name=%(program_name)s-%(process_num)02d\n"
        "numprocs=3\nnumprocs_start=8\n"
        f"stdout_logfile={tmp_path}/w-%(process_num)d.log\n"
        "environment=N=%(process_num)d\n"
        "directory=/tmp/%(process_num)d\n"
    )
    spec = load_body(tmp_path, body)
    (group,) = spec.groups
    assert [p.name for p in group.programs] == ["w-08", "w-09", "w-10"]
    assert [p.namespec for p in group.programs] == ["w:w-08", "w:w-09", "w:w-10"]
    assert group.programs[0].command == "worker --id 08"
    assert [p.process_num for p in group.programs] == [8, 9, 10]
    assert {p.numprocs for p in group.programs} == {3}
    assert group.programs[2].stdout.path == f"{tmp_path}/w-10.log"
    assert group.programs[1].environment == (("N", "9"),)
    assert group.programs[0].directory == "/tmp/8"


def test_program_env_feeds_env_names_for_later_keys(tmp_path: Path) -> None:
    body = "[program:a]\ncommand=run %(ENV_PORT)s\nenvironment=PORT=80%(process_num)02d\n"
    assert only(load_body(tmp_path, body)).command == "run 8000"


def test_numprocs_needs_process_num(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_body(tmp_path, "[program:a]\ncommand=x\nnumprocs=2\n")
    assert "[program:a] process_name" in str(exc.value)


@pytest.mark.parametrize("name", ["a b", "a:b", "a/b"])
def test_bad_process_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=r"\[program:a\] process_name: invalid name"):
        load_body(tmp_path, f"[program:a]\ncommand=x\nprocess_name={name}\n")


def test_bad_program_section_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[program:a b\]: invalid name"):
        load_body(tmp_path, "[program:a b]\ncommand=x\n")


def test_groups(tmp_path: Path) -> None:
    body = """
[group:web]
programs=api, worker
priority=10
[program:api]
command=api
priority=2
[program:worker]
command=worker
priority=1
[program:cron]
command=cron
priority=1
"""
    spec = load_body(tmp_path, body)
    assert [(g.name, g.priority, g.section) for g in spec.groups] == [
        ("cron", 1, "program:cron"),
        ("web", 10, "group:web"),
    ]
    web = spec.group("web")
    assert web is not None
    assert [p.namespec for p in web.programs] == ["web:worker", "web:api"]
    assert [p.section for p in web.programs] == ["program:worker", "program:api"]


def test_groups_sorted_by_priority_then_name(tmp_path: Path) -> None:
    body = "".join(
        f"[program:{n}]\ncommand=x\npriority={p}\n"
        for n, p in [("b", 1), ("a", 1), ("c", 0), ("d", 999)]
    )
    assert [g.name for g in load_body(tmp_path, body).groups] == ["c", "a", "b", "d"]


def test_group_unknown_program(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_body(tmp_path, "[group:g]\nprograms=nope\n")
    assert "[group:g] programs" in str(exc.value) and "nope" in str(exc.value)


def test_group_ambiguous_program(tmp_path: Path) -> None:
    body = "[group:g]\nprograms=a\n[program:a]\ncommand=x\n[fcgi-program:a]\ncommand=x\n"
    body += "socket=tcp://localhost:9000\n"
    with pytest.raises(ConfigError, match="ambiguous"):
        load_body(tmp_path, body)


def test_duplicate_group_names(tmp_path: Path) -> None:
    body = "[group:a]\nprograms=b\n[program:b]\ncommand=x\n[program:a]\ncommand=y\n"
    with pytest.raises(ConfigError) as exc:
        load_body(tmp_path, body)
    assert "'a'" in str(exc.value) and "[group:a]" in str(exc.value)


def test_duplicate_process_names_in_group(tmp_path: Path) -> None:
    body = (
        "[group:g]\nprograms=a,b\n[program:a]\ncommand=x\nprocess_name=same\n"
        "[program:b]\ncommand=x\nprocess_name=same\n"
    )
    with pytest.raises(ConfigError, match="'same' occurs twice"):
        load_body(tmp_path, body)


def test_group_name_in_expansions(tmp_path: Path) -> None:
    body = "[group:g]\nprograms=a\n[program:a]\ncommand=echo %(group_name)s\n"
    assert only(load_body(tmp_path, body)).command == "echo g"


def test_eventlistener_and_fcgi(tmp_path: Path) -> None:
    body = """
[eventlistener:ev]
command=listener
events=PROCESS_STATE,tick_60
[fcgi-program:fc]
command=fc
socket=unix:///tmp/%(program_name)s.sock
"""
    spec = load_body(tmp_path, body)
    ev, fc = spec.groups
    assert (ev.name, ev.kind, ev.priority, ev.section) == (
        "ev",
        GroupKind.EVENTLISTENER,
        -1,
        "eventlistener:ev",
    )
    assert ev.programs[0].priority == 999  # the pool's default, not the process's
    assert (fc.name, fc.kind, fc.priority) == ("fc", GroupKind.FCGI_PROGRAM, 999)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("[eventlistener:e]\ncommand=x\n", "events"),
        ("[eventlistener:e]\ncommand=x\nevents=BOGUS\n", "events"),
        ("[eventlistener:e]\ncommand=x\nevents=TICK_5\nbuffer_size=0\n", "buffer_size"),
        ("[eventlistener:e]\ncommand=x\nevents=TICK_5\nredirect_stderr=true\n", "redirect_stderr"),
        ("[fcgi-program:f]\ncommand=x\n", "socket"),
        ("[fcgi-program:f]\ncommand=x\nsocket=unix://rel.sock\n", "socket"),
        ("[fcgi-program:f]\ncommand=x\nsocket=udp://x:1\n", "socket"),
        ("[fcgi-program:f]\ncommand=x\nsocket=tcp://x:1\nsocket_mode=0700\n", "socket"),
        ("[fcgi-program:f]\ncommand=x\nsocket=tcp://x:1\nsocket_backlog=0\n", "socket_backlog"),
    ],
)
def test_eventlistener_fcgi_errors(tmp_path: Path, body: str, key: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_body(tmp_path, body)
    section = body.split("]")[0][1:]
    assert f"[{section}] {key}:" in str(exc.value)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("priority", "high"),
        ("autostart", "maybe"),
        ("autorestart", "sometimes"),
        ("startsecs", "1.5"),
        ("startretries", "x"),
        ("exitcodes", "0,256"),
        ("exitcodes", "a"),
        ("stopsignal", "NOPE"),
        ("stopwaitsecs", "x"),
        ("stopasgroup", "x"),
        ("user", "no-such-user-xyz"),
        ("user", "987654"),
        ("redirect_stderr", "x"),
        ("stdout_logfile_maxbytes", "10XB"),
        ("stderr_logfile_backups", "x"),
        ("stdout_capture_maxbytes", "x"),
        ("stderr_events_enabled", "x"),
        ("stdout_syslog", "x"),
        ("environment", "A=1,B"),
        ("environment", 'A="unterminated'),
        ("umask", "089"),
        ("numprocs", "x"),
        ("numprocs_start", "x"),
    ],
)
def test_program_option_errors(tmp_path: Path, option: str, value: str) -> None:
    path = conf(
        tmp_path,
        f"[program:a]\ncommand=x\n{option}={value}\n".replace("command=x\ncommand=", "command="),
    )
    with pytest.raises(ConfigError) as exc:
        load(path, environ={})
    msg = str(exc.value)
    assert msg.startswith(f"{path} [program:a] {option}: "), msg
    assert "\n" not in msg


def test_empty_command_is_left_to_the_spawn(tmp_path: Path) -> None:
    # supervisord reads it and fails only that spawn (tests/compat/test_config_acceptance.py)
    spec = load(conf(tmp_path, "[program:a]\ncommand=\n[program:b]\ncommand= \n"))
    assert [p.command.strip() for p in programs(spec).values()] == ["", ""]


def test_missing_command(tmp_path: Path) -> None:
    path = conf(tmp_path, "[program:a]\npriority=1\n")
    with pytest.raises(ConfigError, match=r"\[program:a\] command: .*does not specify"):
        load(path)


def test_stopasgroup_without_killasgroup(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[program:a\] killasgroup"):
        load_body(tmp_path, "[program:a]\ncommand=x\nstopasgroup=true\nkillasgroup=false\n")


def test_numeric_user(tmp_path: Path) -> None:
    p = only(load_body(tmp_path, "[program:a]\ncommand=x\nuser=0\n"))
    assert (p.user, p.uid, p.gid) == ("0", 0, pwd.getpwuid(0).pw_gid)


def test_serverurl_auto(tmp_path: Path) -> None:
    assert only(load_body(tmp_path, "[program:a]\ncommand=x\nserverurl=AUTO\n")).serverurl is None


def test_unknown_program_key_is_a_warning(tmp_path: Path) -> None:
    path = conf(tmp_path, "[program:a]\ncommand=x\nautostrat=false\n")
    spec = load(path)
    assert only(spec).autostart is True
    assert spec.warnings == (f"{path}: [program:a] autostrat: unknown option ignored",)


def test_default_section_is_inherited(tmp_path: Path) -> None:
    body = "[program:a]\ncommand=x\n"
    path = conf(tmp_path, body, head="[DEFAULT]\nautostart=false\n[supervisord]\n")
    assert only(load(path)).autostart is False


def test_case_insensitive_keys(tmp_path: Path) -> None:
    assert only(load_body(tmp_path, "[program:a]\nCommand=x\n")).command == "x"


def test_inline_comments(tmp_path: Path) -> None:
    body = "[program:a]\ncommand=echo a;b # comment\npriority=3 ; three\n"
    p = only(load_body(tmp_path, body))
    assert (p.command, p.priority) == ("echo a;b", 3)


# --- includes -----------------------------------------------------------------------------


def test_include_globs_relative_to_main_file(tmp_path: Path) -> None:
    write(tmp_path / "conf.d" / "b.conf", "[program:b]\ncommand=%(here)s/b\n")
    write(tmp_path / "conf.d" / "a.conf", "[program:a]\ncommand=%(here)s/a\n")
    write(tmp_path / "conf.d" / "sub" / "c.ini", "[program:c]\ncommand=%(here)s/c\n")
    write(tmp_path / "other" / "d.conf", "[program:d]\ncommand=%(here)s/d\n")
    main = conf(
        tmp_path,
        "[include]\nfiles = conf.d/*.conf conf.d/*/*.ini %(here)s/other/d.conf nomatch/*.x\n",
    )
    spec = load(main, environ={})
    cmds = {n: p.command for n, p in programs(spec).items()}
    assert cmds == {
        "a": f"{tmp_path}/conf.d/a",
        "b": f"{tmp_path}/conf.d/b",
        "c": f"{tmp_path}/conf.d/sub/c",
        "d": f"{tmp_path}/other/d",
    }
    assert spec.groups[0].section == "program:a"
    assert spec.warnings == (f'{main}: [include] files: no file matches "{tmp_path}/nomatch/*.x"',)


def test_include_from_another_directory(tmp_path: Path) -> None:
    write(tmp_path / "etc" / "conf.d" / "a.conf", "[program:a]\ncommand=%(here)s\n")
    main = write(
        tmp_path / "etc" / "supervisord.conf", "[supervisord]\n[include]\nfiles=conf.d/*.conf\n"
    )
    assert only(load(main)).command == f"{tmp_path}/etc/conf.d"


def test_include_matching_the_main_file_is_harmless(tmp_path: Path) -> None:
    write(tmp_path / "a.conf", "[program:a]\ncommand=x\n")
    main = conf(tmp_path, "[include]\nfiles=*.conf\n")
    assert list(programs(load(main))) == ["a"]


def test_nested_include_is_ignored_with_warning(tmp_path: Path) -> None:
    write(tmp_path / "inc" / "a.conf", "[program:a]\ncommand=x\n[include]\nfiles=more/*.conf\n")
    write(tmp_path / "inc" / "more" / "b.conf", "[program:b]\ncommand=x\n")
    spec = load(conf(tmp_path, "[include]\nfiles=inc/*.conf\n"))
    assert list(programs(spec)) == ["a"]
    assert any("ignored" in w for w in spec.warnings)


def test_include_without_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[include\] files"):
        load_body(tmp_path, "[include]\n")


def test_included_file_that_fails_to_parse_is_named(tmp_path: Path) -> None:
    bad = write(tmp_path / "conf.d" / "bad.conf", "[program:a\ncommand=x\n")
    with pytest.raises(ConfigError) as exc:
        load(conf(tmp_path, "[include]\nfiles=conf.d/*.conf\n"))
    assert str(exc.value).startswith(f"{bad}: ") and "\n" not in str(exc.value)


def test_included_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    # a dangling symlink matches the glob but cannot be opened, even by root
    (tmp_path / "conf.d").mkdir()
    bad = tmp_path / "conf.d" / "bad.conf"
    bad.symlink_to(tmp_path / "missing-target")
    with pytest.raises(ConfigError) as exc:
        load(conf(tmp_path, "[include]\nfiles=conf.d/*.conf\n"))
    assert str(exc.value).startswith(f"{bad}: cannot read config file")


def test_section_defined_in_two_files_is_merged(tmp_path: Path) -> None:
    inc = write(tmp_path / "conf.d" / "a.conf", "[program:a]\ncommand=y\n")
    main = conf(tmp_path, "[program:a]\ncommand=x\n[include]\nfiles=conf.d/*.conf\n")
    spec = load(main)
    assert programs(spec)["a"].command == "y"  # supervisord: the later file's value wins
    assert f"{inc}: [program:a] is also defined in {main}; merged, as supervisord does" in (
        spec.warnings
    )


def test_errors_in_included_file_name_that_file(tmp_path: Path) -> None:
    inc = write(tmp_path / "conf.d" / "a.conf", "[program:a]\ncommand=x\npriority=x\n")
    with pytest.raises(ConfigError) as exc:
        load(conf(tmp_path, "[include]\nfiles=conf.d/*.conf\n"))
    assert str(exc.value).startswith(f"{inc} [program:a] priority: ")


# --- file-level errors --------------------------------------------------------------------


def test_missing_supervisord_section(tmp_path: Path) -> None:
    path = write(tmp_path / "x.conf", "[program:a]\ncommand=x\n")
    with pytest.raises(ConfigError) as exc:
        load(path)
    assert str(exc.value) == f"{path}: .ini file does not include supervisord section"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="could not find config file"):
        load(str(tmp_path / "nope.conf"))


@pytest.mark.parametrize(
    "text",
    [
        "no header\n",
        "[supervisord\n",
        "[supervisord]\n  indented continuation with no key\n=value\n",
    ],
)
def test_syntax_errors_name_the_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "s.conf", text)
    with pytest.raises(ConfigError) as exc:
        load(path)
    assert str(exc.value).startswith(f"{path}: ") and "\n" not in str(exc.value)


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "s.conf"
    path.write_bytes(b"[supervisord]\n\xff\xfe\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load(str(path))


@pytest.mark.parametrize("name", ["foo", "programx:y", "program:", "Program:a", "group"])
def test_unknown_section_types(tmp_path: Path, name: str) -> None:
    path = conf(tmp_path, f"[{name}]\na=1\n")
    with pytest.raises(ConfigError) as exc:
        load(path)
    assert str(exc.value) == f"{path} [{name}]: unknown section type"


def test_plugin_sections_are_accepted(tmp_path: Path) -> None:
    body = (
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
        "[ctlplugin:x]\nsupervisor.ctl_factory = x:y\n"
    )
    assert load_body(tmp_path, body).warnings == ()


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load(str(tmp_path))


def test_environ_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPGRPC_TEST_VAR", "v1")
    path = conf(tmp_path, "[program:a]\ncommand=echo %(ENV_SUPGRPC_TEST_VAR)s\n")
    assert only(load(path)).command == "echo v1"


_FUZZ_KEYS = sorted(
    {
        "command",
        "numprocs",
        "process_name",
        "environment",
        "stdout_logfile",
        "user",
        "umask",
        "exitcodes",
        "stopsignal",
        "stdout_logfile_maxbytes",
        "autorestart",
        "priority",
    }
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=st.sampled_from(_FUZZ_KEYS), value=st.text(max_size=30))
def test_fuzz_only_config_errors(tmp_path: Path, key: str, value: str) -> None:
    value = value.replace("\r", " ").replace("\n", " ").replace("\x0b", " ").replace("\x0c", " ")
    value = "".join(c if c.isprintable() else " " for c in value)
    path = conf(tmp_path, f"[program:a]\ncommand=x\n{key}={value}\n")
    try:
        load(path, environ={})
    except ConfigError as exc:
        assert "\n" not in str(exc)
