"""Value converters for supervisord.conf options, each matching supervisor 4.3.0's datatypes.

Owns: turning one option's text into a typed value, or a ValueError whose text is one line.
May import: stdlib only.
Threading: pure functions (user and group look-ups read the system databases).

Converters raise plain ValueError; the section reader adds file, section and key, so the
rules here stay reusable (``parse_signal`` is also used by the signal RPCs).
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import signal

TRUTHY = frozenset({"yes", "true", "on", "1"})
FALSY = frozenset({"no", "false", "off", "0"})

# supervisor accepts any number that some SIG* attribute of the signal module has, which
# includes the SIG_DFL/SIG_IGN/SIG_BLOCK pseudo-values; keep the same set so that a config
# one daemon accepts is accepted by the other.
_SIGNAL_NUMBERS = frozenset(
    int(v) for k, v in vars(signal).items() if k.startswith("SIG") and isinstance(v, int)
)

LOG_LEVELS = ("critical", "error", "warn", "info", "debug", "trace", "blather")

EVENT_TYPES = frozenset(
    {
        "EVENT",
        "PROCESS_STATE",
        "PROCESS_STATE_STOPPED",
        "PROCESS_STATE_EXITED",
        "PROCESS_STATE_STARTING",
        "PROCESS_STATE_STOPPING",
        "PROCESS_STATE_BACKOFF",
        "PROCESS_STATE_FATAL",
        "PROCESS_STATE_RUNNING",
        "PROCESS_STATE_UNKNOWN",
        "PROCESS_COMMUNICATION",
        "PROCESS_COMMUNICATION_STDOUT",
        "PROCESS_COMMUNICATION_STDERR",
        "PROCESS_LOG",
        "PROCESS_LOG_STDOUT",
        "PROCESS_LOG_STDERR",
        "REMOTE_COMMUNICATION",
        "SUPERVISOR_STATE_CHANGE",
        "SUPERVISOR_STATE_CHANGE_RUNNING",
        "SUPERVISOR_STATE_CHANGE_STOPPING",
        "TICK",
        "TICK_5",
        "TICK_60",
        "TICK_3600",
        "PROCESS_GROUP",
        "PROCESS_GROUP_ADDED",
        "PROCESS_GROUP_REMOVED",
    }
)


def boolean(text: str) -> bool:
    low = text.lower()
    if low in TRUTHY:
        return True
    if low in FALSY:
        return False
    raise ValueError(f"not a valid boolean value: {text!r}")


def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"not a valid integer: {text!r}")


def byte_size(text: str) -> int:
    """``50MB``-style sizes; the suffix is case-insensitive and has no space before it."""
    low = text.lower()
    multipliers = {"kb": 1024, "mb": 1024**2, "gb": 1024**3}
    number, factor = low, 1
    if low[-2:] in multipliers:
        number, factor = low[:-2], multipliers[low[-2:]]
    try:
        return int(number) * factor
    except ValueError:
        raise ValueError(f"not a valid byte size: {text!r}")


def octal(text: str) -> int:
    try:
        return int(text, 8)
    except ValueError:
        raise ValueError(f"{text!r} is not an octal number")


def parse_signal(value: str) -> int:
    """A signal given as a number, ``TERM`` or ``SIGTERM`` (any case)."""
    text = value.strip()
    try:
        num = int(text)
    except ValueError:
        name = text.upper()
        if not name.startswith("SIG"):
            name = "SIG" + name
        found = getattr(signal, name, None)
        if not isinstance(found, int):
            raise ValueError(f"{value!r} is not a valid signal name")
        num = int(found)
    if num not in _SIGNAL_NUMBERS:
        raise ValueError(f"{value!r} is not a valid signal number")
    return num


def exitcodes(text: str) -> frozenset[int]:
    if not text:
        return frozenset()
    codes = set()
    for part in text.split(","):
        try:
            code = int(part)
        except ValueError:
            raise ValueError(f"not a valid list of exit codes: {text!r}")
        if not 0 <= code <= 255:
            raise ValueError(f"exit code {code} is not within 0..255")
        codes.add(code)
    return frozenset(codes)


def list_of_strings(text: str) -> list[str]:
    return [part.strip() for part in text.split(",")] if text else []


def environment_pairs(text: str) -> tuple[tuple[str, str], ...]:
    """``KEY=val,KEY2="a, b"``: supervisor tokenizes with a non-POSIX shlex, so quotes
    protect commas and are then trimmed from both ends of the value; a later duplicate
    key replaces the earlier value but keeps its position."""
    lexer = shlex.shlex(text)
    lexer.wordchars += "/.+-():"
    try:
        tokens = list(lexer)
    except ValueError as exc:  # unbalanced quotes
        raise ValueError(f"bad key/value pairs {text!r}: {exc}")
    result: dict[str, str] = {}
    pos = 0
    while pos < len(tokens):
        triple = tokens[pos : pos + 3]
        if len(triple) != 3 or triple[1] != "=":
            raise ValueError(f"unexpected end of key/value pairs in {text!r}")
        result[triple[0]] = triple[2].strip("'\"")
        pos += 4  # key, '=', value, and the separator (supervisor does not check it)
    return tuple(result.items())


def check_name(name: str) -> str:
    """Process and group names end up in namespecs and URLs, so some characters are out."""
    stripped = name.strip()
    for char in " :/":
        if char in stripped:
            raise ValueError(f"invalid name {name!r} because of character {char!r}")
    return stripped


def name_to_uid(name: str) -> int:
    try:
        uid = int(name)
    except ValueError:
        try:
            return pwd.getpwnam(name).pw_uid
        except KeyError:
            raise ValueError(f"invalid user name {name}")
    try:
        pwd.getpwuid(uid)
    except KeyError:
        raise ValueError(f"invalid user id {name}")
    return uid


def name_to_gid(name: str) -> int:
    try:
        gid = int(name)
    except ValueError:
        try:
            return grp.getgrnam(name).gr_gid
        except KeyError:
            raise ValueError(f"invalid group name {name}")
    try:
        grp.getgrgid(gid)
    except KeyError:
        raise ValueError(f"invalid group id {name}")
    return gid


def gid_for_uid(uid: int) -> int:
    return pwd.getpwuid(uid).pw_gid


def user_group(text: str) -> tuple[int, int]:
    """``user[:group]`` → (uid, gid); gid -1 when only the user is given."""
    user, sep, group = text.partition(":")
    try:
        return name_to_uid(user), (name_to_gid(group) if sep else -1)
    except ValueError:
        raise ValueError(f"invalid user:group definition {text!r}")


def inet_address(text: str) -> tuple[str, int]:
    """``host:port``, ``:port``, ``*:port`` or ``port``; an empty host means all interfaces."""
    host, sep, port_text = text.rpartition(":")
    if sep and not port_text:
        raise ValueError(f"no port number specified in {text!r}")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"not a valid port number: {port_text!r}")
    if not 1 <= port <= 0xFFFF:
        raise ValueError(f"port {port} is not within 1..65535")
    host = host.lower()
    return ("" if host == "*" else host), port


def existing_dirpath(path: str) -> str:
    """A file path whose directory must already exist; ``~`` is expanded."""
    expanded = os.path.expanduser(path)
    parent = os.path.dirname(expanded)
    if parent and not os.path.isdir(parent):
        raise ValueError(f"the directory named as part of the path {path} does not exist")
    return expanded


def existing_directory(path: str) -> str:
    expanded = os.path.expanduser(path)
    if not os.path.isdir(expanded):
        raise ValueError(f"{path} is not an existing directory")
    return expanded


def normalize_path(path: str) -> str:
    return os.path.normpath(os.path.abspath(os.path.expanduser(path)))


def log_level(text: str) -> str:
    low = text.lower()
    if low not in LOG_LEVELS:
        raise ValueError(f"bad logging level name {text!r}")
    return low
