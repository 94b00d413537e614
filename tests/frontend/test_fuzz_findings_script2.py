"""@tracejit.script findings of the differential fuzzer (issue 13), part 2, against PyTorch 2.13
running the same source (`T` is the module `torch` or `tracejit`): F13 (a mask computed
after an in-place write sees the written values) and `with torch.no_grad():` blocks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mode_compare import same

import tracejit as tj


def _inputs(seed: int, shape=(3, 4)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2, 2, shape).astype(np.float32), rng.uniform(-2, 2, shape[-1:])
            .astype(np.float32)]


def _same(got, expected) -> None:
    same(got, expected, exact=True)


def compare(fn, calls=4) -> None:
    """Script `fn(T, x, y)` once and call it on several value sets of one shape (so masks
    select other counts); outputs and the inputs after each call must match torch's."""
    scripted = tj.script(fn)
    for seed in range(calls):
        arrays = _inputs(seed)
        theirs = [torch.tensor(a.copy()) for a in arrays]
        ours = [tj.tensor(a.copy()) for a in arrays]
        _same(scripted(tj, *ours), fn(torch, *theirs))
        for o, t in zip(ours, theirs):
            _same(o, t)


# --- F13: a mask after an in-place write -------------------------------------------------------
def zero_input_then_mask(T, x, y):
    x.zero_()
    return x[x > 0]


def write_input_then_mask(T, x, y):
    x.mul_(-1.0)
    return x[x > 0], y


def transposed_write_then_mask(T, x, y):
    x.t().mul_(-1.0)
    return x[x > 0]


def detached_write_then_mask(T, x, y):
    x.detach().mul_(-0.0)
    return T.clamp(x[x > 0], min=0.5)


def row_write_then_nonzero(T, x, y):
    x[0] = y
    return x.nonzero()


def slice_add_then_masked_select(T, x, y):
    x[:, 1:].add_(1.0)
    return T.masked_select(x, x > 0.5)


def local_write_then_mask(T, x, y):
    z = x * 2
    z.abs_()
    z[1].neg_()
    return z[z > 1], x


def view_of_local_then_nonzero(T, x, y):
    z = x.clone()
    z.view(-1)[::2].fill_(0.0)
    return T.nonzero(z), z.nonzero(as_tuple=True)


def write_in_if_then_mask(T, x, y):
    if y.sum() > 0:
        x.add_(y)
    else:
        x.sub_(1.0)
    return x[x > 0]


def write_in_for_then_mask(T, x, y):
    for i in range(3):
        x[i].mul_(y)
    return x[x < 0], x


def write_through_loop_index(T, x, y):
    for i in range(3):
        x[i].mul_(y)
    return x, y


def write_through_loop_index_carried(T, x, y):
    s = y * 0
    for i in range(3):
        x[i].add_(s)
        s = s + y
    return x, s


def write_through_loop_index_unrolled(T, x, y):
    for i in range(3):
        x[i].fill_(float(i))
    return x[x > 0.5], x


def mask_write_then_mask(T, x, y):
    x[x < 0] = 5.0
    v = x[x > 1]
    return v, x.nonzero()


def mask_then_write_then_mask(T, x, y):
    a = x[x > 0]
    x.neg_()
    return a, x[x > 0]


@pytest.mark.parametrize("fn", [
    zero_input_then_mask, write_input_then_mask, transposed_write_then_mask,
    detached_write_then_mask, row_write_then_nonzero, slice_add_then_masked_select,
    local_write_then_mask, view_of_local_then_nonzero, write_in_if_then_mask,
    write_in_for_then_mask, write_through_loop_index, write_through_loop_index_carried,
    write_through_loop_index_unrolled, mask_write_then_mask, mask_then_write_then_mask,
], ids=lambda f: f.__name__)
def test_mask_after_in_place_write_sees_it(fn):
    compare(fn)


def test_mask_after_write_the_fuzzer_found():
    def f(T, x0, x1):
        x0.zero_()
        v4 = x0[x0 > 0]
        v4[1:] = x1
        return v4, x0

    scripted = tj.script(f)
    for _ in range(2):
        empty = torch.tensor([], dtype=torch.int32)
        expected = f(torch, torch.ones(2, 2, dtype=torch.int32), empty)
        ours = scripted(tj, tj.ones(2, 2, dtype=tj.int32), tj.tensor([], dtype=tj.int32))
        _same(ours, expected)


