"""The one place where errors become gRPC status codes, and the bearer-token check.

Owns: ``STATUS_TABLE`` (domain error -> status code), ``Abort`` (a status the servicer chooses
itself, e.g. RESOURCE_EXHAUSTED), the error interceptor (unary and streaming handlers of
``supgrpc.v1.SupervisorService``), and the token interceptor (every method, health and
reflection included).
May import: errors, grpc, stdlib.
Threading: the front-end's asyncio loop (grpc.aio); the interceptors hold no mutable state.

An uncaught exception never reaches gRPC (which would report UNKNOWN): it is logged with its
traceback and reported as INTERNAL with a one-line message.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from ... import errors

log = logging.getLogger(__name__)

SERVICE_PREFIX = "/supgrpc.v1.SupervisorService/"
# Trailing metadata key carrying supervisor's fault name (BAD_NAME, NOT_RUNNING...).
ERROR_METADATA_KEY = "supgrpc-error"

# Checked in order with isinstance: subclasses come before their bases.
STATUS_TABLE: tuple[tuple[type[errors.SupervisorError], grpc.StatusCode], ...] = (
    (errors.NoSuchProcess, grpc.StatusCode.NOT_FOUND),  # and NoSuchGroup
    (errors.NoFile, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyStarted, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.NotRunning, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ShuttingDown, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.StillRunning, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.AlreadyAdded, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.CantReread, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ConfigError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.NotExecutable, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.BadSignal, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.BadArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.Timeout, grpc.StatusCode.DEADLINE_EXCEEDED),
    (errors.SpawnError, grpc.StatusCode.ABORTED),
    (errors.AbnormalTermination, grpc.StatusCode.ABORTED),
    (errors.NotSupported, grpc.StatusCode.UNIMPLEMENTED),
)


class Abort(Exception):
    """A status chosen by the servicer itself (not a domain error), e.g. no free slot."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str, str | None]:
    """(status code, message, supervisor fault name or None) for any exception."""
    if isinstance(exc, Abort):
        return exc.code, exc.message, None
    if isinstance(exc, errors.SupervisorError):
        for kind, code in STATUS_TABLE:
            if isinstance(exc, kind):
                return code, _message(exc), exc.code
        return grpc.StatusCode.INTERNAL, _message(exc), exc.code
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}", None


def _message(exc: errors.SupervisorError) -> str:
    text = str(exc)
    return f"{exc.code}: {text}" if text and text != exc.code else exc.code


async def _abort(context: Any, exc: Exception) -> None:
    code, message, fault = status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        log.error("gRPC handler failed: %s", message, exc_info=exc)
    if fault is not None:
        context.set_trailing_metadata(((ERROR_METADATA_KEY, fault),))
    await context.abort(code, message)  # raises AbortError


def _wrap_unary(behavior: Callable[[Any, Any], Awaitable[Any]]) -> Callable[[Any, Any], Any]:
    async def unary(request: Any, context: Any) -> Any:
        try:
            return await behavior(request, context)
        except grpc.aio.AbortError:
            raise  # context.abort() already recorded the status
        except Exception as exc:
            await _abort(context, exc)
            raise  # not reached: abort raised

    return unary


def _wrap_stream(behavior: Callable[[Any, Any], AsyncIterator[Any]]) -> Callable[[Any, Any], Any]:
    async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
        try:
            async for item in behavior(request, context):
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc)
            raise

    return stream


class ErrorInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Wraps every SupervisorService handler so errors leave through ``STATUS_TABLE``."""

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], details: Any
    ) -> Any:
        handler = await continuation(details)
        if handler is None or not details.method.startswith(SERVICE_PREFIX):
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # the service has no client-streaming RPCs


def _deny(message: str) -> Callable[[Any, Any], Any]:
    async def deny(request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return deny


class TokenInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Requires ``authorization: Bearer <token>`` on every call, compared in constant time.

    The verdict comes from the headers alone; a denied call holds nothing (no thread) while
    grpc waits for a request message that may never come.
    """

    def __init__(self, token: str) -> None:
        self._expected = token.encode()

    def _verdict(self, metadata: Any) -> str | None:
        for key, value in metadata or ():
            if key != "authorization":
                continue
            text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            scheme, _, given = text.strip().partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(
                given.strip().encode(), self._expected
            ):
                return None
            return "invalid bearer token"
        return "missing bearer token (metadata 'authorization: Bearer <token>')"

    async def intercept_service(
        self, continuation: Callable[[Any], Awaitable[Any]], details: Any
    ) -> Any:
        problem = self._verdict(details.invocation_metadata)
        handler = await continuation(details)
        if problem is None or handler is None:
            return handler
        deny = _deny(problem)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                deny,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                deny,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                deny,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            deny,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
