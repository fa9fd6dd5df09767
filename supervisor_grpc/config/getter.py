"""Expanding and converting one section's values, turning every failure into ConfigError.

Owns: the rule that an error names file, section and key, and the unknown-key warnings.
May import: our reader/expand, supervisor_grpc.errors, stdlib.
Threading: plain objects, used during one load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from supervisor_grpc.config.expand import expand
from supervisor_grpc.config.reader import Section
from supervisor_grpc.errors import ConfigError

T = TypeVar("T")
Names = Mapping[str, "str | int"]


class Getter:
    """Reads one section with a base table of expansion names (``here`` is added per value,
    since a value's ``%(here)s`` is the directory of the file that wrote it)."""

    def __init__(self, section: Section, names: Names) -> None:
        self.section = section
        self.names = names

    def raw(self, key: str) -> str | None:
        value = self.section.lookup(key)
        return None if value is None else value.text

    def text(self, key: str, *, extra: Names | None = None, twice: bool = False) -> str | None:
        """The expanded value, or None when absent. ``twice``: supervisor expands some
        values a second time (logfiles, [supervisord] environment), so ``%%`` there must
        survive two rounds."""
        value = self.section.lookup(key)
        if value is None:
            return None
        names = {**self.names, **(extra or {}), "here": value.here}
        try:
            out = expand(value.text, names)
            return expand(out, names) if twice else out
        except ValueError as exc:
            raise self.error(str(exc), key)

    def get(
        self,
        key: str,
        convert: Callable[[str], T],
        default: T,
        *,
        extra: Names | None = None,
        twice: bool = False,
    ) -> T:
        text = self.text(key, extra=extra, twice=twice)
        if text is None:
            return default
        return self.convert(key, convert, text)

    def convert(self, key: str, convert: Callable[[str], T], text: str) -> T:
        try:
            return convert(text)
        except (ValueError, OSError, KeyError, OverflowError) as exc:
            raise self.error(str(exc), key)

    def error(self, message: str, key: str | None = None) -> ConfigError:
        return self.section.error(message, key)

    def unknown_keys(self, known: Iterable[str]) -> list[str]:
        """supervisor ignores keys it does not know; we keep going but say so."""
        known_set = set(known)
        return [
            f"{value.file}: [{self.section.name}] {key}: unknown option ignored"
            for key, value in self.section.values.items()
            if key not in known_set
        ]
