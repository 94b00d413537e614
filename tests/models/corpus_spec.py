"""How the real-model corpus is described: one `Spec` per program in tests/models/corpus/.

Each corpus file is a public PyTorch program kept verbatim under a header naming its source,
path, commit and licence. The runner (tests/models/runner.py) loads every file twice: as it is
(the PyTorch oracle) and with its `torch` imports mapped to tracejit (the only change a user
makes when porting), builds both models with the spec's shrunk configuration, copies the torch
model's weights into the tracejit one and compares eager, trace, script and save/load results.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Spec:
    """One corpus program: how to build it small, feed it and call it.

    `build(mod)` constructs the model from the loaded corpus module (torch or tracejit flavour)
    with a small configuration. `inputs(lib, rng)` makes the example inputs with `lib` (torch or
    tracejit, the same calls work on both) from numpy's `rng`, so both sides get equal values.
    `call(model, *inputs)` runs it (default: `model(*inputs)`); a `generate()`-style entry
    passes a function here. Several specs may share one program (`program`); a program split
    over several files is a folder whose entry module `module` names (e.g. "pygcn.models").
    """

    name: str  # the corpus file's stem
    build: Callable[[ModuleType], Any]
    inputs: Callable[[ModuleType, Any], tuple]
    call: Callable[..., Any] | None = None
    train: bool = False  # run in train mode (default eval)
    rtol: float = 1e-4
    atol: float = 1e-5
    notes: str = ""
    extra: dict = field(default_factory=dict)
    # optional: the corpus file/folder when several specs share one program (default: `name`),
    # and for a folder program the dotted module inside it that `build` receives
    program: str = ""
    module: str = ""
