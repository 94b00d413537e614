"""Every simplify rule on its own. Each EXACT rule fires on a parsed graph, rewrites it as its
comment says (the expected IR below is written from that comment), and the reference
interpreter gives bit-identical results before and after on inputs full of special values.
Each FAST_MATH rule fires only with `Options(fast_math=True)`, and a concrete input shows the
result it changes: this pins down what the fast-math setting gives up."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from string import Template

import numpy as np
import pytest

from tracejit.ir import Op
from tracejit.ir.graph import Graph
from tracejit.ir.parser import parse
from tracejit.ir.verifier import verify
from tracejit.passes import PASSES, Options
from tracejit.passes.rewrite import apply_rules
from tracejit.passes.simplify import EXACT, FAST_MATH
from tracejit.runtime.eager import interpret

FLOATS = ("float32", "float64")
INTS = ("int32", "int64")
NUMERIC = FLOATS + INTS
ALL = (*NUMERIC, "bool")


# --- inputs full of special values ----------------------------------------------------------------
def nan_with_bits(dtype: np.dtype, sign: int, payload: int) -> np.ndarray:
    """A quiet NaN with the given sign bit and payload, built from its bits."""
    bits = 8 * dtype.itemsize
    mantissa = np.finfo(dtype).nmant
    word = (sign << (bits - 1)) | (((1 << (bits - 1 - mantissa)) - 1) << mantissa)
    word |= (1 << (mantissa - 1)) | payload  # the quiet bit, then the payload
    return np.array([word], f"u{dtype.itemsize}").view(dtype)


def special_values(dtype: str) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return np.array([True, False, False, True, True, True, False])
    if dt.kind == "i":
        info = np.iinfo(dt)
        root = int(np.sqrt(float(info.max))) + 1  # root * root overflows
        return np.array([0, 1, -1, 2, -2, 7, -7, root, -root, info.min, info.max, info.min + 1,
                         info.max - 1, 1 << 16, -(1 << 16), 123456], dt)
    fi = np.finfo(dt)
    nans = [nan_with_bits(dt, 0, 0), nan_with_bits(dt, 1, 0), nan_with_bits(dt, 0, 5),
            nan_with_bits(dt, 1, 77)]
    numbers = np.array([np.inf, -np.inf, 0.0, -0.0, fi.smallest_subnormal,
                        -fi.smallest_subnormal, fi.tiny - fi.smallest_subnormal, fi.tiny,
                        -fi.tiny, fi.max, -fi.max, 1.0, -1.0, 0.5, -2.5, 3.0, 0.1, -7.25, 1e30,
                        -1e-30, 65504.0, -3e38 if dt == np.float32 else -1e300], dt)
    return np.concatenate([*nans, numbers])


def inputs_for(graph: Graph) -> list[np.ndarray]:
    return [np.resize(special_values(v.type.dtype.value), v.type.shape) for v in graph.inputs]


def bits(array: np.ndarray, nan_sign: bool = True) -> bytes:
    """The exact bytes of `array`; with `nan_sign=False` every NaN's sign bit is cleared."""
    array = np.asarray(array)
    if not nan_sign and array.dtype.kind == "f":
        array = np.where(np.isnan(array), np.abs(array), array)
    return array.dtype.str.encode() + str(array.shape).encode() + array.tobytes()


