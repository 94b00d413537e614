"""API-fuzzer findings on data-dependent (`?`) sizes under trace, script and save/load, and the
layout of traced outputs (tests/fuzz/FINDINGS.md F6, F12, F14, F15, F16), against torch."""

import io

import numpy as np
import pytest
import torch

import tracejit
import tracejit.nn.functional as TF

BACKENDS = ["llvm", "eager"]


def _capture(fn, example, mode, backend):
    """`fn` captured by trace, script, or trace then save/load."""
    if mode == "script":
        return tracejit.script(fn, backend=backend)
    traced = tracejit.trace(fn, *example, backend=backend)
    if mode == "trace":
        return traced
    buffer = io.BytesIO()
    tracejit.save(traced, buffer)
    buffer.seek(0)
    return tracejit.load(buffer, backend=backend)


def _agree(fn, calls, mode, backend, example=None):
    """`fn` captured (on `example`, else the first call's values), called on each input set,
    gives torch's result, or torch's exception type; returns the outcomes seen."""
    first = [tracejit.tensor(v) for v in (example or calls[0])]
    captured = _capture(_bound(fn, len(first)), first, mode, backend)
    seen = []
    for values in calls:
        try:
            want = fn(torch, *[torch.tensor(v) for v in values])
        except Exception as e:  # torch refuses: so must the captured function, with its type
            with pytest.raises(type(e)) as info:
                captured(*[tracejit.tensor(v) for v in values])
            assert "None" not in str(info.value)
            seen.append(type(e))
            continue
        if mode == "saveload" and seen:  # a loaded file cannot trace again for another size
            try:
                got = captured(*[tracejit.tensor(v) for v in values])
            except RuntimeError as e:
                assert "cannot trace again" in str(e)
                seen.append("retrace")
                continue
        else:
            got = captured(*[tracejit.tensor(v) for v in values])
        for g, w in zip(got, want):
            assert tuple(g.shape) == tuple(w.shape), values
            np.testing.assert_array_equal(g.detach().numpy(), w.detach().numpy())
        seen.append("ok")
    return seen


def _bound(fn, n):
    """`fn` with tracejit bound, taking `n` tensors (script reads named parameters)."""
    if n == 1:
        def one(x0):
            return fn(tracejit, x0)
        return one
    if n == 2:
        def two(x0, x1):
            return fn(tracejit, x0, x1)
        return two

    def three(x0, x1, x2):
        return fn(tracejit, x0, x1, x2)
    return three


MODES = ["trace", "script", "saveload"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES)
def test_f14_expand_of_a_masked_dim_follows_the_data(mode, backend):
    def f(T, x0):
        return (x0[x0 > 0].expand(2), x0[x0 > 0].expand(3, -1))

    calls = [[[1.0], [0.0], [2.0], [0.0]], [[0.0], [0.0], [0.0], [5.0]],
             [[0.0], [0.0], [0.0], [0.0]], [[1.0], [2.0], [3.0], [0.0]],
             [[4.0], [0.0], [3.0], [0.0]]]
    calls = [[c] for c in calls]
    seen = _agree(f, calls, mode, backend)
    if mode != "saveload":  # a loaded file cannot trace again for the refused sizes
        assert seen == ["ok", "ok", RuntimeError, RuntimeError, "ok"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["trace", "script"])
def test_f14_expand_of_a_masked_dim_traced_on_one_element(mode, backend):
    def f(T, x0):
        return (x0[x0 > 0].expand(2, 2) * 2,)

    calls = [[0.0, 7.0, 0.0], [3.0, 0.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 0.0],
             [1.0, 2.0, 3.0]]
    calls = [[c] for c in calls]
    assert _agree(f, calls, mode, backend) == ["ok", "ok", "ok", RuntimeError, RuntimeError]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES)
def test_f12_reshape_minus_one_of_a_masked_dim(mode, backend):
    def f(T, x0):
        v = x0[x0 > 0]
        return (v.reshape(-1, 2), v.view(2, -1) + 1)

    calls = [[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0],
             [5.0, 0.0, 6.0, 7.0]]
    calls = [[c] for c in calls]
    seen = _agree(f, calls, mode, backend)
    assert seen == ["ok", "ok", "ok", RuntimeError]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES)
