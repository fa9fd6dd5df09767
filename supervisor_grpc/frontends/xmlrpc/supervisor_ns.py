"""supervisor's ``supervisor.*`` namespace (API 3.0), implemented on ``control``.

Owns: argument checks, namespec handling, return shapes and fault choice for every method of
supervisor 4.3.0's ``SupervisorNamespaceRPCInterface``, and our ``restart``.
May import: control, model, errors, this package's faults/codec/structs, stdlib.
Threading: any connection thread; each call reaches the loop only through ``control``. The
only state is the "restart in progress" flag (an Event, set under a lock).

Names follow supervisor's ``split_namespec``: ``g:p`` is process p of group g, ``g:*`` and
``g:`` the whole group, and a bare ``x`` means ``x:x``. They reach ``control`` always as
``g:p`` or ``g:*``, so supervisor's exact lookup rules apply (``all`` is not special here).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ...control import ActionResult, Control, parse_signal
from ...errors import NoFile, NoSuchProcess, SupervisorError
from ...model import SIGNALLABLE_STATES, Channel
from ..presentation import describe, wall_time
from .codec import capped_int, log_text
from .faults import Faults, RpcFault, from_error
from .structs import (
    Struct,
    config_struct,
    info_struct,
    int_arg,
    result,
    result_structs,
    split_namespec,
    string_arg,
)

log = logging.getLogger("supgrpc")
API_VERSION = "3.0"
SUPERVISOR_VERSION = "4.3.0"  # the supervisor release whose API we reproduce


@contextmanager
def _faults(name: str | None = None) -> Iterator[None]:
    """Domain errors raised inside become supervisor Faults (named after ``name``)."""
    try:
        yield
    except SupervisorError as exc:
        raise from_error(exc, name) from None


class SupervisorNamespace:
    def __init__(self, control: Control) -> None:
        self.control = control
        self.restarting = threading.Event()
        self._restart_lock = threading.Lock()

    def _wall_time(self, t_mono: float | None) -> float:
        return wall_time(self.control, t_mono)

    # ---- supervisor's _update(): refuse while stopping ------------------------------------

    def check(self) -> None:
        if self.restarting.is_set():
            raise RpcFault(Faults.SHUTDOWN_STATE)
        # From the mood the loop journals, not a loop round trip: a call that then asks the
        # loop for its answer costs one trip, not two. A call racing a shutdown still gets
        # SHUTDOWN_STATE from the ShuttingDown its own loop job raises (see _faults).
        if self.control.shutting_down():
            raise RpcFault(Faults.SHUTDOWN_STATE)

    # ---- the daemon ---------------------------------------------------------------------

    def api_version(self) -> str:
        self.check()
        return API_VERSION

    def supervisor_version(self) -> str:
        self.check()
        return SUPERVISOR_VERSION

    def identification(self) -> str:
        self.check()
        with _faults():
            return self.control.daemon_info().identifier

    def state(self) -> Struct:
        self.check()
        with _faults():
            state = self.control.daemon_info().state
        return {"statecode": int(state), "statename": state.name}

    def pid(self) -> int:
        self.check()
        with _faults():
            return self.control.daemon_info().pid

    def read_log(self, offset: object, length: object) -> str:
        self.check()
        start, size = int_arg(offset, "offset"), int_arg(length, "length")
        try:
            channel = self.control.log_channel(None)
        except NoSuchProcess:
            raise RpcFault(Faults.NO_FILE, "None") from None
        with _faults():
            return log_text(channel.read_file(start, size))

    def clear_log(self) -> bool:
        self.check()
        try:
            channel = self.control.log_channel(None)
        except NoSuchProcess:
            raise RpcFault(Faults.NO_FILE) from None
        if channel.path is None or not os.path.exists(channel.path):
            raise RpcFault(Faults.NO_FILE)
        with _faults():
            self.control.clear_main_log()
        log.info("reopening log file")
        return True

    def shutdown(self) -> bool:
        self.check()
        with _faults():
            self.control.shutdown()
        return True

    def restart(self) -> bool:
        """supervisord re-reads everything and restarts all children in-process. We do the
        closest thing on the running daemon: reread (refused with CANT_REREAD if the file is
        broken), stop everything, apply the new program config, start what autostarts."""
        self.check()
        with _faults():
            self.control.reread()
        with self._restart_lock:
            if self.restarting.is_set():
                raise RpcFault(Faults.SHUTDOWN_STATE)
            self.restarting.set()
        threading.Thread(target=self._restart, name="xmlrpc-restart", daemon=True).start()
        return True

    def _restart(self) -> None:
        log.warning(
            "restart requested through XML-RPC: stopping all processes, "
            "then applying the configuration"
        )
        try:
            self.control.stop("*", wait=True)
            self.control.update()
            configs = sorted(
                self.control.config_info(),
                key=lambda c: (c.group_priority, c.spec.priority, c.spec.group, c.spec.name),
            )
            for config in configs:
                if config.inuse and config.spec.autostart:
                    self.control.start(f"{config.spec.group}:{config.spec.name}", wait=False)
        except SupervisorError as exc:
            log.error("restart: %s", exc)
        except Exception:  # a thread of our own: report, never die silently
            log.critical("restart failed", exc_info=True)
        finally:
            self.restarting.clear()

    # ---- configuration -------------------------------------------------------------------

    def reload_config(self) -> list[list[list[str]]]:
        self.check()
        with _faults():
            diff = self.control.reread()
        return [[list(diff.added), list(diff.changed), list(diff.removed)]]

    def add_group(self, name: object) -> bool:
        self.check()
        group = string_arg(name, "name")
        with _faults(group):
            self.control.add_group(group)
        return True

    def remove_group(self, name: object) -> bool:
        self.check()
        group = string_arg(name, "name")
        with _faults(group):
            self.control.remove_group(group)
        return True

    def all_config_info(self) -> list[Struct]:
        self.check()
        with _faults():
            configs = self.control.config_info()
            running = {(i.group, i.name): i for i in self.control.list_processes()}
        return [config_struct(c, running.get((c.spec.group, c.spec.name))) for c in configs]

    # ---- start / stop / signal -------------------------------------------------------------

    def _process(self, name: object) -> str:
        """``g:p`` for a one-process name; BAD_NAME for a group spec."""
        text = string_arg(name, "name")
        group, process = split_namespec(text)
        if process is None:
            raise RpcFault(Faults.BAD_NAME, text)
        return f"{group}:{process}"

    def start_process(self, name: object, wait: object = True) -> bool | list[Struct]:
        self.check()
        text = string_arg(name, "name")
        group, process = split_namespec(text)
        if process is None:  # g:* answers with the group's array (faults name "g:*")
            return self._start_many(f"{group}:*", wait, text)
        with _faults(text):
            results = self.control.start(f"{group}:{process}", wait=bool(wait))
        _raise_first(results, text)
        return True

    def start_group(self, name: object, wait: object = True) -> list[Struct]:
        self.check()
        group = string_arg(name, "name")
        return self._start_many(f"{group}:*", wait, group)

    def start_all(self, wait: object = True) -> list[Struct]:
        self.check()
        return self._start_many("*", wait, None)

    def _start_many(self, target: str, wait: object, name: str | None) -> list[Struct]:
        with _faults(name):
            results = self.control.start(target, wait=bool(wait))
        return result_structs(results, skip="ALREADY_STARTED")

    def stop_process(self, name: object, wait: object = True) -> bool | list[Struct]:
        self.check()
        text = string_arg(name, "name")
        group, process = split_namespec(text)
        if process is None:
            return self._stop_many(f"{group}:*", wait, text)
        with _faults(text):
            results = self.control.stop(f"{group}:{process}", wait=bool(wait))
        _raise_first(results, text)
        return True

    def stop_group(self, name: object, wait: object = True) -> list[Struct]:
        self.check()
        group = string_arg(name, "name")
        return self._stop_many(f"{group}:*", wait, group)

    def stop_all(self, wait: object = True) -> list[Struct]:
        self.check()
        return self._stop_many("*", wait, None)

    def _stop_many(self, target: str, wait: object, name: str | None) -> list[Struct]:
        with _faults(name):
            results = self.control.stop(target, wait=bool(wait))
        return result_structs(results, skip="NOT_RUNNING")

    def signal_process(self, name: object, signal: object) -> bool | list[Struct]:
        self.check()
        text = string_arg(name, "name")
        group, process = split_namespec(text)
        if process is None:
            return self._signal_many(f"{group}:*", signal, text)
        target = f"{group}:{process}"
        with _faults(text):
            self.control.targets(target)  # BAD_NAME comes before BAD_SIGNAL
        signum = _signal(signal)
        with _faults(text):
            results = self.control.signal(target, signum)
        _raise_first(results, text)
        return True

    def signal_group(self, name: object, signal: object) -> list[Struct]:
        self.check()
        group = string_arg(name, "name")
        return self._signal_many(f"{group}:*", signal, group)

    def signal_all(self, signal: object) -> list[Struct]:
        self.check()
        return self._signal_many("*", signal, None)

    def _signal_many(self, target: str, signal: object, name: str | None) -> list[Struct]:
        with _faults(name):
            infos = self.control.targets(target)
        try:
            signum = _signal(signal)
        except RpcFault as fault:
            # supervisor reports a bad signal per signallable process, not as a fault.
            return [
                {
                    "name": i.name,
                    "group": i.group,
                    "status": int(fault.code),
                    "description": fault.text,
                }
                for i in infos
                if i.state in SIGNALLABLE_STATES
            ]
        with _faults(name):
            results = self.control.signal(target, signum)
        return result_structs(results, skip="NOT_RUNNING")

    # ---- process information ---------------------------------------------------------------

    def process_info(self, name: object) -> Struct:
        self.check()
        target = self._process(name)
        with _faults(str(name)):
            info = self.control.process_info(target)
        return info_struct(info, time.time(), self._wall_time, describe(self.control, info))

    def all_process_info(self) -> list[Struct]:
        self.check()
        with _faults():
            infos = self.control.list_processes()
        now = time.time()
        return [info_struct(i, now, self._wall_time, describe(self.control, i)) for i in infos]

    # ---- process logs ------------------------------------------------------------------

    def read_process_log(
        self, name: object, offset: object, length: object, channel: Channel
    ) -> str:
        self.check()
        target = self._process(name)
        start, size = int_arg(offset, "offset"), int_arg(length, "length")
        with _faults(str(name)):
            log_channel = self.control.log_channel(target, channel)
        with _faults():
            return log_text(log_channel.read_file(start, size))

    def tail_process_log(
        self, name: object, offset: object, length: object, channel: Channel
    ) -> list[Any]:
        self.check()
        target = self._process(name)
        start, size = int_arg(offset, "offset"), int_arg(length, "length")
        with _faults(str(name)):
            log_channel = self.control.log_channel(target, channel)
        with _faults():
            if size < 0:  # supervisor reads nothing, but still reports size and overflow
                _, end, _ = log_channel.tail_file(start, 0)
                return ["", capped_int(end), end > start + size]
            data, end, overflow = log_channel.tail_file(start, size)
        return [log_text(data), capped_int(end), overflow]

    def clear_process_logs(self, name: object) -> bool:
        self.check()
        target = self._process(name)
        try:
            self.control.clear_log(target)
        except SupervisorError as exc:
            if exc.code == "FAILED":  # supervisor names the process, not the file
                raise RpcFault(Faults.FAILED, name) from None
            raise from_error(exc, str(name)) from None
        return True

    def clear_all_process_logs(self) -> list[Struct]:
        self.check()
        with _faults():
            return [result(r) for r in self.control.clear_all_logs()]

    # ---- stdin and events ----------------------------------------------------------------

    def send_stdin(self, name: object, chars: object) -> bool:
        self.check()
        if not isinstance(chars, str):
            raise RpcFault(Faults.INCORRECT_PARAMETERS, chars)
        target = self._process(name)
        try:
            self.control.send_stdin(target, chars.encode("utf-8"))
        except NoFile:
            raise RpcFault(Faults.NO_FILE, name) from None
        except SupervisorError as exc:
            raise from_error(exc, str(name)) from None
        return True

    def remote_comm_event(self, type_: object, data: object) -> bool:
        # Exempt from the shutdown check, as in supervisor (listeners still run while the
        # daemon stops); the values are formatted with %s there, so str() here.
        with _faults():
            self.control.send_remote_comm_event(str(type_), str(data))
        return True


def _signal(value: object) -> int:
    if not isinstance(value, (str, int)):
        raise RpcFault(Faults.BAD_SIGNAL, value)
    with _faults():
        return parse_signal(value)


def _raise_first(results: list[ActionResult], name: str) -> None:
    if not results:
        raise RpcFault(Faults.BAD_NAME, name)
    error = results[0].error
    if error is not None:
        raise from_error(error, name)
