"""The complete verifier: every op's declared result re-derived (slices and attributes included),
declared types bounded, write-back declarations checked, and the gate that keeps every plan's
graph verified as it is (an edit after verify makes the stamp stale). Oracles: numpy, and the
reference interpreter for what the compiled plan returns."""

from __future__ import annotations

import numpy as np
import pytest

import tracejit
from tracejit.ir import DType, Op, TensorType
from tracejit.ir.graph import Block, Graph, Operation
from tracejit.ir.parser import parse
from tracejit.ir.verifier import (
    VerifyError,
    ensure_verified,
    is_verified,
    verify,
    verify_write_back,
)
from tracejit.runtime import graph_cache
from tracejit.runtime.eager import interpret
from tracejit.runtime.executor import Plan


def graph_of(head: str, *lines: str) -> Graph:
    return parse(head + " {\n" + "".join(f"  {line}\n" for line in lines) + "}\n")


def slice_graph(n: int, stop: int, declared: int) -> Graph:
    return graph_of(f"graph @g(%x: float32[{n}]) -> (float32[{declared}])",
                    f"%0 = slice(%x) {{starts = [0], stops = [{stop}], steps = [1]}} : "
                    f"float32[{declared}]",
                    f"%1 = neg(%0) : float32[{declared}]", "return(%1)")


# --- slices: the declared result can no longer exceed the operand ---------------------------------
@pytest.mark.parametrize("declared", [100, 1 << 26])
def test_slice_declaring_more_than_its_operand_is_refused(declared):
    # regression: this graph verified, and the neg kernel read `declared` floats from 4
    graph = slice_graph(4, declared, declared)
    with pytest.raises(VerifyError, match=r"slice: bounds 0:\d+:1 of dim 0 are not within its "
                                          r"size 4"):
        verify(graph)
    with pytest.raises(VerifyError, match="not within its size 4"):
        Plan(graph)  # the gate: never planned, whoever skipped the verifier


def test_slice_declared_type_must_equal_the_derived_one():
    with pytest.raises(VerifyError) as info:
        verify(slice_graph(4, 3, 4))
    assert "result types (float32[4]) differ from what slice gives (float32[3])" in str(
        info.value)


@pytest.mark.parametrize("bounds, why", [
    ("starts = [0], stops = [4], steps = [0]", "positive step"),
    ("starts = [0], stops = [4], steps = [-1]", "positive step"),
    ("starts = [-1], stops = [4], steps = [1]", "not within its size 4"),
    ("starts = [5], stops = [5], steps = [1]", "not within its size 4"),
])
def test_slice_bounds_out_of_range(bounds, why):
    graph = graph_of("graph @g(%x: float32[4]) -> (float32[1])",
                     f"%0 = slice(%x) {{{bounds}}} : float32[1]", "return(%0)")
    with pytest.raises(VerifyError, match=why):
        verify(graph)


def test_valid_slice_runs_like_numpy():
    graph = verify(graph_of("graph @g(%x: float32[7]) -> (float32[3])",
                            "%0 = slice(%x) {starts = [1], stops = [7], steps = [2]} : float32[3]",
                            "%1 = neg(%0) : float32[3]", "return(%1)"))
    x = np.arange(7, dtype=np.float32)
    np.testing.assert_array_equal(Plan(graph)([x])[0], -x[1:7:2])


# --- attributes the rules left unchecked ----------------------------------------------------------
@pytest.mark.parametrize("head, line, why", [
    ("graph @g(%x: float32[]) -> (int64[])",
     "%0 = argmax(%x) {dim = 5, keepdim = false} : int64[]", "dim 5 is out of range"),
    ("graph @g(%x: float32[2,3]) -> (float32[2,3])",
     "%0 = layer_norm(%x) {normalized_ndim = 7, eps = 1e-05} : float32[2,3]",
     "normalized_ndim 7 must be in"),
    ("graph @g(%x: float32[2,3]) -> (float32[2,3])",
     "%0 = layer_norm(%x) {normalized_ndim = -1, eps = 1e-05} : float32[2,3]",
     "normalized_ndim -1 must be in"),
    ("graph @g(%x: float32[6]) -> (float32[2,3])",
     "%0 = reshape(%x) {shape = [-2, -3]} : float32[2,3]", "non-negative sizes"),
    ("graph @g(%x: float32[0]) -> (float32[0,0])",
     "%0 = reshape(%x) {shape = [-1, -1]} : float32[0,0]", "at most one -1"),
    ("graph @g(%x: float32[1]) -> (float32[1,1])",
     "%0 = expand(%x) {shape = [-1, 1]} : float32[1,1]", "non-negative sizes"),
    ("graph @g(%x: float32[3,4]) -> (float32[4])",
     '%0 = index(%x) {spec = [["int", 3], ["slice", 0, 4, 1]]} : float32[4]',
     "index 3 is out of range for dim 0 of size 3"),
    ("graph @g(%x: float32[3]) -> (float32[2])",
     '%0 = pad(%x) {pads = [-5, 4], mode = "constant", value = 0.0} : float32[2]',
     "negative"),
])
def test_attribute_out_of_range(head, line, why):
    with pytest.raises(VerifyError, match=why):
        verify(graph_of(head, line, "return(%0)"))


