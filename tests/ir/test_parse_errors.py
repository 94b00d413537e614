"""Malformed IR text: each error pinned verbatim (file:line:col, the line, the caret), and a fuzz
test: mutated graphs give a Graph or a ParseError, and a parsed graph verifies or raises
VerifyError; nothing else, ever."""

from __future__ import annotations

import contextlib
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from random_graphs import graphs

from tracejit.ir.parser import MAX_DEPTH, ParseError, parse
from tracejit.ir.printer import print_graph
from tracejit.ir.verifier import VerifyError, verify

HEAD = "graph @g(%x: float32[2]) -> (float32[2]) {\n"


def body(*lines: str) -> str:
    """A graph taking %x: float32[2] whose body holds `lines`, indented."""
    return HEAD + "".join(f"  {line}\n" for line in lines) + "}\n"


def error_of(text: str, source: str = "<string>") -> str:
    with pytest.raises(ParseError) as info:
        parse(text, source=source)
    return str(info.value)


# (text, message): the message is the whole str() of the ParseError
ERRORS = {
    "missing paren": (
        body("%0 = relu(%x : float32[2]", "return(%0)"),
        "<string>:2:16: error: expected ',' or ')', found ':'\n"
        "    %0 = relu(%x : float32[2]\n"
        "                 ^"),
    "unknown op": (
        body("%0 = frobnicate(%x) : float32[2]", "return(%0)"),
        "<string>:2:8: error: unknown op 'frobnicate'\n"
        "    %0 = frobnicate(%x) : float32[2]\n"
        "         ^"),
    "unknown dtype": (
        "graph @g(%x: bfloat16[2]) -> (bfloat16[2]) {\n  return(%x)\n}\n",
        "<string>:1:14: error: unknown dtype 'bfloat16' (expected one of float16, float32, "
        "float64, uint8, int8, int16, int32, int64, bool)\n"
        "  graph @g(%x: bfloat16[2]) -> (bfloat16[2]) {\n"
        "               ^"),
    "scalar type with dims": (
        "graph @g(%n: int[2]) -> () {\n  return()\n}\n",
        "<string>:1:14: error: unknown dtype 'int' (expected one of float16, float32, float64, "
        "uint8, int8, int16, int32, int64, bool)\n"
        "  graph @g(%n: int[2]) -> () {\n"
        "               ^"),
    "undefined value": (
        body("%0 = relu(%y) : float32[2]", "return(%0)"),
        "<string>:2:13: error: value %y is used before it is defined (or out of scope)\n"
        "    %0 = relu(%y) : float32[2]\n"
        "              ^"),
    "defined twice": (
        body("%0 = relu(%x) : float32[2]", "%0 = relu(%x) : float32[2]", "return(%0)"),
        "<string>:3:3: error: value %0 is defined twice\n"
        "    %0 = relu(%x) : float32[2]\n"
        "    ^"),
    "argument defined twice": (
        "graph @g(%x: float32[2], %x: float32[2]) -> () {\n  return()\n}\n",
        "<string>:1:26: error: value %x is defined twice\n"
        "  graph @g(%x: float32[2], %x: float32[2]) -> () {\n"
        "                           ^"),
    "too many result types": (
        body("%0 = relu(%x) : float32[2], float32[2]", "return(%0)"),
        "<string>:2:8: error: relu names 1 result(s) but gives 2 type(s)\n"
        "    %0 = relu(%x) : float32[2], float32[2]\n"
        "         ^"),
    "missing result types": (
        body("%0 = relu(%x)", "return(%0)"),
        "<string>:2:8: error: relu names 1 result(s) but gives 0 type(s)\n"
        "    %0 = relu(%x)\n"
        "         ^"),
    "dense element count": (
        body("%0 = constant() {value = dense<float32[2]: [1.0, 2.0, 3.0]>} : float32[2]",
             "return(%0)"),
        "<string>:2:46: error: dense literal of type float32[2] needs 2 elements, got 3\n"
        "    %0 = constant() {value = dense<float32[2]: [1.0, 2.0, 3.0]>} : float32[2]\n"
        "                                               ^"),
    "dense float element for an int dtype": (
        body("%0 = constant() {value = dense<int32[2]: [1, 2.5]>} : int32[2]", "return(%0)"),
        "<string>:2:48: error: expected an integer element for int32\n"
        "    %0 = constant() {value = dense<int32[2]: [1, 2.5]>} : int32[2]\n"
        "                                                 ^"),
    "dense number for bool": (
        body("%0 = constant() {value = dense<bool[]: 1>} : bool[]", "return(%0)"),
        "<string>:2:42: error: expected true or false, found '1'\n"
        "    %0 = constant() {value = dense<bool[]: 1>} : bool[]\n"
        "                                           ^"),
    "dense int out of range": (
        body("%0 = constant() {value = dense<int32[]: 3000000000>} : int32[]", "return(%0)"),
        "<string>:2:43: error: element out of range for int32\n"
        "    %0 = constant() {value = dense<int32[]: 3000000000>} : int32[]\n"
        "                                            ^"),
    "dense float out of range": (  # regression: numpy's overflow warning escaped the parser
        body("%0 = constant() {value = dense<float32[]: 1e300>} : float32[]", "return(%0)"),
        "<string>:2:45: error: element out of range for float32\n"
        "    %0 = constant() {value = dense<float32[]: 1e300>} : float32[]\n"
        "                                              ^"),
    "dense with an unknown dim": (
        body("%0 = constant() {value = dense<float32[?]: [1.0]>} : float32[1]", "return(%0)"),
        "<string>:2:34: error: a dense literal needs a tensor type with known dims\n"
        "    %0 = constant() {value = dense<float32[?]: [1.0]>} : float32[1]\n"
        "                                   ^"),
    "dense too large": (
        body("%0 = constant() {value = dense<float32[300,300]: 0.0>} : float32[300,300]",
             "return(%0)"),
        "<string>:2:34: error: dense literal of 90000 elements is too large (at most 65536); "
        "refer to large constants by @name\n"
        "    %0 = constant() {value = dense<float32[300,300]: 0.0>} : float32[300,300]\n"
        "                                   ^"),
    "unterminated string": (
        body('%0 = gelu(%x) {approximate = "tanh} : float32[2]', "return(%0)"),
        "<string>:2:32: error: unterminated string (it must close with '\"' on the same line)\n"
        '    %0 = gelu(%x) {approximate = "tanh} : float32[2]\n'
        "                                 ^"),
    "bad string escape": (
        body('%0 = gelu(%x) {approximate = "\\q"} : float32[2]', "return(%0)"),
        "<string>:2:32: error: malformed string escape\n"
        '    %0 = gelu(%x) {approximate = "\\q"} : float32[2]\n'
        "                                 ^"),
    "stray character": (
        body("%0 = relu(%x) : float32[2] $", "return(%0)"),
        "<string>:2:30: error: unexpected character '$'\n"
        "    %0 = relu(%x) : float32[2] $\n"
        "                               ^"),
    "missing return": (
        body("%0 = relu(%x) : float32[2]"),
        "<string>:3:1: error: the graph body must end with return(...)\n"
        "  }\n"
        "  ^"),
    "yield at the top": (
        body("yield(%x)"),
        "<string>:3:1: error: the graph body must end with return(...)\n"
        "  }\n"
        "  ^"),
    "return types differ from the signature": (
        body("%0 = relu(%x) : float32[2]", "return(%0, %x)"),
        "<string>:1:30: error: return gives (float32[2], float32[2]), the signature declares "
        "(float32[2])\n"
        "  graph @g(%x: float32[2]) -> (float32[2]) {\n"
        "                               ^"),
    "block value used outside its block": (
        body("%0 = fused(%x) : float32[2] {", "^(%1: float32[2]):", "  yield(%1)", "}",
             "return(%1)"),
        "<string>:6:10: error: value %1 is used before it is defined (or out of scope)\n"
        "    return(%1)\n"
        "           ^"),
    "block without arguments": (
        body("%0 = fused(%x) : float32[2] {", "  yield(%x)", "}", "return(%0)"),
        "<string>:3:5: error: expected '^(' starting a block's arguments, found 'yield'\n"
        "      yield(%x)\n"
        "      ^"),
    "unclosed block": (
        body("%0 = fused(%x) : float32[2] {", "^(%1: float32[2]):", "  yield(%1)", "return(%0)"),
        "<string>:5:10: error: value %0 is used before it is defined (or out of scope)\n"
        "    return(%0)\n"
        "           ^"),
    "attribute given twice": (
        body("%0 = sum(%x) {dims = [0], dims = [0]} : float32[]", "return(%0)"),
        "<string>:2:29: error: attribute 'dims' given twice\n"
        "    %0 = sum(%x) {dims = [0], dims = [0]} : float32[]\n"
        "                              ^"),
    "bad attribute value": (
        body("%0 = sum(%x) {dims = [0], keepdim = maybe} : float32[]", "return(%0)"),
        "<string>:2:39: error: expected an attribute value (number, string, true, false, none, "
        "dtype, [...], dense<...> or @name), found 'maybe'\n"
        "    %0 = sum(%x) {dims = [0], keepdim = maybe} : float32[]\n"
        "                                        ^"),
    "negative loc line": (
        body('%0 = relu(%x) : float32[2] loc("f.py":-3)', "return(%0)"),
        "<string>:2:41: error: expected a non-negative integer line or column in "
        "loc(\"file\":line[:col]), found '-3'\n"
        '    %0 = relu(%x) : float32[2] loc("f.py":-3)\n'
        "                                          ^"),
    "fractional loc column": (
        body('%0 = relu(%x) : float32[2] loc("f.py":3:1.5)', "return(%0)"),
        "<string>:2:43: error: expected a non-negative integer line or column in "
        "loc(\"file\":line[:col]), found '1.5'\n"
        '    %0 = relu(%x) : float32[2] loc("f.py":3:1.5)\n'
        "                                            ^"),
    "negative dim": (
        body("%0 = relu(%x) : float32[-2]", "return(%0)"),
        "<string>:2:27: error: expected a dim: a non-negative integer or ?\n"
        "    %0 = relu(%x) : float32[-2]\n"
        "                            ^"),
    "text after the graph": (
        body("return(%x)") + "graph",
        "<string>:4:1: error: expected end of input after the graph's closing '}', found "
        "'graph'\n"
        "  graph\n"
        "  ^"),
    "empty input": (
        "",
        "<string>:1:1: error: expected 'graph', found end of input\n"
        "  \n"
        "  ^"),
    "graph name without @": (
        "graph g() -> () {\n  return()\n}\n",
        "<string>:1:7: error: expected a graph name such as @forward, found 'g'\n"
        "  graph g() -> () {\n"
        "        ^"),
    "argument without colon": (
        "graph @g(%x float32[2]) -> () {\n  return()\n}\n",
        "<string>:1:13: error: expected ':', found 'float32'\n"
        "  graph @g(%x float32[2]) -> () {\n"
        "              ^"),
    "missing closing brace": (
        HEAD + "  return(%x)\n",
        "<string>:3:1: error: expected an operation or '}', found end of input\n"
        "  \n"
        "  ^"),
    "tab before the error (the caret follows the expanded tab)": (
        HEAD + "\t%0 = nope(%x) : float32[2]\n  return(%0)\n}\n",
        "<string>:2:7: error: unknown op 'nope'\n"
        "          %0 = nope(%x) : float32[2]\n"
        "               ^"),
}


