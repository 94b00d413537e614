# ruff: noqa: UP031 (the templates hold {0}-style operand slots, so %-format fills arguments)
"""Makers for more ops (see ops.py): where with scalars, masked_fill, gather/scatter with
valid indices, index_select, clamp with tensor bounds, lerp, addcmul, layer_norm, normalize,
topk, sort (values), cumprod, tril/triu, repeat, tile, unbind, split."""

from __future__ import annotations

import numpy as np

from .ops import _dim, any_t, is_bool, is_float, nonscalar
from .program import Stmt


def _index_tensor(g, t, d: int, perm: bool) -> str:
    """`T.tensor(...)` of t's shape with valid indices along `d`; `perm`: a permutation per
    slice (no duplicates, so scatter's result does not depend on write order)."""
    shape, n = tuple(t.shape), t.shape[d]
    if perm:
        keys = np.array([g.rng.random() for _ in range(int(np.prod(shape)))]).reshape(shape)
        idx = np.argsort(keys, axis=d, kind="stable")
    else:
        idx = np.array([g.rng.randrange(n) for _ in range(int(np.prod(shape)))]).reshape(shape)
    return "T.tensor(%s)" % idx.tolist()


def indexing(g) -> bool:
    a = g.pick(lambda t: nonscalar(t) and t.numel() > 0)
    if a is None:
        return False
    t, r = g.env_a[a], g.rng
    d = _dim(g, t)
    kind = r.choice(["gather", "scatter", "index_select", "masked_fill", "where_scalars"])
    if kind == "gather":
        code = "{0}.gather(%d, %s)" % (d, _index_tensor(g, t, d, False))
    elif kind == "scatter":
        src = g.pick(lambda u: u.shape == t.shape and u.dtype == t.dtype) or a
        code = "{0}.scatter(%d, %s, {1})" % (d, _index_tensor(g, t, d, True))
        return g.add(Stmt(code, [a, src], g.fresh(), kind), "exact")
    elif kind == "index_select":
        idx = [r.randrange(t.shape[d]) for _ in range(r.randint(1, 4))]
        code = "T.index_select({0}, %d, T.tensor(%s))" % (d, idx)
    elif kind == "masked_fill":
        code = "{0}.masked_fill({0} < 0, %s)" % r.choice(["2", "0.5", "float('nan')", "-1"])
        return g.add(Stmt(code, [a], g.fresh(), kind), "disc")
    else:
        code = "T.where({0} > 0, %s, %s)" % (r.choice(["1.0", "2", "True"]),
                                             r.choice(["0.5", "-1", "0"]))
        return g.add(Stmt(code, [a], g.fresh(), kind), "disc")
    return g.add(Stmt(code, [a], g.fresh(), kind), "exact")


def ternary(g) -> bool:
    kind = g.rng.choice(["clamp_tensors", "lerp", "lerp_tensor", "addcmul"])
    a = g.pick(is_float if kind.startswith("lerp") else any_t)
    if a is None:
        return False
    b, c = g.pick(), g.pick()
    if kind == "clamp_tensors":
        return g.add(Stmt("T.clamp({0}, {1}, {2})", [a, b, c], g.fresh(), kind), "exact")
    if kind == "lerp":
        w = g.rng.choice(["0.25", "0.5", "1.0", "0.75"])
        return g.add(Stmt("T.lerp({0}, {1}, %s)" % w, [a, b], g.fresh(), kind), "inexact",
                     moderate=True)
    if kind == "lerp_tensor":
        return g.add(Stmt("{0}.lerp({1}, {2})", [a, b, c], g.fresh(), kind), "inexact",
                     moderate=True)
    return g.add(Stmt("T.addcmul({0}, {1}, {2}, value=%s)" % g.rng.choice(["1", "2", "0.5"]),
                      [a, b, c], g.fresh(), kind), "inexact", moderate=True)


def normal(g) -> bool:
    a = g.pick(lambda t: is_float(t) and t.dim() > 0)
    if a is None:
        return False
    t = g.env_a[a]
    if g.rng.random() < 0.5:
        code = "F.layer_norm({0}, (%d,))" % t.shape[-1]
        return g.add(Stmt(code, [a], g.fresh(), "layer_norm"), "inexact", tame=True)
    code = "F.normalize({0}, dim=%d)" % _dim(g, t)
    return g.add(Stmt(code, [a], g.fresh(), "normalize"), "inexact", tame=True)


def ordering(g) -> bool:
    a = g.pick(lambda t: nonscalar(t) and not is_bool(t))
    if a is None:
        return False
    t, r = g.env_a[a], g.rng
    d = _dim(g, t)
    kind = r.choice(["topk", "sort", "cumprod"])
    if kind == "topk":
        k = r.randint(0, t.shape[d])
        code = "{0}.topk(%d, dim=%d)[0]" % (k, d)
        if r.random() < 0.3:
            code = "T.topk({0}, %d, dim=%d, largest=False).values" % (k, d)
    elif kind == "sort":
        code = "{0}.sort(dim=%d%s)[0]" % (d, r.choice(["", ", descending=True"]))
    else:
        code = "{0}.cumprod(%d)" % d
        return g.add(Stmt(code, [a], g.fresh(), kind), "inexact", moderate=True)
    return g.add(Stmt(code, [a], g.fresh(), kind), "exact")


def layout(g) -> bool:
    a = g.pick()
    if a is None:
        return False
    t, r = g.env_a[a], g.rng
    nd = t.dim()
    kind = r.choice(["tril", "triu", "repeat", "tile", "unbind", "split"])
    if kind in ("tril", "triu") and nd >= 2:
        code = "{0}.%s(%d)" % (kind, r.randint(-1, 1))
    elif kind == "repeat":
        reps = [r.choice([1, 2]) for _ in range(nd + r.randint(0, 1))] or [2]
        code = "{0}.repeat(%s)" % ", ".join(map(str, reps))
    elif kind == "tile":
        code = "T.tile({0}, (%s,))" % ", ".join(str(r.choice([1, 2]))
                                               for _ in range(r.randint(1, 2)))
    elif kind == "unbind" and nd:
        d = _dim(g, t)
        if not t.shape[d]:
            return False
        code = "{0}.unbind(%d)[%d]" % (d, r.choice([0, -1]))
    elif kind == "split" and nd:
        d = _dim(g, t)
        code = "T.split({0}, %d, %d)[%d]" % (r.randint(1, 3), d, r.choice([0, -1]))
        if t.shape[d] >= 2 and r.random() < 0.4:
            code = "{0}.split([1, %d], %d)[1]" % (t.shape[d] - 1, d)
    else:
        return False
    return g.add(Stmt(code, [a], g.fresh(), kind), "exact")
