"""The reference interpreter: runs any verified Graph op by op with the op table's numpy code.

It is the semantics every backend is tested against, and the fallback for what a backend cannot
run. `RULES` holds the ops that need more than their numpy reference (constants, ops that own
blocks); every other op runs through `ir.ops.evaluate`, exactly as eager execution does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tracejit.ir.graph import Block, Graph, Operation
from tracejit.ir.ops import OPS, Op, evaluate
from tracejit.ir.types import ConstRef, TensorType


class Interpreter:
    """Runs one graph; `rng` draws the numbers of random ops (the front end's generator)."""

    def __init__(self, graph: Graph, rng: np.random.Generator | None = None):
        self.graph = graph
        self.rng = rng if rng is not None else np.random.default_rng()
        self.env: dict[int, np.ndarray] = {}

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        check_inputs(self.graph, inputs)
        return self.block(self.graph.body, inputs)

    def block(self, block: Block, args: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Bind the block's arguments, run its operations; what its terminator gives."""
        env = self.env
        for value, array in zip(block.args, args, strict=True):
            env[id(value)] = array
        for operation in block.ops:
            operands = [env[id(v)] for v in operation.operands]
            if OPS[operation.op].terminator:
                return operands
            rule = RULES.get(operation.op, _evaluate)
            for value, array in zip(operation.results, rule(self, operation, operands)):
                env[id(value)] = array
        raise RuntimeError("block has no terminator; verify the graph before running it")


def interpret(graph: Graph, inputs: Sequence[np.ndarray],
              rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """The outputs of `graph` on `inputs` (arrays matching its input types)."""
    return Interpreter(graph, rng).run(inputs)


def check_inputs(graph: Graph, inputs: Sequence[np.ndarray]) -> None:
    """TypeError naming the first input whose count, dtype or shape does not match the graph."""
    if len(inputs) != len(graph.inputs):
        raise TypeError(f"graph @{graph.name} takes {len(graph.inputs)} inputs, got "
                        f"{len(inputs)}")
    for k, (value, array) in enumerate(zip(graph.inputs, inputs)):
        want = value.type
        if not isinstance(want, TensorType):
            continue
        ok = isinstance(array, np.ndarray) and array.dtype == want.dtype.np and (
            len(array.shape) == len(want.shape)
            and all(w is None or w == a for w, a in zip(want.shape, array.shape)))
        if not ok:
            got = (f"{array.dtype}[{','.join(map(str, array.shape))}]"
                   if isinstance(array, np.ndarray) else type(array).__name__)
            name = f"%{value.name}" if value.name else f"input {k}"
            raise TypeError(f"graph @{graph.name}: {name} must be {want}, got {got}")


def _evaluate(interp: Interpreter, operation: Operation, operands) -> list[np.ndarray]:
    return [evaluate(operation.op, operands, operation.attrs, operation.results[0].type,
                     interp.rng)]


def _constant(interp: Interpreter, operation: Operation, operands) -> list[np.ndarray]:
    value = operation.attrs["value"]
    if isinstance(value, ConstRef):
        data = interp.graph.constants.get(value.name)
        if data is None:
            raise RuntimeError(
                f"constant @{value.name} has no data: IR text names large constants without "
                "holding them; pass constants= to parse() or load the graph file"
            )
        return [data]
    return [value.array]


def _fused(interp: Interpreter, operation: Operation, operands) -> list[np.ndarray]:
    return interp.block(operation.blocks[0], operands)


def _if(interp: Interpreter, operation: Operation, operands) -> list[np.ndarray]:
    then, other = operation.blocks
    return interp.block(then if bool(operands[0]) else other, [])


def _for(interp: Interpreter, operation: Operation, operands) -> list[np.ndarray]:
    start, stop, step = (int(a) for a in operands[:3])
    if step == 0:
        raise ValueError(f"{operation.loc or 'for'}: the loop's step is zero (range() arg 3 "
                         "must not be zero)")
    carried = list(operands[3:])
    body = operation.blocks[0]
    for i in range(start, stop, step):
        carried = interp.block(body, [np.array(i, np.int64), *carried])
    return carried


def _while(interp: Interpreter, operation: Operation, operands) -> list[np.ndarray]:
    carried, body = list(operands), operation.blocks[0]
    while True:
        again, *carried = interp.block(body, carried)
        if not again:
            return carried


def _assert(interp: Interpreter, operation: Operation, operands) -> list[np.ndarray]:
    if not bool(operands[0]):
        raise AssertionError(operation.attrs["message"])
    return []


RULES: dict[Op, Callable[[Interpreter, Operation, list], list[np.ndarray]]] = {
    Op.CONSTANT: _constant,
    Op.FUSED: _fused,
    Op.IF: _if,
    Op.FOR: _for,
    Op.WHILE: _while,
    Op.ASSERT: _assert,
}
