"""supervisor's XML-RPC log reads (``readLog``, ``tail*Log``) on the current file.

Owns: the offset/length rules of supervisor 4.3.0's ``readFile`` and ``tailFile``, expressed
on file-relative offsets (not the ring's absolute ones).
May import: supervisor_grpc.errors, stdlib.
Threading: any thread; each call opens the path itself, so it never disturbs the writer.
"""

from __future__ import annotations

import os

from supervisor_grpc import errors


def read_file(path: str, offset: int, length: int) -> bytes:
    """``offset < 0`` (with ``length == 0``) means "the last |offset| bytes"; ``length == 0``
    otherwise means "to EOF". Any other negative argument is the caller's mistake."""
    if (offset < 0 and length != 0) or length < 0:
        raise errors.BadArgument("BAD_ARGUMENTS")
    try:
        with open(path, "rb") as f:
            if offset < 0:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size + offset))
                return f.read(-offset)
            f.seek(offset)
            return f.read(length) if length else f.read()
    except FileNotFoundError:
        raise errors.NoFile(path)
    except OSError as exc:
        raise errors.Failed(f"{path}: {exc.strerror or exc}")


def tail_file(path: str, offset: int, length: int) -> tuple[bytes, int, bool]:
    """The returned offset is always the file size, for the caller's next poll.

    ``overflow`` means more than ``length`` bytes arrived past ``offset``. The data is always
    the last ``length`` bytes of the file (or all of it when shorter), except when nothing
    past ``offset`` exists, which yields nothing.
    """
    if length < 0:
        raise errors.BadArgument("BAD_ARGUMENTS")
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            overflow = size > offset + length
            if length == 0 or (not overflow and offset >= size):
                return b"", size, overflow
            f.seek(max(0, size - length))
            return f.read(length), size, overflow
    except FileNotFoundError:
        return b"", 0, False
    except OSError:
        return b"", offset, False


def file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
