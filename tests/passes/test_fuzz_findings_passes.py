"""Regressions for the passes' fuzz findings (tests/fuzz/FINDINGS.md), and a property test
over graphs whose `if`/`for`/`while` read values that elementwise chains after the op read too.

F20: fusion grouped ops before and after an `if` whose branch read one of the group's values,
so the group had to run both before and after the `if`; sorting the cycle dropped the block's
terminator. Every pass of the default pipeline, alone and in order, must keep such graphs
verifying and computing what the unoptimized graph computes on the reference interpreter.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracejit as T
from tracejit.ir.parser import parse
from tracejit.ir.verifier import verify
from tracejit.passes import DEFAULT_PIPELINE, PASSES, parse_pipeline, run_pipeline
from tracejit.runtime.eager import interpret


def f20(x0, x1):
    v1 = x1 ** 2
    v2 = v1.log1p()
    if x0.amax() > 0:
        v3 = v1 * 2
    else:
        v3 = v1.clone()
    v2.add_(v3)
    return (v2, )


@pytest.mark.parametrize("pipeline", [None, "fuse"])
@pytest.mark.parametrize("x0", [[0.0], [1.5, -1.0]], ids=["else", "then"])
def test_f20_fuse_across_an_if_whose_branch_reads_the_group(x0, pipeline):
    x1 = [0.5] * len(x0)
    want = f20(torch.tensor(x0), torch.tensor(x1))
    kwargs = {} if pipeline is None else {"pipeline": pipeline}
    got = T.script(f20, **kwargs)(T.tensor(x0), T.tensor(x1))
    assert len(got) == 1
    np.testing.assert_allclose(got[0].numpy(), want[0].numpy(), rtol=1e-6)


# Random graphs: an elementwise prelude over %x and %y, one control-flow op whose blocks read
# prelude values, then an elementwise chain reading the op's result and prelude values.

UNARY = ["neg", "abs", "tanh", "sin", "copy"]
BINARY = ["add", "sub", "mul", "maximum"]
REDUCTIONS = ["sum", "amax", "mean"]
F = "float32[3]"
HEAD = (f"graph @g(%x: {F}, %y: {F}, %c: bool[], %n: int64[]) -> ({F}, {F}) {{\n"
        "  %zero = constant() {value = dense<int64[]: 0>} : int64[]\n"
        "  %one = constant() {value = dense<int64[]: 1>} : int64[]\n")


class _Text:
    """Builds the IR text of one graph from hypothesis draws; names are unique graph-wide."""

    def __init__(self, draw):
        self.draw, self.lines, self.count = draw, [], 0

    def name(self) -> str:
        self.count += 1
        return f"%v{self.count}"

    def op(self, indent: str, readable: list[str]) -> str:
        """One elementwise op over `readable`; its result is appended to `readable`."""
        result = self.name()
        kind = self.draw(st.integers(0, 5))
        if kind == 0:  # a reduction to float32[], broadcast back by an add: a fused reduction
            total, a = self.name(), self.draw(st.sampled_from(readable))
            reduce = self.draw(st.sampled_from(REDUCTIONS))
            self.lines.append(f"{indent}{total} = {reduce}({a}) {{dims = [0], keepdim = false}}"
                              " : float32[]")
            unary, operands = "add", f"{self.draw(st.sampled_from(readable))}, {total}"
        elif kind < 3:
            unary = self.draw(st.sampled_from(UNARY))
            operands = self.draw(st.sampled_from(readable))
        else:
            unary = self.draw(st.sampled_from(BINARY))
            a, b = self.draw(st.sampled_from(readable)), self.draw(st.sampled_from(readable))
            operands = f"{a}, {b}"
        self.lines.append(f"{indent}{result} = {unary}({operands}) : {F}")
        readable.append(result)
        return result

    def chain(self, indent: str, readable: list[str], low: int, high: int) -> list[str]:
        """`low`..`high` ops; the values a block may read (outer ones and its own)."""
        readable = list(readable)
        for _ in range(self.draw(st.integers(low, high))):
            self.op(indent, readable)
        return readable

    def control(self, outer: list[str], indent: str = "  ", depth: int = 0) -> str:
        kind = self.draw(st.sampled_from(["if", "for", "while"]))
        result = self.name()
        inner = indent + "  "
        if kind == "if":
            self.lines.append(f"{indent}{result} = if(%c) : {F} {{")
            for branch in range(2):
                self.lines.append(f"{indent}^():")
                values = self.block_body(outer, inner, depth)
                self.lines.append(f"{inner}yield({self.draw(st.sampled_from(values))})")
                self.lines.append(f"{indent}}}" + (" {" if branch == 0 else ""))
        elif kind == "for":
            start = self.draw(st.sampled_from(outer))
            acc, i = self.name(), self.name()
            self.lines.append(f"{indent}{result} = for(%zero, %n, %one, {start}) : {F} {{")
            self.lines.append(f"{indent}^({i}: int64[], {acc}: {F}):")
            values = self.block_body([*outer, acc], inner, depth)
            self.lines.append(f"{inner}yield({self.draw(st.sampled_from(values[-3:]))})")
            self.lines.append(f"{indent}}}")
        else:
            start = self.draw(st.sampled_from(outer))
            acc, k, k1, again, count = (self.name() for _ in range(5))
            self.lines.append(f"{indent}{result}, {count} = while({start}, %zero) : "
                              f"{F}, int64[] {{")
            self.lines.append(f"{indent}^({acc}: {F}, {k}: int64[]):")
            values = self.block_body([*outer, acc], inner, depth)
            self.lines.append(f"{inner}{k1} = add({k}, %one) : int64[]")
            self.lines.append(f"{inner}{again} = lt({k1}, %n) : bool[]")
            chosen = self.draw(st.sampled_from(values[-3:]))
            self.lines.append(f"{inner}yield({again}, {chosen}, {k1})")
            self.lines.append(f"{indent}}}")
        return result

    def block_body(self, outer: list[str], indent: str, depth: int) -> list[str]:
        values = self.chain(indent, outer, 0, 3)
        if depth == 0 and self.draw(st.integers(0, 3)) == 0:
            values.append(self.control(values, indent, depth + 1))
            values = self.chain(indent, values, 0, 2)
        return values


@st.composite
def control_flow_graphs(draw) -> str:
    """IR text: prelude, control-flow op reading the prelude, chain reading both."""
    text = _Text(draw)
    prelude = text.chain("  ", ["%x", "%y"], 1, 4)
    result = text.control(prelude)
    after = text.chain("  ", prelude + [result] * 3, 1, 4)
    extra = draw(st.sampled_from(prelude))
    text.lines.append(f"  return({after[-1]}, {extra})")
    return HEAD + "\n".join(text.lines) + "\n}\n"


INPUTS = [np.array([0.5, -1.25, 2.0], np.float32), np.array([-0.75, 1.5, 0.25], np.float32)]
PIPELINES = [*sorted(set(parse_pipeline(DEFAULT_PIPELINE))), DEFAULT_PIPELINE]


def _run_all(text: str, pipeline: str, c: bool, n: int) -> None:
    arrays = [*INPUTS, np.array(c), np.array(n, np.int64)]
    want = interpret(verify(parse(text)), arrays)
    graph = verify(parse(text))
    run_pipeline(graph, pipeline, verify_each=False)
    verify(graph)
    got = interpret(graph, arrays)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=0, equal_nan=True)


def test_the_default_pipeline_passes_are_registered():
    assert set(parse_pipeline(DEFAULT_PIPELINE)) <= set(PASSES)
    assert "fuse" in PASSES


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=control_flow_graphs(), c=st.booleans(), n=st.integers(0, 3))
def test_passes_keep_control_flow_graphs_valid_and_equal(text, c, n):
    for pipeline in PIPELINES:
        try:
            _run_all(text, pipeline, c, n)
        except Exception as e:
            raise AssertionError(f"pipeline {pipeline!r} on\n{text}") from e


F20_IR = f"""graph @f(%x0: {F}, %x1: {F}) -> ({F}) {{
  %0 = constant() {{value = dense<float32[]: 2.0>}} : float32[]
  %1 = pow(%x1, %0) : {F}
  %2 = log1p(%1) : {F}
  %3 = amax(%x0) {{dims = [0], keepdim = false}} : float32[]
  %4 = constant() {{value = dense<float32[]: 0.0>}} : float32[]
  %5 = gt(%3, %4) : bool[]
  %7 = if(%5) : {F} {{
  ^():
    %8 = mul(%1, %0) : {F}
    yield(%8)
  }} {{
  ^():
    %9 = copy(%1) : {F}
    yield(%9)
  }}
  %10 = add(%2, %7) : {F}
  return(%10)
}}
"""


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_f20_graph_under_each_pass(pipeline):
    for x0 in ([-1.0, 0.0, -2.0], [1.0, 0.0, -2.0]):
        x1 = np.array([0.5, -3.0, 1e-3], np.float32)
        arrays = [np.array(x0, np.float32), x1]
        graph = run_pipeline(verify(parse(F20_IR)), pipeline, verify_each=True)
        verify(graph)
        v1 = torch.tensor(x1) ** 2
        want = v1.log1p() + (v1 * 2 if max(x0) > 0 else v1)
        np.testing.assert_allclose(interpret(graph, arrays)[0], want.numpy(), rtol=1e-6)