def _module_pair():
    class Ours(tj.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("seen", tj.zeros(4))

        def forward(self, x):
            self.seen.add_(x[0])
            return self.seen[self.seen > 0]

    class Theirs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("seen", torch.zeros(4))

        def forward(self, x):
            self.seen.add_(x[0])
            return self.seen[self.seen > 0]

    return tj.script(Ours()), Theirs()


def test_mask_after_buffer_write_sees_it():
    ours, theirs = _module_pair()
    for seed in range(4):
        x = _inputs(seed)[0]
        _same(ours(tj.tensor(x)), theirs(torch.tensor(x)))
        _same(ours.seen if hasattr(ours, "seen") else ours._module.seen, theirs.seen)


# --- with blocks: grad-mode blocks are captured, other context managers refused --------------
def grad_mode_blocks(T, x, y):
    with T.no_grad():
        z = x * 2
    with T.inference_mode(), T.enable_grad():
        z = z + y
    if y.sum() > 0:
        with T.inference_mode(mode=True):
            x.add_(1.0)
            return z * 2, x
    return z, x * 1


def test_grad_mode_with_blocks_are_captured():
    compare(grad_mode_blocks)


def test_torch_no_grad_block_in_tracejit_code():
    def f(x):
        with torch.no_grad():
            return x.exp() + 1

    got = tj.script(f)(tj.tensor([0.0, 1.0]))
    want = torch.tensor([0.0, 1.0]).exp().numpy() + 1
    np.testing.assert_array_equal(got.detach().numpy(), want)


def test_other_with_statement_names_what_is_accepted():
    import contextlib

    def f(x):
        with contextlib.suppress(ValueError):
            x = x * 2
        return x

    with pytest.raises(tj.ScriptError, match=r"only grad-mode blocks.*torch\.no_grad\(\)"):
        tj.script(f)(tj.ones(2))


# --- modules defined in exec'd code, and guards on signed zeros --------------------------------
MODULE_SOURCE = """
class M(T.nn.Module):
    def __init__(self, a0):
        super().__init__()
        self.a0 = a0

    def forward(self, x0):
        if x0.amax() > 0:
            v = -x0 * self.a0
        else:
            v = x0 + self.a0
        return v
"""


def _exec_module(T, filename: str, register: bool):
    import linecache

    if register:
        lines = MODULE_SOURCE.splitlines(keepends=True)
        linecache.cache[filename] = (len(MODULE_SOURCE), None, lines, filename)
    scope = {"T": T}
    exec(compile(MODULE_SOURCE, filename, "exec"), scope)
    return scope["M"]


def test_module_from_registered_exec_source_is_scripted_from_source():
    ours = tj.script(_exec_module(tj, "<findings-module>.py", True)(2.0))
    theirs = _exec_module(torch, "<findings-module-torch>.py", False)(2.0)
    for values in ([1.0, -3.0], [-1.0, -3.0], [float("nan"), 1.0]):
        _same(ours(tj.tensor(values)), theirs(torch.tensor(values)))
    ours._module.a0 = 5.0  # an attribute the graph read: a change scripts again
    theirs.a0 = 5.0
    _same(ours(tj.tensor([1.0, 2.0])), theirs(torch.tensor([1.0, 2.0])))


def test_module_without_source_needing_a_value_raises_script_error():
    scripted = tj.script(_exec_module(tj, "<unregistered>", False)(2.0))
    with pytest.raises(tj.ScriptError, match=r"M\.forward needs a tensor .* Python value"):
        scripted(tj.tensor([1.0, 2.0]))


SCALE = 0.0


def _times_global(T, x):
    return (SCALE + x) * SCALE


def test_global_changed_to_negative_zero_scripts_again():
    global SCALE
    scripted = tj.script(_times_global)
    try:
        for value in (0.0, -0.0, float("nan"), float("nan"), 0.0):
            SCALE = value
            expected = _times_global(torch, torch.tensor([0.0, 1.0]))
            _same(scripted(tj, tj.tensor([0.0, 1.0])), expected)
    finally:
        SCALE = 0.0


# --- F21: a mask after an if or a loop on values, while capturing again with values ------------
def mask_after_int_loop(T, x, n: int):
    v = x.clone()
    for i in range(n):
        v = v + i
    w = v[v > -1]
    return T.chunk(w, 3, -1)[0], w.shape[0]


def mask_after_tensor_if(T, x, n: int):
    if x.sum() > 0:
        v = x * 0 + 5
    else:
        v = x * 0 - 5
    w = v[v > 0]
    return T.chunk(w, 2)[0]


def mask_after_write_in_loop(T, x, n: int):
    for _i in range(n):
        x.add_(1.0)
    return T.chunk(x[x > 0], 2)[0], x


def mask_after_while(T, x, n: int):
    k = 0
    while x.sum() < 10 and k < 5:
        x = x * 2 + 1
        k += 1
    w = x[x > 2]
    return T.chunk(w, 2)[0]


@pytest.mark.parametrize("fn", [mask_after_int_loop, mask_after_tensor_if,
                                mask_after_write_in_loop, mask_after_while],
                         ids=lambda f: f.__name__)
def test_mask_after_control_flow_sees_its_values(fn):
    scripted = tj.script(fn)
    for values, n in (([-2.0, 0.5, 1.0, -0.5], 2), ([-2.0, -3.0, 1.0, -0.5], 1),
                      ([1.0, 0.5, 2.0, 3.0], 3), ([-1.0, -0.5, 2.0, -3.0], 0)):
        ours, theirs = tj.tensor(values), torch.tensor(values)
        expected = fn(torch, theirs, n)
        got = scripted(tj, ours, n)
        if isinstance(expected, tuple):
            expected = tuple(e for e in expected if isinstance(e, torch.Tensor))
            got = tuple(g for g in got if isinstance(g, tj.Tensor))
        _same(got, expected)
        _same(ours, theirs)
