"""Sections and keys given more than once: merged exactly as supervisord 4.3.0 merges them
(its configparser runs with ``strict=False``), each repeat reported as one warning line.

Every rule is checked against supervisor's own parser (``oracle``) on the same files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from supervisor_grpc.config import load
from supervisor_grpc.errors import ConfigError
from supervisor_grpc.model import DaemonSpec, LogLevel
from tests.unit.config_helpers import conf, oracle, programs, write


def _theirs(opts: Any) -> dict[str, tuple[str, int, bool]]:
    assert not isinstance(opts, str), opts
    return {
        f"{g.name}:{p.name}" if g.name != p.name else p.name: (p.command, p.priority, p.autostart)
        for g in opts.process_group_configs
        for p in g.process_configs
    }


def _ours(spec: DaemonSpec) -> dict[str, tuple[str, int, bool]]:
    return {n: (p.command, p.priority, p.autostart) for n, p in programs(spec).items()}


def _both(path: str) -> tuple[DaemonSpec, Any]:
    spec, opts = load(path, environ={}), oracle(path, {})
    assert _ours(spec) == _theirs(opts)
    return spec, opts


def test_a_key_given_twice_keeps_the_last_value_and_warns(tmp_path: Path) -> None:
    path = conf(
        tmp_path,
        "[program:a]\ncommand=/bin/first\nautorestart = true\nautorestart = false\n"
        "command=/bin/second\n",
    )
    spec, _ = _both(path)
    assert programs(spec)["a"].command == "/bin/second"
    assert programs(spec)["a"].autorestart.name == "NEVER"
    assert (
        f"{path}: [program:a] autorestart: given more than once in this section; "
        "the last value is used, as in supervisord" in spec.warnings
    )
    assert sum("[program:a] command: given more than once" in w for w in spec.warnings) == 1


def test_a_section_given_twice_in_one_file_is_merged(tmp_path: Path) -> None:
    path = conf(
        tmp_path,
        "[program:a]\ncommand=/bin/a\npriority=5\n[program:b]\ncommand=/bin/b\n"
        "[program:a]\nautostart=false\npriority=7\n",
    )
    spec, _ = _both(path)
    a = programs(spec)["a"]
    assert (a.command, a.priority, a.autostart) == ("/bin/a", 7, False)
    assert (
        f"{path}: [program:a] appears twice in this file; merged, as supervisord does"
        in spec.warnings
    )
    assert any("[program:a] priority: given more than once" in w for w in spec.warnings)


def test_supervisord_section_in_an_included_file_merges_into_the_main_one(tmp_path: Path) -> None:
    inc = write(
        tmp_path / "conf.d" / "x.conf",
        "[supervisord]\nidentifier=from-include\nnodaemon=true\nautorestart=true\n"
        "[program:b]\ncommand=/bin/b\n",
    )
    path = conf(
        tmp_path,
        f"identifier=from-main\nloglevel=warn\nlogfile={tmp_path}/main.log\n"
        "[include]\nfiles=conf.d/*.conf\n",
    )
    spec, opts = _both(path)
    assert (spec.identifier, spec.nodaemon, spec.loglevel, spec.logfile) == (
        opts.identifier,
        opts.nodaemon,
        LogLevel.WARN,
        opts.logfile,
    )
    assert spec.identifier == "from-include" and spec.nodaemon is True
    assert (
        f"{inc}: [supervisord] is also defined in {path}; merged, as supervisord does"
        in spec.warnings
    )
    assert (
        f"{inc}: [supervisord] identifier: overrides the value from {path}, as in supervisord"
        in spec.warnings
    )
    # a program-only key in [supervisord] is unknown there, as before
    assert any("[supervisord] autorestart: unknown option ignored" in w for w in spec.warnings)


def test_program_redefined_in_a_later_included_file(tmp_path: Path) -> None:
    write(tmp_path / "conf.d" / "1.conf", "[program:a]\ncommand=/bin/one\npriority=1\n")
    second = write(tmp_path / "conf.d" / "2.conf", "[program:a]\ncommand=/bin/two\n")
    path = conf(
        tmp_path,
        "[program:a]\ncommand=/bin/main\nautostart=false\n[include]\nfiles=conf.d/*.conf\n",
    )
    spec, _ = _both(path)
    a = programs(spec)["a"]
    assert (a.command, a.priority, a.autostart) == ("/bin/two", 1, False)
    assert any(
        w.startswith(f"{second}: [program:a] command: overrides the value from ")
        for w in spec.warnings
    )


def test_here_of_an_overriding_value_is_its_own_file(tmp_path: Path) -> None:
    write(tmp_path / "conf.d" / "x.conf", "[program:a]\ncommand=%(here)s/run\n")
    path = conf(tmp_path, "[program:a]\ncommand=%(here)s/main\n[include]\nfiles=conf.d/*.conf\n")
    spec, _ = _both(path)
    assert programs(spec)["a"].command == f"{tmp_path}/conf.d/run"


def test_default_section_repeated_across_files(tmp_path: Path) -> None:
    write(tmp_path / "conf.d" / "x.conf", "[DEFAULT]\npriority=9\n[program:b]\ncommand=/bin/b\n")
    path = conf(
        tmp_path,
        "[DEFAULT]\npriority=3\n[program:a]\ncommand=/bin/a\n[include]\nfiles=conf.d/*.conf\n",
    )
    spec, _ = _both(path)
    assert programs(spec)["a"].priority == programs(spec)["b"].priority == 9
    assert any("[DEFAULT] priority: overrides the value from" in w for w in spec.warnings)


def test_merged_section_errors_still_name_the_file_of_the_bad_value(tmp_path: Path) -> None:
    inc = write(tmp_path / "conf.d" / "x.conf", "[program:a]\npriority=high\n")
    path = conf(tmp_path, "[program:a]\ncommand=/bin/a\n[include]\nfiles=conf.d/*.conf\n")
    assert isinstance(oracle(path, {}), str)  # supervisord refuses it too
    with pytest.raises(ConfigError) as exc:
        load(path, environ={})
    assert str(exc.value).startswith(f"{inc} [program:a] priority: ")
