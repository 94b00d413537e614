"""`tracejit.jit`: torch.jit's names, so code written for TorchScript imports and runs.

`script` and `trace` are tracejit's own capture (torch.jit.trace's tuple of example inputs is
unpacked); the decorators TorchScript reads (`ignore`, `unused`, `export`) return the function
unchanged, as torch does outside scripting; `is_scripting()` / `is_tracing()` report whether
tracejit.script / tracejit.trace is capturing the code that asks.
"""

from __future__ import annotations

import typing

from tracejit.dispatch import current_mode
from tracejit.graphfile import LoadedGraph
from tracejit.scripting import ScriptedFunction, ScriptedModule, ScriptMode
from tracejit.scripting import script as _script
from tracejit.traced import TracedFunction, TracedModule
from tracejit.traced import trace as _trace
from tracejit.tracer import TraceMode

Final = typing.Final
_T = typing.TypeVar("_T")
ScriptModule = RecursiveScriptModule = ScriptedModule
ScriptFunction = ScriptedFunction


def script(obj, optimize=None, _frames_up: int = 0, _rcb=None, example_inputs=None,
           **options) -> ScriptedFunction | ScriptedModule | type:
    """torch.jit.script: tracejit.script (capture from source, with control flow). A class
    (a TorchScript class) is returned unchanged: it runs as Python."""
    if isinstance(obj, type):
        return obj
    return _script(obj, **options)


def trace(func, example_inputs=None, optimize=None, check_trace: bool = True,
          check_inputs=None, check_tolerance: float = 1e-5, strict: bool = True,
          _force_outplace: bool = False, _module_class=None, _compilation_unit=None,
          example_kwarg_inputs=None, **options) -> TracedFunction | TracedModule:
    """torch.jit.trace: tracejit.trace with torch's signature (a tuple of example inputs or
    one tensor); torch's checking options are accepted and ignored."""
    if example_inputs is None:
        inputs = ()
    elif isinstance(example_inputs, tuple):
        inputs = example_inputs
    else:
        inputs = (example_inputs,)
    return _trace(func, *inputs, example_kwarg_inputs=example_kwarg_inputs, **options)


def save(m, f, _extra_files=None) -> None:
    """torch.jit.save: tracejit.save of what trace or script returned."""
    from tracejit.graphfile import save as _save

    _save(m, f)


def load(f, map_location=None, _extra_files=None) -> LoadedGraph | typing.Any:
    """torch.jit.load: tracejit.load of a graph file (map_location must be the CPU)."""
    from tracejit.graphfile import load as _load
    from tracejit.tensor import check_device

    check_device(map_location)
    return _load(f)


def _decorator(fn=None, **_options):
    """@ignore, @ignore(drop=True), @unused, @export: the function itself."""
    if fn is None:
        return lambda f: f
    return fn


ignore = unused = export = _copy_to_script_wrapper = _script_if_tracing = _decorator


def interface(cls) -> _T:
    return cls


def is_scripting() -> bool:
    """True while tracejit.script captures the calling code."""
    return isinstance(current_mode(), ScriptMode)


def is_tracing() -> bool:
    """True while tracejit.trace (not script) captures the calling code."""
    mode = current_mode()
    return isinstance(mode, TraceMode) and not isinstance(mode, ScriptMode)


def annotate(the_type, the_value) -> _T:
    """TorchScript's type hint for a value: returns the value."""
    return the_value


def Attribute(value, type=None) -> _T:
    return value


def freeze(mod, preserved_attrs=None, optimize_numerics: bool = True) -> _T:
    """A captured module is already specialised on its weights: returned unchanged."""
    return mod


def optimize_for_inference(mod, other_methods=None) -> _T:
    return mod


class Future(typing.Generic[_T]):
    """The already-computed result of `fork` (tracejit runs forked calls at once)."""

    def __init__(self, value: _T):
        self._value = value

    def wait(self) -> _T:
        return self._value

    def value(self) -> _T:
        return self._value

    def done(self) -> bool:
        return True


def fork(func: typing.Callable[..., _T], *args, **kwargs) -> Future[_T]:
    """Run `func(*args, **kwargs)` now (no parallelism); `wait` returns its result."""
    return Future(func(*args, **kwargs))


def wait(future: Future[_T]) -> _T:
    return future.wait()


__all__ = [
    "Attribute", "Final", "Future", "RecursiveScriptModule", "ScriptFunction", "ScriptModule",
    "annotate", "export", "fork", "freeze", "ignore", "interface", "is_scripting",
    "is_tracing", "load", "optimize_for_inference", "save", "script", "trace", "unused", "wait",
]
