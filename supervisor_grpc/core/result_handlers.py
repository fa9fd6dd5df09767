"""Running a listener pool's ``result_handler``: user Python code, inside the init.

Owns: the guarded call (``handler(event, result)`` as supervisor 4.3.0's
``PEventListenerDispatcher.handle_result`` makes it), what its outcome means, and the event
object the handler is given.
May import: our core modules (eventtypes), stdlib. Never ``supervisor``: a RejectEvent is
recognised by its class's qualified name in the exception's MRO, so a handler written against
supervisor (``raise supervisor.dispatchers.RejectEvent(...)``) works when the package is
installed, and nothing here needs it when it is not (then only the default semantics of
exceptions apply: any exception is an error).
Threading: loop thread only. The handler runs synchronously on the loop, as in supervisord:
a slow handler delays everything the loop does (reaping, pipes, RPCs) for as long as it
runs, and one that never returns hangs the init. Nothing it raises escapes: returning means
accepted, RejectEvent (or a subclass) means rejected (the event is buffered again, at the
head), anything else, ``SystemExit`` and ``KeyboardInterrupt`` included (supervisord's bare
``except:``), means error: buffered again, and the listener is UNKNOWN.

``result`` is the listener's result bytes, exactly as supervisord passes them. ``event`` is
a HandlerEvent rather than an instance of a ``supervisor.events`` class: it has supervisor's
``serial``, ``pool_serials`` (a copy) and ``payload()`` (the same text the listener read),
plus ``name`` (the event type, e.g. ``PROCESS_STATE_RUNNING``, what supervisor derives with
``getEventNameByType(type(event))``) and ``pool``. It lacks the per-type attributes that
hold supervisor objects (``process``, ``from_state``, ``expected``, ``group``, ...); their
values are in ``payload()``.
"""

from __future__ import annotations

from collections.abc import Callable

from . import eventtypes as et
from .listener_protocol import Judge, Verdict, default_judge

REJECT_EVENT = ("supervisor.dispatchers", "RejectEvent")
Handler = Callable[[object, bytes], object]


class HandlerEvent:
    """What a result handler sees of the event its listener answered."""

    __slots__ = ("_payload", "name", "pool", "pool_serials", "serial")

    def __init__(self, event: et.PendingEvent, pool: str) -> None:
        self.name = event.name
        self.pool = pool
        self.serial = event.serial
        self.pool_serials = dict(event.pool_serials)
        self._payload = event.payload

    def payload(self) -> str:
        return self._payload

    def __repr__(self) -> str:
        return f"<HandlerEvent {self.name} serial={self.serial} pool={self.pool}>"


def is_reject(exc: BaseException) -> bool:
    """``except supervisor.dispatchers.RejectEvent`` without importing supervisor."""
    return any((c.__module__, c.__qualname__) == REJECT_EVENT for c in type(exc).__mro__)


def judge_for(handler: Handler | None, pool: str) -> Judge:
    """The judge a pool's listeners use: the default one, or ``handler`` run guarded."""
    if handler is None:
        return default_judge
    name = _name_of(handler)

    def judge(event: object, result: bytes) -> tuple[Verdict, str]:
        view = HandlerEvent(event, pool) if isinstance(event, et.PendingEvent) else event
        try:
            handler(view, result)
        except BaseException as exc:  # user code must never reach the loop
            if is_reject(exc):
                return Verdict.REJECTED, ""
            return Verdict.ERROR, f"result_handler {name} raised {_describe(exc)}"
        return Verdict.ACCEPTED, ""

    return judge


def _name_of(handler: object) -> str:
    module = getattr(handler, "__module__", None)
    qualname = getattr(handler, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        return f"{module}:{qualname}"
    return repr(handler)


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # a failing __str__: still an error
        text = ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
