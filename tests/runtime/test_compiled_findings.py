"""Compiled-only (llvm backend) wrong answers found by differential fuzzing, each against the
reference interpreter (`backend="eager"`), bit for bit where the compiled result is promised
to be (elementwise ops, products, extremes), and against PyTorch where torch is the oracle.

- a fused reduction with an epilogue read a group input of the dropped row shape with the
  strides of S's trailing dims (every row read row 0 when a size-1 dim was involved);
- `x ** e` by a scalar exponent skipped numpy's fast paths (sqrt for 0.5, 1/x for -1, ...);
- products were reassociated across lanes, so 0 * overflow gave NaN where numpy gives 0;
- float32 var/std must accumulate in float64, as torch does.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import tracejit


def _run(f, *arrays, backend=None):
    inputs = [tracejit.tensor(a) for a in arrays]
    kwargs = {} if backend is None else {"backend": backend}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        out = tracejit.trace(f, *inputs, **kwargs)(*inputs)
    return [o.numpy() for o in out] if isinstance(out, tuple) else out.numpy()


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shapes, dtypes and bits (so -0.0 != 0.0), any NaN equal to any NaN."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind != "f":
        return a.tobytes() == b.tobytes()
    nan = np.isnan(a)
    return bool((nan == np.isnan(b)).all()) and a[~nan].tobytes() == b[~nan].tobytes()


def _close_powers(a: np.ndarray, b: np.ndarray) -> bool:
    """Powers through the C library's pow against numpy's own (vectorized, within an ulp or
    two): the same bits wherever either is 0, inf or NaN, else within 4 ulps."""
    a, b = np.asarray(a), np.asarray(b)
    special = ~np.isfinite(a) | ~np.isfinite(b) | (a == 0) | (b == 0)
    if not _same_bits(a[special], b[special]):
        return False
    eps = np.finfo(a.dtype).eps
    return bool(np.all(np.abs(a[~special] - b[~special]) <= 4 * eps * np.abs(b[~special])))


def assert_compiled_is_reference(f, *arrays, exact: bool = True) -> None:
    compiled, reference = _run(f, *arrays), _run(f, *arrays, backend="eager")
    for c, r in zip(*(x if isinstance(x, list) else [x] for x in (compiled, reference))):
        if exact:
            assert _same_bits(c, r), f"compiled {c!r} != reference {r!r}"
        else:
            assert c.shape == r.shape and c.dtype == r.dtype
            np.testing.assert_allclose(c, r, rtol=1e-5, atol=1e-6, equal_nan=True)


def _data(shape, dtype, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.uniform(-4, 4, shape).astype(dtype)
    return rng.integers(-5, 6, shape).astype(dtype)


# --- 1. fused reduction + elementwise reads the right rows ---------------------------------------

REDUCE = {
    "sum": lambda x, d, k: x.sum(d, keepdim=k),
    "prod": lambda x, d, k: x.prod(d, keepdim=k),
    "amax": lambda x, d, k: x.amax(d, keepdim=k),
    "amin": lambda x, d, k: x.amin(d, keepdim=k),
    "mean": lambda x, d, k: x.mean(d, keepdim=k),
}
COMBINE = {
    "add": lambda r, y: r + y,
    "minimum": lambda r, y: tracejit.minimum(r, y),
    "mul_sub": lambda r, y: r * y - y,
    "y_first": lambda r, y: y - r,
}


def test_issue_repro_sum_of_size_one_rows_plus_y() -> None:
    """x.sum(-1) + y with x (3, 1, 1) and y (3, 1): torch's answer, not y[0] on every row."""
    x = np.arange(3, dtype=np.float32).reshape(3, 1, 1)
    y = np.array([[10.0], [20.0], [30.0]], np.float32)
    got = _run(lambda x, y: x.sum(-1) + y, x, y)
    expected = (torch.from_numpy(x).sum(-1) + torch.from_numpy(y)).numpy()
    assert _same_bits(got, expected)


