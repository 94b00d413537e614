"""Oracle-table entries of the sorting, flipping, scattering, selecting and sampling ops of
issue 12 (ir/index_ops.py): test_ops_oracle.py merges `INDEX_OPS_TABLE` into its `TABLE`, so
these entries run like every other (and test_trace_ops.py traces them). Composites of other ops
(roll, diff, index_select, ...) are checked in test_new_ops.py instead: a table entry's graph
must hold the op it is filed under.
"""

from __future__ import annotations

import numpy as np
from test_ops_oracle import (
    F234,
    FLAT,
    MASK23,
    NUMERIC,
    X23,
    X234,
    Case,
    Reduce,
    Unary,
    cases,
    distinct,
    sample,
)
from torch_oracle import DTYPE_NAMES

from tracejit.ir import Op

TIES = np.array([[2, 0, 2, 1, 0], [1, 1, 0, 1, 0]])
SCATTER_INDEX = np.array([[0, 2, 1, 0], [2, 0, 0, 1]])  # no repeats within a column (dim 0)
SORT_SPECIAL = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, -1.0, 0.5, 1e30, -1e-30])


def _kw(L, kw: dict) -> dict:
    """Keyword arguments with numpy arrays as L tensors (to_lib converts positional ones)."""
    return {k: L.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}


def _scatter_cases(dtype: str) -> list[Case]:
    x, src = sample(dtype, (3, 4)), sample(dtype, (2, 4), seed=1)
    calls = {
        "src": lambda L, x, i, s: x.scatter(0, i, s),
        "src-function": lambda L, x, i, s: L.scatter(x, 0, i, src=s),
        "value": lambda L, x, i, s: x.scatter(0, i, 2),
        "value-kw": lambda L, x, i, s: L.scatter(x, 0, i, value=-1.5),
        "inplace": lambda L, x, i, s: (x.scatter_(0, i, s), x),
        "dim1": lambda L, x, i, s: x.scatter(1, i.T[:3, :2] % 4, s.T[:3, :2]),
        "add": lambda L, x, i, s: x.scatter(0, i, s, reduce="add"),
        "multiply": lambda L, x, i, s: x.scatter(0, i, s, reduce="multiply"),
        "scatter_add": lambda L, x, i, s: x.scatter_add(0, i % 2, s),
        "scatter_add_": lambda L, x, i, s: (x.scatter_add_(-2, i, s), x),
        "narrow-index": lambda L, x, i, s: x.scatter(0, i[:1, :2], s),
        **{f"reduce-{r}-{inc}": (lambda L, x, i, s, r=r, inc=inc:
                                 x.scatter_reduce(0, i % 2, s, r, include_self=inc))
           for r in ("sum", "prod", "mean", "amax", "amin") for inc in (True, False)},
        "index_add": lambda L, x, i, s: x.index_add(0, i[0, :2], s),
        "index_add_-alpha": lambda L, x, i, s: (x.index_add_(0, i[1, :2] % 1, s, alpha=2), x),
        "index_copy": lambda L, x, i, s: x.index_copy(0, i[0, :2], s),
        "index_copy_": lambda L, x, i, s: (x.index_copy_(0, i[1, :2], s), x),
        "index_fill": lambda L, x, i, s: x.index_fill(1, i[0], 1),
        "index_fill_": lambda L, x, i, s: (x.index_fill_(0, i[1, :2], 0), x),
    }
    return [Case(f"{dtype}-{name}", fn, (x, SCATTER_INDEX, src), rtol=1e-5)
            for name, fn in calls.items()]


