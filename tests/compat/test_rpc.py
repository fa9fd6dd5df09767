"""xmlrpc.client against supgrpcd: every method of supervisor 4.3.0's API and every fault."""

from __future__ import annotations

import os
import socket
import threading
import time
import xmlrpc.client
from typing import Any

import pytest
from supervisor.rpcinterface import SupervisorNamespaceRPCInterface  # type: ignore[import-untyped]
from supervisor.xmlrpc import SystemNamespaceRPCInterface  # type: ignore[import-untyped]

from tests.support import Daemon, wait_until
from tests.support.daemon import DaemonFactory

pytestmark = pytest.mark.compat

PROCESS_INFO_KEYS = {
    "name",
    "group",
    "start",
    "stop",
    "now",
    "state",
    "statename",
    "spawnerr",
    "exitstatus",
    "logfile",
    "stdout_logfile",
    "stderr_logfile",
    "pid",
    "description",
}
RESULT_KEYS = {"name", "group", "status", "description"}


def fault(call: Any, *args: Any) -> tuple[int, str]:
    with pytest.raises(xmlrpc.client.Fault) as info:
        call(*args)
    return info.value.faultCode, info.value.faultString


def real_system() -> SystemNamespaceRPCInterface:
    """supervisor's own introspection, in-process (it needs no running supervisord)."""
    return SystemNamespaceRPCInterface([("supervisor", SupervisorNamespaceRPCInterface(None))])


# ---- introspection -------------------------------------------------------------------------


def test_list_methods_is_supervisors(shared: Daemon) -> None:
    ours = shared.rpc().system.listMethods()
    assert ours == real_system().listMethods()
    assert len(ours) == 41


def test_method_signatures_are_supervisors(shared: Daemon) -> None:
    real = real_system()
    calls = [{"methodName": "system.methodSignature", "params": [m]} for m in real.listMethods()]
    ours = shared.rpc().system.multicall(calls)
    assert ours == [real.methodSignature(m) for m in real.listMethods()]


def test_method_help(shared: Daemon) -> None:
    system = shared.rpc().system
    text = system.methodHelp("supervisor.startProcess")
    assert "@param string name" in text and "@return boolean" in text
    assert system.methodHelp("supervisor.getVersion") == system.methodHelp(
        "supervisor.getAPIVersion"
    )
    assert fault(system.methodHelp, "supervisor.nope") == (4, "SIGNATURE_UNSUPPORTED")
    assert fault(system.methodSignature, "nope") == (4, "SIGNATURE_UNSUPPORTED")


def test_unknown_methods(shared: Daemon) -> None:
    proxy = shared.rpc()
    for name in (
        "supervisor.nope",
        "supervisor._update",
        "supervisor.getState.__class__",
        "nope.getState",
        "system._listMethods",
        "supervisor",
    ):
        assert fault(getattr(proxy, name)) == (1, "UNKNOWN_METHOD"), name


def test_wrong_argument_counts(shared: Daemon) -> None:
    s = shared.rpc().supervisor
    assert fault(s.getState, 1) == (2, "INCORRECT_PARAMETERS")
    assert fault(s.startProcess) == (2, "INCORRECT_PARAMETERS")
    assert fault(s.startProcess, "cat", True, 1) == (2, "INCORRECT_PARAMETERS")
    assert fault(s.readLog, 0) == (2, "INCORRECT_PARAMETERS")
    assert fault(shared.rpc().system.multicall) == (2, "INCORRECT_PARAMETERS")


# ---- the daemon ----------------------------------------------------------------------------


def test_daemon_methods(shared: Daemon) -> None:
    s = shared.rpc().supervisor
    assert s.getAPIVersion() == "3.0"
    assert s.getVersion() == "3.0"
    assert s.getSupervisorVersion() == "4.3.0"
    assert s.getIdentification() == "compat"
    assert s.getState() == {"statecode": 1, "statename": "RUNNING"}
    assert s.getPID() == shared.proc.pid  # type: ignore[union-attr]
    assert s.sendRemoteCommEvent("type", "data") is True


