"""The method table: every wire name supervisor 4.3.0 publishes, and the dispatcher over it.

Owns: the explicit ``wire name -> callable`` table (the only place camelCase lives), arity
checks, ``system.*`` (listMethods, methodHelp, methodSignature, multicall), and turning
unexpected domain errors into Faults.
May import: this package's supervisor_ns/faults, errors, model, stdlib.
Threading: the table is built once and never changes; any connection thread dispatches.

Security: a call is a dictionary lookup, never attribute traversal (supervisor's
CVE-2017-11610 was traversal). Names whose method part starts with ``_`` cannot be in the
table (checked when it is built) and are refused before the lookup anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...errors import SupervisorError
from ...model import Channel
from .faults import Faults, RpcFault, from_error
from .supervisor_ns import SupervisorNamespace

log = logging.getLogger("supgrpc")


@dataclass(frozen=True)
class Param:
    type: str
    name: str
    text: str


@dataclass(frozen=True)
class Method:
    func: Callable[..., Any]
    doc: str
    returns: tuple[str, str]
    params: tuple[Param, ...] = ()
    optional: int = 0  # how many trailing params have defaults

    @property
    def signature(self) -> list[str]:
        return [self.returns[0], *(p.type for p in self.params)]

    @property
    def help(self) -> str:
        lines = [self.doc, ""]
        lines += [f"@param {p.type} {p.name}  {p.text}" for p in self.params]
        lines.append(f"@return {self.returns[0]} {self.returns[1]}")
        return "\n".join(lines)

    def call(self, params: tuple[Any, ...]) -> Any:
        most = len(self.params)
        if not most - self.optional <= len(params) <= most:
            raise RpcFault(Faults.INCORRECT_PARAMETERS)
        return self.func(*params)


_NAME = Param("string", "name", "process name (or group:name, or group:*)")
_GROUP = Param("string", "name", "group name")
_WAIT = Param("boolean", "wait", "wait until the process is fully started/stopped")
_OFFSET = Param("int", "offset", "where to start reading (negative: from the end)")
_LENGTH = Param("int", "length", "how many bytes to read (0: to the end)")
_SIGNAL = Param("string", "signal", "signal name ('HUP', 'SIGHUP') or number ('1')")
_RESULTS = ("array", "result  an array of {name, group, status, description} structs")


_OK = ("boolean", "result  always true unless error")


def _daemon_methods(ns: SupervisorNamespace) -> dict[str, Method]:
    version = Method(
        ns.api_version, "The RPC API version supervisord speaks.", ("string", "version  '3.0'")
    )
    read_log = Method(
        ns.read_log,
        "Read bytes of the daemon's main log.",
        ("string", "result  the bytes read"),
        (_OFFSET, _LENGTH),
    )
    return {
        "supervisor.getAPIVersion": version,
        "supervisor.getVersion": version,
        "supervisor.getSupervisorVersion": Method(
            ns.supervisor_version,
            "The supervisor release whose API this daemon serves.",
            ("string", "version  '4.3.0'"),
        ),
        "supervisor.getIdentification": Method(
            ns.identification,
            "The daemon's identifier ([supervisord] identifier).",
            ("string", "identifier  identifying string"),
        ),
        "supervisor.getState": Method(
            ns.state, "The daemon's state.", ("struct", "result  {int statecode, string statename}")
        ),
        "supervisor.getPID": Method(ns.pid, "The daemon's PID.", ("int", "pid  the PID")),
        "supervisor.readLog": read_log,
        "supervisor.readMainLog": read_log,
        "supervisor.clearLog": Method(ns.clear_log, "Clear (and reopen) the main log.", _OK),
        "supervisor.shutdown": Method(ns.shutdown, "Stop every process, then exit.", _OK),
        "supervisor.restart": Method(
            ns.restart,
            "Reread the config, stop every process, apply the new program config "
            "and start the autostart programs again.",
            _OK,
        ),
        "supervisor.reloadConfig": Method(
            ns.reload_config,
            "Reread the config file and report the process groups it added, "
            "changed and removed; nothing is applied.",
            ("array", "result  [[added, changed, removed]]"),
        ),
        "supervisor.addProcessGroup": Method(
            ns.add_group,
            "Load a process group from the last read config.",
            ("boolean", "result  true if successful"),
            (_GROUP,),
        ),
        "supervisor.removeProcessGroup": Method(
            ns.remove_group,
            "Unload a process group whose processes are all stopped.",
            ("boolean", "result  true if successful"),
            (_GROUP,),
        ),
        "supervisor.getAllConfigInfo": Method(
            ns.all_config_info,
            "Every configured process (groups flattened), loaded or not.",
            ("array", "result  an array of process config structs"),
        ),
    }


def _process_methods(ns: SupervisorNamespace) -> dict[str, Method]:
    return {
        "supervisor.startProcess": Method(
            ns.start_process,
            "Start a process (group:* starts the group).",
            _OK,
            (_NAME, _WAIT),
            optional=1,
        ),
        "supervisor.startProcessGroup": Method(
            ns.start_group,
            "Start the group's processes that are not running.",
            _RESULTS,
            (_GROUP, _WAIT),
            optional=1,
        ),
        "supervisor.startAllProcesses": Method(
            ns.start_all,
            "Start every process that is not running, in priority order.",
            _RESULTS,
            (_WAIT,),
            optional=1,
        ),
        "supervisor.stopProcess": Method(
            ns.stop_process,
            "Stop a process (group:* stops the group).",
            _OK,
            (_NAME, _WAIT),
            optional=1,
        ),
        "supervisor.stopProcessGroup": Method(
            ns.stop_group,
            "Stop the group's running processes.",
            _RESULTS,
            (_GROUP, _WAIT),
            optional=1,
        ),
        "supervisor.stopAllProcesses": Method(
            ns.stop_all,
            "Stop every running process, in reverse priority order.",
            _RESULTS,
            (_WAIT,),
            optional=1,
        ),
        "supervisor.signalProcess": Method(
            ns.signal_process,
            "Send a signal to a process (group:* signals the group).",
            _OK,
            (_NAME, _SIGNAL),
        ),
        "supervisor.signalProcessGroup": Method(
            ns.signal_group,
            "Send a signal to the group's signallable processes.",
            ("array", "result  an array of process status structs"),
            (_GROUP, _SIGNAL),
        ),
        "supervisor.signalAllProcesses": Method(
            ns.signal_all, "Send a signal to every signallable process.", _RESULTS, (_SIGNAL,)
        ),
        "supervisor.getProcessInfo": Method(
            ns.process_info,
            "A process's state.",
            ("struct", "result  a process info struct"),
            (_NAME,),
        ),
        "supervisor.getAllProcessInfo": Method(
            ns.all_process_info,
            "Every process's state, sorted by group then name.",
            ("array", "result  an array of process info structs"),
        ),
        "supervisor.sendProcessStdin": Method(
            ns.send_stdin,
            "Write characters (UTF-8 encoded) to a process's stdin.",
            _OK,
            (_NAME, Param("string", "chars", "the characters to send")),
        ),
        "supervisor.sendRemoteCommEvent": Method(
            ns.remote_comm_event,
            "Emit a REMOTE_COMMUNICATION event. supgrpcd runs no event "
            "listeners, so it is accepted and dropped.",
            _OK,
            (
                Param("string", "type", "the event's type"),
                Param("string", "data", "the event's body"),
            ),
        ),
    }


def _log_methods(ns: SupervisorNamespace) -> dict[str, Method]:
    def read(channel: Channel) -> Method:
        return Method(
            lambda n, o, length: ns.read_process_log(n, o, length, channel),
            f"Read bytes of a process's {channel.value} log.",
            ("string", "result  the bytes read"),
            (_NAME, _OFFSET, _LENGTH),
        )

    def tail(channel: Channel) -> Method:
        return Method(
            lambda n, o, length: ns.tail_process_log(n, o, length, channel),
            f"Tail a process's {channel.value} log: at most length bytes past offset; when "
            "more than that arrived, overflow is true and the last length bytes are returned. "
            "The returned offset is the log's size, for the next call.",
            ("array", "result  [string bytes, int offset, bool overflow]"),
            (
                _NAME,
                Param("int", "offset", "where the last call ended"),
                Param("int", "length", "most bytes to return"),
            ),
        )

    clear_one = Method(
        ns.clear_process_logs,
        "Clear (and reopen) a process's stdout and stderr logs.",
        _OK,
        (_NAME,),
    )
    stdout_read, stdout_tail = read(Channel.STDOUT), tail(Channel.STDOUT)
    return {
        "supervisor.readProcessStdoutLog": stdout_read,
        "supervisor.readProcessLog": stdout_read,
        "supervisor.readProcessStderrLog": read(Channel.STDERR),
        "supervisor.tailProcessStdoutLog": stdout_tail,
        "supervisor.tailProcessLog": stdout_tail,
        "supervisor.tailProcessStderrLog": tail(Channel.STDERR),
        "supervisor.clearProcessLogs": clear_one,
        "supervisor.clearProcessLog": clear_one,
        "supervisor.clearAllProcessLogs": Method(
            ns.clear_all_process_logs, "Clear every process's logs.", _RESULTS
        ),
    }


class Dispatcher:
    """``call(method, params)`` returns the value or raises RpcFault."""

    def __init__(self, supervisor: SupervisorNamespace) -> None:
        self.supervisor = supervisor
        table = {
            **_daemon_methods(supervisor),
            **_process_methods(supervisor),
            **_log_methods(supervisor),
            **self._system_methods(),
        }
        for name in table:
            namespace, _, method = name.partition(".")
            if not namespace or not method or "." in method or method.startswith("_"):
                raise ValueError(f"unpublishable method name {name!r}")
        self.table: dict[str, Method] = table

    def _system_methods(self) -> dict[str, Method]:
        name = Param("string", "name", "the method's name")
        return {
            "system.listMethods": Method(
                self.list_methods,
                "The names of every method, sorted.",
                ("array", "result  an array of method names (strings)"),
            ),
            "system.methodHelp": Method(
                self.method_help,
                "A method's documentation.",
                ("string", "result  the documentation"),
                (name,),
            ),
            "system.methodSignature": Method(
                self.method_signature,
                "A method's signature: [rtype, ptype, ...].",
                ("array", "result  the signature"),
                (name,),
            ),
            "system.multicall": Method(
                self.multicall,
                "Run an array of {methodName, params} calls in order; each "
                "result is the value or a {faultCode, faultString} struct.",
                ("array", "result  an array of results"),
                (Param("array", "calls", "an array of call structs"),),
            ),
        }

    def call(self, name: str, params: tuple[Any, ...]) -> Any:
        parts = name.split(".")
        if len(parts) != 2 or parts[1].startswith("_"):
            raise RpcFault(Faults.UNKNOWN_METHOD)
        method = self.table.get(name)
        if method is None:
            raise RpcFault(Faults.UNKNOWN_METHOD)
        try:
            return method.call(params)
        except SupervisorError as exc:  # not translated where it was raised
            raise from_error(exc) from None

    # ---- system.* ------------------------------------------------------------------------

    def list_methods(self) -> list[str]:
        return sorted(self.table)

    def _method(self, name: object) -> Method:
        method = self.table.get(name) if isinstance(name, str) else None
        if method is None:
            raise RpcFault(Faults.SIGNATURE_UNSUPPORTED)
        return method

    def method_help(self, name: object) -> str:
        return self._method(name).help

    def method_signature(self, name: object) -> list[str]:
        return self._method(name).signature

    def multicall(self, calls: object) -> list[Any]:
        if not isinstance(calls, list):
            raise RpcFault(Faults.INCORRECT_PARAMETERS, "calls must be an array")
        results: list[Any] = []
        for call in calls:
            try:
                results.append(self._one(call))
            except RpcFault as fault:
                results.append({"faultCode": int(fault.code), "faultString": fault.text})
            except Exception as exc:
                log.error("system.multicall: %s failed", call, exc_info=True)
                results.append(
                    {"faultCode": int(Faults.FAILED), "faultString": f"FAILED: {type(exc)}:{exc}"}
                )
        return results

    def _one(self, call: object) -> Any:
        if not isinstance(call, dict):
            raise RpcFault(Faults.INCORRECT_PARAMETERS, "a call must be a struct")
        name = call.get("methodName")
        if name is None:
            raise RpcFault(Faults.INCORRECT_PARAMETERS, "No methodName")
        if name == "system.multicall":
            raise RpcFault(Faults.INCORRECT_PARAMETERS, "Recursive system.multicall forbidden")
        if not isinstance(name, str):
            raise RpcFault(Faults.UNKNOWN_METHOD)
        params = call.get("params", [])
        if not isinstance(params, list):
            raise RpcFault(Faults.INCORRECT_PARAMETERS, "params must be an array")
        return self.call(name, tuple(params))
