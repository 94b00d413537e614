"""Compiled reductions and scans against the reference interpreter: sum, mean, prod, amax, amin,
all, any over every subset of dims (leading, middle, trailing, several, all, none) with and
without keepdim, argmax/argmin over one dim or all, cumsum along any dim; every dtype each
takes, contiguous and strided inputs, sizes around the thread split, and fused groups with a
prologue and epilogue over leading dims.

Tolerances: integer and bool results, amax/amin, argmax/argmin, all/any and cumsum are exact
(cumsum adds in element order, as numpy does; amax/amin may differ from numpy only in the sign
of a zero result). Float sum, mean and prod differ from numpy's pairwise order by rounding:
|compiled - numpy| <= 2 n eps sum(|x|) for sums (divided by the count for means) and
2 n eps |prod| for products, n the number of elements reduced, eps the dtype's epsilon.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from test_kernels_elementwise import compare, compiled, one_op_graph, sample

from tracejit.ir import OPS, DType, Op, TensorType
from tracejit.ir.parser import parse
from tracejit.runtime.eager import interpret

SHAPE = (3, 4, 5)
DIMS = [d for k in range(4) for d in itertools.combinations(range(3), k)]
GROUPED = (Op.SUM, Op.MEAN, Op.PROD, Op.AMAX, Op.AMIN, Op.ALL, Op.ANY)
ROUNDED = (Op.SUM, Op.MEAN, Op.PROD)


def by_value(items):
    return sorted(items, key=lambda d: d.value)


def values(dtype: DType, shape, seed: int = 0) -> np.ndarray:
    """sample() without the huge floats that would make float sums order-dependent overflow."""
    x = sample(dtype, shape, seed)
    if dtype.is_floating_point:
        huge = 1e3 if dtype is DType.float16 else 1e9  # float16 overflows past 65504
        x = np.where(np.abs(x.astype(np.float64)) > huge, 1.5, x).astype(dtype.np)
    return x


def strided(x: np.ndarray, kind: int) -> np.ndarray:
    """x's values with other strides: transposed storage, reversed, or every other element."""
    if kind == 0 or not x.ndim:
        return x
    if kind == 1:
        return np.asfortranarray(x)
    if kind == 2:
        return np.flip(np.flip(x).copy())
    wide = np.zeros((*x.shape[:-1], 2 * x.shape[-1]), x.dtype)
    wide[..., ::2] = x
    return wide[..., ::2]


def check_reduction(op: Op, x: np.ndarray, attrs: dict) -> None:
    graph = one_op_graph(op, [TensorType(DType.from_numpy(x.dtype), x.shape)], attrs)
    if op not in ROUNDED or x.dtype.kind != "f":
        if op is Op.CUMSUM:
            compare(graph, [x])
            return
        want, got = interpret(graph, [x])[0], compiled(graph)([x])[0]
        assert (got.dtype, got.shape) == (want.dtype, want.shape)
        np.testing.assert_array_equal(got, want, err_msg=str(graph))  # -0.0 == 0.0, nan == nan
        return
    want, got = interpret(graph, [x])[0], compiled(graph)([x])[0]
    assert (got.dtype, got.shape) == (want.dtype, want.shape)
    dims, keep = attrs["dims"], attrs["keepdim"]
    n = max(1, int(np.prod([x.shape[d] for d in dims])))
    eps = np.finfo(x.dtype).eps
    with np.errstate(all="ignore"):
        if op is Op.PROD:
            bound = 2 * n * eps * np.abs(want.astype(np.float64))
        else:
            bound = 2 * n * eps * np.sum(np.abs(x.astype(np.float64)), axis=dims, keepdims=keep)
            bound = bound / n if op is Op.MEAN else bound
        error = np.abs(got.astype(np.float64) - want.astype(np.float64))
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    assert np.all(same | (error <= bound)), f"{error.max()} over {graph}"


CASES = [(op, dtype) for op in GROUPED for dtype in by_value(OPS[op].dtypes)]


@pytest.mark.parametrize(("op", "dtype"), CASES, ids=[f"{o.value}-{d.value}" for o, d in CASES])
def test_reductions_over_every_subset_of_dims(op, dtype):
    for k, dims in enumerate(DIMS):
        x = strided(values(dtype, SHAPE, seed=k), k % 4)
        check_reduction(op, x, {"dims": dims, "keepdim": k % 3 == 1})


ARG_CASES = [(op, dtype) for op in (Op.ARGMAX, Op.ARGMIN) for dtype in by_value(OPS[op].dtypes)]


@pytest.mark.parametrize(("op", "dtype"), ARG_CASES,
                         ids=[f"{o.value}-{d.value}" for o, d in ARG_CASES])
def test_arg_reductions_pick_the_first_extreme_or_the_first_nan(op, dtype):
    x = values(dtype, SHAPE)
    x.reshape(-1)[::3] = x.reshape(-1)[1]  # ties: the first one wins
    for k, (dim, keep) in enumerate(itertools.product((None, 0, 1, 2), (False, True))):
        check_reduction(op, strided(x, k % 4), {"dim": dim, "keepdim": keep})


@pytest.mark.parametrize("dtype", by_value(DType), ids=lambda d: d.value)
def test_cumsum_along_each_dim_matches_numpy_exactly(dtype):
    for dim in range(3):
        check_reduction(Op.CUMSUM, strided(sample(dtype, SHAPE, seed=dim), dim + 1),
                        {"dim": dim})


