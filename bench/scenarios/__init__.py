"""The benchmark scenarios, in the order of issue 7's table. Each is ``fn(ctx) -> list[Row]``."""

from __future__ import annotations

from collections.abc import Callable

from harness import Context, Row

from . import hostile_grpc, hostile_xmlrpc, idle, lifecycle, logs, reap, rpc

ORDER = (
    "log_throughput",
    "log_throughput_rotating",
    "log_fanout",
    "idle_cpu",
    "spawn",
    "restart_rate",
    "rpc",
    "shutdown",
    "reap",
    "rss",
    "scale",
    "hostile_load",
    "slow_clients",
)

SCENARIOS: dict[str, Callable[[Context], list[Row]]] = {
    **logs.SCENARIOS,
    **idle.SCENARIOS,
    **lifecycle.SCENARIOS,
    **rpc.SCENARIOS,
    **reap.SCENARIOS,
    **hostile_grpc.SCENARIOS,
    **hostile_xmlrpc.SCENARIOS,
}
assert set(SCENARIOS) == set(ORDER)
