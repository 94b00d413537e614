"""Autograd's API and semantics against torch's: .grad accumulation, backward/grad options,
hooks, retain_grad, grad modes, custom Functions, in-place writes and views, double backward,
and the errors for the common mistakes (same exception types as torch's)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tracejit as tj

RNG = np.random.default_rng(7)


def pair(*shape, dtype=np.float64, requires_grad=True):
    a = RNG.standard_normal(shape).astype(dtype)
    return (tj.tensor(a, requires_grad=requires_grad),
            torch.tensor(a, requires_grad=requires_grad))


def close(ours, theirs, tol=1e-10):
    if theirs is None:
        assert ours is None
        return
    assert ours is not None
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=tol,
                               atol=tol)


def both(fn):
    """Run fn(L) for both libraries; the errors must be of the same type."""
    results = []
    for lib in (tj, torch):
        try:
            results.append(("ok", fn(lib)))
        except Exception as e:
            results.append(("error", e))
    (k1, v1), (k2, v2) = results
    assert k1 == k2, f"tracejit: {k1} {v1!r}, torch: {k2} {v2!r}"
    if k1 == "error":
        assert type(v1) is type(v2), f"tracejit raised {v1!r}, torch {v2!r}"
    return v1, v2


# --- accumulation and options ---------------------------------------------------------------

def test_grad_accumulates_across_backward_calls():
    x, tx = pair(3, 4)
    for t in (x, tx):
        (t * t).sum().backward()
        (t.sin()).sum().backward()
    close(x.grad, tx.grad)


def test_backward_with_gradient_and_retain_graph():
    x, tx = pair(3)
    g = RNG.standard_normal(3)
    for lib, t in ((tj, x), (torch, tx)):
        y = t.exp() * t
        y.backward(lib.tensor(g), retain_graph=True)
        y.backward(lib.tensor(g))
    close(x.grad, tx.grad)


def test_grad_returns_without_touching_dot_grad():
    x, tx = pair(2, 3)
    w, tw = pair(3)
    outs = []
    for lib, a, b in ((tj, x, w), (torch, tx, tw)):
        y = (a @ b).tanh().sum()
        outs.append(lib.autograd.grad(y, [a, b]))
        assert a.grad is None
    for o, t in zip(*outs):
        close(o, t)


def test_grad_outputs_and_non_leaf_inputs():
    x, tx = pair(4)
    g = RNG.standard_normal(4)
    res = []
    for lib, t in ((tj, x), (torch, tx)):
        h = t * 3
        y = h.sigmoid()
        res.append(lib.autograd.grad(y, h, grad_outputs=lib.tensor(g)))
    close(res[0][0], res[1][0])


def test_allow_unused_and_materialize_grads():
    x, tx = pair(3)
    z, tz = pair(3)
    both(lambda L: L.autograd.grad((x if L is tj else tx).sum(), [x if L is tj else tx,
                                                                  z if L is tj else tz]))
    ours = tj.autograd.grad(x.sum(), [x, z], allow_unused=True)
    theirs = torch.autograd.grad(tx.sum(), [tx, tz], allow_unused=True)
    close(ours[0], theirs[0])
    assert ours[1] is None and theirs[1] is None
    ours = tj.autograd.grad(x.sum(), [x, z], materialize_grads=True)
    assert np.array_equal(ours[1].numpy(), np.zeros(3))


def test_backward_inputs_restricts_accumulation():
    x, tx = pair(3)
    w, tw = pair(3)
    for t, u in ((x, w), (tx, tw)):
        (t * u).sum().backward(inputs=[u])
    assert x.grad is None and tx.grad is None
    close(w.grad, tw.grad)


def test_double_backward_elementwise_and_matmul():
    x, tx = pair(3, 3)
    w, tw = pair(3, 3)
    res = []
    for lib, a, b in ((tj, x, w), (torch, tx, tw)):
        y = ((a @ b).tanh() * a.exp()).sum()
        (ga,) = lib.autograd.grad(y, a, create_graph=True)
        assert ga.requires_grad
        (ga * ga).sum().backward()
        res.append((a.grad, b.grad))
    close(res[0][0], res[1][0], 1e-9)
    close(res[0][1], res[1][1], 1e-9)


def test_second_derivative_of_a_power():
    x = tj.tensor([1.5, -2.0], requires_grad=True)
    (g,) = tj.autograd.grad((x ** 3).sum(), x, create_graph=True)
    (h,) = tj.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), 6 * np.array([1.5, -2.0]))


# --- leaves, retain_grad, hooks -------------------------------------------------------------

def test_leaf_flags_and_grad_fn_names():
    x, tx = pair(2, 2)
    y, ty = x * 2, tx * 2
    assert (x.is_leaf, y.is_leaf) == (tx.is_leaf, ty.is_leaf) == (True, False)
    assert y.grad_fn.name() == ty.grad_fn.name() == "MulBackward0"
    assert (y + 1).grad_fn.name() == "AddBackward0"
    assert x.grad_fn is None
    assert y.grad_fn.next_functions[0][0].name() == "AccumulateGrad"
    assert repr(y).endswith("grad_fn=<MulBackward0>)")
    assert repr(x).endswith("requires_grad=True)")
    d = y.detach()
    assert not d.requires_grad and d.is_leaf


def test_retain_grad_and_non_leaf_grad_warning():
    x, tx = pair(3)
    for t in (x, tx):
        h = t * 2
        h.retain_grad()
        (h * h).sum().backward()
        assert h.retains_grad
        kept = h.grad
        assert kept is not None
    close(kept, tx.mul(2).mul(2).detach())
    h = x * 2
    with pytest.warns(UserWarning, match="not a leaf"):
        assert h.grad is None


def test_tensor_hooks_change_the_gradient():
    x, tx = pair(3)
    seen = []
    for t in (x, tx):
        h = t * 2
        h.register_hook(lambda g: g * 10)
        t.register_hook(lambda g: seen.append(g.detach().clone()) or None)
        handle = t.register_hook(lambda g: g + 1)
        (h * h).sum().backward()
        handle.remove()
    close(x.grad, tx.grad)
    close(seen[0], seen[1])


def test_post_accumulate_grad_hook():
    x = tj.ones(2, requires_grad=True)
    calls = []
    x.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.sum().item()))
    (x * 3).sum().backward()
    assert calls == [6.0]


# --- grad modes -----------------------------------------------------------------------------

def test_grad_modes():
    x = tj.ones(2, requires_grad=True)
    with tj.no_grad():
        assert not (x * 2).requires_grad
        assert not tj.is_grad_enabled()
        with tj.enable_grad():
            assert (x * 2).requires_grad
    with tj.inference_mode():
        assert not (x * 2).requires_grad
    with tj.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    tj.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        tj.set_grad_enabled(True)

    @tj.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad


def test_integer_results_do_not_require_grad():
    x, tx = pair(3)
    assert (x > 0).requires_grad == (tx > 0).requires_grad == False  # noqa: E712
    assert x.argmax().requires_grad == tx.argmax().requires_grad


# --- the errors for the common mistakes (torch's exception types) ---------------------------

def test_backward_of_non_scalar_needs_gradient():
    x, tx = pair(3)
    ours, _ = both(lambda L: (x if L is tj else tx).mul(2).backward())
    assert "implicitly created only for scalar outputs" in str(ours)


def test_second_backward_through_freed_graph():
    x, tx = pair(3)

    def twice(L):
        y = ((x if L is tj else tx).exp()).sum()
        y.backward()
        y.backward()

    ours, _ = both(twice)
    assert "backward through the graph a second time" in str(ours)


def test_second_backward_without_saved_tensors_is_allowed():
    x, tx = pair(3)
    for t in (x, tx):
        y = (t + 1).sum()
        y.backward()
        y.backward()
    close(x.grad, tx.grad)


def test_inplace_change_of_a_saved_tensor():
    x, tx = pair(3)

    def modified(L):
        t = x if L is tj else tx
        h = t * 1
        y = h.exp()  # saves its result
        y.add_(1)
        y.sum().backward()

    ours, _ = both(modified)
    assert "modified by an inplace operation" in str(ours)


def test_inplace_on_a_tensor_nothing_saved_is_fine():
    x, tx = pair(3)
    for t in (x, tx):
        h = t * 2
        h.add_(1)  # mul saved only the constant
        h.relu_()
        (h * 3).sum().backward()
    close(x.grad, tx.grad)


def test_backward_of_tensor_without_grad():
    x, tx = pair(3, requires_grad=False)
    ours, _ = both(lambda L: (x if L is tj else tx).sum().backward())
    assert "does not require grad" in str(ours)


def test_leaf_inplace_and_requires_grad_errors():
    x, tx = pair(3)
    both(lambda L: (x if L is tj else tx).add_(1))
    both(lambda L: (x if L is tj else tx)[0].mul_(2))
    both(lambda L: L.ones(2, dtype=L.int64).requires_grad_())
    both(lambda L: (x if L is tj else tx).mul(2).requires_grad_(False))
    both(lambda L: (x if L is tj else tx).numpy())
    with tj.no_grad():
        x.add_(1)  # allowed: optimizers and init write leaves like this
    with torch.no_grad():
        tx.add_(1)
    close(x, tx)


# --- in-place writes, views, setitem ----------------------------------------------------------

def test_inplace_history_and_view_writes():
    x, tx = pair(4, 3)
    v, tv = pair(3)
    for t, u in ((x, v), (tx, tv)):
        h = t * 1
        h[1] = u * 2  # setitem on a non-leaf
        h[:, 0].mul_(3)  # an in-place write through a view of it
        row = h[2]
        row.add_(u)
        (h.sin() * h).sum().backward()
    close(x.grad, tx.grad)
    close(v.grad, tv.grad)


def test_buffer_filled_by_a_grad_tensor():
    v, tv = pair(2, 3)
    for lib, u in ((tj, v), (torch, tv)):
        buf = lib.zeros(4, 3, dtype=u.dtype)
        buf[1:3] = u
        buf[0].copy_(u[0] * 5)
        assert buf.requires_grad and not buf.is_leaf
        (buf * buf).sum().backward()
    close(v.grad, tv.grad)


def test_version_counter():
    x, tx = pair(3, requires_grad=False)
    for t in (x, tx):
        t.add_(1)
        t[0] = 2
        t.view(-1).mul_(2)
    assert x._version == tx._version == 3


# --- custom Functions -----------------------------------------------------------------------

def _make_function(lib):
    class Cube(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.save_for_backward(x)
            ctx.k = k
            return x ** 3 * k

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x * x * ctx.k, None

    return Cube


def test_custom_function():
    x, tx = pair(3)
    for lib, t in ((tj, x), (torch, tx)):
        y = _make_function(lib).apply(t, 2.0)
        assert y.requires_grad
        (y.sin()).sum().backward()
    close(x.grad, tx.grad)


# --- nn in training ---------------------------------------------------------------------------

def test_every_layer_parameter_gets_torch_gradients():
    torch.manual_seed(0)
    layers = [
        (lambda L: L.nn.Linear(5, 4), (3, 5)),
        (lambda L: L.nn.Conv2d(3, 4, 3, stride=2, padding=1, groups=1), (2, 3, 6, 6)),
        (lambda L: L.nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=2), (2, 4, 6, 6)),
        (lambda L: L.nn.BatchNorm2d(3), (4, 3, 3, 3)),
        (lambda L: L.nn.LayerNorm(5), (3, 2, 5)),
        (lambda L: L.nn.Embedding(6, 3, padding_idx=1), None),
        (lambda L: L.nn.GRU(5, 4, batch_first=True), (2, 3, 5)),
        (lambda L: L.nn.LSTM(5, 4, num_layers=2), (3, 2, 5)),
        (lambda L: L.nn.MultiheadAttention(8, 2, batch_first=True), (2, 3, 8)),
        (lambda L: L.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True),
         (2, 3, 8)),
    ]
    for make, shape in layers:
        tm = make(torch).double()
        om = make(tj).double()
        om.load_state_dict({k: tj.tensor(v.detach().numpy()) for k, v in
                            tm.state_dict().items()})
        if shape is None:
            idx = np.array([[1, 2, 1], [0, 5, 3]])
            outs = [m(lib.tensor(idx)) for m, lib in ((om, tj), (tm, torch))]
        else:
            a = RNG.standard_normal(shape)
            ins = [tj.tensor(a), torch.tensor(a)]
            outs = [m(i, i, i) if isinstance(m, (tj.nn.MultiheadAttention,
                                                 torch.nn.MultiheadAttention))
                    else m(i) for m, i in zip((om, tm), ins)]
        outs = [o[0] if isinstance(o, tuple) else o for o in outs]
        ct = RNG.standard_normal(tuple(outs[1].shape))
        (outs[0] * tj.tensor(ct)).sum().backward()
        (outs[1] * torch.tensor(ct)).sum().backward()
        theirs = dict(tm.named_parameters())
        for name, p in om.named_parameters():
            close(p.grad, theirs[name].grad, 1e-9)


def test_dropout_gradient_uses_the_same_mask():
    x = tj.ones(1000, requires_grad=True)
    y = tj.nn.functional.dropout(x, 0.3, training=True)
    y.sum().backward()
    kept = y.detach().numpy() != 0
    np.testing.assert_allclose(x.grad.numpy()[kept], 1 / 0.7)
    assert np.all(x.grad.numpy()[~kept] == 0)


# --- capture: a traced or scripted function's backward is in its graph ------------------------

def test_traced_function_records_its_backward():
    def f(x, w):
        w = w.detach().requires_grad_()
        loss = ((x @ w).tanh() ** 2).mean()
        (g,) = tj.autograd.grad(loss, w)
        return g

    a, b = RNG.standard_normal((4, 3)), RNG.standard_normal((3, 2))
    traced = tj.trace(f, (tj.tensor(a), tj.tensor(b)))
    text = str(traced.graph)
    assert "tanh" in text and text.count("matmul") >= 2
    tw = torch.tensor(b, requires_grad=True)
    ((torch.tensor(a) @ tw).tanh() ** 2).mean().backward()
    close(traced(tj.tensor(a), tj.tensor(b)), tw.grad)
    b2 = RNG.standard_normal((3, 2))
    tw2 = torch.tensor(b2, requires_grad=True)
    ((torch.tensor(a) @ tw2).tanh() ** 2).mean().backward()
    close(traced(tj.tensor(a), tj.tensor(b2)), tw2.grad)


def test_scripted_function_records_its_backward():
    @tj.script
    def f(x, w):
        w = w.detach().requires_grad_()
        loss = ((x @ w).tanh() ** 2).mean()
        return tj.autograd.grad(loss, w)[0]

    a, b = RNG.standard_normal((4, 3)), RNG.standard_normal((3, 2))
    out = f(tj.tensor(a), tj.tensor(b))
    assert str(f.graph).count("matmul") >= 2
    tw = torch.tensor(b, requires_grad=True)
    ((torch.tensor(a) @ tw).tanh() ** 2).mean().backward()
    close(out, tw.grad)


def test_compiled_module_trains_eagerly_and_infers_compiled():
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh()).double()
    om = tj.nn.Sequential(tj.nn.Linear(4, 3), tj.nn.Tanh()).double()
    om.load_state_dict({k: tj.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    compiled = tj.compile(om)
    a = RNG.standard_normal((5, 4))
    compiled(tj.tensor(a)).sum().backward()
    tm(torch.tensor(a)).sum().backward()
    for p, tp in zip(om.parameters(), tm.parameters()):
        close(p.grad, tp.grad)
    with tj.no_grad():
        out = compiled(tj.tensor(a))
    assert not out.requires_grad
    close(out, tm(torch.tensor(a)))

    def step(x):
        loss = om(x).sum()
        loss.backward()  # breaks the graph: it runs as Python
        return loss

    for p in om.parameters():
        p.grad = None
    explained = tj.explain(step, tj.tensor(a))
    assert any("backward()" in b.reason for b in explained.break_reasons)
    tm.zero_grad()
    tm(torch.tensor(a)).sum().backward()
    for p, tp in zip(om.parameters(), tm.parameters()):
        close(p.grad, tp.grad)


def test_deepcopy_and_pickle_keep_values_not_history():
    import copy
    import pickle

    x, tx = pair(3)
    for t in (x, tx):
        (t * 2).sum().backward()
    for t in (x, tx):
        c = copy.deepcopy(t)
        assert c.requires_grad and c.is_leaf and c.grad is not t.grad
    close(copy.deepcopy(x).grad, copy.deepcopy(tx).grad)
    both(lambda L: copy.deepcopy((x if L is tj else tx) * 2))  # a non-leaf: RuntimeError
    back = pickle.loads(pickle.dumps(x * 2))
    assert back.requires_grad and back.is_leaf and back.tolist() == (x * 2).tolist()


def test_retained_grad_is_what_the_hooks_made():
    got = []
    for lib in (tj, torch):
        x = lib.ones(2, requires_grad=True)
        h = x * 2
        h.retain_grad()  # registered before the hook, still sees its result (torch's order)
        h.register_hook(lambda g: g * 10)
        (h * h).sum().backward()
        got.append((h.grad.tolist(), x.grad.tolist()))
    assert got[0] == got[1]


def test_a_view_taken_before_an_in_place_write_reads_the_new_history():
    got = []
    for lib in (tj, torch):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        h = x * 1
        tail = h[1:]  # taken before the write: it must see h's new values and history
        h.mul_(10)
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        buf = lib.zeros(3)
        view = buf[1:]
        buf[1:] = w * 3
        ((tail * tail).sum() + (view * view).sum()).backward()
        got.append((x.grad.tolist(), w.grad.tolist()))
    assert got[0] == got[1]
