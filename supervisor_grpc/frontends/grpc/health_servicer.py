"""grpc.health.v1 ``Health`` on grpc.aio whose Watch streams end once the server is shutting
down, instead of waiting for the server stop to cut them.

Owns: the status of each service name, Check, Watch, and the graceful-shutdown switch.
May import: grpc, grpc_health's generated code, stdlib.
Threading: the front-end's asyncio loop only (every method is a coroutine there).

Why not grpc_health's own asyncio servicer: its Watch never returns, so after
``enter_graceful_shutdown`` each watcher (every client channel with client-side health
checking holds one) sits until ``server.stop(grace)`` gives up on it: every exit of the init
waited the whole grace, and the client saw UNAVAILABLE. Here a watcher sends NOT_SERVING and
ends with OK, like a follower stream. Otherwise the same contract: Check answers NOT_FOUND for
an unknown service, Watch sends the current status and then each change (SERVICE_UNKNOWN for a
service not known yet), and after the switch every status is NOT_SERVING and ``set`` is
ignored.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

_Status = Any  # health_pb2.HealthCheckResponse.ServingStatus
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


class HealthServicer(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self._status: dict[str, _Status] = {"": SERVING}
        self._version = 0  # bumped on every change, so a watcher never misses one
        self._changed = asyncio.Condition()
        self._shutting_down = False

    async def Check(self, request: health_pb2.HealthCheckRequest, context: Any) -> Any:
        status = self._status.get(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(self, request: health_pb2.HealthCheckRequest, context: Any) -> None:
        sent = None
        while True:
            version = self._version
            status = self._status.get(request.service, SERVICE_UNKNOWN)
            if status != sent:
                await context.write(health_pb2.HealthCheckResponse(status=status))
                sent = status
            if self._shutting_down and version == self._version:
                return  # NOT_SERVING was the last word: end with OK
            async with self._changed:
                while self._version == version:
                    await self._changed.wait()

    async def set(self, service: str, status: _Status) -> None:
        if self._shutting_down:
            return
        await self._bump(lambda: self._status.__setitem__(service, status))

    async def enter_graceful_shutdown(self) -> None:
        """Every status NOT_SERVING for good; watchers send it and end."""
        if self._shutting_down:
            return
        self._shutting_down = True

        def all_not_serving() -> None:
            for service in self._status:
                self._status[service] = NOT_SERVING

        await self._bump(all_not_serving)

    async def _bump(self, change: Any) -> None:
        async with self._changed:
            change()
            self._version += 1
            self._changed.notify_all()
