"""The text form round-trips: `print(parse(print(g))) == print(g)` exactly, and the parsed graph
means the same: equal attribute values (bit for bit), equal types, equal numbers when run."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from random_graphs import example_inputs, graphs

import tracejit
from tracejit.ir import DType, Op, TensorType
from tracejit.ir.graph import Block, ConstRef, Graph, Literal, Loc, Operation, ScalarType
from tracejit.ir.ops import ATTR_TYPES
from tracejit.ir.parser import parse
from tracejit.ir.printer import format_attr, print_graph, print_operation
from tracejit.ir.verifier import verify
from tracejit.runtime.eager import interpret

# --- whole graphs in canonical form ---------------------------------------------------------------
MLP = """\
graph @forward(%x: float32[2,3], %fc.weight: float32[4,3]) -> (float32[2,4]) {
  %0 = linear(%x, %fc.weight) : float32[2,4] loc("model.py":12:9)
  %1 = constant() {value = dense<float32[]: 0.5>} : float32[]
  %2 = mul(%0, %1) : float32[2,4] loc("model.py":13:16)
  %3 = relu(%2) : float32[2,4]
  return(%3)
}
"""

NESTED = """\
graph @nested(%x: float32[2,3]) -> (float32[2,3], float32[2]) {
  %0, %1 = fused(%x) : float32[2,3], float32[2] {
  ^(%a: float32[2,3]):
    %2 = relu(%a) : float32[2,3]
    %3 = fused(%2) : float32[2,3] {
    ^(%b: float32[2,3]):
      %4 = exp(%b) : float32[2,3] loc("inner.py":7:3)
      yield(%4)
    }
    %5 = sum(%3) {dims = [1], keepdim = false} : float32[2]
    yield(%3, %5)
  } loc("model.py":3)
  %6 = fused() : float32[] {
  ^():
    %7 = constant() {value = dense<float32[]: 1.0>} : float32[]
    yield(%7)
  }
  return(%0, %1)
}
"""

SCALARS_AND_NAMES = """\
graph @"my graph"(%x: float32[4], %n: int, %scale: float, %flag: bool) -> (float32[?], float32[4,3]) {
  %0 = constant() {value = dense<float32[]: 0.0>} : float32[]
  %mask = gt(%x, %0) : bool[4]
  %picked = index(%x, %mask) {spec = [["tensor"]]} : float32[?]
  %w = constant() {value = @0.weight} : float32[4,3]
  %b = constant() {value = @"a b"} : float32[3]
  %w.b = add(%w, %b) : float32[4,3]
  return(%picked, %w.b)
}
"""  # noqa: E501  (the signature line is one line in the text form)

LOCATIONS = """\
graph @locs(%x: float32[]) -> (float32[]) {
  %0 = neg(%x) : float32[] loc("dir with space/m.py":1:1)
  %1 = neg(%0) : float32[] loc("q\\"uote\\\\back.py":20)
  %2 = neg(%1) : float32[] loc("\\u00fcn\\u00ef \\ud83d\\ude00.py":3:7)
  %3 = neg(%2) : float32[] loc("":0)
  %4 = neg(%3) : float32[] loc("<string>":123456:99)
  return(%4)
}
"""

ATTRIBUTES = """\
graph @attrs(%x: float32[1,2,4,4], %i: int64[2]) -> (float32[1,2,5,5], int64[], float32[2,?]) {
  %0 = avg_pool2d(%x) {kernel_size = [2, 2], stride = [1, 1], padding = [1, 1], ceil_mode = false, count_include_pad = true, divisor_override = none} : float32[1,2,5,5]
  %1 = argmax(%i) {dim = 0, keepdim = false} : int64[]
  %2 = gelu(%x) {approximate = "tanh"} : float32[1,2,4,4]
  %3 = index(%2, %i) {spec = [["int", 0], ["slice", 0, 2, 1], ["none"], ["tensor"], ["slice", 1, 4, 2]]} : float32[2,1,2,2]
  %4 = cast(%3) {dtype = float64} : float64[2,1,2,2]
  %5 = pad(%x) {pads = [0, 1], mode = "reflect", value = -0.0} : float32[1,2,4,5]
  %6 = full() {shape = [2, 3], value = 1e+30, dtype = float32} : float32[2,3]
  %7 = constant() {value = dense<bool[2,3]: true>} : bool[2,3]
  %8 = index(%6, %7) {spec = [["tensor"]]} : float32[?]
  %9 = reshape(%8) {shape = [2, 3]} : float32[2,3]
  %10 = constant() {value = dense<bool[3]: [true, false, true]>} : bool[3]
  %11 = index(%9, %10) {spec = [["slice", 0, 2, 1], ["tensor"]]} : float32[2,?]
  return(%0, %1, %11)
}
"""  # noqa: E501

CANONICAL = {"mlp": MLP, "nested": NESTED, "scalars_and_names": SCALARS_AND_NAMES,
             "locations": LOCATIONS, "attributes": ATTRIBUTES}


@pytest.mark.parametrize("text", CANONICAL.values(), ids=CANONICAL.keys())
def test_canonical_text_round_trips_and_verifies(text):
    graph = verify(parse(text))
    assert print_graph(graph) == text
    assert str(graph) == text


def test_parsed_graph_holds_what_the_text_says():
    graph = parse(SCALARS_AND_NAMES)
    assert graph.name == "my graph"
    assert graph.input_types == [TensorType(DType.float32, (4,)), ScalarType("int"),
                                 ScalarType("float"), ScalarType("bool")]
    assert [v.name for v in graph.inputs] == ["x", "n", "scale", "flag"]
    assert graph.output_types == [TensorType(DType.float32, (None,)),
                                  TensorType(DType.float32, (4, 3))]
    consts = [op.attrs["value"] for op in graph.walk() if op.op is Op.CONSTANT]
    assert consts[1:] == [ConstRef("0.weight"), ConstRef("a b")]
    assert [op.results[0].name for op in graph.walk() if op.results] == [
        None, "mask", "picked", "w", "b", "w.b"]


def test_parsed_nested_blocks_are_linked_and_located():
    graph = parse(NESTED)
    fused = graph.body.ops[0]
    (block,) = fused.blocks
    assert fused.op is Op.FUSED and block.parent is fused and fused.loc == Loc("model.py", 3)
    inner = block.ops[1]
    assert inner.op is Op.FUSED and inner.parent is block
    assert inner.blocks[0].ops[0].loc == Loc("inner.py", 7, 3)
    assert [op.op for op in graph.walk()] == [
        Op.FUSED, Op.RELU, Op.FUSED, Op.EXP, Op.YIELD, Op.SUM, Op.YIELD,
        Op.FUSED, Op.CONSTANT, Op.YIELD, Op.RETURN]


def test_locations_keep_odd_file_names():
    locs = [op.loc for op in parse(LOCATIONS).walk()][:5]
    assert locs == [Loc("dir with space/m.py", 1, 1), Loc('q"uote\\back.py', 20),
                    Loc("ünï 😀.py", 3, 7), Loc("", 0), Loc("<string>", 123456, 99)]


def test_comments_and_spacing_are_not_part_of_the_graph():
    loose = ("// a comment line\ngraph   @forward ( %x : float32 [ 2 , 3 ] ,\n"
             "  %fc.weight: float32[4,3] )->( float32[2,4] ) { // trailing\n"
             "  %0 = linear(%x,%fc.weight):float32[2,4] loc( \"model.py\" : 12 : 9 )\n"
             "  %1 = constant() {value=dense< float32[ ] : 0.5 >} : float32[]\n"
             "\t%2 = mul(%0, %1) : float32[2,4] loc(\"model.py\":13:16)\n"
             "  %3 = relu(%2) : float32[2,4]\n  return(%3)\n}")
    assert print_graph(parse(loose)) == MLP


# --- value names ----------------------------------------------------------------------------------
def test_printer_keeps_valid_hints_numbers_the_rest_and_dedups():
    t = TensorType(DType.float32, (2,))
    body = Block.create([t] * 3, ["x", "x", "not valid!"])
    x0, x1, bad = body.args
    a = body.append(Operation.create(Op.ADD, [x0, x1], {}, [t])).result
    b = body.append(Operation.create(Op.ADD, [a, bad], {}, [t])).result
    a.name, b.name = "7", "x_1"
    body.append(Operation.create(Op.RETURN, [b], {}, []))
    text = print_graph(Graph("g", body))
    assert text == (
        "graph @g(%x: float32[2], %x_1: float32[2], %0: float32[2]) -> (float32[2]) {\n"
        "  %1 = add(%x, %x_1) : float32[2]\n"
        "  %x_1_1 = add(%1, %0) : float32[2]\n"
        "  return(%x_1_1)\n"
        "}\n"
    )
    assert print_graph(parse(text)) == text


def test_numbered_values_parse_without_a_name_hint():
    graph = parse("graph @g(%7: float32[]) -> (float32[]) {\n  %3 = neg(%7) : float32[]\n"
                  "  return(%3)\n}\n")
    assert graph.inputs[0].name is None and graph.body.ops[0].result.name is None
    assert print_graph(graph) == ("graph @g(%0: float32[]) -> (float32[]) {\n"
                                  "  %1 = neg(%0) : float32[]\n  return(%1)\n}\n")


# --- attribute values -------------------------------------------------------------------------
def carrier(attr_text: str) -> str:
    """A graph whose return op carries one attribute `a` (parse does not check schemas)."""
    return f"graph @g() -> () {{\n  return() {{a = {attr_text}}}\n}}\n"


def carried(text: str):
    return parse(text).body.ops[0].attrs["a"]


# (attribute type it stands for, text form, Python value)
ATTR_SAMPLES = [
    ("int", "0", 0),
    ("int", "-7", -7),
    ("int", "1180591620717411303424", 2**70),
    ("int?", "none", None),
    ("float", "1.5", 1.5),
    ("float", "0.1", 0.1),
    ("float", "-0.0", -0.0),
    ("float", "nan", math.nan),
    ("float", "inf", math.inf),
    ("float", "-inf", -math.inf),
    ("float", "1e+30", 1e30),
    ("float", "1e-05", 1e-5),
    ("float", "5e-324", 5e-324),
    ("scalar", "true", True),
    ("bool", "false", False),
    ("str", '"he said \\"hi\\""', 'he said "hi"'),
    ("str", '"back\\\\slash"', "back\\slash"),
    ("str", '"\\u00fcn\\u00efc\\u00f6de \\ud83d\\ude00"', "ünïcöde 😀"),
    ("str", '"tab\\tnewline\\n"', "tab\tnewline\n"),
    ("str", '""', ""),
    ("dtype", "float32", DType.float32),
    ("dtype", "float64", DType.float64),
    ("dtype", "int32", DType.int32),
    ("dtype", "int64", DType.int64),
    ("dtype", "bool", DType.bool),
    ("ints", "[]", ()),
    ("ints", "[1, -2, 3]", (1, -2, 3)),
    ("pair", "[2, 2]", (2, 2)),
    ("spec", '[["slice", 0, none, 1], ["int", -1], ["none"], ["tensor"]]',
     (("slice", 0, None, 1), ("int", -1), ("none",), ("tensor",))),
    ("const", "dense<int32[2]: [1, 2]>", Literal(np.array([1, 2], np.int32))),
    ("const", "@fc.weight", ConstRef("fc.weight")),
    ("const", "@0.weight", ConstRef("0.weight")),
    ("const", '@"a b"', ConstRef("a b")),
    ("const", '@"\\"q\\""', ConstRef('"q"')),
]


def same_value(a, b) -> bool:
    """Equal and of the same Python type; floats bit for bit (nan equals nan, -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) ==
                                                     math.copysign(1, b))
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return a == b


