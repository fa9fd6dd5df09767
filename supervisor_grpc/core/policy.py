"""Exit statuses the init reports when a program ends it (critical, exit_when, -- CMD)."""

from __future__ import annotations

from ..errors import NoFile, NotExecutable
from ..model import ProcessState
from .process import Process

# tini's convention for a command that could not be executed.
EXIT_NOT_FOUND = 127
EXIT_NOT_EXECUTABLE = 126
# A critical program that ended with status 0 (or gave up without one) still failed the
# container: report 1 so that the orchestrator restarts it.
EXIT_CRITICAL_DEFAULT = 1


def failure_exit_code(proc: Process, *, critical: bool) -> int:
    """The program's own status in shell convention (128+N for signal N), 127/126 when it
    could not be executed; for a critical program never 0."""
    err = proc.last_spawn_error
    if proc.machine.state is ProcessState.FATAL and err is not None:
        if isinstance(err, NoFile):
            return EXIT_NOT_FOUND
        if isinstance(err, NotExecutable):
            return EXIT_NOT_EXECUTABLE
    status = proc.machine.exit_status
    code = status.shell_code if status is not None else EXIT_CRITICAL_DEFAULT
    if critical and code == 0:
        return EXIT_CRITICAL_DEFAULT
    return code
