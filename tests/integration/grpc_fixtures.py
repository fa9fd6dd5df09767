"""Helpers for the gRPC and CLI integration tests: a real ``supgrpcd`` subprocess per config,
raw stubs and typed clients to it, polling with deadlines, throwaway certificates.

Not a conftest (another suite owns those): test modules import what they need from here.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from supgrpc.v1 import supervisor_pb2 as pb
from supgrpc.v1 import supervisor_pb2_grpc as pb_grpc
from supgrpc_client import Client

T = TypeVar("T")
BIN = Path(sys.executable).parent
SUPGRPCD = str(BIN / "supgrpcd")
CLI = str(BIN / "supgrpc-cli")
TOKEN = "test-token-5f2c"
# Fast reconnects: a channel created before the daemon listens must not sit in grpc's
# default 1 s reconnect backoff.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 200),
)


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str = "condition",
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (grpc.RpcError, OSError, AssertionError) as exc:
            last_exc = exc
            value = None
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last error: {last_exc!r})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def short_tmpdir() -> str:
    """Unix socket paths are limited to 107 bytes: pytest's tmp_path can be longer."""
    return tempfile.mkdtemp(prefix="sg-", dir="/tmp")


def py(code: str) -> str:
    """A ``command=`` running Python code (unbuffered); the code must not contain quotes."""
    code = textwrap.dedent(code).strip()
    assert "'" not in code
    return f"{sys.executable} -u -c '{code}'"


def script(directory: str, name: str, code: str) -> str:
    """Write a small Python fixture program; return the ``command=`` that runs it."""
    path = Path(directory) / f"{name}.py"
    path.write_text(textwrap.dedent(code).lstrip())
    return f"{sys.executable} -u {path}"


def no_zombies_of(pid: int) -> bool:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == pid:
            return False
    return True


