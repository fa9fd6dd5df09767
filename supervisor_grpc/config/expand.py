"""``%(name)s`` interpolation with supervisor's meaning.

Owns: expanding one option value against a table of names.
May import: stdlib only.
Threading: pure function.

supervisor applies Python's ``%`` operator with a dict, so ``%(process_num)02d`` and ``%%``
work; we do the same but first reject any ``%`` that is neither ``%%`` nor ``%(``, because
``"%s" % {...}`` would silently paste the whole table into the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_STRAY_PERCENT = re.compile(r"%(?!%|\()")
_PAIRS = re.compile(r"%%")


def expand(text: str, names: Mapping[str, str | int]) -> str:
    """Expand ``text``; ValueError (one line) names the unknown or malformed reference."""
    if "%" not in text:
        return text
    if _STRAY_PERCENT.search(_PAIRS.sub("", text)):
        raise ValueError(f"format string {text!r} is badly formatted (a lone '%')")
    try:
        return text % dict(names)
    except KeyError as exc:
        available = ", ".join(sorted(names))
        raise ValueError(
            f"format string {text!r} contains name %({exc.args[0]}) which cannot be "
            f"expanded; available names: {available}"
        )
    except (ValueError, TypeError) as exc:
        raise ValueError(f"format string {text!r} is badly formatted: {exc}")
