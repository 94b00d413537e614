"""lerp's and addcmul's dtype rules against torch (API fuzzer: F19, and lerp with a 0-d bool
weight under trace): results, result dtypes, and errors of torch's type and message."""
import numpy as np
import pytest
import torch
from mode_compare import MODES, compare

import tracejit as tj

LIBS = [torch, tj]


def _outcome(fn):
    try:
        r = fn()
    except Exception as e:  # the outcome is what is compared
        return type(e).__name__, str(e)
    return r.tolist(), str(r.dtype).split(".")[-1]


LERP_WEIGHTS = [lambda T: T.tensor([1, 0]), lambda T: T.tensor([1.0, 0.0], dtype=T.float64),
                lambda T: T.tensor(1), lambda T: T.tensor(0.25, dtype=T.float64),
                lambda T: T.tensor(True), lambda T: T.tensor(False), lambda T: 0.7,
                lambda T: T.tensor([0.2, 0.9])]


@pytest.mark.parametrize("k", range(len(LERP_WEIGHTS)))
def test_lerp_weight_dtypes_as_torch(k):
    got, want = (_outcome(lambda T=T: T.tensor([1.0, 2.0]).lerp(T.tensor([3.0, 5.0]),
                                                                 LERP_WEIGHTS[k](T)))
                 for T in (tj, torch))
    assert got == want


@pytest.mark.parametrize("end", ["float64", "int64"])
def test_lerp_end_of_another_dtype_is_refused_as_torch(end):
    got, want = (_outcome(lambda T=T: T.tensor([1.0, 2.0]).lerp(
        T.tensor([3, 5], dtype=getattr(T, end)), 0.5)) for T in (tj, torch))
    assert got == want and got[0] == "RuntimeError"


@pytest.mark.parametrize("dtype", ["int32", "bool", "int8", "uint8"])
def test_lerp_of_a_non_float_input_is_not_implemented_as_torch(dtype):
    got, want = (_outcome(lambda T=T: T.tensor([1, 0], dtype=getattr(T, dtype)).lerp(
        T.tensor([1, 1], dtype=getattr(T, dtype)), 0.5)) for T in (tj, torch))
    assert got == want and got[0] == "NotImplementedError"


def lerp_by_flag(T, x, flag):
    return x.lerp(x * 3, flag)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("flag", [True, False])
def test_lerp_with_a_0d_bool_weight_in_every_mode(mode, flag):
    compare(mode, lerp_by_flag, np.array([1.0, -2.0], np.float32), np.array(flag))


@pytest.mark.parametrize("value", [0.5, 2, 1.5, -1.5, True, 2.7])
@pytest.mark.parametrize("dtypes", [("int64",) * 3, ("int8",) * 3, ("int64", "float32", "int64"),
                                    ("float32", "int64", "int64"), ("float64",) * 3])
def test_addcmul_casts_value_to_the_promoted_dtype_as_torch(value, dtypes):
    def run(T):
        a, b, c = (T.tensor([[1, 2], [100, -3]], dtype=getattr(T, d)) for d in dtypes)
        return T.addcmul(a, b, c, value=value)
    assert _outcome(lambda: run(tj)) == _outcome(lambda: run(torch))


def test_addcmul_of_bools_is_not_implemented_as_torch():
    got, want = (_outcome(lambda T=T: T.addcmul(T.tensor([True]), T.tensor([True]),
                                                 T.tensor([False]))) for T in (tj, torch))
    assert got == want and got[0] == "NotImplementedError"


def addcmul_half(T, x, y):
    return T.addcmul(x, y, y, value=0.5)


@pytest.mark.parametrize("mode", MODES)
def test_addcmul_of_integers_in_every_mode(mode):
    compare(mode, addcmul_half, np.array([3, -4, 7]), np.array([2, 5, -1]))


LERP_GRID = [((), "float32", (), "float32", (), "float64"),
             ((2,), "float32", (2,), "float32", (), "float64"),
             ((), "float32", (), "float64", (), "float32"),
             ((), "float32", (), "float32", (2,), "float64"),
             ((), "float32", (), "float32", (), "int64"),
             ((), "float32", (2,), "float32", (), "float64"),
             ((), "float64", (), "float64", (), "float32")]


@pytest.mark.parametrize("case", LERP_GRID)
def test_lerp_promotes_0d_operands_as_torch(case):
    def run(T):
        a, b, w = (T.full(case[k], 0.3, dtype=getattr(T, case[k + 1])) for k in (0, 2, 4))
        return a.lerp(b, w)
    assert _outcome(lambda: run(tj)) == _outcome(lambda: run(torch))
