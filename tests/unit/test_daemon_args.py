"""supgrpcd's command line: which dialect, and tini's lines read as tini reads them."""

from __future__ import annotations

import pytest

from supervisor_grpc.daemon import args as cli
from supervisor_grpc.model import LogLevel


def parse(*argv: str, **environ: str) -> cli.Options:
    return cli.parse(list(argv), environ)


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["-g", "sleep", "1"], ["sleep", "1"]),
        (["-g", "--", "sleep", "1"], ["sleep", "1"]),
        (["-g", "sleep", "--", "-x"], ["sleep", "-x"]),  # tini's "PROGRAM -- ARGS"
        (["sleep", "-g"], ["sleep"]),  # getopt permutes: -g is still ours, as in tini
        (["--", "sleep", "--", "-x"], ["sleep", "--", "-x"]),
    ],
)
def test_tini_options_before_a_command_need_no_double_dash(argv, command):
    opts = parse(*argv)
    assert opts.command == command
    assert opts.process_group is True or "-g" not in argv
    assert opts.configuration is None


def test_dash_e_with_a_command_is_tinis_exit_code_remap_not_a_log_level():
    opts = parse("-e", "3", "-e4", "sh")
    assert opts.remap_exit == [3, 4] and opts.loglevel is None and opts.command == ["sh"]


def test_dash_v_with_a_command_is_verbosity_not_version():
    opts = parse("-vvv", "true")
    assert not opts.show_version and opts.verbosity == 4 and opts.command == ["true"]
    assert cli.loglevel_for_verbosity(opts.verbosity) is LogLevel.TRACE
    assert cli.loglevel_for_verbosity(parse("true").verbosity) is LogLevel.WARN  # tini's default 1


def test_without_a_command_the_options_are_supervisords():
    opts = parse("-vvv")
    assert opts.show_version
    opts = parse("-e", "debug", "-s")
    assert opts.loglevel == "debug" and opts.silent is True and opts.command == []


def test_with_dash_c_a_command_is_one_more_program():
    opts = parse("-c", "x.conf", "-e", "3", "--", "sh")
    assert opts.configuration == "x.conf" and opts.remap_exit == [3] and opts.command == ["sh"]
    opts = parse("-c", "x.conf", "-e", "debug")
    assert opts.loglevel == "debug" and opts.command == []


def test_an_option_after_the_command_is_read_as_ours_like_tini_and_dash_c_says_how_to_pass_it():
    with pytest.raises(cli.UsageError, match=r"write: supgrpcd \[OPTIONS\] -- sh -c 'exit 3'"):
        parse("sh", "-c", "exit 3")
    with pytest.raises(cli.UsageError, match="-x"):
        parse("sleep", "-x")


def test_tini_environment_variables():
    assert parse("true", TINI_KILL_PROCESS_GROUP="").process_group is True
    assert parse("-vvv", "true", TINI_VERBOSITY="0").verbosity == 0  # replaces -v, as tini
    assert cli.loglevel_for_verbosity(0) is LogLevel.CRITICAL
    assert parse("true", TINI_SUBREAPER="").subreaper is True
    assert parse("--no-subreaper", "true", TINI_SUBREAPER="1").subreaper is False
    with pytest.raises(cli.UsageError, match="TINI_VERBOSITY='lots' is not a number"):
        parse("true", TINI_VERBOSITY="lots")
    # Only in tini's dialect: supervisor mode ignores them.
    assert parse("-c", "x.conf", TINI_KILL_PROCESS_GROUP="").process_group is False


@pytest.mark.parametrize("argv", [["-h"], ["--help"], ["-g", "-h"], ["-c", "x", "--help"]])
def test_help_in_either_dialect(argv):
    assert parse(*argv).show_help


def test_help_describes_every_option_of_both_parsers():
    for parser in (cli._supervisord_parser(), cli._tini_parser()):
        for option in parser._option_string_actions:
            if option.endswith("-short"):
                continue  # internal aliases of -s/-e/-v
            assert f"{option} " in cli.HELP or f"{option}," in cli.HELP, option
    for variable in ("TINI_SUBREAPER", "TINI_VERBOSITY", "TINI_KILL_PROCESS_GROUP"):
        assert variable in cli.HELP
