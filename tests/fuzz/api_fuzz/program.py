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
        """The statement's source; a block (control flow) names its result `{out}`."""
        if "{out}" in self.code:
            return self.code.format(*self.operands, out=self.out)
        expr = self.code.format(*self.operands)
        return f"{self.out} = {expr}" if self.out else expr


@dataclass
class Program:
    """Inputs `x0..xn` (two value sets of the same shapes: `inputs` is the example, `inputs_b`
    the second call), statements, returned variables, and the variables (inputs included)
    whose final float values are inexact (compared with a tolerance). Python values:
    `scalars` are number arguments after the tensors ([name, type, value a, value b]);
    `attrs` module attributes and `globals_` module-level globals ([name, value a, value b]),
    which the harness changes between the calls; `buffers` ([name, array]) are registered
    on the module. With `attrs` or `buffers` the program is an `nn.Module` (`forward`);
    `control`: it branches on a tensor value (trace raises there: script mode only)."""

    inputs: list[np.ndarray]
    inputs_b: list[np.ndarray]
    stmts: list[Stmt] = field(default_factory=list)
    returns: list[str] = field(default_factory=list)
    inexact: set[str] = field(default_factory=set)
    scalars: list = field(default_factory=list)
    attrs: list = field(default_factory=list)
    globals_: list = field(default_factory=list)
    buffers: list = field(default_factory=list)
    control: bool = False

    def names(self) -> list[str]:
        return [f"x{i}" for i in range(len(self.inputs))]

    def is_module(self) -> bool:
        return bool(self.attrs or self.buffers)

    def changes(self) -> bool:
        """Whether an attribute or global holds another value at the second call."""
        return any(_differ(a, b) for _, a, b in self.attrs + self.globals_)

    def source(self, name: str = "f") -> str:
        params = self.names() + [f"{n}: {t}" for n, t, _, _ in self.scalars]
        body = [f"    {ln}" for s in self.stmts for ln in s.text().splitlines()]
        body.append(f"    return ({''.join(r + ', ' for r in self.returns)})")
        if not self.is_module():
            return "\n".join([f"def {name}({', '.join(params)}):", *body]) + "\n"
        names = [a[0] for a in self.attrs] + [b[0] for b in self.buffers]
        lines = ["class M(T.nn.Module):", f"    def __init__(self, {', '.join(names)}):",
                 "        super().__init__()"]
        lines += [f"        self.{a[0]} = {a[0]}" for a in self.attrs]
        lines += [f"        self.register_buffer('{b[0]}', {b[0]})" for b in self.buffers]
        lines.append(f"    def forward(self, {', '.join(params)}):")
        return "\n".join(lines + ["    " + ln for ln in body]) + "\n"

    def args(self, arrays, module, which: str) -> list:
        """Fresh input tensors of `module` followed by the scalar arguments of set `which`."""
        return make_inputs(arrays, module) + [s[2 if which == "a" else 3] for s in self.scalars]

    def ops(self) -> list[str]:
        return [s.op for s in self.stmts]

    def to_json(self) -> dict:
        return {"inputs": [_arr_json(a) for a in self.inputs],
                "inputs_b": [_arr_json(a) for a in self.inputs_b],
                "stmts": [[s.code, s.operands, s.out, s.op, s.exact] for s in self.stmts],
                "returns": self.returns, "inexact": sorted(self.inexact),
                "scalars": self.scalars, "attrs": self.attrs, "globals": self.globals_,
                "buffers": [[n, _arr_json(a)] for n, a in self.buffers], "control": self.control}

    @staticmethod
    def from_json(d: dict) -> Program:
        return Program([_arr_from(a) for a in d["inputs"]], [_arr_from(a) for a in d["inputs_b"]],
                       [Stmt(*s) for s in d["stmts"]], list(d["returns"]), set(d["inexact"]),
                       d.get("scalars", []), d.get("attrs", []), d.get("globals", []),
                       [[n, _arr_from(a)] for n, a in d.get("buffers", [])],
                       d.get("control", False))


def _differ(a, b) -> bool:
    return type(a) is not type(b) or repr(a) != repr(b)


def _arr_json(a: np.ndarray) -> dict:
    return {"dtype": str(a.dtype), "shape": list(a.shape), "data": a.reshape(-1).tolist()}


def _arr_from(d: dict) -> np.ndarray:
    return np.array(d["data"], dtype=d["dtype"]).reshape(d["shape"])


def build(prog: Program, module, which: str = "a") -> callable:
    """Compile the program's source into a function (or a model object) whose `T`/`F` are
    `module`'s, with the globals and attributes of set `which`. The source is registered in
    linecache under a unique file name so `tracejit.script` can read it."""
    return instantiate(prog, module, which)[0]


def instantiate(prog: Program, module, which: str = "a"):
    """`(fn, rebind)`: the callable of `build`, and `rebind(which)`, which sets the globals
    and the model's attributes to set `which`'s values in place."""
    return instantiate_env(prog, module, which)[:2]