class Daemon:
    """One ``supgrpcd -c <conf>`` subprocess with a generated config."""

    def __init__(
        self,
        workdir: str,
        programs: str,
        *,
        grpc_section: str | None = None,
        supervisord_extra: str = "",
    ) -> None:
        self.dir = Path(workdir)
        self.sock = str(self.dir / "g.sock")
        self.port = free_port()
        self.conf = self.dir / "supgrpc.conf"
        if grpc_section is None:
            grpc_section = f"listen = unix://{self.sock}\n"
        self.programs = textwrap.dedent(programs)
        self.grpc_section = grpc_section
        self.supervisord_extra = supervisord_extra
        self.write_config()
        self.proc: subprocess.Popen[bytes] | None = None
        self.output = self.dir / "daemon.out"

    def write_config(self, programs: str | None = None) -> None:
        if programs is not None:
            self.programs = textwrap.dedent(programs)
        self.conf.write_text(
            "[supervisord]\n"
            f"logfile = {self.dir}/supervisord.log\n"
            f"childlogdir = {self.dir}\n"
            f"pidfile = {self.dir}/supgrpcd.pid\n"
            "loglevel = debug\n"
            "silent = true\n"
            f"{self.supervisord_extra}\n"
            "[grpc]\n"
            f"{self.grpc_section}\n"
            f"{self.programs}\n"
        )

    @property
    def unix_address(self) -> str:
        return f"unix://{self.sock}"

    @property
    def tcp_address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, *, wait_for: str | None = "unix", extra_args: tuple[str, ...] = ()) -> None:
        with open(self.output, "wb") as out:
            self.proc = subprocess.Popen(
                [SUPGRPCD, "-c", str(self.conf), *extra_args],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait_for == "unix":
            wait_until(lambda: self._accepts_unix(), what=f"{self.sock} to accept")
        elif wait_for == "tcp":
            wait_until(lambda: self._accepts_tcp(), what=f"port {self.port} to accept")

    def _accepts_unix(self) -> bool:
        self._check_alive()
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(self.sock)
        return True

    def _accepts_tcp(self) -> bool:
        self._check_alive()
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"supgrpcd exited {self.proc.returncode}: {self.log()}")

    def log(self) -> str:
        try:
            return self.output.read_text(errors="replace")
        except OSError:
            return ""

    def main_log(self) -> str:
        try:
            return (self.dir / "supervisord.log").read_text(errors="replace")
        except OSError:
            return ""

    def wait_exit(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        assert no_zombies_of(os.getpid())
        return self.proc.returncode

    def close(self) -> None:
        """Stop, then remove the work directory (configs, logs, sockets)."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- clients --

    def channel(self, address: str | None = None, credentials: Any = None) -> Any:
        address = address or self.unix_address
        target = address.replace("unix://", "unix:")
        if credentials is not None:
            return grpc.secure_channel(target, credentials, options=CHANNEL_OPTIONS)
        return grpc.insecure_channel(target, options=CHANNEL_OPTIONS)

    def stub(self, address: str | None = None) -> pb_grpc.SupervisorServiceStub:
        return pb_grpc.SupervisorServiceStub(self.channel(address))

    def client(self, address: str | None = None, token: str | None = None, **kwargs: Any) -> Client:
        return Client(address or self.unix_address, token=token, **kwargs)


@contextmanager
def running(
    programs: str,
    *,
    grpc_section: str | None = None,
    wait_for: str | None = "unix",
    supervisord_extra: str = "",
) -> Iterator[Daemon]:
    workdir = short_tmpdir()
    daemon = Daemon(
        workdir, programs, grpc_section=grpc_section, supervisord_extra=supervisord_extra
    )
    try:
        daemon.start(wait_for=wait_for)
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def process_state(stub: Any, name: str, metadata: Any = ()) -> int:
    reply = stub.GetProcess(pb.GetProcessRequest(process=name), metadata=metadata, timeout=5)
    return int(reply.process.state)


def wait_state(stub: Any, name: str, state: int, metadata: Any = (), timeout: float = 10.0) -> None:
    wait_until(
        lambda: process_state(stub, name, metadata) == state,
        timeout,
        what=f"{name} to reach {pb.ProcessState.Name(pb.ProcessState.ValueType(state))}",
    )


def auth(token: str = TOKEN) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


class _Details(
    collections.namedtuple(
        "_Details",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,  # type: ignore[misc]
):
    pass


class _AddMetadata(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.StreamStreamClientInterceptor,
):  # type: ignore[misc]
    """For clients we do not build the calls of (reflection, health): add our metadata."""

    def __init__(self, metadata: Any) -> None:
        self._metadata = tuple(metadata)

    def _details(self, d: Any) -> _Details:
        return _Details(
            d.method,
            d.timeout,
            (*(d.metadata or ()), *self._metadata),
            d.credentials,
            getattr(d, "wait_for_ready", None),
            getattr(d, "compression", None),
        )

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)


def with_metadata(channel: Any, metadata: Any) -> Any:
    return grpc.intercept_channel(channel, _AddMetadata(metadata))


# ---- certificates (openssl CLI: the cryptography package is not installed) -----------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(directory: Path) -> dict[str, Path]:
    """A throwaway CA, a server cert for 127.0.0.1/localhost, and a client cert."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = directory
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")  # fast to generate
    _openssl(
        "req",
        "-x509",
        *ec,
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=supgrpc test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        cwd=d,
    )
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for who in ("server", "client"):
        _openssl(
            "req",
            *ec,
            "-nodes",
            "-subj",
            f"/CN={who}",
            "-keyout",
            f"{who}.key",
            "-out",
            f"{who}.csr",
            cwd=d,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{who}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            f"{who}.ext",
            "-out",
            f"{who}.pem",
            cwd=d,
        )
    # A second, unrelated CA: a client trusting it must fail the handshake.
    _openssl(
        "req",
        "-x509",
        *ec,
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=other CA",
        "-keyout",
        "other.key",
        "-out",
        "other.pem",
        cwd=d,
    )
    return {
        name: d / f"{name}"
        for name in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key", "other.pem")
    }