SCATTER_ERRORS = {
    "dtype-mismatch": lambda L, x, i: x.scatter(0, i, L.ones(2, 4, dtype=L.float64)),
    "float-index": lambda L, x, i: x.scatter(0, i.float(), 1.0),
    "index-ndim": lambda L, x, i: x.scatter(0, i[0], 1.0),
    "index-too-big": lambda L, x, i: x.scatter(1, L.zeros(4, 5, dtype=L.int64), 1.0),
    "out-of-bounds": lambda L, x, i: x.scatter(0, i + 2, 1.0),
    "negative": lambda L, x, i: x.scatter(0, i - 1, 1.0),
    "bad-dim": lambda L, x, i: x.scatter(2, i, 1.0),
    "bad-reduce": lambda L, x, i: x.scatter(0, i, 1.0, reduce="mean"),
    "int32-index": lambda L, x, i: x.scatter(0, i.int(), 1.0),
    "empty-index": lambda L, x, i: x.scatter(0, i[:0], 1.0),
    "0d": lambda L, x, i: L.tensor(1.0).scatter(0, L.tensor(0), 5.0),
    "index_add-count": lambda L, x, i: x.index_add(0, i[0], L.ones(2, 4)),
    "index_add-dtype": lambda L, x, i: x.index_add(0, i[0, :2], L.ones(2, 4, dtype=L.float64)),
    "index_add-oob": lambda L, x, i: x.index_add(0, L.tensor([0, 3]), L.ones(2, 4)),
}

PROBS = np.array([[0.1, 0.0, 0.5, 0.4], [0.0, 0.0, 1.0, 2.0]], np.float32)


def empty_skips_dim_check(dtype: str, shape, kw) -> str | None:
    n = max(len(shape), 1)
    if 0 in shape and "dim" in kw and not -n <= kw["dim"] < n:
        return "torch's cummax/cummin return early on empty inputs, before checking dim"
    return None


SEQ = np.array([[1, 3, 5, 7], [-2, 0, 0, 9]])  # sorted rows


