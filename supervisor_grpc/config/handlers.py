"""An ``[eventlistener:x]`` section's ``result_handler``: Python code the config names.

Owns: resolving ``module:attr`` the way supervisord 4.3.0 does when it reads the config (its
``import_spec``, an entry-point reference: ``module``, ``module:attr`` or
``module:attr.sub``, an optional ``[extras]`` suffix ignored), on the daemon's own
``sys.path`` (so ``PYTHONPATH`` reaches it as it reaches supervisord), and the one line
naming file, section and key when it cannot be resolved.
May import: supervisor_grpc.errors, our config getter, stdlib.
Threading: plain functions, used during one load. Importing runs the module's top level in
the daemon; a module is imported once per daemon (``sys.modules``), so a reread does not run
it again and an unchanged name resolves to the same object, as under supervisord.

Differences from supervisord, both for a config supervisord would not run either: a module
that fails to import for another reason than ImportError (a SyntaxError, an exception at its
top level, ``sys.exit``) is the same one-line config error, where supervisord prints a
ValueError's message and dies with a traceback on anything else; and the message says why
the name could not be resolved.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable

from supervisor_grpc.config.getter import Getter

DEFAULT_RESULT_HANDLER = "supervisor.dispatchers:default_handler"
# importlib.metadata.EntryPoint.pattern (Python 3.11), which supervisor's import_spec uses.
_SPEC = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")
Handler = Callable[[object, bytes], object]


def result_handler(g: Getter, warnings: list[str]) -> Handler | None:
    """The section's handler, imported now; None for supervisor's default handler, which we
    run ourselves (so the default needs no ``supervisor`` package at runtime)."""
    given = g.text("result_handler")
    spec = DEFAULT_RESULT_HANDLER if given is None else given.strip()  # empty: refused
    match = _SPEC.match(spec)
    if match is None:
        raise _unresolved(g, spec, "not a 'module:attribute' name")
    module_name, attr = match.group("module"), match.group("attr") or ""
    if f"{module_name}:{attr}" == DEFAULT_RESULT_HANDLER:
        return None
    try:
        found: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise _unresolved(g, spec, str(exc) or type(exc).__name__) from None
    except BaseException as exc:  # the module's own top level failed: still one line
        raise _unresolved(g, spec, f"importing {module_name} raised {_describe(exc)}") from None
    for part in filter(None, attr.split(".")):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise _unresolved(g, spec, f"{module_name} has no attribute {attr!r}") from None
        except Exception as exc:  # a module __getattr__ or property that failed
            raise _unresolved(g, spec, f"getting {attr} raised {_describe(exc)}") from None
    if not callable(found):
        # supervisord accepts it too; every answer then fails ("event caused an error").
        warnings.append(
            f"{g.section.file}: [{g.section.name}] result_handler {spec!r} is not callable: "
            "every listener answer will be an error"
        )
    return found  # type: ignore[return-value]  # a callable as far as the config can tell


def _unresolved(g: Getter, spec: str, why: str) -> Exception:
    return g.error(f"{spec!r} cannot be resolved ({why})", "result_handler")


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # a failing __str__: the type alone still names it
        text = ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