SHAPES = [  # (x's shape, a reduced dim)
    ((3, 1, 1), -1), ((3, 1, 1), 1), ((3, 1, 1), 0), ((1, 3, 1), -1), ((1, 1, 3), 0),
    ((3, 1), -1), ((3, 1), 0), ((2, 1, 4), 1), ((2, 3, 4), -1), ((2, 3, 4), 1), ((2, 3, 4), 0),
    ((4, 1, 2, 1), -1), ((4, 1, 2, 1), 2), ((1,), 0), ((5,), 0), ((2, 0, 3), -1),
]


def _row_operands(shape, dim, keepdim):
    """Shapes a second operand of the reduction's result may have: the result's own, each
    of its dims alone, 0-d, and a trailing slice."""
    d = dim % len(shape)
    out = [n for k, n in enumerate(shape) if k != d] if not keepdim else \
        [1 if k == d else n for k, n in enumerate(shape)]
    found = {tuple(out), ()}
    for k in range(len(out)):
        found.add(tuple(n if j == k else 1 for j, n in enumerate(out)))
        found.add(tuple(out[k:]))
    return sorted(found, key=lambda s: (len(s), s))


@pytest.mark.parametrize("reduce", sorted(REDUCE))
@pytest.mark.parametrize("shape,dim", SHAPES)
@pytest.mark.parametrize("keepdim", [False, True])
def test_fused_reduction_epilogue_reads_broadcast_operand_rows(reduce, shape, dim,
                                                                keepdim) -> None:
    x = _data(shape, np.float32)
    names = sorted(COMBINE)
    for k, y_shape in enumerate(_row_operands(shape, dim, keepdim)):  # each combine in turn
        name = names[(k + len(shape) + keepdim) % len(names)]
        y = _data(y_shape, np.float32, seed=1)

        def f(x, y, name=name):
            return COMBINE[name](REDUCE[reduce](x, dim, keepdim), y)
        exact = reduce in ("amax", "amin", "prod")
        assert_compiled_is_reference(f, x, y, exact=exact)


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.int64])
@pytest.mark.parametrize("shape,dim", [((3, 1, 1), -1), ((2, 1, 4), 1), ((4, 1, 2, 1), 2)])
def test_fused_reduction_epilogue_rows_other_dtypes(dtype, shape, dim) -> None:
    x = _data(shape, dtype)
    for keepdim in (False, True):
        for y_shape in _row_operands(shape, dim, keepdim):
            y = _data(y_shape, dtype, seed=2)
            assert_compiled_is_reference(lambda x, y, k=keepdim: x.sum(dim, keepdim=k) + y, x, y)
            assert_compiled_is_reference(lambda x, y, k=keepdim: x.amax(dim, keepdim=k) * y, x, y)


@pytest.mark.parametrize("shape", [(3, 1, 1), (2, 3, 4), (3, 1)])
def test_fused_reduction_both_sides_broadcast(shape) -> None:
    """The row value broadcast back over the rows (keepdim) and a row operand together."""
    x = _data(shape, np.float32)
    row = tuple(n for n in shape[:-1])
    y = _data(row, np.float32, seed=3)

    def f(x, y):
        s = x.sum(-1)
        m = x.amax(-1, keepdim=True)
        return x - m, s * y + 1.0
    assert_compiled_is_reference(f, x, y, exact=False)


def test_fused_reduction_0d_input_and_operand() -> None:
    x, y = np.array(2.5, np.float32), np.array(-1.0, np.float32)
    assert_compiled_is_reference(lambda x, y: x.sum() + y, x, y)
    assert_compiled_is_reference(lambda x, y: x.amax() * y, x, y)


# --- 2. powers by a scalar exponent keep numpy's (and torch's) special cases ---------------------

SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, -2.0, 2.0, 3.0, -3.0, 0.5, 1e-30, 1e30, 1e-40,
           1.7e38, -1.7e38]
EXPONENTS = [0.5, 2.0, -1.0, -0.5, 3.0, 0.0, 1.0, -2.0, 1.5, np.nan, np.inf, -np.inf]


FAST = (0.5, 2.0, -1.0, 0.0, 1.0)  # numpy's fast paths for a scalar exponent: exact ops