def test_attribute_samples_cover_every_attribute_type():
    assert {kind for kind, _, _ in ATTR_SAMPLES} == set(ATTR_TYPES)


@pytest.mark.parametrize(("kind", "text", "value"), ATTR_SAMPLES,
                         ids=[f"{k}:{t}" for k, t, _ in ATTR_SAMPLES])
def test_attribute_text_and_value_match(kind, text, value):
    assert ATTR_TYPES[kind](value)
    assert format_attr(value) == text
    assert same_value(carried(carrier(text)), value)
    assert print_graph(parse(carrier(text))) == carrier(text)


def test_numpy_float_attribute_prints_as_a_plain_float():
    # np.float64 passes the "float" attribute check; its repr is 'np.float64(1.5)'
    assert format_attr(np.float64(1.5)) == "1.5"


# (text form, array it stands for)
LITERAL_SAMPLES = [
    ("dense<float32[]: 0.1>", np.array(0.1, np.float32)),
    ("dense<float32[3]: [0.1, -0.0, 1e+30]>", np.array([0.1, -0.0, 1e30], np.float32)),
    ("dense<float32[3]: [3.4028235e+38, 1e-45, 1.6777216e+07]>",
     np.array([3.4028235e38, 1e-45, 2.0**24], np.float32)),
    ("dense<float32[2]: [nan, -inf]>", np.array([np.nan, -np.inf], np.float32)),
    ("dense<float64[3]: [0.1, 5e-324, 1.7976931348623157e+308]>",
     np.array([0.1, 5e-324, 1.7976931348623157e308])),
    ("dense<int32[2,2]: [-2147483648, 2147483647, 0, -1]>",
     np.array([[-2**31, 2**31 - 1], [0, -1]], np.int32)),
    ("dense<int64[2]: [-9223372036854775808, 9223372036854775807]>",
     np.array([-2**63, 2**63 - 1], np.int64)),
    ("dense<int64[]: 42>", np.array(42, np.int64)),
    ("dense<float16[5]: [0.1, 6.55e+04, -inf, 6e-08, nan]>",
     np.array([0.1, 65504, -np.inf, 6e-8, np.nan], np.float16)),
    ("dense<uint8[2]: [0, 255]>", np.array([0, 255], np.uint8)),
    ("dense<int8[2]: [-128, 127]>", np.array([-128, 127], np.int8)),
    ("dense<int16[2]: [-32768, 32767]>", np.array([-32768, 32767], np.int16)),
    ("dense<bool[2]: [true, false]>", np.array([True, False])),
    ("dense<bool[2,2]: true>", np.ones((2, 2), bool)),
    ("dense<float32[0,3]: []>", np.zeros((0, 3), np.float32)),
    ("dense<int32[2,0]: []>", np.zeros((2, 0), np.int32)),
    ("dense<float64[2,3]: -0.0>", np.full((2, 3), -0.0)),
    ("dense<float64[2]: [0.0, -0.0]>", np.array([0.0, -0.0])),
    ("dense<float32[1,1,1]: 2.5>", np.full((1, 1, 1), 2.5, np.float32)),
]