def instantiate_env(prog: Program, module, which: str = "a"):
    """`(fn, rebind, globals)`: `instantiate`'s, and the program's module globals (where a
    program with graph breaks finds `LOG`)."""
    from .breaks import has_breaks, sink_globals
    src = prog.source()
    fname = f"<fuzz-program-{next(_counter)}>.py"
    linecache.cache[fname] = (len(src), None, src.splitlines(True), fname)
    glb = {"T": module, "F": module.nn.functional, "__name__": "fuzz_program"}
    k = 1 if which == "a" else 2
    glb.update({n: v[k - 1] for n, *v in prog.globals_})
    if has_breaks(prog):
        glb.update(sink_globals())
    exec(compile(src, fname, "exec"), glb)
    if not prog.is_module():
        fn = glb["f"]
    else:
        fn = glb["M"](*[a[k] for a in prog.attrs],
                      *make_inputs([b[1] for b in prog.buffers], module))

    def rebind(w: str) -> None:
        j = 1 if w == "a" else 2
        glb.update({g[0]: g[j] for g in prog.globals_})
        for a in prog.attrs:
            setattr(fn, a[0], a[j])
    return fn, rebind, glb


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
    "compile": "g = tracejit.compile(f)",
    "saveload": ("tracejit.save(tracejit.trace(f, {args}), '/tmp/repro.pt'); "
                 "g = tracejit.load('/tmp/repro.pt')"),
    "grad": None,  # eager, then backward (the lines _GRAD adds)
}
# grad mode's repro: float inputs require grad; a random linear function of the floating
# outputs is differentiated, and the inputs' gradients printed
_GRAD = ["for x in ({inputs},):",
         "    if isinstance(x, T.Tensor) and x.is_floating_point():",
         "        x.requires_grad_(True)",
         "out = g({args})",
         "import numpy as np",
         "rng = np.random.default_rng({n_returns})",
         "loss = sum((o.double() * T.tensor(rng.standard_normal(tuple(o.shape)))).sum()",
         "           for o in (out if isinstance(out, tuple) else (out,))",
         "           if isinstance(o, T.Tensor) and o.requires_grad)",
         "loss.backward()",
         "print([getattr(x, 'grad', None) for x in ({inputs},)])"]


def repro(prog: Program, mode: str, which: str = "a", note: str = "") -> str:
    """A standalone snippet: run it with `T = tracejit` and with `T = torch` to compare. A
    failure on the second input set (`which="b"`) captures on the first, then calls on it
    (after setting the second set's globals and attributes); `"a2"` (compile) calls on the
    first set, the second, then the first again; `"known"` then compiles again and calls. A
    program with graph breaks prints `LOG`."""
    from .breaks import has_breaks
    names = prog.names() + [s[0] for s in prog.scalars]
    args = ", ".join(names)
    lines = ["import torch, tracejit", "T = tracejit  # T = torch gives the reference",
             "F = T.nn.functional", ""]
    if has_breaks(prog):
        lines[0] += ", warnings, numpy as np"
        lines.append("LOG = []")
    lines += [f"{n} = {_num(a)}" for n, a, _ in prog.globals_]
    lines += [prog.source().rstrip(), ""]
    lines += _set_lines(prog, mode, "a", first=True)
    if prog.is_module():
        ctor = [_num(a[1]) for a in prog.attrs] + [literal(b[1]) for b in prog.buffers]
        lines.append(f"f = M({', '.join(ctor)})")
    capture = _CAPTURE[mode]
    lines.append("g = f")
    if capture is not None:
        lines += ["if T is tracejit:", "    " + capture.format(args=args)]
    sets = {"a": [], "b": ["b"], "a2": ["b", "a"], "known": ["b", "a"]}[which]
    for w in sets:
        if mode != "eager" or w == "a":
            lines.append(f"g({args})")
        lines += _set_lines(prog, mode, w)
    if which == "known":  # a new compile starts from the breaks the first one found
        again = capture if has_breaks(prog) else "g = tracejit.compile(f, fullgraph=True)"
        lines += ["if T is tracejit:", "    " + again]
    if mode == "grad":
        inputs = ", ".join(prog.names())
        lines += [ln.format(inputs=inputs, args=args, n_returns=len(prog.returns))
                  for ln in _GRAD[:3]]
        lines += [ln.format(inputs=inputs, args=args, n_returns=len(prog.returns))
                  for ln in _GRAD[3:]]
        if note:
            lines += ["# " + ln for ln in note.splitlines()]
        return "\n".join(lines)
    lines.append(f"out = g({args})")
    lines.append(f"print(out, {', '.join(prog.names())})")
    if has_breaks(prog):
        lines.append("print(LOG)")
    if note:
        lines += ["# " + ln for ln in note.splitlines()]
    return "\n".join(lines)


def _set_lines(prog: Program, mode: str, w: str, first: bool = False) -> list[str]:
    """Source setting the inputs (and, after the first call, the Python values) of set `w`."""
    k = 0 if w == "a" else 1
    lines = [f"x{i} = {literal(a)}" for i, a in enumerate((prog.inputs, prog.inputs_b)[k])]
    if first or mode != "saveload":  # a graph file holds the example's argument values
        lines += [f"{n} = {_num(v[k])}" for n, _, *v in prog.scalars]
    if not first and mode in ("eager", "script", "compile"):
        lines += [f"{n} = {_num(v[k])}" for n, *v in prog.globals_]
        obj = "g" if mode == "compile" else "f"  # compile: through the compiled wrapper
        lines += [f"{obj}.{n} = {_num(v[k])}" for n, *v in prog.attrs]
    return lines


def _num(v) -> str:
    return f"float('{v}')" if isinstance(v, float) and not math.isfinite(v) else repr(v)
