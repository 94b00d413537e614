"""Checks that a Graph is well formed; `verify(graph)` raises `VerifyError` on the first problem.

What it checks: every value is defined once, by one owner, and before its uses in a scope that
can see it (isolated ops' blocks see only their own arguments); each op's operand count and
attributes follow the op table; result types equal what the op's rule infers (structured ops:
what their blocks yield); every block ends in the right terminator and nothing else does;
constants name data the graph holds, of the declared type; every declared type is well formed
(dims non-negative ints or `?`, rank and element count bounded) and attributes are in range
(`ATTR_CHECKS`, beyond what the rules check); blocks nest at most MAX_DEPTH deep. Errors quote
the operation and its source location.

`verify` stamps the graph with its fingerprint (every op, operand, type, attribute and named
constant); `ensure_verified` trusts a stamp that still matches and verifies otherwise. The
executor calls it before planning anything, so no kernel runs on a graph the verifier has not
checked as it is now, whatever built or edited it. `verify_write_back` checks a graph's
declarations of outputs written back into inputs (and outputs handed back as inputs).
"""

from __future__ import annotations

import numpy as np

from .graph import Block, Graph, Operation, Value
from .ops import OPS, Op, complete_attrs, infer_types
from .printer import print_operation
from .types import ConstRef, DType, Literal, ScalarType, TensorType

MAX_ELEMENTS = 1 << 40  # elements a declared tensor may have (8 TiB of float64)
MAX_RANK = 64  # numpy's limit
MAX_DEPTH = 64  # nesting of blocks (the parser's limit too)


class VerifyError(ValueError):
    """A malformed graph; the message quotes the offending operation and its location."""


def verify(graph: Graph) -> Graph:
    """`graph` itself if it is well formed; VerifyError naming the first problem otherwise.
    A well-formed graph is stamped verified until it is edited (see ensure_verified)."""
    graph.verified_as = None
    _Verifier(graph).run()
    graph.verified_as = fingerprint(graph)
    return graph


def is_verified(graph: Graph) -> bool:
    """Whether `graph` passed `verify` and has not been edited since."""
    stamp = getattr(graph, "verified_as", None)
    return stamp is not None and stamp == fingerprint(graph)


def ensure_verified(graph: Graph) -> Graph:
    """`graph`, verified now unless its stamp shows it was verified as it is: the gate every
    backend entry calls before planning kernels. VerifyError for a malformed graph."""
    return graph if is_verified(graph) else verify(graph)


def fingerprint(graph: Graph) -> int | None:
    """A hash of everything the verifier reads: each block's arguments, each operation's op,
    operands, results, result types, attributes and blocks, the named constants' arrays. Any
    edit changes it (None: something unhashable, so never verified)."""
    parts: list = [graph.name, len(graph.constants)]
    for name, array in graph.constants.items():
        parts.append((name, id(array), getattr(array, "shape", None), getattr(array, "dtype",
                                                                               None)))
    stack = [graph.body]
    while stack:
        block = stack.pop()
        parts.append(id(block))
        parts.extend((id(a), a.type) for a in block.args)
        for operation in block.ops:
            parts.append((id(operation), operation.op, *map(id, operation.operands), None,
                          *((id(r), r.type) for r in operation.results),
                          *operation.attrs.items(), len(operation.blocks)))
            stack.extend(operation.blocks)
    try:
        return hash(tuple(parts))
    except TypeError:
        return None


def verify_write_back(graph: Graph, mutated, sources=()) -> None:
    """Check a capture's declarations: the last len(`mutated`) outputs are written back into
    the inputs at those positions, so each must have that input's dtype and shape exactly; an
    output handed back as input `sources[i]` must have its type. VerifyError otherwise."""
    inputs, outputs = graph.inputs, graph.outputs
    n_out = len(outputs) - len(mutated)
    where = f"graph @{graph.name}"
    if n_out < 0:
        raise VerifyError(f"{where}: {len(mutated)} inputs are written back but the graph "
                          f"returns only {len(outputs)} values")
    if len(set(mutated)) != len(mutated):
        raise VerifyError(f"{where}: an input is written back twice ({list(mutated)})")
    pairs = [(n_out + j, k, "is written back into") for j, k in enumerate(mutated)]
    pairs += [(i, k, "is handed back as") for i, k in enumerate(sources) if k is not None]
    for i, k, how in pairs:
        if not (isinstance(k, int) and not isinstance(k, bool) and 0 <= k < len(inputs)):
            raise VerifyError(f"{where}: output {i} {how} input {k!r}, but the graph has "
                              f"{len(inputs)} inputs")
        want, got = inputs[k].type, outputs[i].type
        if got != want:
            name = f"%{inputs[k].name}" if inputs[k].name else f"input {k}"
            raise VerifyError(f"{where}: output {i} {how} {name}, so it must have its type "
                              f"{want} exactly; it is declared {got}")


