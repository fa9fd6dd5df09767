"""Building a child from a ProgramSpec: argv, environment, cwd, user, umask, pipes.

Owns: resolving the command like supervisor's ``get_execv_args``, creating the pipes, starting
the child through ``subprocess``'s C fork/exec path, and sending signals. Never waits.
May import: model, errors, stdlib.
Threading: loop thread only.

Fork safety: gRPC runs threads, so no Python code may run between fork and exec. We use
``subprocess.Popen`` without ``preexec_fn``: cwd, setgroups/setgid/setuid, umask, the new
process group, closing fds and restoring SIGPIPE/SIGXFSZ all happen in ``_posixsubprocess``'s
C code. Popen objects are kept until the reaper reports their pid (see ``release``): a dropped
Popen would ``waitpid`` its child later and steal the exit status from the reaper. The one
stdlib ``waitpid`` we cannot avoid is Popen's own, on an exec failure, for a child whose pid is
never handed to us.

A program that inherits our stdio (single-command mode) is started by glibc's posix_spawn
instead (``posix_spawn.py``, C only as well): it takes the terminal's foreground itself before
exec, and gets the signal mask and ignored signals we were given (tini keeps the caller's).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import pwd
import shlex
import signal
import stat
import subprocess
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from ..errors import NoFile, NotExecutable, SpawnError
from ..model import ExitStatus, ProgramSpec
from . import posix_spawn
from .tree import Identity, alive, descendants

log = logging.getLogger(__name__)

_F_SETPIPE_SZ = 1031
# A bigger pipe lets a chatty child write more before it blocks and lets the loop read more
# per wake-up (1 MiB is Linux's default pipe-max-size; smaller is silently fine).
PIPE_BYTES = 1 << 20
_DEFAULT_PATH = ("/bin", "/usr/bin", "/usr/local/bin")


@dataclass(slots=True)
class Child:
    """A started child: its pid and the parent's (non-blocking) ends of its pipes."""

    pid: int
    stdin_fd: int | None
    stdout_fd: int | None
    stderr_fd: int | None


def resolve_command(spec: ProgramSpec, env: Mapping[str, str]) -> list[str]:
    """argv with argv[0] resolved through PATH; NoFile/NotExecutable as supervisor reports."""
    try:
        argv = shlex.split(spec.command)
    except ValueError as exc:
        raise NotExecutable(f"can't parse command {spec.command!r}: {exc}")
    if not argv:
        raise NotExecutable("command is empty")
    program = argv[0]
    filename = program
    st: os.stat_result | None = None
    if "/" in program:
        try:
            st = os.stat(program)
        except OSError:
            st = None
    else:
        path = env.get("PATH")
        dirs = path.split(os.pathsep) if path else list(_DEFAULT_PATH)
        for directory in dirs:
            candidate = os.path.join(directory, program)
            try:
                st = os.stat(candidate)
            except OSError:
                continue
            filename = candidate
            break
    if st is None:
        raise NoFile(f"can't find command {filename!r}")
    if stat.S_ISDIR(st.st_mode):
        raise NotExecutable(f"command at {filename!r} is a directory")
    if not stat.S_IMODE(st.st_mode) & 0o111:
        raise NotExecutable(f"command at {filename!r} is not executable")
    if not os.access(filename, os.X_OK):
        raise NotExecutable(f"no permission to run command {filename!r}")
    return [filename, *argv[1:]]


