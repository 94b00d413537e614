"""What the generator writes: each maker picks operands and arguments from the generation state
and proposes one statement with its numeric class: "exact" (correctly rounded, so bit-equal to
torch on exact operands), "inexact" (transcendental or reordered: compared with a tolerance) or
"disc" (discontinuous: comparisons, rounding, casts, argmax; only given exact operands) or
"sensitive" (inexact, but only given exact operands: sin of a large argument, log1p near -1
amplify any last-bit difference of their operand)."""

from __future__ import annotations

from .program import Stmt

SCALARS = [0, 1, -1, 2, 3, 0.5, -0.0, 2.5, 1e30, "float('inf')", "float('nan')", True, -7]


def is_float(t):
    return t.is_floating_point()


def is_int(t):
    return not t.is_floating_point() and t.dtype != _bool()


def is_bool(t):
    return t.dtype == _bool()


def _bool():
    import torch
    return torch.bool


def _no_huge(t):
    return t.is_floating_point() and not bool((t > 1e18).any())


def any_t(t):
    return True


def nonscalar(t):
    return t.dim() > 0


def _dim(g, t, allow_none=False):
    if allow_none and (t.dim() == 0 or g.rng.random() < 0.25):
        return None
    return g.rng.randint(-t.dim(), t.dim() - 1) if t.dim() else 0


# -- elementwise --------------------------------------------------------------------------
UNARY = [  # (name, code, class, operand predicate)
    ("neg", "-{0}", "exact", lambda t: not is_bool(t)), ("abs", "{0}.abs()", "exact", any_t),
    ("square", "{0}.square()", "exact", any_t), ("relu", "F.relu({0})", "exact", any_t),
    ("sqrt", "{0}.sqrt()", "inexact", is_float), ("clone", "{0}.clone()", "exact", any_t),
    ("exp", "{0}.exp()", "inexact", any_t), ("log", "T.log({0})", "inexact", any_t),
    ("log1p", "{0}.log1p()", "sensitive", is_float), ("expm1", "{0}.expm1()", "inexact", is_float),
    ("sin", "{0}.sin()", "sensitive", any_t), ("tanh", "T.tanh({0})", "inexact", any_t),
    ("sigmoid", "{0}.sigmoid()", "inexact", any_t), ("erf", "{0}.erf()", "inexact", is_float),
    ("rsqrt", "{0}.rsqrt()", "inexact", is_float),
    ("reciprocal", "{0}.reciprocal()", "inexact", any_t),
    ("gelu", "F.gelu({0})", "inexact", _no_huge),  # torch's vector kernel: gelu(inf) is nan
    ("silu", "F.silu({0})", "inexact", is_float),
    ("softplus", "F.softplus({0})", "inexact", is_float),
    ("elu", "F.elu({0})", "inexact", is_float),
    ("leaky_relu", "F.leaky_relu({0}, 0.1)", "inexact", is_float),
    ("hardtanh", "F.hardtanh({0})", "exact", is_float),
    ("pow_half", "{0} ** 0.5", "inexact", is_float), ("pow2", "{0} ** 2", "exact", any_t),
    ("floor", "{0}.floor()", "disc", any_t), ("ceil", "T.ceil({0})", "disc", any_t),
    ("round", "{0}.round()", "disc", any_t), ("trunc", "{0}.trunc()", "disc", any_t),
    ("sign", "{0}.sign()", "disc", any_t), ("isnan", "{0}.isnan()", "disc", any_t),
    ("isfinite", "T.isfinite({0})", "disc", any_t), ("bool", "{0}.bool()", "disc", any_t),
    ("logical_not", "T.logical_not({0})", "disc", any_t),
    ("float", "{0}.float()", "exact", lambda t: not t.is_floating_point()),
    ("double", "{0}.double()", "exact", any_t), ("to_f32", "{0}.to(T.float32)", "exact", any_t),
    ("long", "{0}.long()", "disc", lambda t: _castable(t)),
    ("int", "{0}.int()", "disc", lambda t: _castable(t)),
    ("clamp", "{0}.clamp(min=-1, max=2)", "exact", any_t),
    ("clamp_min", "T.clamp({0}, min=0.5)", "exact", any_t),
]

