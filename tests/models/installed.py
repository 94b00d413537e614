"""Load a corpus program from the PyPI package that ships it, its torch imports mapped.

Third-party model code is not copied into this repository: a corpus file that names an installed
program (a pinned PyPI package of a well-known public repository) calls `load_program` with the
`__import__` it runs with. The runner gives corpus files an `__import__` that maps `torch` to
tracejit (or leaves it alone: the torch oracle); the program's modules are imported afresh,
unchanged, with every `torch` import they make going through that same function: the one change
a user makes when porting.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import importlib.util
import sys
from collections.abc import Iterator
from importlib import metadata
from types import ModuleType


class ProgramNotInstalled(ModuleNotFoundError):
    """The package that ships a corpus program is missing or at another version."""


def load_program(import_torch, dist: str, version: str, module: str,
                 path: str | None = None) -> ModuleType:
    """Import `module` of PyPI package `dist`==`version` afresh; `import_torch` imports its torch.

    With `path` (a file inside the distribution), that one file is loaded on its own: for
    packages whose `__init__` pulls in dependencies the model file itself does not use.
    """
    _check_installed(dist, version)
    top = module.split(".")[0]
    with _fresh_modules(top), _torch_imported_by(import_torch):
        if path is None:
            return importlib.import_module(module)
        return _load_file(module, metadata.distribution(dist).locate_file(path))


def _check_installed(dist: str, version: str) -> None:
    try:
        found = metadata.version(dist)
    except metadata.PackageNotFoundError:
        found = None
    if found != version:
        have = "not installed" if found is None else f"installed at {found}"
        raise ProgramNotInstalled(
            f"corpus program from {dist}=={version}: {dist} is {have}; "
            f"install it with `pip install --no-deps {dist}=={version}`")


def _load_file(name: str, path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, str(path))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@contextlib.contextmanager
def _fresh_modules(top: str) -> Iterator[None]:
    """Import package `top` anew inside the block; afterwards sys.modules is as it was."""
    def ours(key: str) -> bool:
        return key == top or key.startswith(top + ".")

    saved = {k: v for k, v in sys.modules.items() if ours(k)}
    for key in saved:
        del sys.modules[key]
    try:
        yield
    finally:
        for key in [k for k in sys.modules if ours(k)]:
            del sys.modules[key]
        sys.modules.update(saved)


@contextlib.contextmanager
def _torch_imported_by(import_torch) -> Iterator[None]:
    """Route every absolute `import torch...` through `import_torch` inside the block."""
    real_import = builtins.__import__
    if import_torch is real_import:
        yield
        return

    def mapped_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name.partition(".")[0] == "torch":
            builtins.__import__ = real_import  # `import_torch` may call builtins.__import__
            try:
                return import_torch(name, globals, locals, fromlist, level)
            finally:
                builtins.__import__ = mapped_import
        return real_import(name, globals, locals, fromlist, level)

    builtins.__import__ = mapped_import
    try:
        yield
    finally:
        builtins.__import__ = real_import
