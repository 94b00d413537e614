"""Eager-API findings of the differential fuzzer (issue 13), each against PyTorch 2.13 running
the same Python source: the module `torch` or `tracejit` is passed in as `T`, so one function
body is the program under both libraries. Each program also runs under tracejit.trace and
tracejit.script, which record the same ops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mode_compare import MODES, compare, same
from mode_compare import data as _data

import tracejit as tj

_same = same


# --- 1. expand() that broadcasts nothing is writable, as torch's ------------------------------
def expand_same_shape(T, x):
    y = x.expand(3, 4)
    y.add_(1)
    return y


def expand_minus_one(T, x):
    y = x.expand(-1, -1)
    y[1] = 7.0
    return y * 1


def expand_new_unit_dim(T, x):
    y = x[0].expand(1, 4)
    y.mul_(2)
    y[0, 1] = 5.0
    return y * 1


def expand_unit_dims_to_one(T, x):
    y = x[:, :1].expand(3, 1)
    y.sub_(3)
    return y * 1


def expand_as_same(T, x):
    y = x.expand_as(x)
    y.clamp_(min=0.0)
    return y * 1


def broadcast_to_same(T, x):
    y = T.broadcast_to(x, (1, 3, 4))
    y.fill_(2.0)
    return y * 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fn", [expand_same_shape, expand_minus_one, expand_new_unit_dim,
                                expand_unit_dims_to_one, expand_as_same, broadcast_to_same])
def test_expand_that_broadcasts_nothing_is_writable(fn, mode):
    compare(mode, fn, _data())


def test_expand_of_an_empty_tensor_is_writable():
    for lib in (torch, tj):
        y = lib.ones(0, 1).expand(0, 4)
        y.add_(1)
        assert tuple(y.shape) == (0, 4)


@pytest.mark.parametrize("write", [
    lambda y: y.add_(1),
    lambda y: y.copy_(y.clone()),
    lambda y: y.__setitem__(0, 2.0),
])
def test_writing_into_a_truly_expanded_tensor_raises_as_torch(write):
    with pytest.raises(RuntimeError, match="single memory location"):
        write(torch.ones(3, 1).expand(3, 4))
    with pytest.raises(RuntimeError, match=r"clone\(\)"):
        write(tj.ones(3, 1).expand(3, 4))


# --- 2. setitem broadcasts a value with leading 1-dims, as torch -----------------------------
SETITEM_CASES = [
    ((4,), (2,), (1,)),
    ((4,), (2,), (1, 1)),
    ((), (), (1,)),
    ((), (Ellipsis,), (1, 1)),
    ((), (None,), (1, 1)),
    ((3, 4), (1, 2), (1, 1)),
    ((3, 4), (1, 2), (1,)),
    ((3, 4), (1,), (1, 1, 4)),
    ((3, 4), (slice(None),), (1, 3, 4)),
    ((3, 4), (slice(None), 1), (1, 3)),
    ((3, 4), (slice(None), None, 1), (3, 1)),
    ((2, 3, 4), (Ellipsis, 1), (1, 1, 2, 3)),
    ((3, 4), ([0, 1],), (1, 2, 4)),
    ((3, 4), ([0, 1],), (1, 1, 4)),
    ((3, 4), ([True, False, True],), (1, 1)),
]
SETITEM_ERRORS = [
    ((3, 4), (1,), (2, 4)),
    ((3, 4), (1,), (1, 4, 1)),
    ((4,), (2,), (2,)),
    ((3, 4), ([0, 1],), (2, 1, 4)),
]


def _key(lib, key):
    return tuple(lib.tensor(k) if isinstance(k, list) else k for k in key)


@pytest.mark.parametrize("shape,key,vshape", SETITEM_CASES)
def test_setitem_broadcasts_leading_unit_dims(shape, key, vshape):
    expected = torch.zeros(shape)
    expected[_key(torch, key)] = torch.arange(1.0, 1 + np.prod(vshape)).reshape(vshape)
    got = tj.zeros(shape)
    got[_key(tj, key)] = tj.arange(1.0, 1 + np.prod(vshape)).reshape(vshape)
    _same(got, expected)


@pytest.mark.parametrize("shape,key,vshape", SETITEM_ERRORS)
def test_setitem_refuses_what_torch_refuses(shape, key, vshape):
    with pytest.raises(RuntimeError):
        torch.zeros(shape)[_key(torch, key)] = torch.ones(vshape)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        tj.zeros(shape)[_key(tj, key)] = tj.ones(vshape)


def set_one_element(T, a, v):
    a[2] = v
    return a * 1


def set_matrix_element(T, a, v):
    a[1, 2] = v.reshape(1, 1)
    return a * 1


def set_zero_dim(T, a, v):
    s = a[0, 0]
    s[...] = v
    return a * 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fn", [set_one_element, set_matrix_element, set_zero_dim])
def test_setitem_with_a_one_element_value(fn, mode):
    compare(mode, fn, _data((3, 4)), _data((1,), seed=1))


# --- 3. ops torch returns contiguous stay contiguous over a transposed input -------------------
CONTIGUOUS_OPS = {
    "softmax": lambda T, x: x.softmax(1),
    "log_softmax": lambda T, x: T.log_softmax(x, 1),
    "cumsum": lambda T, x: x.cumsum(1),
    "cumprod": lambda T, x: x.cumprod(0),
    "cummax": lambda T, x: x.cummax(1).values,
    "cummax_indices": lambda T, x: x.cummin(0).indices,
    "logsumexp": lambda T, x: x.logsumexp(1),
    "tril": lambda T, x: x.tril(),
    "triu": lambda T, x: T.triu(x, 1),
    "topk_values": lambda T, x: x.topk(2, 1).values,
    "topk_indices": lambda T, x: x.topk(2, 1).indices,
    "kthvalue": lambda T, x: x.kthvalue(2, 1).values,
    "kthvalue_indices": lambda T, x: x.kthvalue(2, 0, keepdim=True).indices,
    "diag_embed": lambda T, x: T.diag_embed(x),
    "repeat": lambda T, x: x.repeat(1, 1, 1),
    "tile": lambda T, x: x.tile(2),
    "cdist": lambda T, x: T.cdist(x, x),
    "cross": lambda T, x: T.cross(x, x.roll(1, 2), dim=0),
    "isin": lambda T, x: T.isin(x, x * 1),
    "trapezoid": lambda T, x: T.trapezoid(x, dim=0),
    "gather": lambda T, x: x.gather(1, T.zeros(3, 2, 4, dtype=T.int64)),
    "layer_norm": lambda T, x: T.nn.functional.layer_norm(x, (4,)),
}


def _transposed(lib):
    return lib.tensor(_data((4, 2, 3))).permute(2, 1, 0)  # shape (3, 2, 4)


@pytest.mark.parametrize("name", sorted(CONTIGUOUS_OPS))
def test_result_contiguity_matches_torch(name):
    op = CONTIGUOUS_OPS[name]
    expected, got = op(torch, _transposed(torch)), op(tj, _transposed(tj))
    assert expected.is_contiguous()
    assert got.is_contiguous()
    _same(got.view(-1), expected.view(-1))


def softmax_then_view(T, x):
    return x.permute(2, 1, 0).softmax(1).view(-1)


def log_softmax_then_view(T, x):
    return T.log_softmax(x.permute(2, 1, 0), 1).view(-1)


def cumsum_then_view(T, x):
    return x.permute(2, 1, 0).cumsum(1).view(-1)


def topk_indices_then_view(T, x):
    return x.permute(2, 1, 0).topk(2, 1).indices.view(-1)


def repeat_then_view(T, x):
    return x.permute(2, 1, 0).repeat(1, 1, 1).view(-1)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fn", [softmax_then_view, log_softmax_then_view, cumsum_then_view,
                                topk_indices_then_view, repeat_then_view])
def test_view_after_op_of_transposed_input(fn, mode):
    compare(mode, fn, _data((4, 2, 3)))


def repeat_once_then_write(T, x):
    y = x.repeat(1, 1)
    y[0, 0] = 9.0
    return y * 1


def repeat_unit_then_write(T, x):
    y = x[:1, :1].repeat(3, 1)
    y[0] = 9.0
    return y * 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fn", [repeat_once_then_write, repeat_unit_then_write])
def test_repeat_returns_a_fresh_writable_tensor(fn, mode):
    compare(mode, fn, _data())


# --- 4. lerp is exact at both ends (torch switches formula at |weight| = 0.5) ----------------
def lerp_scalar_one(T, a, b):
    return T.lerp(a, b, 1.0), a.lerp(b, 0.75), a.lerp(b, 0.25), a.lerp(b, -0.6)


def lerp_tensor_weight(T, a, b):
    w = T.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    return T.lerp(a, b, w)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fn", [lerp_scalar_one, lerp_tensor_weight])
def test_lerp_switches_formula_at_half(fn, mode):
    a = np.array([1e8, -3e7, 1.5, 0.0, 7e9], np.float32)
    b = np.array([1.0, 2.0, -1e8, 3.0, -2.0], np.float32)
    got, _ = compare(mode, fn, a, b)
    if fn is lerp_scalar_one:
        assert got[0].detach().numpy().tolist() == b.tolist()  # exactly `end` at weight 1


# --- 5. bool.square() is int64 -----------------------------------------------------------------
def square_bool(T, x):
    m = x > 0
    return m.square(), T.square(m), m ** 2


@pytest.mark.parametrize("mode", MODES)
def test_bool_square_is_int64(mode):
    compare(mode, square_bool, _data())


def test_bool_square_in_place_raises_as_torch():
    with pytest.raises(RuntimeError):
        torch.tensor([True]).square_()
    with pytest.raises(RuntimeError, match="int64"):
        tj.tensor([True]).square_()


# --- 6. basic indexing of a 0-d tensor is a view ------------------------------------------------
def zero_dim_ellipsis(T, x):
    s = x.sum()
    v = s[...]
    v.add_(1)
    return s * 1, v * 1


def zero_dim_empty_tuple(T, x):
    s = x.sum()
    v = s[()]
    v.mul_(2)
    return s * 1


def zero_dim_none(T, x):
    s = x.sum()
    v = s[None]
    v.sub_(3)
    return s * 1, v * 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fn", [zero_dim_ellipsis, zero_dim_empty_tuple, zero_dim_none])
def test_indexing_a_zero_dim_tensor_views_it(fn, mode):
    compare(mode, fn, _data())


def test_zero_dim_views_share_memory_eagerly():
    for key in [Ellipsis, (), None]:
        x = tj.tensor(1.5)
        x[key].add_(1)
        assert x.item() == torch.tensor(1.5).add_(1).item()


# --- 7. float32/float16 var and std accumulate in float64 -----------------------------------
def var_std_large(T, x):
    return (x.var(), x.std(), x.var(0), x.std(1, keepdim=True), T.var_mean(x, 1),
            T.std_mean(x), x.std(correction=0))


@pytest.mark.parametrize("mode", MODES)
def test_var_std_do_not_overflow_above_1e19(mode):
    x = np.array([[3e19, -3e19, 1e19], [2e19, 2.5e19, -1e19]], np.float32)
    got, expected = compare(mode, var_std_large, x)
    assert np.isfinite(got[1].item()) and np.isfinite(expected[1].item())


def test_float16_std_does_not_overflow():
    x = [300.0, -300.0, 100.0]
    expected = torch.tensor(x, dtype=torch.float16).std()
    got = tj.tensor(x, dtype=tj.float16).std()
    assert got.dtype is tj.float16
    np.testing.assert_allclose(got.item(), expected.item(), rtol=1e-3)


# --- 8. further findings of the eager hunt -----------------------------------------------------
def half_views_write_through(T, x):
    h = x.half()
    h.t().mul_(2)
    h[0].add_(1)
    h.view(-1)[1:3].zero_()
    h.unsqueeze(0)[0, 1].fill_(7)
    return h.float()


@pytest.mark.parametrize("mode", MODES)
def test_float16_views_write_through(mode):
    compare(mode, half_views_write_through, _data())


def cumsum_leading_negative_zero(T, x):
    z = x * 0 - x * 0  # +0.0 rows; -0.0 where negated below
    return (-z).cumsum(1), (-z).t().cumsum(0), (-z).double().cumsum(1)


@pytest.mark.parametrize("mode", MODES)
def test_cumsum_starts_at_positive_zero(mode):
    got, expected = compare(mode, cumsum_leading_negative_zero, _data())
    for g, e in zip(got, expected):
        assert np.array_equal(np.signbit(g.detach().numpy()), np.signbit(e.detach().numpy()))


def hypot_extremes(T, a, b):
    return T.hypot(a, b), T.hypot(b, a)


@pytest.mark.parametrize("mode", MODES)
def test_hypot_does_not_overflow_early(mode):
    a = np.array([1e20, 3e38, np.inf, np.nan, 0.0, 3.0, -1e-30], np.float32)
    b = np.array([1e20, 1.0, np.nan, 1.0, 0.0, -4.0, 1e-30], np.float32)
    compare(mode, hypot_extremes, a, b)


def float_pair_dtypes(T, i, h):
    return T.copysign(i, h), T.xlogy(i, h), T.copysign(i > 0, h), T.xlogy(i, 2.0)


@pytest.mark.parametrize("mode", MODES)
def test_copysign_xlogy_promote_both_operands(mode):
    compare(mode, float_pair_dtypes, np.array([1, 0, -3], np.int32),
            np.array([1.5, -2.0, 0.5], np.float16))


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int64", "float32", "float16", "bool"])
@pytest.mark.parametrize("value", [1e300, float("inf"), float("nan"), 255.9, -0.9, 1e19, -1.0])
def test_fill_and_setitem_overflow_as_torch(dtype, value):
    for write in (lambda a: a.fill_(value), lambda a: a.__setitem__(0, value),
                  lambda a: a.__setitem__(a == 0, value)):
        expected = torch.zeros(2, dtype=getattr(torch, dtype))
        got = tj.zeros(2, dtype=getattr(tj, dtype))
        try:
            write(expected)
        except RuntimeError:
            with pytest.raises(RuntimeError, match="without overflow"):
                write(got)
            continue
        write(got)
        _same(got, expected)


def test_zero_dim_integer_tensor_index_is_a_view():
    for lib in (torch, tj):
        x = lib.ones(2, 3)
        x[lib.tensor(1)].mul_(4)
        x[lib.tensor(0), lib.tensor(2)] = 9.0
        assert x.tolist() == [[1.0, 1.0, 9.0], [4.0, 4.0, 4.0]]


def clamp_relu_signed_zero(T, x):
    z = x * 0
    return (-z).clamp(min=0.0), z.clamp(max=-0.0), T.relu(-z), (-z).clamp(0.0, 1.0)


@pytest.mark.parametrize("mode", MODES)
def test_clamp_and_relu_keep_a_tied_signed_zero(mode):
    got, expected = compare(mode, clamp_relu_signed_zero, np.abs(_data()) + 1)
    for g, e in zip(got, expected):
        assert np.array_equal(np.signbit(g.detach().numpy()), np.signbit(e.detach().numpy()))


def remainder_signs(T, x):
    return x % -1.0, x % 1.0, T.remainder(x, x.flip(0)), x.double() % -0.75


@pytest.mark.parametrize("mode", MODES)
def test_float_remainder_zero_keeps_the_dividend_sign(mode):
    x = np.array([0.0, -0.0, 1.0, -1.0, 2.5, -2.5, 1e-30, np.inf, -7.25, 3.0], np.float32)
    got, expected = compare(mode, remainder_signs, x)
    for g, e in zip(got, expected):
        assert np.array_equal(np.signbit(g.detach().numpy()), np.signbit(e.detach().numpy()))


def fmin_fmax_promoted(T, i, f):
    return T.fmin(i, f), T.fmax(i, f), T.fmax(f, i), T.hypot(f, i > 0)


@pytest.mark.parametrize("mode", MODES)
def test_fmin_fmax_ignore_nan_after_promotion(mode):
    compare(mode, fmin_fmax_promoted, np.array([5, -1, 0], np.int8),
            np.array([np.nan, 0.5, np.nan], np.float32))


def unfold_windows_write_through(T, x):
    x.unfold(1, 2, 2).mul_(-1)
    x.t().unfold(1, 1, 2).add_(10)
    return x.unfold(0, 1, 1) * 1


@pytest.mark.parametrize("mode", MODES)
def test_unfold_without_overlap_is_a_view(mode):
    compare(mode, unfold_windows_write_through, _data((3, 4)))


@pytest.mark.parametrize("key", [
    lambda T: (slice(None, 3, 2), T.tensor([True, False, True])),
    lambda T: (slice(None), T.tensor([0, 1])),
    lambda T: (slice(-4, None), T.tensor([-2, -1]), T.tensor([1])),
])
def test_advanced_index_of_a_contiguous_tensor_is_contiguous(key):
    expected = torch.arange(18.0).reshape(3, 3, 2)[key(torch)]
    got = tj.arange(18.0).reshape(3, 3, 2)[key(tj)]
    assert expected.is_contiguous() and got.is_contiguous()
    _same(got.view(-1), expected.view(-1))


@pytest.mark.parametrize("op", [
    lambda T, e, x: T.logical_xor(e, x),
    lambda T, e, x: e + x,
    lambda T, e, x: (e * 2).exp(),
    lambda T, e, x: e.clone(),
])
def test_elementwise_over_broadcast_operands_is_contiguous(op):
    results = []
    for lib in (torch, tj):
        x = lib.tensor(_data((1, 2, 1)))
        results.append(op(lib, x.expand(2, 1, 2, 1), x))
    expected, got = results
    assert got.is_contiguous() == expected.is_contiguous()
    _same(got.reshape(-1), expected.reshape(-1))
    if expected.is_contiguous():
        _same(got.view(-1), expected.view(-1))


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_hypot_rounds_once_as_torch(dtype):
    a, b = _data((500,), seed=3) * 50, _data((500,), seed=4) * 50
    expected = torch.hypot(torch.tensor(a).to(getattr(torch, dtype)),
                           torch.tensor(b).to(getattr(torch, dtype)))
    got = tj.hypot(tj.tensor(a).to(getattr(tj, dtype)), tj.tensor(b).to(getattr(tj, dtype)))
    assert np.array_equal(got.float().detach().numpy(), expected.float().detach().numpy())
