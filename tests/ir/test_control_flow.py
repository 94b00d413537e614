# ruff: noqa: E501  (IR graphs in strings are one operation a line)
"""Structured control flow in the IR (`if`, `for`, `while`): verifier errors pinned verbatim,
and the interpreter's semantics checked against plain Python loops."""

from __future__ import annotations

import numpy as np
import pytest

from tracejit.ir.parser import parse
from tracejit.ir.printer import print_graph
from tracejit.ir.verifier import VerifyError, verify
from tracejit.passes.pipeline import DEFAULT_PIPELINE, run_pipeline
from tracejit.runtime.eager import interpret

COUNT = """graph @count(%x: float32[3], %start: int64[], %stop: int64[], %step: int64[]) -> (float32[3], int64[]) {
  %0 = constant() {value = dense<int64[]: 0>} : int64[]
  %1, %2 = for(%start, %stop, %step, %x, %0) : float32[3], int64[] {
  ^(%i: int64[], %acc: float32[3], %n: int64[]):
    %3 = cast(%i) {dtype = float32} : float32[]
    %4 = mul(%acc, %3) : float32[3]
    %5 = add(%4, %3) : float32[3]
    %6 = constant() {value = dense<int64[]: 1>} : int64[]
    %7 = add(%n, %6) : int64[]
    yield(%5, %7)
  }
  return(%1, %2)
}
"""

# Collatz steps of %n: a while whose block computes its condition, then an if
COLLATZ = """graph @collatz(%n: int64[]) -> (int64[], int64[]) {
  %0 = constant() {value = dense<int64[]: 0>} : int64[]
  %1, %2 = while(%n, %0) : int64[], int64[] {
  ^(%v: int64[], %k: int64[]):
    %3 = constant() {value = dense<int64[]: 1>} : int64[]
    %4 = gt(%v, %3) : bool[]
    %5, %6 = if(%4) : int64[], int64[] {
    ^():
      %7 = constant() {value = dense<int64[]: 2>} : int64[]
      %8 = remainder(%v, %7) : int64[]
      %9 = eq(%8, %0) : bool[]
      %10 = if(%9) : int64[] {
      ^():
        %11 = floor_div(%v, %7) : int64[]
        yield(%11)
      } {
      ^():
        %12 = constant() {value = dense<int64[]: 3>} : int64[]
        %13 = mul(%v, %12) : int64[]
        %14 = add(%13, %3) : int64[]
        yield(%14)
      }
      %15 = add(%k, %3) : int64[]
      yield(%10, %15)
    } {
    ^():
      yield(%v, %k)
    }
    yield(%4, %5, %6)
  }
  return(%1, %2)
}
"""


def python_count(x, start, stop, step):
    n = 0
    for i in range(start, stop, step):
        x = (x * np.float32(i) + np.float32(i)).astype(np.float32)
        n += 1
    return x, n


def python_collatz(n):
    k = 0
    while n > 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        k += 1
    return n, k


@pytest.mark.parametrize("pipeline", [None, DEFAULT_PIPELINE])
@pytest.mark.parametrize(("start", "stop", "step"),
                         [(0, 5, 1), (5, 0, 1), (3, 3, 1), (7, -2, -3), (-4, 9, 4)])
def test_for_runs_pythons_range(start, stop, step, pipeline):
    graph = verify(parse(COUNT))
    if pipeline:
        run_pipeline(graph, pipeline, verify_each=True)
    x = np.array([1.0, -2.0, 0.5], np.float32)
    got = interpret(graph, [x, *(np.array(v) for v in (start, stop, step))])
    want_x, want_n = python_count(x, start, stop, step)
    np.testing.assert_array_equal(got[0], want_x)
    assert int(got[1]) == want_n


def test_for_with_a_zero_step_raises():
    graph = verify(parse(COUNT))
    x = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="step is zero"):
        interpret(graph, [x, np.array(0), np.array(3), np.array(0)])


@pytest.mark.parametrize("pipeline", [None, DEFAULT_PIPELINE])
@pytest.mark.parametrize("n", [1, 2, 6, 27, 97])
def test_while_and_nested_ifs(n, pipeline):
    graph = verify(parse(COLLATZ))
    if pipeline:
        run_pipeline(graph, pipeline, verify_each=True)
    got = interpret(graph, [np.array(n)])
    assert (int(got[0]), int(got[1])) == python_collatz(n)


def test_control_flow_round_trips():
    for text in (COUNT, COLLATZ):
        assert print_graph(parse(text)) == text


def verify_error(text: str) -> str:
    with pytest.raises(VerifyError) as info:
        verify(parse(text))
    return str(info.value)


