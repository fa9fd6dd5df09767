"""Transport and security of the gRPC listeners: bearer token, TLS, mutual TLS, refusals,
unix socket hygiene and the default socket path."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from supgrpc.v1 import supervisor_pb2 as pb
from supgrpc_client import Client, TlsOptions, Unauthenticated, Unavailable
from supgrpc_client.address import default_socket_path as client_default

from supervisor_grpc.frontends.grpc.listeners import default_socket_path as server_default
from tests.support import SUPGRPCD, Daemon, free_port, grpc_daemon, short_tmpdir, wait_until
from tests.support.certs import make_certs
from tests.support.grpc_clients import RPC_ERRORS, TOKEN, auth

pytestmark = pytest.mark.integration

ONE = "[program:one]\ncommand = /bin/sleep 1000\nstartsecs = 0\n"


@pytest.fixture(scope="module")
def certs() -> Iterator[dict[str, Path]]:
    directory = Path(short_tmpdir())
    yield make_certs(directory)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def token_daemon() -> Iterator[Daemon]:
    workdir = short_tmpdir()
    d = grpc_daemon(workdir, ONE)
    d.grpc_section = f"listen = unix://{d.grpc_sock} 127.0.0.1:{d.port}\ntoken = {TOKEN}\n"
    d.write_config()
    d.start()
    yield d
    d.close()


@pytest.mark.parametrize("transport", ["unix", "tcp"])
@pytest.mark.parametrize(
    "metadata",
    [(), auth("wrong"), (("authorization", TOKEN),)],
    ids=["missing", "wrong", "no-scheme"],
)
def test_missing_or_wrong_token_is_unauthenticated(
    token_daemon: Daemon, transport: str, metadata: tuple[tuple[str, str], ...]
) -> None:
    d = token_daemon
    address = d.unix_address if transport == "unix" else d.tcp_address
    stub = d.stub(address)
    with pytest.raises(grpc.RpcError) as unary:
        stub.GetState(pb.GetStateRequest(), metadata=metadata, timeout=5)
    assert unary.value.code() is grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as streaming:
        next(stub.WatchEvents(pb.WatchEventsRequest(), metadata=metadata, timeout=5))
    assert streaming.value.code() is grpc.StatusCode.UNAUTHENTICATED
    health = health_pb2_grpc.HealthStub(d.channel(address))
    with pytest.raises(grpc.RpcError) as checked:
        health.Check(health_pb2.HealthCheckRequest(), metadata=metadata, timeout=5)
    assert checked.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert stub.GetState(pb.GetStateRequest(), metadata=auth(), timeout=5).pid > 0


def test_client_library_raises_unauthenticated(token_daemon: Daemon) -> None:
    with Client(token_daemon.tcp_address, token="nope") as client, pytest.raises(Unauthenticated):
        client.get_state()
    with Client(token_daemon.tcp_address, token=TOKEN) as client:
        assert client.get_state().state == "RUNNING"


def test_tls_with_token(certs: dict[str, Path]) -> None:
    workdir = short_tmpdir()
    d = grpc_daemon(workdir, ONE)
    d.grpc_section = (
        f"listen = 127.0.0.1:{d.port} unix://{d.grpc_sock}\ntoken = {TOKEN}\n"
        f"tls_cert = {certs['server.pem']}\ntls_key = {certs['server.key']}\n"
    )
    d.write_config()
    d.start()
    try:
        tls = TlsOptions(ca=str(certs["ca.pem"]))
        with Client(d.tcp_address, token=TOKEN, tls=tls) as client:
            assert client.get_state().state == "RUNNING"
        with Client(d.tcp_address, token=TOKEN, timeout=3) as plain, pytest.raises(Unavailable):
            plain.get_state()
        wrong_ca = TlsOptions(ca=str(certs["other.pem"]))
        with (
            Client(d.tcp_address, token=TOKEN, tls=wrong_ca, timeout=3) as client,
            pytest.raises(Unavailable),
        ):
            client.get_state()
        # The unix socket stays plaintext (file permissions protect it), token still required.
        with Client(d.unix_address, token=TOKEN) as client:
            assert client.get_state().pid > 0
    finally:
        d.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_mutual_tls_without_token(certs: dict[str, Path]) -> None:
    workdir = short_tmpdir()
    d = grpc_daemon(workdir, ONE)
    d.grpc_section = (
        f"listen = 0.0.0.0:{d.port}\n"
        f"tls_cert = {certs['server.pem']}\ntls_key = {certs['server.key']}\n"
        f"tls_client_ca = {certs['ca.pem']}\n"
    )
    d.write_config()
    d.start(wait="tcp")
    try:
        mutual = TlsOptions(
            ca=str(certs["ca.pem"]), cert=str(certs["client.pem"]), key=str(certs["client.key"])
        )
        with Client(d.tcp_address, tls=mutual) as client:
            assert client.get_state().state == "RUNNING"
        one_way = TlsOptions(ca=str(certs["ca.pem"]))
        with Client(d.tcp_address, tls=one_way, timeout=3) as client, pytest.raises(Unavailable):
            client.get_state()
    finally:
        d.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _refused(grpc_section: str, *, programs: str = ONE) -> str:
    """Start a daemon expected to exit 2 at once; return its one-line error."""
    workdir = short_tmpdir()
    try:
        d = grpc_daemon(workdir, programs, grpc_section=grpc_section)
        result = subprocess.run(
            [SUPGRPCD, "-c", str(d.config_path)], capture_output=True, text=True, timeout=20
        )
        assert result.returncode == 2, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.startswith("supgrpcd:")]
        assert len(lines) == 1, result.stderr
        return lines[0]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_refuses_non_loopback_tcp_without_token_or_mtls() -> None:
    message = _refused(f"listen = 0.0.0.0:{free_port()}\n")
    assert "[grpc] listen" in message and "refusing" in message and "mutual TLS" in message


def test_refuses_loopback_tcp_without_token() -> None:
    message = _refused(f"listen = 127.0.0.1:{free_port()}\n")
    assert "[grpc] listen" in message and "token" in message


def test_tcp_port_in_use_is_a_config_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        message = _refused(f"listen = 127.0.0.1:{port}\ntoken = x\n")
    assert "[grpc] listen" in message and "in use" in message


def test_unix_socket_in_use_is_a_config_error() -> None:
    directory = short_tmpdir()
    path = f"{directory}/live.sock"
    try:
        with socket.socket(socket.AF_UNIX) as live:
            live.bind(path)
            live.listen()
            message = _refused(f"listen = unix://{path}\n")
        assert "[grpc] listen" in message and "another process" in message
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_regular_file_at_socket_path_is_a_config_error() -> None:
    directory = short_tmpdir()
    try:
        Path(f"{directory}/file.sock").write_text("not a socket")
        message = _refused(f"listen = unix://{directory}/file.sock\n")
        assert "[grpc] listen" in message and "not a socket" in message
        assert Path(f"{directory}/file.sock").read_text() == "not a socket"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_stale_socket_is_replaced_and_mode_applied() -> None:
    workdir = short_tmpdir()
    d = grpc_daemon(workdir, ONE)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(d.grpc_sock)  # bound, never listening, then closed: a dead daemon's leftover
    stale.close()
    d.grpc_section = f"listen = unix://{d.grpc_sock}\nchmod = 0660\n"
    d.write_config()
    d.start()
    try:
        assert stat.S_IMODE(os.stat(d.grpc_sock).st_mode) == 0o660
        with Client(d.unix_address) as client:
            assert client.get_state().state == "RUNNING"
    finally:
        d.stop()
        assert not os.path.exists(d.grpc_sock), "the socket file should be removed at exit"
        shutil.rmtree(workdir, ignore_errors=True)


def test_default_mode_is_0700(token_daemon: Daemon) -> None:
    assert stat.S_IMODE(os.stat(token_daemon.grpc_sock).st_mode) == 0o700


def test_default_socket_path_rule_matches_on_both_sides(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    cases = [
        (0, {}, str(run)),
        (0, {"XDG_RUNTIME_DIR": str(xdg)}, str(tmp_path / "missing")),
        (1000, {"XDG_RUNTIME_DIR": str(xdg)}, str(run)),
        (1000, {"XDG_RUNTIME_DIR": "relative/dir"}, str(run)),
        (1000, {}, str(run)),
    ]
    expected = [
        f"{run}/supgrpc.sock",
        f"{xdg}/supgrpc.sock",
        f"{xdg}/supgrpc.sock",
        "/tmp/supgrpc-1000.sock",
        "/tmp/supgrpc-1000.sock",
    ]
    for (uid, env, run_dir), want in zip(cases, expected, strict=True):
        assert server_default(uid, env, run_dir) == want
        assert client_default(uid, env, run_dir) == want


def test_token_over_plaintext_on_a_non_loopback_address_is_warned_about(
    certs: dict[str, Path],
) -> None:
    """Issue 11, item 13: the bearer token would cross the network in clear text."""
    workdir = short_tmpdir()
    port = free_port()
    d = grpc_daemon(
        workdir,
        ONE,
        grpc_section=f"listen = unix://{workdir}/g.sock, 0.0.0.0:{port}\ntoken = {TOKEN}\n",
    )
    d.start()
    try:
        warned = wait_until(
            lambda: [x for x in d.log().splitlines() if "INSECURE" in x],
            what="the plaintext-token warning",
            retry_on=RPC_ERRORS,
        )
        assert len(warned) == 1
        assert f"0.0.0.0:{port}" in warned[0] and "tls_cert" in warned[0]
        assert "WARN" in warned[0]
    finally:
        d.close()
    # With TLS, or on loopback only, there is nothing to warn about.
    for section in (
        f"listen = 0.0.0.0:{port}\ntoken = {TOKEN}\n"
        f"tls_cert = {certs['server.pem']}\ntls_key = {certs['server.key']}\n",
        f"listen = 127.0.0.1:{port}\ntoken = {TOKEN}\n",
    ):
        workdir = short_tmpdir()
        d = grpc_daemon(workdir, ONE, grpc_section=f"listen = unix://{workdir}/g.sock\n")
        d.grpc_section = section.replace("listen = ", f"listen = unix://{d.grpc_sock}, ", 1)
        d.write_config()
        d.start()
        try:
            wait_until(
                lambda d=d: "gRPC listening" in d.log(), what="listening", retry_on=RPC_ERRORS
            )
            assert "INSECURE" not in d.log()
        finally:
            d.close()
