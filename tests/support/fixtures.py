"""pytest fixtures that several test directories use (registered by tests/conftest.py).

Owns: ``daemon`` (a factory of supgrpcd daemons under ``tmp_path``, each checked at teardown).
May import: pytest, ``tests.support``. Threading: pytest's (the test thread).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemon import Daemon


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Factory: ``daemon(config_body, args=..., env=..., start=True, **kw) -> Daemon``.

    Each daemon gets its own directory under ``tmp_path`` (``d0``, ``d1``...). Daemons still
    running at teardown are stopped with SIGTERM and must exit 0.
    """
    made: list[Daemon] = []
    counter = itertools.count()

    def make(config: str = "", *, start: bool = True, **kw: Any) -> Daemon:
        d = Daemon(tmp_path / f"d{next(counter)}", config, **kw)
        made.append(d)
        if start:
            d.start()
        return d

    yield make
    failures = []
    for d in made:
        if d.proc is None:
            continue
        if d.running:
            try:
                code = d.stop()
            except AssertionError as exc:
                failures.append(str(exc))
                continue
            if code != 0:
                failures.append(f"supgrpcd exited {code} on SIGTERM\n{d.diagnostics()}")
    if failures:
        pytest.fail("\n\n".join(failures))