IF_HEAD = "graph @g(%x: float32[2], %c: bool[]) -> (float32[2]) {\n"


def test_if_condition_must_be_a_bool_scalar():
    text = IF_HEAD + """  %0 = if(%x) : float32[2] {
  ^():
    yield(%x)
  } {
  ^():
    yield(%x)
  }
  return(%0)
}
"""
    assert verify_error(text) == (
        "error: the condition must be bool[], got float32[2]\n  %0 = if(%x) : float32[2]")


def test_if_branches_must_yield_the_same_types():
    text = IF_HEAD + """  %0 = if(%c) : float32[2] {
  ^():
    yield(%x)
  } {
  ^():
    %1 = cast(%x) {dtype = float64} : float64[2]
    yield(%1)
  }
  return(%0)
}
"""
    assert verify_error(text) == (
        "error: the branches yield different types: (float32[2]) and (float64[2])\n"
        "  %0 = if(%c) : float32[2]")


def test_if_needs_two_blocks():
    text = IF_HEAD + """  %0 = if(%c) : float32[2] {
  ^():
    yield(%x)
  }
  return(%0)
}
"""
    assert verify_error(text) == "error: if owns 2 block(s), got 1\n  %0 = if(%c) : float32[2]"


def test_value_defined_in_a_branch_is_not_visible_after_it():
    text = IF_HEAD + """  %0 = if(%c) : float32[2] {
  ^():
    %1 = neg(%x) : float32[2]
    yield(%1)
  } {
  ^():
    yield(%x)
  }
  %2 = add(%0, %x) : float32[2]
  return(%2)
}
"""
    graph = parse(text)
    branch, add = graph.body.ops[0], graph.body.ops[1]
    add.operands[1] = branch.blocks[0].ops[0].result  # the parser already refuses this text
    with pytest.raises(VerifyError) as info:
        verify(graph)
    assert str(info.value) == (
        "error: operand 1 is out of scope here\n  %2 = add(%0, %1) : float32[2]")


def test_loop_carried_value_must_keep_its_shape():
    text = """graph @g(%x: float32[2], %n: int64[]) -> (float32[2]) {
  %0 = constant() {value = dense<int64[]: 0>} : int64[]
  %1 = constant() {value = dense<int64[]: 1>} : int64[]
  %2 = for(%0, %n, %1, %x) : float32[2] {
  ^(%i: int64[], %a: float32[2]):
    %3 = cat(%a, %a) {dim = 0} : float32[4]
    yield(%3)
  }
  return(%2)
}
"""
    assert verify_error(text) == (
        "error: the for block yields (float32[4]), it must yield (float32[2]): loop-carried "
        "values keep their types\n  %2 = for(%0, %n, %1, %x) : float32[2]")


def test_for_bounds_must_be_int64_scalars():
    text = """graph @g(%x: float32[2], %n: int32[]) -> (float32[2]) {
  %2 = for(%n, %n, %n, %x) : float32[2] {
  ^(%i: int64[], %a: float32[2]):
    yield(%a)
  }
  return(%2)
}
"""
    assert verify_error(text) == (
        "error: the loop's start must be int64[], got int32[]\n"
        "  %0 = for(%n, %n, %n, %x) : float32[2]")


def test_while_block_must_yield_its_condition_first():
    text = """graph @g(%x: float32[2]) -> (float32[2]) {
  %0 = while(%x) : float32[2] {
  ^(%a: float32[2]):
    yield(%a)
  }
  return(%0)
}
"""
    assert verify_error(text) == (
        "error: the while block yields (float32[2]), it must yield (bool[], float32[2]): "
        "loop-carried values keep their types\n  %0 = while(%x) : float32[2]")


def test_for_block_arguments_follow_its_operands():
    text = """graph @g(%x: float32[2], %n: int64[]) -> (float32[2]) {
  %0 = for(%n, %n, %n, %x) : float32[2] {
  ^(%a: float32[2]):
    yield(%a)
  }
  return(%0)
}
"""
    assert verify_error(text) == (
        "error: the for block's arguments must be (int64[], float32[2])\n"
        "  %0 = for(%n, %n, %n, %x) : float32[2]")


def test_if_without_operands():
    text = """graph @g(%x: float32[2]) -> (float32[2]) {
  %0 = if() : float32[2] {
  ^():
    yield(%x)
  } {
  ^():
    yield(%x)
  }
  return(%0)
}
"""
    assert verify_error(text) == "error: if: expected 1 operands, got 0\n  %0 = if() : float32[2]"
