# ruff: noqa: UP031 (the templates hold {0}-style operand slots, so %-format fills arguments)
"""Makers for reductions, movement, indexing, in-place writes and matmul (see ops.py)."""

from __future__ import annotations

from .ops import _dim, any_t, is_bool, is_float, nonscalar
from .program import Stmt

REDUCE = [  # (name, class when float, accepts a dim tuple, needs float)
    ("sum", "inexact", True, False), ("mean", "inexact", True, True),
    ("prod", "inexact", False, False), ("amax", "exact", True, False),
    ("amin", "exact", True, False), ("var", "inexact", True, True),
    ("std", "inexact", True, True), ("argmax", "disc", False, False),
    ("argmin", "disc", False, False), ("logsumexp", "inexact", True, True),
    ("all", "disc", False, False), ("any", "disc", False, False),
]


def reduce(g) -> bool:
    name, cls, tuple_ok, needs_float = g.rng.choice(REDUCE)
    a = g.pick(is_float if needs_float else any_t)
    if a is None:
        return False
    t = g.env_a[a]
    dim = _dim(g, t, allow_none=name != "logsumexp")
    if tuple_ok and t.dim() >= 2 and g.rng.random() < 0.3:
        dim = tuple(sorted(g.rng.sample(range(t.dim()), 2)))
    keep = g.rng.random() < 0.4
    args = "" if dim is None else f"dim={dim}" + (", keepdim=True" if keep else "")
    if name in ("all", "any") and dim is None:
        args = ""
    if name in ("var", "std") and g.rng.random() < 0.3:
        args += (", " if args else "") + "correction=0"
    form = "{0}." + name + f"({args})" if g.rng.random() < 0.7 else f"T.{name}({{0}}" + (
        f", {args})" if args else ")")
    return g.add(Stmt(form, [a], g.fresh(), name), cls, moderate=cls == "inexact")


def scan(g) -> bool:
    name = g.rng.choice(["cumsum", "softmax", "log_softmax", "F.softmax", "cummax"])
    a = g.pick(is_float if "soft" in name else any_t)
    if a is None:
        return False
    d = _dim(g, g.env_a[a])
    code = {"F.softmax": "F.softmax({0}, dim=%d)", "cummax": "{0}.cummax(%d)[0]"}.get(
        name, "{0}.%s(%%d)" % name) % d
    return g.add(Stmt(code, [a], g.fresh(), name.replace("F.", "")),
                 "exact" if name == "cummax" else "inexact", moderate=True)


def _factor(g, n: int) -> tuple[int, ...]:
    dims, rest = [], n
    while rest > 1 and len(dims) < 3:
        ds = [d for d in range(2, rest + 1) if rest % d == 0]
        d = g.rng.choice(ds)
        dims.append(d)
        rest //= d
    dims = dims or [n]
    if g.rng.random() < 0.3:
        dims.insert(g.rng.randint(0, len(dims)), 1)
    if g.rng.random() < 0.3:
        dims[g.rng.randrange(len(dims))] = -1
    return tuple(dims)


def movement(g) -> bool:
    a = g.pick()
    if a is None:
        return False
    t, r = g.env_a[a], g.rng
    nd = t.dim()
    kind = r.choice(["view", "reshape", "transpose", "permute", "flip", "roll", "expand",
                     "squeeze", "unsqueeze", "narrow", "chunk", "t", "flatten", "contiguous",
                     "mT"])
    if kind in ("view", "reshape"):
        code = "{0}.%s(%s)" % (kind, ", ".join(map(str, _factor(g, t.numel()))))
    elif kind == "transpose" and nd >= 2:
        code = "{0}.transpose(%d, %d)" % tuple(r.sample(range(nd), 2))
    elif kind == "permute" and nd:
        perm = list(range(nd))
        r.shuffle(perm)
        code = "{0}.permute(%s)" % ", ".join(map(str, perm))
    elif kind == "flip" and nd:
        code = "{0}.flip(%d)" % _dim(g, t)
    elif kind == "roll" and nd:
        code = "{0}.roll(%d, %d)" % (r.randint(-3, 3), _dim(g, t))
    elif kind == "expand":
        shape = [d if d != 1 or r.random() < 0.4 else r.choice([2, 3]) for d in t.shape]
        if r.random() < 0.3:
            shape.insert(0, 2)
        code = "{0}.expand(%s)" % ", ".join(map(str, shape or [1]))[: 40]
        if not shape:
            code = "{0}.expand(())"
    elif kind == "squeeze":
        code = "{0}.squeeze()" if r.random() < 0.3 or not nd else "{0}.squeeze(%d)" % _dim(g, t)
    elif kind == "unsqueeze":
        code = "{0}.unsqueeze(%d)" % r.randint(-nd - 1, nd)
    elif kind == "narrow" and nd:
        d = _dim(g, t)
        start = r.randint(0, t.shape[d] - 1) if t.shape[d] else 0
        code = "{0}.narrow(%d, %d, %d)" % (d, start, r.randint(0, t.shape[d] - start))
    elif kind == "chunk" and nd:
        code = "T.chunk({0}, %d, %d)[%d]" % (r.randint(1, 3), _dim(g, t), r.choice([0, -1]))
    elif kind == "t" and nd <= 2:
        code = "{0}.t()"
    elif kind == "mT" and nd >= 2:
        code = "{0}.mT"
    elif kind in ("flatten", "contiguous"):
        code = "{0}.%s()" % kind
    else:
        return False
    return g.add(Stmt(code, [a], g.fresh(), kind), "exact")


