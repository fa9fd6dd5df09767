"""The XML-RPC body parser on its own: supervisor's leniency, and our refusals."""

from __future__ import annotations

import datetime
import xmlrpc.client
from typing import Any

import pytest

from supervisor_grpc.frontends.xmlrpc.codec import (
    BadRequest,
    capped_int,
    dump_fault,
    dump_result,
    log_text,
    parse_call,
)
from supervisor_grpc.frontends.xmlrpc.faults import Faults, RpcFault
from supervisor_grpc.frontends.xmlrpc.rpc import Dispatcher
from supervisor_grpc.frontends.xmlrpc.structs import split_namespec
from supervisor_grpc.frontends.xmlrpc.supervisor_ns import SupervisorNamespace

pytestmark = pytest.mark.compat


def test_round_trip_of_every_type() -> None:
    params: tuple[Any, ...] = (
        1,
        True,
        False,
        "x",
        1.5,
        [1, ["a"]],
        {"k": {"n": []}},
        "é<&>",
        datetime.datetime(2020, 1, 2, 3, 4, 5),
    )
    body = xmlrpc.client.dumps(params, "supervisor.x").encode()
    name, parsed = parse_call(body)
    assert name == "supervisor.x" and parsed == params


def test_leniency_as_supervisor() -> None:
    body = (
        b"<methodCall><methodName> a.b </methodName><params>"
        b"<param><value>untyped</value></param><param><value></value></param>"
        b"<param><value><i8>7</i8></value></param><param><value><nil/></value></param>"
        b"<param><value><base64>aMOp</base64></value></param>"
        b"<param><value><boolean>true</boolean></value></param>"
        b"<param><value><weird>text</weird></value></param>"
        b"</params></methodCall>"
    )
    assert parse_call(body) == ("a.b", ("untyped", "", 7, None, "hé", False, "text"))
    assert parse_call(b"<methodCall><methodName>a.b</methodName></methodCall>") == ("a.b", ())


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<x/>",
        b"<methodCall/>",
        b"<methodCall><methodName/></methodCall>",
        b"<methodCall><methodName>a</methodName><params><param/></params></methodCall>",
        b"<methodCall><methodName>a</methodName><params><param><value><double>x</double>"
        b"</value></param></params></methodCall>",
        b"<methodCall><methodName>a</methodName><params><param><value><base64>%%%</base64>"
        b"</value></param></params></methodCall>",
        b'<!DOCTYPE m [<!ENTITY e "x">]><methodCall><methodName>&e;</methodName></methodCall>',
    ],
)
def test_refused(body: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_call(body)


def test_outputs() -> None:
    assert xmlrpc.client.loads(dump_result({"a": [1, "b"]}))[0] == ({"a": [1, "b"]},)
    with pytest.raises(xmlrpc.client.Fault) as info:
        xmlrpc.client.loads(dump_fault(RpcFault(Faults.BAD_NAME, "x")))
    assert (info.value.faultCode, info.value.faultString) == (10, "BAD_NAME: x")
    assert capped_int(2**40) == 2**31 - 1 and capped_int(-(2**40)) == -(2**31)
    assert log_text(b"a\x1b[0m\xffb") == "a\ufffd[0m\ufffdb"  # XML 1.0 cannot carry ESC
    assert xmlrpc.client.loads(dump_result(log_text(b"\x00\x1b")))[0] == ("\ufffd\ufffd",)


def test_split_namespec() -> None:
    assert split_namespec("a") == ("a", "a")
    assert split_namespec("g:p") == ("g", "p")
    assert split_namespec("g:*") == ("g", None)
    assert split_namespec("g:") == ("g", None)
    assert split_namespec("g:p:q") == ("g", "p:q")


def test_table_help_agrees_with_signatures() -> None:
    table = Dispatcher(SupervisorNamespace(None)).table  # type: ignore[arg-type]  # never called
    for name, method in table.items():
        tags = [line.split()[:2] for line in method.help.splitlines() if line.startswith("@")]
        assert [t for kind, t in tags if kind == "@return"] + [
            t for kind, t in tags if kind == "@param"
        ] == method.signature, name
        assert not name.split(".")[1].startswith("_")
