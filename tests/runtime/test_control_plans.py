"""Structured control flow on the compiled backend: `if`, `for` and `while` blocks run as
plans of their own (compiled kernels, planned buffers), against the reference interpreter."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tracejit.ir.parser import parse
from tracejit.ir.verifier import verify
from tracejit.passes.pipeline import DEFAULT_PIPELINE, run_pipeline
from tracejit.runtime.eager import interpret
from tracejit.runtime.executor import ForStep, IfStep, KernelStep, Plan, WhileStep

sys.path.insert(0, str(Path(__file__).parents[1] / "ir"))
from test_control_flow import COLLATZ, COUNT

BIG = """graph @big(%x: float32[300,700], %n: int64[]) -> (float32[300,700]) {
  %0 = constant() {value = dense<int64[]: 0>} : int64[]
  %1 = constant() {value = dense<int64[]: 1>} : int64[]
  %2 = constant() {value = dense<float32[]: 0.5>} : float32[]
  %3 = for(%0, %n, %1, %x) : float32[300,700] {
  ^(%i: int64[], %a: float32[300,700]):
    %4 = cast(%i) {dtype = float32} : float32[]
    %5 = mul(%a, %2) : float32[300,700]
    %6 = tanh(%5) : float32[300,700]
    %7 = add(%6, %4) : float32[300,700]
    %8 = sum(%7) {dims = [0, 1], keepdim = false} : float32[]
    %9 = gt(%8, %2) : bool[]
    %10 = if(%9) : float32[300,700] {
    ^():
      %11 = sub(%7, %x) : float32[300,700]
      yield(%11)
    } {
    ^():
      yield(%7)
    }
    yield(%10)
  }
  return(%3)
}
"""


def graph_of(text: str, optimize: bool):
    graph = verify(parse(text))
    return run_pipeline(graph, DEFAULT_PIPELINE) if optimize else graph


@pytest.mark.parametrize("optimize", [False, True])
@pytest.mark.parametrize(("start", "stop", "step"), [(0, 5, 1), (5, 0, 1), (7, -2, -3)])
def test_for_plan_matches_the_interpreter(start, stop, step, optimize):
    graph = graph_of(COUNT, optimize)
    x = np.array([1.0, -2.0, 0.5], np.float32)
    inputs = [x, *(np.array(v) for v in (start, stop, step))]
    plan = Plan(graph)
    for _ in range(2):  # the second call reuses the blocks' arenas
        got = plan(inputs)
        for g, w in zip(got, interpret(graph, inputs)):
            np.testing.assert_array_equal(g, w)
    assert any(isinstance(s, ForStep) for s in plan.steps)


@pytest.mark.parametrize("optimize", [False, True])
@pytest.mark.parametrize("n", [1, 6, 27])
def test_while_and_nested_if_plans(n, optimize):
    graph = graph_of(COLLATZ, optimize)
    plan = Plan(graph)
    got, want = plan([np.array(n)]), interpret(graph, [np.array(n)])
    assert [int(g) for g in got] == [int(w) for w in want]
    (loop,) = [s for s in plan.steps if isinstance(s, WhileStep)]
    assert any(isinstance(s, IfStep) for s in loop.plans[0].steps)


def test_loop_body_is_compiled_once_and_runs_kernels():
    graph = graph_of(BIG, optimize=True)
    plan = Plan(graph)
    x = np.random.default_rng(0).standard_normal((300, 700)).astype(np.float32)
    for n in (0, 3):
        got = plan([x, np.array(n)])[0]
        want = interpret(graph, [x, np.array(n)])[0]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    (loop,) = [s for s in plan.steps if isinstance(s, ForStep)]
    kernels = [s for s in loop.plans[0].steps if isinstance(s, KernelStep)]
    assert kernels and all(s.last[1] is not None for s in kernels)  # compiled and called


def test_zero_step_raises():
    graph = graph_of(COUNT, optimize=False)
    x = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="step is zero"):
        Plan(graph)([x, np.array(0), np.array(3), np.array(0)])
