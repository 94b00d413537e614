"""The dtypes uint8, int8, int16 and float16 against torch 2.13: the promotion table for every
pair (tensors, 0-d tensors, Python scalars), names and dtype properties, wrap-around, division,
reductions, comparisons, casts, creation, uint8 masks, bfloat16's refusal, and trace, script
and graph-file round trips (the compiled kernels equal eager bit for bit)."""

from __future__ import annotations

import itertools
import logging
import warnings

import numpy as np
import pytest
import torch
from torch_oracle import assert_same, check_same

import tracejit as tj
from tracejit.ir import DType

NEW = ("uint8", "int8", "int16", "float16")
ALL = ("bool", *NEW[:3], "int32", "int64", "float16", "float32", "float64")
PAIRS = list(itertools.product(ALL, ALL))


def both(name: str):
    return getattr(tj, name), getattr(torch, name)


def values(dtype: str, shape=(2, 3), seed: int = 0) -> np.ndarray:
    """Small values of `dtype`, including its wrap-around edges for the integers."""
    rng = np.random.default_rng([seed, len(dtype)])
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith("float"):
        return (np.round(rng.uniform(-4, 4, shape) * 8) / 8).astype(dtype)
    info = np.iinfo(dtype)
    picks = [info.min, info.max, 0, 1, 2, 3, 5, 7, -1, -3]
    return np.array(rng.choice(picks, shape)).astype(dtype)


# --- promotion -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("a", "b"), PAIRS, ids=[f"{a}-{b}" for a, b in PAIRS])
def test_promote_types_is_torch_table(a, b):
    (ta, pa), (tb, pb) = both(a), both(b)
    assert tj.promote_types(ta, tb).value == str(torch.promote_types(pa, pb)).removeprefix("torch.")
    assert tj.can_cast(ta, tb) == torch.can_cast(pa, pb)


@pytest.mark.parametrize("a", ALL)
def test_result_type_with_zero_dim_tensors_and_python_scalars(a):
    x = values(a)
    for b in ALL:
        check_same(lambda L, x, y: L.result_type(x, y), x, values(b, ()))
        check_same(lambda L, x, y: L.result_type(y, x), x, values(b, ()))
    for scalar in (True, 3, -2, 2.5, 300, 2**40):
        check_same(lambda L, x, s=scalar: L.result_type(x, s), x)


@pytest.mark.parametrize("name", NEW)
def test_names_and_properties(name):
    ours, theirs = both(name)
    assert ours.is_floating_point == theirs.is_floating_point
    assert ours.is_signed == theirs.is_signed
    assert ours.itemsize == theirs.itemsize
    assert repr(ours) == repr(theirs).replace("torch", "tracejit")


def test_aliases_and_conversion_methods():
    assert tj.half is tj.float16 and tj.short is tj.int16
    assert hasattr(tj, "char") == hasattr(torch, "char")  # torch has no torch.char
    x = np.abs(values("float32")) * 3
    for method in ("byte", "char", "short", "half"):
        check_same(lambda L, x, m=method: getattr(x, m)(), x)


# --- arithmetic ----------------------------------------------------------------------------------

BINARY = {
    "+": lambda L, a, b: a + b, "-": lambda L, a, b: a - b, "*": lambda L, a, b: a * b,
    "/": lambda L, a, b: a / b, "true_divide": lambda L, a, b: L.true_divide(a, b),
    "//": lambda L, a, b: a // b, "%": lambda L, a, b: a % b,
    "==": lambda L, a, b: a == b, "<": lambda L, a, b: a < b, ">=": lambda L, a, b: a >= b,
    "&": lambda L, a, b: a & b, "^": lambda L, a, b: a ^ b, "max": lambda L, a, b: L.maximum(a, b),
}


@pytest.mark.parametrize("dtype", NEW)
def test_binary_ops_wrap_and_promote_as_torch(dtype):
    a, b = values(dtype), values(dtype, (3,), seed=1)
    b = np.where(b == 0, np.array(3, dtype), b)  # torch's integer x // 0 is an error
    for fn in BINARY.values():
        check_same(fn, a, b)
        for scalar in (1, -1, 300, 2.5, True):
            check_same(fn, a, scalar)


