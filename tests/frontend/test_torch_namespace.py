"""The torch namespace real programs reach for (issue 12), against PyTorch as the oracle:
einsum and the other composites (also under trace and script), Tensor methods and attributes,
indexing with ranges and lists, legacy tensor types, finfo/iinfo, torch.jit/cuda/backends
stand-ins, Generator. More composites are in test_torch_composites.py."""

from __future__ import annotations

import typing

import numpy as np
import pytest
import torch
from namespace_oracle import both, check, data

import tracejit as tj

# --- einsum -------------------------------------------------------------------------------------

EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("iij->j", [(3, 3, 2)]),
    ("iji->j", [(3, 2, 3)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("b...,b...->b", [(2, 3, 4), (2, 3, 4)]),
    ("i...->...", [(2, 3, 4)]),
    ("...,...->...", [(2, 3), (3,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,i->", [(3,), (3,)]),
    ("ij->ji", [(2, 3)]),
    ("ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ijk,jkl,lm->im", [(2, 3, 4), (3, 4, 5), (5, 6)]),
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
    ("i,i,i->i", [(3,), (3,), (3,)]),
    ("ij,kl->", [(2, 3), (4, 5)]),
    ("ba,ca->bc", [(1, 3), (4, 3)]),
    ("ij,ij->ij", [(1, 3), (2, 3)]),
    ("ij,j->i", [(1, 3), (1,)]),
    ("i,->i", [(3,), ()]),
    ("Ab,bC", [(2, 3), (3, 4)]),
    ("i j , j k -> i k", [(2, 3), (3, 4)]),
]


@pytest.mark.parametrize(("equation", "shapes"), EINSUM_CASES, ids=[c[0] for c in EINSUM_CASES])
def test_einsum_matches_torch(equation, shapes):
    ours, theirs = both(*(data(s, seed=i) for i, s in enumerate(shapes)))
    check(tj.einsum(equation, *ours), torch.einsum(equation, *theirs), rtol=1e-4, atol=1e-5)


def test_einsum_integer_operands_and_list_form():
    ours, theirs = both(data((2, 3), "int64"), data((4, 3), "int64", seed=1))
    check(tj.einsum("ij,kj->ik", ours), torch.einsum("ij,kj->ik", theirs))


@pytest.mark.parametrize(("equation", "shapes"), [
    ("ij->k", [(2, 3)]),
    ("ij,jk->ik", [(2, 3)]),
    ("ijk->ij", [(2, 3)]),
    ("ij,jk->ik", [(2, 3), (4, 5)]),
    ("ij->ii", [(2, 3)]),
])
def test_einsum_rejects_what_torch_rejects(equation, shapes):
    arrays = [data(s) for s in shapes]
    with pytest.raises(RuntimeError):
        torch.einsum(equation, *map(torch.tensor, arrays))
    with pytest.raises(RuntimeError, match="einsum"):
        tj.einsum(equation, *map(tj.tensor, arrays))


# --- products, grids, comparisons ---------------------------------------------------------------

def test_products_match_torch():
    (a, b, v, w, m3, n3, c, s), (ta, tb, tv, tw, tm3, tn3, tc, ts) = both(
        data((2, 3)), data((3, 4), seed=1), data((3,), seed=2), data((3,), seed=3),
        data((5, 2, 3), seed=4), data((5, 3, 4), seed=5), data((2, 4), seed=6),
        data((1, 4), seed=7))
    check(tj.outer(v, w), torch.outer(tv, tw))
    check(v.ger(w), tv.ger(tw))
    check(tj.dot(v, w), torch.dot(tv, tw))
    check(a.mv(v), ta.mv(tv))
    check(tj.addmm(c, a, b), torch.addmm(tc, ta, tb))
    check(tj.addmm(s, a, b, beta=0.5, alpha=2), torch.addmm(ts, ta, tb, beta=0.5, alpha=2))
    check(tj.addmv(v[:2], a, v, alpha=3), torch.addmv(tv[:2], ta, tv, alpha=3))
    check(tj.baddbmm(s, m3, n3, beta=2), torch.baddbmm(ts, tm3, tn3, beta=2), rtol=1e-4)
    check(tj.addbmm(c, m3, n3), torch.addbmm(tc, tm3, tn3), rtol=1e-4)
    check(tj.spmm(a, b), torch.mm(ta, tb))
    check(tj.tensordot(m3, n3, dims=([0, 2], [0, 1])),
          torch.tensordot(tm3, tn3, dims=([0, 2], [0, 1])), rtol=1e-4)
    check(tj.tensordot(a, b, dims=1), torch.tensordot(ta, tb, dims=1))
    check(tj.cdist(m3, m3), torch.cdist(tm3, tm3), atol=1e-5)
    for p in (0.0, 1.0, 3.0, float("inf")):
        check(tj.cdist(a, c[:, :3], p=p), torch.cdist(ta, tc[:, :3], p=p), atol=1e-5)


def test_beta_zero_ignores_nan_input_like_torch():
    (c, a, b), (tc, ta, tb) = both(np.full((2, 4), np.nan, np.float32), data((2, 3)),
                                    data((3, 4), seed=1))
    check(tj.addmm(c, a, b, beta=0), torch.addmm(tc, ta, tb, beta=0))


def test_product_errors():
    with pytest.raises(RuntimeError, match="1-D"):
        tj.outer(tj.ones(2, 2), tj.ones(2))
    with pytest.raises(RuntimeError, match="inconsistent tensor size"):
        tj.dot(tj.ones(2), tj.ones(3))


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_matches_torch(indexing):
    (x, y, z), (tx, ty, tz) = both(data((3,)), data((4,), seed=1), data((2,), seed=2))
    check(tj.meshgrid(x, y, z, indexing=indexing), torch.meshgrid(tx, ty, tz, indexing=indexing))
    check(tj.meshgrid([x, y], indexing=indexing), torch.meshgrid([tx, ty], indexing=indexing))


def test_unbind_and_repeat_interleave_match_torch():
    (x,), (tx,) = both(data((2, 3, 4)))
    for dim in (0, 1, -1):
        check(tj.unbind(x, dim), torch.unbind(tx, dim))
        check(x.unbind(dim), tx.unbind(dim))
    check(x.repeat_interleave(2, dim=1), tx.repeat_interleave(2, dim=1))
    check(x.repeat_interleave(3), tx.repeat_interleave(3))
    counts = [1, 0, 2]
    check(x.repeat_interleave(tj.tensor(counts), dim=1),
          tx.repeat_interleave(torch.tensor(counts), dim=1))
    check(tj.repeat_interleave(tj.tensor(counts)), torch.repeat_interleave(torch.tensor(counts)))


def test_isclose_allclose_equal_match_torch():
    a = np.array([1.0, np.nan, np.inf, -np.inf, 1.0, 0.0, 1e-9, np.inf], np.float32)
    b = np.array([1.0 + 1e-6, np.nan, np.inf, np.inf, 1.1, 1e-9, 0.0, 1.0], np.float32)
    (x, y), (tx, ty) = both(a, b)
    for kwargs in ({}, {"equal_nan": True}, {"rtol": 0.2}, {"atol": 1e-3, "rtol": 0}):
        check(tj.isclose(x, y, **kwargs), torch.isclose(tx, ty, **kwargs))
        check(x.isclose(y, **kwargs), tx.isclose(ty, **kwargs))
        assert tj.allclose(x[:1], y[:1], **kwargs) == torch.allclose(tx[:1], ty[:1], **kwargs)
    (i, j), (ti, tj_) = both(np.array([1, 5, 9]), np.array([1, 6, 9]))
    check(tj.isclose(i, j, atol=1), torch.isclose(ti, tj_, atol=1))
    assert tj.allclose(x[:3], x[:3], equal_nan=True)
    assert tj.equal(i, i) and not tj.equal(i, j) and not tj.equal(i, i[:2])
    assert i.equal(i) is True


def composites(x, y):
    """Every composite of functions_extra that runs on captured values (scripted below)."""
    a, b, c = tj.unbind(x, 1)[:3]
    gx, gy = tj.meshgrid(a, b, indexing="xy")
    w = x @ y
    return (tj.einsum("ij,jk->ik", x, y), tj.einsum("ii->i", x[:, :3]), tj.outer(a, c),
            gx * gy, tj.dot(a, b), x.mv(y[:, 0]), tj.addmm(w, x, y, beta=0.5, alpha=2),
            tj.baddbmm(w, x.unsqueeze(0), y.unsqueeze(0)), tj.tensordot(x, y, dims=1),
            tj.cdist(x, x), x.repeat_interleave(2, dim=0), tj.isclose(w, w + 1e-7),
            tj.einsum("bi,bj->bij", x, x))


def scripting_flag(x):
    if tj.jit.is_scripting():
        return x + 10
    return x


def test_composites_under_trace_script_and_graph_files_equal_eager(tmp_path):
    (x, y), _ = both(data((3, 4)), data((4, 5), seed=1))
    eager = composites(x, y)
    traced = tj.trace(composites, x, y)
    tj.save(traced, tmp_path / "composites.tjg")
    for captured in (traced, tj.script(composites), tj.load(tmp_path / "composites.tjg")):
        got = captured(x, y)
        assert len(got) == len(eager)
        for g, e in zip(got, eager):
            assert g.dtype is e.dtype and g.shape == e.shape
            np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-5, atol=1e-6)


# --- Tensor methods and attributes --------------------------------------------------------------

def test_random_fills_have_the_asked_distribution():
    tj.manual_seed(0)
    x = tj.zeros(200, 100)
    assert x.normal_(2.0, 3.0) is x
    assert abs(x.mean().item() - 2.0) < 0.1 and abs(x.std().item() - 3.0) < 0.1
    x.uniform_(-1.0, 4.0)
    assert x.min().item() >= -1.0 and x.max().item() < 4.0 and abs(x.mean().item() - 1.5) < 0.1
    r = tj.zeros(1000, dtype=tj.int64).random_(3, 7)
    assert set(np.unique(r.numpy()).tolist()) == {3, 4, 5, 6}
    assert set(np.unique(tj.zeros(500, dtype=tj.int32).random_(2).numpy()).tolist()) == {0, 1}
    bern = tj.zeros(4000).bernoulli_(0.25)
    assert set(np.unique(bern.numpy()).tolist()) == {0.0, 1.0}
    assert abs(bern.mean().item() - 0.25) < 0.05
    with pytest.raises(RuntimeError, match="normal"):
        tj.zeros(2, dtype=tj.int64).normal_()


def test_legacy_type_method_matches_torch():
    for dtype in ("float32", "float64", "int32", "int64", "bool", "uint8", "int8", "int16",
                  "float16"):
        x, tx = tj.zeros(2, dtype=getattr(tj, dtype)), torch.zeros(2, dtype=getattr(torch, dtype))
        assert x.type() == tx.type()
        assert tj.typename(x) == torch.typename(tx)
    x, tx = tj.ones(2), torch.ones(2)
    check(x.type(tj.int64), tx.type(torch.int64))
    check(x.type("torch.LongTensor"), tx.type("torch.LongTensor"))
    check(x.type(tj.IntTensor), tx.type(torch.IntTensor))
    with pytest.raises(ValueError, match="invalid type"):
        x.type("torch.NoSuchTensor")
    with pytest.raises(RuntimeError, match="cuda"):
        x.type("torch.cuda.FloatTensor")


def test_device_and_size_attributes_match_torch():
    x, tx = tj.ones(2, 3), torch.ones(2, 3)
    for name in ("is_cuda", "is_xpu", "is_mps", "is_sparse", "is_quantized", "is_meta",
                 "is_cpu"):
        assert getattr(x, name) == getattr(tx, name), name
    assert x.get_device() == tx.get_device() == -1
    assert x.ndimension() == tx.ndimension() and x.nelement() == tx.nelement()
    assert x.element_size() == tx.element_size()
    assert str(x.device) == str(tx.device) and x.cpu() is x
    assert x.data_ptr() == x.data_ptr() != x.clone().data_ptr()
    assert x[1].data_ptr() == x.data_ptr() + 3 * x.element_size()
    with pytest.raises(RuntimeError, match="cuda"):
        x.cuda()


def test_new_and_as_methods_match_torch():
    x, tx = tj.ones(2, 3, dtype=tj.int32), torch.ones(2, 3, dtype=torch.int32)
    check(x.new_zeros(4), tx.new_zeros(4))
    check(x.new_ones((2, 2)), tx.new_ones((2, 2)))
    check(x.new_full((3,), 7), tx.new_full((3,), 7))
    check(x.new_empty(2, 0), tx.new_empty(2, 0))
    check(x.new_tensor([1, 2]), tx.new_tensor([1, 2]))
    y, ty = tj.zeros(3, 2), torch.zeros(3, 2)
    check(x.view_as(y), tx.view_as(ty))
    check(x.reshape_as(y), tx.reshape_as(ty))
    check(x.type_as(y), tx.type_as(ty))
    check(x[:1].expand_as(x), tx[:1].expand_as(tx))
    z, tz = tj.zeros(2, 3), torch.zeros(2, 3)
    mask = np.array([[True, False, True], [False, False, True]])
    check(z.masked_fill_(tj.tensor(mask), 2.5), tz.masked_fill_(torch.tensor(mask), 2.5))
    check(z.clamp_(0, 1), tz.clamp_(0, 1))
    check(z.copy_(x), tz.copy_(tx))
    check(z.fill_(3), tz.fill_(3))
    check(z.zero_(), tz.zero_())


@pytest.mark.parametrize("key", [
    range(2), [0, 2], (slice(None), [1, 0]), [], (range(1, 3), range(0, 2)),
    [True, False, True], (1, range(3)), (..., [3, 0]),
], ids=str)
def test_indexing_with_ranges_and_lists_matches_torch(key):
    x, tx = tj.arange(12).reshape(3, 4), torch.arange(12).reshape(3, 4)
    check(x[key], tx[key])
    y, ty = tj.zeros(3, 4), torch.zeros(3, 4)
    y[key], ty[key] = 1.0, 1.0
    check(y, ty)


# --- top-level names ----------------------------------------------------------------------------

def test_legacy_tensor_types_construct_and_check_like_torch():
    for name in ("FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor",
                 "ByteTensor"):
        ours, theirs = getattr(tj, name), getattr(torch, name)
        check(ours(2, 3), theirs(2, 3).zero_())
        check(ours([1, 0, 2]), theirs([1, 0, 2]))
        check(ours(tj.Size([4])), theirs(torch.Size([4])).zero_())
        check(ours(), theirs())
        assert isinstance(ours([1]), ours)
    assert isinstance(tj.ones(2), tj.FloatTensor) and not isinstance(tj.ones(2), tj.LongTensor)
    assert not isinstance(np.ones(2), tj.FloatTensor)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_finfo_matches_torch(dtype):
    ours, theirs = tj.finfo(getattr(tj, dtype)), torch.finfo(getattr(torch, dtype))
    for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert tj.finfo().eps == torch.finfo().eps


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "int64"])
def test_iinfo_matches_torch(dtype):
    ours, theirs = tj.iinfo(getattr(tj, dtype)), torch.iinfo(getattr(torch, dtype))
    for attr in ("bits", "max", "min", "dtype"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr


def test_finfo_and_iinfo_reject_the_other_kind_like_torch():
    with pytest.raises(TypeError):
        torch.finfo(torch.int32)
    with pytest.raises(TypeError, match="iinfo"):
        tj.finfo(tj.int32)
    with pytest.raises(TypeError):
        torch.iinfo(torch.float32)
    with pytest.raises(TypeError, match="finfo"):
        tj.iinfo(tj.float32)


def test_assert_like_torch():
    tj._assert(True, "fine")
    tj._assert(tj.tensor(True), "fine")
    with pytest.raises(AssertionError, match="boom"):
        torch._assert(False, "boom")
    with pytest.raises(AssertionError, match="boom"):
        tj._assert(tj.tensor(1) > 2, "boom")


def test_assert_on_a_traced_value_becomes_a_runtime_check():
    def f(x):
        tj._assert(x.sum() > 0, "sum must be positive")
        return x * 2

    traced = tj.trace(f, tj.ones(3))
    check(traced(tj.ones(3)), torch.ones(3) * 2)
    with pytest.raises(AssertionError, match="sum must be positive"):
        traced(-tj.ones(3))


def test_misc_functions_match_torch():
    x, tx = tj.ones(2), torch.ones(2)
    assert tj.is_floating_point(x) == torch.is_floating_point(tx)
    assert tj.is_nonzero(tj.tensor([3])) == torch.is_nonzero(torch.tensor([3]))
    assert tj.numel(x) == torch.numel(tx)
    assert tj.get_default_dtype() is tj.float32
    assert tj.typename(tj.nn.Linear(1, 1)).endswith("Linear")


def test_set_grad_enabled_like_torch():
    assert tj.is_grad_enabled()
    with tj.set_grad_enabled(False):
        assert not tj.is_grad_enabled()
    assert tj.is_grad_enabled()
    tj.set_grad_enabled(False)
    assert not tj.is_grad_enabled()
    tj.set_grad_enabled(True)

    @tj.set_grad_enabled(False)
    def inner():
        return tj.is_grad_enabled()

    assert tj.is_grad_enabled() and inner() is False and tj.is_grad_enabled()


def test_cuda_and_backends_report_no_gpu_like_a_cpu_torch():
    assert tj.cuda.is_available() is False and tj.cuda.device_count() == 0
    tj.cuda.manual_seed(0)
    tj.cuda.manual_seed_all(0)
    tj.cuda.synchronize()
    assert tj.backends.mps.is_available() is False
    import tracejit.backends.cudnn as cudnn

    for attr in ("enabled", "benchmark", "deterministic"):
        assert isinstance(getattr(cudnn, attr), bool)
    cudnn.benchmark = True
    assert tj.backends.cudnn.benchmark is True
    cudnn.benchmark = False
    tj.backends.cuda.matmul.allow_tf32 = True
    with pytest.raises(RuntimeError, match="cuda"):
        tj.cuda.current_device()


def test_jit_decorators_return_the_function_and_report_the_mode():
    def f(x):
        return x + 1

    for deco in (tj.jit.ignore, tj.jit.unused, tj.jit.export, tj.jit.ignore(drop=True)):
        assert deco(f) is f
    assert tj.jit.annotate(list[int], [1]) == [1]
    assert tj.jit.Final[int] == typing.Final[int]
    assert tj.jit.is_scripting() is False and tj.jit.is_tracing() is False
    assert tj.jit.wait(tj.jit.fork(f, 1)) == 2

    def modes(x):
        return x + (1 if tj.jit.is_tracing() else 0) + (10 if tj.jit.is_scripting() else 0)

    assert tj.jit.trace(modes, (tj.zeros(1),))(tj.zeros(1)).item() == 1
    assert tj.jit.trace(modes, tj.zeros(1))(tj.zeros(1)).item() == 1
    assert tj.jit.script(scripting_flag)(tj.zeros(1)).item() == 10
    assert isinstance(tj.jit.script(tj.nn.Linear(2, 2)), tj.jit.ScriptModule)


def test_generator_streams_are_reproducible_and_independent():
    g = tj.Generator().manual_seed(7)
    a = tj.randn(5, generator=g)
    b = tj.rand(3, generator=g)
    c = tj.randint(0, 10, (4,), generator=g)
    p = tj.randperm(6, generator=g)
    g.manual_seed(7)
    tj.manual_seed(123)  # the global stream does not disturb g
    tj.randn(10)
    check(tj.randn(5, generator=g), torch.tensor(a.numpy()))
    check(tj.rand(3, generator=g), torch.tensor(b.numpy()))
    check(tj.randint(0, 10, (4,), generator=g), torch.tensor(c.numpy()))
    check(tj.randperm(6, generator=g), torch.tensor(p.numpy()))
    assert g.initial_seed() == 7 and isinstance(g.seed(), int)
    state = g.get_state()
    x = tj.zeros(4).normal_(generator=g)
    g.set_state(state)
    check(tj.zeros(4).normal_(generator=g), torch.tensor(x.numpy()))
    with pytest.raises(TypeError, match="Generator"):
        tj.randn(2, generator=np.random.default_rng(0))
