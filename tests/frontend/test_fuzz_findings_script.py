"""@tracejit.script findings of the differential fuzzer (issue 13), each against PyTorch 2.13
running the same Python source: the module `torch` or `tracejit` is passed in as `T`, so one
function body is the program under both libraries."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mode_compare import same

import tracejit as tj

BACKENDS = ["eager", "llvm"]


def _data(shape=(3, 4), seed=0, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2, 2, shape).astype(dtype)


def compare(fn, *arrays, backend="eager", extra=()):
    """Run `fn(T, *tensors, *extra)` under torch and scripted tracejit (twice: the call that
    scripts and a cached call); outputs and every input's values after the call must match."""
    expected_in = [torch.tensor(a.copy()) for a in arrays]
    expected = fn(torch, *expected_in, *extra)
    scripted = tj.script(fn, backend=backend)
    for _ in range(2):
        ours_in = [tj.tensor(a.copy()) for a in arrays]
        got = scripted(tj, *ours_in, *extra)
        _same(got, expected)
        for o, t in zip(ours_in, expected_in):
            _same(o, t)
    return scripted


_same = same


# --- 1. a read before an in-place write that comes later in the source ----------------------
def read_then_zero(T, x):
    y = x.log1p()
    x.zero_()
    return y


def read_then_fill_local(T, x):
    z = x * 2
    y = z.exp()
    z.fill_(3.0)
    return y, z


def view_then_write_row(T, x):
    v = x[0]
    s = x.sum()
    x[0].zero_()
    return v * 1, s


def transpose_add(T, x):
    y = x.abs()
    x.T.add_(1)
    return y, x.T * 1


def view_before_write(T, x):
    v = x[:, 1]
    x.mul_(0)
    return v + 0


def write_in_if(T, x):
    y = x.sin()
    if x.sum() > 0:
        x.zero_()
    else:
        x.fill_(1.0)
    return y


def write_in_for(T, x):
    y = x.cos()
    for i in range(3):
        x[i].fill_(float(i))
    return y


def write_in_while(T, x):
    y = x.exp()
    n = T.tensor(0)
    while n < 2:
        x.mul_(0)
        n = n + 1
    return y


def write_constant_to_input(T, x):
    y = x.sum(0)
    x.copy_(T.ones(3, 4))
    return y


def write_item(T, x):
    y = x[1].clone()
    x[1] = 5.0
    return y, x[1] * 1


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fn", [read_then_zero, read_then_fill_local, view_then_write_row,
                                transpose_add, view_before_write, write_in_if, write_in_for,
                                write_in_while, write_constant_to_input, write_item])
def test_read_before_later_inplace_write(fn, backend):
    compare(fn, _data(), backend=backend)


def test_read_before_write_sees_the_callers_values_on_the_first_call():
    x = tj.tensor([1.0, 2.0, 3.0])
    y = tj.script(read_then_zero, backend="eager")(tj, x)
    np.testing.assert_allclose(y.detach().numpy(), np.log1p([1.0, 2.0, 3.0]), rtol=1e-6)
    np.testing.assert_equal(x.detach().numpy(), [0, 0, 0])


# --- 5. an error inside a scripted function keeps torch's exception type --------------------
def index_past_end(T, x):
    return x[10]


def shapes_mismatch(T, x):
    return x + x[:2, :3]


def bad_view(T, x):
    return x.view(7)


def dim_out_of_range(T, x):
    return x.sum(dim=5)


def cat_bad_dim(T, x):
    return T.cat([x, x], dim=3)


def ambiguous_truth(T, x):
    if x > 0:
        return x
    return -x


def unpack_too_many(T, x):
    a, b = x.shape[0], x.shape[1], 1
    return x * a * b


def helper_wrong_arguments(T, x):
    return _helper(x, 1, 2)


def _helper(x, y):
    return x + y


ERRORS = [index_past_end, shapes_mismatch, bad_view, dim_out_of_range, cat_bad_dim,
          ambiguous_truth, unpack_too_many, helper_wrong_arguments]


def _raised(fn, lib, x):
    try:
        fn(lib, x)
    except Exception as e:
        return e
    raise AssertionError(f"{fn.__name__} raised nothing under {lib.__name__}")


