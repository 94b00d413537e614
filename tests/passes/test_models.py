"""The default pipeline on traced models (the MLP, LeNet and transformer-block twins): the
optimized graph computes the captured graph's bits, and the groups come out as designed (the
block's softmax and each layer norm are one fused group apiece)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

import tracejit as tj
from tracejit.ir import Op
from tracejit.ir.graph import Graph
from tracejit.ir.ops import MOVEMENT
from tracejit.runtime.eager import interpret

sys.path.insert(0, str(Path(__file__).parents[1] / "frontend"))
from test_nn_twins import make_block, make_lenet, make_mlp

MODELS = {  # name -> (factory, input shape)
    "mlp": (lambda: make_mlp(tj).eval(), (8, 16)),
    "lenet": (lambda: make_lenet(tj), (4, 1, 28, 28)),
    "block": (lambda: make_block(tj), (2, 7, 32)),
    "causal-block": (lambda: make_block(tj, causal=True), (2, 7, 32)),
}


def summary(graph: Graph) -> dict:
    """Top-level op count, every op counted, and the fused groups with the ops inside each."""
    groups = [Counter(o.op for o in op.blocks[0].ops if o.op is not Op.YIELD)
              for op in graph.body.ops if op.op is Op.FUSED]
    return {"top": sum(1 for o in graph.body.ops if o.op is not Op.RETURN),
            "all": graph.op_count(), "groups": groups}


def traced(name: str, freeze: bool):
    tj.manual_seed(0)
    make, shape = MODELS[name]
    model = make()
    x = tj.randn(*shape)
    return tj.trace(model, x, freeze=freeze, backend="eager"), model, x


@pytest.mark.parametrize("freeze", [False, True])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_optimized_graph_computes_the_captured_bits(name, freeze):
    t, model, x = traced(name, freeze)
    inputs = [x._data] + ([] if freeze else [p._data for _, p in (
        *model.named_parameters(), *model.named_buffers())])
    before = interpret(t.graph, inputs)
    after = interpret(t.optimized_graph, inputs)
    assert [a.tobytes() for a in after] == [b.tobytes() for b in before]
    assert t(x).detach().numpy().tobytes() == model(x).detach().numpy().tobytes()
    assert compute_steps(t.optimized_graph) <= compute_steps(t.graph)


def compute_steps(graph: Graph) -> int:
    """Top-level ops that compute (not views, constants or the return): kernel launches."""
    return sum(1 for o in graph.body.ops if o.op not in MOVEMENT
               and o.op not in (Op.CONSTANT, Op.RETURN))


def is_softmax(group: Counter) -> bool:
    return group[Op.AMAX] == 1 and group[Op.EXP] == 1 and group[Op.SUM] == 1 and group[Op.DIV] > 0


def is_layer_norm(group: Counter) -> bool:
    return group[Op.MEAN] == 2 and group[Op.SQRT] == 1 and group[Op.RECIPROCAL] == 1


@pytest.mark.parametrize("name", ["block", "causal-block"])
def test_block_softmax_and_layer_norms_are_single_groups(name):
    t, _, _ = traced(name, freeze=False)
    captured = Counter(o.op for o in t.graph.walk())
    assert captured[Op.SOFTMAX] == 1 and captured[Op.LAYER_NORM] == 2
    optimized = t.optimized_graph
    outside = Counter(o.op for o in optimized.body.ops)
    for op in (Op.SOFTMAX, Op.LAYER_NORM, Op.AMAX, Op.MEAN, Op.SUM, Op.EXP):
        assert not outside[op], f"{op.value} left outside a fused group"
    groups = summary(optimized)["groups"]
    assert sum(map(is_softmax, groups)) == 1
    assert sum(map(is_layer_norm, groups)) == 2


def test_mlp_log_softmax_is_one_group():
    t, _, _ = traced("mlp", freeze=True)
    groups = summary(t.optimized_graph)["groups"]
    assert [g[Op.LOG] for g in groups if g[Op.AMAX]] == [1]
    assert not any(o.op is Op.LOG_SOFTMAX for o in t.optimized_graph.walk())


def test_matmuls_stay_outside_groups():
    t, _, _ = traced("block", freeze=False)
    for op in t.optimized_graph.walk():
        if op.op is Op.FUSED:
            inner = {o.op for o in op.blocks[0].ops}
            assert not inner & {Op.MATMUL, Op.LINEAR, Op.CONV2D}


def report() -> str:
    """Op counts before and after the default pipeline, for the closing note."""
    lines = [f"{'model':20} {'captured ops':>12} {'optimized (top/all)':>20} {'groups':>7} "
             f"{'compute steps':>14}"]
    for name in MODELS:
        for freeze in (False, True):
            t, _, _ = traced(name, freeze)
            a, b = summary(t.graph), summary(t.optimized_graph)
            label = name + (" frozen" if freeze else "")
            steps = f"{compute_steps(t.graph)} -> {compute_steps(t.optimized_graph)}"
            lines.append(f"{label:20} {a['top']:>12} {b['top']:>13}/{b['all']:<6} "
                         f"{len(b['groups']):>7} {steps:>14}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
