"""Buffer planning in compiled plans (runtime/buffers.py): intermediates share memory by
liveness, outputs are fresh per call, views keep what they see alive, in-place steps only read
the element they write, and concurrent calls each hold their own arena. Every plan is checked
against the reference interpreter, bit for bit (no approximated math here)."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracejit.ir import DType, Op, TensorType
from tracejit.ir.graph import Block, Graph, Operation
from tracejit.ir.parser import parse
from tracejit.ir.verifier import verify
from tracejit.passes.rewrite import build
from tracejit.runtime import buffers
from tracejit.runtime.eager import interpret
from tracejit.runtime.executor import Plan


def sample(shape, seed=0, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def check(plan: Plan, inputs) -> list[np.ndarray]:
    got = plan(inputs)
    want = interpret(plan.graph, inputs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)
    return got


CHAIN = """graph @chain(%x: float32[64,32], %y: float32[32]) -> (float32[64,32]) {
  %0 = mul(%x, %x) : float32[64,32]
  %1 = add(%0, %y) : float32[64,32]
  %2 = neg(%1) : float32[64,32]
  %3 = maximum(%2, %x) : float32[64,32]
  %4 = sub(%3, %y) : float32[64,32]
  return(%4)
}
"""


def test_a_chain_runs_in_one_buffer_in_place():
    plan = Plan(parse(CHAIN))
    check(plan, [sample((64, 32)), sample(32, seed=1)])
    assert len(plan.buffers.sizes) == 1  # %0..%3 one after the other in the same memory
    assert [(u, r) for _, u, r in plan.buffers.in_place] == [(2, 3), (3, 4), (4, 5)]
    assert plan.buffers.fresh == {6}  # the output


DIAMOND = """graph @diamond(%x: float32[8,8]) -> (float32[8,8]) {
  %0 = abs(%x) : float32[8,8]
  %1 = neg(%0) : float32[8,8]
  %2 = mul(%0, %1) : float32[8,8]
  %3 = add(%2, %x) : float32[8,8]
  return(%3)
}
"""


def test_a_diamond_keeps_the_shared_value_until_its_last_reader():
    plan = Plan(parse(DIAMOND))
    check(plan, [sample((8, 8))])
    slots = plan.buffers.slots
    assert slots[1][0] != slots[2][0]  # %0 is still read by %2 when %1 is written
    assert len(plan.buffers.sizes) == 2


def test_a_view_keeps_its_base_buffer_alive():
    """%1 is a slice of %0: %0's memory must outlive %1's last reader, not %0's own."""
    plan = Plan(parse("""graph @g(%x: float32[4,4], %y: float32[2,4]) -> (float32[2,4]) {
  %0 = abs(%x) : float32[4,4]
  %1 = slice(%0) {starts = [0, 0], stops = [2, 4], steps = [1, 1]} : float32[2,4]
  %2 = neg(%y) : float32[2,4]
  %3 = add(%1, %2) : float32[2,4]
  return(%3)
}
"""))
    check(plan, [sample((4, 4)), sample((2, 4), seed=1)])
    slots = plan.buffers.slots
    assert slots[2][0] != slots[4][0]


def test_no_in_place_write_where_a_view_reads_other_elements():
    """x + xᵀ over a dying x: writing the sum over x would clobber elements still to be read
    through the transpose."""
    plan = Plan(parse("""graph @g(%x: float32[16,16]) -> (float32[16,16]) {
  %0 = abs(%x) : float32[16,16]
  %1 = permute(%0) {dims = [1, 0]} : float32[16,16]
  %2 = add(%0, %1) : float32[16,16]
  %3 = neg(%2) : float32[16,16]
  return(%3)
}
"""))
    check(plan, [sample((16, 16))])
    assert plan.buffers.in_place == []  # %2 does not overwrite %0


def test_row_kernels_never_run_in_place():
    plan = Plan(parse("""graph @g(%x: float32[4,8]) -> (float32[4,8]) {
  %0 = abs(%x) : float32[4,8]
  %1 = fused(%0) : float32[4,8] {
  ^(%2: float32[4,8]):
    %3 = amax(%2) {dims = [1], keepdim = true} : float32[4,1]
    %4 = sub(%2, %3) : float32[4,8]
    yield(%4)
  }
  %5 = neg(%1) : float32[4,8]
  return(%5)
}
"""))
    check(plan, [sample((4, 8))])
    assert all(step != 1 for step, _, _ in plan.buffers.in_place)