@pytest.mark.parametrize("fn", ERRORS, ids=lambda f: f.__name__)
def test_script_error_keeps_torchs_type_and_one_location(fn):
    expected = type(_raised(fn, torch, torch.ones(3, 4)))
    with pytest.raises(expected) as info:
        tj.script(fn, backend="eager")(tj, tj.ones(3, 4))
    error = info.value
    assert isinstance(error, tj.ScriptError)
    text = str(error)
    line = fn.__code__.co_firstlineno
    body = range(line, line + 4)
    assert text.count(__file__) == 1, text  # one location: the user's scripted line
    where = int(text.split(__file__ + ":", 1)[1].split(":", 1)[0])
    assert where in body or (fn is helper_wrong_arguments and where == line + 1), text


def test_capture_limit_stays_a_plain_script_error():
    def loops_over_tensor(x):
        return [row for row in x]
    with pytest.raises(tj.ScriptError) as info:
        tj.script(loops_over_tensor, backend="eager")(tj.ones(2))
    assert type(info.value) is tj.ScriptError


GLOBAL_BUFFER = tj.zeros(3)


def test_trace_error_inside_script_has_only_the_scripted_location():
    def writes_global(x):
        GLOBAL_BUFFER.add_(x)
        return x
    with pytest.raises(tj.ScriptError) as info:
        tj.script(writes_global, backend="eager")(tj.ones(3))
    text = str(info.value)
    line = writes_global.__code__.co_firstlineno + 1
    assert text.startswith(f"{__file__}:{line}:"), text
    assert text.count(__file__) == 1, text


# --- 3. a Python number argument promotes as a Python number (weakly typed) ----------------
def times(T, x, s):
    return x * s


def derived_number(T, x, s):
    t = s * 2 + 1
    return x - t, x / -s


def two_numbers(T, x, s, n):
    return x * (s + n), x + n


def compare_number(T, x, s):
    return T.where(x > s, x, s)


NUMBER_DTYPES = [np.float32, np.float64, np.int32, np.uint8, np.bool_]


@pytest.mark.parametrize("shape", [(3,), ()])
@pytest.mark.parametrize("dtype", NUMBER_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("number", [2.5, 3, 0.1, True])
def test_number_argument_is_weakly_typed(number, dtype, shape):
    x = (np.arange(int(np.prod(shape))).reshape(shape) % 2).astype(dtype)
    compare(times, x, extra=(number,))


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64])
def test_arithmetic_on_number_arguments_stays_weak(dtype):
    x = (np.arange(6).reshape(2, 3) + 1).astype(dtype)
    compare(derived_number, x, extra=(0.7,))
    compare(two_numbers, x, extra=(0.3, 2))
    compare(compare_number, x, extra=(2.5,))


def test_float64_tensor_keeps_the_full_precision_of_the_number():
    x = np.array([1.0, 3.0], np.float64)
    compare(times, x, extra=(0.1,))
    compare(times, x.astype(np.float32), extra=(1e-8 + 1.0,))


# --- 2. Python values the scripted code read are guarded, not baked silently ----------------
SCALE = 2.0
MODE = "double"


def scaled_by_global(x):
    if MODE == "double":
        return x * SCALE * 2
    return x * SCALE


class _Scaled(tj.nn.Module):
    def __init__(self, lib):
        super().__init__()
        self.scale, self.shift, self.negate = 0.5, 1, False
        self.lib = lib

    def forward(self, x):
        y = x * self.scale + self.shift
        if self.negate:
            y = -y
        if self.training:
            y = y * 2
        return y


def test_changed_module_attributes_rescript(caplog):
    x = _data((2, 3))
    ours, theirs = _Scaled(tj), _Scaled(torch)
    scripted = tj.script(ours, backend="eager")
    changes = [("scale", 1.5), ("shift", 3), ("negate", True), ("scale", 1.5), ("shift", 2.5)]
    with caplog.at_level("INFO", logger="tracejit.recompiles"):
        for name, value in [(None, None), *changes]:
            if name is not None:
                setattr(ours, name, value)
                setattr(theirs, name, value)
            for module in (ours, theirs):
                module.train(name != "negate")
            expected = theirs.forward.__func__(theirs, torch.tensor(x))
            _same(scripted(tj.tensor(x)), expected)
    rescripts = [r.getMessage() for r in caplog.records if "rescripting" in r.getMessage()]
    assert len(rescripts) == 4, rescripts  # setting scale to 1.5 again changes nothing
    assert "`self.scale` was 0.5, is 1.5" in rescripts[0]


