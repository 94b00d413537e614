"""Properties of every pass on random graphs: after each pass, and after the default pipeline,
the graph verifies, its text round-trips, and the reference interpreter computes the same bits
as on the graph before (every pass is exact; fast-math rewrites are off)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracejit.ir import DType, Op, TensorType
from tracejit.ir.graph import Block, Graph, Literal, Operation
from tracejit.ir.parser import parse
from tracejit.ir.printer import print_graph
from tracejit.ir.verifier import verify
from tracejit.passes import DEFAULT_PIPELINE, PASSES, run_pipeline
from tracejit.passes.rewrite import build
from tracejit.runtime.eager import interpret

sys.path.insert(0, str(Path(__file__).parents[1] / "ir"))
from random_graphs import example_inputs, graphs

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def canonical(array) -> bytes:
    """The bytes of `array` with every NaN made the same NaN (payloads are not semantics)."""
    array = np.asarray(array)
    if array.dtype.kind == "f":
        array = np.where(np.isnan(array), np.nan, array).astype(array.dtype)
    return array.dtype.str.encode() + str(array.shape).encode() + array.tobytes()


def run(graph: Graph, inputs) -> list[bytes]:
    rng = np.random.default_rng(7)
    return [canonical(a) for a in interpret(graph, inputs, rng)]


def copy(graph: Graph) -> Graph:
    return parse(print_graph(graph), graph.constants)


def check_passes(graph: Graph, pipeline: str) -> None:
    inputs = example_inputs(graph)
    try:
        expected = run(graph, inputs)
    except Exception:  # graphs whose ops fail on these inputs test nothing here
        return
    work = copy(graph)

    def after(name, g):
        verify(g)
        text = print_graph(g)
        assert print_graph(parse(text, g.constants)) == text, f"round trip after {name}"
        assert run(g, inputs) == expected, f"numbers changed after {name}:\n{text}"

    run_pipeline(work, pipeline, verify_each=True, after_pass=after)


@pytest.mark.parametrize("name", sorted(PASSES))
@SETTINGS
@given(graph=graphs(max_ops=8))
def test_each_pass_on_random_graphs(name, graph):
    check_passes(graph, name)


@SETTINGS
@given(graph=graphs(max_ops=8))
def test_default_pipeline_on_random_graphs(graph):
    check_passes(graph, DEFAULT_PIPELINE)


# --- graphs rich in fusion chances: elementwise DAGs with row reductions and shared values ----

UNARY = [Op.EXP, Op.NEG, Op.TANH, Op.SIGMOID, Op.ABS, Op.RELU, Op.SQRT]
BINARY = [Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.MAXIMUM]
REDUCE = [Op.SUM, Op.MEAN, Op.AMAX]


@st.composite
def fusion_graphs(draw) -> Graph:
    dtype = draw(st.sampled_from([DType.float32, DType.float64]))
    rows, cols = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    full = TensorType(dtype, (rows, cols))
    body = Block.create([full, full, TensorType(dtype, (cols,))], ["x", "y", "b"])
    values = list(body.args)

    def add(op, operands, attrs=None):
        try:
            operation = build(op, operands, attrs)
        except (RuntimeError, TypeError, ValueError, IndexError):  # shapes that do not broadcast
            return None
        values.append(body.append(operation).result)
        return operation.result

    for _ in range(draw(st.integers(2, 12))):
        kind = draw(st.sampled_from(["unary", "binary", "binary", "reduce", "scalar", "other"]))
        x = draw(st.sampled_from(values))
        if kind == "unary":
            add(draw(st.sampled_from(UNARY)), [x])
        elif kind == "binary":
            y = draw(st.sampled_from([v for v in values if v.type.shape in
                                      (x.type.shape, (1,), (cols,), (rows, 1))] or [x]))
            add(draw(st.sampled_from(BINARY)), [x, y])
        elif kind == "reduce" and x.type == full:
            keep = draw(st.booleans())
            dims = draw(st.sampled_from([(1,), (0,), (0, 1)]))
            add(draw(st.sampled_from(REDUCE)), [x], {"dims": dims, "keepdim": keep})
        elif kind == "scalar":
            c = body.append(Operation.create(Op.CONSTANT, [], {"value": Literal(
                np.array(draw(st.sampled_from([0.5, 2.0, -1.0, 1.0, 0.0])), dtype.np))},
                [TensorType(dtype, ())])).result
            add(draw(st.sampled_from(BINARY)), [x, c])
        elif kind == "other" and x.type.shape == full.shape:
            add(Op.MATMUL, [x, add(Op.PERMUTE, [x], {"dims": (1, 0)})])
    outs = [values[-1], *draw(st.lists(st.sampled_from(values[3:] or values), max_size=2))]
    body.append(Operation.create(Op.RETURN, outs, {}, []))
    return verify(Graph("fusion", body))


@SETTINGS
@given(graph=fusion_graphs())
def test_fusion_on_dags_with_reductions_and_shared_values(graph):
    check_passes(graph, "fuse")
    check_passes(graph, DEFAULT_PIPELINE)
