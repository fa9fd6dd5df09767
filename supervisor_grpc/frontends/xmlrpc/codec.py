"""XML-RPC request bodies in, response bodies out.

Owns: parsing ``<methodCall>`` as leniently as supervisor's own unmarshaller (an untyped
``<value>`` is a string, ``<params>`` may be missing, unknown scalar types read as their text)
and rendering results and faults.
May import: faults, stdlib.
Threading: pure functions.

Parsing runs expat directly with DTDs refused, so no entity can expand (no "billion laughs");
nesting depth is bounded. Any problem is a :class:`BadRequest` (HTTP 400), as in supervisor.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
import xmlrpc.client
from typing import Any
from xml.parsers import expat

from .faults import RpcFault

MAX_DEPTH = 64
_FEED = 64 << 10
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

# Characters XML 1.0 cannot carry even as references; log text goes out with U+FFFD instead.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class BadRequest(Exception):
    """The body is not an XML-RPC method call we can read."""


_MISSING: Any = object()
_SCALAR_FREE = frozenset({"array", "struct"})  # typed values whose own text is ignored


class _Frame:
    """One open element. ``role`` says what its end contributes to its parent."""

    __slots__ = ("children", "name", "out", "role", "tag", "text")

    def __init__(self, tag: str, role: str, keep_text: bool) -> None:
        self.tag = tag
        self.role = role
        self.children = 0
        self.text: list[str] | None = [] if keep_text else None
        self.out: Any = _MISSING  # value: typed result; items: list; struct: dict
        self.name: Any = _MISSING  # a struct member's name


class _Call:
    """Builds the call's values while expat reads, so memory is the values themselves (a
    tree of every element cost ~30x the body)."""

    def __init__(self) -> None:
        self.stack: list[_Frame] = []
        self.method: str | None = None
        self.params: list[Any] = []
        self.seen_params = False

    def start(self, tag: str, _attrs: dict[str, str]) -> None:
        stack = self.stack
        if not stack:
            if tag != "methodCall":
                raise BadRequest(f"expected <methodCall>, got <{tag}>")
            stack.append(_Frame(tag, "root", False))
            return
        if len(stack) > MAX_DEPTH * 3:
            raise BadRequest("nesting too deep")
        parent = stack[-1]
        index = parent.children
        parent.children += 1
        role = ""
        if parent.tag == "value":
            parent.text = None  # a typed value: its own text does not count
            role = "typed" if index == 0 else ""
        elif parent.role == "root":
            if tag == "methodName" and self.method is None:
                role = "method"
            elif tag == "params" and not self.seen_params:
                role, self.seen_params = "params", True
        elif parent.role == "params":
            role = "param"
        elif parent.tag == "array" and parent.role == "typed" and index == 0:
            role = "items"
        elif parent.tag == "struct" and parent.role == "typed":
            role = "member"
        keep = (
            tag in ("value", "name")
            or role == "method"
            or (role == "typed" and tag not in _SCALAR_FREE)
        )
        frame = _Frame(tag, role, keep)
        if role == "typed" and tag == "array":
            frame.out = []
        elif role == "typed" and tag == "struct":
            frame.out = {}
        elif role == "items":
            frame.out = parent.out  # the array's list: values land in it directly
        stack.append(frame)

    def chars(self, data: str) -> None:
        text = self.stack[-1].text if self.stack else None
        if text is not None:
            text.append(data)

    def end(self, _tag: str) -> None:
        frame = self.stack.pop()
        if not self.stack:
            return
        parent = self.stack[-1]
        if frame.tag == "value":
            value = frame.out if frame.children else "".join(frame.text or ())
            if parent.role == "items":
                parent.out.append(value)
            elif parent.role in ("member", "param") and parent.out is _MISSING:
                parent.out = value
        elif frame.tag == "name" and parent.role == "member" and parent.name is _MISSING:
            parent.name = "".join(frame.text or ())
        role = frame.role
        if role == "typed":
            parent.out = frame.out if frame.tag in _SCALAR_FREE else _scalar(frame)
        elif role == "member":
            if frame.name is _MISSING or frame.out is _MISSING:
                raise BadRequest("struct member without name or value")
            parent.out[frame.name] = frame.out
        elif role == "param":
            if frame.out is _MISSING:
                raise BadRequest("<param> without <value>")
            self.params.append(frame.out)
        elif role == "method":
            self.method = "".join(frame.text or ()).strip()


def _scalar(frame: _Frame) -> Any:
    tag, text = frame.tag, "".join(frame.text or ())
    try:
        if tag in ("int", "i4", "i8"):
            return int(text)
        if tag == "boolean":
            return text.strip() == "1"  # supervisor: only "1" is true
        if tag == "double":
            return float(text)
        if tag == "dateTime.iso8601":
            return datetime.datetime.strptime(text.strip(), "%Y%m%dT%H:%M:%S")
        if tag == "base64":
            packed = "".join(text.split()).encode("ascii")
            return base64.b64decode(packed, validate=True).decode("utf-8")
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise BadRequest(f"bad <{tag}> value: {exc}")
    if tag == "nil":
        return None
    return text  # string, and (like supervisor) any type we do not know


def parse_call(body: bytes) -> tuple[str, tuple[Any, ...]]:
    """``<methodCall>`` -> (method name, params). Raises BadRequest."""
    call = _Call()
    parser = expat.ParserCreate()

    def refuse_dtd(*_args: object) -> None:
        raise BadRequest("DTDs are not accepted")

    parser.StartElementHandler = call.start
    parser.EndElementHandler = call.end
    parser.CharacterDataHandler = call.chars
    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    try:
        with memoryview(body) as view:  # in slices: expat buffers what it is given
            for start in range(0, len(view), _FEED):
                parser.Parse(bytes(view[start : start + _FEED]), False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise BadRequest(f"not well-formed XML: {exc}")
    except RecursionError:  # pragma: no cover - depth is bounded above
        raise BadRequest("nesting too deep")
    if not call.method:
        raise BadRequest("no method name")
    return call.method, tuple(call.params)


def dump_result(value: Any) -> bytes:
    """A ``<methodResponse>`` carrying ``value`` (raises TypeError/OverflowError on values
    XML-RPC cannot carry: a bug on our side, answered with HTTP 500)."""
    body = xmlrpc.client.dumps((value,), methodresponse=True, encoding="utf-8")
    return body.encode("utf-8", "replace")


def dump_fault(fault: RpcFault) -> bytes:
    body = xmlrpc.client.dumps(xmlrpc.client.Fault(int(fault.code), fault.text), encoding="utf-8")
    return body.encode("utf-8", "replace")


def capped_int(value: float) -> int:
    """Clamp to XML-RPC's int32 (supervisor's ``capped_int``; timestamps past 2038)."""
    return max(INT32_MIN, min(INT32_MAX, int(value)))


def log_text(data: bytes) -> str:
    """Log bytes as an XML-safe string: bad UTF-8 and XML-invalid control characters become
    U+FFFD (supervisor answers HTTP 500 or unparseable XML there)."""
    text = data.decode("utf-8", "replace")
    return _XML_INVALID.sub("\ufffd", text) if _XML_INVALID.search(text) else text