def test_overflow_wraps_like_torch():
    for dtype in ("uint8", "int8", "int16"):
        info = np.iinfo(dtype)
        top = np.array([info.max, info.min], dtype)
        check_same(lambda L, x: x + 1, top)
        check_same(lambda L, x: x - 1, top)
        check_same(lambda L, x: x * 3, top)
        check_same(lambda L, x: -x, top)
        check_same(lambda L, x: x.abs(), top)
    assert tj.tensor([255], dtype=tj.uint8).add(1).tolist() == [0]


@pytest.mark.parametrize("dtype", ("uint8", "int8"))
def test_checked_scalars_raise_as_torch(dtype):
    """pow's exponent, clamp's bounds, where's and masked_fill's values are checked."""
    x = values(dtype)
    for fn in (lambda L, x: x**300, lambda L, x: x.clamp(min=300), lambda L, x: x.clamp(max=-300),
               lambda L, x: L.where(x > 1, x, 300), lambda L, x: x.masked_fill(x > 1, 300),
               lambda L, x: 300**x, lambda L, x: L.where(x > 1, x, -1)):
        check_same(fn, x)


def test_float16_arithmetic_rounds_each_op_like_torch():
    x = np.arange(1, 2049, dtype=np.float32).astype(np.float16)
    for fn in (lambda L, x: x + 0.1, lambda L, x: x - 1 / 3, lambda L, x: x * x,
               lambda L, x: x / 7, lambda L, x: x.sqrt(), lambda L, x: x.sigmoid() * 2 - 1,
               lambda L, x: (x / 1000).exp(), lambda L, x: (x * 100).float(),
               # a scalar factor or divisor is used in float32, not rounded to half first
               lambda L, x: x * 0.1, lambda L, x: 0.3 * x, lambda L, x: x / 3.3,
               lambda L, x: x * L.tensor(0.1, dtype=L.float64), lambda L, x: x * 1e5,
               lambda L, x: x.clone().mul_(1.7), lambda L, x: x.clone().div_(0.7),
               lambda L, x: 2.5 / x):  # torch: x.reciprocal() * 2.5
        check_same(fn, x, rtol=0, atol=0)


def test_division_gives_the_default_float():
    for dtype in ("uint8", "int8", "int16"):
        check_same(lambda L, x: x / 2, values(dtype))
        tj.set_default_dtype(tj.float64)
        torch.set_default_dtype(torch.float64)
        try:
            check_same(lambda L, x: L.true_divide(x, 3), values(dtype))
        finally:
            tj.set_default_dtype(tj.float32)
            torch.set_default_dtype(torch.float32)


# --- reductions, comparisons, casts --------------------------------------------------------------

REDUCTIONS = {
    "sum": lambda L, x: x.sum(), "sum1": lambda L, x: x.sum(1), "prod": lambda L, x: x.prod(0),
    "cumsum": lambda L, x: x.cumsum(1), "mean": lambda L, x: x.mean(),
    "amax": lambda L, x: x.amax(0),
    "max": lambda L, x: x.max(1), "argmin": lambda L, x: x.argmin(), "all": lambda L, x: x.all(1),
    "any": lambda L, x: x.any(), "softmax": lambda L, x: x.softmax(-1),
}


@pytest.mark.parametrize("dtype", NEW)
def test_reductions_widen_and_keep_dtypes_as_torch(dtype):
    x = values(dtype, (3, 4))
    for fn in REDUCTIONS.values():
        check_same(fn, x)


def test_float16_sums_accumulate_in_float32():
    x = np.ones(4096, np.float16)  # a float16 running sum would stop at 2048
    check_same(lambda L, x: x.sum(), x)
    check_same(lambda L, x: x.mean(), x * np.float16(0.1))
    check_same(lambda L, x: x.cumsum(0), x)


