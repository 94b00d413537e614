"""A fuzz program: inputs (numpy arrays), straight-line statements over the public tensor API,
and the values it returns. Renders to Python source that runs with `T` bound to torch or to
tracejit (the API is torch-shaped), and to a standalone repro snippet."""

from __future__ import annotations

import itertools
import linecache
import math
from dataclasses import dataclass, field

import numpy as np

_counter = itertools.count()


@dataclass
class Stmt:
    """One line: `code` formatted with `operands` ({0}, {1}, ...); assigned to `out` unless None
    (an in-place statement). `op` names it in signatures; `exact` says whether its float result
    must match torch bit for bit (correctly rounded ops on exact operands)."""

    code: str
    operands: list[str]
    out: str | None
    op: str
    exact: bool = True

    def text(self) -> str:
        expr = self.code.format(*self.operands)
        return f"{self.out} = {expr}" if self.out else expr


@dataclass
class Program:
    """Inputs `x0..xn` (two value sets of the same shapes: `inputs` is the example, `inputs_b`
    the second call), statements, returned variables, and the variables (inputs included)
    whose final float values are inexact (compared with a tolerance)."""

    inputs: list[np.ndarray]
    inputs_b: list[np.ndarray]
    stmts: list[Stmt] = field(default_factory=list)
    returns: list[str] = field(default_factory=list)
    inexact: set[str] = field(default_factory=set)

    def names(self) -> list[str]:
        return [f"x{i}" for i in range(len(self.inputs))]

    def source(self, name: str = "f") -> str:
        lines = [f"def {name}({', '.join(self.names())}):"]
        lines += [f"    {s.text()}" for s in self.stmts]
        lines.append(f"    return ({''.join(r + ', ' for r in self.returns)})")
        return "\n".join(lines) + "\n"

    def ops(self) -> list[str]:
        return [s.op for s in self.stmts]

    def to_json(self) -> dict:
        return {"inputs": [_arr_json(a) for a in self.inputs],
                "inputs_b": [_arr_json(a) for a in self.inputs_b],
                "stmts": [[s.code, s.operands, s.out, s.op, s.exact] for s in self.stmts],
                "returns": self.returns, "inexact": sorted(self.inexact)}

    @staticmethod
    def from_json(d: dict) -> Program:
        return Program([_arr_from(a) for a in d["inputs"]], [_arr_from(a) for a in d["inputs_b"]],
                       [Stmt(*s) for s in d["stmts"]], list(d["returns"]), set(d["inexact"]))


def _arr_json(a: np.ndarray) -> dict:
    return {"dtype": str(a.dtype), "shape": list(a.shape), "data": a.reshape(-1).tolist()}


def _arr_from(d: dict) -> np.ndarray:
    return np.array(d["data"], dtype=d["dtype"]).reshape(d["shape"])


def build(prog: Program, module) -> callable:
    """Compile the program's source into a function whose `T`/`F` are `module`'s. The source
    is registered in linecache under a unique file name so `tracejit.script` can read it."""
    src = prog.source()
    fname = f"<fuzz-program-{next(_counter)}>.py"
    linecache.cache[fname] = (len(src), None, src.splitlines(True), fname)
    glb = {"T": module, "F": module.nn.functional, "__name__": "fuzz_program"}
    exec(compile(src, fname, "exec"), glb)
    return glb["f"]


def make_inputs(arrays: list[np.ndarray], module) -> list:
    """Fresh tensors of `module` holding copies of the arrays."""
    return [module.from_numpy(np.array(a, copy=True)) for a in arrays]


def literal(a: np.ndarray) -> str:
    """`T.tensor(...)` source text for an array (nan/inf spelled with float())."""
    def item(v):
        if isinstance(v, list):
            return "[" + ", ".join(item(x) for x in v) + "]"
        if isinstance(v, float) and not math.isfinite(v):
            return f"float('{v}')"
        return repr(v)
    return f"T.tensor({item(a.tolist())}, dtype=T.{a.dtype})"


_CAPTURE = {
    "eager": None,
    "trace": "g = tracejit.trace(f, {args})",
    "script": "g = tracejit.script(f)",
    "saveload": ("tracejit.save(tracejit.trace(f, {args}), '/tmp/repro.pt'); "
                 "g = tracejit.load('/tmp/repro.pt')"),
}


def repro(prog: Program, mode: str, which: str = "a", note: str = "") -> str:
    """A standalone snippet: run it with `T = tracejit` and with `T = torch` to compare. A
    failure on the second input set (`which="b"`) captures on the first, then calls on it."""
    args = ", ".join(prog.names())
    lines = ["import torch, tracejit", "T = tracejit  # T = torch gives the reference",
             "F = T.nn.functional", "", prog.source().rstrip(), ""]
    lines += [f"x{i} = {literal(a)}" for i, a in enumerate(prog.inputs)]
    capture = _CAPTURE[mode]
    lines.append("g = f")
    if capture is not None:
        lines += ["if T is tracejit:", "    " + capture.format(args=args)]
        if which == "b":
            if mode == "script":
                lines.append(f"g({args})")
            lines += [f"x{i} = {literal(a)}" for i, a in enumerate(prog.inputs_b)]
    lines.append(f"out = g({args})")
    lines.append(f"print(out, {args})")
    if note:
        lines += ["# " + ln for ln in note.splitlines()]
    return "\n".join(lines)