class _Verifier:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.defined: set[int] = set()  # ids of values defined so far
        self.visible: list[set[int]] = []  # scopes: values each enclosing block has defined
        self.floor = 0  # the first scope operands may come from (set by isolated ops)
        self.depth = 0  # blocks open around the current one

    def run(self) -> None:
        self.define_args(self.graph.body)
        self.block(self.graph.body, Op.RETURN)

    def fail(self, operation: Operation | None, message: str):
        if operation is None:
            raise VerifyError(f"graph @{self.graph.name}: {message}")
        where = f"{operation.loc}: " if operation.loc is not None else ""
        quoted = print_operation(operation, self.graph)  # values named as in print_graph
        raise VerifyError(f"{where}error: {message}\n  {quoted}")

    def define(self, value: Value, owner, index: int, operation: Operation | None) -> None:
        if id(value) in self.defined:
            self.fail(operation, "a value is defined twice")
        if value.owner is not owner or value.index != index:
            self.fail(operation, "a value's owner or index does not match where it is defined")
        problem = type_problem(value.type)
        if problem:
            name = f"%{value.name}" if value.name else f"input {index}"
            self.fail(operation, problem if operation is not None else f"{name}: {problem}")
        self.defined.add(id(value))
        self.visible[-1].add(id(value))

    def define_args(self, block: Block, operation: Operation | None = None) -> None:
        self.visible.append(set())
        for i, value in enumerate(block.args):
            self.define(value, block, i, operation)

    def block(self, block: Block, terminator: Op) -> None:
        if not block.ops:
            self.fail(block.parent, f"a block is empty; it must end with {terminator.value}(...)")
        for k, operation in enumerate(block.ops):
            if operation.parent is not block:
                self.fail(operation, "the operation's parent is not the block that holds it")
            is_last = k == len(block.ops) - 1
            if OPS[operation.op].terminator and not is_last:
                self.fail(operation, f"{operation.op.value} must be the last operation of its "
                                     "block")
            if is_last and operation.op is not terminator:
                self.fail(operation, f"the block must end with {terminator.value}(...), not "
                                     f"{operation.op.value}")
            self.operation(operation)
        self.visible.pop()

    def operation(self, operation: Operation) -> None:
        opdef = OPS[operation.op]
        scopes = self.visible[self.floor:]
        for value in operation.operands:
            if not isinstance(value, Value) or not any(id(value) in s for s in scopes):
                known = isinstance(value, Value) and id(value) in self.defined
                why = "out of scope here" if known else "not defined before this use"
                self.fail(operation, f"operand {operation.operands.index(value)} is {why}")
        try:
            attrs = complete_attrs(operation.op, operation.attrs)
        except (TypeError, ValueError) as e:
            self.fail(operation, str(e))
        if attrs != operation.attrs:
            missing = ", ".join(sorted(set(attrs) - set(operation.attrs)))
            self.fail(operation, f"attribute(s) {missing} must be given explicitly")
        check = ATTR_CHECKS.get(operation.op)
        if check is not None:
            types = [v.type for v in operation.operands]
            if all(isinstance(t, TensorType) for t in types):
                problem = check(types, attrs)
                if problem:
                    self.fail(operation, f"{operation.op.value}: {problem}")
        if len(operation.blocks) != opdef.blocks:
            self.fail(operation, f"{operation.op.value} owns {opdef.blocks} block(s), got "
                                 f"{len(operation.blocks)}")
        expected = self.result_types(operation)
        got = [v.type for v in operation.results]
        if got != expected:
            self.fail(operation, f"result types ({_types(got)}) differ from what "
                                 f"{operation.op.value} gives ({_types(expected)})")
        for i, value in enumerate(operation.results):
            self.define(value, operation, i, operation)

    def result_types(self, operation: Operation) -> list:
        op = operation.op
        if op in STRUCTURED:
            lo, hi = OPS[op].arity
            if len(operation.operands) < lo or (hi is not None and len(operation.operands) > hi):
                want = f"{lo}" if lo == hi else f"at least {lo}"
                self.fail(operation, f"{op.value}: expected {want} operands, got "
                                     f"{len(operation.operands)}")
            return STRUCTURED[op](self, operation)
        types = [v.type for v in operation.operands]
        for i, t in enumerate(types):
            if not isinstance(t, TensorType):
                self.fail(operation, f"operand {i} is {t}, {op.value} takes tensors")
        if op is Op.CONSTANT:
            return [self.constant_type(operation)]
        try:
            return list(infer_types(op, types, operation.attrs))
        except (TypeError, ValueError, RuntimeError, IndexError, ArithmeticError) as e:
            # ArithmeticError: rules doing arithmetic on extreme attributes (end=inf, 10**30)
            self.fail(operation, str(e))

    def constant_type(self, operation: Operation) -> TensorType:
        value = operation.attrs["value"]
        if isinstance(value, Literal):
            return value.type
        assert isinstance(value, ConstRef)
        data = self.graph.constants.get(value.name)
        declared = operation.results[0].type if len(operation.results) == 1 else None
        if data is None:  # text without its data: the interpreter asks for it when run
            if not isinstance(declared, TensorType) or None in declared.shape:
                self.fail(operation, f"constant @{value.name} has no data in the graph, so its "
                                     "one result must have a tensor type with known dims")
            return declared
        if not isinstance(data, np.ndarray) or data.dtype not in _NP_DTYPES:
            what = type(data).__name__ + (f" {data.dtype}" if hasattr(data, "dtype") else "")
            self.fail(operation, f"constant @{value.name} holds {what}, not an array of a "
                                 "tracejit dtype")
        return TensorType(DType.from_numpy(data.dtype), data.shape)

    def nested(self, operation: Operation, terminator: Op) -> list[list]:
        """Verify each of the operation's blocks; the types each one's terminator gives."""
        saved = self.floor
        given = []
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(operation, f"blocks nest more than {MAX_DEPTH} deep")
        for block in operation.blocks:
            if block.parent is not operation:
                self.fail(operation, "a nested block's parent is not the operation owning it")
            if OPS[operation.op].isolated:
                self.floor = len(self.visible)
            self.define_args(block, operation)
            self.block(block, terminator)
            self.floor = saved
            given.append([v.type for v in block.terminator.operands])
        self.depth -= 1
        return given


