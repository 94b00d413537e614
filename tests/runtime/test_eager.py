"""The reference interpreter on hand-written IR, against numpy formulas written out here."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tracejit.ir.parser import parse
from tracejit.ir.verifier import verify
from tracejit.runtime.eager import interpret

MLP = """\
graph @mlp(%x: float32[2,3], %w: float32[4,3], %b: float32[4]) -> (float32[2]) {
  %0 = linear(%x, %w, %b) : float32[2,4]
  %1 = relu(%0) : float32[2,4]
  %2 = sum(%1) {dims = [1], keepdim = false} : float32[2]
  return(%2)
}
"""

FUSED = """\
graph @fused(%x: float64[3], %y: float64[3]) -> (float64[3], float64[]) {
  %0, %1 = fused(%x, %y) : float64[3], float64[] {
  ^(%a: float64[3], %b: float64[3]):
    %2 = mul(%a, %b) : float64[3]
    %3 = exp(%2) : float64[3]
    %4 = fused(%3) : float64[] {
    ^(%c: float64[3]):
      %5 = amax(%c) {dims = [0], keepdim = false} : float64[]
      yield(%5)
    }
    yield(%3, %4)
  }
  return(%0, %1)
}
"""

CONSTANTS = """\
graph @affine(%x: float32[2,3]) -> (float32[2,3], int64[3]) {
  %0 = constant() {value = @scale} : float32[2,3]
  %1 = constant() {value = dense<float32[3]: [0.5, -1.0, 2.0]>} : float32[3]
  %2 = mul(%x, %0) : float32[2,3]
  %3 = add(%2, %1) : float32[2,3]
  %4 = constant() {value = dense<int64[3]: 7>} : int64[3]
  return(%3, %4)
}
"""


def random_array(shape, dtype=np.float32, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_linear_relu_sum_matches_numpy():
    x, w, b = random_array((2, 3)), random_array((4, 3), seed=1), random_array(4, seed=2)
    (out,) = interpret(verify(parse(MLP)), [x, w, b])
    want = np.maximum(x @ w.T + b, 0).sum(axis=1)
    assert out.dtype == np.float32 and out.shape == (2,)
    np.testing.assert_allclose(out, want, rtol=1e-6)


def test_fused_blocks_run_like_the_unfused_formula():
    x, y = random_array(3, np.float64), random_array(3, np.float64, seed=1)
    exp, top = interpret(verify(parse(FUSED)), [x, y])
    np.testing.assert_array_equal(exp, np.exp(x * y))
    assert top.shape == () and top == np.exp(x * y).max()


def test_literal_and_named_constants():
    scale = np.arange(6, dtype=np.float32).reshape(2, 3)
    graph = verify(parse(CONSTANTS, constants={"scale": scale}))
    x = random_array((2, 3))
    affine, sevens = interpret(graph, [x])
    np.testing.assert_array_equal(affine, x * scale + np.array([0.5, -1.0, 2.0], np.float32))
    np.testing.assert_array_equal(sevens, np.full(3, 7, np.int64))
    assert sevens.dtype == np.int64


def test_named_constant_without_data():
    graph = verify(parse(CONSTANTS))  # the text alone verifies: @scale's type is declared
    with pytest.raises(RuntimeError) as info:
        interpret(graph, [random_array((2, 3))])
    assert str(info.value) == (
        "constant @scale has no data: IR text names large constants without holding them; "
        "pass constants= to parse() or load the graph file")


def test_outputs_may_be_inputs_and_repeat():
    graph = parse("graph @g(%x: int32[2], %n: int) -> (int32[2], int32[2]) {\n"
                  "  return(%x, %x)\n}\n")
    x = np.array([1, 2], np.int32)
    a, b = interpret(verify(graph), [x, 5])  # scalar inputs are passed through unchecked
    assert a is x and b is x


def test_unknown_dims_accept_any_size():
    graph = verify(parse("graph @g(%x: float32[?,2]) -> (float32[?,2]) {\n"
                         "  %0 = neg(%x) : float32[?,2]\n  return(%0)\n}\n"))
    for rows in (0, 1, 5):
        x = random_array((rows, 2))
        np.testing.assert_array_equal(interpret(graph, [x])[0], -x)


INPUT_ERRORS = [
    ([], "graph @mlp takes 3 inputs, got 0"),
    ([np.zeros((2, 3), np.float64)] * 3, "graph @mlp: %x must be float32[2,3], got float64[2,3]"),
    ([np.zeros((2, 3), np.float32), np.zeros((3, 4), np.float32), None],
     "graph @mlp: %w must be float32[4,3], got float32[3,4]"),
    ([np.zeros((2, 3), np.float32), np.zeros((4, 3), np.float32), [0.0] * 4],
     "graph @mlp: %b must be float32[4], got list"),
    ([np.zeros((2, 3, 1), np.float32)] * 3,
     "graph @mlp: %x must be float32[2,3], got float32[2,3,1]"),
]


@pytest.mark.parametrize(("inputs", "message"), INPUT_ERRORS,
                         ids=["count", "dtype", "shape", "not an array", "rank"])
def test_inputs_are_checked_against_the_signature(inputs, message):
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        interpret(parse(MLP), inputs)


def test_unnamed_input_is_named_by_position():
    graph = parse("graph @g(%0: bool[1]) -> (bool[1]) {\n  return(%0)\n}\n")
    message = "graph @g: input 0 must be bool[1], got int64[1]"
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        interpret(graph, [np.zeros(1, np.int64)])


RANDOM = """\
graph @noise() -> (float32[1000], int64[1000]) {
  %0 = rand() {shape = [1000], dtype = float32} : float32[1000]
  %1 = randint() {low = -3, high = 4, shape = [1000], dtype = int64} : int64[1000]
  return(%0, %1)
}
"""


def test_random_ops_follow_the_seeded_generator():
    graph = verify(parse(RANDOM))
    first = interpret(graph, [], rng=np.random.default_rng(42))
    again = interpret(graph, [], rng=np.random.default_rng(42))
    other = interpret(graph, [], rng=np.random.default_rng(43))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    uniform, ints = first
    assert uniform.dtype == np.float32 and uniform.min() >= 0 and uniform.max() < 1
    assert ints.dtype == np.int64 and set(np.unique(ints)) == set(range(-3, 4))


def test_runtime_errors_of_ops_surface_unchanged():
    graph = parse("graph @g(%x: int64[2], %y: int64[2]) -> (int64[2]) {\n"
                  "  %0 = floor_div(%x, %y) : int64[2]\n  return(%0)\n}\n")
    x = np.array([1, 2], np.int64)
    np.testing.assert_array_equal(interpret(graph, [x * 7, x])[0], [7, 7])
    with pytest.raises(RuntimeError, match=r"^ZeroDivisionError$"):
        interpret(graph, [x, np.zeros(2, np.int64)])