INDEX_OPS_TABLE: dict[Op, list] = {
    Op.ARGSORT: [
        Reduce(lambda L, x, **kw: x.argsort(**kw), dims="int", keepdim=False, distinct=True,
               dtypes=NUMERIC),
        Reduce(lambda L, x, **kw: L.sort(x, **kw, descending=True), dims="int", keepdim=False,
               distinct=True, dtypes=NUMERIC),
        Reduce(lambda L, x, **kw: L.sort(x, **kw, stable=True), dims="int", keepdim=False),
        Reduce(lambda L, x, **kw: x.sort(**kw, descending=True, stable=True), dims="int",
               keepdim=False),
        Reduce(lambda L, x, **kw: L.argsort(x, **kw, stable=True, descending=True), dims="int",
               keepdim=False),
        Reduce(lambda L, x, **kw: x.topk(2, **kw), dims="int", keepdim=False, distinct=True),
        Reduce(lambda L, x, **kw: L.topk(x, 1, **kw, largest=False), dims="int", keepdim=False,
               distinct=True),
        *cases("sort-special", lambda L, x, d: x.sort(descending=d, stable=True),
               [(SORT_SPECIAL, False), (SORT_SPECIAL, True),
                (SORT_SPECIAL.astype("float32"), True)]),
        Case("msort", lambda L, x: L.msort(x), (TIES.T.copy(),)),
        Case("msort-method", lambda L, x: x.msort(), (distinct("float32", (3, 2)),)),
        Case("sort-tuple-unpack", lambda L, x: tuple(L.sort(x, dim=0, stable=True)), (TIES,)),
        *cases("topk", lambda L, x, k, kw: L.topk(x, k, **kw), [
            (distinct("float32", (3, 4)), 4, {}), (distinct("int64", (3, 4)), 0, {"dim": 0}),
            (distinct("float32", (3, 4)), 5, {}), (distinct("float32", (3, 4)), -1, {}),
            (np.float32(3), 1, {}), (np.float32(3), 0, {}), (np.float32(3), 2, {}),
            (distinct("int32", (5,)), 3, {"largest": False, "sorted": True}),
            (SORT_SPECIAL, 3, {}), (SORT_SPECIAL, 2, {"largest": False}),
        ]),
    ],
    Op.FLIP: [
        Reduce(lambda L, x, dim=(): x.flip(dim), keepdim=False),
        Reduce(lambda L, x, dim=(): L.flip(x, dim if isinstance(dim, (tuple, list)) else (dim,)),
               keepdim=False),
        Case("flip-args", lambda L, x: x.flip(0, 2), (X234,)),
        *cases("rot90", lambda L, x, k, dims: L.rot90(x, k, dims), [
            (X23, 1, (0, 1)), (X23, -1, (1, 0)), (X234, 2, (0, 2)), (X234, 3, (2, 1)),
            (X234, 5, (-1, 0)), (X23, 1, (0, 0)), (X23, 1, (0, 2)),
            (FLAT, 1, (0, 1)), (X23, 1, (0,)),
        ]),
        Case("rot90-method", lambda L, x: x.rot90(), (F234,)),
        *cases("fliplr", lambda L, x: L.fliplr(x), [(X23,), (X234,), (FLAT,)]),
        *cases("flipud", lambda L, x: x.flipud(), [(X23,), (np.float32(2),)]),
    ],
    Op.CUMPROD: [
        Reduce(lambda L, x, **kw: x.cumprod(**kw), dims="int", keepdim=False, rtol=1e-5),
        Reduce(lambda L, x, **kw: L.cumprod(x, **kw, dtype=L.float64), dims="int",
               keepdim=False),
        Case("cumprod_", lambda L, x: (x.cumprod_(1), x), (F234,), rtol=1e-5),
    ],
    Op.CUMARGMAX: [
        Reduce(lambda L, x, **kw: x.cummax(**kw), dims="int", keepdim=False,
               deviation=empty_skips_dim_check),
        Case("cummax-special", lambda L, x: L.cummax(x, 0), (SORT_SPECIAL,)),
        Case("cummax-ties", lambda L, x: L.cummax(x, 1), (TIES,)),
    ],
    Op.CUMARGMIN: [
        Reduce(lambda L, x, **kw: L.cummin(x, **kw), dims="int", keepdim=False,
               deviation=empty_skips_dim_check),
        Case("cummin-special", lambda L, x: x.cummin(-1), (SORT_SPECIAL[::-1].copy(),)),
        Case("cummin-ties", lambda L, x: x.cummin(0), (TIES,)),
    ],
    Op.SCATTER: [c for dtype in DTYPE_NAMES for c in _scatter_cases(dtype)]
    + [Case(f"scatter-{name}", fn, (F234[0].copy(), SCATTER_INDEX))
       for name, fn in SCATTER_ERRORS.items()],
    Op.MASKED_SCATTER: [
        *cases("masked_scatter", lambda L, x, m, src: x.masked_scatter(m, src), [
            (X23, MASK23, np.arange(10, dtype=np.float32)),
            (X23, MASK23[0], -np.arange(5, dtype=np.float32).reshape(5, 1)),
            (X23[0], MASK23, np.arange(6, dtype=np.float32)), (X23, np.array(True), X23.T + 1),
            (X23, MASK23, np.arange(2, dtype=np.float32)), (X23, MASK23.astype(np.int64), X23),
            (X23, MASK23, X23.astype(np.int64)), (X23, MASK23[:, :2], X23),
            (X234, X234 % 3 == 0, -X234), (MASK23, ~MASK23, np.ones(6, bool)),
        ]),
        Case("masked_scatter_", lambda L, x, m, src: (x.masked_scatter_(m, src), x),
             (F234, F234 > 0, -F234)),
        Case("masked_scatter_-grows", lambda L, x, m, src: x.masked_scatter_(m, src),
             (X23[0].copy(), MASK23, X23)),
    ],
    Op.NONZERO: [
        Unary(lambda L, x: x.nonzero(), numpy=np.argwhere),
        Unary(lambda L, x: L.nonzero(x, as_tuple=True)),
        Unary(lambda L, x: L.argwhere(x), numpy=np.argwhere),
        Unary(lambda L, x: L.where(x != 0)),
        Case("nonzero-2d-mask", lambda L, x: L.where(x), (MASK23,)),
    ],
    Op.MULTINOMIAL: [
        *cases("multinomial", lambda L, p, k, r: L.multinomial(p, k, r), [
            (PROBS, 2, False), (PROBS[0], 3, False), (PROBS, 6, True), (PROBS, 5, False),
            (PROBS, 0, True), (PROBS, -1, True), (np.float32(1), 1, True),
            (np.ones((2, 2, 2), np.float32), 1, True), (np.array([1, 2]), 1, True),
            (np.array([-1.0, 2.0]), 1, True), (np.array([0.0, 0.0]), 1, True),
            (np.array([np.nan, 1.0]), 1, True), (np.array([np.inf, 1.0]), 1, True),
            (np.zeros((0, 3), np.float32), 1, False), (np.zeros((2, 0), np.float32), 1, False),
            (np.array([1.0, 1.0]), 2, False),
        ], values=False),
        Case("multinomial-method", lambda L, p: p.multinomial(4, replacement=True), (PROBS,),
             values=False),
        Case("multinomial-certain", lambda L, p: L.multinomial(p, 3, True),
             (np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 2.5]]),)),
        Case("multinomial-all", lambda L, p: L.multinomial(p, 2).sort().values,
             (np.array([[0.3, 0.7], [5.0, 1.0]]),)),
    ],
    Op.SEARCHSORTED: [
        *cases("searchsorted", lambda L, s, v, kw: L.searchsorted(s, v, **_kw(L, kw)), [
            (SEQ[0], np.array([3, 6, 9, 0]), {}),
            (SEQ[0], np.array([3, 6, 9, 0]), {"right": True}),
            (SEQ[0], np.array([[3, 6], [1, 7]]), {"side": "right"}),
            (SEQ[0], np.array([2.5, 7.0]), {}),
            (SEQ.astype(np.float64), np.array([[3, 6, 9], [0, 0, -5]]), {}),
            (SEQ, np.array([[3, 6, 9], [0, 0, -5]]), {"right": True}),
            (SEQ, np.array([3, 6, 9]), {}),
            (SEQ[0], np.array([3, 6]), {"out_int32": True}),
            (SEQ[0], 4, {}),
            (SEQ[0], np.array([3, 6]), {"side": "middle"}),
            (SEQ[0], np.array([3, 6]), {"side": "left", "right": True}),
        ]),
        Case("searchsorted-sorter", lambda L, s, v, order: L.searchsorted(s, v, sorter=order),
             (SEQ[0, ::-1].copy(), np.array([3, 6]), np.array([3, 2, 1, 0]))),
        *cases("bucketize", lambda L, v, b, kw: L.bucketize(v, L.tensor(b), **kw), [
            (np.array([3, 6, 9]), [1, 3, 5, 7], {}), (np.array([3, 6, 9]), [1, 3, 5, 7],
                                                      {"right": True}),
            (np.array([[0.5], [3.0]]), [1.0, 3.0], {"out_int32": True}),
            (np.array([3, 6, 9]), [[1, 3, 5, 7]], {}),
        ]),
    ],
    Op.UNIQUE: [
        Unary(lambda L, x: L.unique(x), numpy=lambda x: np.unique(x, equal_nan=False)),
        Unary(lambda L, x: x.unique(return_inverse=True, return_counts=True)),
        Unary(lambda L, x: L.unique(x, sorted=False, return_counts=True)),
        *cases("unique-dim", lambda L, x, d: L.unique(x, dim=d, return_inverse=True,
                                                      return_counts=True),
               [(X23, 0), (X234 % 2, 1), (X234 % 2, -1), (MASK23, 0), (X23, 2),
                (np.float32(1), 0)]),
        Case("unique-repeats", lambda L, x: L.unique(x % 3, return_inverse=True), (X234,)),
    ],
}