def child_environment(
    spec: ProgramSpec, base_env: Mapping[str, str], serverurl: str | None
) -> dict[str, str]:
    """supervisor's environment: ours + SUPERVISOR_* + the program's ``environment=``.

    With ``user=`` (and a different uid), HOME, USER, LOGNAME and SHELL describe that user, as
    ``su -`` would, instead of leaking ours; ``environment=`` can still override them.
    (supervisor leaves them unchanged, which its users regularly trip over.)
    """
    env = dict(base_env)
    if spec.uid is not None and spec.uid != os.getuid():
        try:
            pw = pwd.getpwuid(spec.uid)
        except KeyError:
            pass
        else:
            env["HOME"] = pw.pw_dir
            env["USER"] = env["LOGNAME"] = pw.pw_name
            env["SHELL"] = pw.pw_shell or "/bin/sh"
    env["SUPERVISOR_ENABLED"] = "1"
    url = spec.serverurl or serverurl
    if url:
        env["SUPERVISOR_SERVER_URL"] = url
    env["SUPERVISOR_PROCESS_NAME"] = spec.name
    env["SUPERVISOR_GROUP_NAME"] = spec.group
    env.update(spec.environment)
    return env


def _nonblocking_pipe() -> tuple[int, int]:
    r, w = os.pipe()
    try:
        fcntl.fcntl(r, _F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:
        pass
    os.set_blocking(r, False)
    return r, w


def _spawn_error(spec: ProgramSpec, exc: OSError) -> SpawnError:
    name = spec.name
    code = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    if exc.errno == errno.EMFILE or exc.errno == errno.ENFILE:
        return SpawnError(f"too many open files to spawn '{name}'")
    if exc.errno == errno.EAGAIN:
        return SpawnError(f"Too many processes in process table to spawn '{name}'")
    filename = getattr(exc, "filename", None)
    if spec.directory and filename == spec.directory:
        return SpawnError(f"couldn't chdir to {spec.directory}: {code}")
    if exc.errno == errno.EPERM and spec.uid is not None:
        return SpawnError(f"couldn't setuid to {spec.uid}: {code}")
    if filename:
        return SpawnError(f"couldn't exec {filename}: {code}")
    return SpawnError(f"unknown error spawning '{name}': {code}")


class Spawner:
    """Starts children and signals them; keeps their Popen objects until they are reaped."""

    def __init__(
        self,
        base_env: Mapping[str, str],
        serverurl: str | None = None,
        *,
        child_mask: Collection[int] = (),
        child_ignored: Collection[int] = (),
    ) -> None:
        """``child_mask``/``child_ignored``: the signal mask and the ignored signals a program
        inheriting our stdio starts with (single-command mode passes the caller's; every
        other program starts with an empty mask and default dispositions)."""
        self.base_env = dict(base_env)
        self.serverurl = serverurl
        self.child_mask = frozenset(child_mask)
        self.child_ignored = frozenset(child_ignored)
        self._use_posix_spawn = posix_spawn.available()
        # A program inheriting our stdio takes the terminal's foreground itself, before it
        # runs: nobody may hand it over later (that would race the program, and take the
        # foreground back from a job an interactive shell under us already gave it to).
        self.children_take_foreground = self._use_posix_spawn
        self._popens: dict[int, subprocess.Popen[bytes]] = {}
        self._spawned: set[int] = set()  # started by posix_spawn: no Popen to release
        self._trees: dict[int, set[Identity]] = {}

    def check(self, spec: ProgramSpec) -> None:
        """Raise NoFile/NotExecutable without starting anything (startProcess's pre-check)."""
        resolve_command(spec, child_environment(spec, self.base_env, self.serverurl))

    def spawn(self, spec: ProgramSpec) -> Child:
        """Start ``spec``; raise SpawnError/NoFile/NotExecutable on failure. Never waits."""
        env = child_environment(spec, self.base_env, self.serverurl)
        argv = resolve_command(spec, env)
        if spec.uid is not None and spec.uid != os.getuid() and os.getuid() != 0:
            raise SpawnError(f"couldn't setuid to {spec.uid}: Can't drop privilege as nonroot user")
        if spec.inherit_stdio:
            return self._spawn_inheriting(spec, argv, env)
        opened: list[int] = []
        try:
            stdin_r, stdin_w = os.pipe()
            opened += [stdin_r, stdin_w]
            out_r, out_w = _nonblocking_pipe()
            opened += [out_r, out_w]
            err_r: int | None = None
            err_w: int | None = None
            if not spec.redirect_stderr:
                err_r, err_w = _nonblocking_pipe()
                opened += [err_r, err_w]
            popen = self._popen(spec, argv, env, stdin_r, out_w, err_w)
        except OSError as exc:
            for fd in opened:
                os.close(fd)
            raise _spawn_error(spec, exc)
        for child_end in (stdin_r, out_w, err_w):
            if child_end is not None:
                os.close(child_end)
        os.set_blocking(stdin_w, False)
        self._popens[popen.pid] = popen
        return Child(popen.pid, stdin_w, out_r, err_r)

    def _spawn_inheriting(self, spec: ProgramSpec, argv: list[str], env: dict[str, str]) -> Child:
        if self._use_posix_spawn and spec.uid is None and not spec.directory and spec.umask is None:
            try:
                pid = posix_spawn.spawn(
                    argv[0],
                    argv,
                    env,
                    foreground_fd=posix_spawn.controlling_terminal_fd(0),
                    sigmask=self.child_mask,
                    keep_ignored=self.child_ignored,
                )
            except OSError as exc:
                raise _spawn_error(spec, exc)
            self._spawned.add(pid)
            return Child(pid, None, None, None)
        try:
            popen = self._popen(spec, argv, env, None, None, None, inherit=True)
        except OSError as exc:
            raise _spawn_error(spec, exc)
        self._popens[popen.pid] = popen
        return Child(popen.pid, None, None, None)

    def _popen(
        self,
        spec: ProgramSpec,
        argv: list[str],
        env: dict[str, str],
        stdin: int | None,
        stdout: int | None,
        stderr: int | None,
        *,
        inherit: bool = False,
    ) -> subprocess.Popen[bytes]:
        user_kw: dict[str, object] = {}
        if spec.uid is not None and spec.uid != os.getuid():
            pw = pwd.getpwuid(spec.uid)
            gid = spec.gid if spec.gid is not None else pw.pw_gid
            user_kw = {
                "user": spec.uid,
                "group": gid,
                "extra_groups": sorted(set(os.getgrouplist(pw.pw_name, gid))),
            }
        group_kw: dict[str, object] = (
            {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}
        )
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            argv,
            executable=argv[0],
            stdin=stdin,
            stdout=stdout,
            stderr=stderr if inherit or stderr is not None else subprocess.STDOUT,
            cwd=spec.directory,
            env=env,
            umask=-1 if spec.umask is None else spec.umask,
            close_fds=True,
            restore_signals=True,
            **group_kw,
            **user_kw,
        )

    def kill(self, pid: int, signum: int, as_group: bool, tree: bool = False) -> None:
        """Send a signal; ESRCH means it already exited and the reaper will say so.

        With ``tree`` (killtree=true), every descendant seen now or at an earlier kill of this
        pid gets the signal too, even those that left the process group.
        """
        if tree:
            known = self._trees.setdefault(pid, set())
            known |= descendants(pid)
            for identity in list(known):
                if alive(identity):
                    _signal(identity[0], signum)
                else:
                    known.discard(identity)
        try:
            os.kill(-pid if as_group else pid, signum)
        except ProcessLookupError:
            log.debug("unable to signal pid %d, it probably just exited on its own", pid)

    def release(self, pid: int, status: ExitStatus) -> None:
        """The reaper has this pid's status: let its Popen go without it ever waiting.

        Descendants of a tree-killed program that outlived it get SIGKILL now: nothing may
        outlive its program.
        """
        for identity in self._trees.pop(pid, set()):
            if alive(identity):
                _signal(identity[0], signal.SIGKILL)
        self._spawned.discard(pid)
        popen = self._popens.pop(pid, None)
        if popen is not None:
            popen.returncode = status.code if status.code is not None else -(status.signal or 0)

    def owns(self, pid: int) -> bool:
        return pid in self._popens or pid in self._spawned


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
