"""The log store: rotating files, per-channel rings addressed by absolute offset, the event
journal, and cursor ``read``/``wait`` over both (ARCHITECTURE.md rule 8).

Owns: every byte of child and daemon output after it leaves the pipe, and every published
event record; supervisor's file-relative readLog/tailLog semantics on top.
May import: supervisor_grpc.model, supervisor_grpc.errors, stdlib.
Threading: the loop thread writes (and opens/rotates/reopens/clears/closes); any thread reads
with a cursor and may wait on a condition. The loop never waits for a reader. The one
exception is :class:`MainLogHandler`, which any thread may log through under its own lock.
"""

from __future__ import annotations

from supervisor_grpc.logstore.channel import LogChannel, strip_ansi
from supervisor_grpc.logstore.flusher import StreamFlusher
from supervisor_grpc.logstore.forward import Forwarder
from supervisor_grpc.logstore.journal import EventJournal
from supervisor_grpc.logstore.mainlog import (
    BLATHER,
    TRACE,
    MainLogHandler,
    SupervisorFormatter,
    level_number,
    log_level,
)
from supervisor_grpc.logstore.ring import ReadResult
from supervisor_grpc.logstore.sink import cleanup_auto_logs

__all__ = [
    "BLATHER",
    "TRACE",
    "EventJournal",
    "Forwarder",
    "LogChannel",
    "MainLogHandler",
    "ReadResult",
    "StreamFlusher",
    "SupervisorFormatter",
    "cleanup_auto_logs",
    "level_number",
    "log_level",
    "strip_ansi",
]