ALIASED_OUTPUTS = (
    "graph @g(%x: float32[2,6], %y: float32[6,2]) -> (float32[6,2], float32[2,6], "
    "float32[2,6], float32[2,6], float32[6,2], float32[]) {\n") + """\
  %0 = abs(%x) : float32[2,6]
  %1 = reshape(%0) {shape = [6, 2]} : float32[6,2]
  %2 = neg(%0) : float32[2,6]
  %3 = mul(%2, %x) : float32[2,6]
  %4 = constant() {value = dense<float32[]: 2.0>} : float32[]
  return(%1, %3, %3, %x, %y, %4)
}
"""


def test_outputs_are_fresh_per_call_whatever_aliases_them():
    """An output that is a view of an intermediate, the same value twice, an input and a
    constant: what a call returned stays as it was through later calls."""
    plan = Plan(parse(ALIASED_OUTPUTS))
    first_inputs = [sample((2, 6)), sample((6, 2), seed=1)]
    first = check(plan, first_inputs)
    kept = [a.copy() for a in first]
    check(plan, [sample((2, 6), seed=2), sample((6, 2), seed=3)])
    for a, b in zip(first, kept):
        np.testing.assert_array_equal(a, b)
    assert first[1] is first[2]  # one value returned twice is one array, as in eager code
    assert first[3] is first_inputs[0] and first[4] is first_inputs[1]
    assert plan.buffers.fresh == {2, 5}  # %0 (the reshape's base) and %3; %2 in the arena


def test_an_intermediate_read_inside_a_loop_body_lives_until_the_loop():
    """%0 is read only inside the for body (a value from outside the block): the neg after it
    must not take its buffer before the loop runs."""
    plan = Plan(parse("""graph @g(%x: float32[5], %n: int64[]) -> (float32[5]) {
  %0 = abs(%x) : float32[5]
  %1 = neg(%x) : float32[5]
  %2 = constant() {value = dense<int64[]: 0>} : int64[]
  %3 = constant() {value = dense<int64[]: 1>} : int64[]
  %4 = for(%2, %n, %3, %x) : float32[5] {
  ^(%i: int64[], %acc: float32[5]):
    %5 = add(%acc, %0) : float32[5]
    yield(%5)
  }
  %6 = add(%4, %1) : float32[5]
  return(%6)
}
"""))
    check(plan, [sample(5), np.array(3, np.int64)])
    check(plan, [sample(5, seed=1), np.array(0, np.int64)])


def test_intermediates_are_not_allocated_per_call():
    """After the first call the plan owns one arena, reused as is; a call then allocates about
    its output only (numpy reports its allocations to tracemalloc)."""
    graph = parse(CHAIN.replace("64,32", "256,256").replace("[32]", "[256]"))
    plan = Plan(graph)
    inputs = [sample((256, 256)), sample(256, seed=1)]
    check(plan, inputs)
    (arena,) = plan.arenas
    tracemalloc.start()
    try:
        plan(inputs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    out_bytes = 256 * 256 * 4
    assert peak < 1.5 * out_bytes  # four intermediates of the output's size are not allocated
    assert plan.arenas == [arena] and plan.arenas[0] is arena


def test_concurrent_calls_each_hold_their_own_arena():
    graph = parse(DIAMOND.replace("8,8", "64,64"))
    plan = Plan(graph)
    check(plan, [sample((64, 64))])
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker(seed: int) -> None:
        try:
            start.wait()
            for k in range(30):
                x = sample((64, 64), seed=seed * 100 + k)
                (got,) = plan([x])
                np.testing.assert_array_equal(got, interpret(graph, [x])[0])
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert 1 <= len(plan.arenas) <= 4


def test_a_call_that_raises_gives_its_arena_back():
    plan = Plan(parse("""graph @g(%x: float32[3], %i: int64[]) -> (float32[3]) {
  %0 = abs(%x) : float32[3]
  %1 = index(%0, %i) {spec = [["tensor"]]} : float32[]
  %2 = add(%0, %1) : float32[3]
  return(%2)
}
"""))
    x = sample(3)
    check(plan, [x, np.array(1, np.int64)])
    with pytest.raises(IndexError):
        plan([x, np.array(7, np.int64)])
    assert len(plan.arenas) == 1
    check(plan, [x, np.array(2, np.int64)])


def test_the_packer_reuses_freed_buffers_and_grows_one_when_it_must():
    """Liveness on a hand-made step list: a value defined after another died takes its buffer
    (growing it when larger); values alive together never share."""

    class Fake(buffers.Step):
        writes = True

    steps = [Fake(None, [0], [1]), Fake(None, [1], [2]), Fake(None, [2, 0], [3]),
             Fake(None, [3], [4])]
    f4 = np.dtype(np.float32)
    types = {1: (f4, (10,)), 2: (f4, (10,)), 3: (f4, (40,)), 4: (f4, (5,))}
    plan = buffers.assign(steps, types, [0], [4])
    buffers.check(plan, steps)
    slots = plan.slots
    assert slots[1][0] != slots[2][0]  # %1 is read while %2 is written (no same_index)
    assert slots[3][0] == slots[1][0]  # %1 died at step 1
    assert plan.sizes[slots[3][0]] == 160  # grown to hold %3
    assert plan.fresh == {4}


def test_traced_results_stay_theirs_across_calls_and_threads():
    """Through tracejit.trace: an output viewing an intermediate, calls from four threads at
    once, each against eager execution; results a call returned are never written again."""
    import tracejit
    import tracejit.nn.functional as F

    def f(x, w):
        h = F.relu(x @ w) + 1
        return h * 2, h.reshape(-1)

    w = tracejit.randn(16, 4)
    xs = [tracejit.randn(8, 16) for _ in range(4)]
    traced = tracejit.trace(f, xs[0], w)
    first = traced(xs[0], w)
    kept = [t.numpy().copy() for t in first]
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker(x) -> None:
        try:
            start.wait()
            want = [t.numpy() for t in f(x, w)]
            for _ in range(20):
                got = traced(x, w)
                for g, e in zip(got, want):
                    np.testing.assert_array_equal(g.numpy(), e)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(x,)) for x in xs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    for t, k in zip(first, kept):
        np.testing.assert_array_equal(t.numpy(), k)


