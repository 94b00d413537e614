"""The public API is typed (issue 12, point 5): every public function and method says what it
returns, the annotations resolve at run time, and the wheel ships the py.typed marker that tells
type checkers to read them."""

import ast
import importlib.util
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


def _module_tree(module: str) -> ast.Module:
    return ast.parse(Path(importlib.util.find_spec(module).origin).read_text())


def _top_level(body):
    """Module-level statements, inside if/try/with blocks too (TYPE_CHECKING ones included)."""
    for node in body:
        yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            if isinstance(node, (ast.If, ast.Try, ast.With, ast.ExceptHandler)):
                yield from _top_level(getattr(node, field, []))


def _targets(target):
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _targets(element)
    elif isinstance(target, ast.Starred):
        yield from _targets(target.value)


def _static_names(module: str) -> tuple[set[str], set[str] | None]:
    """(the names module binds, its literal __all__ or None) as a type checker reads the source:
    a name made at run time (globals().update, *tuple in __all__) is invisible to it."""
    bound, exported = set(), None
    for node in _top_level(_module_tree(module).body):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {n for t in targets for n in _targets(t)}
            if "__all__" in names and isinstance(node.value, (ast.List, ast.Tuple)):
                literal = {e.value for e in node.value.elts if isinstance(e, ast.Constant)}
                exported = literal | (exported or set()) if isinstance(node, ast.AugAssign) \
                    else literal
            bound |= names
        elif isinstance(node, ast.Import):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.names[0].name == "*":
                bound |= _static_exports(node.module)
            else:
                bound |= {a.asname or a.name for a in node.names}
    return bound, exported


def _static_exports(module: str) -> set[str]:
    bound, exported = _static_names(module)
    return exported & bound if exported is not None else \
        {n for n in bound if not n.startswith("_")}


@pytest.mark.parametrize(("module", "names"), [
    ("tracejit", tracejit.__all__),
    ("tracejit.nn.functional", [n for n in dir(F) if not n.startswith("_")
                                and callable(getattr(F, n))]),
    ("tracejit.nn", [n for n in dir(nn) if not n.startswith("_")
                     and isinstance(getattr(nn, n), type)]),
    ("tracejit.linalg", tracejit.linalg.__all__),
])
def test_type_checkers_see_every_public_name(module, names):
    # With py.typed, mypy/pyright read the source: a name bound only at run time would be an
    # error in the user's code ("Module has no attribute"). Name it in an `if TYPE_CHECKING:`
    # block, and list it in a literal `__all__ += [...]` there if the module has an __all__.
    bound, _ = _static_names(module)
    invisible = sorted(set(names) - bound)
    assert not invisible, f"{module} binds these only at run time: {invisible}"


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
    if built.returncode and any(s in built.stderr for s in ("No module named", "setuptools",
                                                           "build_meta")):
        pytest.skip(f"no wheel build backend here: {built.stderr.strip()[-200:]}")
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("tracejit-*.whl")
    assert "tracejit/py.typed" in zipfile.ZipFile(wheel).namelist()
