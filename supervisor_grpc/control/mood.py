"""Whether the daemon has started stopping, read from the event journal without a loop job.

Owns: a journal cursor of its own and the one-way "stopping" flag.
May import: logstore (the journal type), model, errors, stdlib.
Threading: any thread; one lock serialises readers of the cursor.

The core journals a ``DaemonStateChanged`` record whenever its mood changes, so this follows the
journal (reading only what is new since the last call: usually nothing) instead of asking the
loop for ``mood``. Only when the cursor fell behind the journal's kept history does it ask.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..errors import SupervisorError
from ..logstore import EventJournal
from ..model import DaemonState, DaemonStateChanged, Event


class MoodWatch:
    def __init__(self, journal: EventJournal[Event], ask: Callable[[], DaemonState]) -> None:
        self._journal = journal
        self._ask = ask  # a loop round trip, only after the cursor fell behind
        self._lock = threading.Lock()
        self._cursor = 0
        self._stopping = threading.Event()  # set once; the mood never returns to RUNNING

    def stopping(self) -> bool:
        if self._stopping.is_set():
            return True
        with self._lock:
            while not self._stopping.is_set():
                items, self._cursor, skipped = self._journal.read(self._cursor, 1024)
                if skipped:  # the mood change, if any, may have left the kept history
                    try:
                        mood = self._ask()
                    except SupervisorError:
                        mood = DaemonState.SHUTDOWN
                    if mood < DaemonState.RUNNING:
                        self._stopping.set()
                    continue  # and read on from the new cursor
                for _, event in items:
                    if isinstance(event, DaemonStateChanged) and event.state < DaemonState.RUNNING:
                        self._stopping.set()  # SHUTDOWN or RESTARTING
                if not items:
                    break
            if self._journal.closed:  # the run is over
                self._stopping.set()
        return self._stopping.is_set()
