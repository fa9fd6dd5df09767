"""What the configuration says: frozen specs the config room builds and the core reads.

Owns: ``ProgramSpec``, ``GroupSpec``, ``DaemonSpec`` and their parts, and the enums of every
closed choice they hold (``autorestart``, ``exit_when``, ``forward_output``, ``log_format``,
``loglevel``, ``unhealthy_action``, the HTTP server kind). Each enum's values are the config
file's spellings, so the config room converts with ``Enum(text)`` and a front-end that reports
a setting sends ``.value``: the wire text never depends on a Python name.
May import: stdlib, model.states.
Threading: immutable values.
"""

from __future__ import annotations

import enum
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .states import make_namespec


class AutoRestart(enum.Enum):
    """``autorestart=``: supervisor's three policies."""

    NEVER = "false"
    ALWAYS = "true"
    UNEXPECTED = "unexpected"


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


class UnhealthyAction(enum.Enum):
    """``unhealthy_action=``: what the init does when a health check turns UNHEALTHY."""

    NONE = "none"
    RESTART = "restart"


class HealthKind(enum.Enum):
    """How a health check probes a program."""

    COMMAND = "command"
    TCP = "tcp"
    HTTP = "http"


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
    unhealthy_action: UnhealthyAction = UnhealthyAction.NONE


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


class HttpKind(enum.Enum):
    """Which XML-RPC server section: ``[unix_http_server]`` or ``[inet_http_server]``."""

    UNIX = "unix"
    INET = "inet"

    @property
    def section(self) -> str:
        """The section name supervisor gives this kind (``unix_http_server``)."""
        return f"{self.value}_http_server"


@dataclass(frozen=True, slots=True)
class HttpServerSpec:
    """``[unix_http_server]`` or ``[inet_http_server]``: where the XML-RPC shim listens."""

    kind: HttpKind
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


class LogLevel(enum.Enum):
    """``loglevel=``: supervisor's level words (``LevelsByDescription``), most severe first."""

    CRITICAL = "critical"
    ERROR = "error"
    WARN = "warn"
    INFO = "info"
    DEBUG = "debug"
    TRACE = "trace"
    BLATHER = "blather"


class ExitWhen(enum.Enum):
    """``exit_when=``: when the init itself ends (besides a signal or a ``critical`` program)."""

    NEVER = "never"  # supervisor's rule: only when told to
    ANY = "any"  # the first program that is done
    ALL = "all"  # once every program is done


class LogFormat(enum.Enum):
    """How a line the init prints is shaped: ``log_format=`` and the forwarder's lines."""

    TEXT = "text"
    JSON = "json"


class ForwardOutput(enum.Enum):
    """``forward_output=``: whether children's output is copied to our stdout/stderr, and how."""

    OFF = "off"
    TEXT = "text"  # prefixed with the program name
    JSON = "json"  # one object per line

    @property
    def line_format(self) -> LogFormat:
        """The forwarder's line shape (OFF still writes the daemon's own echo as text)."""
        return LogFormat.JSON if self is ForwardOutput.JSON else LogFormat.TEXT


@dataclass(frozen=True, slots=True)
class DaemonSpec:
    """``[supervisord]`` plus the server sections and the groups: one whole config."""

    config_file: str = ""
    logfile: str | None = "supervisord.log"
    logfile_maxbytes: int = 50 * 1024 * 1024
    logfile_backups: int = 10
    loglevel: LogLevel = LogLevel.INFO
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
    # When the init itself ends (see ExitWhen).
    exit_when: ExitWhen = ExitWhen.NEVER
    # Copy every child's output to our stdout/stderr, line by line (see ForwardOutput).
    forward_output: ForwardOutput = ForwardOutput.OFF
    # Bytes of forwarded output held while our stdout is slow; beyond it lines are dropped and
    # counted (never blocking the loop).
    forward_buffer_bytes: int = 4 * 1024 * 1024
    # The daemon's own log format: TEXT (supervisor's) or JSON.
    log_format: LogFormat = LogFormat.TEXT

    def group(self, name: str) -> GroupSpec | None:
        for g in self.groups:
            if g.name == name:
                return g
        return None


def environment_dict(pairs: tuple[tuple[str, str], ...]) -> Mapping[str, str]:
    return dict(pairs)