def test_a_call_made_while_another_holds_the_arena_gets_its_own():
    """Re-entry: with the only arena taken (a call in progress), a call builds a second one
    and both go back to the free list."""
    plan = Plan(parse(CHAIN))
    inputs = [sample((64, 32)), sample(32, seed=1)]
    check(plan, inputs)
    held = plan.arenas.pop()
    check(plan, inputs)
    plan.arenas.append(held)
    assert len(plan.arenas) == 2 and any(a is held for a in plan.arenas)


# --- random plans: every op its own step, so buffers are shared as much as they can be -------

SHAPES = [(4, 4), (2, 8), (8, 2)]


@st.composite
def unfused_graphs(draw) -> Graph:
    """Chains and diamonds of exact elementwise ops, views (permute, reshape, slice, expand)
    and matmuls over float32 [4,4], [2,8] and [8,2]; outputs picked among every value (inputs
    and repeats included). No pipeline runs: each op is a step of its own."""
    types = [TensorType(DType.float32, s) for s in SHAPES]
    body = Block.create(types, ["a", "b", "c"])
    values = list(body.args)

    def add(op, operands, attrs=None, keep=True):
        value = body.append(build(op, operands, attrs)).result
        if keep:
            values.append(value)
        return value

    for _ in range(draw(st.integers(3, 14))):
        x = draw(st.sampled_from(values))
        shape = x.type.shape
        kind = draw(st.sampled_from(["unary", "binary", "binary", "view", "matmul"]))
        if kind == "unary":
            add(draw(st.sampled_from([Op.NEG, Op.ABS, Op.RELU, Op.FLOOR])), [x])
        elif kind == "binary":
            y = draw(st.sampled_from([v for v in values if v.type.shape == shape]))
            add(draw(st.sampled_from([Op.ADD, Op.MUL, Op.SUB, Op.MAXIMUM])), [x, y])
        elif kind == "view":
            view = draw(st.sampled_from(["permute", "reshape", "slice", "expand"]))
            if view == "permute":
                add(Op.PERMUTE, [x], {"dims": (1, 0)})
            elif view == "reshape":
                add(Op.RESHAPE, [x], {"shape": draw(st.sampled_from(SHAPES))})
            elif view == "slice" and shape == (4, 4):  # the top half, stretched back to [4,4]
                top = add(Op.SLICE, [x], {"starts": (0, 0), "stops": (1, 4), "steps": (1, 1)},
                          keep=False)
                add(Op.EXPAND, [top], {"shape": (4, 4)})
        elif shape == (4, 4):
            add(Op.MATMUL, [x, draw(st.sampled_from([v for v in values if v.type == x.type]))])
    outs = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3))
    body.append(Operation.create(Op.RETURN, [values[-1], *outs], {}, []))
    return verify(Graph("unfused", body))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=unfused_graphs())
def test_random_unfused_plans_match_the_interpreter_and_keep_their_results(graph):
    plan = Plan(graph)  # TRACEJIT_CHECKS (on in tests) verifies the assignment too
    inputs = [sample(s, seed=k) for k, s in enumerate(SHAPES)]
    first = check(plan, inputs)
    kept = [a.copy() for a in first]
    check(plan, [sample(s, seed=k + 3) for k, s in enumerate(SHAPES)])
    for a, b in zip(first, kept):
        np.testing.assert_array_equal(a, b)