def test_read_main_log(shared: Daemon) -> None:
    s = shared.rpc().supervisor
    whole = s.readLog(0, 0)
    assert "spawned: 'sleeper'" in whole
    assert s.readMainLog(0, 10) == whole[:10]
    assert s.readLog(-10, 0) == s.readLog(0, 0)[-10:]
    assert fault(s.readLog, -1, 1) == (3, "BAD_ARGUMENTS")
    assert fault(s.readLog, 0, -1) == (3, "BAD_ARGUMENTS")
    assert fault(s.readLog, "x", 0) == (2, "INCORRECT_PARAMETERS: offset must be an integer")


def test_clear_main_log(daemon: Daemon) -> None:
    s = daemon.rpc().supervisor
    assert s.clearLog() is True
    text = s.readLog(0, 0)
    assert "spawned" not in text and "reopening log file" in text


def test_main_log_missing(daemon_factory: DaemonFactory) -> None:
    d = daemon_factory("[program:cat]\ncommand=/bin/cat\n")
    os.unlink(d.log_path)
    s = d.rpc().supervisor
    assert fault(s.readLog, 0, 0)[0] == 20
    assert fault(s.clearLog) == (20, "NO_FILE")


SLOW_TO_STOP = """
[program:slowstop]
command=/bin/sh -c "trap 'sleep 2; exit 0' TERM; while :; do sleep 0.1; done"
startsecs=0
"""


def test_restart_then_shutdown_refuse_calls_while_stopping(daemon_factory: DaemonFactory) -> None:
    d = daemon_factory(SLOW_TO_STOP)
    d.wait_state("slowstop", "RUNNING")
    s = d.rpc().supervisor
    pid = s.getProcessInfo("slowstop")["pid"]
    assert s.restart() is True
    # like supervisord while RESTARTING: everything in supervisor.* is refused...
    assert fault(s.getState) == (6, "SHUTDOWN_STATE")
    assert fault(s.restart) == (6, "SHUTDOWN_STATE")
    assert d.rpc().system.listMethods()  # ...but system.* still answers

    def restarted() -> bool:
        try:
            info = s.getProcessInfo("slowstop")
        except xmlrpc.client.Fault:
            return False
        return bool(info["pid"] != pid and info["statename"] == "RUNNING")

    wait_until(restarted, 10, "slowstop to be restarted")
    assert s.shutdown() is True
    r = d.ctl("shutdown")  # slowstop takes 2s to stop: the daemon is still SHUTDOWN
    assert (r.rc, r.out) == (0, "ERROR: already shutting down\n")  # supervisorctl: rc 0
    assert fault(s.getState) == (6, "SHUTDOWN_STATE")
    assert fault(s.getAllProcessInfo) == (6, "SHUTDOWN_STATE")
    assert s.sendRemoteCommEvent("t", "d") is True  # exempt, as in supervisor
    assert d.proc is not None and d.proc.wait(10) == 0


# ---- configuration -------------------------------------------------------------------------


def test_reload_config_add_remove(daemon: Daemon) -> None:
    s = daemon.rpc().supervisor
    assert s.reloadConfig() == [[[], [], []]]
    daemon.config_path.write_text(
        daemon.config_path.read_text() + "\n[program:new]\ncommand=/bin/cat\n"
    )
    assert s.reloadConfig() == [[["new"], [], []]]
    assert fault(s.removeProcessGroup, "new") == (10, "BAD_NAME: new")
    assert s.addProcessGroup("new") is True
    assert fault(s.addProcessGroup, "new") == (90, "ALREADY_ADDED: new")
    assert fault(s.addProcessGroup, "nope") == (10, "BAD_NAME: nope")
    daemon.wait_state("new", "RUNNING")
    assert fault(s.removeProcessGroup, "new") == (91, "STILL_RUNNING: new")
    s.stopProcess("new")
    assert s.removeProcessGroup("new") is True
    daemon.config_path.write_text(daemon.config_path.read_text() + "\n[program:broken]\n")
    code, text = fault(s.reloadConfig)
    assert code == 92 and text.startswith("CANT_REREAD: ") and "broken" in text
    assert fault(s.restart)[0] == 92  # a restart on a broken file is refused, not fatal


def test_all_config_info(shared: Daemon) -> None:
    infos = shared.rpc().supervisor.getAllConfigInfo()
    assert [i["name"] for i in infos] == sorted(i["name"] for i in infos)
    sleeper = next(i for i in infos if i["name"] == "sleeper")
    assert sleeper["command"] == "/bin/sleep 1000" and sleeper["inuse"] is True
    assert sleeper["stopsignal"] == 15 and sleeper["exitcodes"] == [0]
    assert sleeper["directory"] == "none" and sleeper["uid"] == "none"
    assert sleeper["serverurl"] == "none"
    assert sleeper["stdout_logfile"].startswith(str(shared.dir))  # the concrete AUTO name
    gb = next(i for i in infos if i["name"] == "gb")
    assert (gb["group"], gb["autostart"], gb["group_prio"]) == ("grp", False, 999)


