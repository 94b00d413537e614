"""Reads the text form back into a Graph (see printer.py; the grammar is in docs/ir.md).

The parser checks syntax and names: every value is defined once before use, ops exist, result
counts match their types. Everything else (operand counts, attributes, types) is the verifier's
job. Any malformed text raises `ParseError` with `file:line:col`, the line and a caret.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping

import numpy as np

from .graph import Block, Graph, Loc, Operation, Value
from .ops import Op
from .types import ConstRef, DType, Literal, ScalarType, TensorType

MAX_INT_DIGITS = 40  # an int64/uint64 literal has at most 20 digits
MAX_LITERAL = 1 << 16  # elements a dense literal may have (large constants go by name)
MAX_DEPTH = 64  # nesting of lists and blocks

_TOKEN = re.compile(r"""
    (?P<space>[ \t\r\n]+|//[^\n]*)
  | (?P<value>%[A-Za-z0-9_.]+)
  | (?P<symbol>@[A-Za-z0-9_.]+)
  | (?P<number>-?(?:inf|nan)(?![A-Za-z0-9_])
               |-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>->|[(){}\[\]<>,:=^?@])
""", re.VERBOSE)

_SCALARS = {"int", "float", "bool"}
_DTYPES = {d.value: d for d in DType}
_OPS = {op.value: op for op in Op}


class ParseError(ValueError):
    """Malformed IR text; `str()` shows file:line:col, the line, a caret and what was expected."""

    def __init__(self, message: str, source: str, text: str, pos: int):
        line = text.count("\n", 0, pos) + 1
        start = text.rfind("\n", 0, pos) + 1
        end = text.find("\n", pos)
        line_text = text[start:] if end == -1 else text[start:end]
        col = pos - start + 1
        self.line, self.col, self.reason = line, col, message
        caret = " " * (len(line_text[:col - 1].expandtabs()) ) + "^"
        super().__init__(f"{source}:{line}:{col}: error: {message}\n  {line_text.expandtabs()}"
                         f"\n  {caret}")


class _Token:
    __slots__ = ("kind", "pos", "text")

    def __init__(self, kind: str, text: str, pos: int):
        self.kind, self.text, self.pos = kind, text, pos

    def __repr__(self) -> str:
        return "end of input" if self.kind == "end" else repr(self.text)


def parse(text: str, constants: Mapping[str, np.ndarray] | None = None,
          source: str = "<string>") -> Graph:
    """The Graph that `text` describes. `constants` supplies the arrays of `@name` constants
    (text alone names them but does not hold their data)."""
    if not isinstance(text, str):
        raise TypeError(f"parse() takes IR text (str), got {type(text).__name__}")
    graph = _Parser(text, source).graph()
    if constants:
        graph.constants.update(constants)
    return graph


def _tokenize(text: str, source: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None and text[pos] == '"':
            raise ParseError("unterminated string (it must close with '\"' on the same line)",
                             source, text, pos)
        if m is None:
            raise ParseError(f"unexpected character {text[pos]!r}", source, text, pos)
        if m.lastgroup != "space":
            tokens.append(_Token(m.lastgroup, m.group(), pos))
        pos = m.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str, source: str):
        self.text, self.source = text, source
        self.tokens = _tokenize(text, source)
        self.i = 0
        self.scopes: list[dict[str, Value]] = []
        self.defined: set[str] = set()
        self.depth = 0

    # --- tokens ---------------------------------------------------------------------------------
    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def error(self, message: str, tok: _Token | None = None) -> ParseError:
        tok = tok or self.tok
        return ParseError(message, self.source, self.text, tok.pos)

    def expected(self, what: str) -> ParseError:
        return self.error(f"expected {what}, found {self.tok!r}")

    def next(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def at(self, text: str) -> bool:
        return self.tok.text == text and self.tok.kind in ("punct", "ident")

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.next()
            return True
        return False

    def expect(self, text: str, what: str | None = None) -> _Token:
        if not self.at(text):
            raise self.expected(what or repr(text))
        return self.next()

    def expect_kind(self, kind: str, what: str) -> _Token:
        if self.tok.kind != kind:
            raise self.expected(what)
        return self.next()

    def comma_list(self, item, close: str) -> list:
        items = []
        if self.accept(close):
            return items
        while True:
            items.append(item())
            if self.accept(close):
                return items
            if not self.accept(","):
                raise self.expected(f"',' or {close!r}")

    # --- graph and blocks -----------------------------------------------------------------------
    def graph(self) -> Graph:
        self.expect("graph", "'graph'")
        name = self.symbol("a graph name such as @forward")
        self.expect("(")
        self.scopes.append({})
        args = self.comma_list(self.block_arg, ")")
        body = Block.create([t for _, t, _ in args], [n for _, _, n in args])
        self.bind_args(body, args)
        self.expect("->")
        self.expect("(")
        out_tok = self.tok
        declared = self.comma_list(self.type, ")")
        self.expect("{")
        self.ops_until_close(body)
        close = self.tokens[self.i - 1]
        if self.tok.kind != "end":
            raise self.expected("end of input after the graph's closing '}'")
        term = body.terminator
        if term is None or term.op is not Op.RETURN:
            raise self.error("the graph body must end with return(...)", close)
        got = [v.type for v in term.operands]
        if got != declared:
            shown = ", ".join(str(t) for t in got)
            raise self.error(f"return gives ({shown}), the signature declares "
                             f"({', '.join(str(t) for t in declared)})", out_tok)
        return Graph(name, body)

    def symbol(self, what: str) -> str:
        if self.tok.kind == "symbol":
            return self.next().text[1:]
        if self.at("@"):
            self.next()
            return self.string()
        raise self.expected(what)

    def block_arg(self) -> tuple[_Token, object, str | None]:
        tok = self.expect_kind("value", "a value name such as %x")
        self.expect(":")
        name = tok.text[1:]
        return tok, self.type(), None if name.isdigit() else name

    def bind_args(self, block: Block, args) -> None:
        for (tok, _, _), value in zip(args, block.args):
            self.define(tok, value)

    def define(self, tok: _Token, value: Value) -> None:
        name = tok.text[1:]
        if name in self.defined:
            raise self.error(f"value {tok.text} is defined twice", tok)
        self.defined.add(name)
        self.scopes[-1][name] = value

    def lookup(self, tok: _Token) -> Value:
        name = tok.text[1:]
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise self.error(f"value {tok.text} is used before it is defined (or out of scope)", tok)

    def ops_until_close(self, block: Block) -> None:
        while not self.accept("}"):
            if self.tok.kind == "end":
                raise self.expected("an operation or '}'")
            block.append(self.operation())

    def nested_block(self) -> Block:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("blocks nested too deeply")
        self.expect("^", "'^(' starting a block's arguments")
        self.expect("(")
        self.scopes.append({})
        args = self.comma_list(self.block_arg, ")")
        block = Block.create([t for _, t, _ in args], [n for _, _, n in args])
        self.bind_args(block, args)
        self.expect(":")
        self.ops_until_close(block)
        self.scopes.pop()
        self.depth -= 1
        return block

    # --- operations -----------------------------------------------------------------------------
    def operation(self) -> Operation:
        result_toks = []
        if self.tok.kind == "value":
            result_toks.append(self.next())
            while self.accept(","):
                result_toks.append(self.expect_kind("value", "a result name such as %3"))
            self.expect("=")
        op_tok = self.expect_kind("ident", "an op name such as add")
        if op_tok.text not in _OPS:
            raise self.error(f"unknown op '{op_tok.text}'", op_tok)
        self.expect("(")
        operands = self.comma_list(self.operand, ")")
        attrs = self.attr_dict() if self.at("{") and not self.block_follows() else {}
        types = []
        if self.accept(":"):
            types.append(self.type())
            while self.accept(","):
                types.append(self.type())
        if len(types) != len(result_toks):
            raise self.error(f"{op_tok.text} names {len(result_toks)} result(s) but gives "
                             f"{len(types)} type(s)", op_tok)
        blocks = []
        while self.at("{"):  # after the attributes and types, '{' can only open a block
            self.next()
            blocks.append(self.nested_block())
        loc = self.loc() if self.at("loc") else None
        if _OPS[op_tok.text] is Op.POW:  # written before pow had it: the old shortcuts (true)
            attrs.setdefault("scalar_exponent", True)
        operation = Operation.create(_OPS[op_tok.text], operands, attrs, types, blocks, loc)
        for tok, value in zip(result_toks, operation.results):
            name = tok.text[1:]
            value.name = None if name.isdigit() else name
            self.define(tok, value)
        return operation

    def block_follows(self) -> bool:
        return self.tokens[self.i + 1].text == "^"

    def operand(self) -> Value:
        return self.lookup(self.expect_kind("value", "an operand such as %0"))

    def attr_dict(self) -> dict:
        self.expect("{")
        attrs = {}

        def item():
            tok = self.expect_kind("ident", "an attribute name")
            if tok.text in attrs:
                raise self.error(f"attribute '{tok.text}' given twice", tok)
            self.expect("=")
            attrs[tok.text] = self.attr_value()

        self.comma_list(item, "}")
        return attrs

    def attr_value(self, depth: int = 0):
        tok = self.tok
        if depth > MAX_DEPTH:
            raise self.error("attribute lists nested too deeply")
        if tok.kind == "number":
            return self.number()
        if tok.kind == "string":
            return self.string()
        if tok.kind == "symbol" or self.at("@"):
            return ConstRef(self.symbol("a constant name such as @fc.weight"))
        if self.accept("["):
            return tuple(self.comma_list(lambda: self.attr_value(depth + 1), "]"))
        if tok.kind == "ident":
            if tok.text == "dense":
                return self.dense()
            words = {"true": True, "false": False, "none": None}
            if tok.text in words:
                self.next()
                return words[tok.text]
            if tok.text in _DTYPES:
                self.next()
                return _DTYPES[tok.text]
        raise self.expected("an attribute value (number, string, true, false, none, dtype, "
                            "[...], dense<...> or @name)")

    def number(self) -> int | float:
        tok = self.expect_kind("number", "a number")
        text = tok.text
        if any(c in text for c in ".eEn"):  # '.', exponent, inf, nan
            return float(text)
        if len(text.lstrip("+-")) > MAX_INT_DIGITS:
            raise self.error(f"integer literal of {len(text)} digits is too long (at most "
                             f"{MAX_INT_DIGITS}: int64 and uint64 need no more)", tok)
        return int(text)

    def string(self) -> str:
        tok = self.expect_kind("string", "a string in double quotes")
        try:
            return json.loads(tok.text)
        except ValueError:
            raise self.error("malformed string escape", tok) from None

    def dense(self) -> Literal:
        self.next()
        self.expect("<")
        type_tok = self.tok
        ttype = self.type()
        if not isinstance(ttype, TensorType) or None in ttype.shape:
            raise self.error("a dense literal needs a tensor type with known dims", type_tok)
        self.expect(":")
        numel = math.prod(ttype.shape)
        if numel > MAX_LITERAL:
            raise self.error(f"dense literal of {numel} elements is too large (at most "
                             f"{MAX_LITERAL}); refer to large constants by @name", type_tok)
        elem_tok = self.tok
        if self.accept("["):
            elements = self.comma_list(lambda: self.element(ttype.dtype), "]")
            if len(elements) != numel:
                raise self.error(f"dense literal of type {ttype} needs {numel} elements, got "
                                 f"{len(elements)}", elem_tok)
        else:
            elements = [self.element(ttype.dtype)] * numel
        self.expect(">")
        try:
            with np.errstate(over="raise"):  # 1e300 as float32: an error, not inf
                array = np.array(elements, dtype=ttype.dtype.np).reshape(ttype.shape)
        except (OverflowError, ValueError, FloatingPointError):
            raise self.error(f"element out of range for {ttype.dtype.value}", elem_tok) from None
        return Literal(array)

    def element(self, dtype: DType):
        tok = self.tok
        if dtype is DType.bool:
            if self.accept("true"):
                return True
            if self.accept("false"):
                return False
            raise self.expected("true or false")
        value = self.number()
        if not dtype.is_floating_point and isinstance(value, float):
            raise self.error(f"expected an integer element for {dtype.value}", tok)
        return value

    def type(self):
        tok = self.expect_kind("ident", "a type such as float32[2,3] or int")
        if tok.text in _SCALARS and not self.at("["):
            return ScalarType(tok.text)
        if tok.text not in _DTYPES:
            raise self.error(f"unknown dtype '{tok.text}' (expected one of "
                             f"{', '.join(_DTYPES)})", tok)
        self.expect("[", "'[' and the shape")
        dims = self.comma_list(self.dim, "]")
        return TensorType(_DTYPES[tok.text], tuple(dims))

    def dim(self) -> int | None:
        if self.accept("?"):
            return None
        tok = self.tok
        value = self.number() if tok.kind == "number" else None
        if not isinstance(value, int) or value < 0:
            raise self.error("expected a dim: a non-negative integer or ?", tok)
        return value

    def loc(self) -> Loc:
        self.expect("loc")
        self.expect("(")
        file = self.string()
        self.expect(":")
        line = self.loc_number()
        col = self.loc_number() if self.accept(":") else 0
        self.expect(")")
        return Loc(file, line, col)

    def loc_number(self) -> int:
        tok = self.tok
        value = self.number()
        if not isinstance(value, int) or value < 0:
            raise self.error(f"expected a non-negative integer line or column in "
                             f"loc(\"file\":line[:col]), found {tok!r}", tok)
        return value