def _fused_types(verifier: _Verifier, operation: Operation) -> list:
    """fused(operands) { ^(args): ... yield(results) }: one block argument per operand."""
    block = operation.blocks[0] if operation.blocks else None
    if block is None:
        verifier.fail(operation, "fused owns 1 block, got 0")
    if [a.type for a in block.args] != [v.type for v in operation.operands]:
        verifier.fail(operation, "the fused block's arguments must have the operands' types")
    return verifier.nested(operation, Op.YIELD)[0]


_FLAG = TensorType(DType.bool, ())
_INDEX = TensorType(DType.int64, ())


def _if_types(verifier: _Verifier, operation: Operation) -> list:
    """if(%c: bool[]) { ^(): ... yield(a...) } { ^(): ... yield(b...) }: a and b agree."""
    if operation.operands[0].type != _FLAG:
        verifier.fail(operation, f"the condition must be bool[], got {operation.operands[0].type}")
    if any(block.args for block in operation.blocks):
        verifier.fail(operation, "the blocks of if take no arguments")
    then, other = verifier.nested(operation, Op.YIELD)
    if then != other:
        verifier.fail(operation, f"the branches yield different types: ({_types(then)}) and "
                                 f"({_types(other)})")
    return then


def _for_types(verifier: _Verifier, operation: Operation) -> list:
    """for(%start, %stop, %step: int64[], %init...) { ^(%i: int64[], %c...): yield(next...) }."""
    bounds, inits = operation.operands[:3], [v.type for v in operation.operands[3:]]
    for name, value in zip(("start", "stop", "step"), bounds):
        if value.type != _INDEX:
            verifier.fail(operation, f"the loop's {name} must be int64[], got {value.type}")
    _carried(verifier, operation, [_INDEX, *inits], inits, "for")
    return inits


def _while_types(verifier: _Verifier, operation: Operation) -> list:
    """while(%init...) { ^(%c...): ... yield(%again: bool[], next...) }."""
    inits = [v.type for v in operation.operands]
    _carried(verifier, operation, inits, [_FLAG, *inits], "while")
    return inits


def _carried(verifier: _Verifier, operation: Operation, args: list, yields: list,
             name: str) -> None:
    """A loop block takes `args` and yields `yields` (the types loop-carried values keep)."""
    if [a.type for a in operation.blocks[0].args] != args:
        verifier.fail(operation, f"the {name} block's arguments must be ({_types(args)})")
    (given,) = verifier.nested(operation, Op.YIELD)
    if given != yields:
        verifier.fail(operation, f"the {name} block yields ({_types(given)}), it must yield "
                                 f"({_types(yields)}): loop-carried values keep their types")


