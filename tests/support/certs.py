"""Throwaway TLS material for the gRPC security tests, made with the openssl CLI (the
cryptography package is not installed).

Owns: ``make_certs``. May import: the standard library, pytest (to skip without openssl).
Threading: the calling thread.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")  # fast to generate


def _ca(directory: Path, name: str, subject: str) -> None:
    """A self-signed CA: ``name.key`` and ``name.pem``."""
    _openssl(
        *("req", "-x509", *EC, "-nodes", "-days", "2", "-subj", subject),
        *("-keyout", f"{name}.key", "-out", f"{name}.pem"),
        cwd=directory,
    )


def make_certs(directory: Path) -> dict[str, Path]:
    """A throwaway CA, a server cert for 127.0.0.1/localhost, and a client cert."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = directory
    _ca(d, "ca", "/CN=supgrpc test CA")
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for who in ("server", "client"):
        _openssl(
            *("req", *EC, "-nodes", "-subj", f"/CN={who}"),
            *("-keyout", f"{who}.key", "-out", f"{who}.csr"),
            cwd=d,
        )
        _openssl(
            *("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca.key"),
            *("-CAcreateserial", "-days", "2", "-extfile", f"{who}.ext", "-out", f"{who}.pem"),
            cwd=d,
        )
    # A second, unrelated CA: a client trusting it must fail the handshake.
    _ca(d, "other", "/CN=other CA")
    return {
        name: d / f"{name}"
        for name in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key", "other.pem")
    }