@pytest.mark.parametrize(("text", "array"), LITERAL_SAMPLES, ids=[t for t, _ in LITERAL_SAMPLES])
def test_dense_literal_text_and_value_match(text, array):
    assert format_attr(Literal(array)) == text
    parsed = carried(carrier(text))
    assert parsed == Literal(array)  # same dtype, shape and bytes
    assert print_graph(parse(carrier(text))) == carrier(text)


def test_literal_samples_cover_every_dtype():
    assert {DType.from_numpy(a.dtype) for _, a in LITERAL_SAMPLES} == set(DType)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=False), min_size=1, max_size=4),
       st.sampled_from([DType.float32, DType.float64]))
def test_any_float_element_round_trips_bit_for_bit(values, dtype):
    literal = Literal(np.array(values, dtype.np))
    assert carried(carrier(format_attr(literal))) == literal


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-2**63, 2**63 - 1), min_size=1, max_size=4))
def test_any_int64_element_round_trips(values):
    literal = Literal(np.array(values, np.int64))
    assert carried(carrier(format_attr(literal))) == literal


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.text(), st.floats(), st.integers(), st.booleans(), st.none(),
                 st.builds(ConstRef, st.text())))
def test_any_scalar_attribute_round_trips(value):
    text = carrier(format_attr(value))
    assert same_value(carried(text), value)
    assert print_graph(parse(text)) == text