# --- declared types: well formed and bounded ------------------------------------------------------
def one_input_graph(t: TensorType) -> Graph:
    block = Block.create([t], ["x"])
    block.append(Operation.create(Op.RETURN, [block.args[0]], {}, []))
    return Graph("g", block)


@pytest.mark.parametrize("shape, why", [
    ((-1,), "dims are non-negative integers"),
    ((True, 2), "dims are non-negative integers"),
    ((2.0,), "dims are non-negative integers"),
    ((1 << 21, 1 << 21), "more than 2\\*\\*40 elements"),
    ((2**62, 2**62, 0), "more than 2\\*\\*40 elements"),  # overflows int64 before the 0
    ((1,) * 65, "rank 65 exceeds"),
])
def test_declared_types_are_bounded(shape, why):
    with pytest.raises(VerifyError, match=f"%x: .*{why}"):
        verify(one_input_graph(TensorType(DType.float32, shape)))


def test_full_of_a_huge_size_is_refused():
    graph = graph_of("graph @g() -> (float32[1099511627777])",
                     "%0 = full() {shape = [1099511627777], value = 0.0, dtype = float32} : "
                     "float32[1099511627777]", "return(%0)")
    with pytest.raises(VerifyError, match="more than 2\\*\\*40 elements"):
        verify(graph)


def test_open_dim_only_where_the_rule_gives_one():
    graph = graph_of("graph @g(%x: float32[3]) -> (float32[?])", "%0 = neg(%x) : float32[?]",
                     "return(%0)")
    with pytest.raises(VerifyError, match=r"result types \(float32\[\?\]\) differ from what neg "
                                          r"gives \(float32\[3\]\)"):
        verify(graph)


def test_blocks_nested_too_deep_are_a_verify_error():
    flag = TensorType(DType.bool, ())
    body = Block.create([flag], ["c"])
    inner = None
    for _ in range(80):
        blocks = [Block.create([]), Block.create([])]
        for b in blocks:
            if inner is not None and b is blocks[0]:
                b.append(inner)
            b.append(Operation.create(Op.YIELD, [], {}, []))
        inner = Operation.create(Op.IF, [body.args[0]], {}, [], blocks)
    body.append(inner)
    body.append(Operation.create(Op.RETURN, [], {}, []))
    with pytest.raises(VerifyError, match="blocks nest more than 64 deep"):
        verify(Graph("g", body))


# --- the stamp and the gate -----------------------------------------------------------------------
NEG = "graph @g(%x: float32[4]) -> (float32[4])"


def test_verify_stamps_and_any_edit_makes_the_stamp_stale():
    graph = verify(graph_of(NEG, "%0 = neg(%x) : float32[4]", "%1 = abs(%0) : float32[4]",
                            "return(%1)"))
    assert is_verified(graph)
    absolute = graph.body.ops[1]
    absolute.operands = [graph.inputs[0]]  # rewire an operand
    assert not is_verified(graph)
    ensure_verified(graph)
    assert is_verified(graph)
    absolute.results[0].type = TensorType(DType.float32, (8,))  # retype a result
    assert not is_verified(graph)
    with pytest.raises(VerifyError, match=r"float32\[8\]"):
        Plan(graph)


def test_attribute_edited_in_place_after_verify_is_caught_by_the_gate():
    graph = verify(slice_graph(8, 4, 4))
    graph.body.ops[0].attrs["stops"] = (100,)  # the dict edited in place, the type kept
    assert not is_verified(graph)
    with pytest.raises(VerifyError, match="not within its size 8"):
        Plan(graph)


