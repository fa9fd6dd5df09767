"""``result_handler``: resolved at load as supervisord 4.3.0 resolves it, and run in place of
the default handler when a listener answers (accepted / RejectEvent / any other exception).

Handlers are real small modules written to ``tmp_path`` and imported from ``sys.path``, as a
config's handler is imported by the daemon.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from supervisor_grpc.config import load
from supervisor_grpc.core import eventtypes as et
from supervisor_grpc.core.listener_protocol import (
    BecameReady,
    ListenerProtocol,
    ListenerState,
    Processed,
    Rejected,
    Violated,
)
from supervisor_grpc.core.result_handlers import HandlerEvent, is_reject, judge_for
from supervisor_grpc.errors import ConfigError
from supervisor_grpc.model import ExitStatus, GroupKind, GroupSpec
from tests.support.fakes import UNKNOWN_MSG, envelopes, fds, listener, make, say, state

from .config_helpers import conf, oracle

L = ListenerState
RECORDER = """
seen = []

def handle(event, result):
    seen.append((event, result))

class Holder:
    @staticmethod
    def handle(event, result):
        seen.append(("holder", result))
"""
Modules = Callable[[str, str], ModuleType]


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Modules]:
    """``modules(name, source)``: a module on sys.path (forgotten again after the test)."""
    made: list[str] = []
    folder = tmp_path / "handlers"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))

    def make(name: str, source: str) -> ModuleType:
        (folder / f"{name}.py").write_text(source)
        made.append(name)
        __import__(name)
        return sys.modules[name]

    yield make
    for name in made:
        sys.modules.pop(name, None)


def listener_conf(tmp_path: Path, handler: str | None, extra: str = "") -> str:
    line = "" if handler is None else f"result_handler = {handler}\n"
    return conf(
        tmp_path,
        f"[eventlistener:e]\ncommand=/bin/cat\nevents=PROCESS_STATE\n{line}{extra}",
    )


def group(path: str) -> GroupSpec:
    groups = [g for g in load(path, environ={}).groups if g.kind is GroupKind.EVENTLISTENER]
    assert len(groups) == 1
    return groups[0]


def theirs(path: str) -> Any:
    """supervisord's resolved handler for [eventlistener:e], or its refusal (a str)."""
    opts = oracle(path, environ={})
    if isinstance(opts, str):
        return opts
    (pool,) = [g for g in opts.process_group_configs if g.name == "e"]
    return pool.result_handler


# ---- resolving at load ---------------------------------------------------------------------


def test_a_handler_on_the_path_is_imported_at_load_the_same_object_supervisord_gets(
    tmp_path: Path, modules: Modules
) -> None:
    recmod = modules("rh_rec", RECORDER)
    path = listener_conf(tmp_path, "rh_rec:handle")
    assert group(path).result_handler is recmod.handle
    assert theirs(path) is recmod.handle


def test_a_dotted_attribute_and_extras_resolve_as_an_entry_point_does(
    tmp_path: Path, modules: Modules
) -> None:
    recmod = modules("rh_rec", RECORDER)
    path = listener_conf(tmp_path, "rh_rec : Holder.handle [extra]")
    assert group(path).result_handler is recmod.Holder.handle
    assert theirs(path) is recmod.Holder.handle


@pytest.mark.parametrize("handler", [None, "supervisor.dispatchers:default_handler"])
def test_supervisors_default_handler_is_ours_and_needs_no_supervisor_package(
    tmp_path: Path, handler: str | None
) -> None:
    assert group(listener_conf(tmp_path, handler)).result_handler is None


def test_a_module_alone_resolves_to_the_module_with_a_warning_that_it_cannot_be_called(
    tmp_path: Path, modules: Modules
) -> None:
    recmod = modules("rh_rec", RECORDER)
    path = listener_conf(tmp_path, "rh_rec")
    spec = load(path, environ={})
    (pool,) = [g for g in spec.groups if g.kind is GroupKind.EVENTLISTENER]
    assert pool.result_handler is recmod
    assert theirs(path) is recmod  # supervisord accepts it too
    assert any("result_handler 'rh_rec' is not callable" in w for w in spec.warnings)