@settings(max_examples=40, deadline=None)
@given(st.text(), st.text(), st.integers(0, 2**40), st.integers(0, 2**20))
def test_any_graph_name_and_location_round_trip(name, file, line, col):
    body = Block.create([TensorType(DType.int32, (1,))])
    body.append(Operation.create(Op.RETURN, body.args, {}, [], loc=Loc(file, line, col)))
    text = print_graph(Graph(name, body))
    graph = parse(text)
    assert graph.name == name and graph.body.ops[0].loc == Loc(file, line, col)
    assert print_graph(graph) == text


def test_print_operation_shows_one_line_without_blocks():
    graph = parse(NESTED)
    fused = graph.body.ops[0]
    exp = fused.blocks[0].ops[1].blocks[0].ops[0]
    assert print_operation(fused) == (
        '%0, %1 = fused(%x) : float32[2,3], float32[2] loc("model.py":3)')
    # alone, an operation's values are numbered afresh; given its graph, as print_graph does
    assert print_operation(exp) == '%0 = exp(%b) : float32[2,3] loc("inner.py":7:3)'
    assert print_operation(exp, graph) == '%4 = exp(%b) : float32[2,3] loc("inner.py":7:3)'


# --- graphs from the tracer and random graphs -------------------------------------------------
def assert_same_outputs(a: list, b: list) -> None:
    """Same dtypes, shapes and values; nan equals nan, and -0.0 is not 0.0."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y, strict=True)
        if x.dtype.kind == "f":
            np.testing.assert_array_equal(np.signbit(x), np.signbit(y))


def mlp(x):
    return tracejit.relu(x @ x.T).sum(-1) / 3


def indexing(x):
    return x[1:, None, 0], x[x > 0], tracejit.cat([x, x.exp()], 1).softmax(-1)


@pytest.mark.parametrize("fn", [mlp, indexing, tracejit.nn.Linear(3, 2)],
                         ids=["mlp", "indexing", "linear"])
def test_traced_graph_round_trips_and_runs_the_same(fn):
    x = tracejit.tensor([[0.5, -1.0, 2.0], [0.1, 0.2, -0.3]])
    graph = tracejit.trace(fn, x).graph
    text = print_graph(graph)
    parsed = verify(parse(text, constants=graph.constants))
    assert print_graph(parsed) == text
    inputs = example_inputs(graph)
    assert_same_outputs(interpret(parsed, inputs), interpret(graph, inputs))


def run(graph: Graph, inputs: list) -> list | tuple[type, str]:
    """The graph's outputs, or the type and message of the error running it raised."""
    try:
        return interpret(graph, inputs, rng=np.random.default_rng(7))
    except Exception as e:  # ops may fail at run time (integer division by zero, ...)
        return type(e), str(e)


@settings(max_examples=120, deadline=None)
@given(graphs())
def test_random_graphs_verify_round_trip_and_run_the_same(graph):
    verify(graph)
    text = print_graph(graph)
    parsed = verify(parse(text, constants=graph.constants))
    assert print_graph(parsed) == text
    inputs = example_inputs(graph)
    want, got = run(graph, inputs), run(parsed, inputs)
    if isinstance(want, tuple):
        assert got == want
    else:
        assert_same_outputs(got, want)
