"""supervisor's XML-RPC Faults and the one translation from domain errors to them.

Owns: the fault codes of supervisor 4.3.0's ``xmlrpc.Faults`` and the ``"NAME: extra"``
faultString format.
May import: errors, stdlib.
Threading: values only.
"""

from __future__ import annotations

import enum

from ...errors import SupervisorError


class Faults(enum.IntEnum):
    """supervisor 4.3.0's fault codes (there is no code 5)."""

    UNKNOWN_METHOD = 1
    INCORRECT_PARAMETERS = 2
    BAD_ARGUMENTS = 3
    SIGNATURE_UNSUPPORTED = 4
    SHUTDOWN_STATE = 6
    BAD_NAME = 10
    BAD_SIGNAL = 11
    NO_FILE = 20
    NOT_EXECUTABLE = 21
    FAILED = 30
    ABNORMAL_TERMINATION = 40
    SPAWN_ERROR = 50
    ALREADY_STARTED = 60
    NOT_RUNNING = 70
    SUCCESS = 80
    ALREADY_ADDED = 90
    STILL_RUNNING = 91
    CANT_REREAD = 92


# Faults whose text supervisor builds from the name the caller passed, not from a message.
_NAMED = frozenset(
    {
        Faults.BAD_NAME,
        Faults.ALREADY_STARTED,
        Faults.NOT_RUNNING,
        Faults.SPAWN_ERROR,
        Faults.ABNORMAL_TERMINATION,
        Faults.ALREADY_ADDED,
        Faults.STILL_RUNNING,
    }
)


class RpcFault(Exception):
    """A fault to send back: ``text`` is ``NAME`` or ``NAME: extra``, as supervisor's."""

    def __init__(self, code: Faults, extra: object = None) -> None:
        self.code = code
        self.text = code.name if extra is None else f"{code.name}: {extra}"
        super().__init__(self.text)


def fault_for(code_name: str) -> Faults:
    """A domain error's ``code`` to a fault; codes supervisor lacks (TIMEOUT) are FAILED."""
    return Faults.__members__.get(code_name, Faults.FAILED)


def from_error(exc: SupervisorError, name: str | None = None) -> RpcFault:
    """Translate a domain error. ``name`` is what the caller asked for, used where
    supervisor's faultString is just that name (``SPAWN_ERROR: web``)."""
    code = fault_for(exc.code)
    if code is Faults.SHUTDOWN_STATE:
        return RpcFault(code)
    if code in _NAMED and name is not None:
        return RpcFault(code, name)
    message = str(exc)
    if name is not None and message.startswith(f"{name}: "):
        message = message[len(name) + 2 :]  # the core prefixes the namespec; supervisor not
    return RpcFault(code, message if message and message != code.name else None)
