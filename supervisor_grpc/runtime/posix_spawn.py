"""glibc's posix_spawn through ctypes, for what ``os.posix_spawn`` cannot ask for.

Owns: starting a child that gives itself the terminal's foreground before it runs a single
instruction of its own (``posix_spawn_file_actions_addtcsetpgrp_np``, glibc >= 2.35), with
exactly the signal mask and defaults we choose (``setsigmask``/``setsigdefault``), and with
every fd from 3 up closed (``addclosefrom_np``, glibc >= 2.34).
May import: stdlib.
Threading: loop thread only.

Why: in single-command mode on a terminal the command must own the foreground before it can
read it. Giving it from the parent after the spawn (``tcsetpgrp`` once Popen returned) races
the child: one that reads the terminal first is stopped by SIGTTIN and stays stopped. tini
does ``setpgid(0, 0)`` and ``tcsetpgrp`` in the child between fork and exec; we may not run
Python there (ARCHITECTURE rule 6), but glibc's posix_spawn runs exactly those steps in C, in
the child, with every signal blocked (so SIGTTOU cannot stop it), then sets the mask we gave
and execs. No Python runs between the clone and the exec.
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Collection, Mapping, Sequence

# glibc's <spawn.h> flag values (the only libc this module is used with: see ``available``).
_SETPGROUP = 0x02
_SETSIGDEF = 0x04
_SETSIGMASK = 0x08
# Opaque glibc types, given more room than any architecture needs (x86-64: 336, 80, 128).
_ATTR_BYTES = 1024
_ACTIONS_BYTES = 1024
_SIGSET_BYTES = 256
_NSIG = 65


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        for name in (
            "posix_spawn_file_actions_addtcsetpgrp_np",
            "posix_spawn_file_actions_addclosefrom_np",
        ):
            getattr(libc, name)
    except (OSError, AttributeError):
        return None
    return libc


def available() -> bool:
    """True where this libc has every call we need (glibc >= 2.35); else use Popen."""
    return _libc() is not None


def _sigset(libc: ctypes.CDLL, signals: Collection[int]) -> ctypes.Array[ctypes.c_char]:
    buf = ctypes.create_string_buffer(_SIGSET_BYTES)
    libc.sigemptyset(buf)
    for signum in signals:
        libc.sigaddset(buf, int(signum))  # glibc refuses its internal ones (32, 33): fine
    return buf


def _strings(items: Sequence[bytes]) -> ctypes.Array[ctypes.c_char_p]:
    return (ctypes.c_char_p * (len(items) + 1))(*items, None)


def spawn(
    path: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    foreground_fd: int | None,
    sigmask: Collection[int],
    keep_ignored: Collection[int],
) -> int:
    """Start ``path`` in a new process group of its own; return its pid.

    ``foreground_fd``: a terminal whose foreground the child takes before exec. ``sigmask``:
    the child's signal mask. Every signal gets its default disposition in the child except
    ``keep_ignored``, which stay ignored if they are ignored here. Raises OSError (with the
    errno of a failed exec, and ``path`` as its filename) like subprocess does.
    """
    libc = _libc()
    if libc is None:
        raise OSError(0, "posix_spawn with tcsetpgrp is not available")
    attr = ctypes.create_string_buffer(_ATTR_BYTES)
    actions = ctypes.create_string_buffer(_ACTIONS_BYTES)
    if libc.posix_spawnattr_init(attr) != 0 or libc.posix_spawn_file_actions_init(actions) != 0:
        raise OSError(ctypes.get_errno(), "posix_spawn: cannot initialise its attributes")
    try:
        defaults = [
            s
            for s in range(1, _NSIG)
            if s not in (signal.SIGKILL, signal.SIGSTOP) and s not in keep_ignored
        ]
        mask = _sigset(libc, sigmask)
        sigdef = _sigset(libc, defaults)
        checks = [
            libc.posix_spawnattr_setflags(
                attr, ctypes.c_short(_SETPGROUP | _SETSIGDEF | _SETSIGMASK)
            ),
            libc.posix_spawnattr_setpgroup(attr, 0),
            libc.posix_spawnattr_setsigmask(attr, mask),
            libc.posix_spawnattr_setsigdefault(attr, sigdef),
        ]
        if foreground_fd is not None:
            checks.append(libc.posix_spawn_file_actions_addtcsetpgrp_np(actions, foreground_fd))
        checks.append(libc.posix_spawn_file_actions_addclosefrom_np(actions, 3))
        failed = next((c for c in checks if c != 0), 0)
        if failed:
            raise OSError(failed, f"posix_spawn: {os.strerror(failed)}")
        pid = ctypes.c_int(0)
        encoded_env = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()]
        error = libc.posix_spawn(
            ctypes.byref(pid),
            os.fsencode(path),
            actions,
            attr,
            _strings([os.fsencode(a) for a in argv]),
            _strings(encoded_env),
        )
        if error != 0:
            raise OSError(error, os.strerror(error), path)
        return pid.value
    finally:
        libc.posix_spawn_file_actions_destroy(actions)
        libc.posix_spawnattr_destroy(attr)


def controlling_terminal_fd(fd: int = 0) -> int | None:
    """``fd`` if it is our controlling terminal (so a child of our session may take its
    foreground), else None: a tty that is not ours would make the spawn itself fail."""
    try:
        if not os.isatty(fd):
            return None
        os.tcgetpgrp(fd)  # ENOTTY unless it is our controlling terminal
    except OSError:
        return None
    return fd
