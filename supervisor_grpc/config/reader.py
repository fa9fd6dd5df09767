"""Reading the main file and its ``[include]`` files into sections that remember their file.

Owns: INI syntax, ``[include]`` globbing, which file each value came from (which is what
``%(here)s`` means for that value, as supervisor's ``expand_here`` arranges), and supervisor's
merging rules: a section given twice (in one file or across included files) is one section,
a key given twice keeps the last value read. Each such repeat becomes one warning naming the
file, section and key, so a drop-in accepts what supervisord accepts without hiding it.
May import: supervisor_grpc.errors, our datatypes/expand, stdlib.
Threading: plain functions; reads files.
"""

from __future__ import annotations

import configparser
import glob
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from supervisor_grpc.config.expand import expand
from supervisor_grpc.errors import ConfigError


@dataclass(frozen=True)
class Value:
    text: str
    file: str

    @property
    def here(self) -> str:
        return os.path.dirname(self.file)


@dataclass
class Section:
    """One section after merging; ``values`` holds only keys written in the section."""

    name: str
    file: str
    values: dict[str, Value] = field(default_factory=dict)
    defaults: Mapping[str, Value] = field(default_factory=dict)

    def lookup(self, key: str) -> Value | None:
        """A key of the section, else of ``[DEFAULT]`` (configparser's inheritance)."""
        return self.values.get(key) or self.defaults.get(key)

    def error(self, message: str, key: str | None = None) -> ConfigError:
        value = self.values.get(key) if key else None
        return ConfigError(
            one_line(message), file=value.file if value else self.file, section=self.name, key=key
        )


@dataclass
class RawConfig:
    main_file: str
    sections: dict[str, Section]
    warnings: list[str]


def one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


class _Parser(configparser.RawConfigParser):
    """supervisor's parser settings (``strict=False``: a section given twice is merged, a key
    given twice keeps its last value), noting each repeat, which configparser itself drops,
    so that it can be reported instead of silently merged."""

    def __init__(self) -> None:
        self.repeats: list[tuple[str, str | None]] = []  # (section, key); None: the header
        self._current = ""
        self._headers: set[str] = set()
        notes = self

        class _Options(dict[str, Any]):
            # While a file is read, an option line stores a fresh list of lines; a second
            # one for a key already present is the repeat strict=False hides.
            def __setitem__(self, key: str, value: Any) -> None:
                if isinstance(value, list) and key in self:
                    notes.repeats.append((notes._current, key))
                super().__setitem__(key, value)

        # [DEFAULT] is read as an ordinary section so that each value keeps its own file.
        super().__init__(
            dict_type=_Options,
            inline_comment_prefixes=(";", "#"),
            strict=False,
            default_section="\0",
        )
        # SECTCRE is configparser's documented hook for section headers; matching through
        # it tells which section the following option lines belong to.
        self.SECTCRE = _HeaderSpy(configparser.RawConfigParser.SECTCRE, self._header)  # type: ignore[assignment]

    def _header(self, name: str) -> None:
        if name in self._headers:
            self.repeats.append((name, None))
        self._headers.add(name)
        self._current = name


class _HeaderSpy:
    def __init__(self, pattern: re.Pattern[str], seen: Callable[[str], None]) -> None:
        self._pattern = pattern
        self._seen = seen

    def match(self, text: str) -> re.Match[str] | None:
        found = self._pattern.match(text)
        if found:
            self._seen(found.group("header"))
        return found


def _parse_file(path: str, warnings: list[str]) -> configparser.RawConfigParser:
    parser = _Parser()
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh, source=path)
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror or exc}", file=path)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file is not UTF-8: {exc.reason}", file=path)
    except configparser.Error as exc:
        raise ConfigError(one_line(exc.message), file=path)
    for section, key in dict.fromkeys(parser.repeats):
        if key is None:
            warnings.append(
                f"{path}: [{section}] appears twice in this file; merged, as supervisord does"
            )
        else:
            warnings.append(
                f"{path}: [{section}] {key}: given more than once in this section; "
                "the last value is used, as in supervisord"
            )
    return parser


def _merge(
    parser: configparser.RawConfigParser,
    path: str,
    sections: dict[str, Section],
    defaults: dict[str, Value],
    warnings: list[str],
    skip: frozenset[str] = frozenset(),
) -> None:
    """Add one file's sections; a section already read from an earlier file is merged into,
    key by key, the later file's value winning (what supervisord's configparser does)."""
    for name in parser.sections():
        own = {k: Value(v if v is not None else "", path) for k, v in parser.items(name)}
        if name == "DEFAULT":
            _override(name, own, defaults, path, warnings)
            continue
        if name in skip:
            continue
        section = sections.get(name)
        if section is None:
            sections[name] = Section(name=name, file=path, values=own, defaults=defaults)
            continue
        warnings.append(
            f"{path}: [{name}] is also defined in {section.file}; merged, as supervisord does"
        )
        _override(name, own, section.values, path, warnings)


def _override(
    name: str, own: dict[str, Value], values: dict[str, Value], path: str, warnings: list[str]
) -> None:
    for key, value in own.items():
        earlier = values.get(key)
        if earlier is not None and earlier.file != path:
            warnings.append(
                f"{path}: [{name}] {key}: overrides the value from {earlier.file}, "
                "as in supervisord"
            )
        values[key] = value


def read(path: str, environ_names: Mapping[str, str], host_node_name: str) -> RawConfig:
    """Read ``path`` and the files its ``[include]`` names (only the main file's include
    counts, as in supervisor, where a nested ``[include]`` has no effect)."""
    main = os.path.abspath(path)
    if not os.path.exists(main):
        raise ConfigError("could not find config file", file=main)
    sections: dict[str, Section] = {}
    defaults: dict[str, Value] = {}
    warnings: list[str] = []
    _merge(_parse_file(main, warnings), main, sections, defaults, warnings)
    include = sections.get("include")
    if include is not None:
        files = include.values.get("files")
        if files is None:
            raise include.error("[include] section has no files setting", "files")
        names = {**environ_names, "here": files.here, "host_node_name": host_node_name}
        try:
            patterns = expand(files.text, names).split()
        except ValueError as exc:
            raise include.error(str(exc), "files")
        seen = {main}
        for pattern in patterns:
            full = os.path.join(os.path.dirname(main), pattern)
            matches = sorted(glob.glob(full))
            if not matches:
                warnings.append(f'{main}: [include] files: no file matches "{full}"')
                continue
            for match in matches:
                match = os.path.abspath(match)
                if match in seen:
                    continue
                if os.path.isdir(match):
                    warnings.append(f"{main}: [include] files: {match} is a directory, skipped")
                    continue
                seen.add(match)
                parser = _parse_file(match, warnings)
                if parser.has_section("include"):
                    warnings.append(f"{match}: [include] in an included file is ignored")
                _merge(parser, match, sections, defaults, warnings, skip=frozenset({"include"}))
    return RawConfig(main, sections, warnings)
