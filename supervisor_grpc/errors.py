"""Domain errors: raised where the rule lives, translated once per front-end.

Owns: the exception tree and each error's stable ``code`` (a supervisor Fault name, so the
XML-RPC shim maps them 1:1 and gRPC maps them through one table).
May import: nothing of ours.
Threading: plain exceptions; they cross from the loop thread to callers through Futures.
"""

from __future__ import annotations


class SupervisorError(Exception):
    """Base of every error a caller can act on. ``code`` names supervisor's Fault."""

    code = "FAILED"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NoSuchProcess(SupervisorError):
    code = "BAD_NAME"


class NoSuchGroup(NoSuchProcess):
    """A ``group:*`` target whose group does not exist (supervisorctl: "no such group")."""


class AlreadyStarted(SupervisorError):
    code = "ALREADY_STARTED"


class NotRunning(SupervisorError):
    code = "NOT_RUNNING"


class SpawnError(SupervisorError):
    """The process could not be brought to RUNNING (fork/exec failure, exited too quickly)."""

    code = "SPAWN_ERROR"


class NoFile(SupervisorError):
    """A command or log file that does not exist."""

    code = "NO_FILE"


class NotExecutable(SupervisorError):
    code = "NOT_EXECUTABLE"


class AbnormalTermination(SupervisorError):
    """A waited-for start ended in a state other than RUNNING (EXITED, STOPPED...)."""

    code = "ABNORMAL_TERMINATION"


class BadSignal(SupervisorError):
    code = "BAD_SIGNAL"


class BadArgument(SupervisorError):
    code = "BAD_ARGUMENTS"


class ShuttingDown(SupervisorError):
    code = "SHUTDOWN_STATE"


class Timeout(SupervisorError):
    """A caller's deadline passed before the loop finished the request."""

    code = "TIMEOUT"


class Failed(SupervisorError):
    code = "FAILED"


class AlreadyAdded(SupervisorError):
    code = "ALREADY_ADDED"


class StillRunning(SupervisorError):
    code = "STILL_RUNNING"


class CantReread(SupervisorError):
    code = "CANT_REREAD"


class NotSupported(SupervisorError):
    """A configured feature this version does not implement yet (never silently ignored)."""

    code = "FAILED"


class ConfigError(SupervisorError):
    """A bad configuration: the message names the file, section and key."""

    code = "CANT_REREAD"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        section: str | None = None,
        key: str | None = None,
    ) -> None:
        where = []
        if file:
            where.append(file)
        if section:
            where.append(f"[{section}]")
        if key:
            where.append(key)
        prefix = " ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.file = file
        self.section = section
        self.key = key