# ---- processes -----------------------------------------------------------------------------


def test_process_info(shared: Daemon) -> None:
    s = shared.rpc().supervisor
    info = s.getProcessInfo("sleeper")
    assert set(info) == PROCESS_INFO_KEYS
    assert info["statename"] == "RUNNING" and info["state"] == 20
    assert abs(info["now"] - time.time()) < 5 and 0 < info["start"] <= info["now"]
    assert info["description"].startswith(f"pid {info['pid']}, uptime ")
    assert info["logfile"] == info["stdout_logfile"] != ""
    assert s.getProcessInfo("grp:gb")["description"] == "Not started"
    assert fault(s.getProcessInfo, "nope") == (10, "BAD_NAME: nope")
    assert fault(s.getProcessInfo, "grp:*") == (10, "BAD_NAME: grp:*")
    assert fault(s.getProcessInfo, "ga") == (10, "BAD_NAME: ga")  # a bare name means ga:ga
    assert fault(s.getProcessInfo, 5) == (2, "INCORRECT_PARAMETERS: name must be a string")


def test_all_process_info_order(shared: Daemon) -> None:
    infos = shared.rpc().supervisor.getAllProcessInfo()
    keys = [(i["group"], i["name"]) for i in infos]
    assert keys == sorted(keys) and len(keys) == 9
    assert all(set(i) == PROCESS_INFO_KEYS for i in infos)


def test_start_stop_single(daemon: Daemon) -> None:
    s = daemon.rpc().supervisor
    assert fault(s.startProcess, "sleeper") == (60, "ALREADY_STARTED: sleeper")
    assert s.stopProcess("sleeper") is True
    assert daemon.state("sleeper") == "STOPPED"
    assert fault(s.stopProcess, "sleeper") == (70, "NOT_RUNNING: sleeper")
    assert s.startProcess("sleeper") is True
    assert fault(s.startProcess, "nope") == (10, "BAD_NAME: nope")
    assert fault(s.stopProcess, "nope") == (10, "BAD_NAME: nope")
    assert fault(s.startProcess, "quick") == (50, "SPAWN_ERROR: quick")
    assert fault(s.startProcess, "nocmd") == (
        20,
        "NO_FILE: can't find command '/nonexistent/program'",
    )
    assert fault(s.startProcess, "all") == (10, "BAD_NAME: all")  # not special in the API


def test_start_not_executable(daemon_factory: DaemonFactory) -> None:
    d = daemon_factory("[program:noexec]\ncommand={dir}/script\nautostart=false\n")
    (d.dir / "script").write_text("#!/bin/sh\n")
    code, text = fault(d.rpc().supervisor.startProcess, "noexec")
    assert code == 21 and text.startswith("NOT_EXECUTABLE: ")


def test_start_wait_semantics(daemon: Daemon) -> None:
    s = daemon.rpc().supervisor
    assert s.startProcess("slow", False) is True
    assert daemon.state("slow") == "STARTING"  # wait=False answers at once
    daemon.wait_state("slow", "RUNNING")
    assert s.stopProcess("slow", False) is True
    daemon.wait_state("slow", "STOPPED")
    # wait=True (the default) answers only once RUNNING; a multicall waits in order
    results = daemon.rpc().system.multicall(
        [
            {"methodName": "supervisor.startProcess", "params": ["slow"]},
            {"methodName": "supervisor.getProcessInfo", "params": ["slow"]},
        ]
    )
    assert results[0] is True and results[1]["statename"] == "RUNNING"


def test_abnormal_termination(daemon: Daemon) -> None:
    s = daemon.rpc().supervisor
    outcome: dict[str, Any] = {}

    def start() -> None:
        try:
            outcome["value"] = daemon.rpc().supervisor.startProcess("slow")
        except xmlrpc.client.Fault as exc:
            outcome["fault"] = (exc.faultCode, exc.faultString)

    thread = threading.Thread(target=start)
    thread.start()
    daemon.wait_state("slow", "STARTING")
    assert s.stopProcess("slow") is True  # stopped while its start is being waited for
    thread.join(10)
    assert outcome == {"fault": (40, "ABNORMAL_TERMINATION: slow")}


