"""Regression tests for the bugs users hit porting real PyTorch programs (issue 12), each
checked against PyTorch 2.13 or plain Python."""

from __future__ import annotations

import functools
import inspect
import re
import sys
import types

import numpy as np
import pytest
import torch

import tracejit as tj
from tracejit.tracer import TraceError, user_location

# --- contiguous / view / clone(memory_format) ----------------------------------------------------
LAYOUTS = {
    "transposed": lambda m: m.arange(24.0).reshape(2, 3, 4).transpose(1, 2),
    "strided slice": lambda m: m.arange(24.0).reshape(4, 6)[:, ::2],
    "row slice": lambda m: m.arange(24.0).reshape(4, 6)[1:3],
    "expanded": lambda m: m.arange(3.0).reshape(3, 1).expand(3, 4),
    "permuted 4d": lambda m: m.arange(120.0).reshape(2, 3, 4, 5).permute(0, 2, 3, 1),
    "0-d": lambda m: m.tensor(2.5),
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_contiguity_and_strides_match_torch(name):
    make = LAYOUTS[name]
    x, ref = make(tj), make(torch)
    assert x.is_contiguous() == ref.is_contiguous()
    assert x.contiguous().is_contiguous() and ref.contiguous().is_contiguous()
    assert x.contiguous().stride() == ref.contiguous().stride()
    assert x.clone().stride() == ref.clone().stride()
    for fmt in ("contiguous_format", "preserve_format"):
        got, want = x.clone(memory_format=getattr(tj, fmt)), ref.clone(
            memory_format=getattr(torch, fmt))
        assert got.stride() == want.stride() and got.is_contiguous() == want.is_contiguous()
        np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
    if ref.ndim == 4:
        got = x.contiguous(memory_format=tj.channels_last)
        want = ref.contiguous(memory_format=torch.channels_last)
        assert got.stride() == want.stride()
        assert got.is_contiguous(memory_format=tj.channels_last)
    flat = x.contiguous().view(-1)
    np.testing.assert_array_equal(flat.detach().numpy(), ref.contiguous().view(-1).detach().numpy())


def test_gpt_style_head_merge_runs_eagerly():
    """`y.transpose(1, 2).contiguous().view(B, T, C)` (every GPT-style attention block)."""
    data = np.random.default_rng(0).standard_normal((2, 4, 3, 5)).astype(np.float32)

    def merge(m, y):
        return y.transpose(1, 2).contiguous().view(2, 3, 20)
    np.testing.assert_array_equal(merge(tj, tj.tensor(data)).detach().numpy(),
                                  merge(torch, torch.tensor(data)).detach().numpy())


def _merge_heads(y):
    return y.transpose(1, 2).contiguous().view(2, 3, 20)


@pytest.mark.parametrize("capture", ["trace", "script"])
def test_head_merge_captures(capture):
    data = np.random.default_rng(1).standard_normal((2, 4, 3, 5)).astype(np.float32)
    x = tj.tensor(data)
    fn = tj.trace(_merge_heads, x) if capture == "trace" else tj.script(_merge_heads)
    np.testing.assert_array_equal(fn(x).detach().numpy(),
                                  _merge_heads(torch.tensor(data)).detach().numpy())


def test_channels_last_needs_rank_4_like_torch():
    with pytest.raises(RuntimeError, match="required rank 4 tensor to use channels_last"):
        torch.ones(2, 3).clone(memory_format=torch.channels_last)
    with pytest.raises(RuntimeError, match="required rank 4 tensor to use channels_last"):
        tj.ones(2, 3).clone(memory_format=tj.channels_last)


# --- view / reshape error messages ---------------------------------------------------------------
BAD_SHAPES = [((2, 3), (4, 2)), ((2, 3), (-1, 4)), ((2, 3), (-1, -1)), ((2, 3), (-2, 3)),
              ((2, 3), (0, -1)), ((0, 3), (0, -1)), ((2, 3), (7,))]


@pytest.mark.parametrize("method", ["view", "reshape"])
@pytest.mark.parametrize(("shape", "new"), BAD_SHAPES)
def test_bad_view_and_reshape_sizes_raise_torchs_error(method, shape, new):
    with pytest.raises(Exception) as want:
        getattr(torch.ones(*shape), method)(*new)
    with pytest.raises(type(want.value)) as got:
        getattr(tj.ones(*shape), method)(*new)
    assert str(got.value).startswith(str(want.value)), (str(got.value), str(want.value))


def test_view_of_a_transpose_still_refuses_like_torch():
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        torch.ones(2, 3).t().view(6)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        tj.ones(2, 3).t().view(6)


# --- graph files of models with BatchNorm ---------------------------------------------------------
def test_a_batchnorm_model_saves_and_loads(tmp_path):
    model = tj.nn.Sequential(tj.nn.Linear(3, 4), tj.nn.BatchNorm1d(4)).eval()
    x = tj.randn(5, 3)
    want = model(x).detach().numpy()
    path = tmp_path / "bn.tjg"
    tj.save(tj.trace(model, x), path)
    loaded = tj.load(path)
    np.testing.assert_allclose(loaded(x).detach().numpy(), want, rtol=1e-6, atol=1e-6)
    names = [n for n, _ in (*model.named_parameters(), *model.named_buffers())]
    count = loaded.state[names.index("1.num_batches_tracked")]
    assert tuple(count.shape) == tuple(torch.nn.BatchNorm1d(4).num_batches_tracked.shape)


# --- one_hot under trace ---------------------------------------------------------------------
def test_one_hot_with_num_classes_traces():
    labels = [0, 3, 1, 2, 3]
    traced = tj.trace(lambda y: tj.nn.functional.one_hot(y, num_classes=4), tj.tensor(labels))
    want = torch.nn.functional.one_hot(torch.tensor(labels), num_classes=4).detach().numpy()
    np.testing.assert_array_equal(traced(tj.tensor(labels)).detach().numpy(), want)
    np.testing.assert_array_equal(traced(tj.tensor([1, 1, 0, 0, 2])).detach().numpy(),
                                  torch.nn.functional.one_hot(torch.tensor([1, 1, 0, 0, 2]),
                                                              num_classes=4).detach().numpy())


def test_one_hot_bounds_are_checked_at_each_traced_call():
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes"):
        torch.nn.functional.one_hot(torch.tensor([0, 4]), num_classes=4)
    traced = tj.trace(lambda y: tj.nn.functional.one_hot(y, num_classes=4), tj.tensor([0, 1]))
    with pytest.raises(AssertionError, match="class values must be non-negative and smaller "
                                             "than num_classes"):
        traced(tj.tensor([0, 4]))
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes"):
        tj.nn.functional.one_hot(tj.tensor([0, 4]), num_classes=4)


def test_one_hot_without_num_classes_still_needs_values():
    with pytest.raises(TraceError, match="int\\(\\) on a traced Tensor"):
        tj.trace(lambda y: tj.nn.functional.one_hot(y), tj.tensor([0, 1]))


# --- module conversions keep the compiled wrapper ----------------------------------------------
def _model():
    return tj.nn.Sequential(tj.nn.Linear(3, 4), tj.nn.ReLU(), tj.nn.Linear(4, 2))


CONVERSIONS = [lambda m: m.float(), lambda m: m.to("cpu"), lambda m: m.requires_grad_(False),
               lambda m: m.eval(), lambda m: m.train(), lambda m: m.cpu(),
               lambda m: m.apply(lambda _: None)]


@pytest.mark.parametrize("capture", ["trace", "script"])
def test_torch_jit_module_conversions_return_the_compiled_module(capture):
    """The oracle: torch.jit's compiled modules hand themselves back."""
    module = torch.nn.Linear(3, 2)
    compiled = torch.jit.trace(module, torch.ones(2, 3)) if capture == "trace" else \
        torch.jit.script(module)
    # (torch.jit.script refuses requires_grad_ on a ScriptModule; tracejit accepts it)
    calls = CONVERSIONS if capture == "trace" else [c for k, c in enumerate(CONVERSIONS)
                                                    if k != 2]
    assert all(call(compiled) is compiled for call in calls)
    assert compiled.double() is compiled
    assert compiled(torch.ones(2, 3, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.parametrize("capture", ["trace", "script"])
def test_module_conversions_return_the_compiled_module(capture):
    x = tj.randn(2, 3)
    compiled = tj.trace(_model(), x) if capture == "trace" else tj.script(_model())
    kind = type(compiled)
    for call in [*CONVERSIONS, lambda m: m.to(tj.float32)]:
        assert type(call(compiled)) is kind and call(compiled) is compiled
    compiled.eval()
    want = compiled.module(x).detach().numpy()
    np.testing.assert_allclose(compiled(x).detach().numpy(), want, rtol=1e-6)
    doubled = compiled.double()
    assert doubled is compiled
    x64 = x.double()
    got = doubled(x64)
    assert got.dtype == tj.float64 and compiled.graph.inputs[0].type.dtype == tj.float64
    np.testing.assert_allclose(got.detach().numpy(), compiled.module(x64).detach().numpy(),
                               rtol=1e-12)
    assert compiled.half() is compiled and compiled(x.half()).dtype == tj.float16


def test_a_loaded_module_keeps_itself_through_conversions_that_fit(tmp_path):
    x = tj.randn(2, 3)
    traced = tj.trace(_model().eval(), x)
    tj.save(traced, tmp_path / "m.tjg")
    loaded = tj.load(tmp_path / "m.tjg")
    for call in (lambda m: m.float(), lambda m: m.to("cpu"), lambda m: m.eval(),
                 lambda m: m.cpu(), lambda m: m.requires_grad_(False)):
        assert call(loaded) is loaded
    with pytest.raises(RuntimeError, match=r"cannot be converted to tracejit\.float64"):
        loaded.double()
    with pytest.raises(RuntimeError, match="captured in eval mode and cannot switch to train"):
        loaded.train()


def test_save_after_to_keeps_only_graphs_for_the_current_dtypes(tmp_path):
    x = tj.randn(2, 3)
    traced = tj.trace(_model().eval(), x)
    traced.double()(x.double())
    tj.save(traced, tmp_path / "m.tjg")
    loaded = tj.load(tmp_path / "m.tjg")
    assert len(loaded.graphs) == 1
    np.testing.assert_allclose(loaded(x.double()).detach().numpy(),
                               traced.module(x.double()).detach().numpy())


# --- printing traced values ---------------------------------------------------------------------
def test_printing_a_traced_value_shows_a_placeholder(capsys):
    weight = tj.ones(2)

    def f(x):
        y = x * 2
        print(y, repr(y.sum()), f"{y}", f"{y.sum()}", str(weight))
        return y
    tj.trace(f, tj.ones(2, 3))
    shown = capsys.readouterr().out.strip()
    assert shown == ("tensor(<traced float32[2, 3]>) tensor(<traced float32[]>) "
                     "tensor(<traced float32[2, 3]>) tensor(<traced float32[]>) "
                     + repr(torch.ones(2)))
    with pytest.raises(TraceError, match="formatted as a number"):
        tj.trace(lambda x: f"{x.sum():.2f}", tj.ones(2))


# --- error locations through decorators and for lambdas ------------------------------------------
def _line_of(fn, text: str) -> int:
    lines, start = inspect.getsourcelines(fn)
    return start + next(k for k, line in enumerate(lines) if text in line)


def _passthrough(fn):
    @functools.wraps(fn)
    def inner(*args, **kwargs):
        return fn(*args, **kwargs)
    return inner


@tj.no_grad()
def _decorated_helper(x):
    y = x * 2
    return y.reshape(5, 7)  # the failing line


def _calls_decorated(x):
    return _decorated_helper(x) + 1


class _DecoratedForward(tj.nn.Module):
    @tj.no_grad()
    def forward(self, x):
        y = x + 1
        return y.reshape(5, 7)  # the failing line


@pytest.mark.parametrize("case", ["function", "callee", "module"])
def test_script_errors_point_inside_no_grad_decorated_code(case):
    fn, where = {"function": (_decorated_helper, _decorated_helper),
                 "callee": (_calls_decorated, _decorated_helper),
                 "module": (_DecoratedForward(), _DecoratedForward.forward)}[case]
    line = _line_of(where, "# the failing line")
    with pytest.raises(tj.ScriptError) as e:
        tj.script(fn)(tj.ones(3))
    assert re.search(rf"test_porting_bugs\.py:{line}:\d+: error: RuntimeError: shape '\[5, 7\]'",
                     str(e.value)), str(e.value)


def test_trace_errors_point_inside_decorated_functions():
    @_passthrough
    @tj.no_grad()
    def f(x):
        y = x + 1
        return y if y.sum() > 0 else -y  # the failing line
    with pytest.raises(TraceError) as e:
        tj.trace(f, tj.ones(3))
    assert f"test_porting_bugs.py:{_line_of(f, '# the failing line')}:" in str(e.value)


def test_locations_skip_standard_library_wrapper_frames():
    """tracejit code reached through a stdlib wrapper (functools.singledispatch here, as
    contextlib's behind `@no_grad()`) is located at the user's line, not in the wrapper."""
    def probe(_):
        return user_location()
    # probe's frame counts as tracejit's own (its module name), like an nn layer's
    probe = types.FunctionType(probe.__code__, {"user_location": user_location,
                                                "__name__": "tracejit.probe"})
    wrapped = functools.singledispatch(probe)
    loc = wrapped(1)
    assert (loc.file, loc.line) == (__file__, sys._getframe().f_lineno - 1)


def test_a_lambdas_script_error_has_file_line_and_column():
    f, _ = (lambda x: x.reshape(5, 7)), (lambda x: x + 1)
    with pytest.raises(tj.ScriptError) as e:
        tj.script(f)
    line = sys._getframe().f_lineno - 3
    text = str(e.value)
    assert text.startswith(f"{__file__}:{line}:13: error: cannot script the lambda"), text
    assert "    f, _ = (lambda x: x.reshape(5, 7))" in text and "^^^^" in text


def test_a_lambda_is_scripted_and_its_errors_point_into_it():
    g = lambda x: x.reshape(5, 7)  # noqa: E731
    line = sys._getframe().f_lineno - 1
    with pytest.raises(tj.ScriptError) as e:
        tj.script(g)(tj.ones(3))
    assert str(e.value).startswith(f"{__file__}:{line}:19: error: RuntimeError: shape '[5, 7]'")
    np.testing.assert_array_equal(tj.script(g)(tj.ones(35)).detach().numpy(),
                                  torch.ones(35).reshape(5, 7).detach().numpy())
