"""Compiled elementwise kernels against the reference interpreter: every elementwise op of the
op table on every dtype it takes, over broadcast and strided operands (transposed, sliced,
negative strides) and sizes around the thread split.

Tolerances: exact (bit for bit, NaN payloads aside) for every op except the approximated math
functions (exp, expm1, log, log1p, tanh, sigmoid, erf, sin, cos and gelu, silu built on them):
within 1e-5 (float32) / 1e-13 (float64), relative and absolute, which covers their ulp bounds
(docs/math-accuracy.md) and the cancellation in gelu's 1 + t. Float floor division and
remainder call the C library (fmod) as numpy does and are exact; float powers call the C
library's pow/powf, which numpy 2.4's own SIMD power can differ from by an ulp (within 2e-7 /
4e-16). Integer division by zero raises the reference's error; float-to-int casts out of range
give numpy's x86 result. float16 computes in float32 and rounds each result to half, and is
exact too; uint8, int8 and int16 are exact.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest
from test_executor import canonical, one_op_graph

from tracejit.ir import OPS, DType, Op, TensorType
from tracejit.ir.graph import Graph
from tracejit.ir.ops import ELEMENTWISE
from tracejit.ir.parser import parse
from tracejit.passes import run_pipeline
from tracejit.runtime import executor
from tracejit.runtime.eager import interpret
from tracejit.runtime.executor import Plan
from tracejit.runtime.lower import (
    APPROXIMATE,
    LOWERED_DTYPES,
    NotLowerable,
    elementwise_block,
    lowerable,
)

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, 2.5, -2.5, 1e-40, 3e38, 1e30,
           -7.0, 1e10]
DIVISIONS = (Op.FLOOR_DIV, Op.TRUNC_DIV, Op.REMAINDER)
BY_NAME = sorted(ELEMENTWISE, key=lambda op: op.value)


def sample(dtype: DType, shape, seed: int = 0, *, nonzero: bool = False) -> np.ndarray:
    """Values with the edge cases of `dtype` mixed in (NaN, infinities, signed zeros, huge and
    subnormal floats; MIN, MAX, 0 and -1 integers); no zeros when `nonzero`."""
    rng = np.random.default_rng([seed, *shape])
    if dtype is DType.bool:
        return np.asarray(rng.random(shape) < 0.5)
    if dtype.is_floating_point:
        values = np.asarray(rng.standard_normal(shape) * 3)
        special = rng.random(shape) < 0.25
        values[special] = rng.choice(SPECIAL, size=int(special.sum()))
        if dtype is DType.float16:  # half's own edges: its largest and smallest numbers
            edge = rng.random(shape) < 0.1
            values[edge] = rng.choice([65504.0, -65504.0, 6e-8, 6.1e-5, 3e-5], int(edge.sum()))
        with np.errstate(over="ignore"):
            return values.astype(dtype.np)
    info = np.iinfo(dtype.np)
    values = rng.integers(-50, 50, shape).astype(dtype.np)
    edges = np.array([info.min, info.max, 0, -1, 1, info.min + 1]).astype(dtype.np)  # -1 wraps
    pick = rng.random(shape) < 0.15
    values[pick] = rng.choice(edges, size=int(pick.sum()))
    if nonzero:
        values[values == 0] = 3
    return values


def compiled(graph: Graph) -> Plan:
    """The plan of `graph`, every op of which must run as a kernel."""
    plan = Plan(graph)
    for step in plan.steps:
        if step.operation.op is not Op.CONSTANT:
            assert isinstance(step, executor.KernelStep), f"{step.operation.op.value} fell back"
    return plan


def compare(graph: Graph, inputs: list[np.ndarray], rtol: float | None = None) -> None:
    """Compiled vs interpreted: identical bytes (rtol None) or within rtol, with NaNs,
    infinities, dtypes and shapes identical."""
    want = interpret(graph, inputs)
    got = compiled(graph)(inputs)
    for w, g in zip(want, got):
        assert (g.dtype, g.shape) == (w.dtype, w.shape)
        if rtol is None or w.dtype.kind != "f":
            assert canonical(g) == canonical(w), f"differs from the reference on\n{graph}"
        else:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol, equal_nan=True,
                                       err_msg=str(graph))


def rtol_for(op: Op, dtype: DType) -> float | None:
    if op is Op.POW and dtype in (DType.float32, DType.float64):
        return 2e-7 if dtype is DType.float32 else 4e-16
    if op not in APPROXIMATE:
        return None
    return {DType.float16: 1e-3, DType.float32: 1e-5}.get(dtype, 1e-13)


def attrs_for(op: Op, dtype: DType) -> list[dict]:
    if op is Op.CAST:
        return [{"dtype": d} for d in DType]
    if op is Op.ROUND:
        return [{"decimals": d} for d in ((0, 1, 3, -1, 10) if dtype.is_floating_point else (0,))]
    if op is Op.GELU:
        return [{"approximate": "none"}, {"approximate": "tanh"}]
    return [{}]


def operand_types(op: Op, dtype: DType, shapes) -> list[TensorType]:
    arity = OPS[op].arity[0]
    types = [TensorType(dtype, s) for s in (list(shapes) * arity)[:arity]]
    if op is Op.WHERE:
        types[0] = TensorType(DType.bool, types[0].shape)
    return types


def operands(op: Op, types: list[TensorType], layout: str) -> list[np.ndarray]:
    """Inputs of `types`: contiguous, or views with other strides holding the same values."""
    arrays = []
    for k, t in enumerate(types):
        a = sample(t.dtype, t.shape, seed=k, nonzero=op in DIVISIONS and k == 1)
        if op is Op.POW and k == 1 and not t.dtype.is_floating_point:
            a = np.where(np.abs(a) < 70, a, np.int8(5)).astype(t.dtype.np)  # short loops
        if layout == "strided":
            a = [np.asfortranarray(a), np.flip(np.flip(a).copy()), _every_other(a)][k % 3]
        arrays.append(a)
    return arrays


def _every_other(a: np.ndarray) -> np.ndarray:
    if not a.ndim:
        return a
    wide = np.zeros((*a.shape[:-1], 2 * a.shape[-1]), a.dtype)
    wide[..., ::2] = a
    return wide[..., ::2]


ALL_CASES = [(op, dtype) for op in BY_NAME
             for dtype in sorted(OPS[op].dtypes, key=lambda d: d.value)]
CASES = [(op, dtype) for op, dtype in ALL_CASES if dtype in LOWERED_DTYPES]
LAYOUTS = [  # operand shapes broadcasting each way, contiguous; then strided, same shape
    (((3, 1, 4), (5, 4), ()), "contiguous"),
    (((6, 5), (6, 5), (6, 5)), "strided"),
]


def test_every_elementwise_op_has_a_kernel_for_every_dtype_it_takes():
    """Every (op, dtype) the table allows compiles, except the dtypes the backend lists as not
    lowered (lower.LOWERED_DTYPES), which it must refuse by name."""
    for op, dtype in ALL_CASES:
        for attrs in attrs_for(op, dtype):
            graph = one_op_graph(op, operand_types(op, dtype, [(2, 3)]), attrs)
            block = elementwise_block(graph.body.ops[0])
            if dtype in LOWERED_DTYPES and all(a["dtype"] in LOWERED_DTYPES
                                               for a in [attrs] if "dtype" in a):
                lowerable(block)  # raises NotLowerable otherwise
            else:
                with pytest.raises(NotLowerable, match=r"values \(compiled kernels compute in"):
                    lowerable(block)


@pytest.mark.parametrize(("op", "dtype"), CASES, ids=[f"{o.value}-{d.value}" for o, d in CASES])
def test_each_op_matches_the_reference_on_broadcast_and_strided_operands(op, dtype):
    for attrs, (shapes, layout) in itertools.product(attrs_for(op, dtype), LAYOUTS):
        types = operand_types(op, dtype, shapes)
        graph = one_op_graph(op, types, attrs)
        compare(graph, operands(op, types, layout), rtol_for(op, dtype))


@pytest.mark.parametrize("dtype", [DType.uint8, DType.int8, DType.int16, DType.int32,
                                   DType.int64])
def test_integer_division_edge_cases_match_numpy(dtype):
    low = int(np.iinfo(dtype.np).min)  # uint8: 0, and -7, -1, -2 wrap to 249, 255, 254
    x = np.array([low, low, low, 7, -7, 7, -7, 0, 1, -1, low + 1, 6]).astype(dtype.np)
    y = np.array([-1, 1, 3, 2, 2, -2, -2, 5, low, low, -1, 3]).astype(dtype.np)
    y[y == 0] = 9  # uint8's low is 0
    for op in (*DIVISIONS, Op.POW):
        graph = one_op_graph(op, [TensorType(dtype, x.shape)] * 2, {})
        compare(graph, [x, np.abs(y) % 40 if op is Op.POW else y])


@pytest.mark.parametrize("op", DIVISIONS)
def test_integer_division_by_zero_raises_like_the_reference(op):
    graph = one_op_graph(op, [TensorType(DType.int32, (3,))] * 2, {})
    x, y = np.array([1, -2, 3], np.int32), np.array([1, 0, 2], np.int32)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        interpret(graph, [x, y])
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        compiled(graph)([x, y])
    compare(graph, [x, np.array([1, -1, 2], np.int32)])


def test_literal_arrays_inside_a_group_are_read_like_inputs():
    graph = parse("""graph @l(%x: int64[3,2]) -> (int64[3,2]) {
  %0 = fused(%x) : int64[3,2] {
  ^(%1: int64[3,2]):
    %2 = constant() {value = dense<int64[2]: [5, -3]>} : int64[2]
    %3 = constant() {value = dense<int64[3,1]: [1, 0, 2]>} : int64[3,1]
    %4 = mul(%1, %2) : int64[3,2]
    %5 = floor_div(%4, %2) : int64[3,2]
    %6 = add(%5, %3) : int64[3,2]
    yield(%6)
  }
  return(%0)
}
""")
    compare(graph, [np.arange(6).reshape(3, 2)])


def test_a_group_dividing_by_a_literal_holding_zero_raises_like_the_reference():
    graph = parse("""graph @z(%x: int64[2]) -> (int64[2]) {
  %0 = fused(%x) : int64[2] {
  ^(%1: int64[2]):
    %2 = constant() {value = dense<int64[2]: [0, 3]>} : int64[2]
    %3 = remainder(%1, %2) : int64[2]
    yield(%3)
  }
  return(%0)
}
""")
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        compiled(graph)([np.arange(2)])


def test_an_integer_divisor_stays_outside_its_group():
    graph = parse("""graph @d(%a: int32[8], %b: int32[8]) -> (int32[8]) {
  %0 = constant() {value = dense<int32[]: 1>} : int32[]
  %1 = add(%b, %0) : int32[8]
  %2 = mul(%a, %a) : int32[8]
  %3 = floor_div(%2, %1) : int32[8]
  %4 = neg(%3) : int32[8]
  return(%4)
}
""")
    graph = run_pipeline(graph)
    fused = [o for o in graph.body.ops if o.op is Op.FUSED]
    assert [sorted(i.op.value for i in f.blocks[0].ops) for f in fused] == [
        ["floor_div", "mul", "neg", "yield"]]  # b + 1 runs first, then is checked for zeros
    a, b = np.arange(8, dtype=np.int32) - 3, np.arange(8, dtype=np.int32)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        compiled(graph)([a, b - 1])
    compare(graph, [a, b])


def test_float_to_int_casts_of_nan_infinities_and_out_of_range_values_never_trap():
    x = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, 1e19, -1e19, 2.5, -2.5, 2**31 - 128,
                  -(2.0**31), 2.0**63, -(2.0**63)], np.float64)
    for src, dst in itertools.product((DType.float32, DType.float64), (DType.int32, DType.int64)):
        graph = one_op_graph(Op.CAST, [TensorType(src, x.shape)], {"dtype": dst})
        compare(graph, [x.astype(src.np)])  # numpy on x86: the minimum integer out of range


CHAIN = """graph @chain(%x: float32[{n},{m}], %y: float32[{m}], %i: int32[{n},{m}])
    -> (float32[{n},{m}], int32[{n},{m}]) {{
  %0, %1 = fused(%x, %y, %i) : float32[{n},{m}], int32[{n},{m}] {{
  ^(%2: float32[{n},{m}], %3: float32[{m}], %4: int32[{n},{m}]):
    %5 = sin(%2) : float32[{n},{m}]
    %6 = floor_div(%2, %3) : float32[{n},{m}]
    %7 = round(%6) {{decimals = 1}} : float32[{n},{m}]
    %8 = gt(%5, %7) : bool[{n},{m}]
    %9 = cos(%3) : float32[{m}]
    %10 = where(%8, %9, %7) : float32[{n},{m}]
    %11 = cast(%10) {{dtype = int32}} : int32[{n},{m}]
    %12 = constant() {{value = dense<int32[]: 7>}} : int32[]
    %13 = remainder(%11, %12) : int32[{n},{m}]
    %14 = sign(%4) : int32[{n},{m}]
    %15 = pow(%13, %14) : int32[{n},{m}]
    %16 = bitwise_xor(%15, %4) : int32[{n},{m}]
    yield(%10, %16)
  }}
  return(%0, %1)
}}
"""


@pytest.mark.parametrize(("n", "m"), [(3, 7), (511, 256), (512, 256), (513, 257)])
def test_a_mixed_chain_around_the_thread_split_on_strided_operands(n, m):
    graph = parse(CHAIN.format(n=n, m=m))
    x = sample(DType.float32, (n, 2 * m))[::-1, ::2]  # negative and doubled strides
    y = sample(DType.float32, (m,), seed=1)
    i = np.asfortranarray(sample(DType.int32, (n, m), seed=2))
    compare(graph, [x, y, i], rtol=1e-5)


TRACED = {  # torch-style functions whose every op compiles
    "trig": lambda x, y: x.sin() * y.cos() + (x * 3).round() / 3,
    "division": lambda x, y: (x // y) + (x % y) + x.trunc().sign(),
    "logic": lambda x, y: ((x > y) & ~(x < 0)) | (y == 0),
}


def test_traced_functions_of_lowered_ops_log_no_fallback(caplog):
    import tracejit

    x = tracejit.tensor(sample(DType.float32, (16, 8)))
    y = tracejit.tensor(sample(DType.float32, (16, 8), seed=1))
    executor._warned.clear()
    with caplog.at_level(logging.WARNING, logger="tracejit.fallback"):
        for fn in TRACED.values():
            traced = tracejit.trace(fn, x, y)
            want, got = fn(x, y).numpy(), traced(x, y).numpy()
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, equal_nan=True)
    assert [r.getMessage() for r in caplog.records] == []


def test_a_dtype_left_out_of_lowered_dtypes_falls_back_loudly_and_once(monkeypatch, caplog):
    """LOWERED_DTYPES is the backend's one list: a dtype outside it runs the reference code,
    with one warning naming it, and the same numbers."""
    from tracejit.runtime import lower

    monkeypatch.setattr(lower, "LOWERED_DTYPES", lower.LOWERED_DTYPES - {DType.float16})
    graph = one_op_graph(Op.MUL, [TensorType(DType.float16, (4,))] * 2, {})
    with pytest.raises(lower.NotLowerable, match="float16 values"):
        lowerable(elementwise_block(graph.body.ops[0]))
    x = np.linspace(-2, 2, 4).astype(np.float16)
    executor._warned.clear()
    with caplog.at_level(logging.WARNING, logger="tracejit.fallback"):
        for _ in range(2):
            got = Plan(graph)([x, x])[0]
    assert got.tobytes() == interpret(graph, [x, x])[0].tobytes()
    warned = [r.getMessage() for r in caplog.records if "float16 values" in r.getMessage()]
    assert len(warned) == 1, warned


def test_maximum_minimum_and_relu_keep_numpy_signed_zeros_and_nans():
    """numpy returns the second operand of equal values (max(-0.0, 0.0) is 0.0, max(0.0, -0.0)
    is -0.0), and NaN from either side."""
    x = np.array([np.nan, 1, np.nan, -0.0, 0.0, -0.0, 2], np.float32)
    y = np.array([1, np.nan, np.nan, 0.0, -0.0, -0.0, 3], np.float32)
    for op in (Op.MAXIMUM, Op.MINIMUM):
        compare(one_op_graph(op, [TensorType(DType.float32, (7,))] * 2, {}), [x, y])
    compare(one_op_graph(Op.RELU, [TensorType(DType.float32, (7,))], {}), [x])


@pytest.mark.parametrize("dtype", [DType.float32, DType.float64], ids=lambda d: d.value)
def test_sin_and_cos_kernels_switch_reductions_per_chunk(dtype):
    """Chunks of small arguments take the short-range reduction, a chunk with one large
    argument the full one: all within the ulp bounds of docs/math-accuracy.md (2 for float32,
    3 for float64) of numpy in a wider type."""
    from tracejit.runtime.lower import CHUNK

    x = np.random.default_rng(1).uniform(-20, 20, 4 * CHUNK + 5)
    x[2 * CHUNK + 7] = 1e30
    x[3 * CHUNK + 1] = np.inf
    wide = np.float64 if dtype is DType.float32 else np.longdouble
    for op, reference in ((Op.SIN, np.sin), (Op.COS, np.cos)):
        graph = one_op_graph(op, [TensorType(dtype, x.shape)], {})
        got = compiled(graph)([x.astype(dtype.np)])[0]
        with np.errstate(invalid="ignore"):
            want = reference(x.astype(dtype.np).astype(wide))
        assert np.array_equal(np.isnan(got), np.isnan(want))
        ok = ~np.isnan(want)
        ulps = np.abs(got[ok] - want[ok]) / np.spacing(np.abs(want[ok]).astype(dtype.np))
        assert ulps.max() <= (2 if dtype is DType.float32 else 3)
