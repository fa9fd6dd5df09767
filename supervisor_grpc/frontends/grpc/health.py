"""grpc.health.v1 statuses: ``""`` for the whole init, ``program:NAMESPEC`` per process.

Owns: the mapping from daemon, process and program-health states to SERVING/NOT_SERVING, and
the one thread that applies it to the HealthServicer (health_servicer.py).
May import: control, model, errors, grpc_health, stdlib.
Threading: ``process_changed`` runs on the loop thread: it stores the newest state in a dict
under a small lock, nothing more. Everything else happens on the reporter's own thread, which
follows the event journal (process transitions, program health results, shutdown, groups).
It sleeps until the journal has a new event or is closed (the core closes it at the end of
every run), so an idle daemon never wakes it. ``stop()`` does not need the thread to notice:
it makes every later ``set`` a no-op at once; the thread (a daemon thread) then exits on its
next wake-up. Statuses reach the asyncio HealthServicer as coroutines scheduled on
the front-end's asyncio loop (in order, never awaited here): its Watch streams are coroutines
too, so a stuck Watch client holds no thread and never stalls the supervisor loop.

Rules: ``program:NAMESPEC`` is SERVING when the process is RUNNING and its own health check (if
it has one) says healthy. ``""`` (readiness of the whole init, for Kubernetes' gRPC probes and
``supgrpc-cli health``) is SERVING while the daemon is RUNNING and every autostart program is
SERVING by that rule.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from dataclasses import dataclass
from typing import Any

from grpc_health.v1 import health_pb2

from ...control import Control
from ...errors import SupervisorError
from ...model import (
    DaemonState,
    DaemonStateChanged,
    Event,
    GroupAdded,
    GroupRemoved,
    Health,
    HealthChanged,
    ProcessCommunication,
    ProcessInfo,
    ProcessState,
    ProcessStateChanged,
    RemoteCommunication,
    assert_never,
)
from .health_servicer import HealthServicer

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
OVERALL = ""
# The journal wakes waiters on every event and on close, so this is only a backstop for a
# journal that is never closed (in-process tests): an hourly wake-up, not a poll.
WAIT_SECONDS = 3600.0
# stop(): how long to wait for every status to turn NOT_SERVING.
STOP_SECONDS = 0.5


def program_service(namespec: str) -> str:
    return f"program:{namespec}"


@dataclass(slots=True)
class _Program:
    state: ProcessState
    health: Health = Health.NONE
    autostart: bool = True

    @property
    def status(self) -> Any:
        ok = self.state is ProcessState.RUNNING and self.health in (Health.NONE, Health.HEALTHY)
        return SERVING if ok else NOT_SERVING


class HealthReporter:
    """Feeds the HealthServicer from loop callbacks and the event journal."""

    def __init__(
        self, control: Control, servicer: HealthServicer, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._control = control
        self.servicer = servicer
        self._loop = loop
        self._lock = threading.Lock()
        self._pending: dict[str, ProcessState] = {}
        self._programs: dict[str, _Program] = {}  # reporter thread only
        self._groups: dict[str, set[str]] = {}  # reporter thread only
        self._cursor = 0
        self._daemon_running = False  # reporter thread only
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread; it seeds every status from one snapshot, then follows changes.

        Seeding happens on the thread because front-ends start before the loop runs: a
        control call here would wait for a loop that has not started yet.
        """
        self._cursor = self._control.journal.last_seq
        self._thread = threading.Thread(target=self._run, name="grpc-health", daemon=True)
        self._thread.start()

    def process_changed(self, namespec: str, state: ProcessState) -> None:
        """Loop thread: record the newest state only (never blocks on a client)."""
        with self._lock:
            self._pending[namespec] = state

    def stop(self) -> None:
        """Everything NOT_SERVING from now on (grpc_health ignores later sets). Never blocks
        for long: grpc_health writes to Watch streams under its lock, and a stuck watcher is
        only released when the server stops, which our caller does next."""
        self._stopped.set()
        try:
            done = asyncio.run_coroutine_threadsafe(
                self.servicer.enter_graceful_shutdown(), self._loop
            )
            done.result(STOP_SECONDS)
        except (RuntimeError, concurrent.futures.TimeoutError):
            pass  # the loop is gone, or a Watch client is stuck: the server stop follows

    # ---- the reporter thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._seed()
        except SupervisorError as exc:  # shutting down before the loop ever ran
            log.debug("health seeding skipped: %s", exc)
            return
        journal = self._control.journal
        while not self._stopped.is_set() and not journal.closed:
            journal.wait(self._cursor, WAIT_SECONDS)
            try:
                self._catch_up()
            except Exception:  # a health bug must not take the daemon's API down
                log.exception("health status update failed")

    def _seed(self) -> None:
        daemon = self._control.daemon_info()
        self._daemon_running = daemon.state is DaemonState.RUNNING
        for info in self._control.list_processes():
            self._track(info)
        self._set_overall()

    def _set_overall(self) -> None:
        ready = self._daemon_running and all(
            p.status == SERVING for p in self._programs.values() if p.autostart
        )
        self._set(OVERALL, SERVING if ready else NOT_SERVING)

    def _track(self, info: ProcessInfo) -> None:
        self._groups.setdefault(info.group, set()).add(info.namespec)
        program = _Program(info.state, info.health, info.autostart)
        self._programs[info.namespec] = program
        self._set(program_service(info.namespec), program.status)

    def _catch_up(self) -> None:
        # Pending loop callbacks first, the journal last: the journal is at least as new as
        # anything process_changed recorded, so the final value is the newest one.
        with self._lock:
            pending, self._pending = self._pending, {}
        touched = set()
        for namespec, state in pending.items():
            self._program(namespec, state).state = state
            touched.add(namespec)
        journal = self._control.journal
        while True:
            items, self._cursor, skipped = journal.read(self._cursor, 1024)
            if skipped:  # fell behind the kept history: re-read everything
                self._reseed()
            for _, event in items:
                touched |= self._on_event(event)
            if not items:
                break
        for namespec in touched:
            program = self._programs.get(namespec)
            if program is not None:
                self._set(program_service(namespec), program.status)
        self._set_overall()

    def _reseed(self) -> None:
        try:
            self._seed()
        except SupervisorError:
            self._daemon_running = False
            self._set(OVERALL, NOT_SERVING)

    def _program(self, namespec: str, state: ProcessState) -> _Program:
        return self._programs.setdefault(namespec, _Program(state))

    def _on_event(self, event: Event) -> set[str]:
        """Apply one journal record; return the namespecs whose status may have changed."""
        match event:
            case DaemonStateChanged():
                self._daemon_running = event.state is DaemonState.RUNNING
            case ProcessStateChanged():
                namespec = event.namespec
                self._groups.setdefault(event.group, set()).add(namespec)
                self._program(namespec, event.to_state).state = event.to_state
                return {namespec}
            case HealthChanged():
                program = self._programs.get(event.namespec)
                if program is not None:
                    program.health = event.status
                    return {event.namespec}
            case GroupAdded():
                try:
                    infos = self._control.targets(f"{event.group}:*")
                except SupervisorError:
                    return set()  # removed again meanwhile
                for info in infos:
                    self._track(info)
            case GroupRemoved():
                for namespec in self._groups.pop(event.group, set()):
                    self._programs.pop(namespec, None)
                    self._set(program_service(namespec), NOT_SERVING)
            case ProcessCommunication() | RemoteCommunication():
                pass  # says nothing about anyone's health
            case _:
                assert_never(event)
        return set()

    def _set(self, service: str, status: Any) -> None:
        if not self._stopped.is_set():
            try:
                asyncio.run_coroutine_threadsafe(self.servicer.set(service, status), self._loop)
            except RuntimeError:
                pass  # the front-end's loop is gone
