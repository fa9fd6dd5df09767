"""The ``supgrpc-cli`` commands: each takes (client, parsed args, printer), returns an exit
status.

Owns: what each command asks of the daemon and how its answer becomes output and an exit
status (0 ok; 1 a requested action failed; 3/4 like supervisorctl's ``status``).
May import: supgrpc_client (client, errors, output, types), stdlib.
Threading: the CLI's main thread.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from importlib import metadata

from .client import Client, Stream
from .errors import FailedPrecondition, NotFound, SupgrpcError
from .output import (
    STOPPED_STATES,
    LinePrefixer,
    Printer,
    event_line,
    main_log_line,
    result_dict,
    result_line,
    status_lines,
    target_error,
)
from .types import LogChunk, ProcessInfo, ProcessResult, to_dict

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NOT_RUNNING = 3  # LSB "program is not running" (supervisorctl status)
EXIT_NO_SUCH = 4  # LSB "program status unknown" (supervisorctl status, bad name)
# supervisorctl's tail shows the last 1600 bytes.
DEFAULT_TAIL_BYTES = 1600

Command = Callable[[Client, argparse.Namespace, Printer], int]


def _target(name: str) -> str:
    return "*" if name == "all" else name


# ---- status and pid -----------------------------------------------------------------------


def status(client: Client, args: argparse.Namespace, out: Printer) -> int:
    names = list(args.names)
    code = EXIT_OK
    errors = []
    if not names or "all" in names:
        infos = client.list_processes()
    else:
        infos, seen = [], set()
        for name in names:
            found = client.list_processes([name])
            if not found:
                what = "no such group" if name.endswith(":*") else "no such process"
                out.text(f"{name}: ERROR ({what})")
                errors.append({"name": name, "message": what})
                code = EXIT_NO_SUCH
            for info in found:
                if info.namespec not in seen:
                    seen.add(info.namespec)
                    infos.append(info)
    for line in status_lines(infos):
        out.text(line)
    # The daemon's own log too: lines it lost are otherwise only in its (stalled) log.
    main_log = client.get_state().main_log
    note = main_log_line(main_log)
    if note:
        out.text(note)
    out.json(
        {
            "processes": [to_dict(i) for i in infos],
            "errors": errors,
            "main_log": to_dict(main_log),
        }
    )
    if code == EXIT_OK and any(i.state in STOPPED_STATES for i in infos):
        code = EXIT_NOT_RUNNING
    return code


def pid(client: Client, args: argparse.Namespace, out: Printer) -> int:
    if not args.names:
        state = client.get_state()
        out.text(str(state.pid))
        out.json({"pid": state.pid})
        return EXIT_OK
    infos: list[ProcessInfo] = []
    code = EXIT_OK
    for name in args.names:
        if name in ("all", "*"):
            infos += client.list_processes()
            continue
        try:
            infos.append(client.get_process(name))
        except NotFound:
            out.text(f"No such process {name}")
            code = EXIT_FAILED
    for info in infos:
        out.text(
            str(info.pid)
            if len(args.names) == 1 and args.names[0] not in ("all", "*")
            else f"{info.namespec} {info.pid}"
        )
    out.json({"processes": [{"process": i.namespec, "pid": i.pid} for i in infos]})
    return code


# ---- actions ------------------------------------------------------------------------------


def _act(
    targets: Iterable[str], out: Printer, success: str, action: Callable[[str], list[ProcessResult]]
) -> int:
    code = EXIT_OK
    rows = []
    for name in targets:
        try:
            results = action(_target(name))
        except NotFound as exc:
            what = "no such group" if name.endswith(":*") else "no such process"
            out.text(f"{name}: ERROR ({what})")
            rows.append(target_error(name, exc.status, exc.message))
            code = EXIT_FAILED
            continue
        except FailedPrecondition as exc:
            out.text(f"{name}: ERROR ({exc.message})")
            rows.append(target_error(name, exc.status, exc.message))
            code = EXIT_FAILED
            continue
        for result in results:
            out.text(result_line(result, success))
            rows.append(result_dict(result))
            if not result.ok:
                code = EXIT_FAILED
    out.json({"results": rows})
    return code


def start(client: Client, args: argparse.Namespace, out: Printer) -> int:
    return _act(
        args.names,
        out,
        "started",
        lambda t: client.start(t, wait=not args.no_wait, timeout=args.timeout),
    )


def stop(client: Client, args: argparse.Namespace, out: Printer) -> int:
    return _act(
        args.names,
        out,
        "stopped",
        lambda t: client.stop(t, wait=not args.no_wait, timeout=args.timeout),
    )


def restart(client: Client, args: argparse.Namespace, out: Printer) -> int:
    return _act(
        args.names,
        out,
        "restarted",
        lambda t: client.restart(t, wait=not args.no_wait, timeout=args.timeout),
    )


def signal(client: Client, args: argparse.Namespace, out: Printer) -> int:
    sig = args.signal
    return _act(args.names, out, "signalled", lambda t: client.signal(t, sig))


def clear(client: Client, args: argparse.Namespace, out: Printer) -> int:
    return _act(args.names, out, "cleared", client.clear_log)


# ---- logs ---------------------------------------------------------------------------------


def _start_point(args: argparse.Namespace, default_bytes: int | None) -> dict[str, int]:
    if getattr(args, "lines", None) is not None:
        return {"tail_lines": args.lines}
    if getattr(args, "bytes", None) is not None:
        return {"tail_bytes": args.bytes}
    return {} if default_bytes is None else {"tail_bytes": default_bytes}


def _pump(
    stream: Stream[LogChunk], sink: Callable[[LogChunk], None], finish: Callable[[], None]
) -> int:
    try:
        for chunk in stream:
            sink(chunk)
    except KeyboardInterrupt:
        stream.cancel()
        finish()
        raise
    finish()
    return EXIT_OK


def tail(client: Client, args: argparse.Namespace, out: Printer) -> int:
    stream = client.tail_log(
        [args.name],
        streams=[args.channel],
        follow=args.follow,
        **_start_point(args, DEFAULT_TAIL_BYTES),
    )
    if out.json_mode:
        lines = LinePrefixer(out, 0, colour=False, prefix=False)
        return _pump(stream, lines.feed, lines.flush)
    return _pump(stream, lambda c: _raw_write(out, c), out.flush)


def maintail(client: Client, args: argparse.Namespace, out: Printer) -> int:
    stream = client.tail_log(
        [], streams=["main"], follow=args.follow, **_start_point(args, DEFAULT_TAIL_BYTES)
    )
    if out.json_mode:
        lines = LinePrefixer(out, 0, colour=False, prefix=False)
        return _pump(stream, lines.feed, lines.flush)
    return _pump(stream, lambda c: _raw_write(out, c), out.flush)


def _raw_write(out: Printer, chunk: LogChunk) -> None:
    if chunk.gap:
        out.error(f"[{chunk.gap} bytes skipped: they left memory; they are in the log file]")
        return
    sink = out.binary
    sink.write(chunk.data)
    sink.flush()


def logs(client: Client, args: argparse.Namespace, out: Printer) -> int:
    names = [_target(n) for n in args.names] or ["*"]
    infos = client.list_processes([n for n in names if n != "*"] if "*" not in names else [])
    width = max([len(i.namespec) for i in infos] or [8])
    colour = not args.no_color and not out.json_mode and out.out.isatty()
    lines = LinePrefixer(out, width, colour)
    stream = client.tail_log(
        names, streams=["stdout", "stderr"], follow=args.follow, **_start_point(args, None)
    )
    return _pump(stream, lines.feed, lines.flush)


# ---- events -------------------------------------------------------------------------------


def events(client: Client, args: argparse.Namespace, out: Printer) -> int:
    after = 0 if args.replay else args.since
    stream = client.watch_events(after_sequence=after, processes=args.names, kinds=args.kind or ())
    try:
        for event in stream:
            out.text(event_line(event))
            out.json(to_dict(event))
            out.flush()
    except KeyboardInterrupt:
        stream.cancel()
        raise
    return EXIT_OK


# ---- configuration and daemon --------------------------------------------------------------


def reread(client: Client, args: argparse.Namespace, out: Printer) -> int:
    changes = client.reread()
    out.json(to_dict(changes))
    if not (changes.added or changes.changed or changes.removed):
        out.text("No config updates to processes")
    for name in changes.added:
        out.text(f"{name}: available")
    for name in changes.changed:
        out.text(f"{name}: changed")
    for name in changes.removed:
        out.text(f"{name}: disappeared")
    return EXIT_OK


def update(client: Client, args: argparse.Namespace, out: Printer) -> int:
    groups = [g for g in args.groups if g != "all"]
    changes = client.update(groups, timeout=args.timeout)
    out.json(to_dict(changes))
    for name in changes.removed:
        out.text(f"{name}: stopped")
        out.text(f"{name}: removed process group")
    for name in changes.changed:
        out.text(f"{name}: stopped")
        out.text(f"{name}: updated process group")
    for name in changes.added:
        out.text(f"{name}: added process group")
    return EXIT_OK


def _groups(
    names: list[str], out: Printer, action: Callable[[str], None], done: str, busy: str
) -> int:
    code = EXIT_OK
    rows = []
    for name in names:
        try:
            action(name)
        except NotFound as exc:
            out.text(f"ERROR: no such process/group: {name}")
            rows.append({"group": name, "code": exc.status, "message": exc.message})
            code = EXIT_FAILED
        except FailedPrecondition as exc:
            shutting = exc.fault == "SHUTDOWN_STATE"
            out.text("ERROR: shutting down" if shutting else "ERROR: " + busy.format(name=name))
            rows.append({"group": name, "code": exc.status, "message": exc.message})
            code = EXIT_FAILED
        else:
            out.text(f"{name}: {done}")
            rows.append({"group": name, "code": "OK", "message": ""})
    out.json({"results": rows})
    return code


def add(client: Client, args: argparse.Namespace, out: Printer) -> int:
    return _groups(
        args.names, out, client.add_group, "added process group", "process group already active"
    )


def remove(client: Client, args: argparse.Namespace, out: Printer) -> int:
    return _groups(
        args.names,
        out,
        client.remove_group,
        "removed process group",
        "process/group still running: {name}",
    )


def shutdown(client: Client, args: argparse.Namespace, out: Printer) -> int:
    client.shutdown()
    out.text("Shut down")
    out.json({"shutdown": True})
    return EXIT_OK


def health(client: Client, args: argparse.Namespace, out: Printer) -> int:
    service = (
        args.service if args.service is not None else (f"program:{args.name}" if args.name else "")
    )
    try:
        state = client.health(service)
    except NotFound:
        state = "SERVICE_UNKNOWN"
    out.text(state)
    out.json({"service": service, "status": state})
    return EXIT_OK if state == "SERVING" else EXIT_FAILED


def version(client: Client, args: argparse.Namespace, out: Printer) -> int:
    server = client.get_state().version
    try:
        mine = metadata.version("supgrpc")
    except metadata.PackageNotFoundError:
        mine = "unknown"
    out.text(server)
    out.json({"server": server, "client": mine})
    return EXIT_OK


COMMANDS: dict[str, Command] = {
    "status": status,
    "pid": pid,
    "start": start,
    "stop": stop,
    "restart": restart,
    "signal": signal,
    "clear": clear,
    "tail": tail,
    "maintail": maintail,
    "logs": logs,
    "events": events,
    "reread": reread,
    "update": update,
    "add": add,
    "remove": remove,
    "shutdown": shutdown,
    "health": health,
    "version": version,
}

__all__ = ["COMMANDS", "EXIT_FAILED", "EXIT_OK", "SupgrpcError"]
