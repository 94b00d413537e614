"""Where in the user's code a capture mode is: the first frame outside tracejit, its file, line
and column; the TraceError that starts there; errors of the user's code, located."""

from __future__ import annotations

import itertools
import sys
import sysconfig
import weakref
from types import CodeType

from tracejit.ir.graph import Loc

# code object -> its co_positions(), for as long as the code lives
_POSITIONS: weakref.WeakKeyDictionary[CodeType, list] = weakref.WeakKeyDictionary()


class TraceError(RuntimeError):
    """Something tracing cannot capture faithfully; the message starts at the user's line."""

    def __init__(self, message: str, loc: Loc | None = None):
        self.loc = loc
        super().__init__(f"{loc}: error: {message}" if loc is not None else message)


# the standard library's own files: its decorator wrappers (contextlib's ContextDecorator behind
# `@no_grad()`, functools) stand between tracejit and the user's line
_STDLIB = tuple(sorted({sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")}))
_SITE = tuple(sorted({sysconfig.get_paths()[k] for k in ("purelib", "platlib")}))


def _is_internal(frame) -> bool:
    """A frame of tracejit itself or of a standard-library wrapper, not the user's code."""
    name = frame.f_globals.get("__name__", "")
    if name == "tracejit" or (name.startswith("tracejit.")
                              and not name.startswith("tracejit.examples.")):  # user code
        return True
    file = frame.f_code.co_filename
    return file.startswith(_STDLIB) and not file.startswith(_SITE)


def user_location() -> Loc | None:
    """The first frame outside tracejit and the standard library's wrappers: the user's file,
    line and column."""
    frame = sys._getframe(1)
    while frame is not None and _is_internal(frame):
        frame = frame.f_back
    if frame is None:
        return None
    code = frame.f_code
    positions = _POSITIONS.get(code)
    if positions is None:
        positions = _POSITIONS[code] = list(code.co_positions())
    line, _, col, _ = positions[frame.f_lasti // 2] if frame.f_lasti >= 0 else (None,) * 4
    return Loc(code.co_filename, line or frame.f_lineno, (col + 1) if col is not None else 0)


_TORCH_ERRORS = (RuntimeError, IndexError, TypeError, ValueError)


def with_location(error: BaseException) -> BaseException:
    """`error` raised by the user's code while it was traced, as the same type with the user's
    line (the innermost frame of theirs in its traceback) before its message; other errors,
    and those already located (TraceError), unchanged."""
    if type(error) not in _TORCH_ERRORS or len(error.args) > 1:
        return error
    loc, tb = None, error.__traceback__
    while tb is not None:
        if not _is_internal(tb.tb_frame):
            code = tb.tb_frame.f_code
            line, _, col, _ = next(itertools.islice(code.co_positions(), tb.tb_lasti // 2, None),
                                   (None,) * 4)
            loc = Loc(code.co_filename, line or tb.tb_lineno, (col + 1) if col is not None else 0)
        tb = tb.tb_next
    text = str(error)
    if loc is None or text.startswith(f"{loc.file}:"):
        return error
    return type(error)(f"{loc}: error: {text}").with_traceback(error.__traceback__)
