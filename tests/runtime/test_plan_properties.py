"""The compiled backend against the reference interpreter on hypothesis-generated graphs: the
random valid graphs of tests/ir/random_graphs.py and fusion-rich DAGs, each run through the
default pipeline and then through both. Floats agree within the backend's documented
tolerances (approximated math, reordered sums), everything else exactly, and both raise
alike."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracejit.ir import DType, Op, TensorType
from tracejit.ir.graph import Block, Graph, Operation
from tracejit.ir.ops import ELEMENTWISE
from tracejit.ir.parser import parse
from tracejit.ir.printer import print_graph
from tracejit.passes import run_pipeline
from tracejit.runtime import executor
from tracejit.runtime.eager import interpret
from tracejit.runtime.executor import Plan
from tracejit.runtime.lower import CONVERTERS
from tracejit.runtime.lower_rows import REDUCTIONS

sys.path.insert(0, str(Path(__file__).parents[1] / "ir"))
sys.path.insert(0, str(Path(__file__).parents[1] / "passes"))
from random_graphs import _Builder, example_inputs, graphs
from test_properties import fusion_graphs

SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TOL = {"float16": 1e-2, "float32": 1e-4, "float64": 1e-10}  # float16: per-op half rounding


def outcome(fn):
    try:
        return fn(), None
    except Exception as e:  # compared by class
        return None, e


def check(graph, layout=lambda inputs: inputs):
    """The graph after the default pipeline (returned), compiled vs interpreted on example
    inputs (in the memory layout `layout` gives them)."""
    graph = run_pipeline(parse(print_graph(graph), graph.constants))
    inputs = layout(example_inputs(graph))
    want, want_error = outcome(lambda: interpret(graph, inputs, np.random.default_rng(3)))
    got, got_error = outcome(lambda: Plan(graph)(inputs, np.random.default_rng(3)))
    if want_error or got_error:
        assert type(got_error) is type(want_error), (
            f"interpreter {want_error!r}, compiled {got_error!r} on\n{print_graph(graph)}")
        return graph
    for w, g in zip(want, got):
        assert (w.dtype, w.shape) == (g.dtype, g.shape), f"{w.dtype}{w.shape}, {g.dtype}{g.shape}"
        if w.dtype.kind == "f":
            with np.errstate(all="ignore"):
                np.testing.assert_allclose(g, w, rtol=TOL[w.dtype.name], atol=TOL[w.dtype.name],
                                           equal_nan=True, err_msg=print_graph(graph))
        else:
            np.testing.assert_array_equal(g, w, err_msg=print_graph(graph))
    return graph


@SETTINGS
@given(graph=graphs(max_ops=8))
def test_random_graphs_compiled_match_the_interpreter(graph):
    check(graph)


@SETTINGS
@given(graph=fusion_graphs())
def test_fusion_graphs_compiled_match_the_interpreter(graph):
    check(graph)


# --- graphs of lowered ops only: every one must compile -----------------------------------------
LOWERED = sorted({*CONVERTERS, *REDUCTIONS}, key=lambda op: op.value)
LAYOUTS = ["contiguous", "reversed", "fortran", "sliced"]


class _LoweredBuilder(_Builder):
    """random_graphs' builder drawing only ops the LLVM backend lowers, on one dtype's inputs
    whose shapes broadcast against a full shape (dims of 1, 2, 3 and 5)."""

    ops = LOWERED

    def graph(self, max_ops: int) -> Graph:
        draw = self.draw
        shape = tuple(draw(st.lists(st.sampled_from([1, 2, 3, 5]), max_size=3)))
        dtypes = st.sampled_from(sorted(DType, key=lambda d: d.value))
        types = [TensorType(draw(dtypes), shape)]
        for cut in draw(st.lists(st.integers(0, len(shape)), max_size=2)):
            types.append(TensorType(draw(dtypes), shape[cut:]))
        body = Block.create(types, [None] * len(types))
        values = list(body.args)
        for _ in range(draw(st.integers(1, max_ops))):
            self.step(body, values)
        outs = [values[-1], *draw(st.lists(st.sampled_from(values), max_size=2))]
        body.append(Operation.create(Op.RETURN, outs, {}, []))
        return Graph("lowered", body, self.constants)


@st.composite
def lowered_graphs(draw, max_ops: int = 8) -> Graph:
    return _LoweredBuilder(draw).graph(max_ops)


def laid_out(array: np.ndarray, layout: str) -> np.ndarray:
    """`array`'s values in another memory layout: reversed (negative strides), Fortran order,
    or every other element of a larger array."""
    if layout == "reversed":
        return np.flip(np.flip(array).copy())
    if layout == "fortran":
        return np.asfortranarray(array)
    if layout == "sliced" and array.ndim:
        wide = np.zeros((*array.shape[:-1], 2 * array.shape[-1]), array.dtype)
        wide[..., ::2] = array
        return wide[..., ::2]
    return array


@SETTINGS
@given(graph=lowered_graphs(), layouts=st.lists(st.sampled_from(LAYOUTS), min_size=3,
                                                max_size=3))
def test_lowered_ops_compile_and_match_the_interpreter(graph, layouts):
    """Every op here has a kernel: no step falls back, whatever fusion made of them; inputs in
    any layout (negative strides, Fortran order, strided) give the same numbers."""
    graph = check(graph, lambda inputs: [laid_out(a, k) for a, k in zip(inputs, layouts)])
    plan = Plan(graph)
    for step in plan.steps:
        op = step.operation.op
        if op is Op.FUSED or op in ELEMENTWISE or op in REDUCTIONS:
            assert isinstance(step, executor.KernelStep), f"{op.value} fell back in\n{graph}"
