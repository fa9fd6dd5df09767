"""What the daemon does to its own process before it supervises anything.

Owns: rlimits (minfds/minprocs), dropping privileges, umask, working directory, the pidfile,
and the last sweep of stray descendants before exit.
Threading: main thread, before any other thread starts (except ``sweep_descendants``).
"""

from __future__ import annotations

import logging
import os
import pwd
import resource
import signal
import time
from collections.abc import Callable

from ..errors import ConfigError
from ..model import DaemonSpec, ExitStatus

log = logging.getLogger("supgrpc")


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
    try:
        with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def sweep_descendants(
    reap: Callable[[], list[tuple[int, ExitStatus]]], grace_seconds: float = 5.0
) -> int:
    """Before exiting, TERM then KILL whatever is still our child (orphans re-parented to us).

    An init that exits with live descendants lets the kernel SIGKILL them without notice
    (tini#180, dumb-init#212); we give them a grace period first. Returns how many were left.
    """
    reap()
    left = _children()
    if not left:
        return 0
    log.info("terminating %d remaining process(es): %s", len(left), left)
    for pid in left:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + grace_seconds
    delay = 0.005
    while time.monotonic() < deadline:
        reap()
        if not _children():
            return len(left)
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    for pid in _children():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    end = time.monotonic() + 2.0
    while _children() and time.monotonic() < end:
        reap()
        time.sleep(0.01)
    reap()
    return len(left)
