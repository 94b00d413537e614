"""More eager-API findings of the differential fuzzer (issue 13), each against PyTorch 2.13
running the same Python source (the module `torch` or `tracejit` is passed in as `T`), in eager
mode and under tracejit.trace and tracejit.script, which must record the same ops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tracejit as tj

MODES = ["eager", "trace", "script"]


def _data(shape=(3, 4), seed=0, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2, 2, shape).astype(dtype)


def _run(mode, fn, tensors):
    if mode == "eager":
        return fn(tj, *tensors)
    if mode == "trace":
        example = [t.clone() for t in tensors]
        return tj.trace(lambda *xs: fn(tj, *xs), *example, backend="eager")(*tensors)
    return tj.script(fn, backend="eager")(tj, *tensors)


def compare(mode, fn, *arrays):
    """`fn(T, *tensors)` under torch and under tracejit in `mode`: outputs and every input's
    values after the call (in-place writes through views) must match torch's."""
    expected_in = [torch.tensor(a.copy()) for a in arrays]
    expected = fn(torch, *expected_in)
    ours_in = [tj.tensor(a.copy()) for a in arrays]
    got = _run(mode, fn, ours_in)
    _same(got, expected)
    for o, t in zip(ours_in, expected_in):
        _same(o, t)
    return got, expected


def _same(got, expected, rtol=1e-6, atol=1e-7) -> None:
    if isinstance(expected, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(expected)
        for g, e in zip(got, expected):
            _same(g, e)
        return
    assert str(got.dtype).split(".")[-1] == str(expected.dtype).split(".")[-1]
    assert tuple(got.shape) == tuple(expected.shape)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=rtol, atol=atol)


# --- 1. writes into expanded tensors: refused only where written elements share memory -------
def zero_one_row_of_expanded(T, x):
    t = x.unsqueeze(0).expand(2, -1)
    t[::2].zero_()
    return t * 1


def set_one_element_of_expanded(T, x):
    e = x.expand(3, 4)
    e[0, 0] = 2.0
    return e * 1


def set_column_of_expanded(T, x):
    e = x.expand(3, 4)
    e[:, 0] = T.tensor([1.0, 2.0, 3.0])
    return e * 1


def write_through_column_view_of_expanded(T, x):
    e = x.expand(3, 4)
    e[:, 1].mul_(3)
    return e + 0


def index_fill_expanded(T, x):
    e = x.expand(3, 4)
    e.index_fill_(0, T.tensor([1]), -1.0)
    return e * 1


def fill_diagonal_of_expanded(T, x):
    e = x.expand(3, 4)
    e.fill_diagonal_(5.0)
    return e * 1


def write_expanded_of_local(T, x):
    b = x * 2
    e = b.expand(3, 4)
    e[1, 2] = 7.0
    return b + e


def fill_expanded(T, x):
    e = x.expand(3, 4)
    e.zero_()
    e[1:].fill_(3.0)
    return e * 1


EXPANDED_WRITES = [fill_expanded, zero_one_row_of_expanded, set_one_element_of_expanded,
                   set_column_of_expanded, write_through_column_view_of_expanded,
                   index_fill_expanded,
                   fill_diagonal_of_expanded, write_expanded_of_local]


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch: index_fill_ on expanded, deprecated
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fn", EXPANDED_WRITES)
def test_partial_write_into_expanded_tensor_matches_torch(fn, mode):
    shape = (3,) if fn is zero_one_row_of_expanded else (3, 1)
    compare(mode, fn, _data(shape))


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch: index_put_ on expanded, deprecated
@pytest.mark.parametrize("mode", MODES)
def test_index_put_into_expanded_tensor_matches_torch(mode):
    def fn(T, x):
        e = x.expand(3, 4)
        e[T.tensor([2]), 1] = 9.0
        return e * 1
    compare(mode, fn, _data((3, 1)))


OVERLAPPING_WRITES = {
    "add_": lambda T, e: e.add_(1),
    "copy_": lambda T, e: e.copy_(e.clone()),
    "row": lambda T, e: e.__setitem__(0, 2.0),
    "row_add_": lambda T, e: e[0].add_(1),
    "ellipsis": lambda T, e: e.__setitem__(Ellipsis, 2.0),
    "none": lambda T, e: e.__setitem__(None, 2.0),
    "scatter_": lambda T, e: e.scatter_(0, T.tensor([[0]]), 5.0),
    "index_copy_": lambda T, e: e.index_copy_(0, T.tensor([0]), T.ones(1, 4)),
    "cumprod_": lambda T, e: e.cumprod_(0),
    "relu_inplace": lambda T, e: T.nn.functional.relu(e, inplace=True),
}


@pytest.mark.parametrize("name", sorted(OVERLAPPING_WRITES))
def test_write_of_elements_sharing_memory_raises_as_torch(name):
    write = OVERLAPPING_WRITES[name]
    with pytest.raises(RuntimeError) as want:
        write(torch, torch.ones(3, 1).expand(3, 4))
    with pytest.raises(RuntimeError) as got:
        write(tj, tj.ones(3, 1).expand(3, 4))
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("mode", ["trace", "script"])
def test_overlapping_write_raises_under_capture(mode):
    def fn(T, x):
        e = x.expand(3, 4)
        e.add_(1)
        return e
    with pytest.raises(RuntimeError, match="single memory location"):
        _run(mode, fn, [tj.ones(3, 1)])