def assert_power_is_reference(f, *arrays, exact: bool) -> None:
    compiled, reference = _run(f, *arrays), _run(f, *arrays, backend="eager")
    check = _same_bits if exact else _close_powers
    assert check(compiled, reference), f"compiled {compiled!r} != reference {reference!r}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("exponent", EXPONENTS)
def test_power_by_literal_matches_reference(dtype, exponent) -> None:
    with np.errstate(all="ignore"):
        x = np.array(SPECIAL, np.float64).astype(dtype)
    exact = exponent in FAST
    assert_power_is_reference(lambda x: x ** exponent, x, exact=exact)
    # inside a fused group
    assert_power_is_reference(lambda x: (x * 1.0) ** exponent + 0.0, x, exact=exact)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("y_shape", [(), (1,), (1, 1), (len(SPECIAL),), (1, len(SPECIAL))])
def test_power_by_tensor_exponent_matches_reference(dtype, y_shape) -> None:
    """An exponent read from an input: numpy's fast paths apply to a 0-d one or one it
    broadcasts (one element, another shape than the result), not to one of the result's
    shape; x[:1] has one element too."""
    x = np.array(SPECIAL, dtype)
    for exponent in (0.5, -1.0, 2.0, 0.0, 1.0, 3.0):
        y = np.full(y_shape, exponent, dtype)
        for f, base in ((lambda x, y: x ** y, x.shape), (lambda x, y: x[:1] ** y, (1,))):
            scalar = y.size == 1 and (y.ndim == 0 or y.shape != np.broadcast_shapes(base,
                                                                                     y.shape))
            assert_power_is_reference(f, x, y, exact=exponent in FAST and scalar)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sqrt_power_matches_torch(dtype) -> None:
    """x ** 0.5 is torch's sqrt: -0.0 for -0.0 and NaN for -inf (the issue's repro)."""
    x = np.array([-0.0, -np.inf, 0.0, np.inf, 4.0, -1.0, np.nan], dtype)
    got = _run(lambda x: x ** 0.5, x)
    assert _same_bits(got, (torch.from_numpy(x) ** 0.5).numpy())


@pytest.mark.parametrize("exponent", [2.0, -1.0, 3.0, 0.0, 1.0, -2.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_powers_match_torch_on_special_values(dtype, exponent) -> None:
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -2.0, 2.0, 3.0], dtype)
    got = _run(lambda x: x ** exponent, x)
    assert _same_bits(got, (torch.from_numpy(x) ** exponent).numpy())


def test_power_minus_half_matches_torch() -> None:
    x = np.array([-0.0, -np.inf], np.float32)
    assert _same_bits(_run(lambda x: x ** -0.5, x), (torch.from_numpy(x) ** -0.5).numpy())


# --- 3. products multiply in numpy's (and torch's) order ----------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("values", [
    [0.0, 1e30, 1e30, 1e30], [1e30, 1e30, 0.0, 1e30], [1e30, 1e30, 1e-30, 0.0],
    [0.0] + [1e30] * 40, [1e30] * 8 + [0.0] + [1e30] * 7, [1e200, 1e200, 0.0],
    [np.inf, 0.0], [0.0, np.inf], [-0.0, 1.0, -1.0],
])
def test_prod_order_matches_reference_and_torch(dtype, values) -> None:
    with np.errstate(all="ignore"):
        x = np.array(values, np.float64).astype(dtype)
    assert_compiled_is_reference(lambda x: x.prod(), x)
    assert_compiled_is_reference(lambda x: x.prod() * 2.0, x)
    if len(values) < 8:  # torch multiplies short rows in element order too
        assert _same_bits(_run(lambda x: x.prod(), x), torch.from_numpy(x).prod().numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,dims", [((5, 3), 0), ((3, 5), 1), ((4, 3, 5), 1),
                                        ((2, 70), 1), ((70, 2), 0), ((3, 4, 5), None)])
def test_prod_bits_match_reference(dtype, shape, dims) -> None:
    rng = np.random.default_rng(4)
    x = rng.uniform(0.5, 2.0, shape).astype(dtype)
    x.reshape(-1)[::7] = 0.0
    x.reshape(-1)[1::5] = 1e30 if dtype is np.float32 else 1e300
    f = (lambda x: x.prod()) if dims is None else (lambda x: tracejit.prod(x, dims))
    assert_compiled_is_reference(f, x)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.int8])
