"""The compiled backend against the reference interpreter: every op with a converter, on every
dtype it takes, over broadcast and strided (transposed, sliced) operands and sizes around the
thread split; fused groups; layout guards; and the fallback for what has no kernel yet.

Elementwise kernels carry no fast-math flags, so they must match the interpreter bit for bit
(NaN payloads aside) for every converter, except the approximated math functions (exp, log,
tanh, sigmoid, erf, ... and gelu, silu built on them): within 1e-5 (float32) / 1e-13 (float64),
relative and absolute."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

from tracejit.ir import OPS, DType, Op, TensorType, complete_attrs, infer_types
from tracejit.ir.graph import Block, Graph, Operation
from tracejit.ir.parser import parse
from tracejit.runtime import executor
from tracejit.runtime.eager import interpret
from tracejit.runtime.executor import Plan
from tracejit.runtime.lower import APPROXIMATE, CONVERTER_DTYPES, CONVERTERS

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, 1e-40, 3e38, -2.5, 7.0]


def sample(dtype: DType, shape, seed: int = 0) -> np.ndarray:
    return _sample(dtype, (int(np.prod(shape)),), seed).reshape(shape)


def _sample(dtype: DType, shape, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, *shape])
    if dtype is DType.bool:
        return rng.random(shape) < 0.5
    if dtype.is_floating_point:
        values = rng.standard_normal(shape) * 3
        special = rng.random(shape) < 0.2
        values[special] = rng.choice(SPECIAL, size=int(special.sum()))
        with np.errstate(over="ignore"):  # float16: large values become infinities
            return values.astype(dtype.np)
    info = np.iinfo(dtype.np)
    edges = np.array([info.min, info.max, 0, -1, 1]).astype(dtype.np)  # uint8: -1 wraps
    values = rng.integers(-50, 50, shape).astype(dtype.np)
    pick = rng.random(shape) < 0.1
    values[pick] = rng.choice(edges, size=int(pick.sum()))
    return values


def canonical(array: np.ndarray) -> bytes:
    if array.dtype.kind == "f":
        array = np.where(np.isnan(array), np.nan, array).astype(array.dtype)
    return array.dtype.str.encode() + repr(array.shape).encode() + array.tobytes()


def one_op_graph(op: Op, types: list[TensorType], attrs: dict) -> Graph:
    body = Block.create(types, [f"x{k}" for k in range(len(types))])
    attrs = complete_attrs(op, attrs)
    result = infer_types(op, types, attrs)
    operation = body.append(Operation.create(op, body.args, attrs, result))
    body.append(Operation.create(Op.RETURN, operation.results, {}, []))
    return Graph("one", body)


def check(graph: Graph, inputs: list[np.ndarray]) -> None:
    """Identical results, or the same error (integer division by zero raises in both)."""
    try:
        want = [canonical(a) for a in interpret(graph, inputs)]
    except RuntimeError as e:
        with pytest.raises(type(e), match=str(e)):
            Plan(graph)(inputs)
        return
    got = [canonical(a) for a in Plan(graph)(inputs)]
    assert got == want, f"compiled differs from the reference on\n{graph}"


# uint8, int8, int16 and float16 run in test_kernels_elementwise.py only (over more layouts)
SMALL = frozenset({DType.uint8, DType.int8, DType.int16, DType.float16})


def dtypes_for(op: Op) -> list[DType]:
    allowed = CONVERTER_DTYPES.get(op, frozenset(DType)) & OPS[op].dtypes - SMALL
    return sorted(allowed, key=lambda d: d.value)


def attrs_for(op: Op, dtype: DType) -> list[dict]:
    if op is Op.CAST:
        return [{"dtype": d} for d in DType if not (dtype.is_floating_point and
                                                     d in (DType.int32, DType.int64))]
    return [{}]


CASES = [(op, dtype) for op in sorted(CONVERTERS, key=lambda o: o.value)
         for dtype in dtypes_for(op)]
SHAPES = [  # operand shapes: broadcasting in each direction, and 0-d operands
    ((2, 3, 4), (4,)), ((4, 1), (1, 6)), ((), (2, 3))]


@pytest.mark.parametrize(("op", "dtype"), CASES, ids=[f"{o.value}-{d.value}" for o, d in CASES])
def test_every_converter_matches_the_interpreter(op, dtype):
    arity = OPS[op].arity[0]
    for attrs in attrs_for(op, dtype):
        for shapes in SHAPES:
            shapes = (list(shapes) * arity)[:arity]
            if op is Op.WHERE:
                types = [TensorType(DType.bool, shapes[0])] + [
                    TensorType(dtype, s) for s in shapes[1:]]
            else:
                types = [TensorType(dtype, s) for s in shapes]
            try:
                graph = one_op_graph(op, types, attrs)
            except (TypeError, RuntimeError, ValueError):
                continue  # shapes this op does not take
            inputs = [sample(t.dtype, t.shape, seed=k) for k, t in enumerate(types)]
            if op in APPROXIMATE:  # a few ulps (docs/math-accuracy.md), more where 1+t cancels
                close(graph, inputs, rtol={DType.float16: 1e-3, DType.float32: 1e-5}.get(
                    dtype, 1e-13))
            elif op is Op.POW and dtype in (DType.float32, DType.float64):
                close(graph, inputs, rtol=4e-16 if dtype is DType.float64 else 2e-7)  # numpy
                # 2.4's SIMD power and the C library's pow differ by an ulp
            else:
                check(graph, inputs)


GROUP = (  # an elementwise group with a row and a column broadcast, and two outputs
    "graph @g(%x: float32[{n},{m}], %a: float32[{m}], %b: float32[{n},1]) "
    "-> (float32[{n},{m}], bool[{n},{m}]) {{\n") + """\
  %0, %1 = fused(%x, %a, %b) : float32[{n},{m}], bool[{n},{m}] {{
  ^(%2: float32[{n},{m}], %3: float32[{m}], %4: float32[{n},1]):
    %5 = mul(%2, %3) : float32[{n},{m}]
    %6 = add(%5, %4) : float32[{n},{m}]
    %7 = relu(%6) : float32[{n},{m}]
    %8 = constant() {{value = dense<float32[]: 0.5>}} : float32[]
    %9 = maximum(%7, %8) : float32[{n},{m}]
    %10 = gt(%6, %8) : bool[{n},{m}]
    yield(%9, %10)
  }}
  return(%0, %1)
}}
"""


@pytest.mark.parametrize(("n", "m"), [(1, 1), (3, 7), (511, 256), (512, 256), (513, 257)])
def test_fused_group_around_the_thread_split(n, m):
    graph = parse(GROUP.format(n=n, m=m))
    inputs = [sample(DType.float32, s, seed=k) for k, s in enumerate([(n, m), (m,), (n, 1)])]
    assert n * m < executor.PARALLEL_MIN or n > 1  # sizes on both sides of the split
    check(graph, inputs)


def test_strided_operands_recompile_and_match():
    graph = parse(GROUP.format(n=6, m=6))
    base = sample(DType.float32, (6, 12))
    plan = Plan(graph)
    for x in (base[:, :6].copy(), base[:, ::2], base[:, :6].T, base[:, 6:]):
        inputs = [x, sample(DType.float32, (6,)), sample(DType.float32, (6, 1))]
        want = [canonical(a) for a in interpret(graph, inputs)]
        assert [canonical(a) for a in plan(inputs)] == want
    kernels = {k for k in executor._KERNELS if k[0] == plan.steps[0].text}
    assert len(kernels) >= 3  # contiguous, every other column, transposed (sliced = contiguous)


def test_inputs_that_do_not_match_the_graph_are_refused():
    graph = parse(GROUP.format(n=2, m=3))
    plan = Plan(graph)
    bad = [np.zeros((2, 4), np.float32), np.zeros(3, np.float32), np.zeros((2, 1), np.float32)]
    with pytest.raises(TypeError, match=r"%x must be float32\[2,3\], got float32\[2,4\]"):
        plan(bad)


def test_ops_without_a_kernel_fall_back_and_say_so_once(caplog):
    text = """graph @r(%x: float32[4,8]) -> (float32[4]) {
  %0 = log_softmax(%x) {dim = 1} : float32[4,8]
  %1 = sum(%0) {dims = [1], keepdim = false} : float32[4]
  return(%1)
}
"""
    graph = parse(text)
    executor._warned.discard("log_softmax")
    with caplog.at_level(logging.WARNING, logger="tracejit.fallback"):
        Plan(graph)
        Plan(graph)
    messages = [r.getMessage() for r in caplog.records if "log_softmax" in r.getMessage()]
    assert messages == [
        "no compiled kernel for log_softmax yet: it runs the reference numpy code"]
    x = sample(DType.float32, (4, 8))
    close(graph, [x], rtol=1e-6)  # the sum compiles: rounding may differ


# --- row-wise groups: reductions over trailing dims, with prologue and epilogue ---------------

def close(graph: Graph, inputs: list[np.ndarray], rtol: float) -> None:
    """Compiled within `rtol` of the reference (sums accumulate in another order), with NaNs,
    infinities and dtypes identical."""
    want, got = interpret(graph, inputs), Plan(graph)(inputs)
    for w, g in zip(want, got):
        assert w.dtype == g.dtype and w.shape == g.shape
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol, equal_nan=True)
        else:
            np.testing.assert_array_equal(g, w)


ROWS = """graph @rows(%x: {t}[{shape}], %w: {t}[{last}])
    -> ({t}[{row}], {t}[{keep}], {t}[{shape}]) {{
  %0, %1, %2 = fused(%x, %w) : {t}[{row}], {t}[{keep}], {t}[{shape}] {{
  ^(%3: {t}[{shape}], %4: {t}[{last}]):
    %5 = mul(%3, %4) : {t}[{shape}]
    %6 = {reduce}(%5) {{dims = {dims}, keepdim = false}} : {t}[{row}]
    %7 = {reduce}(%3) {{dims = {dims}, keepdim = true}} : {t}[{keep}]
    %8 = sub(%5, %7) : {t}[{shape}]
    yield(%6, %7, %8)
  }}
  return(%0, %1, %2)
}}
"""


# integer sums widen to int64, so they are not same-dtype groups: tested on their own below
ROW_CASES = [(r, t) for r in ("sum", "mean", "amax", "amin")
             for t in ("float32", "float64", "int32", "int64")
             if not (r in ("sum", "mean") and t.startswith("int"))]


@pytest.mark.parametrize(("reduce", "dtype"), ROW_CASES)
@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 4), (1, 1), (700, 300)])
def test_row_groups_match_the_reference(reduce, dtype, shape):
    dims = [len(shape) - 1]
    row, keep = shape[:-1], (*shape[:-1], 1)
    fmt = lambda s: ",".join(map(str, s))  # noqa: E731
    graph = parse(ROWS.format(t=dtype, shape=fmt(shape), last=shape[-1], row=fmt(row),
                              keep=fmt(keep), reduce=reduce, dims=dims))
    d = DType(dtype)
    close(graph, [sample(d, shape), sample(d, (shape[-1],), seed=1)],
          rtol=1e-5 if dtype == "float32" else 1e-12)


def test_integer_sums_widen_and_match_exactly():
    text = """graph @s(%x: int32[4,9], %b: bool[4,9]) -> (int64[4], int64[4,1]) {
  %0 = sum(%x) {dims = [1], keepdim = false} : int64[4]
  %1 = sum(%b) {dims = [1], keepdim = true} : int64[4,1]
  return(%0, %1)
}
"""
    graph = parse(text)
    check(graph, [sample(DType.int32, (4, 9)), sample(DType.bool, (4, 9), seed=2)])


def test_amax_propagates_nan_like_numpy():
    graph = parse("""graph @m(%x: float32[3,4]) -> (float32[3]) {
  %0 = amax(%x) {dims = [1], keepdim = false} : float32[3]
  return(%0)
}
""")
    x = np.array([[1, np.nan, 3, 2], [-np.inf, -1, -2, -3], [np.nan] * 4], np.float32)
    check(graph, [x])


def test_reductions_over_leading_dims_compile():
    graph = parse("""graph @c(%x: float32[5,6]) -> (float32[6]) {
  %0 = sum(%x) {dims = [0], keepdim = false} : float32[6]
  return(%0)
}
""")
    plan = Plan(graph)
    assert isinstance(plan.steps[0], executor.KernelStep)  # tests/runtime/test_kernels_*.py
    close(graph, [sample(DType.float32, (5, 6))], rtol=1e-6)


# --- the compile cache, across processes --------------------------------------------------------

LOAD = """
import sys
import numpy as np
from tracejit.ir.parser import parse
from tracejit.runtime import jit
from tracejit.runtime.executor import Plan
graph = parse(sys.stdin.read())
x = np.arange(12, dtype=np.float32).reshape(3, 4)
out = Plan(graph)([x, np.ones(4, np.float32), np.ones((3, 1), np.float32)])
print(jit.engine().stats["compiled"], jit.engine().stats["loaded"], float(out[0].sum()))
"""


def test_a_kernel_compiled_in_one_process_loads_from_disk_in_the_next(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "TRACEJIT_CACHE_DIR": str(tmp_path)}
    text = GROUP.format(n=3, m=4)
    runs = [subprocess.run([sys.executable, "-c", LOAD], input=text, capture_output=True,
                           text=True, env=env, timeout=120) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    first, second = (r.stdout.split() for r in runs)
    assert first[:2] == ["1", "0"] and second[:2] == ["0", "1"]  # compiled, then loaded
    assert first[2] == second[2]
    assert any(p.suffix == ".tjc" for p in tmp_path.iterdir())


def test_a_row_value_used_twice_by_one_op():
    """Regression (found by test_plan_properties): div(%e, %e) on a row value was skipped."""
    graph = parse("""graph @r(%x: float32[3,4]) -> (float32[3,1]) {
  %0 = fused(%x) : float32[3,1] {
  ^(%1: float32[3,4]):
    %2 = amax(%1) {dims = [1], keepdim = true} : float32[3,1]
    %3 = div(%2, %2) : float32[3,1]
    yield(%3)
  }
  return(%0)
}
""")
    close(graph, [sample(DType.float32, (3, 4))], rtol=1e-6)


def test_kernel_threads_follow_affinity_and_the_environment():
    from tracejit.runtime.executor import kernel_threads

    assert kernel_threads({}) == len(os.sched_getaffinity(0))
    assert kernel_threads({"TRACEJIT_NUM_THREADS": "3"}) == 3
    assert kernel_threads({"TRACEJIT_NUM_THREADS": "0"}) == 1
    with pytest.warns(UserWarning, match="TRACEJIT_NUM_THREADS='many' is not an integer"):
        assert kernel_threads({"TRACEJIT_NUM_THREADS": "many"}) == len(os.sched_getaffinity(0))
