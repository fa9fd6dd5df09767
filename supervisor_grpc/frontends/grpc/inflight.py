"""``CallCounter``: how many RPCs a handler is running right now, so a stop can wait for
answers in flight and for nothing else.

Owns: the count of running handlers and the "none running" event.
May import: grpc, stdlib.
Threading: the front-end's asyncio loop only.

Why: ``grpc.aio`` ``server.stop(grace)`` waits the whole grace for a connection that holds no
call at all (connected and silent, or half-way through its HTTP/2 preface), so each such
client delayed every exit of the init by the full grace. The front-end waits (bounded) until
no handler runs, then stops the servers with a short linger for the last statuses.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc


class CallCounter(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self) -> None:
        self.running = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def idle(self, timeout: float) -> bool:
        """Wait until no handler runs (True), or ``timeout`` seconds (False)."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def _enter(self) -> None:
        self.running += 1
        self._idle.clear()

    def _leave(self) -> None:
        self.running -= 1
        if not self.running:
            self._idle.set()

    def _wrap(self, behavior: Any) -> Any:
        if inspect.isasyncgenfunction(behavior):

            async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
                self._enter()
                try:
                    async for item in behavior(request, context):
                        yield item
                finally:
                    self._leave()

            return stream
        if inspect.iscoroutinefunction(behavior):

            async def call(request: Any, context: Any) -> Any:
                self._enter()
                try:
                    return await behavior(request, context)
                finally:
                    self._leave()

            return call
        return behavior  # a synchronous handler (none of ours): runs to completion anyway

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], details: Any
    ) -> Any:
        handler = await continuation(details)
        if handler is None:
            return handler
        kinds = (
            (handler.unary_unary, grpc.unary_unary_rpc_method_handler),
            (handler.unary_stream, grpc.unary_stream_rpc_method_handler),
            (handler.stream_unary, grpc.stream_unary_rpc_method_handler),
            (handler.stream_stream, grpc.stream_stream_rpc_method_handler),
        )
        for behavior, make in kinds:
            if behavior is not None:
                return make(
                    self._wrap(behavior),
                    request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer,
                )
        return handler