def _assert_types(verifier: _Verifier, operation: Operation) -> list:
    if operation.operands[0].type != _FLAG:
        verifier.fail(operation, f"the condition must be bool[], got {operation.operands[0].type}")
    return []


def _misplaced_terminator(verifier: _Verifier, operation: Operation) -> list:
    return []


STRUCTURED = {Op.FUSED: _fused_types, Op.IF: _if_types, Op.FOR: _for_types,
              Op.WHILE: _while_types, Op.ASSERT: _assert_types, Op.YIELD: _misplaced_terminator,
              Op.RETURN: _misplaced_terminator}
_NP_DTYPES = {d.np for d in DType}


def _types(types) -> str:
    return ", ".join(str(t) for t in types)


# --- types and attributes ------------------------------------------------------------------------

def type_problem(t) -> str | None:
    """What is wrong with a declared type, or None: a tensor type's dtype must be a DType, its
    dims non-negative ints or None (`?`), its rank at most MAX_RANK and its known dims'
    product at most MAX_ELEMENTS."""
    if isinstance(t, ScalarType):
        return None
    if not isinstance(t, TensorType):
        return f"{t!r} is not a type"
    if not isinstance(t.dtype, DType) or not isinstance(t.shape, tuple):
        return f"{t!r} is not a well-formed tensor type"
    if len(t.shape) > MAX_RANK:
        return f"a type of rank {len(t.shape)} exceeds the limit of {MAX_RANK} dims"
    n = 1
    for d in t.shape:
        if d is None:
            continue
        if not isinstance(d, int) or isinstance(d, bool) or d < 0:
            return f"type {t} has dim {d!r}; dims are non-negative integers or ?"
        n *= d
        if n > MAX_ELEMENTS:
            return (f"type {t} declares more than 2**40 elements; tensors that large are "
                    "refused (an overflowing or hostile size)")
    return None


def _dim_in(dim, ndim: int) -> bool:
    return 0 <= dim < max(ndim, 1)


def _arg_reduction(types, attrs) -> str | None:
    dim = attrs["dim"]
    if dim is not None and not _dim_in(dim, types[0].ndim):
        return f"dim {dim} is out of range for a tensor of {types[0].ndim} dims"
    return None


def _layer_norm(types, attrs) -> str | None:
    n = attrs["normalized_ndim"]
    if not 0 <= n <= types[0].ndim:
        return f"normalized_ndim {n} must be in [0, {types[0].ndim}] (the input's rank)"
    return None


def _reshape(types, attrs) -> str | None:
    shape = attrs["shape"]
    if any(d < -1 for d in shape) or shape.count(-1) > 1:
        return f"shape {list(shape)} must hold non-negative sizes and at most one -1"
    return None


def _sizes(types, attrs) -> str | None:
    if any(d < 0 for d in attrs["shape"]):
        return f"shape {list(attrs['shape'])} must hold non-negative sizes"
    return None


def _index(types, attrs) -> str | None:
    """Integer entries select an existing row of their dim (when its size is known)."""
    x, dim, k = types[0], 0, 1
    for entry in attrs["spec"]:
        if entry[0] == "none":
            continue
        n = 1
        if entry[0] == "tensor":
            t = types[k] if k < len(types) else None
            k += 1
            n = t.ndim if t is not None and t.dtype is DType.bool else 1
        elif entry[0] == "int" and dim < x.ndim and x.shape[dim] is not None:
            size = x.shape[dim]
            if not -size <= entry[1] < size:
                return f"index {entry[1]} is out of range for dim {dim} of size {size}"
        dim += n
    return None


def _index_put(types, attrs) -> str | None:
    return _index([types[0], *types[2:]], attrs)


# Range checks of attributes the shape rules leave open (the front end never emits these; a
# graph file may): each returns what is wrong, or None.
ATTR_CHECKS = {
    Op.ARGMAX: _arg_reduction, Op.ARGMIN: _arg_reduction, Op.LAYER_NORM: _layer_norm,
    Op.RESHAPE: _reshape, Op.EXPAND: _sizes, Op.FULL: _sizes, Op.RAND: _sizes,
    Op.RANDN: _sizes, Op.RANDINT: _sizes, Op.INDEX: _index, Op.INDEX_PUT: _index_put,
}