BINARY = [  # (name, code, class)
    ("add", "{0} + {1}", "exact"), ("sub", "{0} - {1}", "exact"), ("mul", "{0} * {1}", "exact"),
    ("div", "{0} / {1}", "exact"), ("floordiv", "{0} // {1}", "disc"),
    ("mod", "{0} % {1}", "disc"), ("pow", "T.pow({0}, {1})", "inexact"),
    ("maximum", "T.maximum({0}, {1})", "exact"), ("minimum", "T.minimum({0}, {1})", "exact"),
    ("atan2", "T.atan2({0}, {1})", "inexact"), ("lt", "{0} < {1}", "disc"),
    ("le", "{0} <= {1}", "disc"), ("eq", "{0} == {1}", "disc"), ("ne", "{0} != {1}", "disc"),
    ("gt", "{0} > {1}", "disc"), ("ge", "{0} >= {1}", "disc"), ("and", "{0} & {1}", "exact"),
    ("or", "{0} | {1}", "exact"), ("xor", "{0} ^ {1}", "exact"),
    ("add_alpha", "T.add({0}, {1}, alpha=2)", "exact"),
]


# torch's vectorized kernels disagree with its scalar ones here on inf, huge or subnormal
# operands (x % 1e-40 is nan for 8+ elements, 8.4e-42 for one), so both sides stay moderate
TAME = {"mod", "floordiv", "pow", "atan2"}


def _castable(t):
    if not t.is_floating_point():
        return True
    return bool(t.isfinite().all()) and bool((t.abs() < 2**31).all())


def unary(g) -> bool:
    name, code, cls, pred = g.rng.choice(UNARY)
    a = g.pick(pred)
    return a is not None and g.add(Stmt(code, [a], g.fresh(), name), cls)


def binary(g) -> bool:
    name, code, cls = g.rng.choice(BINARY)
    a = g.pick()
    if a is None:
        return False
    r = g.rng.random()
    if r < 0.3:
        s = g.rng.choice(SCALARS)
        code = code.replace("{1}", str(s)) if g.rng.random() < 0.7 else code.replace(
            "{0}", str(s)).replace("{1}", "{0}")
        return g.add(Stmt(code, [a], g.fresh(), name + "_scalar"), cls, name in TAME)
    b = g.pick() if r < 0.7 else g.new_input(_partner_shape(g, a), g.rng.choice(
        ["float32", "float64", "int64", "int32", "bool", str(g.env_a[a].dtype)[6:]]))
    return b is not None and g.add(Stmt(code, [a, b], g.fresh(), name), cls, name in TAME)


def _partner_shape(g, a):
    from .values import broadcast_partner
    shape = tuple(g.env_a[a].shape)
    return shape if g.rng.random() < 0.5 else broadcast_partner(g.rng, shape)


def where(g) -> bool:
    c = g.pick(is_bool)
    a = g.pick()
    if c is None or a is None:
        return False
    b = g.rng.choice([g.pick(), "0.0", "float('nan')", "-1"])
    return g.add(Stmt("T.where({0}, {1}, " + ("{2})" if b in g.env_a else b + ")"),
                      [c, a] + ([b] if b in g.env_a else []), g.fresh(), "where"), "exact")


def clamp_tensor(g) -> bool:
    a, lo = g.pick(), g.pick()
    return a is not None and lo is not None and g.add(
        Stmt("{0}.clamp(min={1})", [a, lo], g.fresh(), "clamp_tensor"), "exact")


def _makers():
    from . import ops_more as m
    from . import ops_shape as s
    from . import pyvals as p
    table = [(p.py_arith, 4), (p.control, 2), (m.indexing, 1), (m.ternary, 1), (m.normal, 1),
             (m.ordering, 1), (m.layout, 1), (unary, 6), (binary, 7), (where, 1),
             (clamp_tensor, 1), (s.reduce, 4),
             (s.scan, 1), (s.movement, 5), (s.join, 1), (s.index, 3), (s.inplace, 4),
             (s.matmul, 1)]
    return [m for m, _ in table], [w for _, w in table]


MAKERS, WEIGHTS = _makers()