def test_groups_and_all(daemon: Daemon) -> None:
    s = daemon.rpc().supervisor
    results = s.startProcessGroup("grp")
    assert results == [{"name": "gb", "group": "grp", "status": 80, "description": "OK"}]
    assert s.startProcessGroup("grp") == []  # only not-running processes are touched
    assert fault(s.startProcessGroup, "nope") == (10, "BAD_NAME: nope")
    stopped = s.stopProcess("grp:*")  # a group spec answers with the group's array
    assert sorted(r["name"] for r in stopped) == ["ga", "gb"]
    assert all(set(r) == RESULT_KEYS and r["status"] == 80 for r in stopped)
    assert s.stopProcessGroup("grp") == []
    assert sorted(r["name"] for r in s.startProcess("grp:")) == ["ga", "gb"]
    assert fault(s.stopProcessGroup, "nope") == (10, "BAD_NAME: nope")
    results = {r["name"]: r for r in s.stopAllProcesses()}
    assert set(results) == {"cat", "ga", "gb", "sleeper", "ticker", "writer"}
    assert s.stopAllProcesses() == []
    results = {r["name"]: (r["status"], r["description"]) for r in s.startAllProcesses()}
    assert results["quick"] == (50, "SPAWN_ERROR: quick")
    assert results["nocmd"] == (20, "NO_FILE: can't find command '/nonexistent/program'")
    assert results["sleeper"] == (80, "OK") and results["gb"] == (80, "OK")


def test_signals(daemon: Daemon) -> None:
    s = daemon.rpc().supervisor
    assert s.signalProcess("cat", "CONT") is True
    assert s.signalProcess("cat", 18) is True
    assert s.signalProcess("cat", "SIGCONT") is True
    assert fault(s.signalProcess, "cat", "BOGUS") == (11, "BAD_SIGNAL: BOGUS")
    assert fault(s.signalProcess, "nope", "BOGUS") == (10, "BAD_NAME: nope")  # name first
    assert fault(s.signalProcess, "grp:gb", "CONT") == (70, "NOT_RUNNING: grp:gb")
    assert s.signalProcessGroup("grp", "CONT") == [
        {"name": "ga", "group": "grp", "status": 80, "description": "OK"}
    ]
    # a bad signal for a group is a per-process result, as in supervisor
    assert s.signalProcess("grp:*", "BOGUS") == [
        {"name": "ga", "group": "grp", "status": 11, "description": "BAD_SIGNAL: BOGUS"}
    ]
    assert fault(s.signalProcessGroup, "nope", "CONT") == (10, "BAD_NAME: nope")
    names = {r["name"] for r in s.signalAllProcesses("CONT")}
    assert names == {"cat", "ga", "sleeper", "ticker", "writer"}


def test_process_logs(daemon: Daemon) -> None:
    s = daemon.rpc().supervisor
    wait_until(lambda: s.readProcessStdoutLog("writer", 0, 0), what="writer output")
    assert s.readProcessStdoutLog("writer", 0, 0) == "out-line\n"
    assert s.readProcessLog("writer", 4, 0) == "line\n"
    assert s.readProcessStderrLog("writer", -5, 0) == "line\n"
    assert fault(s.readProcessStdoutLog, "writer", -1, 1) == (3, "BAD_ARGUMENTS")
    assert fault(s.readProcessStdoutLog, "nope", 0, 0) == (10, "BAD_NAME: nope")
    assert fault(s.readProcessStderrLog, "grp:*", 0, 0) == (10, "BAD_NAME: grp:*")
    # tail: [bytes, offset, overflow]; offset is the size, overflow when > length arrived
    assert s.tailProcessStdoutLog("writer", 0, 100) == ["out-line\n", 9, False]
    assert s.tailProcessLog("writer", 0, 4) == ["ine\n", 9, True]
    assert s.tailProcessStderrLog("writer", 9, 100) == ["", 9, False]
    assert s.tailProcessStdoutLog("writer", 0, -5) == ["", 9, True]
    assert fault(s.tailProcessStdoutLog, "nope", 0, 1) == (10, "BAD_NAME: nope")


