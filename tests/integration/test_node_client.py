"""The Node.js client (client/node) against a real supgrpcd: ``npm ci && npm test`` there, with
``SUPGRPCD`` naming this environment's daemon. The Node tests start their own daemons (unix
socket and TCP with a token), exercise unary calls, TailLog follow and cancellation,
WatchEvents, token auth, TLS and error codes, and stop everything they started.

Skipped (with the reason) only when ``node`` or ``npm`` is not installed. ``npm ci`` installs
from client/node/package-lock.json; it needs the npm registry or a warm npm cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "client" / "node"
SUPGRPCD = Path(sys.executable).parent / "supgrpcd"


def _missing_tools() -> list[str]:
    return [tool for tool in ("node", "npm") if shutil.which(tool) is None]


def _run(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=PACKAGE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.timeout(420)
def test_node_client() -> None:
    missing = _missing_tools()
    if missing:
        reason = f"{' and '.join(missing)} not installed: the Node.js client tests cannot run"
        print(reason)
        pytest.skip(reason)
    assert SUPGRPCD.exists(), f"{SUPGRPCD} not found (pip install -e . first)"
    env = dict(os.environ)
    env["SUPGRPCD"] = str(SUPGRPCD)
    env.setdefault("npm_config_update_notifier", "false")
    env.setdefault("npm_config_fund", "false")
    env.setdefault("npm_config_audit", "false")

    installed = _run(["npm", "ci", "--no-progress"], env, timeout=240)
    assert installed.returncode == 0, f"npm ci failed:\n{installed.stdout[-6000:]}"

    tested = _run(["npm", "test"], env, timeout=150)
    closing = ("# tests ", "# suites ", "# pass ", "# fail ", "# cancelled ", "# skipped ")
    summary = [line for line in tested.stdout.splitlines() if line.startswith(closing)]
    print("\n".join(summary))
    assert tested.returncode == 0, f"npm test failed:\n{tested.stdout[-12000:]}"
    assert "# fail 0" in tested.stdout, tested.stdout[-12000:]
    assert any(line.startswith("# pass ") and line != "# pass 0" for line in summary), summary