def test_integer_prod_wraps_like_torch(dtype) -> None:
    x = np.array([2**7 - 1, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37] * 3, dtype)
    got = _run(lambda x: x.prod(), x)
    expected = torch.from_numpy(x).prod().numpy()
    assert got.dtype == expected.dtype and got == expected
    assert_compiled_is_reference(lambda x: x.prod(), x)


# --- 4. float32 var/std accumulate in float64 ---------------------------------------------------

HUGE = [2e19, -2e19, 0, 0, 0, 0, 0, 0, 0, 0]


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_float32_var_std_of_huge_values_match_torch(name, keepdim) -> None:
    x = np.array([HUGE, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], np.float32)
    got = _run(lambda x: getattr(x, name)(-1, keepdim=keepdim), x)
    expected = getattr(torch.from_numpy(x), name)(-1, keepdim=keepdim).numpy()
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert_compiled_is_reference(lambda x: getattr(x, name)(-1, keepdim=keepdim), x,
                                 exact=False)


@pytest.mark.parametrize("name", ["var_mean", "std_mean"])
def test_float32_var_mean_std_mean_of_huge_values_match_torch(name) -> None:
    x = np.array(HUGE, np.float32)
    got = _run(lambda x: getattr(tracejit, name)(x, 0), x)
    expected = [t.numpy() for t in getattr(torch, name)(torch.from_numpy(x), 0)]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-6)


# --- 5. elementwise rules that follow the reference's torch semantics ----------------------------

FLOATS_SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.5, -2.5, np.inf, -np.inf, np.nan, 1e-40, -1e-40]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32, np.int8])
def test_relu_keeps_negative_zero_and_nan(dtype) -> None:
    with np.errstate(all="ignore"):
        x = np.array(FLOATS_SPECIAL if np.dtype(dtype).kind == "f" else [0, -1, 5, -128 % 100],
                     np.float64).astype(dtype)
    assert_compiled_is_reference(lambda x: x.relu(), x)
    assert_compiled_is_reference(lambda x: (x + x).relu() * 1, x)
    assert _same_bits(_run(lambda x: x.relu(), x), torch.from_numpy(x).relu().numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_float_remainder_zero_keeps_dividend_sign(dtype) -> None:
    """torch.remainder(0.0, -2.5) is 0.0 (numpy's is -0.0): the reference's rule, compiled."""
    with np.errstate(all="ignore"):
        values = np.array(FLOATS_SPECIAL, np.float64).astype(dtype)
    x, y = np.meshgrid(values, values)
    x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
    assert_compiled_is_reference(lambda x, y: x % y, x, y)
    assert_compiled_is_reference(lambda x, y: tracejit.remainder(x * 1.0, y) + 0.0, x, y)
    if dtype is not np.float16:
        got = _run(lambda x, y: x % y, x, y)
        expected = torch.remainder(torch.from_numpy(x), torch.from_numpy(y)).numpy()
        # torch computes x - y * floor(x / y), so x / y must not overflow
        finite = np.isfinite(x) & np.isfinite(y) & (np.abs(y) >= 1)
        assert _same_bits(got[finite], expected[finite])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum_never_gives_negative_zero(dtype, dim) -> None:
    """torch's running sum starts at +0.0: cumsum of -0.0s is +0.0, as the reference."""
    x = np.array([[-0.0, -0.0, 1.0], [-0.0, 2.0, -2.0], [np.nan, -0.0, np.inf]], dtype)
    assert_compiled_is_reference(lambda x: x.cumsum(dim), x)
    assert _same_bits(_run(lambda x: x.cumsum(dim), x), torch.from_numpy(x).cumsum(dim).numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,perm", [((6, 10), (1, 0)), ((3, 4, 6), (2, 0, 1)),
                                        ((2, 3, 4, 5), (3, 2, 1, 0)), ((40, 300), (1, 0))])