def test_write_into_read_only_numpy_array_is_refused():
    a = np.ones((2, 3), np.float32)
    a.flags.writeable = False
    x = tj.from_numpy(a)
    with pytest.raises(RuntimeError, match=r"read-only numpy array.*clone\(\)"):
        x.add_(1)
    with pytest.raises(RuntimeError, match=r"read-only numpy array"):
        x.expand(2, 2, 3)[0, 0, 0] = 1.0


# --- 3. a float16 tensor with a Python scalar computes with the scalar's float32 value --------
def zero_dim_div_small(T, x):
    return x / 1e5


def zero_dim_div_huge(T, x):
    return x / 1e20


def zero_dim_rdiv_beyond_half(T, x):
    return 70000.0 / x


def zero_dim_mul_tiny(T, x):
    return x * 2.5e-8


def zero_dim_by_zero_dim_float32(T, x):
    return x * T.tensor(2.5e-8)


def vector_div(T, x):
    return x.reshape(1) / 1e5


def zero_dim_tensor_times_vector(T, x):
    return T.tensor(1e5) * x.reshape(1).mul(0)


HALF_SCALAR_CASES = {f.__name__: f for f in (
    zero_dim_div_small, zero_dim_div_huge, zero_dim_rdiv_beyond_half, zero_dim_mul_tiny,
    zero_dim_by_zero_dim_float32, vector_div, zero_dim_tensor_times_vector)}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(HALF_SCALAR_CASES))
@pytest.mark.parametrize("value", [-0.5, float("inf"), 65504.0, 3.25])
def test_float16_with_python_scalar_matches_torch_bitwise(name, value, mode):
    got, expected = compare(mode, HALF_SCALAR_CASES[name], np.array(value, np.float16))
    assert got.numpy().tobytes() == expected.numpy().tobytes()  # bit for bit (-0.0, nan)


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
@pytest.mark.parametrize("scalar", [300, -300, 1000, -129])
def test_small_int_with_out_of_range_python_int_wraps_as_torch(dtype, scalar):
    data = np.array([1, 2, 100], getattr(np, dtype))
    for op in (lambda x: x + scalar, lambda x: x * scalar, lambda x: scalar - x):
        expected = op(torch.tensor(data))
        got = op(tj.tensor(data))
        _same(got, expected)
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


# --- 4. ldexp: 2 as a 0-d tensor of a float input's dtype, as torch ---------------------------
LDEXP_DTYPES = ["bool", "uint8", "int32", "int64", "float16", "float32", "float64"]


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch: its out= resize warning
@pytest.mark.parametrize("input_dtype", LDEXP_DTYPES)
@pytest.mark.parametrize("other_dtype", LDEXP_DTYPES)
@pytest.mark.parametrize("shapes", [((), ()), ((3,), ()), ((), (3,)), ((3,), (3,))])
def test_ldexp_dtype_and_values_match_torch(input_dtype, other_dtype, shapes):
    x = np.resize(np.array([1.5, 0, -3]), shapes[0]).astype(input_dtype)
    y = np.resize(np.array([1, 2, 3]), shapes[1]).astype(other_dtype)
    try:
        expected = torch.ldexp(torch.tensor(x), torch.tensor(y))
    except NotImplementedError as e:
        with pytest.raises(NotImplementedError, match=str(e)):
            tj.ldexp(tj.tensor(x), tj.tensor(y))
        return
    _same(tj.ldexp(tj.tensor(x), tj.tensor(y)), expected)


@pytest.mark.parametrize("mode", MODES)
def test_ldexp_of_bool_by_float16_is_float16(mode):
    def fn(T, x, e):
        return T.ldexp(x > 0, e)
    compare(mode, fn, _data((3,)), np.array(1.5, np.float16))


# --- 5. error types: abs of bool, index_select out of range ------------------------------------
@pytest.mark.parametrize("call", [
    lambda T: T.tensor([True]).abs(),
    lambda T: T.abs(T.tensor(True)),
    lambda T: T.tensor([True, False]).abs_(),
    lambda T: abs(T.tensor([True])),
])
def test_abs_of_bool_raises_not_implemented_as_torch(call):
    with pytest.raises(NotImplementedError) as want:
        call(torch)
    with pytest.raises(NotImplementedError) as got:
        call(tj)
    assert str(got.value).startswith(str(want.value))


@pytest.mark.parametrize("shape,dim,index", [
    ((3,), 0, [3]), ((3,), 0, [-1]), ((3, 2), 0, [0, 7]), ((2, 3), 1, [5]), ((2, 3), 1, [-1]),
    ((2, 2, 3), 2, [3]), ((2, 3, 2), 1, [3]), ((), 0, [1]),
])
def test_index_select_out_of_range_raises_as_torch(shape, dim, index):
    with pytest.raises((IndexError, RuntimeError)) as want:
        torch.ones(shape).index_select(dim, torch.tensor(index))
    with pytest.raises(type(want.value)) as got:
        tj.ones(shape).index_select(dim, tj.tensor(index))
    assert type(got.value) is type(want.value)
    assert str(got.value).startswith(str(want.value))

