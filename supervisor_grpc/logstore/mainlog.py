"""The daemon's own log in supervisor's format, written into a LogChannel.

Owns: supervisor's main-log line format and level vocabulary (CRIT ... BLAT, trace=5,
blather=3) on top of stdlib ``logging``.
May import: supervisor_grpc.model, supervisor_grpc.errors, the logstore's channel, stdlib.
Threading: any thread may log. Writes are serialised by the handler's own lock (the one
exception to "only the loop writes"); the loop must therefore reopen/clear/close the main log
channel through this handler, which takes the same lock.
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from typing import Protocol

from supervisor_grpc import errors
from supervisor_grpc.logstore.channel import LogChannel
from supervisor_grpc.model import LogLevel

TRACE = 5
BLATHER = 3

_NUMBERS = {
    LogLevel.CRITICAL: logging.CRITICAL,
    LogLevel.ERROR: logging.ERROR,
    LogLevel.WARN: logging.WARNING,
    LogLevel.INFO: logging.INFO,
    LogLevel.DEBUG: logging.DEBUG,
    LogLevel.TRACE: TRACE,
    LogLevel.BLATHER: BLATHER,
}
# Highest first, so an in-between number takes the name of the level just below it.
_SHORT_NAMES = (
    (logging.CRITICAL, "CRIT"),
    (logging.ERROR, "ERRO"),
    (logging.WARNING, "WARN"),
    (logging.INFO, "INFO"),
    (logging.DEBUG, "DEBG"),
    (TRACE, "TRAC"),
    (BLATHER, "BLAT"),
)


def log_level(name: str) -> LogLevel:
    """A ``loglevel`` word from outside the config file (the command line), any case."""
    try:
        return LogLevel(name.strip().lower())
    except ValueError:
        raise errors.BadArgument(f"unknown log level {name!r}")


def level_number(level: LogLevel | str) -> int:
    """``loglevel=`` (supervisor's ``LevelsByDescription``) to logging numbers; a word is
    read as :func:`log_level` reads it."""
    return _NUMBERS[level if isinstance(level, LogLevel) else log_level(level)]


def short_level_name(levelno: int) -> str:
    for number, short in _SHORT_NAMES:
        if levelno >= number:
            return short
    return "BLAT"


class EchoStream(Protocol):
    """Where the log is echoed (a text stream, or the daemon's bounded stdout writer)."""

    def write(self, text: str, /) -> object: ...

    def flush(self) -> None: ...


class SupervisorFormatter(logging.Formatter):
    """``%(asctime)s %(levelname)s %(message)s`` with supervisor's time and level spellings."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        return f"{stamp},{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        elif record.exc_text:
            message = f"{message}\n{record.exc_text}"
        if record.stack_info:
            message = f"{message}\n{self.formatStack(record.stack_info)}"
        return f"{self.formatTime(record)} {short_level_name(record.levelno)} {message}\n"


class JsonFormatter(SupervisorFormatter):
    """One JSON object per line (``time``, ``level``, ``message``), for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        entry = {
            "time": datetime.datetime.fromtimestamp(
                record.created, datetime.timezone.utc
            ).isoformat(timespec="milliseconds"),
            "level": short_level_name(record.levelno),
            "message": message,
        }
        return json.dumps(entry, ensure_ascii=False) + "\n"


class MainLogHandler(logging.Handler):
    """The daemon's own log: supervisor's format, written to a LogChannel (and optionally
    echoed to a text stream, as supervisord does on stdout in the foreground)."""

    def __init__(
        self,
        channel: LogChannel,
        echo_stream: EchoStream | None = None,
        *,
        json_lines: bool = False,
    ) -> None:
        super().__init__()
        self.channel = channel
        self.echo_stream = echo_stream
        self.setFormatter(JsonFormatter() if json_lines else SupervisorFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        # logging.Handler.handle() holds self.lock around emit(): one writer at a time.
        try:
            line = self.format(record)
            self.channel.write(line.encode("utf-8", "backslashreplace"))
            if self.echo_stream is not None:
                self.echo_stream.write(line)
                self.echo_stream.flush()
        except Exception:
            self.handleError(record)

    def reopen_channel(self) -> None:
        with self._locked():
            self.channel.reopen()

    def clear_channel(self) -> None:
        with self._locked():
            self.channel.clear()

    def close_channel(self) -> None:
        with self._locked():
            self.channel.close()

    def _locked(self) -> _HandlerLock:
        return _HandlerLock(self)


class _HandlerLock:
    """Context manager over logging.Handler's acquire/release (its lock is an RLock)."""

    def __init__(self, handler: logging.Handler) -> None:
        self._handler = handler

    def __enter__(self) -> None:
        self._handler.acquire()

    def __exit__(self, *exc: object) -> None:
        self._handler.release()
