"""Small adapters the composition root plugs between rooms: the log echo into the bounded
writer, network health probes on a worker, front-end transition callbacks, the terminal's
foreground group.

Owns: nothing kept between calls.
May import: runtime (probes, inbox), logstore, model, errors, core.
Threading: ``probe_on_worker`` runs its probe on a worker and answers through the inbox;
the rest run on the loop thread (``give_terminal_to`` on the main thread, which is the loop's).
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
from collections.abc import Callable

from ..core import Process
from ..errors import SupervisorError
from ..logstore import Forwarder
from ..machine import Publish
from ..model import HealthSpec, ProcessState
from ..runtime.inbox import Inbox


class EchoStream:
    """A text stream for the log handler's echo that queues into the bounded writer."""

    def __init__(self, writer: Forwarder, stream: str) -> None:
        self.writer = writer
        self.stream = stream

    def write(self, text: str) -> int:
        self.writer.write_raw(self.stream, text.encode("utf-8", "backslashreplace"))
        return len(text)

    def flush(self) -> None:
        pass


def _probe(spec: HealthSpec) -> tuple[bool, str]:
    # Imported by the first probe, on its worker: probes pulls in urllib.request (and with
    # it email, tempfile...), which a start without network health checks never needs.
    from ..runtime import probes

    return probes.probe(spec)


def probe_on_worker(
    pool: concurrent.futures.ThreadPoolExecutor,
    inbox: Inbox,
    spec: HealthSpec,
    done: Callable[[tuple[bool, str]], None],
) -> None:
    """Run a network health probe on a worker; hand its result back to the loop."""

    def finished(fut: concurrent.futures.Future[tuple[bool, str]]) -> None:
        try:
            result = fut.result()
        except Exception as exc:  # a probe that blew up is a failed probe
            result = (False, f"probe error: {exc}")
        try:
            inbox.submit(lambda: done(result))
        except SupervisorError:
            pass  # shutting down: nobody needs the answer

    try:
        pool.submit(_probe, spec).add_done_callback(finished)
    except RuntimeError:
        pass  # pool already shut down


def notify_frontend(
    listener: Callable[[str, ProcessState], None], proc: Process, pub: Publish
) -> None:
    listener(proc.namespec, pub.to_state)


def give_terminal_to(pid: int) -> None:
    """Make the child's process group the terminal's foreground, so Ctrl-C reaches it (tini)."""
    try:
        if not os.isatty(0):
            return
        previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.tcsetpgrp(0, pid)
        finally:
            signal.signal(signal.SIGTTOU, previous)
    except OSError:
        pass