def test_prod_of_permuted_input_multiplies_in_memory_order(dtype, shape, perm) -> None:
    """numpy's reduction visits a transposed input in memory order; the kernel does too."""
    rng = np.random.default_rng(5)
    x = rng.uniform(0.5, 2.0, shape).astype(dtype)

    def f(x):
        return x.permute(*perm).prod()
    assert_compiled_is_reference(f, x)
    assert_compiled_is_reference(lambda x: x.permute(*perm).prod(-1), x)
    zero_then_overflow = np.array([[1e30, 0.0], [1e30, 1e30]], np.float32)
    assert_compiled_is_reference(lambda x: x.T.prod(), zero_then_overflow)


# --- nested select patterns: LLVM 22 folded max(max(x, 0), 0)-shaped selects as if -0.0 and
# NaN did not exist (relu then where(r > 0, r, 0) gave -0.0 and NaN); each select is frozen
NESTED_SELECTS = {
    "relu-then-where": lambda T, x: T.where(x.relu() > 0, x.relu(), 0.0),
    "where-then-where": lambda T, x: T.where(
        T.where(x < 0, 0.0, x) > 0, T.where(x < 0, 0.0, x), 0.0),
    "relu-then-maximum": lambda T, x: T.maximum(x.relu(), T.zeros_like(x)),
    "relu-then-clamp": lambda T, x: x.relu().clamp(min=0.0),
    "clamp-then-clamp": lambda T, x: x.clamp(min=0.0).clamp(min=0.0, max=2.0),
    "minimum-then-where": lambda T, x: T.where(
        T.minimum(x, T.zeros_like(x)) < 0, T.minimum(x, T.zeros_like(x)), 0.0),
    "relu-relu-where": lambda T, x: T.where(x.relu().relu() >= 0, x.relu(), 1.0),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("name", sorted(NESTED_SELECTS))
def test_nested_selects_keep_signed_zeros_and_nans(name, dtype) -> None:
    x = np.array([-0.0, 0.0, np.nan, -1.5, 2.5, np.inf, -np.inf, 1e-3] * 9, dtype)
    fn = NESTED_SELECTS[name]
    assert_compiled_is_reference(lambda t: fn(tracejit, t), x)
    if name in ("relu-then-where", "where-then-where"):  # no -0.0/+0.0 tie: torch agrees
        want = fn(torch, torch.from_numpy(x)).numpy()
        assert _same_bits(_run(lambda t: fn(tracejit, t), x), want)


# --- integer division by zero raises only when a division runs (torch: an empty result is fine)
def _masked_remainder(x, mask, y):
    return x[mask] % y, x[mask] // y


@pytest.mark.parametrize("backend", ["llvm", "eager"])
def test_zero_divisor_of_an_empty_dividend_gives_empty_results_as_torch(backend) -> None:
    x, y = np.array([7, -9]), np.array([0])
    example = [tracejit.tensor(x), tracejit.tensor(np.array([True, False])), tracejit.tensor(y + 2)]
    traced = tracejit.trace(_masked_remainder, *example, backend=backend)
    none = np.array([False, False])
    want = _masked_remainder(torch.tensor(x), torch.tensor(none), torch.tensor(y))
    for got in (traced(tracejit.tensor(x), tracejit.tensor(none), tracejit.tensor(y)),
                _masked_remainder(tracejit.tensor(x), tracejit.tensor(none), tracejit.tensor(y))):
        for g, w in zip(got, want):
            assert g.shape == tuple(w.shape) and g.dtype == tracejit.int64
    some = np.array([True, False])
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        _masked_remainder(torch.tensor(x), torch.tensor(some), torch.tensor(y))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        traced(tracejit.tensor(x), tracejit.tensor(some), tracejit.tensor(y))


@pytest.mark.parametrize("shape, dim", [((2,), None), ((3, 5), 1), ((3, 5), 0), ((4, 40), 1)])
def test_a_sum_of_negative_zeros_is_positive_zero_as_torch(shape, dim) -> None:
    x = np.full(shape, -0.0, np.float32)
    want = torch.tensor(x).sum() if dim is None else torch.tensor(x).sum(dim)
    got = _run((lambda t: t.sum()) if dim is None else (lambda t: t.sum(dim)), x)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want.numpy()))
