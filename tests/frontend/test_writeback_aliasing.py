"""In-place writes to inputs, write-back, and outputs that alias inputs, in every capture mode.

Each program runs in torch and in tracejit (eager, trace, script, and a saved-then-loaded trace
or script, on both backends, with and without the pass pipeline), on calls with other data
than the example and on a call of another shape (which captures again). After each call the
outputs and the caller's tensors must hold torch's values; then every input is written once
more (`add_(100)`) and the outputs must change exactly where torch's do: an output that is a
view of an input in torch is a view of the caller's tensor, a new tensor in torch is one here;
last the first output is written (`mul_(3)`), which must reach exactly the tensors it reaches
in torch (outputs that view one tensor view each other).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tracejit as tj

BACKENDS = ["llvm", "eager"]
PIPELINES = [None, ""]  # the default pipeline, and none


# --- the programs (Tensor methods only: each runs on torch and tracejit tensors alike) ------------

def folded_view_then_fill(x):
    v = x[0] * 1  # a new tensor; the pipeline folds it into a view of x
    x.fill_(2.0)
    return v


def whole_times_one_then_zero(x):
    v = x * 1
    x.zero_()
    return v


def view_of_written_input(x, y):
    v = y.T  # a view of y: it shows what y holds after the call
    y.copy_(x)
    x.zero_()
    return v


def read_before_constant_write(x):
    y = x.log1p()
    x.zero_()
    return y


def slice_view_then_scale(x):
    v = x[1:]
    x.mul_(2.0)
    return v


def detached_then_add(x):
    d = x.detach()
    x.add_(1.0)
    return d


def transposed_and_itself(x):
    return x.T, x


def new_tensor_and_its_view(x):
    y = x * 2.0
    return y, y.T


def write_through_view(x):
    v = x.view(-1)
    v[0] = 5.0
    return x * 1, v


def row_view_and_copy(x, y):
    r = x[0]
    c = x[1] + 0
    x.copy_(y)
    return r, c


def reshape_chain(x):
    v = x.reshape(-1)[1:].unsqueeze(0)
    x.sub_(0.5)
    return v


def expand_of_input(x):
    e = x[:1].expand(3, -1)
    s = x.sum()
    x.neg_()
    return e, s


def same_input_twice(a, b):
    r = a.sum(0)
    b.mul_(2.0)
    return r, a[0]


def views_of_an_unreturned_tensor(x):
    t = x * 2.0
    return t[0], t.T, t.reshape(-1)[2:]  # three views of t, which is not returned


def flat_view_of_a_returned_copy(x):
    c = x.T.contiguous()
    return c.reshape(-1), c


def one_view_returned_twice(x):
    v = x.exp().squeeze()
    return v, x[1:], v


PROGRAMS = {
    "x[0] * 1 then fill_": (folded_view_then_fill, [(2, 3)], [(4, 3)], [0]),
    "x * 1 then zero_": (whole_times_one_then_zero, [(2, 3)], [(3, 2)], [0]),
    "y.T then y.copy_(x)": (view_of_written_input, [(2, 2), (2, 2)], [(3, 3), (3, 3)], [0, 1]),
    "log1p then zero_": (read_before_constant_write, [(3,)], [(2,)], [0]),
    "x[1:] then mul_": (slice_view_then_scale, [(3, 2)], [(4, 2)], [0]),
    "detach then add_": (detached_then_add, [(2, 3)], [(3, 3)], [0]),
    "x.T and x": (transposed_and_itself, [(2, 3)], [(3, 4)], [0]),
    "y and y.T": (new_tensor_and_its_view, [(2, 3)], [(3, 3)], [0]),
    "write through view(-1)": (write_through_view, [(2, 3)], [(2, 2)], [0]),
    "x[0], x[1] + 0 then copy_": (row_view_and_copy, [(2, 3), (2, 3)], [(2, 4), (2, 4)], [0, 1]),
    "reshape chain then sub_": (reshape_chain, [(2, 3)], [(3, 3)], [0]),
    "expand then neg_": (expand_of_input, [(2, 3)], [(2, 5)], [0]),
    "same tensor twice": (same_input_twice, [(2, 3), (2, 3)], [(3, 2), (3, 2)], [0, 0]),
    "views of an unreturned tensor": (views_of_an_unreturned_tensor, [(2, 3)], [(3, 3)], [0]),
    "a view returned twice": (one_view_returned_twice, [(2, 3)], [(4, 3)], [0]),
    "reshape of a returned contiguous()": (flat_view_of_a_returned_copy, [(2, 3)], [(3, 3)],
                                           [0]),
}


def data_for(shapes, seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2, 2, s).astype(np.float32) for s in shapes]


def args_of(lib, arrays, which):
    """The call's tensors: one per distinct array index in `which` (a repeat is the same tensor)."""
    made = {}
    for k in which:
        if k not in made:
            made[k] = lib.tensor(arrays[k].copy())
    return [made[k] for k in which], list(made.values())


