"""numpy ufuncs on tensors against torch 2.13's CPU tensors: the result's type, dtype and values
(torch goes through numpy, so dtypes are numpy's and bool comes back uint8), and that ufuncs with
a tracejit op are captured by trace and script."""

import numpy as np
import pytest
import torch

import tracejit as tj

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's __array_wrap__

F = np.array([1.5, -2.0, 0.0, 3.25], np.float32)
I = np.array([1, 2, -3, 4], np.int64)
B = np.array([True, False, True, False])

CASES = {
    "sin": lambda L: np.sin(L.tensor(F)),
    "exp": lambda L: np.exp(L.tensor(F)),
    "sin-int": lambda L: np.sin(L.tensor(I)),
    "sqrt-int": lambda L: np.sqrt(L.tensor(np.abs(I))),
    "sqrt-uint8": lambda L: np.sqrt(L.tensor(np.abs(I).astype(np.uint8))),
    "sin-bool": lambda L: np.sin(L.tensor(B)),
    "abs-int": lambda L: np.abs(L.tensor(I)),
    "maximum-0": lambda L: np.maximum(L.tensor(F), 0),
    "minimum-tensors": lambda L: np.minimum(L.tensor(F), L.tensor(F[::-1].copy())),
    "add-tensors": lambda L: np.add(L.tensor(F), L.tensor(F)),
    "add-int-float": lambda L: np.add(L.tensor(I), 1.5),
    "add-0d-float64": lambda L: np.add(L.tensor(2.0, dtype=L.float64), L.tensor(F)),
    "add-ndarray-first": lambda L: np.add(np.ones(4), L.tensor(F)),
    "true-divide-ints": lambda L: np.true_divide(L.tensor(I), L.tensor(I)),
    "floor-divide": lambda L: np.floor_divide(L.tensor(F), 2),
    "remainder": lambda L: np.remainder(L.tensor(F), 2),
    "power-int": lambda L: np.power(L.tensor(I), 2),
    "rint-half-even": lambda L: np.rint(L.tensor(np.array([0.5, 1.5, 2.5, -0.5], np.float32))),
    "less": lambda L: np.less(L.tensor(F), 1),
    "equal-int": lambda L: np.equal(L.tensor(I), 2),
    "isnan": lambda L: np.isnan(L.tensor(F)),
    "logical-not": lambda L: np.logical_not(L.tensor(F)),
    "arctan2": lambda L: np.arctan2(L.tensor(F), L.tensor(F[::-1].copy())),
    "strided-slice": lambda L: np.sin(L.tensor(np.arange(12.0, dtype=np.float32).reshape(3, 4))
                                      [:, 0::2]),
    "0d": lambda L: np.sin(L.tensor(1.0)),
    "float32-scalar-times": lambda L: np.float32(2) * L.tensor(F),
    "float64-scalar-times": lambda L: np.float64(2) * L.tensor(F),
    "int64-scalar-plus": lambda L: np.int64(2) + L.tensor(I),
    "tensor-plus-ndarray": lambda L: L.tensor(F) + np.ones(4),
    "float64-scalar-mod-int32": lambda L: np.float64(2.25) % L.tensor(I.astype(np.int32)),
    "float64-scalar-less": lambda L: np.float64(1.0) < L.tensor(F),
    "int64-scalar-shift": lambda L: np.int64(2) << L.tensor(np.abs(I)),
    # no tracejit op: numpy computes on the values
    "log1p-int": lambda L: np.log1p(L.tensor(np.abs(I))),
    "sign-bits": lambda L: np.spacing(L.tensor(F)),
    "add-reduce": lambda L: np.add.reduce(L.tensor(F)),
    "add-reduce-axis": lambda L: np.add.reduce(L.tensor(np.ones((2, 3), np.float32)), axis=1),
    "add-accumulate": lambda L: np.add.accumulate(L.tensor(F)),
    "multiply-dtype": lambda L: np.multiply(L.tensor(F), L.tensor(F), dtype=np.float64),
    "modf": lambda L: np.modf(L.tensor(F)),
    "divmod": lambda L: np.divmod(L.tensor(F), 2),
}


def same(ours, theirs):
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            same(a, b)
        return
    assert type(ours).__name__ == type(theirs).__name__ == "Tensor"
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
    assert ours.shape == tuple(theirs.shape)


@pytest.mark.parametrize("name", CASES)
def test_ufunc_matches_torch(name):
    same(CASES[name](tj), CASES[name](torch))


def test_ndarray_operand_on_the_left():
    """`ndarray + t` (torch raises here) gives what `t + ndarray` gives in torch."""
    a = np.arange(4.0)
    ours = a + tj.tensor(F)
    same(ours, torch.tensor(F) + a)
    same(a * tj.tensor(I), torch.tensor(I) * a)
    same(a.astype(np.int32) - tj.tensor(I), torch.tensor(I).neg() + a.astype(np.int32))


def test_out_arrays():
    """An ndarray out= gets numpy's result, as in torch; a Tensor out= is torch's TypeError."""
    out = np.empty(4, np.float32)
    assert np.sin(tj.tensor(F), out=out) is out
    np.testing.assert_allclose(out, np.sin(F))
    for lib in (tj, torch):
        with pytest.raises(TypeError):
            np.sin(lib.tensor(F), out=lib.zeros(4))


def test_negative_bool_is_numpy_type_error():
    for lib in (tj, torch):
        with pytest.raises(TypeError, match="boolean negative"):
            np.negative(lib.tensor(B))


def ufunc_model(x):
    return np.sin(x) * np.maximum(x, 0) + np.float32(2) * np.exp(-np.abs(x)) - x * np.ones(3)


def ndarray_left_model(x):
    return np.ones(3) * x + np.arange(3.0) / (x * x + 1)


def spacing_model(x):
    return np.spacing(x)


@pytest.mark.parametrize("capture", [tj.trace, tj.script])
def test_ufuncs_with_ops_are_captured(capture):
    x, y = tj.randn(3), tj.randn(3)
    fn = capture(ufunc_model, x) if capture is tj.trace else capture(ufunc_model)
    expected = ufunc_model(torch.tensor(y.numpy()))
    np.testing.assert_allclose(fn(y).numpy(), expected.numpy(), rtol=1e-5)
    assert fn(y).dtype == tj.float64


@pytest.mark.parametrize("capture", [tj.trace, tj.script])
def test_ndarray_on_the_left_is_captured(capture):
    x, y = tj.randn(3), tj.randn(3)
    fn = capture(ndarray_left_model, x) if capture is tj.trace else capture(ndarray_left_model)
    t = torch.tensor(y.numpy())
    expected = t * np.ones(3) + (t * t + 1).reciprocal() * np.arange(3.0)
    same(fn(y), expected)


def test_ufunc_without_op_is_a_clear_capture_error():
    with pytest.raises(tj.TraceError, match=r"numpy\.spacing on a traced Tensor"):
        tj.trace(spacing_model, tj.randn(3))
    with pytest.raises(tj.ScriptError, match="numpy code is not captured"):
        tj.script(spacing_model)(tj.randn(3))
