"""The live system: every process's machine, pipes, logs, waiters, groups and the daemon mood.

Owns: nothing itself; it names the owners and exports the core's public face.

Each piece of state has one owner, a plain class in its own module, composed by
:class:`Supervisor` (which applies machine effects and lists what a transition triggers):
``table`` (processes, pids, groups, order), ``deadlines`` (the one timer heap, health's too),
``childpipes`` (output fds, draining, stdin), ``deps`` (dependency lanes, held starts),
``waiters`` (start/stop/update futures, deferred steps), ``reload`` (latest config, update),
``shutdown`` (mood, escalation, critical/exit_when), ``event_bridge`` (journal, listener hub),
``groups`` (adding/removing a group across owners), ``requests`` (start/stop/signal/stdin).
May import: model, errors, machine, logstore. Never runtime: the ports it needs are Protocols
in ``core.ports``, satisfied structurally by the runtime classes that daemon wires in.
Threading: loop thread only. Other threads reach it through control -> inbox.
"""

from .ports import Child, Clock, Pipes, Reactor, Reaper, Spawner
from .process import Process
from .requests import ActionOutcome
from .supervisor import Supervisor

__all__ = [
    "ActionOutcome",
    "Child",
    "Clock",
    "Pipes",
    "Process",
    "Reactor",
    "Reaper",
    "Spawner",
    "Supervisor",
]