@pytest.mark.parametrize(
    ("handler", "why"),
    [
        ("rh_no_such_module:handle", "No module named 'rh_no_such_module'"),
        ("rh_rec:missing", "rh_rec has no attribute 'missing'"),
        ("rh_rec:Holder.missing", "rh_rec has no attribute 'Holder.missing'"),
        ("rh_rec:", "not a 'module:attribute' name"),
        ("rh-rec:handle", "not a 'module:attribute' name"),
        ("", "not a 'module:attribute' name"),
    ],
)
def test_a_handler_that_cannot_be_resolved_is_one_line_naming_file_section_key_like_supervisord(
    tmp_path: Path, modules: Modules, handler: str, why: str
) -> None:
    modules("rh_rec", RECORDER)
    path = listener_conf(tmp_path, handler)
    with pytest.raises(ConfigError) as caught:
        load(path, environ={})
    assert str(caught.value) == (
        f"{path} [eventlistener:e] result_handler: {handler!r} cannot be resolved ({why})"
    )
    assert f"{handler} cannot be resolved within [eventlistener:e]" in theirs(path)


def test_a_module_that_fails_at_import_is_a_config_error_not_a_traceback(
    tmp_path: Path, modules: Modules
) -> None:
    (tmp_path / "handlers" / "rh_boom.py").write_text("raise RuntimeError('no database')\n")
    path = listener_conf(tmp_path, "rh_boom:handle")
    with pytest.raises(ConfigError) as caught:
        load(path, environ={})
    assert "[eventlistener:e] result_handler: 'rh_boom:handle' cannot be resolved" in str(
        caught.value
    )
    assert "importing rh_boom raised RuntimeError: no database" in str(caught.value)
    assert "rh_boom" not in sys.modules


@pytest.mark.parametrize(
    ("extra", "key"),
    [("buffer_size = 0\n", "buffer_size"), ("", "result_handler")],
)
def test_checks_run_in_supervisords_order(tmp_path: Path, extra: str, key: str) -> None:
    """buffer_size, then result_handler, then events: the same fault is named first."""
    path = conf(
        tmp_path, f"[eventlistener:e]\ncommand=/bin/cat\nresult_handler = rh_nope:x\n{extra}"
    )
    with pytest.raises(ConfigError) as caught:
        load(path, environ={})
    assert caught.value.key == key
    refusal = theirs(path)
    assert ("buffer_size" in refusal) == (key == "buffer_size")


def test_a_reread_resolves_to_an_equal_group(tmp_path: Path, modules: Modules) -> None:
    modules("rh_rec", RECORDER)
    path = listener_conf(tmp_path, "rh_rec:handle")
    assert group(path) == group(path)


# ---- running it when a listener answers ---------------------------------------------------


def busy(judge: Any, event: object) -> ListenerProtocol:
    p = ListenerProtocol("l", judge)
    assert p.feed(b"READY\n") == [BecameReady()]
    p.sent(event)
    return p


def pending() -> et.PendingEvent:
    event = et.remote_communication("t", "body")
    event.serial, event.pool_serials = 7, {"pool": 3}
    return event


def test_the_handler_replaces_the_default_and_gets_bytes_and_the_event(
    modules: Modules,
) -> None:
    recmod = modules("rh_rec", RECORDER)
    event = pending()
    p = busy(judge_for(recmod.handle, "pool"), event)
    assert p.feed(b"RESULT 4\nFAILREADY\n") == [Processed(event), BecameReady()]
    assert p.state is L.READY
    ((seen, result),) = recmod.seen
    assert type(result) is bytes and result == b"FAIL"  # the default would have rejected
    assert isinstance(seen, HandlerEvent)
    assert (seen.name, seen.pool, seen.serial, seen.pool_serials) == (
        "REMOTE_COMMUNICATION",
        "pool",
        7,
        {"pool": 3},
    )
    assert seen.payload() == "type:t\nbody"
    seen.pool_serials["pool"] = 99  # a handler cannot disturb the serials of a rebuffer
    assert event.pool_serials == {"pool": 3}


REJECTING = """
from supervisor.dispatchers import RejectEvent

class Mine(RejectEvent):
    pass

class RejectEventLookalike(Exception):
    pass

def reject(event, result):
    raise RejectEvent(result)

def reject_sub(event, result):
    raise Mine(result)

def fail(event, result):
    raise ValueError("cannot parse " + result.decode())

def leave(event, result):
    raise SystemExit(3)

def str_fails(event, result):
    class Odd(Exception):
        def __str__(self):
            raise RuntimeError("no")
    raise Odd()
"""