def test_casts_between_every_pair_match_torch():
    for src, dst in PAIRS:
        x = values(src, (8,))
        if src.startswith("float") and dst not in ("bool",) and not dst.startswith("float"):
            x = np.abs(x)  # negative floats to uint8 are undefined behaviour in C
        check_same(lambda L, x, d=dst: x.to(getattr(L, d)), x)
    check_same(lambda L, x: x.to(L.uint8), np.array([300.7, 255.9, 0.5], np.float32))
    check_same(lambda L, x: x.to(L.int8), np.array([300.7, -1.2, -128.9], np.float32))
    check_same(lambda L, x: x.half(), np.array([1 + 2**-11 + 2**-40, 7e4, 1e-8]))  # via float32


# --- creation and numpy --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", NEW)
def test_creation_and_numpy_round_trips(dtype):
    ours, theirs = both(dtype)
    for fn in (lambda L, d: L.zeros(2, 3, dtype=d), lambda L, d: L.ones(2, dtype=d),
               lambda L, d: L.full((2,), 7, dtype=d), lambda L, d: L.arange(5, dtype=d),
               lambda L, d: L.tensor([[1, 2], [3, 4]], dtype=d),
               lambda L, d: L.tensor([1.5, 2.25], dtype=d), lambda L, d: L.eye(2, dtype=d)):
        assert_same(fn(tj, ours), fn(torch, theirs))
    array = values(dtype)
    assert_same(tj.tensor(array), torch.tensor(array))
    assert_same(tj.from_numpy(array), torch.from_numpy(array))
    assert tj.tensor(array).detach().numpy().dtype == array.dtype
    shared = tj.from_numpy(array)
    array[0, 0] = 1
    assert shared[0, 0].item() == 1


def test_repr_matches_torch():
    for dtype in NEW:
        array = values(dtype)
        assert repr(tj.tensor(array)) == repr(torch.tensor(array)).replace("torch.", "tracejit.")


@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0, 1)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "bool", "uint8"])
def test_repr_of_empty_tensors_matches_torch(shape, dtype):
    ours = tj.zeros(shape, dtype=getattr(tj, dtype))
    assert repr(ours) == repr(torch.zeros(shape, dtype=getattr(torch, dtype))).replace(
        "torch.", "tracejit.")


# --- uint8 masks ---------------------------------------------------------------------------------

