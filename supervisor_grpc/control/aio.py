"""``AsyncControl``: the control API as coroutines, for the grpc.aio front-end.

Owns: nothing but the binding of ``Control``'s plans to one asyncio loop's waits.
May import: control (the plans), control.waits, model, logstore, stdlib.
Threading: the asyncio loop's thread only. No call here holds a thread while it waits: the
loop thread answers a concurrent Future and a ``call_soon_threadsafe`` wakes the coroutine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ..logstore import LogChannel
from ..model import Channel, ConfigDiff, DaemonInfo, ProcessInfo
from . import ActionResult, Control, LogTarget
from .waits import AsyncWaits


class AsyncControl:
    """Same names and answers as ``Control``; each method awaits instead of blocking."""

    def __init__(self, control: Control, loop: asyncio.AbstractEventLoop) -> None:
        self.sync = control  # presentation helpers, the journal, the main log
        self._waits = AsyncWaits(loop, control.closing)

    async def daemon_info(self) -> DaemonInfo:
        return await self._waits.run(self.sync.plan_daemon_info())

    async def list_processes(self, patterns: Sequence[str] = ()) -> list[ProcessInfo]:
        return await self._waits.run(self.sync.plan_list_processes(patterns))

    async def process_info(self, name: str) -> ProcessInfo:
        return await self._waits.run(self.sync.plan_process_info(name))

    async def targets(self, target: str) -> list[ProcessInfo]:
        return await self._waits.run(self.sync.plan_targets(target))

    async def start(
        self, target: str, *, wait: bool = True, timeout: float | None = None
    ) -> list[ActionResult]:
        return await self._waits.run(self.sync.plan_start(target, wait=wait, timeout=timeout))

    async def stop(
        self, target: str, *, wait: bool = True, timeout: float | None = None
    ) -> list[ActionResult]:
        return await self._waits.run(self.sync.plan_stop(target, wait=wait, timeout=timeout))

    async def restart(
        self, target: str, *, wait: bool = True, timeout: float | None = None
    ) -> list[ActionResult]:
        return await self._waits.run(self.sync.plan_restart(target, wait=wait, timeout=timeout))

    async def signal(self, target: str, sig: str | int) -> list[ActionResult]:
        return await self._waits.run(self.sync.plan_signal(target, sig))

    async def send_stdin(self, name: str, data: bytes) -> None:
        await self._waits.run(self.sync.plan_send_stdin(name, data))

    async def log_channel(self, name: str | None, channel: Channel = Channel.STDOUT) -> LogChannel:
        return await self._waits.run(self.sync.plan_log_channel(name, channel))

    async def log_targets(
        self, patterns: Sequence[str], channels: Sequence[Channel], *, missing_ok: bool = False
    ) -> list[LogTarget]:
        plan = self.sync.plan_log_targets(patterns, channels, missing_ok=missing_ok)
        return await self._waits.run(plan)

    async def clear_log(self, name: str) -> None:
        await self._waits.run(self.sync.plan_clear_log(name))

    async def clear_all_logs(self) -> list[ActionResult]:
        return await self._waits.run(self.sync.plan_clear_all_logs())

    async def reopen_logs(self) -> None:
        await self._waits.run(self.sync.plan_reopen_logs())

    async def reread(self) -> ConfigDiff:
        return await self._waits.run(self.sync.plan_reread())

    async def update(
        self, groups: Sequence[str] = (), *, timeout: float | None = None
    ) -> ConfigDiff:
        return await self._waits.run(self.sync.plan_update(groups, timeout=timeout))

    async def add_group(self, name: str) -> None:
        await self._waits.run(self.sync.plan_add_group(name))

    async def remove_group(self, name: str) -> None:
        await self._waits.run(self.sync.plan_remove_group(name))

    async def shutdown(self) -> None:
        await self._waits.run(self.sync.plan_shutdown())
