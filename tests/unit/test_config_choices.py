"""Closed choices are model enums whose values are exactly the spellings the config accepts,
and a bad spelling still fails with the one-line error it always had.

Pure: sections are built in memory (no file is read), so these run in any order and fast.
"""

from __future__ import annotations

import enum
import logging

import pytest
from supervisor.loggers import LevelsByDescription  # type: ignore[import-untyped]

from supervisor_grpc.config import datatypes as dt
from supervisor_grpc.config.extensions import choice, program_extensions, supervisord_extensions
from supervisor_grpc.config.getter import Getter
from supervisor_grpc.config.reader import Section, Value
from supervisor_grpc.daemon.args import Options
from supervisor_grpc.daemon.specs import apply_overrides
from supervisor_grpc.errors import ConfigError
from supervisor_grpc.logstore import BLATHER, TRACE, level_number
from supervisor_grpc.model import (
    DaemonSpec,
    ExitWhen,
    ForwardOutput,
    HttpKind,
    LogFormat,
    LogLevel,
    UnhealthyAction,
)

FILE = "/etc/supervisord.conf"
HEALTH = {"healthcheck_command": "true"}


def section(name: str, **values: str) -> Section:
    return Section(name, FILE, {k: Value(v, FILE) for k, v in values.items()})


def read(key: str, text: str) -> object:
    """``key=text`` read by the code that reads it from a config file."""
    if key == "unhealthy_action":
        g = Getter(section("program:a", **HEALTH, unhealthy_action=text), {})
        health = program_extensions(g)["health"]
        return health.unhealthy_action
    g = Getter(section("supervisord", **{key: text}), {})
    return supervisord_extensions(g)[key]


# key, enum, the allowed list as the error has always spelled it
CHOICES = [
    ("exit_when", ExitWhen, "never, any, all"),
    ("forward_output", ForwardOutput, "off, text, json"),
    ("log_format", LogFormat, "text, json"),
    ("unhealthy_action", UnhealthyAction, "none, restart"),
]


@pytest.mark.parametrize(("key", "kind", "allowed"), CHOICES)
def test_every_member_is_one_spelling_the_config_accepts(
    key: str, kind: type[enum.Enum], allowed: str
) -> None:
    assert [m.value for m in kind] == allowed.split(", ")
    for member in kind:
        assert read(key, member.value) is member
        assert read(key, f" {member.value.upper()} ") is member  # case and spaces, as before


@pytest.mark.parametrize(("key", "kind", "allowed"), CHOICES)
def test_a_bad_choice_is_the_same_one_line_error(
    key: str, kind: type[enum.Enum], allowed: str
) -> None:
    name = "program:a" if key == "unhealthy_action" else "supervisord"
    with pytest.raises(ConfigError) as exc:
        read(key, "Bogus")
    assert str(exc.value) == f"{FILE} [{name}] {key}: 'Bogus' is not one of {allowed}"


def test_defaults_are_the_members_supervisor_behaviour_needs() -> None:
    assert supervisord_extensions(Getter(section("supervisord"), {})) == {
        "exit_when": ExitWhen.NEVER,
        "forward_output": ForwardOutput.OFF,
        "forward_buffer_bytes": 4 * 1024 * 1024,
        "log_format": LogFormat.TEXT,
    }
    health = program_extensions(Getter(section("program:a", **HEALTH), {}))["health"]
    assert health.unhealthy_action is UnhealthyAction.NONE
    spec = DaemonSpec()
    assert (spec.exit_when, spec.forward_output, spec.log_format, spec.loglevel) == (
        ExitWhen.NEVER,
        ForwardOutput.OFF,
        LogFormat.TEXT,
        LogLevel.INFO,
    )


def test_choice_converts_to_any_enum_of_strings() -> None:
    class Colour(enum.Enum):
        RED = "red"
        BLUE = "blue"

    convert = choice(Colour)
    assert convert("Blue") is Colour.BLUE
    with pytest.raises(ValueError, match=r"^'green' is not one of red, blue$"):
        convert("green")


def test_log_levels_are_supervisors_words_and_numbers() -> None:
    theirs = {k: v for k, v in vars(LevelsByDescription).items() if not k.startswith("_")}
    assert tuple(m.value for m in LogLevel) == tuple(theirs) == dt.LOG_LEVELS
    assert {m.value: level_number(m) for m in LogLevel} == theirs
    assert (level_number(LogLevel.TRACE), level_number(LogLevel.BLATHER)) == (TRACE, BLATHER)
    assert level_number(LogLevel.WARN) == logging.WARNING


def test_loglevel_in_the_file_becomes_the_enum_and_a_bad_one_keeps_its_message() -> None:
    from supervisor_grpc.config.sections import supervisord

    warnings: list[str] = []
    for member in LogLevel:
        spec = supervisord(section("supervisord", loglevel=member.value.upper()), {}, "h", warnings)
        assert spec.loglevel is member
    with pytest.raises(ConfigError) as exc:
        supervisord(section("supervisord", loglevel="loud"), {}, "h", warnings)
    assert str(exc.value) == f"{FILE} [supervisord] loglevel: bad logging level name 'loud'"


def test_loglevel_on_the_command_line_becomes_the_enum_and_a_bad_one_keeps_its_message() -> None:
    assert apply_overrides(DaemonSpec(), Options(loglevel=" DEBUG")).loglevel is LogLevel.DEBUG
    with pytest.raises(ConfigError) as exc:
        apply_overrides(DaemonSpec(), Options(loglevel="loud"))
    assert str(exc.value) == "bad command-line value: unknown log level 'loud'"


def test_http_kind_names_the_section_supervisor_names() -> None:
    assert [(k.value, k.section) for k in HttpKind] == [
        ("unix", "unix_http_server"),
        ("inet", "inet_http_server"),
    ]


def test_forwarded_lines_are_json_only_in_json_mode() -> None:
    assert {m: m.line_format for m in ForwardOutput} == {
        ForwardOutput.OFF: LogFormat.TEXT,  # the daemon's own echo still goes through it
        ForwardOutput.TEXT: LogFormat.TEXT,
        ForwardOutput.JSON: LogFormat.JSON,
    }
