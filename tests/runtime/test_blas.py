"""Matmul-like steps (runtime/blas.py) against the reference interpreter: matmul over 1-d,
batched and broadcast operands, linear with every bias shape, conv2d over stride, padding,
dilation, groups, bias and unbatched input; float32, float64 and integers. The steps run the
reference's own BLAS calls into plan buffers, so results match bit for bit. And the MLP of W4:
bias and GELU after each matmul are one kernel pass, written over the matmul's buffer."""

from __future__ import annotations

import numpy as np
import pytest

import tracejit
import tracejit.nn as nn
import tracejit.nn.functional as F
from tracejit.ir import DType, Op, TensorType, complete_attrs, infer_types
from tracejit.ir.graph import Block, Graph, Operation
from tracejit.runtime import blas
from tracejit.runtime.eager import interpret
from tracejit.runtime.executor import KernelStep, Plan


def sample(dtype, shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng([seed, *shape])
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(-5, 5, shape).astype(dtype)


def one_op_graph(op: Op, types: list[TensorType], attrs: dict, then_neg: bool = False) -> Graph:
    """`op` on graph inputs of `types`; with `then_neg`, its result feeds a neg (an
    intermediate, written into the plan's arena rather than a fresh output)."""
    body = Block.create(types, [f"x{k}" for k in range(len(types))])
    attrs = complete_attrs(op, attrs)
    operation = body.append(Operation.create(op, body.args, attrs, infer_types(op, types, attrs)))
    result = operation.results[0]
    if then_neg:
        result = body.append(Operation.create(Op.NEG, [result], {}, [result.type])).results[0]
    body.append(Operation.create(Op.RETURN, [result], {}, []))
    return Graph("one", body)


def check(graph: Graph, inputs, calls: int = 2) -> Plan:
    plan = Plan(graph)
    want = interpret(graph, inputs)
    for _ in range(calls):  # the second call reuses the arena
        got = plan(inputs)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_array_equal(g, w)
    return plan


def run_op(op, dtype, shapes, attrs=None, then_neg=False) -> Plan:
    d = DType.from_numpy(np.dtype(dtype))
    types = [TensorType(d, s) for s in shapes]
    graph = one_op_graph(op, types, attrs or {}, then_neg)
    plan = check(graph, [sample(dtype, s, seed=k) for k, s in enumerate(shapes)])
    assert isinstance(plan.steps[0], blas.STEPS[op])
    return plan


MATMUL_SHAPES = [
    ((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 6)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,)), ((1, 7), (7, 1)),
    ((65, 130), (130, 33)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
@pytest.mark.parametrize("then_neg", [False, True], ids=["output", "intermediate"])
def test_matmul_matches_the_reference(dtype, shapes, then_neg):
    run_op(Op.MATMUL, dtype, shapes, then_neg=then_neg)


def test_matmul_reads_transposed_and_strided_operands():
    graph = one_op_graph(Op.MATMUL, [TensorType(DType.float32, (6, 4)),
                                     TensorType(DType.float32, (4, 5))], {})
    plan = Plan(graph)
    a, b = sample(np.float32, (4, 6)).T, sample(np.float32, (4, 10), seed=1)[:, ::2]
    np.testing.assert_array_equal(plan([a, b])[0], interpret(graph, [a, b])[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize(("x", "bias"), [((3, 8), (5,)), ((8,), (5,)), ((2, 3, 8), (5,)),
                                         ((3, 8), ()), ((3, 8), (1,)), ((3, 8), None)], ids=str)
@pytest.mark.parametrize("then_neg", [False, True], ids=["output", "intermediate"])
def test_linear_matches_the_reference(dtype, x, bias, then_neg):
    shapes = [x, (5, 8)] + ([] if bias is None else [bias])
    run_op(Op.LINEAR, dtype, shapes, then_neg=then_neg)


CONV_CASES = [  # x, w, bias, stride, padding, dilation, groups
    ((1, 3, 8, 8), (4, 3, 3, 3), True, (1, 1), (0, 0), (1, 1), 1),
    ((2, 3, 8, 8), (4, 3, 3, 3), True, (1, 1), (1, 1), (1, 1), 1),
    ((2, 4, 9, 7), (6, 2, 3, 2), False, (2, 1), (1, 2), (1, 1), 2),
    ((3, 4, 10, 10), (4, 1, 3, 3), True, (1, 2), (2, 1), (2, 2), 4),
    ((3, 8, 8), (4, 3, 3, 3), True, (1, 1), (1, 1), (1, 1), 1),
    ((6, 5, 5), (6, 3, 1, 1), False, (1, 1), (0, 0), (1, 1), 2),
    ((1, 2, 5, 5), (3, 2, 5, 5), True, (1, 1), (0, 0), (1, 1), 1),
    ((2, 2, 6, 6), (2, 2, 2, 2), True, (3, 3), (1, 0), (2, 1), 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_matches_the_reference(dtype, case):
    x, w, bias, stride, padding, dilation, groups = case
    attrs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    shapes = [x, w] + ([(w[0],)] if bias else [])
    run_op(Op.CONV2D, dtype, shapes, attrs, then_neg=True)
    run_op(Op.CONV2D, dtype, shapes, attrs)


def test_conv2d_padding_is_zero_again_when_its_scratch_was_reused():
    """Two padded convolutions in a row: the second's scratch may be memory the first (or
    anything) wrote; its border must read as zeros."""
    d = DType.float32
    body = Block.create([TensorType(d, (1, 2, 6, 6)), TensorType(d, (2, 2, 3, 3))], ["x", "w"])
    attrs = complete_attrs(Op.CONV2D, {"stride": (1, 1), "padding": (2, 2), "dilation": (1, 1),
                                       "groups": 1})
    value = body.args[0]
    for _ in range(3):
        types = infer_types(Op.CONV2D, [value.type, body.args[1].type], attrs)
        value = body.append(Operation.create(Op.CONV2D, [value, body.args[1]], attrs,
                                             types)).results[0]
        value = body.append(Operation.create(Op.ABS, [value], {}, [value.type])).results[0]
    body.append(Operation.create(Op.RETURN, [value], {}, []))
    check(Graph("convs", body), [sample(np.float32, (1, 2, 6, 6)),
                                 sample(np.float32, (2, 2, 3, 3), seed=1)], calls=3)


def test_empty_results_stay_on_the_reference():
    graph = one_op_graph(Op.MATMUL, [TensorType(DType.float32, (0, 4)),
                                     TensorType(DType.float32, (4, 3))], {})
    plan = check(graph, [np.zeros((0, 4), np.float32), sample(np.float32, (4, 3))])
    assert not isinstance(plan.steps[0], blas.BlasStep)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(16, 32), nn.Linear(32, 32), nn.Linear(32, 8)

    def forward(self, x):
        h = F.gelu(self.fc1(x), approximate="tanh")
        h = F.gelu(self.fc2(h), approximate="tanh")
        return self.fc3(h)


def test_the_mlp_epilogue_is_one_kernel_pass_over_the_matmul_buffer():
    model = MLP()
    x = tracejit.randn(4, 16)
    traced = tracejit.trace(model, x)
    plan = Plan(traced.optimized_graph)  # what the traced calls run
    kinds = [type(s).__name__ for s in plan.steps if s.operation.op is not Op.CONSTANT]
    assert kinds == ["ReferenceStep", "MatmulStep", "KernelStep"] * 2 + ["LinearStep"]
    epilogues = [k for k, s in enumerate(plan.steps) if isinstance(s, KernelStep)]
    for k in epilogues:  # bias + GELU writes over its matmul's result: no new memory
        matmul = plan.steps[k - 1]
        assert (k, matmul.outs[0], plan.steps[k].outs[0]) in plan.buffers.in_place
    for step in (plan.steps[k] for k in epilogues):
        assert [o.op for o in step.block.ops] == [Op.ADD, Op.GELU, Op.YIELD]
    want = model(x)
    for _ in range(2):
        np.testing.assert_allclose(traced(x).detach().numpy(), want.detach().numpy(),
                                   rtol=1e-5, atol=1e-6)
