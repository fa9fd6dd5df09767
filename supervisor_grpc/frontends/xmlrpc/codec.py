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
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

from .faults import RpcFault

MAX_DEPTH = 64
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

# Characters XML 1.0 cannot carry even as references; log text goes out with U+FFFD instead.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class BadRequest(Exception):
    """The body is not an XML-RPC method call we can read."""


@dataclass
class _Node:
    tag: str
    children: list[_Node] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def content(self) -> str:
        return "".join(self.text)


def _tree(body: bytes) -> _Node:
    parser = expat.ParserCreate()
    root = _Node("")
    stack = [root]

    def start(tag: str, _attrs: dict[str, str]) -> None:
        if len(stack) > MAX_DEPTH * 3:
            raise BadRequest("nesting too deep")
        node = _Node(tag)
        stack[-1].children.append(node)
        stack.append(node)

    def end(_tag: str) -> None:
        stack.pop()

    def chars(data: str) -> None:
        stack[-1].text.append(data)

    def refuse_dtd(*_args: object) -> None:
        raise BadRequest("DTDs are not accepted")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise BadRequest(f"not well-formed XML: {exc}")
    if len(root.children) != 1:
        raise BadRequest("no document element")
    return root.children[0]


def _scalar(node: _Node) -> Any:
    tag, text = node.tag, node.content()
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


def _value(node: _Node, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise BadRequest("nesting too deep")
    if not node.children:
        return node.content()  # untyped <value>text</value> is a string
    typed = node.children[0]
    if typed.tag == "array":
        data = typed.children[0] if typed.children else _Node("data")
        return [_value(v, depth + 1) for v in data.children if v.tag == "value"]
    if typed.tag == "struct":
        out: dict[str, Any] = {}
        for member in typed.children:
            name = next((c for c in member.children if c.tag == "name"), None)
            value = next((c for c in member.children if c.tag == "value"), None)
            if name is None or value is None:
                raise BadRequest("struct member without name or value")
            out[name.content()] = _value(value, depth + 1)
        return out
    return _scalar(typed)


def parse_call(body: bytes) -> tuple[str, tuple[Any, ...]]:
    """``<methodCall>`` -> (method name, params). Raises BadRequest."""
    root = _tree(body)
    if root.tag != "methodCall":
        raise BadRequest(f"expected <methodCall>, got <{root.tag}>")
    name = next((c for c in root.children if c.tag == "methodName"), None)
    method = name.content().strip() if name is not None else ""
    if not method:
        raise BadRequest("no method name")
    params_node = next((c for c in root.children if c.tag == "params"), None)
    params: list[Any] = []
    if params_node is not None:
        for param in params_node.children:
            value = next((c for c in param.children if c.tag == "value"), None)
            if value is None:
                raise BadRequest("<param> without <value>")
            params.append(_value(value))
    return method, tuple(params)


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
