"""The live system: every process's machine, pipes, logs, waiters, groups and the daemon mood.

Owns: name -> process, pid -> process (the only pid table), groups and priorities, applying
machine effects, the event journal, shutdown and reload sequencing.
May import: model, errors, machine, logstore. Never runtime: the ports it needs are Protocols
in ``core.ports``, satisfied structurally by the runtime classes that daemon wires in.
Threading: loop thread only. Other threads reach it through control -> inbox.
"""

from .ports import Child, Clock, Pipes, Reactor, Reaper, Spawner
from .process import Process
from .supervisor import ActionOutcome, Supervisor

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