def join(g) -> bool:
    a = g.pick(nonscalar)
    if a is None:
        return False
    t = g.env_a[a]
    b = g.pick() if g.rng.random() < 0.4 else g.new_input(tuple(t.shape), str(t.dtype)[6:])
    kind = g.rng.choice(["cat", "stack"])
    d = g.rng.randint(-t.dim(), t.dim() - 1) if kind == "cat" else g.rng.randint(0, t.dim())
    return g.add(Stmt("T.%s([{0}, {1}], %d)" % (kind, d), [a, b], g.fresh(), kind), "exact")


def index(g) -> bool:
    a = g.pick(nonscalar)
    if a is None:
        return False
    t, r = g.env_a[a], g.rng
    n0 = t.shape[0]
    kind = r.choice(["int", "slice", "ellipsis", "none", "tensor", "mask", "pos", "bool_var"])
    operands = [a]
    if kind == "int":
        code = "{0}[%d]" % r.randint(-n0, n0 - 1) if n0 else "{0}[0]"
    elif kind == "slice":
        code = "{0}[%d:%d:%d]" % (r.randint(0, 2), r.randint(1, 4), r.choice([1, 1, 2]))
    elif kind == "ellipsis":
        m = t.shape[-1]  # a dim of size 0 (after a mask) has no index: torch refuses 0
        code = "{0}[..., %d]" % r.randint(-m, m - 1) if m else "{0}[..., 0]"
    elif kind == "none":
        code = "{0}[:, None]"
    elif kind == "tensor":
        idx = [r.randint(-n0, n0 - 1) for _ in range(r.randint(1, 4))] if n0 else [0]
        code = "{0}[T.tensor(%s)]" % idx
    elif kind == "mask":
        code = "{0}[{0} > 0]"
        return g.add(Stmt(code, operands, g.fresh(), "mask_index"), "disc")
    elif kind == "pos":
        code = "{0}[{0} != 0][::2]"
        return g.add(Stmt(code, operands, g.fresh(), "mask_index"), "disc")
    else:
        m = g.pick(lambda u: is_bool(u) and u.shape == t.shape)
        if m is None:
            return False
        code, operands = "{0}[{1}]", [a, m]
    return g.add(Stmt(code, operands, g.fresh(), "index_" + kind), "exact")


INPLACE = [
    "{0}.add_({1})", "{0}.mul_({1})", "{0}.sub_({1})", "{0}.div_({1})", "{0}.copy_({1})",
    "{0}[0] = {1}", "{0}[1:] = {1}", "{0}[..., 0] += {1}", "{0}.clamp_(min={1})",
    "{0}[0].add_({1})", "{0}.t().mul_({1})", "{0}.view(-1)[0] = {1}", "{0}.zero_()",
    "{0}.fill_({1})", "{0}.expand_as({0}).add_({1})", "{0}[{0} > 0] = {1}", "{0}.relu_()",
    "{0}.detach().mul_({1})",
]


def inplace(g) -> bool:
    code = g.rng.choice(INPLACE)
    a = g.pick(nonscalar if "[" in code else any_t)
    if a is None:
        return False
    t = g.env_a[a]
    if "{1}" not in code:
        return g.add(Stmt(code, [a], None, "inplace"), "exact")
    r = g.rng.random()
    if r < 0.35:
        val = g.rng.choice(["2", "-0.0", "0.5", "-1", "float('nan')", "3", "True"])
        code, ops = code.replace("{1}", val), [a]
    elif r < 0.7 or t.dim() == 0:
        b = g.pick()
        if b is None:
            return False
        ops = [a, b]
    else:
        shape = tuple(t.shape[1:]) if g.rng.random() < 0.5 else tuple(t.shape[-1:])
        ops = [a, g.new_input(shape, str(t.dtype)[6:])]
    name = code.split("{0}")[1].split("(")[0].strip(".") or "setitem"
    cls = "disc" if "> 0" in code else ("inexact" if "div_" in code else "exact")
    return g.add(Stmt(code, ops, None, "inplace" + name[:12]), cls)


def matmul(g) -> bool:
    a = g.pick(lambda t: is_float(t) and t.dim() >= 1)
    if a is None:
        return False
    t, r = g.env_a[a], g.rng
    k, n = t.shape[-1], r.randint(1, 3)
    dtype = str(t.dtype)[6:]
    kind = r.choice(["matmul", "linear", "mm_vec"])
    if kind == "matmul":
        w = g.new_input((k, n), dtype)
        return g.add(Stmt("{0} @ {1}", [a, w], g.fresh(), "matmul"), "inexact", tame=True)
    if kind == "mm_vec":
        w = g.new_input((k,), dtype)
        return g.add(Stmt("T.matmul({0}, {1})", [a, w], g.fresh(), "matvec"), "inexact", tame=True)
    w, b = g.new_input((n, k), dtype), g.new_input((n,), dtype)
    return g.add(Stmt("F.linear({0}, {1}, {2})", [a, w, b], g.fresh(), "linear"), "inexact",
                 tame=True)


