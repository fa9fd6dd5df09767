"""One batch of signals read from the wakeup fd is handled signal by signal (issue 11, item 6):
an exception while handling one (here a log reopen that blows up) must not drop the SIGTERM
that came in the same read."""

from __future__ import annotations

import logging
import signal

import pytest

from supervisor_grpc.daemon.app import App
from supervisor_grpc.daemon.args import Options
from supervisor_grpc.model import DaemonSpec


class ExplodingCore:
    def __init__(self) -> None:
        self.shutdowns: list[str] = []

    def reopen_logs(self) -> None:
        raise RuntimeError("disk on fire")

    def request_shutdown(self, reason: str) -> None:
        self.shutdowns.append(reason)


class MainHandler:
    def __init__(self) -> None:
        self.reopened = 0

    def reopen_channel(self) -> None:
        self.reopened += 1


def test_a_failure_handling_one_signal_spares_the_rest_of_the_batch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App(Options(), DaemonSpec(), "/etc/supervisord.conf")
    core = ExplodingCore()
    app.core = core  # type: ignore[assignment]
    app._main_handler = MainHandler()  # type: ignore[assignment]
    with caplog.at_level(logging.CRITICAL):
        app._on_signals([int(signal.SIGUSR2), int(signal.SIGTERM)])
    assert core.shutdowns == ["received SIGTERM indicating exit request"]
    assert any("handling signal" in r.getMessage() for r in caplog.records)
