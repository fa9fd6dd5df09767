"""Reading the main file and its ``[include]`` files into sections that remember their file.

Owns: INI syntax, ``[include]`` globbing, and which file each value came from (which is what
``%(here)s`` means for that value, as supervisor's ``expand_here`` arranges).
May import: supervisor_grpc.errors, our datatypes/expand, stdlib.
Threading: plain functions; reads files.
"""

from __future__ import annotations

import configparser
import glob
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

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


def _parse_file(path: str) -> configparser.RawConfigParser:
    # [DEFAULT] is read as an ordinary section so that each value keeps its own file.
    parser = configparser.RawConfigParser(
        inline_comment_prefixes=(";", "#"), strict=True, default_section="\0"
    )
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh, source=path)
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror or exc}", file=path)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file is not UTF-8: {exc.reason}", file=path)
    except configparser.Error as exc:
        raise ConfigError(one_line(exc.message), file=path)
    return parser


def _merge(
    parser: configparser.RawConfigParser,
    path: str,
    sections: dict[str, Section],
    defaults: dict[str, Value],
    skip: frozenset[str] = frozenset(),
) -> None:
    for name in parser.sections():
        own = {k: Value(v if v is not None else "", path) for k, v in parser.items(name)}
        if name == "DEFAULT":
            defaults.update(own)
            continue
        if name in skip:
            continue
        if name in sections:
            # supervisor would silently merge the two; a program defined twice is a mistake.
            raise ConfigError(
                f"section is also defined in {sections[name].file}", file=path, section=name
            )
        sections[name] = Section(name=name, file=path, values=own, defaults=defaults)


def read(path: str, environ_names: Mapping[str, str], host_node_name: str) -> RawConfig:
    """Read ``path`` and the files its ``[include]`` names (only the main file's include
    counts, as in supervisor, where a nested ``[include]`` has no effect)."""
    main = os.path.abspath(path)
    if not os.path.exists(main):
        raise ConfigError("could not find config file", file=main)
    sections: dict[str, Section] = {}
    defaults: dict[str, Value] = {}
    warnings: list[str] = []
    _merge(_parse_file(main), main, sections, defaults)
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
                parser = _parse_file(match)
                if parser.has_section("include"):
                    warnings.append(f"{match}: [include] in an included file is ignored")
                _merge(parser, match, sections, defaults, skip=frozenset({"include"}))
    return RawConfig(main, sections, warnings)