def test_f15_write_through_expand_as_of_a_masked_dim(mode, backend):
    def f(T, x0, x1):
        v2 = x0[x0 != 0][::2]
        v2.expand_as(v2).add_(v2)
        return (x1 * 1, v2)

    calls = [[[0.0], [[0.5]]], [[0.3], [[1.5]]], [[2.0], [[2.5]]]]
    _agree(f, calls, mode, backend, example=calls[0])


def test_f15_expand_message_prints_no_none():
    def f(x):
        v = x[x > 0]
        return v.expand(2, 3)

    traced = tracejit.trace(f, tracejit.tensor([1.0, 0.0, 2.0, 3.0]), backend="eager")
    with pytest.raises(RuntimeError) as info:
        traced(tracejit.tensor([1.0, 2.0, 0.0, 0.0]))
    with pytest.raises(RuntimeError):
        f(torch.tensor([1.0, 2.0, 0.0, 0.0]))
    assert "None" not in str(info.value) and "expanded size" in str(info.value)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES)
def test_f16_mask_broadcast_from_a_masked_dim(mode, backend):
    def f(T, x0, x1, x2):
        v3 = (x0 / 1e30)[x0 / 1e30 != 0][::2]
        v5 = T.maximum(v3, x1) != x2
        return (v3[v5],)

    calls = [[[1, 1, 1, 1], -1, [3.45, 1e-30]], [[1, 2, 3, 0], -1, [3.45, 1e-30]],
             [[1, 0, 0, 0], -1, [3.45, 1e-30]], [[0, 0, 0, 0], -1, [3.45, 1e-30]],
             [[1, 2, 0, 0], -1, [3.45, 1e-30]]]
    _agree(f, calls, mode, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES)
def test_f6_masked_std_keepdim_after_an_in_place_write(mode, backend):
    def f(T, x0):
        x0 = x0.clone()
        x0[1:] = True
        v2 = x0[x0 > 0]
        return (v2.std(dim=-1, keepdim=True, correction=0),)

    calls = [np.zeros((4, 2)).tolist(), [[1.0, 0.0]] * 4, [[-1.0, -1.0]] * 4]
    calls = [[np.asarray(c, np.float32)] for c in calls]
    _agree(f, calls, mode, backend)


def test_f6_script_never_leaks_the_size_guard_assert():
    def f(x0):
        x0[1:] = True
        v2 = x0[x0 > 0]
        return v2.std(dim=-1, keepdim=True, correction=0)

    scripted = tracejit.script(f, backend="eager")
    for rows in ([[0.0, 0.0]] * 4, [[1.0, 0.0]] * 4, [[-1.0, 0.0], [0.0, 0.0]]):
        got = scripted(tracejit.tensor(rows))
        want = f(torch.tensor(rows))
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-6)


def _layouts():
    return [
        lambda T, x: x.permute(2, 1, 0).sum(1),
        lambda T, x: x.permute(2, 1, 0).exp(),
        lambda T, x: (TF if T is tracejit else torch.nn.functional).logsigmoid(x.mT),
        lambda T, x: T.cat([x.permute(2, 1, 0), x.permute(2, 1, 0) * 2]),
        lambda T, x: (x.transpose(0, 2) + 1, x.sum()),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k", range(len(_layouts())))
def test_traced_new_outputs_are_c_contiguous(k, backend):
    fn = _layouts()[k]
    data = np.random.default_rng(k).standard_normal((4, 2, 3)).astype(np.float32)
    want = fn(torch, torch.tensor(data))
    want = want if isinstance(want, tuple) else (want,)
    one = _bound(fn, 1)
    for captured in (tracejit.trace(one, tracejit.randn(4, 2, 3), backend=backend),
                     tracejit.script(one, backend=backend)):
        got = captured(tracejit.tensor(data))
        got = got if isinstance(got, tuple) else (got,)
        for g, w in zip(got, want):
            flat = g.view(-1)  # torch's new tensor is contiguous: a view of it works
            np.testing.assert_allclose(flat.detach().numpy(), w.reshape(-1).detach().numpy(),
                                       rtol=1e-5,
                                       atol=1e-6)


def test_f6_a_size_guard_failing_after_capturing_again_is_a_runtime_error(monkeypatch):
    """If a graph captured again for a call still fails a size guard, the call raises a
    RuntimeError naming the line that read the size, never tracejit's internal assert."""
    from tracejit.trace_sizes import SIZE_GUARD
    from tracejit.traced import TracedFunction

    def f(x):
        return x[x > 0].sum()

    scripted = tracejit.script(f, backend="eager")
    x = tracejit.tensor([1.0, -1.0, 2.0])
    np.testing.assert_allclose(scripted(x).detach().numpy(), f(torch.tensor([1.0, -1.0,
                                                                             2.0])).detach().numpy())

    def failing(self, spec, leaves, state):
        raise AssertionError(f"{SIZE_GUARD}the size of a data-dependent dim read at f.py:3 was 2")

    monkeypatch.setattr(TracedFunction, "_run_spec", failing)
    with pytest.raises(RuntimeError, match=r"f\.py:3") as info:
        scripted(x=x)  # a keyword: the slow path, which runs _run_spec
    assert not isinstance(info.value, AssertionError) and SIZE_GUARD not in str(info.value)
    assert "captured again" in str(info.value)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dim", [0, 1])
def test_index_select_out_of_range_raises_torchs_error_when_captured(mode, backend, dim):
    def f(T, x, i):
        return (T.index_select(x, dim, i) * 2,)

    x = np.arange(9.0, dtype=np.float32).reshape(3, 3)
    calls = [[x, [0, 2]], [x, [1, 1]], [x, [5, 0]], [x, [-1, 0]], [x, [2, 3]]]
    seen = _agree(f, calls, mode, backend)
    assert seen[:2] == ["ok", "ok"] and "ok" not in seen[2:]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES)
