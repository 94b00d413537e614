"""The text form of a Graph. `parse(print_graph(g))` rebuilds `g`; docs/ir.md has the grammar.

    graph @forward(%x: float32[2,3], %fc.weight: float32[4,3]) -> (float32[2,4]) {
      %0 = linear(%x, %fc.weight) : float32[2,4] loc("model.py":12:9)
      %1 = constant() {value = dense<float32[]: 0.5>} : float32[]
      %2 = mul(%0, %1) : float32[2,4] loc("model.py":13:16)
      return(%2)
    }

Values are numbered in definition order; graph inputs print under their name hint when it is a
valid, unused identifier.
"""

from __future__ import annotations

import json
import re

import numpy as np

from .graph import Block, Graph, Operation, Value
from .types import ConstRef, DType, Literal

NAME = re.compile(r"[A-Za-z0-9_.]+")  # value and symbol names; all-digit value names are numbers
INDENT = "  "


def print_graph(graph: Graph) -> str:
    """The graph's text form, ending in a newline."""
    return _Printer().graph(graph)


def print_operation(operation: Operation, graph: Graph | None = None) -> str:
    """One operation on one line (nested blocks elided), for error messages; values are named
    as `print_graph(graph)` names them when the graph is given. It never fails: what has no text
    form (an operand that is not a Value, an attribute of the wrong Python type) shows as
    `<repr>`, so the verifier can quote malformed operations."""
    printer = _Printer(lenient=True)
    if graph is not None:
        printer.name_values(graph.body)
    return printer.operation(operation, 0, blocks=False)[0]


def format_attr(value) -> str:
    """An attribute value in the text form: ints, floats, bools, none, strings, dtypes, lists,
    dense literals and @constant references."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(float(value))  # np.float64 is a float whose repr is 'np.float64(...)'
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, DType):
        return value.value
    if isinstance(value, tuple):
        return "[" + ", ".join(format_attr(v) for v in value) + "]"
    if isinstance(value, Literal):
        return format_literal(value)
    if isinstance(value, ConstRef):
        return format_symbol(value.name)
    raise TypeError(f"attribute value {value!r} has no text form ({type(value).__name__})")


def format_symbol(name: str) -> str:
    """`@name`, or `@"name"` when the name has characters outside [A-Za-z0-9_.]."""
    return f"@{name}" if NAME.fullmatch(name) else "@" + json.dumps(name)


def format_literal(literal: Literal) -> str:
    """`dense<TYPE: x>` fills the shape with x; `dense<TYPE: [x, y, ...]>` lists every element."""
    flat = literal.array.reshape(-1)
    elements = [format_element(v) for v in flat]
    splat = len(elements) > 0 and len(set(elements)) == 1
    body = elements[0] if splat else "[" + ", ".join(elements) + "]"
    return f"dense<{literal.type}: {body}>"


def format_element(value) -> str:
    if isinstance(value, np.bool_):
        return "true" if value else "false"
    if isinstance(value, np.floating):
        # shortest text that reads back to the same value in its own precision
        text = str(value) if isinstance(value, (np.float16, np.float32)) else repr(float(value))
        return text if any(c in text for c in ".en") else text + ".0"
    return str(int(value))


class _Printer:
    def __init__(self, lenient: bool = False):
        self.lenient = lenient
        self.names: dict[int, str] = {}  # id(Value) -> printed name
        self.used: set[str] = set()
        self.counter = 0

    def name(self, value: Value) -> str:
        key = id(value)
        if key not in self.names:
            self.names[key] = self._fresh(value.name)
        return "%" + self.names[key]

    def _fresh(self, hint: str | None) -> str:
        if hint is not None and NAME.fullmatch(hint) and not hint.isdigit():
            name, k = hint, 0
            while name in self.used:
                k += 1
                name = f"{hint}_{k}"
        else:
            name = str(self.counter)
            self.counter += 1
        self.used.add(name)
        return name

    def name_values(self, block: Block) -> None:
        """Name the values of `block` and its nested blocks in the order printing them does."""
        for value in block.args:
            self.name(value)
        for operation in block.ops:
            for value in (*operation.operands, *operation.results):
                if isinstance(value, Value):
                    self.name(value)
            for nested in operation.blocks:
                self.name_values(nested)

    def ref(self, value: Value) -> str:
        # a value used before the printer met its definition (only in invalid graphs)
        if self.lenient and not isinstance(value, Value):
            return f"<{value!r}>"
        return self.name(value)

    def attr(self, value) -> str:
        try:
            return format_attr(value)
        except TypeError:
            if not self.lenient:
                raise
            return f"<{value!r}>"

    def graph(self, graph: Graph) -> str:
        args = ", ".join(self.typed(v) for v in graph.inputs)
        outs = ", ".join(str(t) for t in graph.output_types)
        lines = [f"graph {format_symbol(graph.name)}({args}) -> ({outs}) {{"]
        lines += self.block_body(graph.body, 1)
        lines.append("}")
        return "\n".join(lines) + "\n"

    def typed(self, value: Value) -> str:
        return f"{self.name(value)}: {value.type}"

    def block_body(self, block: Block, depth: int) -> list[str]:
        lines = []
        for operation in block.ops:
            lines += self.operation(operation, depth)
        return lines

    def operation(self, operation: Operation, depth: int, blocks: bool = True) -> list[str]:
        pad = INDENT * depth
        text = f"{operation.op.value}({', '.join(self.ref(v) for v in operation.operands)})"
        if operation.attrs:
            items = ", ".join(f"{k} = {self.attr(v)}" for k, v in operation.attrs.items())
            text += f" {{{items}}}"
        if operation.results:
            results = ", ".join(self.name(v) for v in operation.results)
            text = f"{results} = {text} : " + ", ".join(str(v.type) for v in operation.results)
        loc = "" if operation.loc is None else " " + format_loc(operation.loc)
        if not operation.blocks or not blocks:
            return [pad + text + loc]
        lines = [pad + text + " {"]
        for k, block in enumerate(operation.blocks):
            if k:
                lines.append(pad + "} {")
            lines.append(pad + "^(" + ", ".join(self.typed(v) for v in block.args) + "):")
            lines += self.block_body(block, depth + 1)
        lines.append(pad + "}" + loc)
        return lines


def format_loc(loc) -> str:
    col = f":{loc.col}" if loc.col else ""
    return f"loc({json.dumps(loc.file)}:{loc.line}{col})"
