"""How ``supgrpc-cli`` prints: supervisorctl-style text, or stable JSON (docs/grpc.md).

Owns: the status table layout, per-result wording (supervisorctl's), event lines, and the
line-splitting, name-prefixing (and colouring, on a terminal) of multiplexed logs.
May import: supgrpc_client.types, stdlib.
Threading: one Printer per CLI run, used by one thread.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol, TextIO

from .types import Event, LogChunk, LogFaults, ProcessInfo, ProcessResult, to_dict

# supervisor's STOPPED_STATES: `status` exits 3 when any listed process is in one of them.
STOPPED_STATES = frozenset({"STOPPED", "EXITED", "FATAL", "UNKNOWN"})

# supervisorctl's wording for each per-process result code.
RESULT_TEXT = {
    "ALREADY_STARTED": "already started",
    "NOT_RUNNING": "not running",
    "SPAWN_ERROR": "spawn error",
    "ABNORMAL_TERMINATION": "abnormal termination",
    "NO_FILE": "no such file",
    "NOT_EXECUTABLE": "file is not executable",
    "TIMEOUT": "timed out",
    "SHUTTING_DOWN": "shutting down",
    "BAD_SIGNAL": "bad signal name",
}
# docker compose's palette order: cyan, yellow, green, magenta, blue, then bright variants.
_COLOURS = (36, 33, 32, 35, 34, 96, 93, 92, 95, 94)
MAIN_LOG_NAME = "supgrpcd"


class ByteSink(Protocol):
    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


class Printer:
    """Text or JSON on stdout; errors (always one line of text) on stderr."""

    def __init__(self, mode: str, out: TextIO, err: TextIO) -> None:
        self.json_mode = mode == "json"
        self.out = out
        self.err = err

    @property
    def binary(self) -> ByteSink:
        self.out.flush()
        buffer: ByteSink | None = getattr(self.out, "buffer", None)
        return buffer if buffer is not None else _TextAsBinary(self.out)

    def text(self, line: str) -> None:
        if not self.json_mode:
            self.out.write(line + "\n")

    def json(self, obj: Any) -> None:
        if self.json_mode:
            self.out.write(json.dumps(obj, separators=(", ", ": ")) + "\n")
            self.out.flush()

    def error(self, message: str) -> None:
        self.err.write(f"supgrpc-cli: {message.splitlines()[0] if message else 'error'}\n")
        self.err.flush()

    def flush(self) -> None:
        self.out.flush()


class _TextAsBinary:
    """For tests that capture stdout as text: decode bytes on the way in."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def write(self, data: bytes) -> int:
        self._out.write(data.decode("utf-8", errors="replace"))
        return len(data)

    def flush(self) -> None:
        self._out.flush()


def status_lines(infos: list[ProcessInfo]) -> list[str]:
    """supervisorctl's layout: namespec padded to max(30, longest) + 3, state to 10, then the
    description; a program with a health check gets ``(healthy)`` etc. appended, like
    ``docker ps``, and one whose logs lost lines says so in brackets."""
    width = max([30, *(len(i.namespec) for i in infos)]) + 3
    lines = []
    for i in infos:
        health = f" ({i.health.lower()})" if i.health not in ("NONE", "UNSPECIFIED") else ""
        faults = _log_faults_note(i)
        line = f"{i.namespec:<{width}}{i.state:<10}{i.description}{health}{faults}"
        lines.append(line.rstrip())
    return lines


def _log_faults_note(info: ProcessInfo) -> str:
    notes = []
    for channel, faults in (("stdout", info.stdout_log), ("stderr", info.stderr_log)):
        note = _faults_text(f"{channel} log", faults)
        if note:
            notes.append(note)
    return f" [{'; '.join(notes)}]" if notes else ""


def main_log_line(faults: LogFaults) -> str | None:
    """The status table's last line when the daemon's own log lost lines, else None."""
    note = _faults_text("main log", faults)
    return f"{MAIN_LOG_NAME} [{note}]" if note else None


def _faults_text(what: str, faults: LogFaults) -> str:
    if not (faults.dropped_bytes or faults.write_errors):
        return ""
    note = f"{what}: {faults.dropped_lines} line(s) dropped"
    if faults.last_error:
        note += f", {faults.last_error}"
    return note


