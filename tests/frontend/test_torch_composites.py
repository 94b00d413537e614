"""More of the torch namespace against PyTorch as the oracle: elementwise and math composites,
reductions, diagonals, shape helpers, order statistics, legacy names and module paths."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from namespace_oracle import both, check, data

import tracejit as tj

# --- more composites: elementwise, reductions, diagonals, shapes --------------------------------

SPECIAL = np.array([[0.0, -1.5, np.inf, np.nan], [2.0, -np.inf, 3.0, -0.5],
                    [np.nan, 1.0, -2.0, 4.0]], np.float32)


def test_special_value_functions_match_torch():
    (x,), (tx,) = both(SPECIAL)
    for name in ("isinf", "isfinite", "isposinf", "isneginf", "nan_to_num"):
        check(getattr(tj, name)(x), getattr(torch, name)(tx))
        check(getattr(x, name)(), getattr(tx, name)())
    check(tj.nan_to_num(x, nan=1.0, posinf=9.0, neginf=-9.0),
          torch.nan_to_num(tx, nan=1.0, posinf=9.0, neginf=-9.0))
    check(x.clone().nan_to_num_(), tx.clone().nan_to_num_())
    check(tj.nansum(x), torch.nansum(tx))
    check(tj.nansum(x, 1), torch.nansum(tx, 1))
    check(tj.nanmean(x, 0, keepdim=True), torch.nanmean(tx, 0, keepdim=True))
    (i,), (ti,) = both(np.array([1, 0, 3]))
    for name in ("isinf", "isfinite", "isposinf", "isneginf"):
        check(getattr(tj, name)(i), getattr(torch, name)(ti))


def test_elementwise_composites_match_torch():
    (a, b, c), (ta, tb, tc) = both(data((3, 4)), data((3, 4), seed=1), data((4,), seed=2))
    check(tj.addcmul(a, b, c, value=0.5), torch.addcmul(ta, tb, tc, value=0.5))
    check(tj.addcdiv(a, b, c, value=2), torch.addcdiv(ta, tb, tc, value=2))
    check(a.clone().addcmul_(b, c), ta.clone().addcmul_(tb, tc))
    check(a.clone().addcdiv_(b, c), ta.clone().addcdiv_(tb, tc))
    check(tj.hypot(a, b), torch.hypot(ta, tb))
    check(tj.logaddexp(a, b), torch.logaddexp(ta, tb))
    big = np.array([1000.0, -np.inf, np.inf, -1000.0], np.float32)
    (p, q), (tp, tq) = both(big, big[::-1].copy())
    check(tj.logaddexp(p, p), torch.logaddexp(tp, tp))
    check(tj.logaddexp(p, q), torch.logaddexp(tp, tq))
    check(a.clone().clamp_min_(0), ta.clone().clamp_min_(0))
    check(a.clone().clamp_max_(0), ta.clone().clamp_max_(0))
    check(a.clone().lerp_(b, 0.25), ta.clone().lerp_(tb, 0.25))
    check(a.clone().cumsum_(1), ta.clone().cumsum_(1))
    check(a.clone().square_(), ta.clone().square_())
    check(a.clone().tril_(1), ta.clone().tril_(1))
    check(a.clone().triu_(-1), ta.clone().triu_(-1))
    check(a.not_equal(b), ta.not_equal(tb))
    check(a.positive(), ta.positive())
    with pytest.raises(RuntimeError, match="addcdiv"):
        tj.addcdiv(tj.ones(2), tj.ones(2, dtype=tj.int64), tj.ones(2, dtype=tj.int64))


def test_reductions_and_products_match_torch():
    (a, b, v, w, i), (ta, tb, tv, tw, ti) = both(
        data((3, 4)), data((2, 4), seed=1), data((3,), seed=2), data((3,), seed=3),
        data((3, 4), "int64", seed=4))
    check(tj.count_nonzero(i), torch.count_nonzero(ti))
    check(i.count_nonzero(1), ti.count_nonzero(1))
    check(tj.aminmax(a), torch.aminmax(ta))
    check(a.aminmax(dim=1, keepdim=True), ta.aminmax(dim=1, keepdim=True))
    check(tj.var_mean(a, 1), torch.var_mean(ta, 1))
    check(tj.std_mean(a), torch.std_mean(ta))
    check(tj.std_mean(a, 0, correction=0, keepdim=True),
          torch.std_mean(ta, 0, correction=0, keepdim=True))
    check(tj.inner(a, b), torch.inner(ta, tb))
    check(tj.vdot(v, w), torch.vdot(tv, tw))
    check(tj.kron(a, b), torch.kron(ta, tb))
    check(tj.kron(v, a), torch.kron(tv, ta))
    check(tj.dist(a, a * 2), torch.dist(ta, ta * 2))
    check(tj.dist(a, a * 2, 1), torch.dist(ta, ta * 2, 1))
    (x, y), (tx, ty) = both(data((2, 3, 5)), data((2, 3, 5), seed=1))
    check(tj.cross(x, y, dim=1), torch.cross(tx, ty, dim=1))
    check(x.cross(y), torch.linalg.cross(tx, ty, dim=1))


@pytest.mark.parametrize("offset", [0, 1, -1, 3, -5])
def test_diagonals_match_torch(offset):
    (a, v, x), (ta, tv, tx) = both(data((3, 4)), data((3,)), data((2, 3, 4)))
    check(tj.diagonal(a, offset), torch.diagonal(ta, offset))
    check(x.diagonal(offset, 2, 0), tx.diagonal(offset, 2, 0))
    check(tj.diag(a, offset), torch.diag(ta, offset))
    check(tj.diag(v, offset), torch.diag(tv, offset))
    check(tj.diag_embed(a, offset), torch.diag_embed(ta, offset))
    check(tj.diag_embed(a, offset, 0, 2), torch.diag_embed(ta, offset, 0, 2))
    check(a.trace() if offset == 0 else a[:, :3].trace(),
          ta.trace() if offset == 0 else ta[:, :3].trace())


def test_diagonal_is_a_view_like_torch():
    x, tx = tj.zeros(3, 3), torch.zeros(3, 3)
    x.diagonal().fill_(1)
    tx.diagonal().fill_(1)
    check(x, tx)
    check(tj.arange(9).reshape(3, 3).trace(), torch.arange(9).reshape(3, 3).trace())


def test_shape_helpers_match_torch():
    (a, v, s), (ta, tv, ts) = both(data((4, 6)), data((5,)), np.float32(2.0))
    check(tj.broadcast_to(v, (2, 5)), torch.broadcast_to(tv, (2, 5)))
    check(a.tile((2,)), ta.tile((2,)))
    check(tj.tile(a, (2, 1, 3)), torch.tile(ta, (2, 1, 3)))
    x, tx = tj.tensor(data((2, 3, 4))), torch.tensor(data((2, 3, 4)))
    check(tj.movedim(x, 0, -1), torch.movedim(tx, 0, -1))
    check(x.moveaxis((0, 1), (2, 0)), tx.moveaxis((0, 1), (2, 0)))
    check(x.ravel(), tx.ravel())
    check(x.select(1, -1), tx.select(1, -1))
    for spec in (3, 4, [1, 4], [-2, 10], [3, 1]):
        check(tj.tensor_split(a, spec, 1), torch.tensor_split(ta, spec, 1))
    check(tj.hsplit(a, 2), torch.hsplit(ta, 2))
    check(tj.vsplit(a, [1]), torch.vsplit(ta, [1]))
    check(tj.dsplit(x, 2), torch.dsplit(tx, 2))
    with pytest.raises(RuntimeError, match="divisible"):
        tj.hsplit(a, 4)
    for name in ("hstack", "vstack", "dstack", "column_stack", "row_stack"):
        check(getattr(tj, name)([v, v]), getattr(torch, name)([tv, tv]))
        check(getattr(tj, name)([a, a]), getattr(torch, name)([ta, ta]))
    for name in ("atleast_1d", "atleast_2d", "atleast_3d"):
        check(getattr(tj, name)(s), getattr(torch, name)(ts))
        check(getattr(tj, name)(v, a), getattr(torch, name)(tv, ta))
    mask = data((4, 6)) > 0
    check(a.masked_select(tj.tensor(mask)), ta.masked_select(torch.tensor(mask)))
    check(tj.masked_select(a, tj.tensor(mask[0])), torch.masked_select(ta, torch.tensor(mask[0])))
    check(tj.cartesian_prod(v[:2], v[2:]), torch.cartesian_prod(tv[:2], tv[2:]))
    check(tj.block_diag(a[:2, :3], v, s), torch.block_diag(ta[:2, :3], tv, ts))
    for args in ((3, 3), (4, 3, 1), (3, 5, -1)):
        check(tj.tril_indices(*args), torch.tril_indices(*args))
        check(tj.triu_indices(*args), torch.triu_indices(*args))


def test_more_top_level_names_match_torch():
    for name in ("pi", "e", "inf"):
        assert getattr(tj, name) == getattr(torch, name)
    assert np.isnan(tj.nan) and tj.newaxis is None
    x, tx = tj.ones(2, 3, dtype=tj.int32), torch.ones(2, 3, dtype=torch.int32)
    check(tj.clone(x), torch.clone(tx))
    check(tj.fill(x, 4), torch.fill(tx, 4))
    check(tj.zero_(tj.ones(2)), torch.zero_(torch.ones(2)))
    assert tj.is_same_size(x, x) and not tj.is_same_size(x, x[0])
    assert tj.is_signed(x) == torch.is_signed(tx)
    assert x.itemsize == tx.itemsize and x.nbytes == tx.nbytes
    assert repr(x.layout) == "tracejit.strided" and str(tx.layout) == "torch.strided"
    check(x.mH, tx.mH)
    check(x.H, tx.H)
    check(tj.scalar_tensor(3), torch.scalar_tensor(3))
    check(tj.asarray([1, 2]), torch.asarray([1, 2]))
    check(tj.logspace(0, 3, 4), torch.logspace(0, 3, 4))
    check(tj.logspace(-1, 1, 5, base=2.0, dtype=tj.float64),
          torch.logspace(-1, 1, 5, base=2.0, dtype=torch.float64))
    r = tj.randint_like(x, 3, 6)
    assert r.dtype is tj.int32 and r.shape == x.shape
    assert set(r.numpy().ravel().tolist()) <= {3, 4, 5}


def more_composites(x, y):
    """The composites of functions_math and functions_shape, for capture below."""
    return (tj.addcmul(x, y, y, value=0.5), tj.nan_to_num(x / y), tj.nansum(x, 1),
            tj.logaddexp(x, y), tj.kron(x[:2, :2], y[:2, :2]), x.diagonal(1),
            tj.diag_embed(x[0]), x.trace(), tj.hstack([x, y]), tj.movedim(x, 0, 1),
            tj.tensor_split(x, 3, 1)[1], tj.cross(x[:, :3], y[:, :3]), tj.isfinite(x / y),
            tj.aminmax(x).max, tj.var_mean(x, 0)[0], tj.block_diag(x[:1], y[:1]))


def math_composites(x, y):
    """The math and shape composites added last, for capture below."""
    z = x.clone()
    z.fill_diagonal_(0.5)
    z.unsqueeze_(0)
    return (tj.exp2(x), tj.log2(y.abs() + 1), tj.sinh(x), tj.tan(x), tj.xlogy(x, y.abs()),
            tj.fmax(x, y), tj.copysign(x, y), x.unfold(1, 2, 1), tj.take(x, tj.tensor([0, 5])),
            x.sum_to_size(1, 4), tj.cov(x), tj.signbit(y), z, tj.addr(x, x[:, 0], y[0]))


@pytest.mark.parametrize("function", [more_composites, math_composites])
def test_more_composites_under_trace_script_and_graph_files_equal_eager(tmp_path, function):
    (x, y), _ = both(data((3, 4)), data((3, 4), seed=1))
    eager = function(x, y)
    traced = tj.trace(function, x, y)
    tj.save(traced, tmp_path / "more.tjg")
    for captured in (traced, tj.script(function), tj.load(tmp_path / "more.tjg")):
        got = captured(x, y)
        assert len(got) == len(eager)
        for g, e in zip(got, eager):
            assert g.dtype is e.dtype and g.shape == e.shape
            np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-5, atol=1e-6)


def test_jit_save_load_and_classes(tmp_path):
    class Point:  # a TorchScript class runs as Python
        pass

    assert tj.jit.script(Point) is Point
    assert tj.jit._script_if_tracing(more_composites) is more_composites

    def double(x):
        return x * 2

    traced = tj.jit.trace(double, (tj.ones(2),))
    tj.jit.save(traced, tmp_path / "double.tjg")
    check(tj.jit.load(tmp_path / "double.tjg", map_location="cpu")(tj.ones(2)), torch.ones(2) * 2)
    with pytest.raises(RuntimeError, match="cuda"):
        tj.jit.load(tmp_path / "double.tjg", map_location="cuda")


def test_cuda_legacy_types_are_nameable_not_makeable():
    kind = tj.cuda.FloatTensor if tj.cuda.is_available() else tj.FloatTensor
    assert kind is tj.FloatTensor
    assert not isinstance(tj.ones(1), tj.cuda.FloatTensor)
    with pytest.raises(RuntimeError, match="cuda"):
        tj.cuda.LongTensor(2)
    with pytest.raises(RuntimeError, match="cuda"):
        tj.ones(1).type(tj.cuda.FloatTensor)


def test_legacy_new_matches_torch():
    x, tx = tj.ones(2, dtype=tj.int32), torch.ones(2, dtype=torch.int32)
    check(x.new(2, 3), tx.new(2, 3).zero_())
    check(x.new([1, 2]), tx.new([1, 2]))
    check(x.new(), tx.new())


def test_global_generator_state_and_seed():
    tj.manual_seed(5)
    a = tj.randn(3)
    assert tj.default_generator.manual_seed(5) is tj.default_generator
    check(tj.randn(3), torch.tensor(a.numpy()))
    assert tj.default_generator.initial_seed() == tj.initial_seed() == 5
    state = tj.get_rng_state()
    b = tj.rand(4)
    tj.set_rng_state(state)
    check(tj.rand(4), torch.tensor(b.numpy()))
    assert tj.seed() == tj.initial_seed()
    g = tj.default_generator
    state = g.get_state()
    c = tj.randn(2, generator=g)
    tj.set_rng_state(state)
    check(tj.randn(2), torch.tensor(c.numpy()))


@pytest.mark.parametrize("options", [{}, {"precision": 2}, {"linewidth": 50},
                                     {"profile": "short"}, {"precision": 6, "linewidth": 120}])
def test_set_printoptions_prints_like_torch(options):
    values = [[1.5, -2.25, 3.0] * 4, [0.125, 7.0, -1.0] * 4]
    try:
        tj.set_printoptions(**options)
        torch.set_printoptions(**options)
        assert repr(tj.tensor(values)) == repr(torch.tensor(values))
        assert repr(tj.tensor(values[0][:3])) == repr(torch.tensor(values[0][:3]))
    finally:
        tj.set_printoptions(profile="default")
        torch.set_printoptions(profile="default")


def test_legacy_tensor_constructor_matches_torch():
    check(tj.Tensor(2, 3), torch.Tensor(2, 3).zero_())
    check(tj.Tensor([1, 2]), torch.Tensor([1, 2]))
    check(tj.Tensor(tj.Size([3])), torch.Tensor(torch.Size([3])).zero_())
    check(tj.Tensor(), torch.Tensor())
    x = tj.ones(2)
    assert tj.Tensor(x) is x
    with pytest.raises(TypeError):
        tj.Tensor(tj.ones(2, dtype=tj.int64))
    param = tj.nn.Parameter(tj.Tensor(3, 2))  # the idiom of older layers' __init__
    assert isinstance(param, tj.nn.Parameter) and param.shape == (3, 2)


def test_module_paths_model_code_imports():
    from tracejit.hub import load_state_dict_from_url
    from tracejit.nn.parameter import Parameter
    from tracejit.utils import model_zoo
    from tracejit.utils.data.dataset import random_split
    from tracejit.utils.hooks import RemovableHandle

    assert Parameter is tj.nn.Parameter and random_split is tj.utils.data.random_split
    handle = tj.nn.Linear(1, 1).register_forward_hook(lambda *a: None)
    assert isinstance(handle, RemovableHandle)
    for load in (load_state_dict_from_url, model_zoo.load_url):
        with pytest.raises(RuntimeError, match="pretrained=False"):
            load("https://example.com/weights.pth")
    assert tj.hub.get_dir().endswith("hub")


def test_legacy_autograd_names_run_forward():
    from tracejit.autograd import Function, Variable

    x = tj.ones(2)
    assert Variable(x) is x and Variable(tj.ones(1), requires_grad=True).requires_grad

    class Scale(Function):  # the classic style: forward(ctx, ...)
        @staticmethod
        def forward(ctx, x, k):
            ctx.save_for_backward(x)
            return x * k

    class Shift(Function):  # the newer style: forward(...) plus setup_context
        @staticmethod
        def forward(x):
            return x + 1

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(*inputs)

    check(Scale.apply(x, 3.0), torch.ones(2) * 3)
    check(Shift.apply(x), torch.ones(2) + 1)


@pytest.mark.parametrize("name", ["zeros", "ones", "empty", "rand", "randn"])
def test_creation_takes_the_size_by_keyword_like_torch(name):
    ours, theirs = getattr(tj, name)(size=(2, 3)), getattr(torch, name)(size=(2, 3))
    assert ours.shape == tuple(theirs.shape) and ours.dtype.value == "float32"
    with pytest.raises(TypeError, match=name):
        getattr(tj, name)(2, bogus=1)


def test_tensor_split_takes_torchs_keyword():
    (x,), (tx,) = both(data((2, 5)))
    check(x.split(split_size=[2, 3], dim=-1), tx.split(split_size=[2, 3], dim=-1))
    check(tj.split(x, split_size_or_sections=2, dim=1),
          torch.split(tx, split_size_or_sections=2, dim=1))


# --- math composites, more shape helpers, top-level aliases --------------------------------------

MATH_VALUES = np.array([[-3.5, -1.0, -0.0, 0.0, 0.25, 1.0, 2.5, 40.0, np.inf, -np.inf, np.nan]],
                       np.float32)


@pytest.mark.parametrize("name", ["exp2", "log2", "log10", "sinh", "cosh", "tan", "frac",
                                  "signbit", "deg2rad", "rad2deg", "sinc", "sgn", "logit"])
def test_unary_math_composites_match_torch(name):
    values = MATH_VALUES if name not in ("tan",) else np.array([[-1.2, -0.3, 0.0, 0.7, 1.4]],
                                                               np.float32)
    (x,), (tx,) = both(values)
    with np.errstate(all="ignore"):
        check(getattr(tj, name)(x), getattr(torch, name)(tx), rtol=2e-6, atol=1e-6)
        check(getattr(x, name)(), getattr(tx, name)(), rtol=2e-6, atol=1e-6)
    if name not in ("signbit",):
        check(getattr(x.clone(), name + "_")(), getattr(tx.clone(), name + "_")(), rtol=2e-6,
              atol=1e-6)
    (i,), (ti,) = both(np.array([-2, 0, 3]))
    if name not in ("frac", "sgn", "signbit", "logit"):
        check(getattr(tj, name)(i), getattr(torch, name)(ti), rtol=2e-6, atol=1e-6)


def test_binary_math_composites_match_torch():
    a = np.array([-2.0, -0.0, 0.0, 1.5, np.nan, 3.0, 0.0, np.inf], np.float32)
    b = np.array([1.0, -1.0, 2.0, np.nan, 1.0, -0.0, np.nan, 2.0], np.float32)
    (x, y), (tx, ty) = both(a, b)
    for name in ("copysign", "fmax", "fmin", "logaddexp2", "xlogy", "float_power"):
        check(getattr(tj, name)(x, y), getattr(torch, name)(tx, ty), rtol=2e-6)
        check(getattr(x, name)(y), getattr(tx, name)(ty), rtol=2e-6)
    check(tj.heaviside(x, y), torch.heaviside(tx, ty))
    check(tj.xlogy(x, 2.0), torch.xlogy(tx, 2.0))
    check(tj.copysign(x, -1.0), torch.copysign(tx, -1.0))
    check(tj.rsub(x, y, alpha=2), torch.rsub(tx, ty, alpha=2))
    (i, j), (ti, tj_) = both(np.array([3, -1, 5]), np.array([2, 4, -6]))
    check(tj.fmax(i, j), torch.fmax(ti, tj_))
    check(tj.float_power(i, 2), torch.float_power(ti, 2))


def test_cov_corrcoef_addr_match_torch():
    (m, v, w, c), (tm, tv, tw, tc) = both(data((3, 6)), data((3,), seed=1), data((4,), seed=2),
                                          data((3, 4), seed=3))
    check(tj.cov(m), torch.cov(tm), rtol=1e-5)
    check(tj.cov(m, correction=0), torch.cov(tm, correction=0), rtol=1e-5)
    check(m[0].cov(), tm[0].cov(), rtol=1e-5)
    check(tj.corrcoef(m), torch.corrcoef(tm), rtol=1e-5, atol=1e-6)
    check(tj.addr(c, v, w, beta=0.5, alpha=2), torch.addr(tc, tv, tw, beta=0.5, alpha=2))
    check(c.clone().addr_(v, w), tc.clone().addr_(tv, tw))
    (b1, b2), (tb1, tb2) = both(data((2, 3, 4), seed=4), data((2, 4, 4), seed=5))
    check(c.clone().addmm_(c, tj.eye(4)), tc.clone().addmm_(tc, torch.eye(4)))
    check(c.clone().addbmm_(b1, b2), tc.clone().addbmm_(tb1, tb2), rtol=1e-5)


def test_more_tensor_methods_match_torch():
    (x,), (tx,) = both(data((3, 8)))
    for args in ((1, 3, 2), (0, 2, 1), (1, 8, 8), (-1, 1, 3)):
        check(x.unfold(*args), tx.unfold(*args))
    idx = np.array([[0, 23], [5, 7]])
    check(tj.take(x, tj.tensor(idx)), torch.take(tx, torch.tensor(idx)))
    check(x.sum_to_size(1, 8), tx.sum_to_size(1, 8))
    check(x.sum_to_size(3, 1), tx.sum_to_size(3, 1))
    check(x.narrow_copy(1, 2, 3), tx.narrow_copy(1, 2, 3))
    check(x.split_with_sizes([3, 5], 1), tx.split_with_sizes([3, 5], 1))
    check(x.unsafe_split(3, 1), tx.unsafe_split(3, 1))
    check(x.unsafe_chunk(2, 0), tx.unsafe_chunk(2, 0))
    for shape, wrap in (((3, 3), False), ((7, 3), False), ((7, 3), True), ((3, 5), False),
                        ((3, 3, 3), False)):
        z, tz = tj.zeros(*shape), torch.zeros(*shape)
        check(z.fill_diagonal_(2.0, wrap), tz.fill_diagonal_(2.0, wrap))
    rows = (tj.tensor([0, 2]), tj.tensor([1, 3]))
    check(x.index_put(rows, tj.tensor(5.0)), tx.index_put(rows_t(rows), torch.tensor(5.0)))
    check(x.clone().index_put_(rows, tj.tensor([1.0, 2.0])),
          tx.clone().index_put_(rows_t(rows), torch.tensor([1.0, 2.0])))
    assert x.dim_order() == tx.dim_order() and x.t().dim_order() == tx.t().dim_order()
    assert tj.tensor([2]).is_nonzero() is torch.tensor([2]).is_nonzero()


def rows_t(index_tensors):
    return tuple(torch.tensor(t.numpy()) for t in index_tensors)


def test_in_place_shape_changes_match_torch():
    for name, args in (("unsqueeze_", (1,)), ("squeeze_", ()), ("squeeze_", (0,)), ("t_", ()),
                       ("transpose_", (0, 1)), ("swapdims_", (1, 0)), ("swapaxes_", (0, 1))):
        x, tx = tj.tensor(data((1, 3))), torch.tensor(data((1, 3)))
        assert getattr(x, name)(*args) is x
        getattr(tx, name)(*args)
        check(x, tx)


def test_in_place_shape_change_under_trace_equals_eager():
    def f(x):
        y = x * 2
        y.unsqueeze_(0)
        y.transpose_(0, 1)
        return y + 1

    x = tj.tensor(data((3,)))
    check(tj.trace(f, x)(x), torch.tensor(f(x).numpy()))


def test_more_random_fills_have_the_asked_distribution():
    tj.manual_seed(0)
    e = tj.zeros(20000).exponential_(2.0)
    assert e.min().item() >= 0 and abs(e.mean().item() - 0.5) < 0.02
    ln = tj.zeros(20000).log_normal_(0.0, 0.5)
    assert abs(ln.log().mean().item()) < 0.02 and abs(ln.log().std().item() - 0.5) < 0.02
    c = tj.zeros(20000).cauchy_(1.0, 2.0)
    assert np.abs(c.numpy().astype(np.float64)).mean() > 3  # heavy tails
    assert abs(float(np.median(c.numpy())) - 1.0) < 0.1
    g = tj.zeros(20000).geometric_(0.25)
    assert g.min().item() == 1 and abs(g.mean().item() - 4.0) < 0.15
    with pytest.raises(RuntimeError, match="lambda"):
        tj.zeros(2).exponential_(0)


@pytest.mark.parametrize("name", ["relu_", "sigmoid_", "exp_", "abs_", "neg_", "square_",
                                  "sqrt_", "tanh_", "round_", "trunc_", "floor_", "ceil_",
                                  "positive", "fix", "nan_to_num_", "negative_"])
def test_top_level_method_functions_match_torch(name):
    (x,), (tx,) = both(np.abs(data((2, 3))) if name == "sqrt_" else data((2, 3)))
    check(getattr(tj, name)(x), getattr(torch, name)(tx))


def test_top_level_functional_aliases_match_torch():
    (x, w), (tx, tw) = both(data((1, 2, 6, 6)), data((3, 2, 3, 3), seed=1))
    check(tj.conv2d(x, w, None, 1, 1), torch.conv2d(tx, tw, None, 1, 1), rtol=1e-4, atol=1e-5)
    check(tj.max_pool2d(x, 2), torch.max_pool2d(tx, 2))
    check(tj.layer_norm(x, (6,)), torch.layer_norm(tx, (6,)), rtol=1e-4, atol=1e-5)
    check(tj.dropout(x, 0.5, False), torch.dropout(tx, 0.5, False))
    check(tj.pixel_shuffle(tj.tensor(data((1, 4, 2, 2))), 2),
          torch.pixel_shuffle(torch.tensor(data((1, 4, 2, 2))), 2))
    check(tj.greater(x, 0), torch.greater(tx, 0))
    check(tj.swapdims(x, 1, 3), torch.swapdims(tx, 1, 3))


def test_threads_default_device_and_legacy_settings_like_torch():
    n = tj.get_num_threads()
    assert n >= 1
    try:
        tj.set_num_threads(1)
        assert tj.get_num_threads() == 1
        check(tj.ones(300000).sum(), torch.ones(300000).sum())
    finally:
        tj.set_num_threads(n)
    assert str(tj.get_default_device()) == str(torch.get_default_device()) == "cpu"
    tj.set_default_device("cpu")
    with pytest.raises(RuntimeError, match="cuda"):
        tj.set_default_device("cuda")
    try:
        tj.set_default_tensor_type(tj.DoubleTensor)
        assert tj.ones(1).dtype is tj.float64
    finally:
        tj.set_default_tensor_type("torch.FloatTensor")
    assert tj.ones(1).dtype is tj.float32


@pytest.mark.parametrize("args", [(1, 4), (0, 1, 0.25), (3, 0, -1), (0, 1, 0.3)])
def test_deprecated_range_matches_torch(args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = torch.range(*args)
    check(tj.range(*args), want)


# --- order statistics and small numeric helpers --------------------------------------------------

def test_median_kthvalue_quantile_match_torch():
    values = data((4, 7))
    values[1, 3] = np.nan
    (x, c), (tx, tc) = both(values, data((4, 7), seed=9))
    check(tj.median(c), torch.median(tc))
    check(tj.median(x), torch.median(tx))
    for dim, keepdim in ((1, False), (0, True), (-1, True)):
        check(x.median(dim, keepdim), tx.median(dim, keepdim))
        check(c.kthvalue(3, dim, keepdim), tc.kthvalue(3, dim, keepdim))
    check(tj.nanmedian(x), torch.nanmedian(tx))
    check(x.nanmedian(1), tx.nanmedian(1))
    qs = np.array([0.0, 0.25, 0.5, 0.9, 1.0], np.float32)
    for interpolation in ("linear", "lower", "higher", "nearest", "midpoint"):
        check(tj.quantile(c, 0.3, interpolation=interpolation),
              torch.quantile(tc, 0.3, interpolation=interpolation))
        check(c.quantile(tj.tensor(qs), 1, True, interpolation=interpolation),
              tc.quantile(torch.tensor(qs), 1, True, interpolation=interpolation))
        check(tj.quantile(x, tj.tensor(qs), 0, interpolation=interpolation),
              torch.quantile(tx, torch.tensor(qs), 0, interpolation=interpolation))
        check(tj.nanquantile(x, 0.4, 1, interpolation=interpolation),
              torch.nanquantile(tx, 0.4, 1, interpolation=interpolation))
    check(tj.quantile(c, tj.tensor(qs), keepdim=True), torch.quantile(tc, torch.tensor(qs),
                                                                      keepdim=True))


def test_counting_and_small_helpers_match_torch():
    (i, w, f, v), (ti, tw, tf, tv) = both(np.array([1, 4, 1, 0, 7]), data((5,)),
                                          data((50,)) * 3, data((4,), seed=2))
    check(tj.bincount(i), torch.bincount(ti))
    check(tj.bincount(i, w, minlength=10), torch.bincount(ti, tw, minlength=10))
    check(tj.histc(f, 7), torch.histc(tf, 7))
    check(f.histc(5, -1, 1), tf.histc(5, -1, 1))
    check(tj.isin(i, tj.tensor([1, 7])), torch.isin(ti, torch.tensor([1, 7])))
    check(tj.isin(i, 4, invert=True), torch.isin(ti, 4, invert=True))
    check(tj.vander(v), torch.vander(tv))
    check(tj.vander(i, 3, increasing=True), torch.vander(ti, 3, increasing=True))
    check(tj.diagflat(v.reshape(2, 2), 1), torch.diagflat(tv.reshape(2, 2), 1))
    (y, x2), (ty, tx2) = both(data((3, 6)), np.sort(data((6,), seed=3)))
    check(tj.trapezoid(y), torch.trapezoid(ty))
    check(tj.trapezoid(y, dx=0.5, dim=0), torch.trapezoid(ty, dx=0.5, dim=0))
    check(tj.trapz(y, x2), torch.trapz(ty, tx2))
    check(tj.cumulative_trapezoid(y, x2), torch.cumulative_trapezoid(ty, tx2))
    check(tj.cumulative_trapezoid(y, dim=0), torch.cumulative_trapezoid(ty, dim=0))
    check(tj.combinations(v), torch.combinations(tv))
    check(tj.combinations(v, 3, with_replacement=True),
          torch.combinations(tv, 3, with_replacement=True))
    check(tj.unravel_index(tj.tensor([0, 5, 11, -1]), (3, 4)),
          torch.unravel_index(torch.tensor([0, 5, 11, -1]), (3, 4)))
    (m1, m2, m3), (tm1, tm2, tm3) = both(data((2, 3)), data((3, 4), seed=1), data((4, 2), seed=2))
    check(tj.chain_matmul(m1, m2, m3), torch.linalg.multi_dot([tm1, tm2, tm3]))


def stats_composites(x):
    """The capturable order statistics."""
    return (tj.median(x), x.median(1).values, x.kthvalue(2, 0).indices, tj.quantile(x, 0.25, 1),
            tj.isin(x, x[0]), tj.histc(x, 4, -2, 2), tj.trapezoid(x), tj.vander(x[0], 3))


def test_stats_under_trace_and_script_equal_eager():
    (x,), _ = both(data((3, 5)))
    eager = stats_composites(x)
    for captured in (tj.trace(stats_composites, x), tj.script(stats_composites)):
        for g, e in zip(captured(x), eager):
            assert g.dtype is e.dtype and g.shape == e.shape
            np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-6)


@pytest.mark.filterwarnings("ignore:torch.cholesky is deprecated")
def test_older_linalg_spellings_match_torch():
    a = data((4, 4), "float64")
    a = a @ a.T + 4 * np.eye(4)
    (x, b), (tx, tb) = both(a, data((4, 3), "float64", seed=1))
    for name in ("det", "inverse", "slogdet", "logdet", "pinverse", "cholesky"):
        check(getattr(tj, name)(x), getattr(torch, name)(tx), rtol=1e-8, atol=1e-10)
        check(getattr(x, name)(), getattr(tx, name)(), rtol=1e-8, atol=1e-10)
    check(x.matrix_power(3), tx.matrix_power(3), rtol=1e-10)
    check(tj.logdet(-x[:1, :1]), torch.logdet(-tx[:1, :1]))
    u, s, v = tj.svd(b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tu, ts, tv = torch.svd(tb)
    check(s, ts)
    np.testing.assert_allclose((u.numpy() * s.numpy()) @ v.numpy().T, b, atol=1e-10)
    assert v.shape == tuple(tv.shape) and u.shape == tuple(tu.shape)
    q, r = tj.qr(b, some=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.qr is deprecated in favour of linalg.qr
        tq, tr = torch.qr(tb, some=False)
    assert q.shape == tuple(tq.shape) and r.shape == tuple(tr.shape)
    np.testing.assert_allclose(q.numpy() @ r.numpy(), b, atol=1e-10)


def test_remaining_small_methods_match_torch():
    (x, e), (tx, te) = both(data((3, 4)), np.array([[1, -2, 0, 3]], np.int32))
    check(tj.ldexp(x, e), torch.ldexp(tx, te))
    check(x.ldexp(e), tx.ldexp(te))
    check(tj.renorm(x, 2, 0, 1.0), torch.renorm(tx, 2, 0, 1.0))
    check(x.renorm(1, 1, 0.5), tx.renorm(1, 1, 0.5))
    check(x.adjoint(), tx.adjoint())
    check(x.hardshrink(0.6), tx.hardshrink(0.6))
    check(x.diag_embed(), tx.diag_embed())
    src, tsrc = tj.tensor(data((4,), seed=3)), torch.tensor(data((4,), seed=3))
    check(tj.select_scatter(x, src, 0, 1), torch.select_scatter(tx, tsrc, 0, 1))
    check(x.slice_scatter(tj.zeros(3, 2), 1, 1, 4, 2), tx.slice_scatter(torch.zeros(3, 2), 1, 1,
                                                                       4, 2))
    index = np.array([[0, 11], [5, 2]])
    check(x.clone().put_(tj.tensor(index), tj.tensor([[1.0, 2.0], [3.0, 4.0]])),
          tx.clone().put_(torch.tensor(index), torch.tensor([[1.0, 2.0], [3.0, 4.0]])))
    check(x.put(tj.tensor([1]), tj.tensor([9.0])), tx.put(torch.tensor([1]), torch.tensor([9.0])))
    for name in ("view", "permute", "transpose", "unsqueeze", "expand"):
        args = {"view": ((4, 3),), "permute": ((1, 0),), "transpose": (0, 1),
                "unsqueeze": (0,), "expand": ((2, 3, 4),)}[name]
        check(getattr(tj, f"{name}_copy")(x, *args), getattr(torch, f"{name}_copy")(tx, *args))
    check(tj.unbind_copy(x, 1), torch.unbind_copy(tx, 1))
    check(tj.slice_copy(x, 1, 1, 3), torch.slice_copy(tx, 1, 1, 3))
    buffer = np.arange(6, dtype=np.float32).tobytes()
    check(tj.frombuffer(bytearray(buffer), dtype=tj.float32, offset=4, count=3),
          torch.frombuffer(bytearray(buffer), dtype=torch.float32, offset=4, count=3))
    check(tj.empty_strided((2, 3), (1, 2)), torch.empty_strided((2, 3), (1, 2)).zero_())
    assert tj.is_anomaly_enabled() is torch.is_anomaly_enabled() is False


def test_numpy_keyword_spellings_like_torch():
    (x,), (tx,) = both(data((2, 3)))
    check(tj.sum(x, axis=1), torch.sum(tx, axis=1))
    check(x.mean(axis=0, keepdims=True), tx.mean(axis=0, keepdims=True))
    check(tj.stack([x, x], axis=-1), torch.stack([tx, tx], axis=-1))
    check(tj.cat([x, x], axis=1), torch.cat([tx, tx], axis=1))
    check(tj.max(x, axis=1), torch.max(tx, axis=1))
    check(x.softmax(axis=1), tx.softmax(axis=1))
    check(x.argmax(axis=0), tx.argmax(axis=0))
    check(x.std(axis=1), tx.std(axis=1))


@pytest.mark.parametrize(("name", "args"), [
    ("median", (0,)), ("median", (-1, True)), ("nanmedian", (0,)), ("quantile", (0.5, 0)),
    ("quantile", (0.3, -1, True)), ("nanquantile", (0.5, 0)), ("kthvalue", (1, 0)),
])
def test_order_statistics_of_a_0d_tensor_along_dim_0_match_torch(name, args):
    # torch treats a 0-d tensor as one element along dim 0 (or -1)
    want = getattr(torch, name)(torch.tensor(3.0), *args)
    got = getattr(tj, name)(tj.tensor(3.0), *args)
    check(tuple(got) if isinstance(want, tuple) else got,
          tuple(want) if isinstance(want, tuple) else want)
