"""Shared pytest set-up: markers by directory, zombie checks, and the ``daemon`` fixture.

- Tests under tests/integration, tests/compat, tests/pid1 and tests/tooling get the marker of
  their directory, so ``pytest -m "not pid1"`` or ``-m "not integration"`` work without
  per-file boilerplate.
- After every test, and once more at the end of the session, no child of the test process may
  be left a zombie (ARCHITECTURE.md "Tests": the teardown check).
- The shared fixtures (``daemon``, ...) live in ``tests.support.fixtures``, registered here as a
  plugin so every directory gets them.
"""

from __future__ import annotations

import os

# Before anything imports grpc: we only fork+exec, so gRPC's fork handlers are not wanted.
os.environ["GRPC_ENABLE_FORK_SUPPORT"] = "false"

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support import wait_until, zombies_of


def _default_signal_dispositions() -> None:
    """Children inherit ignored signals, and ``supgrpcd -- CMD`` passes the caller's ignored set
    on to CMD, as tini does. A suite started under nohup, or as a background job of a shell
    without job control (SIGINT and SIGQUIT ignored), would then test that environment rather
    than supgrpcd: every test starts from default dispositions, whoever launched pytest."""
    for sig in (
        signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2,
        signal.SIGALRM, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU,
    ):  # fmt: skip
        if signal.getsignal(sig) is signal.SIG_IGN:
            signal.signal(sig, signal.SIG_DFL)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


_default_signal_dispositions()

pytest_plugins = ["tests.support.fixtures"]

# Property tests explore new random cases on a developer's machine, but CI runs the same
# examples every time: a red CI must mean the code changed, not the dice. (A failure found
# locally is printed with its seed and kept in the example database for the next run.)
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

_DIRECTORY_MARKERS = ("integration", "compat", "pid1", "tooling")


def pytest_configure(config: pytest.Config) -> None:
    for name, text in (
        ("integration", "real child processes and sockets"),
        ("compat", "real supervisorctl / supervisord 4.3.0"),
        ("pid1", "runs supgrpcd as PID 1 inside unshare"),
        ("tooling", "lint, import contracts and generated-code checks (run external tools)"),
    ):
        config.addinivalue_line("markers", f"{name}: {text}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for name in _DIRECTORY_MARKERS:
            if name in parts:
                item.add_marker(getattr(pytest.mark, name))


def _assert_no_zombies(when: str) -> None:
    me = os.getpid()
    try:
        # A child that just exited may still be waiting for its Popen.wait(); give it a moment.
        wait_until(lambda: not zombies_of(me), timeout=3.0)
    except AssertionError:
        raise AssertionError(f"zombie children of the test process {when}: {zombies_of(me)}")


@pytest.fixture(autouse=True)
def _no_zombies_after_test() -> Iterator[None]:
    yield
    _assert_no_zombies("after this test")


@pytest.fixture(scope="session", autouse=True)
def _no_zombies_after_session() -> Iterator[None]:
    yield
    _assert_no_zombies("at the end of the session")
