"""Extension keys: parsed and validated, and still ignored (loadable) by supervisord 4.3.0."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor_grpc.config import load
from supervisor_grpc.errors import ConfigError
from supervisor_grpc.machine import backoff_delay
from supervisor_grpc.model import (
    ExitWhen,
    ForwardOutput,
    HealthKind,
    HealthSpec,
    LogFormat,
    UnhealthyAction,
)
from tests.unit.config_helpers import conf, only, oracle


def test_program_extension_defaults(tmp_path: Path) -> None:
    p = only(load(conf(tmp_path, "[program:a]\ncommand=x\n")))
    assert (p.depends_on, p.critical, p.killtree, p.health) == ((), False, False, None)
    assert [backoff_delay(p, n) for n in (1, 2, 3)] == [1.0, 2.0, 3.0]  # supervisor's linear


def test_backoff_keys_and_retry_forever(tmp_path: Path) -> None:
    body = (
        "[program:a]\ncommand=x\nstartretries=-1\nbackoff_initial=0.5\n"
        "backoff_multiplier=2\nbackoff_max=3\n"
    )
    p = only(load(conf(tmp_path, body)))
    assert p.startretries == -1
    assert [backoff_delay(p, n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_health_and_critical_keys(tmp_path: Path) -> None:
    body = (
        "[program:a]\ncommand=x\ncritical=true\nhealthcheck_tcp=127.0.0.1:8080\n"
        "healthcheck_interval=2\nhealthcheck_timeout=1\nhealthcheck_retries=2\n"
        "healthcheck_start_period=5\nunhealthy_action=restart\n"
    )
    p = only(load(conf(tmp_path, body)))
    assert p.critical
    assert p.health == HealthSpec(
        HealthKind.TCP, "127.0.0.1:8080", 2.0, 1.0, 2, 5.0, UnhealthyAction.RESTART
    )


@pytest.mark.parametrize(
    ("body", "key", "text"),
    [
        ("healthcheck_tcp=nohost", "healthcheck_tcp", "is not host:port"),
        ("healthcheck_http=ftp://x/", "healthcheck_http", "is not an http:// or https:// URL"),
        ("healthcheck_interval=3", "healthcheck_interval", "set healthcheck_command"),
        ("healthcheck_command=true\nhealthcheck_tcp=a:1", "healthcheck_tcp", "only one of"),
        ("healthcheck_command=true\nunhealthy_action=explode", "unhealthy_action", "not one of"),
        ("backoff_multiplier=0.5", "backoff_multiplier", "must be >= 1"),
        ("startretries=-2", "startretries", "retry forever"),
        ("critical=maybe", "critical", ""),
    ],
)
def test_bad_extension_values_name_the_key(tmp_path: Path, body: str, key: str, text: str) -> None:
    path = conf(tmp_path, f"[program:a]\ncommand=x\n{body}\n")
    with pytest.raises(ConfigError) as exc:
        load(path)
    message = str(exc.value)
    assert message.startswith(f"{path} [program:a] {key}: ")
    assert text in message and "\n" not in message


def test_dependencies_resolve_and_cycles_are_rejected(tmp_path: Path) -> None:
    ok = (
        "[program:db]\ncommand=x\n[program:web]\ncommand=x\ndepends_on=db, workers:*\n"
        "[program:w]\ncommand=x\n[group:workers]\nprograms=w\n"
    )
    spec = load(conf(tmp_path, ok))
    web = next(p for g in spec.groups for p in g.programs if p.name == "web")
    assert web.depends_on == ("db", "workers:*")
    cyc = "[program:a]\ncommand=x\ndepends_on=b\n[program:b]\ncommand=x\ndepends_on=a\n"
    with pytest.raises(
        ConfigError, match=r"depends_on: dependency cycle: (a -> b -> a|b -> a -> b)"
    ):
        load(conf(tmp_path, cyc))
    unknown = "[program:a]\ncommand=x\ndepends_on=ghost\n"
    with pytest.raises(ConfigError, match=r"\[program:a\] depends_on: unknown program 'ghost'"):
        load(conf(tmp_path, unknown))


def test_supervisord_extension_keys(tmp_path: Path) -> None:
    head = "[supervisord]\nexit_when=all\nforward_output=json\nforward_buffer_bytes=1MB\n"
    path = conf(tmp_path, "log_format=json\n[program:a]\ncommand=x\n", head=head)
    spec = load(path)
    assert (spec.exit_when, spec.forward_output, spec.log_format) == (
        ExitWhen.ALL,
        ForwardOutput.JSON,
        LogFormat.JSON,
    )
    assert spec.forward_buffer_bytes == 1024 * 1024


def test_supervisord_4_3_still_loads_a_file_with_extension_keys(tmp_path: Path) -> None:
    body = (
        "[program:db]\ncommand=/bin/true\nhealthcheck_tcp=127.0.0.1:5432\ncritical=true\n"
        "[program:web]\ncommand=/bin/true\ndepends_on=db\nbackoff_multiplier=2\nkilltree=true\n"
    )
    path = conf(tmp_path, body, head="[supervisord]\nexit_when=any\nforward_output=text\n")
    theirs = oracle(path)
    assert not isinstance(theirs, str), theirs
    assert sorted(g.name for g in theirs.process_group_configs) == ["db", "web"]
