"""Network health probes (TCP connect, HTTP GET) for ``healthcheck_tcp``/``healthcheck_http``.

Owns: the socket and HTTP I/O of a probe and its one-line verdict.
May import: model, stdlib.
Threading: called on a worker thread (never the loop); each call blocks up to its timeout.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

from ..model import HealthKind, HealthSpec


def probe_tcp(target: str, timeout: float) -> tuple[bool, str]:
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True, f"connected to {target}"
    except OSError as exc:
        return False, f"tcp {target}: {exc.strerror or exc}"


def probe_http(url: str, timeout: float) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            code = response.status
    except urllib.error.HTTPError as exc:
        return False, f"http {url}: status {exc.code}"
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"http {url}: {reason}"
    return 200 <= code < 300, f"http {url}: status {code}"


def probe(spec: HealthSpec) -> tuple[bool, str]:
    """Run the probe ``spec`` describes (TCP or HTTP; commands are spawned by the core)."""
    if spec.kind is HealthKind.TCP:
        return probe_tcp(spec.target, spec.timeout)
    return probe_http(spec.target, spec.timeout)
