"""The vocabulary every room shares: states, specs, exit statuses, snapshots, events.

Owns: value types only (enums with supervisor 4.3.0's numeric codes, frozen specs).
May import: stdlib only (enforced by tests/unit/test_architecture.py).
Threading: immutable values, safe to pass between any threads.

Times: a bare ``*_mono`` or ``now`` is monotonic seconds. Wall-clock values exist only at the
front-ends, which convert with :func:`mono_to_wall`.
"""

from __future__ import annotations

import enum
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


class ProcessState(enum.IntEnum):
    """A process's observed state; values are supervisor's wire codes (states.py)."""

    STOPPED = 0
    STARTING = 10
    RUNNING = 20
    BACKOFF = 30
    STOPPING = 40
    EXITED = 100
    FATAL = 200
    UNKNOWN = 1000


STOPPED_STATES = frozenset(
    {ProcessState.STOPPED, ProcessState.EXITED, ProcessState.FATAL, ProcessState.UNKNOWN}
)
RUNNING_STATES = frozenset({ProcessState.RUNNING, ProcessState.BACKOFF, ProcessState.STARTING})
SIGNALLABLE_STATES = frozenset({ProcessState.RUNNING, ProcessState.STARTING, ProcessState.STOPPING})


class DaemonState(enum.IntEnum):
    """The daemon's mood; values are supervisor's ``getState`` codes."""

    FATAL = 2
    RUNNING = 1
    RESTARTING = 0
    SHUTDOWN = -1


class AutoRestart(enum.Enum):
    """``autorestart=``: supervisor's three policies."""

    NEVER = "false"
    ALWAYS = "true"
    UNEXPECTED = "unexpected"


class Channel(enum.Enum):
    """A child's output stream."""

    STDOUT = "stdout"
    STDERR = "stderr"


class GroupKind(enum.Enum):
    """The section type a group came from; only PROGRAM groups can be started today."""

    PROGRAM = "program"
    EVENTLISTENER = "eventlistener"
    FCGI_PROGRAM = "fcgi-program"


@dataclass(frozen=True, slots=True)
class LogSpec:
    """Where one channel's output goes.

    ``path`` is None for NONE/OFF; ``auto`` means supervisor's AUTO file in childlogdir, whose
    concrete name is chosen when the channel is opened (so that specs compare equal across
    rereads). ``/dev/stdout`` and ``/dev/stderr`` are kept literally: the log store writes to
    the daemon's own fd without seeking or rotating.
    """

    path: str | None = None
    auto: bool = False
    maxbytes: int = 50 * 1024 * 1024
    backups: int = 10
    capture_maxbytes: int = 0
    events_enabled: bool = False
    syslog: bool = False


class HealthKind(enum.Enum):
    """How a health check probes a program."""

    COMMAND = "command"
    TCP = "tcp"
    HTTP = "http"


class Health(enum.Enum):
    """A program's health, as Docker reports it (NONE: no check configured)."""

    NONE = "none"
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True, slots=True)
class HealthSpec:
    """``healthcheck_*``: Docker's HEALTHCHECK model (interval, timeout, retries, start period).

    ``target`` is the command line, ``host:port`` or the URL.
    """

    kind: HealthKind
    target: str
    interval: float = 10.0
    timeout: float = 5.0
    retries: int = 3
    start_period: float = 0.0
    unhealthy_action: str = "none"  # "none" | "restart"


