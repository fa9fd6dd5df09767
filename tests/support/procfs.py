"""What /proc says about processes, and ending the ones a test or a bench run left behind.

Owns: /proc readers (state, parent, children, zombies, signal masks) and by-pid killing.
May import: the standard library only (the bench imports it too).
Threading: any thread; every call is a fresh read of /proc.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

from supervisor_grpc.runtime import tree


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgrp) of ``pid``, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    fields = data[data.rindex(b")") + 2 :].split()
    return fields[0].decode(), int(fields[1]), int(fields[2])


def proc_state(pid: int) -> str | None:
    st = proc_stat(pid)
    return None if st is None else st[0]


def is_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    state = proc_state(pid)
    return state is not None and state not in ("Z", "X")


def zombies_of(pid: int) -> list[int]:
    """Pids in state Z whose parent is ``pid``."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st is not None and st[0] == "Z" and st[1] == pid:
            out.append(int(name))
    return out


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (any state): the kernel's children files, read as the
    daemon reads them."""
    return tree.children(pid)


def descendants_of(pid: int) -> list[int]:
    """Every process below ``pid``, each once (a pid reused mid-walk cannot loop us)."""
    seen: list[int] = []
    todo = children_of(pid)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo += children_of(p)
    return seen


def parse_status(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def proc_status(pid: int | str = "self") -> dict[str, str]:
    """/proc/<pid>/status as a dict."""
    with open(f"/proc/{pid}/status") as f:
        return parse_status(f.read())


def signal_set(mask_hex: str) -> set[int]:
    """Signal numbers in a /proc status mask such as ``SigIgn: 0000000000001000``."""
    mask = int(mask_hex, 16)
    return {n for n in range(1, 65) if mask & (1 << (n - 1))}


def kill_quietly(pid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, sig)


def kill_orphan(pid: int) -> None:
    """SIGKILL a process the test left behind; reap it if it was re-parented to us (when the
    test runner is itself a subreaper), so the zombie check stays meaningful."""
    kill_quietly(pid)
    st = proc_stat(pid)
    if st is not None and st[1] == os.getpid():
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def kill_tree(root: int) -> None:
    """SIGKILL ``root`` and everything below it, each by pid (never by name or group id, which
    could reach processes that are not ours)."""
    for pid in [*descendants_of(root), root]:
        kill_quietly(pid)


def reap_quietly() -> None:
    """Collect exited children (ours, or orphans re-parented to a subreaper) without blocking."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def sweep_descendants(timeout: float = 10.0) -> int:
    """SIGKILL whatever is still below this process (by pid) and reap it. Returns how many."""
    me = os.getpid()
    left = descendants_of(me)
    for pid in left:
        kill_quietly(pid)
    deadline = time.monotonic() + timeout
    while descendants_of(me) and time.monotonic() < deadline:
        reap_quietly()
        time.sleep(0.01)
    reap_quietly()
    return len(left)