@pytest.mark.parametrize(("text", "message"), ERRORS.values(), ids=ERRORS.keys())
def test_parse_error_message(text, message):
    assert error_of(text) == message


def test_parse_error_names_the_source_and_keeps_its_position():
    with pytest.raises(ParseError) as info:
        parse(body("%0 = frobnicate(%x) : float32[2]", "return(%0)"), source="model.ir")
    assert str(info.value).startswith("model.ir:2:8: error: unknown op 'frobnicate'\n")
    assert (info.value.line, info.value.col, info.value.reason) == (2, 8, "unknown op 'frobnicate'")
    assert isinstance(info.value, ValueError)


def test_parse_takes_text_only():
    with pytest.raises(TypeError, match=re.escape("parse() takes IR text (str), got bytes")):
        parse(HEAD.encode())


def nested_fused(depth: int) -> str:
    """`depth` fused ops, each in the block of the one before."""
    lines = [HEAD]
    for k in range(depth):
        pad = "  " * (k + 1)
        lines += [f"{pad}%r{k} = fused(%x) : float32[2] {{\n", f"{pad}^(%a{k}: float32[2]):\n"]
    lines.append("  " * (depth + 1) + "yield(%x)\n")
    for k in reversed(range(depth)):
        lines.append("  " * (k + 1) + "}\n" + ("  " * (k + 1) + f"yield(%r{k})\n" if k else ""))
    return "".join(lines) + "  return(%r0)\n}\n"