def flat(out):
    return list(out) if isinstance(out, tuple) else [out]


def observe(call, lib, arrays, which):
    """Outputs and inputs right after the call, the outputs after each input was written, and
    everything after a write into the first output (or that torch refused it)."""
    args, distinct = args_of(lib, arrays, which)
    outs = flat(call(*args))
    first = [np.array(t.numpy()) for t in outs + distinct]
    for t in distinct:
        t.add_(100.0)
    second = [np.array(t.numpy()) for t in outs]
    try:
        outs[0].mul_(3.0)
        written = np.array(True)
    except RuntimeError:  # an expanded tensor: two elements share memory
        written = np.array(False)
    return first, second, [written] + [np.array(t.numpy()) for t in outs + distinct]


def assert_like_torch(fn, call, calls, which):
    for arrays in calls:
        want = observe(fn, torch, arrays, which)
        got = observe(call, tj, arrays, which)
        for g, w in zip(got, want):
            assert len(g) == len(w)
            for a, b in zip(g, w):
                assert a.shape == b.shape
                np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def calls_of(shapes, other):
    return [data_for(shapes, 1), data_for(shapes, 2), data_for(other, 3), data_for(shapes, 4)]


def options(backend, pipeline):
    return {"backend": backend} | ({} if pipeline is None else {"pipeline": pipeline})


@pytest.mark.parametrize("name", PROGRAMS)
def test_eager_follows_torch(name):
    fn, shapes, other, which = PROGRAMS[name]
    assert_like_torch(fn, fn, calls_of(shapes, other), which)


@pytest.mark.parametrize("pipeline", PIPELINES)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", PROGRAMS)
def test_trace_follows_torch(name, backend, pipeline):
    fn, shapes, other, which = PROGRAMS[name]
    example, _ = args_of(tj, data_for(shapes, 0), which)
    traced = tj.trace(fn, *example, **options(backend, pipeline))
    assert_like_torch(fn, traced, calls_of(shapes, other), which)


@pytest.mark.parametrize("pipeline", PIPELINES)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", PROGRAMS)
def test_script_follows_torch(name, backend, pipeline):
    fn, shapes, other, which = PROGRAMS[name]
    scripted = tj.script(fn, **options(backend, pipeline))
    assert_like_torch(fn, scripted, calls_of(shapes, other), which)


@pytest.mark.parametrize("capture", ["trace", "script"])
@pytest.mark.parametrize("pipeline", PIPELINES)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", PROGRAMS)
def test_saved_and_loaded_follows_torch(name, backend, pipeline, capture, tmp_path):
    fn, shapes, other, which = PROGRAMS[name]
    calls = calls_of(shapes, other)
    if capture == "trace":
        compiled = tj.trace(fn, *args_of(tj, data_for(shapes, 0), which)[0],
                            **options(backend, pipeline))
    else:
        compiled = tj.script(fn, **options(backend, pipeline))
    for arrays in calls:  # a graph for each shape
        compiled(*args_of(tj, arrays, which)[0])
    tj.save(compiled, tmp_path / "f.tj")
    loaded = tj.load(tmp_path / "f.tj", backend=backend)
    assert_like_torch(fn, loaded, calls, which)


# --- a write the capture made never reaches the caller's tensors -------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_capture_leaves_the_callers_tensors_alone(backend):
    """Capturing (for the example, or again for a new shape) writes nothing the caller holds:
    a value read before an in-place write sees the caller's data."""
    example = tj.ones(3)
    traced = tj.trace(read_before_constant_write, example, backend=backend)
    np.testing.assert_array_equal(example.numpy(), np.ones(3, np.float32))
    x = tj.tensor([1.0, 2.0])  # a new shape: traced again on this call
    got = traced(x)
    np.testing.assert_allclose(got.numpy(), torch.tensor([1.0, 2.0]).log1p().numpy())
    np.testing.assert_array_equal(x.numpy(), [0.0, 0.0])  # the call's own write, as in torch


# --- a loaded graph's run-time checks raise torch's errors -------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("start, error", [(1, RuntimeError), (3, IndexError)])
def test_loaded_run_time_check_raises_torchs_error(start, error, backend, tmp_path):
    def fn(x):
        return x[x > 0].narrow(0, start, 1)

    traced = tj.trace(fn, tj.tensor([1.0, 2.0, 3.0, 4.0, -1.0]), backend=backend)
    tj.save(traced, tmp_path / "g.tj")
    loaded = tj.load(tmp_path / "g.tj", backend=backend)
    data = [1.0, -2.0, -3.0, -4.0, -5.0]
    with pytest.raises(error):
        fn(torch.tensor(data))
    for compiled in (traced, loaded):
        with pytest.raises(error) as caught:
            compiled(tj.tensor(data))
        assert "tracejit check" not in str(caught.value)


