"""What the test suite (and bench/) shares, in one place: nothing here is a copy of another.

- ``wait``: ``wait_until``, the one poll with a deadline (tests never sleep a fixed time).
- ``net``: ``free_port``.
- ``commands``: paths (repo, fixtures, venv executables) and ``command=`` builders.
- ``procfs``: what /proc says (state, children, zombies, signal masks); killing by pid.
- ``daemon``: ``Daemon``, the one launcher of supgrpcd / supervisord 4.3.0 with its config,
  sockets, logs and teardown. ``layouts``: each suite's way of using it (``grpc_daemon``,
  ``running``, ``xmlrpc_daemon``, ``command_line`` for ``supgrpcd -- CMD``).
- ``raw_http``: byte-level XML-RPC requests (slowloris, huge bodies) for tests and bench.
- ``grpc_clients`` / ``xmlrpc_clients``: the client sides mixed into ``Daemon`` (stubs,
  typed clients, supervisorctl, XML-RPC proxies) and their helpers.
- ``certs``: throwaway TLS material. ``inprocess``: the real core on a thread.
- ``fakes``: unit-test doubles (``FakeClock``, ``FakeRuntime``...), no I/O.
- ``fixtures``: pytest fixtures several directories use (registered by tests/conftest.py).

The most used names are re-exported here: ``from tests.support import Daemon, wait_until``.
Only ``fixtures`` and ``certs`` import pytest, so bench/ can import the rest.
"""

from tests.support.commands import (
    BIN,
    CLI,
    FIXTURES,
    PYTHON,
    REPO,
    SUPERVISORCTL,
    SUPERVISORD,
    SUPGRPCD,
    concat_rotated,
    conf_escape,
    fixture,
    fixture_command,
    numbered_lines,
    py,
    python,
    python_command,
    read_text,
    run,
    script,
    short_tmpdir,
    supervisord_argv,
    supgrpcd_argv,
)
from tests.support.daemon import Daemon, DaemonDied
from tests.support.layouts import command_line, grpc_daemon, grpc_options, running
from tests.support.net import free_port
from tests.support.procfs import (
    children_of,
    descendants_of,
    is_alive,
    kill_orphan,
    kill_quietly,
    kill_tree,
    parse_status,
    proc_stat,
    proc_state,
    proc_status,
    signal_set,
    zombies_of,
)
from tests.support.wait import wait_until

__all__ = [
    "BIN",
    "CLI",
    "FIXTURES",
    "PYTHON",
    "REPO",
    "SUPERVISORCTL",
    "SUPERVISORD",
    "SUPGRPCD",
    "Daemon",
    "DaemonDied",
    "children_of",
    "command_line",
    "concat_rotated",
    "conf_escape",
    "descendants_of",
    "fixture",
    "fixture_command",
    "free_port",
    "grpc_daemon",
    "grpc_options",
    "is_alive",
    "kill_orphan",
    "kill_quietly",
    "kill_tree",
    "numbered_lines",
    "parse_status",
    "proc_stat",
    "proc_state",
    "proc_status",
    "py",
    "python",
    "python_command",
    "read_text",
    "run",
    "running",
    "script",
    "short_tmpdir",
    "signal_set",
    "supervisord_argv",
    "supgrpcd_argv",
    "wait_until",
    "zombies_of",
]
