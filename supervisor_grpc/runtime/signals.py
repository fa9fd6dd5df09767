"""Signal intake: signals arrive at the loop as bytes on a socket, never as Python callbacks.

Owns: ``signal.set_wakeup_fd``, no-op handlers, the inherited-signal-state reset, and the
child-subreaper registration.
May import: stdlib.
Threading: ``install``/``restore`` on the main thread only (Python's rule for signals).

Why not ``pthread_sigmask`` + ``sigtimedwait`` like tini: a blocked mask is inherited by every
gRPC thread and survives exec into our children. A no-op handler plus the wakeup fd gives the
loop one byte per signal, holding the signal number, and exec resets caught signals to SIG_DFL.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Signals the kernel raises synchronously for a fault in *this* process: never caught or
# forwarded (tini's list). TTIN/TTOU are left alone so a background init is not stopped.
_SYNCHRONOUS = {
    signal.SIGFPE,
    signal.SIGILL,
    signal.SIGSEGV,
    signal.SIGBUS,
    signal.SIGABRT,
    signal.SIGTRAP,
    signal.SIGSYS,
}
_UNCATCHABLE = {signal.SIGKILL, signal.SIGSTOP}

# Every asynchronous signal a user or orchestrator might send; forwarded in single-command
# mode, and handled (or deliberately ignored) in supervisor mode.
CATCHABLE: tuple[int, ...] = tuple(
    int(s)
    for s in signal.valid_signals()
    if isinstance(s, signal.Signals)
    and s not in _SYNCHRONOUS
    and s not in _UNCATCHABLE
    and s not in (signal.SIGTTIN, signal.SIGTTOU)
    and int(s) < 32
)

_PR_SET_CHILD_SUBREAPER = 36


_READ_BYTES = 4096


def _noop(signum: int, frame: object) -> None:
    """The wakeup fd carries the signal; the handler only has to exist."""


class SignalIntake:
    """Installs handlers and hands the loop the numbers of the signals that arrived."""

    def __init__(self) -> None:
        self._reader: socket.socket | None = None
        self._writer: socket.socket | None = None
        self._previous: dict[int, object] = {}
        self._previous_fd = -1
        self.active = False

    def install(self, signals: tuple[int, ...] = CATCHABLE) -> int | None:
        """Start receiving ``signals``; return the fd the loop must watch.

        Returns None when not on the main thread (in-process tests): then no signal is taken
        over, like uvicorn's ``capture_signals`` guard.
        """
        if threading.current_thread() is not threading.main_thread():
            return None
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        for signum in signals:
            try:
                self._previous[signum] = signal.signal(signum, _noop)
            except (OSError, ValueError):
                log.debug("cannot handle signal %d", signum)
        self.active = True
        return self._reader.fileno()

    def read(self) -> list[int]:
        """Signal numbers received since the last call, in arrival order."""
        if self._reader is None:
            return []
        out: list[int] = []
        try:
            while True:
                data = self._reader.recv(_READ_BYTES)
                out.extend(data)
                # A short read emptied the socket: asking again would only return EAGAIN (a
                # syscall and a raised exception per wake-up). A byte arriving meanwhile keeps
                # the fd readable, so the loop comes back for it.
                if len(data) < _READ_BYTES:
                    break
        except (BlockingIOError, InterruptedError):
            pass
        return out

    def restore(self) -> None:
        if not self.active:
            return
        for signum, previous in self._previous.items():
            try:
                signal.signal(signum, previous)  # type: ignore[arg-type]
            except (OSError, ValueError, TypeError):
                pass
        signal.set_wakeup_fd(self._previous_fd)
        for sock in (self._reader, self._writer):
            if sock is not None:
                sock.close()
        self._reader = self._writer = None
        self.active = False


@dataclass(frozen=True)
class Inherited:
    """The signal state our caller gave us, as far as children should see it."""

    mask: frozenset[int] = frozenset()
    ignored: frozenset[int] = frozenset()


# Python ignores these for itself at startup: that says nothing about our caller.
_PYTHONS_OWN = (signal.SIGPIPE, signal.SIGXFSZ)


def reset_inherited_signal_state(keep_ignored: bool = False) -> Inherited:
    """Undo what our parent may have left us; return it (for the children, if they keep it).

    A container runtime or shell can start us with signals blocked or ignored; both survive
    exec into every program we spawn. Called once on the main thread before any other thread
    exists, so the empty mask is what every thread inherits: the loop must receive signals.

    Supervisor mode (``keep_ignored`` false): children start clean, default dispositions
    for everything. Single-command mode keeps tini's rule instead: what the caller ignored
    stays ignored, for us (we neither receive nor forward it) and for the command (under
    ``nohup`` a SIGHUP does not kill it), and the command gets the caller's mask back (see
    ``Inherited``; the spawner passes both on). SIGCHLD is always ours to handle.
    """
    mask: frozenset[int] = frozenset()
    if threading.current_thread() is threading.main_thread():
        mask = frozenset(int(s) for s in signal.pthread_sigmask(signal.SIG_SETMASK, []))
    # TTIN/TTOU are never caught or forwarded, but an inherited SIG_IGN for them would still
    # reach every child through exec.
    ignored: set[int] = set()
    for signum in (*CATCHABLE, int(signal.SIGTTIN), int(signal.SIGTTOU)):
        if signum in _PYTHONS_OWN:
            continue  # subprocess and posix_spawn restore them to SIG_DFL in children
        try:
            if signal.getsignal(signum) != signal.SIG_IGN:
                continue
            if keep_ignored and signum != signal.SIGCHLD:
                ignored.add(signum)
            else:
                signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    if not keep_ignored:
        return Inherited()
    return Inherited(mask=mask, ignored=frozenset(ignored))


def become_subreaper() -> bool:
    """Ask the kernel to re-parent orphaned descendants to us (like ``tini -s``)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0:
            return True
        log.warning("prctl(PR_SET_CHILD_SUBREAPER) failed: %s", os.strerror(ctypes.get_errno()))
    except (OSError, AttributeError) as exc:
        log.warning("cannot become a child subreaper: %s", exc)
    return False


def is_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        value = ctypes.c_int(0)
        if libc.prctl(37, ctypes.byref(value), 0, 0, 0) == 0:  # PR_GET_CHILD_SUBREAPER
            return value.value != 0
    except (OSError, AttributeError):
        pass
    return False