# --- split and chunk of a data-dependent dim follow each call's size ---------------------------

def split_by_two(x):
    return tuple(p * 2 for p in x[x > 0].split(2))


def split_in_sections(x):
    a, b = x[x > 0].split([1, 2])
    return a.sum() + b


def second_chunk(x):
    return x[x > 0].chunk(2)[-1] + 1


def nonzero_chunks(x):
    return x.nonzero().chunk(2)


SPLITS = [split_by_two, split_in_sections, second_chunk, nonzero_chunks]
COUNTS = [[1.0, 2.0, 3.0, -1.0, -2.0], [1.0, -2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0, 4.0, 5.0],
          [-1.0, 2.0, -3.0, -4.0, -5.0], [1.0, 2.0, 3.0, -1.0, -2.0]]


def outcome(fn, lib, data):
    try:
        out = fn(lib.tensor(data))
    except (RuntimeError, IndexError, ValueError) as e:
        return type(e)
    return [np.array(t.numpy()) for t in (out if isinstance(out, tuple) else (out,))]


@pytest.mark.parametrize("capture", ["trace", "script"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fn", SPLITS, ids=lambda f: f.__name__)
def test_split_of_a_data_dependent_dim_follows_each_call(fn, backend, capture):
    if capture == "trace":
        compiled = tj.trace(fn, tj.tensor(COUNTS[0]), backend=backend)
    else:
        compiled = tj.script(fn, backend=backend)
    for data in COUNTS:
        want = outcome(fn, torch, data)
        got = outcome(compiled, tj, data)
        if isinstance(want, type):
            assert isinstance(got, type) and issubclass(got, want), data
            continue
        assert len(got) == len(want), data
        for g, w in zip(got, want):
            assert g.shape == w.shape, data
            np.testing.assert_allclose(g, w, rtol=1e-6)


# --- torch.jit.trace's tuple of example inputs -------------------------------------------------

def add_scaled(x, y):
    return x + 2 * y


def product_of_pair(pair):
    return pair[0] * pair[1]


class Difference(tj.nn.Module):
    def forward(self, a, b):
        return a - b


def test_tuple_of_example_inputs_is_unpacked_where_the_function_takes_several():
    x, y = tj.tensor([1.0, 2.0]), tj.tensor([3.0, 4.0])
    want = add_scaled(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])).numpy()
    for traced in (tj.trace(add_scaled, (x, y)), tj.trace(add_scaled, x, y),
                   tj.jit.trace(add_scaled, (x, y))):
        np.testing.assert_allclose(traced(x, y).numpy(), want)
    module = tj.trace(Difference(), (x, y))
    np.testing.assert_allclose(module(x, y).numpy(), (torch.tensor([1.0, 2.0])
                                                     - torch.tensor([3.0, 4.0])).numpy())


def test_tuple_example_stays_one_argument_where_the_function_takes_one():
    pair = (tj.tensor([1.0, 2.0]), tj.tensor([3.0, 4.0]))
    traced = tj.trace(product_of_pair, pair)
    np.testing.assert_allclose(traced(pair).numpy(), [3.0, 8.0])
    with pytest.raises(TypeError, match="missing a required argument"):
        tj.trace(add_scaled, (pair[0],))  # neither binds: the error names what is missing


# --- a module returning its own buffer saves and loads -----------------------------------------

def make_counter(lib):
    class Counter(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("count", lib.zeros(2, 2))

        def forward(self, x):
            self.count.add_(x)
            return self.count, self.count.T

    return Counter()


@pytest.mark.parametrize("backend", BACKENDS)
def test_module_returning_its_buffer_loads(backend, tmp_path):
    """An output that is a module buffer (handed back as that state tensor) or its view."""
    traced = tj.trace(make_counter(tj), tj.zeros(2, 2), backend=backend)
    tj.save(traced, tmp_path / "m.tj")
    loaded = tj.load(tmp_path / "m.tj", backend=backend)
    reference = make_counter(torch)
    for data in (np.ones((2, 2), np.float32), np.arange(4, dtype=np.float32).reshape(2, 2)):
        want = reference(torch.tensor(data))
        got = loaded(tj.tensor(data))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g.numpy(), w.numpy())
        got[0].add_(1.0)  # the state itself: the view follows, as in torch
        want[0].add_(1.0)
        np.testing.assert_allclose(got[1].numpy(), want[1].numpy())
