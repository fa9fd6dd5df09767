"""The running daemon: builds every part from a DaemonSpec and runs the loop to the end.

Owns: the App's run (open the main log, wire core/control/front-ends, run the loop, tear
down), the signal policy while it runs, and the main program's exit status. Building the
spec is daemon/specs.py; the small adapters between rooms are daemon/wiring.py.
May import: everything below daemon.
Threading: main thread (which runs the loop); front-ends run their own threads.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import logging
import os
import signal
import sys
from typing import Any

from .. import config
from ..control import Control, parse_signal
from ..core import Process, Supervisor
from ..errors import ConfigError, NoFile, NotExecutable, ShuttingDown, SupervisorError
from ..logstore import (
    Forwarder,
    LogChannel,
    MainLogHandler,
    StreamFlusher,
    cleanup_auto_logs,
    level_number,
)
from ..machine import Publish
from ..model import (
    DaemonSpec,
    DaemonState,
    ForwardOutput,
    HttpKind,
    LogFormat,
    LogLevel,
    LogSpec,
    ProcessState,
)
from ..runtime import reaper, signals
from ..runtime.inbox import Inbox
from ..runtime.loop import Loop
from ..runtime.pipes import Pipes
from ..runtime.spawner import Spawner
from . import host, specs, wiring
from .args import Options, loglevel_for_verbosity

log = logging.getLogger("supgrpc")
MAIN_NAME = specs.MAIN_NAME
S = ProcessState


class App:
    def __init__(self, opts: Options, spec: DaemonSpec, config_path: str | None) -> None:
        self.opts = opts
        self.spec = spec
        self.config_path = config_path
        self.main_name: str | None = None
        self.exit_code = 0
        self.single_only = config_path is None
        self._pidfile_written = False
        self.inherited = signals.Inherited()
        # One thread (only while something is stalled) for every stream log, main log too.
        self.stream_flusher = StreamFlusher()
        for group in spec.groups:
            if group.section == "command line":
                self.main_name = group.name

    @classmethod
    def from_options(cls, opts: Options) -> App:
        from . import find_config_or_fail

        path: str | None = None
        if opts.configuration or not opts.command:
            path = os.path.abspath(opts.configuration or find_config_or_fail(opts))
            spec = config.load(path)
        else:
            spec = DaemonSpec(logfile=None, loglevel=LogLevel.WARN, nocleanup=True)
        if opts.command:
            group = specs.single_command_spec(opts.command, {g.name for g in spec.groups})
            spec = dataclasses.replace(spec, groups=(*spec.groups, group))
        spec = specs.apply_overrides(spec, opts)
        if path is None and opts.loglevel is None:  # else apply_overrides set it
            verbosity = loglevel_for_verbosity(opts.verbosity)
            spec = dataclasses.replace(spec, loglevel=verbosity)
        specs.check_supported(spec)
        return cls(opts, spec, path)

    def load_config(self) -> DaemonSpec:
        """Reread for reload/update: the file again, plus the command-line program."""
        if self.config_path is None:
            return self.spec
        spec = config.load(self.config_path)
        main = [g for g in self.spec.groups if g.section == "command line"]
        spec = specs.apply_overrides(
            dataclasses.replace(spec, groups=(*spec.groups, *main)), self.opts
        )
        specs.check_supported(spec)
        return spec

    # -- the checklist --

    def run(self) -> int:
        spec, opts = self.spec, self.opts
        # 3. Start from a clean signal state (single-command mode: keep what the caller
        # ignored, as tini does) and make sure orphans come back to us.
        self.inherited = signals.reset_inherited_signal_state(keep_ignored=self.single_only)
        if opts.parent_death_signal:
            host.set_parent_death_signal(parse_signal(opts.parent_death_signal))
        self._register_as_reaper()
        # 4. Shape our own process: limits, allocator, umask, directory, user.
        host.apply_limits(spec)
        if not host.tune_allocator():
            log.debug("mallopt unavailable: keeping the C allocator's defaults")
        os.umask(spec.umask)
        # supervisord switches to directory= only when it daemonizes (nodaemon=false, no -n);
        # in the foreground its children run where it was started. Ours run where theirs do.
        if spec.directory and not (spec.nodaemon or opts.nodaemon):
            try:
                os.chdir(spec.directory)
            except OSError as exc:
                raise ConfigError(
                    f"cannot chdir to {spec.directory}: {exc.strerror}",
                    section="supervisord",
                    key="directory",
                )
        if spec.user:
            host.drop_privileges(spec.user)
        # 5. Our own log, then what the config told us in passing.
        main_log = self._open_main_log()
        for warning in spec.warnings:
            log.warning("%s", warning)
        if self.config_path:
            log.info("supgrpcd started with pid %d, config %s", os.getpid(), self.config_path)
        if not spec.nocleanup:
            cleanup_auto_logs(spec.childlogdir, spec.identifier)
        try:
            return self._supervise(main_log)
        finally:
            if self._pidfile_written:  # never another daemon's (supervisord's rule too)
                host.remove_pidfile(spec.pidfile)

    def _register_as_reaper(self) -> None:
        if os.getpid() == 1:
            return
        if self.opts.subreaper:
            signals.become_subreaper()
        elif not signals.is_subreaper():
            log.warning("not PID 1 and not a child subreaper: orphans will not be reaped here")

    def _open_main_log(self) -> LogChannel:
        spec = self.spec
        logspec = LogSpec(
            path=spec.logfile, maxbytes=spec.logfile_maxbytes, backups=spec.logfile_backups
        )
        channel = LogChannel(
            "supervisord",
            logspec if spec.logfile else None,
            channel="main",
            identifier=spec.identifier,
            flusher=self.stream_flusher,
        )
        # What the open has to say (a FIFO with no reader yet) goes to the main log, later.
        early: list[str] = []
        report, channel.faults.report = channel.faults.report, early.append
        try:
            channel.open()
        except OSError as exc:
            raise ConfigError(
                f"cannot open {spec.logfile}: {exc.strerror}", section="supervisord", key="logfile"
            )
        finally:
            channel.faults.report = report
        # Everything we print to our own stdout/stderr (the log echo, forwarded lines) goes
        # through one bounded writer thread: a container's stdout that nobody drains must
        # never block the loop (or any thread that logs).
        self._stdio = Forwarder(
            spec.forward_output.line_format, max_buffer_bytes=spec.forward_buffer_bytes
        )
        self._stdio.start()
        to_terminal = spec.logfile in ("/dev/stdout", "/dev/stderr")
        echo = None
        if not spec.silent and not to_terminal:
            echo = wiring.EchoStream(self._stdio, "stderr" if self.single_only else "stdout")
        json_lines = spec.log_format is LogFormat.JSON
        handler = MainLogHandler(channel, echo_stream=echo, json_lines=json_lines)
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(level_number(spec.loglevel))
        self._main_handler = handler
        for message in early:
            log.warning("%s", message)
        return channel

    def _supervise(self, main_log: LogChannel) -> int:
        spec = self.spec
        # 6. The runtime: loop, inbox, signals, spawner, and the core on top of them.
        loop = Loop()
        inbox = Inbox()
        intake = signals.SignalIntake()
        serverurl = self._serverurl()
        from . import caller_environment

        spawner = Spawner(
            caller_environment() | dict(spec.environment),
            serverurl,
            child_mask=self.inherited.mask,
            child_ignored=self.inherited.ignored,
        )
        core = Supervisor(
            spec,
            clock=loop.clock,
            spawner=spawner,
            reactor=loop,
            pipes=Pipes(),
            reaper=reaper.reap,
            stream_flusher=self.stream_flusher,
        )
        core.unknown_pid_level = logging.WARNING if self.opts.warn_on_reap else logging.DEBUG
        control = Control(inbox, core, self.load_config)
        control.main_log = main_log
        control.main_log_handler = self._main_handler
        self.core, self.control, self.spawner = core, control, spawner
        loop.add_reader(inbox.open(), lambda _fd: inbox.run_pending())
        signal_fd = intake.install(
            tuple(s for s in signals.CATCHABLE if s not in self.inherited.ignored)
        )
        if signal_fd is not None:
            loop.add_reader(signal_fd, lambda _fd: self._on_signals(intake.read()))
        core.listeners.append(self._on_transition)
        offload_pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="supgrpc-probe")
        core.health.prober = functools.partial(wiring.probe_on_worker, offload_pool, inbox)
        if spec.forward_output is not ForwardOutput.OFF:
            core.child_pipes.forwarder = self._stdio
        # 7. Groups (log files open now, so a bad path fails before anything starts).
        core.add_initial_groups()
        # 8. Front-ends: they only ever talk to `control`.
        frontends = self._start_frontends(control, core)
        # 8b. We are the daemon for this config now (its sockets are ours): claim the pidfile.
        # Written only now, so one that refuses to start (an address in use) leaves the
        # running daemon's pidfile alone.
        if spec.pidfile and self.config_path:
            host.write_pidfile(spec.pidfile)
            self._pidfile_written = True
        # 9. Start what should start, then run until everything has stopped.
        core.autostart()
        try:
            loop.run(core.service, lambda: core.finished)
        finally:
            # 10. Tear down in reverse: front-ends, inbox and waiters; then stray descendants,
            # with our signal handlers still in place (a second SIGTERM must not kill the
            # init mid-sweep) and program pipes still open and drained (an orphan writing in
            # its TERM handler must not die of SIGPIPE); only then pipes, logs, handlers.
            for frontend in reversed(frontends):
                frontend.stop()
            inbox.close()
            offload_pool.shutdown(wait=False, cancel_futures=True)
            core.fail_waiters(ShuttingDown("supervisor is shutting down"))
            if core.exit_code and not self.exit_code:
                self.exit_code = core.exit_code
            if os.getpid() == 1 or signals.is_subreaper():

                def between() -> None:
                    core.drain_outputs()
                    for signum in intake.read():
                        log.debug("signal %d during the final sweep: already exiting", signum)

                host.sweep_descendants(reaper.reap, grace_seconds=5.0, between=between)
            core.close()
            intake.restore()
            if self._stdio.dropped_lines:
                log.warning("forwarding dropped %d line(s) in all", self._stdio.dropped_lines)
            log.info("exiting with status %d", self.exit_code)
            self._main_handler.close_channel()
            self._stdio.close()
            loop.close()
        return self.exit_code

    def _serverurl(self) -> str | None:
        for server in self.spec.http_servers:
            if server.kind is HttpKind.UNIX:
                return f"unix://{server.address}"
        for server in self.spec.http_servers:
            host_, _, port = server.address.rpartition(":")
            return f"http://{host_ or 'localhost'}:{port}"
        return self.spec.ctl_serverurl

    def _start_frontends(self, control: Control, core: Supervisor) -> list[Any]:
        started: list[Any] = []
        try:
            from ..frontends import launch
        except ImportError:  # front-ends not built into this tree
            return started
        for frontend in launch.start_all(
            self.spec, self.opts, control, single_only=self.single_only
        ):
            started.append(frontend)
            listener = getattr(frontend, "process_changed", None)
            if listener is not None:
                core.listeners.append(functools.partial(wiring.notify_frontend, listener))
        return started

    # -- signals and the main program --

    def _on_signals(self, numbers: list[int]) -> None:
        for signum in numbers:
            if signum == signal.SIGCHLD:
                continue  # reaping is level-triggered in core.service
            # Each signal on its own: a failure handling one (a reload that blew up) must not
            # drop the SIGTERM that arrived in the same batch.
            try:
                self._on_signal(signum)
            except Exception:
                log.critical("handling signal %d failed; continuing", signum, exc_info=True)

    def _on_signal(self, signum: int) -> None:
        core = self.core
        name = (
            signal.Signals(signum).name
            if signum in signal.Signals._value2member_map_
            else str(signum)
        )
        if self.single_only:
            self._forward(signum)
        elif signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            core.request_shutdown(f"received {name} indicating exit request")
        elif signum == signal.SIGHUP:
            self._reload(name)
        elif signum == signal.SIGUSR2:
            log.info("received %s indicating log reopen request", name)
            # Each channel reports its own failure and never raises (LogChannel.reopen), so
            # one unreopenable path stops neither the others nor the main log.
            core.reopen_logs()
            self._main_handler.reopen_channel()
        else:
            log.debug("received %s indicating nothing", name)

    def _forward(self, signum: int) -> None:
        proc = self._main_process()
        if proc is None or not proc.machine.pid:
            log.debug("no child to forward signal %d to", signum)
            return
        try:
            self.spawner.kill(proc.machine.pid, signum, self.opts.process_group)
        except OSError as exc:
            log.warning("forwarding signal %d failed: %s", signum, exc)

    def _reload(self, name: str) -> None:
        log.info("received %s indicating a reload request", name)
        try:
            new = self.load_config()
        except (ConfigError, SupervisorError) as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            return
        self.core.latest = new
        try:
            self.core.update()
        except SupervisorError as exc:
            log.error("reload failed: %s", exc)

    def _main_process(self) -> Process | None:
        if self.main_name is None:
            return None
        return self.core.processes.get((self.main_name, self.main_name))

    def _on_transition(self, proc: Process, pub: Publish) -> None:
        if proc.name != self.main_name or proc.group != self.main_name:
            return
        if (
            pub.to_state is S.RUNNING
            and proc.spec.inherit_stdio
            and not self.spawner.children_take_foreground
        ):
            wiring.give_terminal_to(
                pub.pid
            )  # no glibc posix_spawn here: late, but better than none
        if self.core.mood is not DaemonState.RUNNING:
            return
        if pub.to_state not in (S.EXITED, S.FATAL, S.STOPPED):
            return
        self.exit_code = self._main_exit_code(proc)
        self.core.request_shutdown(
            f"{proc.name} exited: ending the init", self.exit_code, level=logging.INFO
        )

    def _main_exit_code(self, proc: Process) -> int:
        m = proc.machine
        if m.state is S.FATAL:
            err = proc.last_spawn_error
            if isinstance(err, NoFile):
                sys.stderr.write(f"supgrpcd: {err}\n")
                return 127
            if isinstance(err, NotExecutable):
                sys.stderr.write(f"supgrpcd: {err}\n")
                return 126
            if err is not None:
                sys.stderr.write(f"supgrpcd: {err}\n")
            return 1
        status = m.exit_status
        code = status.shell_code if status is not None else 1
        return 0 if code in self.opts.remap_exit else code