@dataclass(frozen=True, slots=True)
class ProgramSpec:
    """One process as configured: a ``[program:x]`` expanded for one ``process_num``."""

    name: str
    group: str
    program_name: str
    command: str
    process_num: int = 0
    numprocs: int = 1
    priority: int = 999
    autostart: bool = True
    startsecs: float = 1.0
    startretries: int = 3
    autorestart: AutoRestart = AutoRestart.UNEXPECTED
    exitcodes: frozenset[int] = frozenset({0})
    stopsignal: int = int(signal.SIGTERM)
    stopwaitsecs: float = 10.0
    stopasgroup: bool = False
    killasgroup: bool = False
    user: str | None = None
    uid: int | None = None
    gid: int | None = None
    redirect_stderr: bool = False
    stdout: LogSpec = field(default_factory=LogSpec)
    stderr: LogSpec = field(default_factory=LogSpec)
    environment: tuple[tuple[str, str], ...] = ()
    directory: str | None = None
    umask: int | None = None
    serverurl: str | None = None
    # Where in the config this came from, for error messages and getAllConfigInfo.
    section: str = ""
    # Single-command mode (tini semantics): the child shares the init's stdin/stdout/stderr
    # (and terminal) instead of pipes.
    inherit_stdio: bool = False
    # --- extensions (supervisord ignores these keys, so a file using them still loads there) ---
    # Programs (process names or namespecs) or ``group:*`` that must be RUNNING (and healthy,
    # where checked) before this one starts; stopped after this one.
    depends_on: tuple[str, ...] = ()
    # Restart this program when a dependency restarts.
    restart_with_dependencies: bool = False
    health: HealthSpec | None = None
    # Its FATAL, or an exit that will not be restarted, stops the init with a non-zero status.
    critical: bool = False
    # Retry delay: supervisor's linear ``n * backoff_initial`` by default; exponential
    # ``backoff_initial * backoff_multiplier**(n-1)`` when a multiplier is set; capped by
    # ``backoff_max`` (0 = no cap). ``startretries = -1`` retries forever.
    backoff_initial: float = 1.0
    backoff_multiplier: float | None = None
    backoff_max: float = 0.0
    # On stop, also signal descendants that left the process group (setsid daemons).
    killtree: bool = False

    @property
    def namespec(self) -> str:
        return make_namespec(self.group, self.name)


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """A process group: a ``[group:x]``, or the implicit group of one ``[program:x]``."""

    name: str
    priority: int
    programs: tuple[ProgramSpec, ...]
    kind: GroupKind = GroupKind.PROGRAM
    section: str = ""
    # [eventlistener:x] only: the event types the pool subscribes to (supervisor's names,
    # abstract ones included) and how many events it buffers before discarding the oldest.
    events: tuple[str, ...] = ()
    buffer_size: int = 10
    # [eventlistener:x] only: the ``result_handler`` the config named, imported at load
    # (called with (event, result bytes) when a listener answers); None = supervisor's default
    # handler (``OK`` accepts, anything else rejects). Compared by identity, as supervisord
    # compares it on reread: modules are imported once, so an unchanged name stays equal.
    result_handler: Callable[[object, bytes], object] | None = field(default=None, hash=False)


@dataclass(frozen=True, slots=True)
class HttpServerSpec:
    """``[unix_http_server]`` or ``[inet_http_server]``: where the XML-RPC shim listens."""

    kind: str  # "unix" or "inet"
    address: str  # socket path, or "host:port"
    chmod: int = 0o700
    chown: tuple[int, int] = (-1, -1)
    username: str | None = None
    password: str | None = None
    section: str = ""


@dataclass(frozen=True, slots=True)
class GrpcSpec:
    """``[grpc]``: where the gRPC service listens and how callers prove who they are."""

    listen: tuple[str, ...] = ()
    # Listeners that serve only grpc.health.v1 (no control RPCs, no token): what Kubernetes'
    # native gRPC probes and load balancers can reach, since they cannot send a token.
    health_listen: tuple[str, ...] = ()
    chmod: int = 0o700
    chown: tuple[int, int] = (-1, -1)
    token: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None


@dataclass(frozen=True, slots=True)
class DaemonSpec:
    """``[supervisord]`` plus the server sections and the groups: one whole config."""

    config_file: str = ""
    logfile: str | None = "supervisord.log"
    logfile_maxbytes: int = 50 * 1024 * 1024
    logfile_backups: int = 10
    loglevel: str = "info"
    pidfile: str | None = None
    nodaemon: bool = True
    silent: bool = False
    minfds: int = 1024
    minprocs: int = 200
    umask: int = 0o022
    user: str | None = None
    identifier: str = "supervisor"
    directory: str | None = None
    nocleanup: bool = False
    childlogdir: str = "/tmp"
    strip_ansi: bool = False
    environment: tuple[tuple[str, str], ...] = ()
    http_servers: tuple[HttpServerSpec, ...] = ()
    grpc: GrpcSpec = field(default_factory=GrpcSpec)
    groups: tuple[GroupSpec, ...] = ()
    # [supervisorctl] serverurl, used to fill SUPERVISOR_SERVER_URL when no server is defined.
    ctl_serverurl: str | None = None
    # Non-fatal findings (unknown keys, include globs that matched nothing), logged at start.
    warnings: tuple[str, ...] = ()
    # --- extensions ---
    # When the init itself ends: "never" (supervisor), "any" program done, or "all" done.
    exit_when: str = "never"
    # Copy every child's output to our stdout/stderr, line by line: "off", "text" (prefixed
    # with the program name) or "json" (one object per line).
    forward_output: str = "off"
    # Bytes of forwarded output held while our stdout is slow; beyond it lines are dropped and
    # counted (never blocking the loop).
    forward_buffer_bytes: int = 4 * 1024 * 1024
    # The daemon's own log format: "text" (supervisor's) or "json".
    log_format: str = "text"

    def group(self, name: str) -> GroupSpec | None:
        for g in self.groups:
            if g.name == name:
                return g
        return None