def test_blocks_nested_deeper_than_the_limit_are_an_error():
    parse(nested_fused(MAX_DEPTH))  # the limit itself is fine
    pad = "  " * (MAX_DEPTH + 1)
    assert error_of(nested_fused(MAX_DEPTH + 1)) == (
        f"<string>:{2 * MAX_DEPTH + 3}:{len(pad) + 1}: error: blocks nested too deeply\n"
        f"  {pad}^(%a{MAX_DEPTH}: float32[2]):\n"
        f"  {pad}^")


def test_attribute_lists_nested_deeper_than_the_limit_are_an_error():
    deep = "[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2)
    line = f"return(%x) {{a = {deep}}}"
    col = len("  return(%x) {a = ") + MAX_DEPTH + 2  # the '[' one past the limit's
    assert error_of(body(line)) == (
        f"<string>:2:{col}: error: attribute lists nested too deeply\n"
        f"    {line}\n"
        f"  {' ' * (col - 1)}^")


# --- fuzz ---------------------------------------------------------------------------------------
PIECE = re.compile(r'\s+|%[\w.]+|@[\w.]+|"(?:[^"\\\n]|\\.)*"|[\w.+-]+|->|.', re.DOTALL)
VOCABULARY = [
    "(", ")", "{", "}", "[", "]", "<", ">", ",", ":", "=", "^", "?", "@", "->", "%0", "%x", "%99",
    "dense", "loc", "yield", "return", "fused", "constant", "add", "float32", "int64", "bool",
    "int", "none", "nan", "-inf", "1e999", "99999999999999999999", "-1", "0", "0.5", "true", "[]",
    "^()", "{}", "@w", '@"a b"', '"', '"s"', "\\", "//", "\n", "\t", "é", "x",
]
EDITS = ["delete", "insert", "replace", "character", "truncate", "duplicate line", "swap lines"]
CORPUS = [
    body("%0 = constant() {value = dense<float32[2]: [0.1, -0.0]>} : float32[2]",
         '%1 = add(%x, %0) : float32[2] loc("m.py":3:4)',
         "%2 = fused(%1) : float32[2] {", "^(%a: float32[2]):",
         "  %3 = sum(%a) {dims = [0], keepdim = true} : float32[1]",
         "  %4 = expand(%3) {shape = [2]} : float32[2]", "  yield(%4)", "}",
         '%w = constant() {value = @"a b"} : float32[2]', "%5 = mul(%2, %w) : float32[2]",
         "return(%5)"),
]


