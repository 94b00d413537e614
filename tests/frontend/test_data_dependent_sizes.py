"""Reading the size of a data-dependent (`?`) dim into Python under trace is never silent.

`m.shape[0]`, `m.size(0)`, `len(m)`, `m.numel()` or an unpacked `m.shape` of a `?` dim hands
the example's size to Python; the trace records a guard (an assert op) that later calls have
that size, and a call where it differs traces again (or, from a graph file, raises). Each
traced function is checked against running the same code eagerly on inputs with other counts.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

import tracejit
from tracejit.ir import Op

EXAMPLE = [1.0, -2.0, 3.0, 4.0, -1.0, 5.0]  # four positives
CALLS = [
    [1.0, 2.0, -3.0, 4.0, 5.0, 6.0],  # five
    [-1.0, -2.0, -3.0, -4.0, -1.0, -5.0],  # none
    [0.5, -2.0, -3.0, -4.0, -1.0, -5.0],  # one
    EXAMPLE,
    [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],  # all
    [7.0, 8.0, -3.0, 9.0, -1.0, -5.0],  # three
]


def zeros_of_count(x):
    m = x[x > 0]
    return tracejit.zeros(m.shape[0]) + m


def arange_of_len(x):
    m = x[x > 0]
    return m * tracejit.arange(len(m))


def view_by_size(x):
    m = (x > 0).nonzero()
    return m.view(m.size(0), 1).float() + 1


def python_loop(x):
    m = x[x > 0]
    total = tracejit.zeros(())
    for i in range(len(m)):
        total = total + m[i] * i
    return total


def numel_arithmetic(x):
    m = x[x > 0]
    return m.sum() / max(m.numel(), 1) + m.numel()


def unpacked_shape(x):
    m = (x > 0).nonzero()
    n, d = m.shape
    return tracejit.ones(n, d, dtype=tracejit.int64) + m


def whole_size(x):
    m = (x > 0).nonzero()
    return tracejit.zeros(m.size(), dtype=tracejit.int64) + m


FUNCTIONS = [zeros_of_count, arange_of_len, view_by_size, python_loop, numel_arithmetic,
             unpacked_shape, whole_size]


def same(got, want):
    assert got.dtype == want.dtype
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def guards(graph):
    return [op for op in graph.body.ops if op.op is Op.ASSERT]


@pytest.mark.parametrize("backend", ["llvm", "eager"])
@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_other_counts_match_eager(fn, backend):
    traced = tracejit.trace(fn, tracejit.tensor(EXAMPLE), backend=backend)
    assert guards(traced.graph), "reading the size of a ? dim records a guard"
    for values in CALLS + CALLS:  # the second round reuses the traces made for each count
        x = tracejit.tensor(values)
        same(traced(x), fn(x))


def test_retrace_is_logged_with_the_line_and_both_sizes(caplog):
    traced = tracejit.trace(zeros_of_count, tracejit.tensor(EXAMPLE))
    with caplog.at_level(logging.INFO, logger="tracejit.recompiles"):
        traced(tracejit.tensor(CALLS[0]))
    assert [tuple(g.outputs[0].type.shape) for g in traced.graphs] == [(4,), (5,)]
    line = zeros_of_count.__code__.co_firstlineno + 2
    assert any(f"test_data_dependent_sizes.py:{line} was 4, is 5" in r.getMessage()
               and "the size of a data-dependent dim read at" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]


def test_strict_raises_a_clear_error_instead_of_retracing():
    traced = tracejit.trace(zeros_of_count, tracejit.tensor(EXAMPLE), strict=True)
    four = tracejit.tensor([9.0, -1.0, 9.0, 9.0, -1.0, 9.0])
    same(traced(four), zeros_of_count(four))
    with pytest.raises(RuntimeError, match=r"read at .*test_data_dependent_sizes.py:\d+ was 4"
                       r".*tracejit.script"):
        traced(tracejit.tensor(CALLS[0]))


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_save_load_is_right_or_raises_clearly(fn, tmp_path):
    traced = tracejit.trace(fn, tracejit.tensor(EXAMPLE))
    path = tmp_path / "f.tjg"
    tracejit.save(traced, str(path))
    loaded = tracejit.load(str(path))
    for values in CALLS:
        x = tracejit.tensor(values)
        want = fn(x)
        if int((x > 0).sum()) == 4:  # the example's count
            same(loaded(x), want)
            continue
        with pytest.raises(RuntimeError, match=r"data-dependent dim read at .*"
                           r"test_data_dependent_sizes.py:\d+ was \d+ when traced.*"
                           r"loaded from .*cannot trace again"):
            loaded(x)


def static_reads(x):
    m = x.nonzero()  # int64[?, 1]
    rows = m.reshape(-1) * m.shape[1] + m.size(-1) + m.dim() + m.ndim + x.shape[0] + len(x)
    assert m.dtype == tracejit.int64 and len(m.shape) == 2
    _, tail = m.shape[:1], m.shape[1:]
    return rows + tail[0] + x.numel()


@pytest.mark.parametrize("backend", ["llvm", "eager"])
def test_static_dims_guard_nothing(backend):
    traced = tracejit.trace(static_reads, tracejit.tensor(EXAMPLE), backend=backend)
    assert not guards(traced.graph)
    for values in CALLS:
        x = tracejit.tensor(values)
        same(traced(x), static_reads(x))
    assert len(traced.graphs) == 1  # no size read, no retrace


def test_each_read_dim_is_guarded_once():
    def twice(x):
        m = x[x > 0]
        return tracejit.zeros(m.shape[0]) + tracejit.zeros(len(m)) + m.size(0)

    traced = tracejit.trace(twice, tracejit.tensor(EXAMPLE))
    assert len(guards(traced.graph)) == 1
    x = tracejit.tensor(CALLS[0])
    same(traced(x), twice(x))


# tracejit's own composites that read the size of a `?` dim are guarded as well
COMPOSITES = {
    "var": lambda m: m.var(),
    "std": lambda m: m.std(),
    "roll": lambda m: m.roll(1),
    "zeros_like": lambda m: tracejit.zeros_like(m) + m,
    "logsumexp": lambda m: m.logsumexp(0),
    "diff": lambda m: m.diff(),
}


@pytest.mark.parametrize("backend", ["llvm", "eager"])
@pytest.mark.parametrize("name", sorted(COMPOSITES))
def test_composites_reading_sizes_match_eager(name, backend):
    def fn(x):
        return COMPOSITES[name](x[x > 0])

    traced = tracejit.trace(fn, tracejit.tensor(EXAMPLE), backend=backend)
    for values in CALLS:
        x = tracejit.tensor(values)
        same(traced(x), fn(x))


def test_cat_of_a_selection_empty_in_the_example():
    def fn(x, y):
        return tracejit.cat([x[x > 0], y])  # torch skips an empty 1-D tensor, whatever its dtype

    y = tracejit.tensor([[1.0, 2.0]])
    traced = tracejit.trace(fn, tracejit.tensor([-1.0, -2.0]), y)
    same(traced(tracejit.tensor([-3.0, -4.0]), y), fn(tracejit.tensor([-3.0, -4.0]), y))
    with pytest.raises(RuntimeError):  # torch: 1-D and 2-D tensors do not concatenate
        fn(tracejit.tensor([3.0, -4.0]), y)
    with pytest.raises(RuntimeError):
        traced(tracejit.tensor([3.0, -4.0]), y)


def test_a_shape_kept_past_the_trace_reads_freely():
    kept = []

    def fn(x):
        m = x[x > 0]
        kept.append(m.shape)
        return m + 1

    tracejit.trace(fn, tracejit.tensor(EXAMPLE))
    assert kept[0] == (4,) and kept[0][0] == 4 and list(kept[0]) == [4]


SPELLINGS = {  # other ways the size reaches Python: each is guarded
    "star": lambda m: tracejit.zeros(*m.shape) + m,
    "size_then_index": lambda m: tracejit.ones(m.size()[0]) * m,
    "negative_index": lambda m: tracejit.ones(m.shape[-1]) * m,
    "numpy": lambda m: tracejit.tensor(np.zeros(m.shape, np.float32)) + m,
    "branch": lambda m: m * 2 if m.shape[0] > 3 else m,
    "compare_tuple": lambda m: m * 2 if m.shape == (4,) else m,
    "enumerate": lambda m: sum((v * i for i, v in enumerate(m)), tracejit.zeros(())),
    # a shape + a tuple (as user code writes it) keeps the guard
    "concatenated_shape": lambda m: m.reshape(m.shape + (1,)).sum(1) * max(m.shape),  # noqa: RUF005
    "nelement": lambda m: m * m.nelement(),
}


@pytest.mark.parametrize("name", sorted(SPELLINGS))
def test_every_spelling_of_a_size_read_is_guarded(name):
    def fn(x):
        return SPELLINGS[name](x[x > 0])

    traced = tracejit.trace(fn, tracejit.tensor(EXAMPLE))
    assert guards(traced.graph)
    for values in CALLS:
        x = tracejit.tensor(values)
        same(traced(x), fn(x))


@pytest.mark.parametrize("backend", ["llvm", "eager"])
def test_a_reshape_of_one_row_is_kept_for_that_size(backend):
    def fn(x):  # the -1 of reshape(-1, 1) takes the `?` dim, even traced on one row (F12)
        return x[x > 0].reshape(-1, 1) * 2

    one = tracejit.tensor([-1.0, -2.0, 3.0, -4.0, -1.0, -5.0])
    traced = tracejit.trace(fn, one, backend=backend)
    assert not guards(traced.graph)  # no size read: one graph for every call
    for values in [*CALLS, one.tolist()]:
        x = tracejit.tensor(values)
        same(traced(x), fn(x))
