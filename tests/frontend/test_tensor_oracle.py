"""The Tensor API beyond single ops, against torch: composite reductions (var, std, norm,
logsumexp), in-place ops and views, creation from data, random creation, and conversions.

Single ops and their dtype x shape grids are generated from the op table in
test_ops_oracle.py; this file holds the behaviours that are about the API around them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch_oracle import DTYPE_NAMES, check_same, collect_failures, lib_dtype

import tracejit as tj

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # torch's var(): dof <= 0

SHAPES = [(), (5,), (2, 3), (0, 3), (2, 3, 4)]


def data(dtype: str, shape, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng([seed, *shape])
    if dtype == "bool":
        return rng.random(shape) < 0.5
    return (rng.uniform(-3, 3, shape) if "float" in dtype else rng.integers(-4, 5, shape)).astype(
        dtype
    )


def dims_of(ndim: int) -> list:
    n = max(ndim, 1)
    return [None, *range(-n - 1, n + 1), (0, -1), (-1, 0), ()]


def _assert_no_failures(checks):
    failures = collect_failures(checks)
    assert not failures, f"{len(failures)} failing:\n" + "\n".join(failures)


# --- composite reductions ---------------------------------------------------------------------

INF = math.inf
COMPOSITES = {
    "var": lambda L, x, **kw: x.var(**kw),
    "var-correction-0": lambda L, x, **kw: x.var(**kw, correction=0),
    "var-correction-2": lambda L, x, **kw: L.var(x, **kw, correction=2),
    "var-unbiased-False": lambda L, x, **kw: x.var(**kw, unbiased=False),
    "std": lambda L, x, **kw: x.std(**kw),
    "std-unbiased-False": lambda L, x, **kw: L.std(x, **kw, unbiased=False),
    "std-correction-0": lambda L, x, **kw: x.std(**kw, correction=0),
    "norm": lambda L, x, **kw: x.norm(**kw),
    "norm-1": lambda L, x, **kw: x.norm(1, **kw),
    "norm-inf": lambda L, x, **kw: x.norm(p=INF, **kw),
    "norm-neg-inf": lambda L, x, **kw: L.norm(x, -INF, **kw),
    "norm-fro": lambda L, x, **kw: x.norm(p="fro", **kw),
    "norm-0": lambda L, x, **kw: x.norm(p=0, **kw),
    "norm-3": lambda L, x, **kw: x.norm(p=3, **kw),
    "norm-float64": lambda L, x, **kw: x.norm(**kw, dtype=L.float64),
    "logsumexp": lambda L, x, **kw: x.logsumexp(**kw),
    "logsumexp-function": lambda L, x, **kw: L.logsumexp(x, **kw),
}


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("name", COMPOSITES)
def test_composite_reductions(name: str, dtype: str):
    call = COMPOSITES[name]

    def checks():
        for shape in SHAPES:
            x = data(dtype, shape)
            for dim in dims_of(len(shape)):
                if name.startswith("norm-fro") and isinstance(dim, tuple) and len(dim) != 2:
                    continue  # torch's 'fro' wants one or two dims
                if name.startswith("logsumexp") and dim == ():
                    continue  # DEVIATIONS: torch's logsumexp(dim=()) fails on its own out=
                for kw in [{}] if dim is None else ({"dim": dim}, {"dim": dim, "keepdim": True}):
                    fn = lambda L, x, kw=kw: call(L, x, **kw)  # noqa: E731
                    yield f"{shape} {kw}", lambda x=x, fn=fn: check_same(fn, x, rtol=1e-5)

    _assert_no_failures(checks())


def test_logsumexp_infinities():
    x = np.array([[-INF, -INF], [1.0, INF], [-INF, 0.0], [np.nan, 1.0]], np.float32)
    check_same(lambda L, x: x.logsumexp(1), x)
    check_same(lambda L, x: x.logsumexp(0, keepdim=True), x)


def test_var_legacy_positional_unbiased():
    x = data("float32", (3, 4))
    check_same(lambda L, x: x.var(False), x)
    check_same(lambda L, x: x.std(True), x)
    check_same(lambda L, x: x.var(unbiased=True, correction=1), x)


# --- in-place ops and views -------------------------------------------------------------------

INPLACE = {
    "add_": lambda x, y: x.add_(y),
    "add_-alpha": lambda x, y: x.add_(y, alpha=2),
    "sub_": lambda x, y: x.sub_(y),
    "mul_": lambda x, y: x.mul_(y),
    "div_": lambda x, y: x.div_(y),
    "div_-floor": lambda x, y: x.div_(y, rounding_mode="floor"),
    "pow_": lambda x, y: x.pow_(y),
    "+=": lambda x, y: x.__iadd__(y),
    "-=": lambda x, y: x.__isub__(y),
    "*=": lambda x, y: x.__imul__(y),
    "/=": lambda x, y: x.__itruediv__(y),
    "//=": lambda x, y: x.__ifloordiv__(y),
    "%=": lambda x, y: x.__imod__(y),
    "&=": lambda x, y: x.__iand__(y),
    "clamp_": lambda x, y: x.clamp_(min=y),
    "copy_": lambda x, y: x.copy_(y),
    "masked_fill_": lambda x, y: x.masked_fill_(y > 0, 1),
}
OTHERS = {
    "same-shape": lambda t: data(t, (2, 3), seed=1),
    "row": lambda t: data(t, (3,), seed=2),
    "0-d": lambda t: data(t, (), seed=3),
    "bigger": lambda t: data(t, (4, 2, 3), seed=4),
}


def _inplace(method):
    def fn(L, x, y):
        out = method(x, y)
        return out is x, x

    return fn


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("name", INPLACE)
def test_inplace(name: str, dtype: str):
    """Result written into self (castable dtype, self's shape), self returned; or torch's error."""
    method = _inplace(INPLACE[name])

    def checks():
        x = np.where(data(dtype, (2, 3)) == 0, 1, data(dtype, (2, 3))).astype(dtype)
        for other in DTYPE_NAMES:
            for kind, make in OTHERS.items():
                y = make(other)
                if other != "bool" and name in ("div_-floor", "//=", "%=", "pow_"):
                    y = np.abs(y) + (1 if other != "float32" else 0.5)  # no zero divisors
                yield f"{other} {kind}", lambda y=y: check_same(method, x, y)
        for scalar in (2, -1.5, True):
            if not (name == "pow_" and dtype == "bool" and scalar is True):  # see test_ops_oracle
                yield f"scalar {scalar!r}", lambda s=scalar: check_same(method, x, s)

    _assert_no_failures(checks())


@pytest.mark.parametrize("name", ["abs_", "neg_", "exp_", "sqrt_", "floor_", "round_",
                                  "sigmoid_", "relu_", "zero_", "logical_not_", "bitwise_not_"])
@pytest.mark.parametrize("dtype", DTYPE_NAMES)
def test_unary_inplace(name: str, dtype: str):
    check_same(lambda L, x: (getattr(x, name)() is x, x), np.abs(data(dtype, (2, 3))))


VIEWS = {
    "row": lambda L, b: b[0],
    "column": lambda L, b: b[:, 1],
    "strided": lambda L, b: b.view(6)[::2],
    "transpose": lambda L, b: b.T,
    "unsqueeze": lambda L, b: b.unsqueeze(0),
    "reshape": lambda L, b: b.reshape(3, 2),
    "narrow": lambda L, b: b.narrow(1, 1, 2),
    "split": lambda L, b: b.split(1)[1],
    "ellipsis": lambda L, b: b[..., None, 1:],
    "detach": lambda L, b: b.detach(),
    "expand": lambda L, b: b[:1].expand(4, 3),
}


@pytest.mark.parametrize("view", VIEWS)
def test_inplace_through_view_is_seen_by_base(view: str):
    def fn(L, base):
        v = VIEWS[view](L, base)
        v += 1
        v.mul_(2)
        v[..., :1] = -7
        return base, v

    check_same(fn, np.arange(6, dtype=np.float32).reshape(2, 3))


def test_setitem_writes_through_views_and_converts():
    def fn(L, x):
        x[0, 1:] = 2.9  # float into int: truncated
        x.T[0] = True
        x[x > 5] = -1
        row = x[1]
        row[...] = L.tensor([7, 8, 9], dtype=L.int32)
        return x

    check_same(fn, np.arange(6, dtype=np.int64).reshape(2, 3))


def test_base_writes_are_seen_by_views():
    def fn(L, base):
        v, t = base[1], base.t()
        base.add_(10)
        base[0, 0] = 0
        return v, t

    check_same(fn, np.arange(6, dtype=np.float64).reshape(2, 3))


# --- creation from data -----------------------------------------------------------------------

DATA = {
    "ints": [1, 2, 3], "floats": [1.5, -2.0], "bools": [True, False], "mixed-int-float": [1, 2.5],
    "mixed-bool-int": [True, 2], "nested": [[1, 2], [3, 4]], "empty": [], "empty-nested": [[]],
    "scalar-int": 7, "scalar-float": 2.5, "scalar-bool": False, "ragged": [[1, 2], [3]],
    "string": "abc", "None": None, "tuple": (1.0, 2.0),
    "np-float64": np.array([1.5, 2.5]), "np-float32": np.ones((2, 2), np.float32),
    "np-int32": np.arange(3, dtype=np.int32), "np-bool": np.array([True]),
    "np-scalar-float64": np.float64(1.5), "np-scalar-int32": np.int32(3),
    "list-of-np-float64": [np.float64(1.0), 2.0], "list-of-np-bool": [np.bool_(True)],
    "np-0d": np.array(3.0), "np-noncontiguous": np.arange(12.0).reshape(3, 4)[:, ::2],
    "overflow": [2**63],
}


@pytest.mark.parametrize("name", DATA)
def test_tensor_from_data(name: str):
    check_same(lambda L: L.tensor(DATA[name]))


@pytest.mark.parametrize("dtype", DTYPE_NAMES)
@pytest.mark.parametrize("name", ["floats", "ints", "bools", "nested", "np-float64"])
def test_tensor_from_data_with_dtype(name: str, dtype: str):
    check_same(lambda L: L.tensor(DATA[name], dtype=lib_dtype(L, dtype)))


def test_tensor_from_tensors():
    check_same(lambda L: L.tensor([L.tensor(1.5), L.tensor(2)]))
    check_same(lambda L: L.tensor(L.ones(2, dtype=L.int32)))


@pytest.mark.parametrize("make", ["as_tensor", "from_numpy"])
def test_numpy_memory_is_shared(make: str):
    """as_tensor and from_numpy alias the array (both ways); tensor() copies."""
    for lib in (tj, torch):
        array = np.arange(4, dtype=np.float64)
        shared, copied = getattr(lib, make)(array), lib.tensor(array)
        array[0] = 10
        shared[1] = 20
        shared.add_(1)
        assert shared.dtype == lib.float64
        assert array.tolist() == [11, 21, 3, 4] and shared.tolist() == array.tolist()
        assert copied.tolist() == [0, 1, 2, 3]


def test_as_tensor_converts_dtype_by_copying():
    for lib in (tj, torch):
        array = np.arange(3, dtype=np.float64)
        converted = lib.as_tensor(array, dtype=lib.float32)
        array[0] = 5
        assert converted.tolist() == [0, 1, 2] and converted.dtype == lib.float32
        same = lib.tensor([1, 2])
        assert lib.as_tensor(same) is same


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_default_dtype_steers_float_inference(dtype: str):
    def fn(L):
        saved = L.get_default_dtype()
        L.set_default_dtype(lib_dtype(L, dtype))
        try:
            return L.tensor([1.5]), L.zeros(2), L.arange(0.5, 2), L.tensor([1]) / 2, L.full((), 2.0)
        finally:
            L.set_default_dtype(saved)

    check_same(fn)


# --- random creation: torch's streams are not reproduced, so distributions are checked --------

def test_rand_is_uniform_on_unit_interval():
    tj.manual_seed(0)
    x = tj.rand(20000).numpy()
    assert x.dtype == np.float32 and x.min() >= 0 and x.max() < 1
    assert abs(x.mean() - 0.5) < 0.01 and abs(x.std() - math.sqrt(1 / 12)) < 0.01


def test_randn_is_standard_normal():
    tj.manual_seed(1)
    x = tj.randn(200, 100, dtype=tj.float64).numpy()
    assert x.shape == (200, 100) and x.dtype == np.float64
    assert abs(x.mean()) < 0.02 and abs(x.std() - 1) < 0.02


@pytest.mark.parametrize("args", [(10,), (-3, 4), (0, 1)])
def test_randint_covers_its_half_open_range(args):
    tj.manual_seed(2)
    x = tj.randint(*args, (5000,))
    low, high = (0, *args)[-2:]
    assert x.dtype == tj.int64
    assert set(x.tolist()) == set(range(low, high))


def test_manual_seed_makes_every_random_op_reproducible():
    def draw():
        return [f().tolist() for f in (lambda: tj.rand(3), lambda: tj.randn(2, 2),
                                       lambda: tj.randint(0, 100, (4,)), lambda: tj.randperm(6),
                                       lambda: tj.rand_like(tj.zeros(2)))]

    tj.manual_seed(1234)
    first = draw()
    tj.manual_seed(1234)
    assert draw() == first
    tj.manual_seed(4321)
    assert draw() != first
    assert tj.initial_seed() == 4321


def test_randperm_is_a_permutation():
    tj.manual_seed(3)
    p = tj.randperm(50)
    assert p.dtype == tj.int64 and sorted(p.tolist()) == list(range(50))


# --- conversions ------------------------------------------------------------------------------

CONVERSIONS = {
    "item-float": lambda L: L.tensor(2.5).item(),
    "item-int": lambda L: L.tensor([[3]]).item(),
    "item-bool": lambda L: L.tensor(True).item(),
    "item-int32": lambda L: L.tensor(4, dtype=L.int32).item(),
    "item-many": lambda L: L.tensor([1, 2]).item(),
    "item-empty": lambda L: L.tensor([]).item(),
    "tolist": lambda L: L.tensor([[1.5, 2.0], [3.0, 4.0]]).tolist(),
    "tolist-0d": lambda L: L.tensor(3).tolist(),
    "tolist-bool": lambda L: L.tensor([True, False]).tolist(),
    "float": lambda L: float(L.tensor([2.5])),
    "float-many": lambda L: float(L.tensor([1.0, 2.0])),
    "int": lambda L: int(L.tensor(-2.7)),
    "int-many": lambda L: int(L.tensor([1, 2])),
    "bool": lambda L: bool(L.tensor([0.0])),
    "bool-many": lambda L: bool(L.tensor([1, 1])),
    "bool-empty": lambda L: bool(L.tensor([])),
    "index": lambda L: [10, 20, 30][L.tensor(1)],
    "index-float": lambda L: [10, 20, 30][L.tensor(1.0)],
    "range": lambda L: list(range(L.tensor(3))),
    "len": lambda L: len(L.zeros(4, 2)),
    "len-0d": lambda L: len(L.tensor(1.0)),
    "iter": lambda L: list(L.arange(6).reshape(3, 2)),
    "iter-0d": lambda L: iter(L.tensor(1.0)),
    "contains": lambda L: (2 in L.tensor([1, 2]), 5 in L.tensor([1, 2])),
    "to-dtype": lambda L: L.tensor([1.7, -1.7]).to(L.int32),
    "to-same-is-self": lambda L: (lambda x: x.to(L.float32) is x)(L.tensor([1.0])),
    "to-copy": lambda L: (lambda x: x.to(L.float32, copy=True) is x)(L.tensor([1.0])),
    "to-other": lambda L: L.tensor([1.5]).to(L.tensor([1], dtype=L.int32)),
    "to-device-dtype": lambda L: L.tensor([1.5]).to("cpu", L.float64),
    "to-kwargs": lambda L: L.tensor([1.5]).to(device="cpu", dtype=L.bool),
    "float()": lambda L: L.tensor([1, 2]).float(),
    "double()": lambda L: L.tensor([True]).double(),
    "int()": lambda L: L.tensor([1.9, -1.9]).int(),
    "long()": lambda L: L.tensor([2.5]).long(),
    "bool()": lambda L: L.tensor([0.0, 0.5]).bool(),
    "type_as": lambda L: L.tensor([1]).type_as(L.ones(1)),
    "is_floating_point": lambda L: (L.ones(1).is_floating_point(), L.ones(1, dtype=L.int64)
                                    .is_floating_point()),
    "metadata": lambda L: (lambda x: (x.shape, x.size(), x.size(-1), x.dim(), x.ndim, x.numel(),
                                      x.stride(), x.is_contiguous(), x.element_size()))(
        L.zeros(2, 3, 4, dtype=L.float64).transpose(0, 2)),
    "size-bad-dim": lambda L: L.zeros(2).size(1),
    "dtype-of-dtype": lambda L: (L.float32.is_floating_point, L.int64.is_floating_point),
}


@pytest.mark.parametrize("name", CONVERSIONS)
def test_conversion(name: str):
    check_same(lambda L: CONVERSIONS[name](L))


def test_numpy_shares_memory_with_the_tensor():
    for lib in (tj, torch):
        x = lib.zeros(3)
        array = x.numpy()
        x.add_(1)
        array[2] = 5
        assert array.tolist() == [1, 1, 5] and x.tolist() == [1, 1, 5]
        assert array.dtype == np.float32