@pytest.mark.parametrize("name", ["reject", "reject_sub"])
def test_reject_event_rejects_and_the_listener_stays_in_the_protocol(
    modules: Modules, name: str
) -> None:
    mod = modules("rh_rej", REJECTING)
    event = pending()
    p = busy(judge_for(getattr(mod, name), "pool"), event)
    assert p.feed(b"RESULT 2\nNO") == [Rejected(event, "l: event was rejected")]
    assert p.state is L.ACKNOWLEDGED
    assert p.feed(b"READY\n") == [BecameReady()]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("fail", "ValueError: cannot parse NO"),
        ("leave", "SystemExit: 3"),
        ("str_fails", "Odd"),
    ],
)
def test_any_other_exception_is_an_error_the_listener_goes_unknown_and_nothing_escapes(
    modules: Modules, name: str, why: str
) -> None:
    mod = modules("rh_rej", REJECTING)
    event = pending()
    p = busy(judge_for(getattr(mod, name), "pool"), event)
    qualified = f"rh_rej:{getattr(mod, name).__qualname__}"
    assert p.feed(b"RESULT 2\nNOREADY\n") == [
        Rejected(event, f"l: event caused an error (result_handler {qualified} raised {why})"),
        Violated(UNKNOWN_MSG),
    ]
    assert p.state is L.UNKNOWN and p.event is None
    assert p.feed(b"READY\n") == []  # no more events for this process


def test_a_reject_event_is_known_by_its_qualified_name_not_by_its_bare_name(
    modules: Modules,
) -> None:
    from supervisor.dispatchers import RejectEvent  # type: ignore[import-untyped]

    mod = modules("rh_rej", REJECTING)
    assert is_reject(RejectEvent(b"x")) and is_reject(mod.Mine(b"x"))
    assert not is_reject(mod.RejectEventLookalike())
    local = type("RejectEvent", (Exception,), {})  # supervisord would call this an error
    assert not is_reject(local())


def test_without_a_handler_the_default_semantics_hold() -> None:
    event = pending()
    p = busy(judge_for(None, "pool"), event)
    assert p.feed(b"RESULT 4\nFAIL") == [Rejected(event, "l: event was rejected")]
    p.feed(b"READY\n")
    p.sent(event)
    assert p.feed(b"RESULT 2\nOK") == [Processed(event)]


# ---- inside the core (fake runtime) --------------------------------------------------------

ONCE = """
seen = []

def handle(event, result):
    seen.append((event.serial, result))
    if result == b"boom" and len(seen) == 1:
        raise KeyError("first")
"""


def test_in_the_core_an_error_rebuffers_the_event_for_the_listeners_next_process(
    modules: Modules,
) -> None:
    mod = modules("rh_once", ONCE)
    spec = dataclasses.replace(listener("rc", ("REMOTE_COMMUNICATION",)), result_handler=mod.handle)
    core, rt = make(spec)
    core.autostart()
    say(rt, core, "rc", b"READY\n")
    core.send_remote_comm_event("t", "one")
    core.send_remote_comm_event("t", "two")
    core.service(rt.now)
    stdin, _ = fds(rt, core, "rc")
    assert envelopes(rt, stdin) == ["REMOTE_COMMUNICATION"]
    say(rt, core, "rc", b"RESULT 4\nboom")  # the handler raises: UNKNOWN, event kept
    say(rt, core, "rc", b"READY\n")
    assert envelopes(rt, stdin) == ["REMOTE_COMMUNICATION"]  # nothing more for it
    assert core.find("rc").machine.state.name == "RUNNING"  # the process itself runs on
    rt.exits.append((core.find("rc").machine.pid, ExitStatus(code=1)))
    core.service(rt.now)
    assert state(core, "rc").name in ("STARTING", "RUNNING")
    stdin2, _ = fds(rt, core, "rc")
    say(rt, core, "rc", b"READY\n")
    say(rt, core, "rc", b"RESULT 4\nboom")  # accepted this time
    say(rt, core, "rc", b"READY\n")
    sent = rt.written[stdin2].decode()
    assert sent.index("\ntype:t\none") < sent.index("\ntype:t\ntwo")  # same order, once each
    assert mod.seen == [(0, b"boom"), (0, b"boom")]  # the same event (serial) twice