# --- cases ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """`key` is 'op:rule'. `before` and `after` are graph bodies (`$t` stands for the dtype):
    `after` is the body once the rule has run and dead ops are gone."""

    key: str
    args: str
    results: str
    before: str
    after: str
    dtypes: tuple[str, ...]

    def text(self, body: str, dtype: str) -> str:
        lines = "".join(f"  {line.strip()}\n" for line in body.strip().splitlines())
        text = f"graph @g({self.args}) -> ({self.results}) {{\n{lines}}}\n"
        return Template(text).substitute(t=dtype)


X = "%x: $t[24]"
T = "$t[24]"


def unary_twice(op: str, dtypes=NUMERIC) -> Case:
    """f(f(x)) -> f(x)."""
    return Case(f"{op}:{op}_{op}", X, T, f"""
        %0 = {op}(%x) : $t[24]
        %1 = {op}(%0) : $t[24]
        return(%1)
    """, f"""
        %0 = {op}(%x) : $t[24]
        return(%0)
    """, dtypes)


def with_constant(key: str, value: str, op_lines: str, after: str, dtypes, results=T) -> Case:
    return Case(key, X, results, f"%c = constant() {{value = dense<$t[]: {value}>}} : $t[]\n"
                + op_lines, after, dtypes)


EXACT_CASES = [
    # x + (-0.0) -> x, both ways round; integers and bools: x + 0 -> x
    with_constant("add:add_zero", "-0.0", """
        %0 = add(%x, %c) : $t[24]
        %1 = add(%c, %x) : $t[24]
        return(%0, %1)
    """, "return(%x, %x)", FLOATS, results=f"{T}, {T}"),
    with_constant("add:add_zero", "0", """
        %0 = add(%x, %c) : $t[24]
        %1 = add(%c, %x) : $t[24]
        return(%0, %1)
    """, "return(%x, %x)", INTS, results=f"{T}, {T}"),
    with_constant("add:add_zero", "false", """
        %0 = add(%x, %c) : $t[24]
        return(%0)
    """, "return(%x)", ("bool",)),
    # x - 0 -> x (+0.0 for floats)
    with_constant("sub:sub_zero", "0.0", """
        %0 = sub(%x, %c) : $t[24]
        return(%0)
    """, "return(%x)", FLOATS),
    with_constant("sub:sub_zero", "0", """
        %0 = sub(%x, %c) : $t[24]
        return(%0)
    """, "return(%x)", INTS),
    # x * 1 -> x, 1 * x -> x
    with_constant("mul:mul_one", "1", """
        %0 = mul(%x, %c) : $t[24]
        %1 = mul(%c, %x) : $t[24]
        return(%0, %1)
    """, "return(%x, %x)", NUMERIC, results=f"{T}, {T}"),
    with_constant("mul:mul_one", "true", """
        %0 = mul(%x, %c) : $t[24]
        return(%0)
    """, "return(%x)", ("bool",)),
    # x * -1 -> -x
    with_constant("mul:mul_minus_one", "-1", """
        %0 = mul(%x, %c) : $t[24]
        return(%0)
    """, """
        %0 = neg(%x) : $t[24]
        return(%0)
    """, NUMERIC),
    # x / 1 -> x
    with_constant("div:div_one", "1.0", """
        %0 = div(%x, %c) : $t[24]
        return(%0)
    """, "return(%x)", FLOATS),
    # x / 2^k -> x * 2^-k
    with_constant("div:div_power_of_two", "4.0", """
        %0 = div(%x, %c) : $t[24]
        return(%0)
    """, """
        %1 = constant() {value = dense<$t[]: 0.25>} : $t[]
        %2 = mul(%x, %1) : $t[24]
        return(%2)
    """, FLOATS),
    with_constant("div:div_power_of_two", "-0.5", """
        %0 = div(%x, %c) : $t[24]
        return(%0)
    """, """
        %1 = constant() {value = dense<$t[]: -2.0>} : $t[]
        %2 = mul(%x, %1) : $t[24]
        return(%2)
    """, FLOATS),
    with_constant("div:div_power_of_two", "9.5367431640625e-07", """
        %0 = div(%x, %c) : $t[24]
        return(%0)
    """, """
        %1 = constant() {value = dense<$t[]: 1048576.0>} : $t[]
        %2 = mul(%x, %1) : $t[24]
        return(%2)
    """, FLOATS),
    # x ** 1 -> x
    with_constant("pow:pow_one", "1", """
        %0 = pow(%x, %c) : $t[24]
        return(%0)
    """, "return(%x)", NUMERIC),
    # x ** 2 -> x * x
    with_constant("pow:pow_two", "2", """
        %0 = pow(%x, %c) : $t[24]
        return(%0)
    """, """
        %0 = mul(%x, %x) : $t[24]
        return(%0)
    """, NUMERIC),
    # f(f(x)) -> x for f = neg, logical_not on bool
    Case("neg:neg_neg", X, T, """
        %0 = neg(%x) : $t[24]
        %1 = neg(%0) : $t[24]
        return(%1)
    """, "return(%x)", NUMERIC),
    Case("logical_not:logical_not_logical_not", X, T, """
        %0 = logical_not(%x) : $t[24]
        %1 = logical_not(%0) : $t[24]
        return(%1)
    """, "return(%x)", ("bool",)),
    # f(f(x)) -> f(x) for f = relu, abs, floor, ceil, trunc
    *(unary_twice(op) for op in ("abs", "relu", "floor", "ceil", "trunc")),
    # |-x| -> |x|
    Case("abs:abs_neg", X, T, """
        %0 = neg(%x) : $t[24]
        %1 = abs(%0) : $t[24]
        return(%1)
    """, """
        %0 = abs(%x) : $t[24]
        return(%0)
    """, NUMERIC),
    # cast/reshape/expand/permute/slice that changes nothing -> x
    Case("cast:identity_view", X, T, """
        %0 = cast(%x) {dtype = $t} : $t[24]
        return(%0)
    """, "return(%x)", ALL),
    Case("reshape:identity_view", X, T, """
        %0 = reshape(%x) {shape = [24]} : $t[24]
        return(%0)
    """, "return(%x)", ALL),
    Case("expand:identity_view", X, T, """
        %0 = expand(%x) {shape = [24]} : $t[24]
        return(%0)
    """, "return(%x)", ALL),
    Case("permute:identity_view", "%x: $t[4,6]", "$t[4,6]", """
        %0 = permute(%x) {dims = [0, 1]} : $t[4,6]
        return(%0)
    """, "return(%x)", ALL),
    Case("slice:identity_view", X, T, """
        %0 = slice(%x) {starts = [0], stops = [24], steps = [1]} : $t[24]
        return(%0)
    """, "return(%x)", ALL),
    # reshape(reshape(x)) -> reshape(x)
    Case("reshape:reshape_reshape", X, "$t[2,3,4]", """
        %0 = reshape(%x) {shape = [4, 6]} : $t[4,6]
        %1 = reshape(%0) {shape = [2, 3, 4]} : $t[2,3,4]
        return(%1)
    """, """
        %0 = reshape(%x) {shape = [2, 3, 4]} : $t[2,3,4]
        return(%0)
    """, ALL),
    # permute(permute(x, p), q) -> permute(x, p[q]): p = [1,0,2], q = [2,0,1], p[q] = [2,1,0]
    Case("permute:permute_permute", "%x: $t[2,3,4]", "$t[4,3,2]", """
        %0 = permute(%x) {dims = [1, 0, 2]} : $t[3,2,4]
        %1 = permute(%0) {dims = [2, 0, 1]} : $t[4,3,2]
        return(%1)
    """, """
        %0 = permute(%x) {dims = [2, 1, 0]} : $t[4,3,2]
        return(%0)
    """, ALL),
    # where(c, x, x) -> x
    Case("where:where_same", "%k: bool[24], %x: $t[24]", T, """
        %0 = where(%k, %x, %x) : $t[24]
        return(%0)
    """, "return(%x)", ALL),
]

# IEEE 754 (section 6.3) does not specify the sign of a NaN that multiplication returns: numpy
# (and x86) keep the NaN operand's sign, while neg flips it. Everything else is bit for bit.
NAN_SIGN_MAY_DIFFER = {"mul:mul_minus_one"}


def rule_named(table, key: str):
    op, name = key.split(":")
    (rule,) = [r for r in table[Op(op)] if r.__name__ == name]
    return Op(op), rule


def rule_keys(table) -> set[str]:
    return {f"{op.value}:{rule.__name__}" for op, rules in table.items() for rule in rules}


def exact_params():
    for case in EXACT_CASES:
        for dtype in case.dtypes:
            yield pytest.param(case, dtype, id=f"{case.key}-{dtype}")


def test_every_exact_rule_has_a_case():
    assert {c.key for c in EXACT_CASES} == rule_keys(EXACT)


def canonical(text: str) -> str:
    """`text` as the printer writes it (value numbering, number spelling)."""
    return str(verify(parse(text)))


@pytest.mark.parametrize("case, dtype", list(exact_params()))
def test_exact_rule(case: Case, dtype: str):
    op, rule = rule_named(EXACT, case.key)
    before = verify(parse(case.text(case.before, dtype)))
    graph = verify(parse(case.text(case.before, dtype)))
    assert apply_rules(graph, {op: [rule]})
    PASSES["dce"](graph, Options())
    assert str(verify(graph)) == canonical(case.text(case.after, dtype))

    inputs = inputs_for(before)
    nan_sign = case.key not in NAN_SIGN_MAY_DIFFER
    want = [bits(a, nan_sign) for a in interpret(before, inputs)]
    assert [bits(a, nan_sign) for a in interpret(graph, inputs)] == want


def test_exact_rules_keep_every_bit_through_the_whole_pass():
    # all EXACT cases at once through the simplify pass, as a pipeline runs them
    for case in EXACT_CASES:
        for dtype in case.dtypes:
            before = verify(parse(case.text(case.before, dtype)))
            graph = verify(parse(case.text(case.before, dtype)))
            assert PASSES["simplify"](graph, Options()), case.key
            inputs = inputs_for(before)
            nan_sign = case.key not in NAN_SIGN_MAY_DIFFER
            want = [bits(a, nan_sign) for a in interpret(before, inputs)]
            assert [bits(a, nan_sign) for a in interpret(graph, inputs)] == want, case.key


def test_mul_minus_one_changes_nothing_but_the_sign_of_nan():
    # the one liberty EXACT takes: -x and x * -1 differ at most in a NaN's sign bit
    x = special_values("float64")
    assert bits(-x, nan_sign=False) == bits(x * -1.0, nan_sign=False)
    numbers = ~np.isnan(x)
    assert bits((-x)[numbers]) == bits((x * -1.0)[numbers])


# --- where EXACT rules must not fire --------------------------------------------------------------
NOT_EXACT = {
    # -0.0 + 0.0 is +0.0, so x + 0.0 is not x
    "float x + 0.0": ("%x: float32[24]", "float32[24]", """
        %c = constant() {value = dense<float32[]: 0.0>} : float32[]
        %0 = add(%x, %c) : float32[24]
    """),
    # x - (-0.0) is x + 0.0
    "float x - (-0.0)": ("%x: float32[24]", "float32[24]", """
        %c = constant() {value = dense<float32[]: -0.0>} : float32[]
        %0 = sub(%x, %c) : float32[24]
    """),
    # 1/3 is not exact
    "x / 3": ("%x: float32[24]", "float32[24]", """
        %c = constant() {value = dense<float32[]: 3.0>} : float32[]
        %0 = div(%x, %c) : float32[24]
    """),
    # 2^-149 is a power of two, but 2^149 overflows float32
    "x / 2^-149": ("%x: float32[24]", "float32[24]", """
        %c = constant() {value = dense<float32[]: 1e-45>} : float32[]
        %0 = div(%x, %c) : float32[24]
    """),
    "x / 0": ("%x: float32[24]", "float32[24]", """
        %c = constant() {value = dense<float32[]: 0.0>} : float32[]
        %0 = div(%x, %c) : float32[24]
    """),
    "x / inf": ("%x: float32[24]", "float32[24]", """
        %c = constant() {value = dense<float32[]: inf>} : float32[]
        %0 = div(%x, %c) : float32[24]
    """),
    # the result broadcasts to [2,24]: x alone has the wrong type
    "x * ones[2,24]": ("%x: float32[24]", "float32[2,24]", """
        %c = constant() {value = dense<float32[2,24]: 1.0>} : float32[2,24]
        %0 = mul(%x, %c) : float32[2,24]
    """),
    # not(not(x)) is a bool, x a float
    "not(not(float x))": ("%x: float32[24]", "bool[24]", """
        %0 = logical_not(%x) : bool[24]
        %1 = logical_not(%0) : bool[24]
    """),
    # the same type, but the matrix is transposed
    "transpose of a square matrix": ("%x: float32[4,4]", "float32[4,4]", """
        %0 = permute(%x) {dims = [1, 0]} : float32[4,4]
    """),
    "where(k, x, y)": ("%k: bool[24], %x: float32[24], %y: float32[24]", "float32[24]", """
        %0 = where(%k, %x, %y) : float32[24]
    """),
}


@pytest.mark.parametrize("name", sorted(NOT_EXACT))
def test_exact_rules_do_not_fire(name):
    args, result, body = NOT_EXACT[name]
    last = body.strip().splitlines()[-1].split("=")[0].strip()
    lines = "".join(f"  {line.strip()}\n" for line in body.strip().splitlines())
    text = f"graph @g({args}) -> ({result}) {{\n{lines}  return({last})\n}}\n"
    graph = verify(parse(text))
    assert not PASSES["simplify"](graph, Options())
    assert str(graph) == canonical(text)


def test_div_power_of_two_with_a_subnormal_reciprocal():
    # 1/2^127 = 2^-127 is subnormal in float32, yet exact: the rule applies
    case = with_constant("div:div_power_of_two", "1.7014118346046923e+38", """
        %0 = div(%x, %c) : $t[24]
        return(%0)
    """, "", ("float32",))
    op, rule = rule_named(EXACT, case.key)
    before = verify(parse(case.text(case.before, "float32")))
    graph = verify(parse(case.text(case.before, "float32")))
    assert apply_rules(graph, {op: [rule]})
    PASSES["dce"](graph, Options())
    mul = graph.outputs[0].owner
    assert mul.op is Op.MUL and mul.operands[0] is graph.inputs[0]
    reciprocal = mul.operands[1].owner.attrs["value"].array
    assert reciprocal.dtype == np.float32 and float(reciprocal) == 2.0**-127
    inputs = inputs_for(before)
    assert bits(interpret(graph, inputs)[0]) == bits(interpret(before, inputs)[0])


# --- fast-math rules ------------------------------------------------------------------------------
@dataclass(frozen=True)
class FastCase:
    """A graph `@g(%x) -> ...` with constants `$a` and `$b` (per dtype), the body after
    simplify with fast math and dce, and an input `x` for which the results differ."""

    key: str
    before: str
    after: str
    constants: dict[str, tuple[str, str]]  # dtype -> ($a, $b)
    x: dict[str, float]

    def text(self, body: str, dtype: str) -> str:
        a, b = self.constants.get(dtype, ("0", "0"))
        lines = "".join(f"  {line.strip()}\n" for line in body.strip().splitlines())
        text = f"graph @g(%x: $t[4]) -> ($t[4]) {{\n{lines}}}\n"
        return Template(text).substitute(t=dtype, a=a, b=b)


FAST_CASES = [
    # x * 0 -> 0: inf * 0 is NaN, and -1 * 0 is -0.0
    FastCase("mul:mul_zero", """
        %z = constant() {value = dense<$t[]: 0.0>} : $t[]
        %0 = mul(%x, %z) : $t[4]
        return(%0)
    """, """
        %0 = full() {shape = [4], value = 0, dtype = $t} : $t[4]
        return(%0)
    """, {}, {"float32": np.inf, "float64": -1.0}),
    # x + 0.0 -> x: -0.0 + 0.0 is +0.0
    FastCase("add:add_any_zero", """
        %z = constant() {value = dense<$t[]: 0.0>} : $t[]
        %0 = add(%x, %z) : $t[4]
        return(%0)
    """, "return(%x)", {}, {"float32": -0.0, "float64": -0.0}),
    # x - x -> 0: inf - inf is NaN
    FastCase("sub:sub_self", """
        %0 = sub(%x, %x) : $t[4]
        return(%0)
    """, """
        %0 = full() {shape = [4], value = 0, dtype = $t} : $t[4]
        return(%0)
    """, {}, {"float32": np.inf, "float64": np.nan}),
    # (x * a) * b -> x * (a * b): x * a overflows to inf, while a * b is about 1
    FastCase("mul:reassociate_mul", """
        %a = constant() {value = dense<$t[]: $a>} : $t[]
        %b = constant() {value = dense<$t[]: $b>} : $t[]
        %0 = mul(%x, %a) : $t[4]
        %1 = mul(%0, %b) : $t[4]
        return(%1)
    """, """
        %a = constant() {value = dense<$t[]: $a>} : $t[]
        %b = constant() {value = dense<$t[]: $b>} : $t[]
        %0 = mul(%a, %b) : $t[]
        %1 = mul(%x, %0) : $t[4]
        return(%1)
    """, {"float32": ("1e10", "1e-10"), "float64": ("1e10", "1e-10")},
        {"float32": 1e30, "float64": 1e300}),
    # (x + a) + b -> x + (a + b): with a = b = half an ulp of 1, 1 + a rounds back to 1 twice,
    # while 1 + 2a is the next number after 1
    FastCase("add:reassociate_add", """
        %a = constant() {value = dense<$t[]: $a>} : $t[]
        %b = constant() {value = dense<$t[]: $b>} : $t[]
        %0 = add(%x, %a) : $t[4]
        %1 = add(%0, %b) : $t[4]
        return(%1)
    """, """
        %a = constant() {value = dense<$t[]: $a>} : $t[]
        %b = constant() {value = dense<$t[]: $b>} : $t[]
        %0 = add(%a, %b) : $t[]
        %1 = add(%x, %0) : $t[4]
        return(%1)
    """, {"float32": ("5.9604644775390625e-08",) * 2,
          "float64": ("1.1102230246251565e-16",) * 2},
        {"float32": 1.0, "float64": 1.0}),
    # x / 3 -> x * (1/3): 5/3 rounds once, 5 * round(1/3) twice
    FastCase("div:div_constant", """
        %a = constant() {value = dense<$t[]: $a>} : $t[]
        %0 = div(%x, %a) : $t[4]
        return(%0)
    """, """
        %0 = constant() {value = dense<$t[]: $b>} : $t[]
        %1 = mul(%x, %0) : $t[4]
        return(%1)
    """, {"float32": ("3.0", "0.3333333333333333"), "float64": ("3.0", "0.3333333333333333")},
        {"float32": 5.0, "float64": 5.0}),
]


def fast_params():
    for case in FAST_CASES:
        for dtype in FLOATS:
            yield pytest.param(case, dtype, id=f"{case.key}-{dtype}")


def test_every_fast_math_rule_has_a_case():
    assert {c.key for c in FAST_CASES} == rule_keys(FAST_MATH)
    assert not rule_keys(FAST_MATH) & rule_keys(EXACT)


@pytest.mark.parametrize("case, dtype", list(fast_params()))
def test_fast_math_rule(case: FastCase, dtype: str):
    text = case.text(case.before, dtype)
    graph = verify(parse(text))
    assert not PASSES["simplify"](graph, Options())  # exact simplify leaves it alone
    assert str(graph) == canonical(text)

    assert PASSES["simplify"](graph, Options(fast_math=True))
    PASSES["dce"](graph, Options())
    assert str(verify(graph)) == canonical(case.text(case.after, dtype))

    op, rule = rule_named(FAST_MATH, case.key)  # and it is this very rule that does it
    alone = verify(parse(text))
    assert apply_rules(alone, {op: [rule]})
    PASSES["dce"](alone, Options())
    assert str(alone) == str(graph)

    x = np.full(4, case.x[dtype], dtype)
    (exact,) = interpret(verify(parse(text)), [x])
    (fast,) = interpret(graph, [x])
    assert bits(exact) != bits(fast)


def test_fast_math_results_that_differ():
    # the concrete numbers behind the cases above, from IEEE arithmetic
    f32 = np.float32
    with np.errstate(all="ignore"):
        assert np.isnan(f32(np.inf) * f32(0))  # mul_zero, sub_self: NaN, not 0
        assert np.isnan(f32(np.inf) - f32(np.inf))
        assert np.signbit(-1.0 * 0.0) and not np.signbit(-0.0 + 0.0)  # mul_zero, add_any_zero
        assert np.isinf((f32(1e30) * f32(1e10)) * f32(1e-10))  # reassociate_mul
        assert np.isfinite(f32(1e30) * (f32(1e10) * f32(1e-10)))
    half_ulp = f32(2.0**-24)  # reassociate_add
    assert (f32(1) + half_ulp) + half_ulp == 1
    assert f32(1) + (half_ulp + half_ulp) == 1 + 2.0**-23
    assert f32(5) / f32(3) != f32(5) * (f32(1) / f32(3))  # div_constant


# --- the rule tables and the driver ---------------------------------------------------------------
def all_rules():
    return [rule for table in (EXACT, FAST_MATH) for rules in table.values() for rule in rules]


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.__name__)
def test_rule_has_a_one_line_comment(rule):
    first = inspect.getsourcelines(rule)[0][0].rstrip("\n")
    assert re.fullmatch(r"\s*def \w+\(op, rw\):  # \S.* -> .*\S", first), first


def test_rules_that_undo_each_other_are_an_error():
    def add_to_sub(op, rw):  # x + y -> x - (-y)
        x, y = op.operands
        return rw.insert(Op.SUB, [x, rw.insert(Op.NEG, [y])])

    def sub_to_add(op, rw):  # x - (-y) -> x + y
        x, negated = op.operands
        inner = negated.owner
        return rw.insert(Op.ADD, [x, inner.operands[0]]) if inner.op is Op.NEG else None

    text = ("graph @g(%x: float32[4], %y: float32[4]) -> (float32[4]) {\n"
            "  %0 = add(%x, %y) : float32[4]\n  return(%0)\n}\n")
    graph = verify(parse(text))
    rules = {Op.ADD: [add_to_sub], Op.SUB: [sub_to_add]}
    # rewrites alternate add_to_sub, sub_to_add, ...: the 21st, one past the limit, is odd
    with pytest.raises(RuntimeError) as info:
        apply_rules(graph, rules, limit=20)
    assert str(info.value) == ("rewrite rules did not settle after 20 steps; the last rule was "
                               "add_to_sub")
    # the default limit: 50 rewrites per op, counting 10 more ops than the graph has (1)
    with pytest.raises(RuntimeError, match=r"^rewrite rules did not settle after 550 steps; "):
        apply_rules(verify(parse(text)), rules)