@dataclass(frozen=True, slots=True)
class ExitStatus:
    """How a child ended: an exit code, or the signal that killed it."""

    code: int | None = None
    signal: int | None = None
    core_dumped: bool = False

    @property
    def policy_code(self) -> int:
        """The number autorestart/exitcodes compare: the code, or -1 for a signal death
        (supervisor's ``decode_wait_status``)."""
        return self.code if self.code is not None else -1

    @property
    def shell_code(self) -> int:
        """The shell convention tini uses: the code, or 128+N for death by signal N."""
        if self.signal is not None:
            return 128 + self.signal
        return self.code if self.code is not None else 255

    def describe(self) -> str:
        """supervisor's wording: ``exit status 1`` or ``terminated by SIGKILL``."""
        if self.signal is not None:
            text = f"terminated by {signal_name(self.signal)}"
            return text + " (core dumped)" if self.core_dumped else text
        return f"exit status {self.code}"


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


@dataclass(frozen=True, slots=True)
class LogFaults:
    """What one log channel could not write (a stalled pipe, a full disk), for process info.

    Counters are for the channel's life; ``failing`` says an episode is in progress now.
    """

    dropped_bytes: int = 0
    dropped_lines: int = 0
    write_errors: int = 0
    last_error: str = ""
    failing: bool = False


NO_LOG_FAULTS = LogFaults()


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """A snapshot of one process, taken on the loop thread and handed to any thread."""

    name: str
    group: str
    state: ProcessState
    pid: int
    start_mono: float | None
    stop_mono: float | None
    exit_status: ExitStatus | None
    spawn_error: str
    stdout_logfile: str
    stderr_logfile: str
    expected: bool = True
    # Set when the core has something better to say than the state (e.g. what a start waits for).
    description: str = ""
    health: Health = Health.NONE
    health_output: str = ""
    autostart: bool = True
    stdout_log: LogFaults = NO_LOG_FAULTS
    stderr_log: LogFaults = NO_LOG_FAULTS

    @property
    def namespec(self) -> str:
        return make_namespec(self.group, self.name)


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the event journal: a process transition or a daemon event.

    ``kind`` is ``"process_state"`` (with from/to states), ``"daemon_state"``,
    ``"group_added"``, ``"group_removed"``, ``"health"`` (``reason`` = the new health),
    ``"process_communication"`` (``channel`` and ``data``: a capture-mode message) or
    ``"remote_communication"`` (``comm_type`` and ``data``: a sendRemoteCommEvent).
    """

    kind: str
    time_mono: float
    name: str = ""
    group: str = ""
    from_state: ProcessState | None = None
    to_state: ProcessState | None = None
    daemon_state: DaemonState | None = None
    pid: int = 0
    expected: bool = True
    reason: str = ""
    tries: int = 0  # process_state STARTING/BACKOFF: supervisor's failed-start count
    channel: str = ""
    comm_type: str = ""
    data: bytes = b""

    @property
    def namespec(self) -> str:
        """The process's namespec ("" names nothing: daemon and group events)."""
        return make_namespec(self.group, self.name)


@dataclass(frozen=True, slots=True)
class ConfigDiff:
    """What a reread found: group names added, changed and removed (supervisor's triple)."""

    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DaemonInfo:
    """What GetState/getState report about the daemon itself."""

    state: DaemonState
    pid: int
    identifier: str
    config_file: str
    start_mono: float
    version: str


def make_namespec(group: str, name: str) -> str:
    """supervisor's ``make_namespec``: ``group:name``, or ``name`` when they are equal. The one
    place a namespec is spelled; every value with a group and a name asks it."""
    return name if group == name else f"{group}:{name}"


def mono_to_wall(t_mono: float | None, now_mono: float, now_wall: float) -> float:
    """Convert a monotonic instant to wall clock as seen now (0.0 for "never")."""
    if t_mono is None:
        return 0.0
    return now_wall - (now_mono - t_mono)


def environment_dict(pairs: tuple[tuple[str, str], ...]) -> Mapping[str, str]:
    return dict(pairs)