def test_changed_global_rescripts():
    global SCALE, MODE
    scripted = tj.script(scaled_by_global, backend="eager")
    x = _data((3,))
    try:
        for SCALE, MODE in [(2.0, "double"), (3.0, "double"), (3.0, "single"), (-1.0, "x")]:  # noqa: B007
            expected = scaled_by_global(torch.tensor(x))
            _same(scripted(tj.tensor(x)), expected)
    finally:
        SCALE, MODE = 2.0, "double"


def test_changed_closure_variable_rescripts():
    factor = 2

    def by_factor(x):
        return x * factor
    scripted = tj.script(by_factor, backend="eager")
    x = _data((3,))
    for factor in (2, 5, 0.25):  # noqa: B007 - the closure reads it
        _same(scripted(tj.tensor(x)), by_factor(torch.tensor(x)))


def test_rebound_global_function_rescripts():
    global _helper_act
    scripted = tj.script(_uses_act, backend="eager")
    x = _data((4,))
    try:
        for act in (_relu, _neg):
            _helper_act = act
            _same(scripted(tj.tensor(x)), _uses_act(torch.tensor(x)))
    finally:
        _helper_act = _relu


def _relu(x):
    return x.relu()


def _neg(x):
    return -x


_helper_act = _relu


def _uses_act(x):
    return _helper_act(x) + 1


def test_unchanged_values_keep_the_cached_graph():
    scripted = tj.script(scaled_by_global, backend="eager")
    x = tj.tensor(_data((3,)))
    scripted(x)
    graph = scripted.graph
    for _ in range(3):
        scripted(x)
    assert scripted.graph is graph and len(scripted.graphs) == 1


OFFSET = tj.tensor([1.0, 2.0, 3.0])


def adds_global_tensor(x):
    return x + OFFSET


def test_rebound_global_tensor_rescripts():
    global OFFSET
    scripted = tj.script(adds_global_tensor, backend="eager")
    x = _data((3,))
    saved = OFFSET
    try:
        for values in ([1.0, 2.0, 3.0], [-4.0, 0.5, 9.0]):
            OFFSET = tj.tensor(values)
            expected = torch.tensor(x) + torch.tensor(values)
            _same(scripted(tj.tensor(x)), expected)
    finally:
        OFFSET = saved


# --- 4. boolean masks and other data-dependent shapes are captured -------------------------
def mask_select(T, x):
    return x[x > 0]


def mask_write_input(T, x):
    x[x < 0] = 0
    return x * 1


def mask_select_fn(T, x):
    return T.masked_select(x, x > 0.5)


def where_one_arg(T, x):
    return T.where(x > 0)


def mask_count_as_int(T, x):
    y = x[x > 0]
    return y.sum() + y.shape[0], y.numel()


def mask_then_if(T, x):
    y = x[x > 0]
    if y.sum() > 1:
        y = y * 2
    return y


def mask_in_if(T, x):
    if x.sum() > 0:
        s = x[x > 0].sum()
    else:
        s = x[x < 0].mean()
    return s


def mask_in_loop(T, x):
    total = x.sum() * 0
    for i in range(x.shape[0]):
        row = x[i]
        total = total + row[row > 0].sum()
    return total


def mask_then_reshape(T, x):
    return x[x > 0].reshape(-1, 1) + x[:1, :1]


MASKS = [mask_select, mask_write_input, mask_select_fn, where_one_arg, mask_count_as_int,
         mask_then_if, mask_in_if, mask_in_loop, mask_then_reshape]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fn", MASKS, ids=lambda f: f.__name__)