@pytest.mark.parametrize("shape", [(), (0,), (4, 0), (0, 3), (1, 1, 1)], ids=str)
def test_empty_and_zero_dim_inputs(shape):
    ndim = len(shape)
    for dims in {(), tuple(range(ndim)), (0,) * bool(ndim)}:
        for op in (Op.SUM, Op.PROD, Op.ALL, Op.ANY, Op.MEAN):
            check_reduction(op, values(DType.float32, shape), {"dims": dims, "keepdim": False})
    check_reduction(Op.CUMSUM, values(DType.int32, shape), {"dim": 0})
    if not ndim or 0 not in shape:
        check_reduction(Op.ARGMAX, values(DType.float64, shape), {"dim": None, "keepdim": True})


def test_nan_propagates_through_amax_amin_and_argmax_like_numpy():
    x = np.array([[1, np.nan, 3, np.nan], [-np.inf, -1, -2, -3], [np.nan] * 4, [2, 2, -0.0, 0]],
                 np.float32)
    for op, dims in itertools.product((Op.AMAX, Op.AMIN), ((0,), (1,), (0, 1))):
        check_reduction(op, x, {"dims": dims, "keepdim": False})
    for op, dim in itertools.product((Op.ARGMAX, Op.ARGMIN), (None, 0, 1)):
        check_reduction(op, x, {"dim": dim, "keepdim": False})


SPLIT_SHAPES = [(511, 256), (512, 256), (513, 257), (3, 50000)]


@pytest.mark.parametrize("shape", SPLIT_SHAPES, ids=str)
def test_reductions_around_the_thread_split_on_strided_inputs(shape):
    base = values(DType.float32, (shape[0], 2 * shape[1]))
    x = base[::-1, ::2]  # negative and doubled strides
    for dims in ((0,), (1,), (0, 1)):
        check_reduction(Op.SUM, x, {"dims": dims, "keepdim": False})
        check_reduction(Op.AMAX, x, {"dims": dims, "keepdim": True})
    i = values(DType.int32, shape).T  # transposed
    check_reduction(Op.SUM, i, {"dims": (1,), "keepdim": False})
    check_reduction(Op.ANY, i > 40, {"dims": (0,), "keepdim": False})
    check_reduction(Op.ARGMIN, x, {"dim": 0, "keepdim": False})
    check_reduction(Op.CUMSUM, x, {"dim": 0})


LEADING = """graph @g(%x: {t}[{n},{m}], %w: {t}[{m}]) -> ({t}[1,{m}], {t}[{m}], {t}[1,{m}]) {{
  %0, %1, %2 = fused(%x, %w) : {t}[1,{m}], {t}[{m}], {t}[1,{m}] {{
  ^(%3: {t}[{n},{m}], %4: {t}[{m}]):
    %5 = mul(%3, %4) : {t}[{n},{m}]
    %6 = amax(%5) {{dims = [0], keepdim = true}} : {t}[1,{m}]
    %7 = sub(%5, %6) : {t}[{n},{m}]
    %8 = exp(%7) : {t}[{n},{m}]
    %9 = sum(%8) {{dims = [0], keepdim = true}} : {t}[1,{m}]
    %10 = log(%9) : {t}[1,{m}]
    %11 = amin(%5) {{dims = [0], keepdim = false}} : {t}[{m}]
    %12 = add(%10, %6) : {t}[1,{m}]
    yield(%12, %11, %9)
  }}
  return(%0, %1, %2)
}}
"""


@pytest.mark.parametrize(("n", "m"), [(1, 1), (6, 9), (300, 700), (700, 300)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_group_reducing_a_leading_dim_with_prologue_and_epilogue(dtype, n, m):
    """logsumexp over dim 0: the kept dim is innermost, in tiles; values of the reduced row
    (the max) are read back by the full-shaped prologue of the next reduction."""
    graph = parse(LEADING.format(t=dtype, n=n, m=m))
    x = values(DType(dtype), (n, m)).T.copy().T  # Fortran order
    compare(graph, [x, values(DType(dtype), (m,), seed=1)],
            rtol=1e-5 if dtype == "float32" else 1e-12)


MIDDLE = """graph @g(%x: float32[4,6,5], %b: bool[4,6,5]) -> (float32[4,1,5], bool[4,5]) {
  %0, %1 = fused(%x, %b) : float32[4,1,5], bool[4,5] {
  ^(%2: float32[4,6,5], %3: bool[4,6,5]):
    %4 = mean(%2) {dims = [1], keepdim = true} : float32[4,1,5]
    %5 = sub(%2, %4) : float32[4,6,5]
    %6 = mul(%5, %5) : float32[4,6,5]
    %7 = mean(%6) {dims = [1], keepdim = true} : float32[4,1,5]
    %8 = rsqrt(%7) : float32[4,1,5]
    %9 = constant() {value = dense<float32[]: 0.0>} : float32[]
    %10 = gt(%2, %9) : bool[4,6,5]
    %11 = logical_not(%3) : bool[4,6,5]
    %12 = bitwise_or(%10, %11) : bool[4,6,5]
    %13 = all(%12) {dims = [1], keepdim = false} : bool[4,5]
    yield(%8, %13)
  }
  return(%0, %1)
}
"""


def test_a_group_reducing_a_middle_dim_twice():
    """Variance over dim 1 (the mean read back by the second pass) and an `all` beside it."""
    graph = parse(MIDDLE)
    compare(graph, [values(DType.float32, (4, 6, 5)), sample(DType.bool, (4, 6, 5))], rtol=1e-5)


def test_integer_sums_and_products_widen_to_int64_and_wrap_like_numpy():
    x = np.full((4, 70), np.iinfo(np.int32).max, np.int32)
    for op, dims in itertools.product((Op.SUM, Op.PROD), ((0,), (1,), (0, 1))):
        check_reduction(op, x, {"dims": dims, "keepdim": False})