def result_line(result: ProcessResult, success: str) -> str:
    if result.ok:
        return f"{result.process}: {success}"
    why = RESULT_TEXT.get(result.code) or result.message or result.code.lower()
    return f"{result.process}: ERROR ({why})"


def result_dict(result: ProcessResult) -> dict[str, Any]:
    return to_dict(result)


def target_error(target: str, status: str, message: str) -> dict[str, Any]:
    """A target that could not be resolved, in the shape of a result (JSON output)."""
    return {"process": target, "name": "", "group": "", "code": status, "message": message}


def _clock(t: float | None) -> str:
    if t is None:
        return "-" * 19
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def event_line(event: Event) -> str:
    when = _clock(event.time)
    if event.kind == "process_state":
        line = f"{when} {event.namespec} {event.from_state} -> {event.to_state}"
        if event.pid:
            line += f" (pid {event.pid})"
        if event.reason:
            line += f": {event.reason}"
        return line
    if event.kind == "daemon_state":
        return f"{when} {MAIN_LOG_NAME} {event.daemon_state}" + (
            f": {event.reason}" if event.reason else ""
        )
    if event.kind in ("group_added", "group_removed"):
        return f"{when} group {event.group} {event.kind.split('_')[1]}"
    if event.kind == "program_health":
        return f"{when} {event.namespec} health {event.health}" + (
            f": {event.reason}" if event.reason else ""
        )
    if event.kind == "process_communication":
        text = event.data.decode("utf-8", errors="replace")
        return f"{when} {event.namespec} {event.stream} communication: {text!r}"
    if event.kind == "remote_communication":
        text = event.data.decode("utf-8", errors="replace")
        return f"{when} remote communication {event.comm_type}: {text!r}"
    if event.kind == "missed":
        return f"{when} (missed {event.missed} events: this reader fell behind)"
    return f"{when} {event.kind}"


class LinePrefixer:
    """Turns chunks of many streams into whole lines, each prefixed ``name | `` (docker
    compose style), coloured per process on a terminal; or JSON objects, one per line."""

    def __init__(self, printer: Printer, width: int, colour: bool, prefix: bool = True) -> None:
        self._printer = printer
        self._width = width
        self._colour = colour
        self._prefix = prefix
        self._partial: dict[tuple[str, str], bytes] = {}
        self._colours: dict[str, int] = {}

    def _label(self, process: str) -> bytes:
        if not self._prefix:
            return b""
        name = process or MAIN_LOG_NAME
        text = f"{name:<{self._width}} | "
        if self._colour:
            code = self._colours.setdefault(name, _COLOURS[len(self._colours) % len(_COLOURS)])
            text = f"\x1b[{code}m{name:<{self._width}} |\x1b[0m "
        return text.encode()

    def _emit(self, process: str, stream: str, line: bytes) -> None:
        if self._printer.json_mode:
            self._printer.json(
                {
                    "process": process,
                    "stream": stream,
                    "line": line.rstrip(b"\n").decode("utf-8", errors="replace"),
                }
            )
            return
        out = self._printer.binary
        out.write(self._label(process) + line + (b"" if line.endswith(b"\n") else b"\n"))

    def feed(self, chunk: LogChunk) -> None:
        key = (chunk.process, chunk.stream)
        if chunk.gap:
            self.flush_one(key)
            if self._printer.json_mode:
                self._printer.json(
                    {"process": chunk.process, "stream": chunk.stream, "gap": chunk.gap}
                )
            else:
                note = (
                    f"[... {chunk.gap} bytes skipped: they left memory before they could "
                    "be shown; they are in the log file ...]\n"
                )
                self._emit(chunk.process, chunk.stream, note.encode())
            return
        data = self._partial.pop(key, b"") + chunk.data
        lines = data.split(b"\n")
        for line in lines[:-1]:
            self._emit(chunk.process, chunk.stream, line + b"\n")
        if lines[-1]:
            self._partial[key] = lines[-1]
        self._printer.binary.flush()

    def flush_one(self, key: tuple[str, str]) -> None:
        rest = self._partial.pop(key, b"")
        if rest:
            self._emit(key[0], key[1], rest)

    def flush(self) -> None:
        for key in list(self._partial):
            self.flush_one(key)
        self._printer.binary.flush()