def mutate(text: str, edits: list[tuple[str, int, str]]) -> str:
    """`text` with each edit applied to its pieces (tokens, roughly), characters or lines."""
    for kind, at, piece in edits:
        pieces = PIECE.findall(text) or [""]
        i = at % len(pieces)
        if kind == "delete":
            del pieces[i]
        elif kind == "insert":
            pieces.insert(i, piece)
        elif kind == "replace":
            pieces[i] = piece
        elif kind == "character":
            j = at % (len(text) + 1)
            pieces = [text[:j], piece[:1], text[j + 1:]]
        elif kind == "truncate":
            pieces = [text[: at % (len(text) + 1)]]
        else:
            lines = text.split("\n")
            j, k = at % len(lines), (at // 7) % len(lines)
            if kind == "duplicate line":
                lines.insert(j, lines[j])
            else:
                lines[j], lines[k] = lines[k], lines[j]
            pieces = ["\n".join(lines)]
        text = "".join(pieces)
    return text


edit_lists = st.lists(st.tuples(st.sampled_from(EDITS), st.integers(0, 10**6),
                                st.sampled_from(VOCABULARY)), min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(st.one_of(graphs().map(print_graph), st.sampled_from(CORPUS)), edit_lists)
def test_mutated_text_parses_or_raises_parse_error_and_never_crashes(text, edits):
    text = mutate(text, edits)
    start = time.perf_counter()
    try:
        graph = parse(text)
    except ParseError:
        return
    finally:
        assert time.perf_counter() - start < 2, "parse took too long"
    with contextlib.suppress(VerifyError):
        verify(graph)
    printed = print_graph(graph)  # whatever parses, verified or not, prints and round-trips
    assert print_graph(parse(printed)) == printed


def test_mutate_applies_each_kind_of_edit():
    text = "graph @g() -> () {\n  return()\n}\n"
    assert mutate(text, [("delete", 0, "")]) == " @g() -> () {\n  return()\n}\n"
    assert mutate(text, [("insert", 1, "x")]) == "graphx @g() -> () {\n  return()\n}\n"
    assert mutate(text, [("replace", 2, "@h")]) == "graph @h() -> () {\n  return()\n}\n"
    assert mutate(text, [("character", 0, "G")]) == "Graph @g() -> () {\n  return()\n}\n"
    assert mutate(text, [("truncate", 9, "")]) == "graph @g("
    assert mutate(text, [("duplicate line", 1, "")]).count("return()") == 2
    assert mutate(text, [("swap lines", 1, "")]) == "  return()\ngraph @g() -> () {\n}\n"