def test_a_stamped_graph_is_planned_without_verifying_again(monkeypatch):
    graph = verify(graph_of(NEG, "%0 = neg(%x) : float32[4]", "return(%0)"))
    import tracejit.ir.verifier as verifier

    def refuse(self):
        raise AssertionError("verified twice")

    monkeypatch.setattr(verifier._Verifier, "run", refuse)
    x = np.array([1.0, -2.0, np.inf, -0.0], np.float32)
    np.testing.assert_array_equal(Plan(graph)([x])[0], np.negative(x))


def test_kernel_refuses_operands_of_another_shape_than_verified():
    # Plan.run skips the input check (a traced callable's cache key matched them): the kernel
    # itself refuses an array smaller than the verified type instead of reading past it
    graph = verify(graph_of(NEG, "%0 = neg(%x) : float32[4]", "%1 = abs(%0) : float32[4]",
                            "return(%1)"))
    plan = Plan(graph)
    x = np.array([1.0, -2.0, 3.0, -4.0], np.float32)
    np.testing.assert_array_equal(plan.run([x], None)[0], interpret(graph, [x])[0])
    with pytest.raises(RuntimeError, match=r"compiled for the verified type float32\[4\]"):
        plan.run([np.zeros(2, np.float32)], None)


def test_cache_entry_that_fails_the_verifier_is_rejected():
    graph = verify(graph_of("graph @g(%x: float32[4]) -> (float32[100])",
                            "%0 = full() {shape = [100], value = 1.0, dtype = float32} : "
                            "float32[100]", "return(%0)"))
    hostile = str(slice_graph(4, 100, 100)).encode()  # same signature, an overrunning slice
    assert graph_cache._load(hostile, graph) is None


# --- write-back and handed-back declarations ------------------------------------------------------
WRITES = ("graph @g(%x: float32[3], %y: float32[3]) -> (float32[3], float32[3])",
          "%0 = add(%x, %y) : float32[3]", "return(%0, %0)")


def test_write_back_declarations_are_checked():
    graph = verify(graph_of(*WRITES))
    verify_write_back(graph, [0], [None])  # output 1 is written back into %x
    with pytest.raises(VerifyError, match="written back twice"):
        verify_write_back(graph, [0, 0], [])
    with pytest.raises(VerifyError, match="has 2 inputs"):
        verify_write_back(graph, [5], [None])
    with pytest.raises(VerifyError, match="returns only 2 values"):
        verify_write_back(graph, [0, 1, 1], [])


@pytest.mark.parametrize("out_type", ["float64[3]", "float32[1]", "float32[3,1]", "int32[3]"])
def test_written_back_output_must_have_the_input_type_exactly(out_type):
    # regression: a broadcastable or castable declaration was written back by np.copyto silently
    text = (f"graph @g(%x: float32[3]) -> (float32[3], {out_type}) {{\n"
            f"  %0 = neg(%x) : float32[3]\n"
            f"  %1 = full() {{shape = {list(shape_of(out_type))}, value = 1, "
            f"dtype = {out_type.split('[')[0]}}} : {out_type}\n"
            f"  return(%0, %1)\n}}\n")
    graph = verify(parse(text))
    with pytest.raises(VerifyError, match=r"output 1 is written back into %x, so it must have "
                                          r"its type float32\[3\] exactly; it is declared"):
        verify_write_back(graph, [0], [None])
    from tracejit.traced import specialize

    with pytest.raises(VerifyError, match="written back into %x"):
        specialize(graph, None, None, 1, (), [0], [None], "", "", "llvm")


def shape_of(text: str) -> tuple[int, ...]:
    return tuple(int(d) for d in text.split("[")[1].rstrip("]").split(","))


def test_handed_back_output_must_have_the_input_type():
    graph = verify(graph_of("graph @g(%x: float32[3]) -> (float64[3])",
                            "%0 = cast(%x) {dtype = float64} : float64[3]", "return(%0)"))
    with pytest.raises(VerifyError, match="output 0 is handed back as %x"):
        verify_write_back(graph, [], [0])


def test_traced_in_place_write_still_runs():
    def f(x, y):
        x.add_(y)
        return x * 2

    x, y = np.arange(3, dtype=np.float32), np.ones(3, np.float32)
    traced = tracejit.trace(f, tracejit.tensor(x.copy()), tracejit.tensor(y))
    a = tracejit.tensor(x.copy())
    out = traced(a, tracejit.tensor(y))
    np.testing.assert_array_equal(a.numpy(), x + y)
    np.testing.assert_array_equal(out.numpy(), (x + y) * 2)
