"""@tracejit.script against plain eager Python on the same inputs (the oracle), on both
backends: data-dependent if, loops with argument-sized ranges, while, break, continue, early
return, nested loops, helper calls, module scripting, and the graphs they make."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import script_models as M

import tracejit as tj
from tracejit.ir.ops import Op

RNG = np.random.default_rng(0)


@pytest.fixture(params=["eager", "llvm"])
def backend(request):
    return request.param


def T(*shape, scale=1.0):
    return tj.tensor((RNG.standard_normal(shape) * scale).astype(np.float32))


def same(got, want, tol=1e-5):
    if isinstance(want, (tuple, list)):
        assert type(got) in (tuple, list) and len(got) == len(want)
        for g, w in zip(got, want):
            same(g, w, tol)
        return
    if isinstance(want, tj.Tensor):
        assert isinstance(got, tj.Tensor)
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=tol, atol=tol)
    else:
        assert float(got) == float(want)


def ops_of(graph) -> set[Op]:
    return {op.op for op in graph.walk()}


def test_data_dependent_if_takes_both_branches_without_rescripting(backend, caplog):
    fn = tj.script(M.branchy, backend=backend)
    with caplog.at_level(logging.INFO, logger="tracejit.recompiles"):
        for x in (T(4), -T(4).abs(), T(4).abs()):
            same(fn(x), M.branchy(x))
    assert len(fn.graphs) == 1
    assert not [r for r in caplog.records if r.name == "tracejit.recompiles"]
    assert Op.IF in ops_of(fn.graph)


@pytest.mark.parametrize("n", [0, 1, 7])
def test_for_over_an_argument_sized_range(backend, n):
    fn = tj.script(M.count_loop, backend=backend)
    x = T(3)
    same(fn(x, n), M.count_loop(x, n))
    assert Op.FOR in ops_of(fn.graph)


def test_loop_bound_is_an_input_not_a_constant():
    fn = tj.script(M.count_loop, backend="eager")
    x = T(3)
    for n in (2, 5, 9):
        same(fn(x, n), M.count_loop(x, n))
    assert len(fn.graphs) == 1  # the body compiled once, for every n
    loop = next(op for op in fn.graph.walk() if op.op is Op.FOR)
    assert sum(1 for _ in loop.blocks[0].walk()) < 8  # not unrolled


def test_while_with_a_tensor_condition(backend):
    fn = tj.script(M.doubling, backend=backend)
    for x in (T(3), T(3, scale=1000.0), T(3, scale=0.01)):
        same(fn(x), M.doubling(x))
    assert Op.WHILE in ops_of(fn.graph)


def test_early_return(backend):
    fn = tj.script(M.early_return, backend=backend)
    for x in (T(4) + 3, T(4) - 3):
        same(fn(x), M.early_return(x))


@pytest.mark.parametrize("n", [0, 2, 6])
def test_break(backend, n):
    fn = tj.script(M.first_big, backend=backend)
    for x in (T(6), T(6) - 5):
        same(fn(x, n), M.first_big(x, n))


def test_nested_loops_with_continue(backend):
    fn = tj.script(M.nested_loops, backend=backend)
    for x, n in ((T(3), 5), (T(3) + 2, 4), (T(3), 0)):
        same(fn(x, n), M.nested_loops(x, n))


@pytest.mark.parametrize("n", [0, 3, 12])
def test_return_inside_a_loop(backend, n):
    fn = tj.script(M.find_index, backend=backend)
    x = T(3)
    same(fn(x, n), M.find_index(x, n))


def test_helpers_ternaries_unpacking_and_asserts(backend):
    fn = tj.script(M.misc, backend=backend)
    for args in ((T(3), T(3)), (-T(3).abs(), T(3).abs(), 1), (T(3).abs(), T(3).abs(), 5)):
        same(fn(*args), M.misc(*args))


def test_static_python_arguments_are_part_of_the_key():
    fn = tj.script(M.static_args, backend="eager")
    x = T(6)
    same(fn(x), M.static_args(x))
    same(fn(x, "keep", (3, 2)), M.static_args(x, "keep", (3, 2)))
    assert len(fn.graphs) == 2


def test_number_needed_as_a_python_value_becomes_static(caplog):
    fn = tj.script(M.reshaped, backend="eager")
    x = T(6)
    with caplog.at_level(logging.INFO, logger="tracejit.recompiles"):
        same(fn(x, 2), M.reshaped(x, 2))
        same(fn(x, 3), M.reshaped(x, 3))
    assert any("static" in r.getMessage() for r in caplog.records)


def test_assert_on_a_tensor_is_checked_at_run_time(backend):
    fn = tj.script(M.checked, backend=backend)
    x = T(3).abs() + 0.5
    same(fn(x), M.checked(x))
    with pytest.raises(AssertionError, match="x must be positive"):
        fn(-x)


def test_in_place_writes_in_branches_reach_the_caller(backend):
    fn = tj.script(M.in_place, backend=backend)
    for y in (T(3).abs(), -T(3).abs()):
        x1, x2 = T(3), None
        x2 = x1.clone()
        same(fn(x1, y), M.in_place(x2, y))
        same(x1, x2)


def test_scripted_module_with_submodules_matches_eager(backend):
    model = M.Recurrent(4)
    model.eval()
    scripted = tj.script(model, backend=backend)
    xs = T(5, 2, 4)
    same(scripted(xs), model(xs), 1e-5)
    h = T(2, 4)
    same(scripted(xs, h), model(xs, h), 1e-5)
    model.train()
    same(scripted(xs), model(xs), 1e-5)


def test_gru_cell_over_time_in_a_scripted_loop(backend):
    model = M.GRULoop(8)
    fn = tj.script(model, backend=backend)
    x, h = T(4, 8), T(4, 8)
    for steps in (0, 1, 10):
        same(fn(x, h, steps), model(x, h, steps), 1e-5)
    assert len(fn.graphs) == 1


def test_code_is_the_source_as_understood():
    fn = tj.script(M.branchy)
    assert fn.code.startswith("def branchy(x):\n    if x.sum() > 0:")


def test_graph_locations_point_at_the_source():
    fn = tj.script(M.branchy, backend="eager")
    fn(T(3))
    branch = next(op for op in fn.graph.walk() if op.op is Op.IF)
    assert branch.loc.file.endswith("script_models.py")
    import inspect
    first = inspect.getsourcelines(M.branchy)[1]
    assert branch.loc.line == first + 1


def test_user_layers_inside_a_sequential_are_scripted(backend):
    model = M.gated_stack()
    scripted = tj.script(model, backend=backend)
    for x in (T(3, 4), T(3, 4) + 5, T(3, 4) - 5):
        same(scripted(x), model(x))
    assert Op.IF in ops_of(scripted.graph) and len(scripted.graphs) == 1


def test_while_with_break_and_a_counter(backend):
    fn = tj.script(M.while_break, backend=backend)
    for x in (T(3, scale=0.001), T(3, scale=1000.0), T(3).abs() + 1):
        same(fn(x), M.while_break(x))


def test_for_over_a_tensor_unrolls_its_rows(backend):
    fn = tj.script(M.over_rows, backend=backend)
    x = T(4, 3)
    same(fn(x), M.over_rows(x))
    assert Op.FOR not in ops_of(fn.graph)


def test_enumerate_zip_over_a_module_list_and_dict_outputs(backend):
    model = M.Stack()
    scripted = tj.script(model, backend=backend)
    x = T(2, 3)
    got, want = scripted(x), model(x)
    assert list(got) == ["out", "norm"]
    same([got["out"], got["norm"]], [want["out"], want["norm"]])