def test_outputs_viewing_an_output_with_a_masked_dim_alias_it(mode, backend):
    """A view of a returned masked tensor is its view after the call, as in torch: a write
    into either shows in the other."""
    def f(T, x):
        v = x[x > 0]
        return v, v.unsqueeze(0), v[::2], T.chunk(v, 1, 0)[-1]

    example = [tracejit.tensor([1.0, -1.0, 2.0, 3.0])]
    captured = _capture(_bound(f, 1), example, mode, backend)
    for data in ([1.0, -1.0, 2.0, 3.0], [5.0, 6.0, -1.0, 7.0], [0.0, 0.0, 0.0, 0.0]):
        got, want = captured(tracejit.tensor(data)), f(torch, torch.tensor(data))
        for g, w in ((got, want),):
            g[0].mul_(10)
            w[0].mul_(10)
            g[1].add_(1)
            w[1].add_(1)
            g[2].neg_()
            w[2].neg_()
        for g, w in zip(got, want):
            assert g.tolist() == w.tolist()
        if mode == "saveload":
            break  # chunk read the size: a loaded file cannot trace again for others


def _view_fixed(T, x, y):
    return (x[x > 0].view(2) + 1,)


def _reshape_fixed(T, x, y):
    return (x[x > 0].reshape(1, 2),)


def _repeat(T, x, y):
    return (x[x > 0].unsqueeze(0).repeat(2, 1),)


def _expand_new_dim(T, x, y):
    return (x[x > 0].expand(3, 2),)


def _expand_as_fixed(T, x, y):
    return (x[x > 0].expand_as(y),)


def _broadcast_to(T, x, y):
    return (T.broadcast_to(x[x > 0], (3, 2)),)


def _where_fixed(T, x, y):
    return (T.where(y > 0, x[x > 0], y),)


def _add_fixed(T, x, y):
    return (x[x > 0] + y,)


AUDIT = {  # ops taking a `?` dim and a fixed size: each follows the data or raises torch's error
    "view to a fixed size": _view_fixed,
    "reshape to a fixed size": _reshape_fixed,
    "repeat": _repeat,
    "expand with a new dim": _expand_new_dim,
    "expand_as a fixed tensor": _expand_as_fixed,
    "broadcast_to": _broadcast_to,
    "where against a fixed tensor": _where_fixed,
    "add to a fixed tensor": _add_fixed,
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["trace", "script"])
@pytest.mark.parametrize("name", list(AUDIT))
def test_a_masked_dim_against_a_fixed_size_follows_the_data(name, mode, backend):
    fn = AUDIT[name]
    y = [1.0, -1.0]
    calls = [[x, y] for x in ([1.0, 2.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0],
                              [1.0, 2.0, 3.0, 0.0], [5.0, 0.0, 6.0, 0.0])]
    seen = _agree(fn, calls, mode, backend)
    assert seen[0] == "ok" and seen[4] == "ok" and seen[3] is (
        "ok" if name == "repeat" else RuntimeError)
