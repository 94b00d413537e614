"""The public API is typed (issue 12, point 5): every public function and method says what it
returns, the annotations resolve at run time, and the wheel ships the py.typed marker that tells
type checkers to read them."""

import inspect
import shutil
import subprocess
import sys
import types
import typing
import zipfile
from pathlib import Path

import pytest

import tracejit
import tracejit.nn as nn
import tracejit.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]

# Public callables that cannot carry a return annotation, each with the reason. Keep it short:
# anything a user calls should say what it returns.
ALLOWED_UNANNOTATED: dict[str, str] = {}


def _unwrap(value):
    """The Python function behind a method, static/class method or property; else None."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        value = value.fget
    return value if isinstance(value, types.FunctionType) else None


def _public_members(cls):
    """(name, function) for cls's public methods and properties defined in tracejit."""
    seen = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("tracejit"):
            continue
        for name, value in vars(klass).items():
            function = _unwrap(value)
            if name.startswith("_") or name in seen or function is None:
                continue
            seen.add(name)
            yield name, function


def _public_api():
    """(qualified name, function) for everything the test covers."""
    for name in tracejit.__all__:
        function = _unwrap(getattr(tracejit, name))
        if function is not None:
            yield f"tracejit.{name}", function
    for name in dir(F):
        function = _unwrap(getattr(F, name))
        if not name.startswith("_") and function is not None and \
                function.__module__.startswith("tracejit"):
            yield f"tracejit.nn.functional.{name}", function
    for name in dir(nn):
        cls = getattr(nn, name)
        if not name.startswith("_") and isinstance(cls, type) and \
                cls.__module__.startswith("tracejit"):
            for method, function in _public_members(cls):
                yield f"tracejit.nn.{name}.{method}", function
    for method, function in _public_members(tracejit.Tensor):
        yield f"tracejit.Tensor.{method}", function


API = sorted(dict(_public_api()).items())


def test_the_api_is_collected():
    names = {name for name, _ in API}
    assert {"tracejit.zeros", "tracejit.Tensor.sum", "tracejit.nn.Module.parameters",
            "tracejit.nn.functional.relu", "tracejit.trace"} <= names
    assert len(API) > 1000


def test_every_public_function_has_a_return_annotation():
    missing = [f"{name} ({function.__module__}:{function.__code__.co_firstlineno})"
               for name, function in API
               if inspect.signature(function).return_annotation is inspect.Signature.empty
               and name not in ALLOWED_UNANNOTATED]
    assert not missing, "add a return annotation to:\n  " + "\n  ".join(missing)


def test_allow_list_is_not_stale():
    annotated = {name for name, function in API
                 if inspect.signature(function).return_annotation
                 is not inspect.Signature.empty}
    assert not annotated & set(ALLOWED_UNANNOTATED)


def test_every_annotation_resolves():
    # `from __future__ import annotations` keeps annotations as strings: a misspelt or
    # type-checking-only name would only fail here (typing.get_type_hints, used by IDEs'
    # runtime helpers, documentation tools and validators).
    broken = []
    for name, function in API:
        try:
            typing.get_type_hints(function)
        except Exception as e:  # NameError, TypeError from a bad expression, ...
            broken.append(f"{name}: {type(e).__name__}: {e}")
    assert not broken, "unresolvable annotations:\n  " + "\n  ".join(broken)


@pytest.mark.parametrize(("function", "expected"), [
    (tracejit.zeros, tracejit.Tensor),
    (tracejit.cat, tracejit.Tensor),
    (tracejit.Tensor.sum, tracejit.Tensor),
    (tracejit.Tensor.size, tracejit.Size | int),
    (tracejit.Tensor.split, tuple[tracejit.Tensor, ...]),
    (tracejit.nn.functional.relu, tracejit.Tensor),
    (tracejit.trace, tracejit.TracedFunction | tracejit.TracedModule),
])
def test_sample_types_are_the_right_ones(function, expected):
    assert typing.get_type_hints(function)["return"] == expected


def test_module_methods_return_what_torch_returns():
    hints = typing.get_type_hints(nn.Module.parameters)["return"]
    assert typing.get_origin(hints).__name__ == "Iterator"
    assert typing.get_args(hints) == (nn.Parameter,)
    assert typing.get_type_hints(nn.Module.train)["return"] is typing.Self
    assert typing.get_type_hints(nn.Module.eval)["return"] is typing.Self


def test_annotations_do_not_change_behaviour():
    x = tracejit.ones(2, 3)
    assert isinstance(x.sum(), tracejit.Tensor)
    assert x.size() == (2, 3) and x.size(1) == 3
    assert x.tolist() == [[1.0] * 3] * 2
    assert tracejit.get_device(x) == -1
    parts = tracejit.unsafe_split(x, 1)
    assert isinstance(parts, tuple) and [p.shape for p in parts] == [(1, 3), (1, 3)]


def test_the_wheel_ships_py_typed(tmp_path):
    # Built from a copy of the sources, so the shared checkout gets no build/ folder.
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for folder in ("tracejit", "ir", "passes", "runtime"):
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, src / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path / "dist")], capture_output=True, text=True, timeout=300)
    if built.returncode and "No module named" in built.stderr:
        pytest.skip(f"cannot build a wheel here: {built.stderr.strip()[-200:]}")
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("tracejit-*.whl")
    assert "tracejit/py.typed" in zipfile.ZipFile(wheel).namelist()
