"""supgrpcd and its configuration file: bad configs, the search path, includes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import Daemon, run, supgrpcd_argv, wait_until

MARKER_PROGRAM = """
[program:marker]
command=touch %(here)s/started
startsecs=0
autorestart=false
"""

BAD_CONFIGS = {
    "wrong type": ("[program:x]\ncommand=true\nstartsecs=abc\n", "[program:x]", "startsecs"),
    "unknown section type": ("[bogus]\na=1\n", "[bogus]", None),
    "missing command": ("[program:x]\nstartsecs=1\n", "[program:x]", "command"),
    "bad signal name": (
        "[program:x]\ncommand=true\nstopsignal=NOPE\n",
        "[program:x]",
        "stopsignal",
    ),
    "unknown user": ("[program:x]\ncommand=true\nuser=no_such_user_xyz\n", "[program:x]", "user"),
    "bad autorestart": (
        "[program:x]\ncommand=true\nautorestart=sometimes\n",
        "[program:x]",
        "autorestart",
    ),
    "duplicate names": (
        "[program:x]\ncommand=true\n[program:y]\ncommand=true\n[group:x]\nprograms=y\n",
        "[program:x]",
        None,
    ),
    "bad exitcodes": (
        "[program:x]\ncommand=true\nexitcodes=0,banana\n",
        "[program:x]",
        "exitcodes",
    ),
    "not supported yet": (
        "[fcgi-program:f]\ncommand=true\nsocket=tcp://127.0.0.1:9\n",
        "[fcgi-program:f]",
        None,
    ),
    "custom result_handler": (
        "[eventlistener:e]\ncommand=true\nevents=PROCESS_STATE\nresult_handler=x:y\n",
        "[eventlistener:e]",
        "result_handler",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_exits_2_with_one_line_naming_file_section_key_and_starts_nothing(
    tmp_path, case
):
    body, section, key = BAD_CONFIGS[case]
    conf = tmp_path / "supervisord.conf"
    conf.write_text("[supervisord]\nlogfile=%(here)s/supervisord.log\n" + MARKER_PROGRAM + body)
    result = run([*supgrpcd_argv(), "-c", str(conf), "--no-grpc"], cwd=str(tmp_path))
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert stderr.endswith("\n") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    assert str(conf) in stderr
    assert section in stderr
    if key is not None:
        assert key in stderr
    assert not (tmp_path / "started").exists()
    assert not (tmp_path / "supervisord.log").exists()


def test_bad_included_file_is_named_in_the_message(tmp_path):
    (tmp_path / "conf.d").mkdir()
    bad = tmp_path / "conf.d" / "broken.conf"
    bad.write_text("[program:broken]\ncommand=true\nstartretries=many\n")
    conf = tmp_path / "supervisord.conf"
    conf.write_text(
        "[supervisord]\nlogfile=%(here)s/supervisord.log\n[include]\nfiles=conf.d/*.conf\n"
        + MARKER_PROGRAM
    )
    result = run([*supgrpcd_argv(), "-c", str(conf), "--no-grpc"], cwd="/")
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert stderr.count("\n") == 1
    assert str(bad) in stderr and "[program:broken]" in stderr and "startretries" in stderr
    assert not (tmp_path / "started").exists()


def test_usage_error_exits_2_with_one_line(tmp_path):
    result = run([*supgrpcd_argv(), "--no-such-option"], cwd=str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.decode().count("\n") == 1


def test_include_globs_are_relative_to_the_including_file(daemon, tmp_path):
    confdir = tmp_path / "d0" / "conf.d"
    confdir.mkdir(parents=True)
    (confdir / "one.conf").write_text("[program:one]\ncommand=sleep 1000\nstartsecs=0\n")
    (confdir / "two.conf").write_text(
        "[group:pair]\nprograms=two,three\n"
        "[program:two]\ncommand=sleep 1000\nstartsecs=0\n"
        "[program:three]\ncommand=sleep 1000\nstartsecs=0\n"
    )
    (confdir / "ignored.ini").write_text("[program:ignored]\ncommand=sleep 1000\n")
    d = daemon(
        """
[include]
files=conf.d/*.conf
[program:main]
command=sleep 1000
startsecs=0
""",
        cwd="/",  # a relative glob must not depend on the daemon's working directory
    )
    for name in ("main", "one", "two", "three"):
        d.wait_running(name)
    assert d.stop() == 0
    assert "ignored" not in d.log()


def _search_path_is_clean() -> bool:
    exe_dir = Path(supgrpcd_argv()[0]).parent
    prefix = exe_dir.parent
    for directory in (prefix / "etc", prefix, Path("/etc"), Path("/etc/supervisor")):
        for name in ("supgrpc.conf", "supervisord.conf"):
            if (directory / name).exists():
                return False
    return True


needs_clean_search_path = pytest.mark.skipif(
    not _search_path_is_clean(), reason="a config file exists in the search path before ./"
)


@needs_clean_search_path
def test_without_c_the_config_is_found_in_the_working_directory(daemon, tmp_path):
    d = daemon(
        "[program:found]\ncommand=sleep 1000\nstartsecs=0\n",
        use_config_flag=False,
    )
    started_with = d.find_log(r"supgrpcd started with pid \d+, config (\S+)")[0].group(1)
    assert started_with == str(d.config_path)
    d.wait_running("found")


@needs_clean_search_path
def test_supgrpc_conf_is_preferred_to_supervisord_conf_in_the_same_directory(daemon, tmp_path):
    other = tmp_path / "d0"
    other.mkdir()
    (other / "supervisord.conf").write_text("[supervisord]\n[program:wrong]\ncommand=true\n")
    d = daemon(
        "[program:right]\ncommand=sleep 1000\nstartsecs=0\n",
        use_config_flag=False,
        conf_name="supgrpc.conf",
    )
    started_with = d.find_log(r"supgrpcd started with pid \d+, config (\S+)")[0].group(1)
    assert started_with == str(other / "supgrpc.conf")
    d.wait_running("right")
    assert "wrong" not in d.log()


@needs_clean_search_path
@pytest.mark.skipif(os.path.exists("./supervisord.conf"), reason="unexpected config")
def test_no_config_anywhere_exits_2(tmp_path):
    result = run([*supgrpcd_argv(), "--no-grpc"], cwd=str(tmp_path))
    assert result.returncode == 2
    stderr = result.stderr.decode()
    assert stderr.count("\n") == 1 and "no configuration file found" in stderr


def test_pidfile_is_written_and_removed(daemon):
    d: Daemon = daemon("[program:p]\ncommand=sleep 1000\nstartsecs=0\n")
    pidfile = d.dir / "supervisord.pid"
    wait_until(lambda: pidfile.exists() and pidfile.read_text().strip())
    assert int(pidfile.read_text()) == d.pid
    assert d.stop() == 0
    assert not pidfile.exists()
