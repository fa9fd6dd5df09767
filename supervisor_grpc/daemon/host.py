"""What the daemon does to its own process before it supervises anything.

Owns: rlimits (minfds/minprocs), the C allocator's thresholds, dropping privileges, umask,
working directory, the pidfile, and the last sweep of stray descendants before exit.
May import: model, errors, runtime.tree.
Threading: main thread, before any other thread starts (except ``sweep_descendants``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import pwd
import resource
import signal
import time
from collections.abc import Callable

from ..errors import ConfigError
from ..model import DaemonSpec, ExitStatus
from ..runtime import tree

log = logging.getLogger("supgrpc")


# glibc mallopt() parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Every pipe read is a fresh bytes object of up to runtime.pipes.READ_BYTES (1 MiB) that lives
# until the ring lets it go. glibc's defaults serve blocks >= 128 KiB with mmap and then adapt:
# after the first such block is freed the mmap threshold becomes ~1 MiB and the trim threshold
# 2 MiB, so the heap top is handed back to the kernel over and over and the next reads fault
# the same pages in again (14k-29k minor faults per 256 MiB of output, ~15 % of the daemon's
# CPU per byte). Fixed thresholds (which also switch the adaptation off):
# - mmap above 4 MiB: every read buffer and ring chunk (<= 1 MiB) comes from the heap and is
#   reused there; only rare big allocations get their own mapping.
# - trim above 32 MiB of free heap top: well above what reads in flight plus a few busy rings
#   free in a burst, so steady output never trims; at most 32 MiB of freed heap stays resident
#   after a burst (an idle daemon, which never allocates that much, is unaffected).
MMAP_THRESHOLD_BYTES = 4 << 20
TRIM_THRESHOLD_BYTES = 32 << 20


def tune_allocator() -> bool:
    """Set glibc malloc's mmap/trim thresholds (see above); False where there is no glibc
    mallopt (musl, macOS) or it refused: then the defaults stay, which is only slower."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    mmap_ok: bool = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    trim_ok: bool = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    return mmap_ok and trim_ok


def raise_limit(which: int, minimum: int, key: str) -> None:
    soft, hard = resource.getrlimit(which)
    if soft == resource.RLIM_INFINITY or soft >= minimum:
        return
    if hard != resource.RLIM_INFINITY and hard < minimum:
        if os.geteuid() != 0:
            raise ConfigError(
                f"{key}={minimum} but the environment only allows {hard}",
                section="supervisord",
                key=key,
            )
        hard = minimum
    try:
        resource.setrlimit(which, (minimum, hard))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot raise the limit to {minimum}: {exc}", section="supervisord", key=key
        )


def apply_limits(spec: DaemonSpec) -> None:
    raise_limit(resource.RLIMIT_NOFILE, spec.minfds, "minfds")
    raise_limit(resource.RLIMIT_NPROC, spec.minprocs, "minprocs")


def drop_privileges(user: str) -> None:
    try:
        record = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError:
        raise ConfigError(f"unknown user {user!r}", section="supervisord", key="user")
    if os.getuid() == record.pw_uid:
        return
    if os.getuid() != 0:
        raise ConfigError("can't drop privilege as nonroot user", section="supervisord", key="user")
    os.setgroups(os.getgrouplist(record.pw_name, record.pw_gid))
    os.setgid(record.pw_gid)
    os.setuid(record.pw_uid)
    os.environ["HOME"] = record.pw_dir
    os.environ["USER"] = os.environ["LOGNAME"] = record.pw_name


def write_pidfile(path: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(f"{os.getpid()}\n")
    except OSError as exc:
        raise ConfigError(
            f"could not write pidfile {path}: {exc.strerror}", section="supervisord", key="pidfile"
        )


def remove_pidfile(path: str | None) -> None:
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


def set_parent_death_signal(signum: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signum, 0, 0, 0)  # PR_SET_PDEATHSIG


def _children() -> list[int]:
    """Our live children (orphans re-parented to us included), every thread's."""
    return tree.children(os.getpid())


def _send(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:
        pass


def _settle(
    reap: Callable[[], list[tuple[int, ExitStatus]]], quiet: float = 0.05, bound: float = 0.5
) -> None:
    """Reap the children already on their way out before the sweep calls anything remaining.

    A killtree program's adopted descendants get their SIGKILL when the program is reaped,
    often a moment before the sweep: they are dying, not left behind, and must not be TERMed
    and reported as stragglers. Waits while children keep exiting, at most ``quiet`` after the
    last one and ``bound`` in all (nothing to wait for when no child is left).
    """
    reap()
    end = time.monotonic() + bound
    quiet_until = time.monotonic() + quiet
    while _children():
        now = time.monotonic()
        if now >= quiet_until or now >= end:
            return
        time.sleep(0.005)
        if reap():
            quiet_until = time.monotonic() + quiet


def sweep_descendants(
    reap: Callable[[], list[tuple[int, ExitStatus]]],
    grace_seconds: float = 5.0,
    between: Callable[[], None] | None = None,
) -> int:
    """Before exiting, TERM then KILL whatever is still our child (orphans re-parented to us).

    An init that exits with live descendants lets the kernel SIGKILL them without notice
    (tini#180, dumb-init#212); we give them a grace period first. Every process gets SIGTERM
    the first time it is seen as our child, and its own grace period from then: a grandchild
    re-parented to us when its parent dies of our SIGTERM is a new child, and is TERMed like
    the first ones (never SIGKILLed unwarned). The whole sweep is bounded by twice the grace:
    whatever is left then (a fork bomb) is TERMed if it never was, then KILLed.

    ``between`` runs at every poll (the daemon drains program pipes there, so an orphan that
    writes in its TERM handler is read, not killed by SIGPIPE). Returns how many we signalled.
    """
    _settle(reap)
    warned: dict[tree.Identity, float] = {}  # identity -> when its grace ends
    started = time.monotonic()
    hard_end = started + 2 * grace_seconds
    delay = 0.005
    logged = False
    while True:
        now = time.monotonic()
        left = _children()
        if not left:
            break
        fresh = []
        for pid in left:
            identity = (pid, tree.start_time(pid) or 0)
            if identity not in warned:
                warned[identity] = now + grace_seconds
                fresh.append(pid)
            elif now >= warned[identity] or now >= hard_end:
                _send(pid, signal.SIGKILL)
        if fresh:
            if not logged:
                log.info("terminating %d remaining process(es): %s", len(fresh), fresh)
                logged = True
            else:
                log.debug("terminating %d newly re-parented process(es): %s", len(fresh), fresh)
            for pid in fresh:
                _send(pid, signal.SIGTERM)
        if now >= hard_end + 2.0:
            log.warning("%d process(es) still alive after SIGKILL: %s", len(left), left)
            break
        if between is not None:
            between()
        reap()
        if not _children():
            break
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    reap()
    return len(warned)