def test_uint8_index_is_a_mask_with_torch_warning():
    x, mask = np.arange(10.0).reshape(2, 5), np.array([1, 0, 2, 0, 1], np.uint8)
    with pytest.warns(UserWarning, match="indexing with dtype tracejit.uint8 is now deprecated"):
        ours = tj.tensor(x)[:, tj.tensor(mask)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_same(ours, torch.tensor(x)[:, torch.tensor(mask)])
    with pytest.raises(RuntimeError, match=r"use mask.bool\(\)"):
        tj.tensor(x)[0, tj.tensor(mask)] = 1.0
    with pytest.raises(RuntimeError):  # torch refuses the mask in masked_fill_
        torch.tensor(x)[0, torch.tensor(mask)] = 1.0


# --- bfloat16 ------------------------------------------------------------------------------------

def test_bfloat16_is_named_but_refused_when_used():
    table = {"float32": tj.float32, "bfloat16": tj.bfloat16}  # real code builds such tables
    assert repr(table["bfloat16"]) == "tracejit.bfloat16"
    x = tj.ones(2)
    assert x.dtype != tj.bfloat16
    for use in (lambda: x.to(tj.bfloat16), lambda: x.to(dtype=tj.bfloat16),
                lambda: tj.zeros(2, dtype=tj.bfloat16), lambda: tj.tensor([1.0], dtype=tj.bfloat16),
                lambda: tj.bfloat16.is_floating_point, lambda: tj.set_default_dtype(tj.bfloat16)):
        with pytest.raises(TypeError, match=r"tracejit\.bfloat16 is not supported: numpy"):
            use()


# --- capture: trace, script, graph files, compiled kernels ---------------------------------------

def model(x, y):
    z = (x + y) * 3 - (x // (y.abs() % 7 + 1)) + x.sum(1, keepdim=True).to(x.dtype)
    return z, x < y, x.amax(1), x.to(tj.float32) * 0.5, (z % 5).max(0).values


@pytest.mark.parametrize("dtype", NEW)
def test_trace_script_and_save_load_equal_eager_bit_for_bit(dtype, tmp_path, caplog):
    x, y = tj.tensor(values(dtype, (3, 4))), tj.tensor(values(dtype, (3, 4), seed=1))
    want = model(x, y)
    traced = tj.trace(model, x, y)
    scripted = tj.script(model)
    tj.save(traced, tmp_path / "m.tjg")
    loaded = tj.load(tmp_path / "m.tjg")
    assert f"{dtype}[3,4]" in str(traced.graph)
    with caplog.at_level(logging.WARNING, logger="tracejit.fallback"):
        for run in (traced, scripted, loaded):
            for got, expected in zip(run(x, y), want):
                assert got.dtype == expected.dtype
                assert got.detach().numpy().tobytes() == expected.detach().numpy().tobytes()
    fallbacks = [r.getMessage() for r in caplog.records if "cannot compile" in r.getMessage()]
    assert not [m for m in fallbacks if dtype in m], fallbacks


def test_dtypes_print_and_parse_in_graphs():
    from tracejit.ir.parser import parse
    from tracejit.ir.printer import print_graph

    for dtype in NEW:
        x = tj.ones(2, dtype=getattr(tj, dtype))
        graph = tj.trace(lambda x: (x * 2).to(tj.float16), x).graph
        text = print_graph(graph)
        assert print_graph(parse(text)) == text
        assert DType(dtype).value in text


def test_reduction_dtype_argument_module_half_and_random_halves():
    x = np.full(300, 1, np.uint8)
    check_same(lambda L, x: x.sum(dtype=L.uint8), x)  # wraps: 300 -> 44
    check_same(lambda L, x: x.sum(dtype=L.int32), x)
    check_same(lambda L: (L.rand(3, dtype=L.half).dtype, L.randn(2, dtype=L.float16).shape))
    torch.manual_seed(0)
    theirs = torch.nn.Linear(3, 2)
    ours = tj.nn.Linear(3, 2)
    ours.load_state_dict({k: tj.tensor(v.detach().numpy()) for k, v in
                          theirs.state_dict().items()})
    x = np.linspace(-1, 1, 6, dtype=np.float16).reshape(2, 3)
    with torch.no_grad():
        assert_same(ours.half()(tj.tensor(x)), theirs.half()(torch.tensor(x)), rtol=0, atol=0)


def test_python_ints_into_small_dtypes_are_checked_where_torch_checks():
    """tensor(), full(), fill_() and x[i] = v check a Python int against the dtype (uint8 takes
    -255..255, wrapping negatives); arithmetic wraps it (uint8 + 300 adds 44)."""
    for fn in (lambda L: L.tensor([300], dtype=L.uint8), lambda L: L.tensor([-1], dtype=L.uint8),
               lambda L: L.tensor([[1], [-256]], dtype=L.uint8),
               lambda L: L.tensor(np.array([300]), dtype=L.uint8),
               lambda L: L.tensor([1e6], dtype=L.half), lambda L: L.full((2,), -1, dtype=L.uint8),
               lambda L: L.full((2,), 300, dtype=L.uint8),
               lambda L: L.full((2,), 1e6, dtype=L.half),
               lambda L: L.ones(2, dtype=L.uint8).fill_(-1),
               lambda L: L.ones(2, dtype=L.int8).fill_(128),
               lambda L: L.ones(2, dtype=L.uint8).__setitem__(0, 300),
               lambda L: L.full_like(L.ones(2, dtype=L.int8), 200),
               lambda L: L.ones(2, dtype=L.int8).new_full((2,), -5)):
        check_same(fn)
