# ruff: noqa: UP031 (the templates hold {0}-style operand slots, so %-format fills arguments)
"""Python values in programs: `int`/`float`/`bool` arguments (`def f(x0, s0: float)`), module
attributes and a registered buffer (the program is an `nn.Module`), module-level globals; the
makers that use them with tensors (weak-scalar promotion), and control flow on values
(`if` on a tensor condition, `for` over `range(n)`, a bounded `while`)."""

from __future__ import annotations

import math

import numpy as np

from .ops import is_bool, nonscalar
from .program import Stmt
from .values import broadcast_partner, random_values

NUMBERS = {"int": [0, 1, 2, 3, -1, -7, 5],
           "float": [0.5, -1.0, 2.5, 0.1, 1e-3, 0.0, -0.0, 3.0, 1e30, float("inf")],
           "bool": [True, False]}


def _value(g, typ: str):
    return g.rng.choice(NUMBERS[typ])


def setup(g, base) -> None:
    """Decide the program's Python values; the buffer is shaped like the first input (`base`)
    or broadcasts with it."""
    r = g.rng
    if r.random() < 0.3:
        for i in range(r.randint(1, 2)):
            typ = r.choice(["int", "float", "float", "bool"])
            g.prog.scalars.append([f"s{i}", typ, _value(g, typ), _value(g, typ)])
    if r.random() < 0.15:
        g.prog.attrs.append(["a0", _value(g, "float"), _value(g, "float")])
        if r.random() < 0.5:
            g.prog.attrs.append(["a1", _value(g, "int"), _value(g, "int")])
        shape = base if r.random() < 0.5 else broadcast_partner(r, tuple(base))
        buf = random_values(r, tuple(shape), r.choice(["float32", "float64"]), g.special)
        g.prog.buffers.append(["b0", buf])
    if r.random() < 0.1:
        typ = r.choice(["int", "float"])
        g.prog.globals_.append(["G0", _value(g, typ), _value(g, typ)])


def numbers(g) -> list[str]:
    """Source names of the program's Python numbers."""
    return ([s[0] for s in g.prog.scalars] + [f"self.{a[0]}" for a in g.prog.attrs]
            + [v[0] for v in g.prog.globals_])


PY_BINARY = [  # (name, code with {s} the number, class)
    ("add", "{0} + {s}", "exact"), ("radd", "{s} + {0}", "exact"),
    ("mul", "{0} * {s}", "exact"), ("rsub", "{s} - {0}", "exact"),
    ("div", "{0} / {s}", "inexact"), ("where", "T.where({0} > 0, {0}, {s})", "disc"),
    ("clamp", "{0}.clamp(min={s})", "exact"), ("maximum", "T.maximum({0}, T.tensor({s}))",
                                                "exact"),
]


def py_arith(g) -> bool:
    """A tensor with a Python number argument, attribute or global; or with the buffer."""
    nums = numbers(g)
    a = g.pick()
    if a is None or not (nums or g.prog.buffers):
        return False
    if g.prog.buffers and (not nums or g.rng.random() < 0.3):
        code = g.rng.choice(["{0} + self.b0", "self.b0 * {0}", "T.maximum({0}, self.b0)"])
        name = "maximum_buffer" if "maximum" in code else "buffer"
        buf = np.asarray(g.prog.buffers[0][1])
        if name == "maximum_buffer" and buf.dtype.kind == "f" and bool(
                ((buf == 0) & np.signbit(buf)).any()):
            return False  # torch's kernels order a tie of -0.0 and 0.0 either way (F11)
        return g.add(Stmt(code, [a], g.fresh(), name), "exact")
    name, code, cls = g.rng.choice(PY_BINARY)
    if name in ("clamp", "maximum"):  # torch's kernels order a tie of -0.0 and 0.0 either way
        nums = [n for n in nums if not any(_neg_zero(v) for v in _values(g, n))]
        if not nums:
            return False
    code = code.replace("{s}", g.rng.choice(nums))
    return g.add(Stmt(code, [a], g.fresh(), name + "_py"), cls)


def _values(g, name: str) -> list:
    """Both sets' values of the Python number called `name` in the source."""
    for entry in g.prog.scalars + g.prog.attrs + g.prog.globals_:
        if name in (entry[0], f"self.{entry[0]}"):
            return entry[-2:]
    return []


def _neg_zero(v) -> bool:
    return isinstance(v, float) and v == 0 and math.copysign(1, v) < 0


def _int_arg(g) -> str | None:
    ints = [s[0] for s in g.prog.scalars if s[1] == "int"]
    if ints:
        return g.rng.choice(ints)
    if len(g.prog.scalars) >= 3:
        return None
    name = f"s{len(g.prog.scalars)}"
    a, b = g.rng.randint(0, 3), g.rng.randint(0, 3)
    g.prog.scalars.append([name, "int", a, b])
    g._replay()
    return name


def control(g) -> bool:
    """`if` on a tensor condition, `for i in range(n)` (n an int argument), or a `while` on a
    tensor condition with a bounded counter; the body keeps the variable's dtype and shape."""
    kind = g.rng.choice(["if", "for", "while"])
    a = g.pick(lambda t: not is_bool(t), exact=True)
    if a is None:
        return False
    fl = g.env_a[a].is_floating_point()
    red = "amax()" if fl else "sum()"
    if kind == "if":
        c = g.pick(nonscalar, exact=True) or a
        cred = "amax()" if g.env_a[c].is_floating_point() else "sum()"
        body = g.rng.choice(["{0} * 2", "{0} - 1", "-{0}", "{0}.abs()"])
        other = g.rng.choice(["{0} + 1", "{0}.clone()", "{0} * {0}"])
        code = ("if {1}.%s > 0:\n    {out} = %s\nelse:\n    {out} = %s"
                % (cred, body, other))
        ops = [a, c]
    elif kind == "for":
        n = _int_arg(g)
        if n is None:
            return False
        step = g.rng.choice(["{out} + {0}", "{out} * 2", "{out} + i", "{out} - i * {0}"])
        code = "{out} = {0}.clone()\nfor i in range(%s):\n    {out} = %s" % (n, step)
        ops = [a]
    else:
        k = f"k{g.nvars + 1}"
        code = ("{out} = {0}.clone()\n%s = 0\nwhile %s < 3 and {out}.%s < 50:\n"
                "    {out} = {out} * 2 + 1\n    %s += 1" % (k, k, red, k))
        ops = [a]
    ok = g.add(Stmt(code, ops, g.fresh(), "control_" + kind), "exact")
    if ok and kind != "for":
        g.prog.control = True  # a tensor condition: trace cannot follow it
    return ok