def test_boolean_mask_is_captured(fn, backend):
    scripted = None
    for seed in range(3):  # a different number of selected elements each time
        x = _data((3, 4), seed)
        if seed == 2:
            x = -np.abs(x)  # none selected
        expected_x = torch.tensor(x.copy())
        expected = fn(torch, expected_x)
        scripted = scripted or tj.script(fn, backend=backend)
        ours_x = tj.tensor(x.copy())
        got = scripted(tj, ours_x)
        _same_shape(got, expected)
        _same(ours_x, expected_x)


def _same_shape(got, expected) -> None:
    if isinstance(expected, (tuple, list)):
        for g, e in zip(got, expected, strict=True):
            _same_shape(g, e)
        return
    if not isinstance(expected, torch.Tensor):
        assert got == expected
        return
    assert tuple(got.shape) == tuple(expected.shape)
    _same(got, expected)


# --- found by the random-program hunt -----------------------------------------------------
def number_builtins(T, x, s, n):
    return x * round(s), x + int(s), x * max(s, 1.0), x - abs(s), x * float(n), x * min(n, 2)


@pytest.mark.parametrize("s", [2.5, -1.25, 0.4])
def test_python_builtins_on_number_arguments(s):
    compare(number_builtins, _data(), extra=(s, 3))


# a variable that views a tensor on some paths through an if or loop and not on others: a later
# in-place write would reach it on only some paths (eager); script refuses to read it after
def view_on_one_branch(T, x):
    v = x.T
    if x.sum() > 0:
        v = v + 1
    x.mul_(2)
    return v * 1


def loop_may_keep_view(T, x, n):
    a = x * 1
    v = a.T
    for _ in range(n):
        a.mul_(2)
        a = a + 1
    return v * 1, a


def write_through_merged(T, x):
    b = x * 1
    v = b[0]
    if x.sum() > 0:
        v = v * 3
    v.add_(1)
    return b * 1


@pytest.mark.parametrize("fn, extra", [(view_on_one_branch, ()), (loop_may_keep_view, (2,)),
                                       (write_through_merged, ())])
def test_path_dependent_view_is_refused_not_wrong(fn, extra):
    with pytest.raises(tj.ScriptError, match="shares memory with another tensor on some paths"):
        tj.script(fn, backend="eager")(tj, tj.tensor(_data()), *extra)


def view_on_one_branch_cloned(T, x):
    v = x.T.clone()
    if x.sum() > 0:
        v = v + 1
    x.mul_(2)
    return v * 1


def view_on_one_branch_unused(T, x):
    v = x.T
    if x.sum() > 0:
        v = v + 1
    x.mul_(2)
    return x * 1


@pytest.mark.parametrize("fn", [view_on_one_branch_cloned, view_on_one_branch_unused])
def test_path_dependent_view_not_read_after_the_write_is_captured(fn):
    compare(fn, _data())
    compare(fn, -np.abs(_data()))


def same_write_on_both_branches(T, x, y):
    if x[0, 0] > y[0, 0]:
        y.copy_(x)
    else:
        y.copy_(x)
    return y * 1


def test_both_branches_writing_the_same_value_write_it():
    compare(same_write_on_both_branches, _data(seed=1), _data(seed=2))


def _counter(lib):
    class Counter(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("count", lib.zeros(3))
            self.k = 2

        def forward(self, x):
            y = self.count * 2 + x  # read before the write below
            self.count.add_(1)
            self.count[0] = self.k
            return y
    return Counter()


def test_module_buffer_read_before_a_later_inplace_write():
    ours, theirs = _counter(tj), _counter(torch)
    scripted = tj.script(ours, backend="eager")
    for k in range(4):
        if k == 2:
            ours.k = theirs.k = 7  # a guarded attribute: scripted again
        x = np.full(3, k, np.float32)
        _same(scripted(tj.tensor(x)), theirs(torch.tensor(x)))
        _same(ours.count, theirs.count)


def returns_tuples_of_two_lengths(T, x):
    if x.sum() > 0:
        return x, x
    return x, x, x


def test_branches_returning_tuples_of_different_lengths_name_the_lengths():
    with pytest.raises(tj.ScriptError, match="is a tuple of 3 after one branch and a tuple "
                                             "of 2 after the other"):
        tj.script(returns_tuples_of_two_lengths, backend="eager")(tj, tj.ones(2))