def test_process_logs_without_file(daemon_factory: DaemonFactory) -> None:
    d = daemon_factory("[program:quiet]\ncommand=/bin/sleep 1000\nstdout_logfile=NONE\n")
    s = d.rpc().supervisor
    assert fault(s.readProcessStdoutLog, "quiet", 0, 0)[0] == 20
    assert s.tailProcessStdoutLog("quiet", 0, 10) == ["", 0, False]
    r = d.ctl("tail", "quiet")
    assert (r.rc, r.out) == (1, "quiet: ERROR (no log file)\n")
    with socket.socket(socket.AF_UNIX) as sock:  # and /logtail answers 404, as supervisord
        sock.connect(d.rpc_sock)
        sock.sendall(b"GET /logtail/quiet HTTP/1.1\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 404 ")


def test_read_failure_is_failed(daemon: Daemon) -> None:
    s = daemon.rpc().supervisor
    path = s.getProcessInfo("sleeper")["stdout_logfile"]
    os.unlink(path)
    os.mkdir(path)  # an unreadable log: supervisor answers FAILED
    code, _ = fault(s.readProcessStdoutLog, "sleeper", 0, 0)
    assert code == 30


def test_clear_process_logs(daemon: Daemon) -> None:
    s = daemon.rpc().supervisor
    wait_until(lambda: s.readProcessStdoutLog("writer", 0, 0), what="writer output")
    assert s.clearProcessLogs("writer") is True
    assert s.readProcessStdoutLog("writer", 0, 0) == ""
    assert s.readProcessStderrLog("writer", 0, 0) == ""
    assert s.clearProcessLog("writer") is True
    assert fault(s.clearProcessLogs, "nope") == (10, "BAD_NAME: nope")
    results = s.clearAllProcessLogs()
    assert len(results) == 9 and all(
        r["status"] == 80 and r["description"] == "OK" for r in results
    )


def test_send_stdin(daemon: Daemon) -> None:
    s = daemon.rpc().supervisor
    assert s.sendProcessStdin("cat", "héllo\n") is True
    wait_until(lambda: s.readProcessStdoutLog("cat", 0, 0) == "héllo\n", what="cat's echo")
    assert fault(s.sendProcessStdin, "cat", 5) == (2, "INCORRECT_PARAMETERS: 5")
    assert fault(s.sendProcessStdin, "nope", "x") == (10, "BAD_NAME: nope")
    assert fault(s.sendProcessStdin, "grp:gb", "x") == (70, "NOT_RUNNING: grp:gb")


def test_send_stdin_closed(daemon_factory: DaemonFactory) -> None:
    d = daemon_factory(
        '[program:deaf]\ncommand=/bin/sh -c "exec 0<&-; exec sleep 1000"\nstartsecs=0\n'
    )
    d.wait_state("deaf", "RUNNING")
    s = d.rpc().supervisor

    def refused() -> bool:
        try:
            s.sendProcessStdin("deaf", "x" * 70000)
        except xmlrpc.client.Fault as exc:
            assert (exc.faultCode, exc.faultString) == (20, "NO_FILE: deaf")
            return True
        return False

    wait_until(refused, what="a write to a closed stdin to fail")


# ---- multicall ----------------------------------------------------------------------------


def test_multicall(shared: Daemon) -> None:
    results = shared.rpc().system.multicall(
        [
            {"methodName": "supervisor.getAPIVersion", "params": []},
            {"methodName": "supervisor.getProcessInfo", "params": ["nope"]},
            {"methodName": "system.multicall", "params": [[]]},
            {"params": []},
            {"methodName": "supervisor.getState"},
            {"methodName": "supervisor._update", "params": []},
            {"methodName": "supervisor.getPID", "params": [1]},
        ]
    )
    assert results == [
        "3.0",  # raw values, not wrapped in 1-element arrays
        {"faultCode": 10, "faultString": "BAD_NAME: nope"},
        {
            "faultCode": 2,
            "faultString": "INCORRECT_PARAMETERS: Recursive system.multicall forbidden",
        },
        {"faultCode": 2, "faultString": "INCORRECT_PARAMETERS: No methodName"},
        {"statecode": 1, "statename": "RUNNING"},
        {"faultCode": 1, "faultString": "UNKNOWN_METHOD"},
        {"faultCode": 2, "faultString": "INCORRECT_PARAMETERS"},
    ]
