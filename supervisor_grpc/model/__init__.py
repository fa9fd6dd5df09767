"""The vocabulary every room shares: states, specs, exit statuses, snapshots, events.

The package is split by kind of value (``states``, ``specs``, ``snapshots``, ``events``); every
room imports the names from here, so a value can move between the modules without touching them.

Owns: value types only (enums with supervisor 4.3.0's numeric codes or the config's spellings,
frozen specs).
May import: stdlib only (enforced by tests/tooling/test_architecture.py).
Threading: immutable values, safe to pass between any threads.

Times: a bare ``*_mono`` or ``now`` is monotonic seconds. Wall-clock values exist only at the
front-ends, which convert with :func:`mono_to_wall`.
"""

from __future__ import annotations

from .events import (
    DaemonStateChanged,
    Event,
    GroupAdded,
    GroupRemoved,
    HealthChanged,
    ProcessCommunication,
    ProcessStateChanged,
    RemoteCommunication,
    assert_never,
)
from .snapshots import NO_LOG_FAULTS, ConfigDiff, DaemonInfo, LogFaults, ProcessInfo
from .specs import (
    AutoRestart,
    DaemonSpec,
    ExitWhen,
    ForwardOutput,
    GroupKind,
    GroupSpec,
    GrpcSpec,
    HealthKind,
    HealthSpec,
    HttpKind,
    HttpServerSpec,
    LogFormat,
    LogLevel,
    LogSpec,
    ProgramSpec,
    UnhealthyAction,
    environment_dict,
)
from .states import (
    RUNNING_STATES,
    SIGNALLABLE_STATES,
    STOPPED_STATES,
    Channel,
    DaemonState,
    ExitStatus,
    Health,
    ProcessState,
    make_namespec,
    mono_to_wall,
    signal_name,
)

__all__ = [
    "NO_LOG_FAULTS",
    "RUNNING_STATES",
    "SIGNALLABLE_STATES",
    "STOPPED_STATES",
    "AutoRestart",
    "Channel",
    "ConfigDiff",
    "DaemonInfo",
    "DaemonSpec",
    "DaemonState",
    "DaemonStateChanged",
    "Event",
    "ExitStatus",
    "ExitWhen",
    "ForwardOutput",
    "GroupAdded",
    "GroupKind",
    "GroupRemoved",
    "GroupSpec",
    "GrpcSpec",
    "Health",
    "HealthChanged",
    "HealthKind",
    "HealthSpec",
    "HttpKind",
    "HttpServerSpec",
    "LogFaults",
    "LogFormat",
    "LogLevel",
    "LogSpec",
    "ProcessCommunication",
    "ProcessInfo",
    "ProcessState",
    "ProcessStateChanged",
    "ProgramSpec",
    "RemoteCommunication",
    "UnhealthyAction",
    "assert_never",
    "environment_dict",
    "make_namespec",
    "mono_to_wall",
    "signal_name",
]
