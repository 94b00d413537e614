"""Lowering reductions and scans, alone or as fused groups with their prologue and epilogue,
over any dims: one kernel per group (softmax, log_softmax and layer norm after decomposition).

A group has a domain (S, D): its reductions read S-shaped values and reduce the dims D. Values
are *full* (vary over S: block arguments and the elementwise chains feeding reductions) or *row*
values (constant over D: reduction results and ops on them, of shape S with D kept as 1s or
dropped). The kernel's loops (see `_Nest`) run the kept dims outside the reduced ones:

- When the last dim is reduced, each row value is a register. Per kept index, each reduction is
  one pass over the reduced dims that recomputes the chain feeding it; the innermost loop walks
  the last dim, vectorized across it (float sums in partial sums per lane: `reassoc` on the
  accumulating op only; float products stay in element order).
- When trailing dims are kept, they are the innermost loop, in tiles of up to TILE elements:
  row values live in per-tile arrays, and a pass accumulates a whole tile per reduced index,
  vectorized across the kept dim, each output element in element order (as numpy's own
  reduction over leading axes).

Either way a last pass writes the full-shaped outputs, and nothing but the group's outputs
touches memory. The outermost kept loop (the tiles, when no other dim is kept) is the
kernel's (start, stop) range, which threads split. Scans (cumsum) and arg reductions run alone.

Numerics: float sums round differently from numpy's pairwise sums (tests document the bound);
float products multiply in element order, as numpy's on contiguous operands (0 * inf is NaN
exactly where the reference's is); mean divides the sum by the count like the reference;
integer and bool sums widen to int64 and are exact; amax/amin/argmax/argmin propagate NaN
like numpy (argmax: the first NaN, else the first maximum); cumsum adds in element order from
+0.0 (torch's start: never -0.0) and matches the reference exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from llvmlite import ir

from tracejit.ir.graph import Block, Operation, Value
from tracejit.ir.ops import ELEMENTWISE, Op
from tracejit.ir.types import DType

from .lower import (
    CONVERTERS,
    I64,
    MEMORY,
    REGISTER,
    Layout,
    NotLowerable,
    _contiguous,
    _counted_loop,
    _intrinsic,
    _load,
    _loops,
    _offset,
    _store,
    broadcast_strides,
    collapse,
    constant,
    icmp,
    kernel_function,
    literal_arrays,
    lower_op,
    lowerable,
    object_entry,
    round_half,
)

GROUPED = frozenset({Op.SUM, Op.MEAN, Op.PROD, Op.AMAX, Op.AMIN, Op.ALL, Op.ANY})
ALONE = frozenset({Op.ARGMAX, Op.ARGMIN, Op.CUMSUM})  # lowered as single ops only
REDUCTIONS = GROUPED | ALONE
TILE = 4096  # most kept elements per tile when the innermost loop runs over kept dims


def reduced_dims(operation: Operation) -> tuple[int, ...]:
    """The dims of its operand that a reduction or scan reduces (sorted)."""
    ndim = operation.operands[0].type.ndim
    if operation.op in GROUPED:
        return tuple(sorted(operation.attrs["dims"]))
    dim = operation.attrs["dim"]
    if dim is None:  # argmax over everything: the flat index
        return tuple(range(ndim))
    return (dim,) if ndim else ()


def row_domain(block: Block) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(S, D) if `block` is a group this module lowers: reductions (or one scan) over dims D of
    S-shaped values, everything else elementwise on S or on rows; None if it has no reduction.
    NotLowerable for anything else."""
    domains, body = set(), [o for o in block.ops if o.op is not Op.YIELD]
    for operation in body:
        if operation.op in REDUCTIONS:
            domains.add((operation.operands[0].type.shape, reduced_dims(operation)))
        elif operation.op not in ELEMENTWISE and operation.op is not Op.CONSTANT:
            raise NotLowerable(operation.op.value)
    if not domains:
        return None
    if len(domains) > 1:
        raise NotLowerable("reductions over different dims in one group")
    if len(body) > 1 and any(o.op in ALONE for o in body):
        raise NotLowerable("an arg reduction or scan inside a group")
    full, dims = domains.pop()
    lowerable(block, skip=REDUCTIONS)
    _check_shapes(block, full, dims)
    for operation in body:
        if operation.op in (Op.ARGMAX, Op.ARGMIN) and operation.operands[0].type.dtype is \
                DType.bool:
            raise NotLowerable(f"{operation.op.value} on bool")
    return full, dims


def _check_shapes(block: Block, full, dims) -> None:
    """Every op's result is full (S) or a row (S with D kept or dropped); row ops read rows,
    constants and group inputs (each broadcast against the row op's own shape: `_row_reads`),
    and every row value an op reads lines up with the kept dims under the op's broadcasting
    (row values are read by kept position)."""
    rows = {_keep(full, dims), _drop(full, dims)}
    args = {id(a) for a in block.args}
    row_values: set[int] = set()
    for operation in block.ops:
        if operation.op is Op.YIELD:
            break
        result = operation.results[0]
        if operation.op in REDUCTIONS:
            row_values.add(id(result))
            continue
        shape = result.type.shape
        if operation.op is Op.CONSTANT:
            continue
        for value in operation.operands:
            if id(value) in row_values and _in_full(value.type.shape, shape, full, dims) != \
                    _keep(full, dims):
                raise NotLowerable(f"{operation.op.value} broadcasts a row value of shape "
                                   f"{list(value.type.shape)} across the rows of {list(full)}")
        if shape == full:
            continue
        if shape not in rows:
            raise NotLowerable(f"{operation.op.value} of shape {list(shape)} in a group over "
                               f"{list(full)}")
        row_values.add(id(result))
        for value in operation.operands:
            if not (id(value) in args or _is_constant(value) or id(value) in row_values):
                raise NotLowerable("a per-row op reads a full-shaped value")


def _axes(result, full, dims) -> list[int]:
    """The dims of S that the dims of an op's result shape stand for: all of them for S and
    the kept row shape, the kept dims for the dropped row shape."""
    if len(result) == len(full):
        return list(range(len(full)))
    return [d for d in range(len(full)) if d not in dims]


def _in_full(shape, result, full, dims) -> tuple[int, ...]:
    """An operand's shape in S's dims, as the op whose result has shape `result` broadcasts it
    (right-aligned to `result`, 1 on the dims of S it lacks)."""
    axes, out = _axes(result, full, dims), [1] * len(full)
    pad = len(result) - len(shape)
    for i, n in enumerate(shape):
        out[axes[pad + i]] = n
    return tuple(out)


def _row_strides(layout: Layout, result, full, dims) -> tuple[int, ...]:
    """A group input's strides over S as a row op of shape `result` reads it (0 on the reduced
    dims, which row ops do not walk)."""
    over = broadcast_strides(layout, result)
    out = [0] * len(full)
    for j, d in enumerate(_axes(result, full, dims)):
        if d not in dims:
            out[d] = over[j]
    return tuple(out)


def _row_reads(block: Block, sources, layouts, pointers, strides, full, dims):
    """Which operand each row op reads each group input (or literal array) through: id(op) ->
    {id(value): index}. The input itself when its strides over S already follow the row op's
    broadcasting; else an alias, appended to `layouts`, `pointers` and `strides` (an input of
    the dropped row shape lines up with the kept dims, not with S's trailing dims)."""
    index = {id(v): k for k, v in enumerate(sources)}
    kept = [d for d in range(len(full)) if d not in dims]
    aliases: dict[tuple, int] = {}
    reads: dict[int, dict[int, int]] = {}
    for operation in block.ops:
        if operation.op in REDUCTIONS or operation.op in (Op.CONSTANT, Op.YIELD):
            continue
        result = operation.results[0].type.shape
        if result == full:
            continue
        mine = reads[id(operation)] = {}
        for value in operation.operands:
            k = index.get(id(value))
            if k is None:
                continue
            own = _row_strides(layouts[k], result, full, dims)
            if all(own[d] == strides[k][d] for d in kept):
                mine[id(value)] = k
                continue
            key = (k, own)
            if key not in aliases:
                aliases[key] = len(layouts)
                layouts.append(layouts[k])
                pointers.append(pointers[k])
                strides.append(own)
            mine[id(value)] = aliases[key]
    return reads


def _is_constant(value: Value) -> bool:
    return isinstance(value.owner, Operation) and value.owner.op is Op.CONSTANT


def _keep(shape, dims) -> tuple[int, ...]:
    return tuple(1 if d in dims else n for d, n in enumerate(shape))


def _drop(shape, dims) -> tuple[int, ...]:
    return tuple(n for d, n in enumerate(shape) if d not in dims)


# --- the loop nest ------------------------------------------------------------------------------

@dataclass
class _Nest:
    """The loops of a group kernel, collapsed per class of dims; strides per layout.

    outer: kept dims before the last reduced one (and the leading kept dims after it), then
    the tiles of the innermost kept dim when `tile`; reduced: the reduced dims; `tile` elements
    of the innermost kept dim (`length` in all) per tile, or None (row values in registers).
    """

    outer: tuple[int, ...]
    outer_strides: list[tuple[int, ...]]
    reduced: tuple[int, ...]
    reduced_strides: list[tuple[int, ...]]
    tile: int | None
    length: int
    tile_strides: list[int]

    @staticmethod
    def plan(full, dims, strides: Sequence[Sequence[int]], order=None) -> _Nest:
        """`order`: the reduced dims in the order their loops nest (default: as in S)."""
        last = max(dims, default=-1)
        kept_before = [d for d in range(len(full)) if d not in dims and d < last]
        after = list(range(last + 1, len(full)))
        outer, outer_strides = _collapse(full, kept_before, strides)
        reduced, reduced_strides = _collapse(full, list(order or dims), strides)
        inner, inner_strides = _collapse(full, after, strides)
        if inner == (1,):  # the last dim is reduced (or kept dims after it are all 1s)
            return _Nest(outer, outer_strides, reduced, reduced_strides, None, 1,
                         [0] * len(strides))
        length = inner[-1]
        half = -(-length // 128) * 64  # two tiles at least (two threads) from 128 elements on
        tile = max(1, min(length, TILE, half))
        levels = [*(() if outer == (1,) else outer), *inner[:-1], -(-length // tile)]
        steps = [(*(() if outer == (1,) else o), *i[:-1], i[-1] * tile)
                 for o, i in zip(outer_strides, inner_strides)]
        return _Nest(tuple(levels), steps, reduced, reduced_strides, tile, length,
                     [i[-1] for i in inner_strides])


def _collapse(full, dims: list[int], strides):
    shape, out = collapse([full[d] for d in dims], [[s[d] for d in dims] for s in strides])
    return shape, out


# --- the kernel ---------------------------------------------------------------------------------

def build_row_kernel(name: str, block: Block, outputs: Sequence[Value],
                     inputs: Sequence[Layout], full: tuple[int, ...],
                     dims: tuple[int, ...]) -> tuple[str, int]:
    """LLVM IR text of the group's kernel and its number of outer iterations (see the module
    docstring). Outputs are contiguous arrays of their own shapes."""
    out_layouts = []
    for v in outputs:
        shape = full if v.type.shape == full else _as_keep(v.type.shape, full, dims)
        out_layouts.append(Layout(v.type.dtype, shape, _contiguous(shape)))
    module, fn, entry = kernel_function(name, [*inputs, *out_layouts])
    literals = literal_arrays(module, block)  # read like inputs
    sources = [*block.args, *(v for v, _, _ in literals)]
    layouts = [*inputs, *(x for _, x, _ in literals), *out_layouts]
    n = len(inputs)
    pointers = [*fn.args[2:2 + n], *(p for _, _, p in literals), *fn.args[2 + n:]]
    strides = [broadcast_strides(x, full) for x in layouts]
    reads = _row_reads(block, sources, layouts, pointers, strides, full, dims)
    nest = _Nest.plan(full, dims, strides, _visit_order(block, sources, strides, full, dims))
    program = _Program(block, sources, outputs, layouts, nest, fn, pointers, full)
    program.row_reads = reads
    _loops(entry, fn.args[0], fn.args[1], nest.outer, program.run, scalar=True)
    entry.ret_void()
    object_entry(module, fn)
    return str(module), nest.outer[0]


def _visit_order(block: Block, sources, strides, full, dims) -> tuple[int, ...]:
    """The reduced dims in the order numpy's reduction visits them when every reduction reads
    the same group input: by its strides, largest first (ties as in S), so products multiply in
    the reference's order on transposed inputs too. As in S otherwise, and for arg reductions
    and scans, whose answers are positions in S's order."""
    reductions = [o for o in block.ops if o.op in REDUCTIONS]
    read = {id(o.operands[0]) for o in reductions}
    index = {id(v): k for k, v in enumerate(sources)}
    if any(o.op in ALONE for o in reductions) or len(read) != 1 or next(iter(read)) not in index:
        return tuple(dims)
    own = strides[index[next(iter(read))]]
    walked = [d for d in dims if full[d] > 1]
    if any(own[d] <= 0 for d in walked):  # broadcast or reversed: numpy's order differs again
        return tuple(dims)
    return tuple(sorted(dims, key=lambda d: -own[d] if full[d] > 1 else 0))


def _as_keep(shape, full, dims) -> tuple[int, ...]:
    """A row value's shape with its reduced dims present as 1s (same memory layout)."""
    if len(shape) == len(full):
        return tuple(shape)
    it = iter(shape)
    return tuple(1 if d in dims else next(it) for d in range(len(full)))


class _Program:
    """Emits the body of the outer loops: the group's passes for one outer index."""

    def __init__(self, block, sources, outputs, layouts, nest: _Nest, function: ir.Function,
                 pointers, full):
        self.block, self.outputs, self.layouts, self.nest = block, outputs, layouts, nest
        self.pointers = pointers
        self.sources = {id(v): k for k, v in enumerate(sources)}  # what kernels load
        self.entry = ir.IRBuilder()  # allocas go at the top of the entry block
        self.entry.position_at_start(function.entry_basic_block)
        self.n_in = len(sources)
        self.row_reads: dict[int, dict[int, int]] = {}  # see _row_reads
        self.count = math.prod(nest.reduced)
        self.rows: set[int] = set()  # ids of row values
        for operation in block.ops:
            if operation.op in (Op.YIELD, Op.CONSTANT, Op.CUMSUM):
                continue
            if operation.op in REDUCTIONS or operation.results[0].type.shape != full:
                self.rows.add(id(operation.results[0]))

    # --- per outer index ------------------------------------------------------------------------
    def run(self, b: ir.IRBuilder, outer_index) -> None:
        nest = self.nest
        self.base = [_offset(b, outer_index, s) for s in nest.outer_strides]
        self.lanes = None
        if nest.tile == nest.length:  # one tile: a constant trip count (no vector code for 5)
            self.lanes = ir.Constant(I64, nest.tile)
        elif nest.tile is not None:
            start = b.mul(outer_index[-1], ir.Constant(I64, nest.tile))
            left = b.sub(ir.Constant(I64, nest.length), start)
            tile = ir.Constant(I64, nest.tile)
            self.lanes = b.select(b.icmp_signed("<", left, tile), left, tile)
        self.row_values: dict[int, ir.Value] = {}  # registers, or per-tile arrays
        for operation in self.block.ops:
            if operation.op is Op.YIELD:
                break
            result = operation.results[0]
            if operation.op in REDUCTIONS:
                self._reduce(b, operation)
            elif id(result) in self.rows:
                self._row_op(b, operation)
        full_outs = []
        for k, v in enumerate(self.outputs):
            if id(v) in self.rows:
                self._each(b, lambda b2, t, k=k, v=v: self._store(b2, k, self._row(b2, v, t), t))
            elif not (isinstance(v.owner, Operation) and v.owner.op is Op.CUMSUM):
                full_outs.append((k, v))
        if full_outs:
            def write(b2, r, t):
                value_of = self._element(b2, r, t, {})
                for k, v in full_outs:
                    self._store(b2, k, value_of(v), t, r)
            self._pass(b, write)

    def _each(self, b: ir.IRBuilder, emit) -> None:
        """emit(b, t) for each kept position of this outer index: t is None in register mode,
        else the position in the tile."""
        if self.lanes is None:
            emit(b, None)
        else:
            _counted_loop(b, ir.Constant(I64, 0), self.lanes, lambda t: emit(b, t))

    def _pass(self, b: ir.IRBuilder, emit) -> None:
        """emit(b, r, t) over the reduced dims (outside) and the kept positions (inside)."""
        def nest(level, index):
            if level == len(self.nest.reduced):
                self._each(b, lambda b2, t: emit(b2, index, t))
                return
            _counted_loop(b, ir.Constant(I64, 0), ir.Constant(I64, self.nest.reduced[level]),
                          lambda i: nest(level + 1, [*index, i]))
        nest(0, [])

    # --- values ---------------------------------------------------------------------------------
    def _offsets(self, b, r, t) -> list[ir.Value]:
        out = []
        for k, base in enumerate(self.base):
            off = base
            if r is not None:
                off = b.add(off, _offset(b, r, self.nest.reduced_strides[k]))
            if t is not None and self.nest.tile_strides[k]:
                step = ir.Constant(I64, self.nest.tile_strides[k])
                off = b.add(off, b.mul(t, step, flags=["nsw"]))
            out.append(off)
        return out

    def _element(self, b, r, t, memo: dict, reads: dict[int, int] | None = None):
        """value_of(v): any value of the group at this element (r: reduced index, or None for
        row values only), each op emitted once per call site; `reads` overrides which operand
        holds a group input (a row op's aliases)."""
        offsets = self._offsets(b, r, t)
        sources = self.sources if reads is None else {**self.sources, **reads}

        def value_of(v: Value) -> ir.Value:
            if id(v) in self.rows:
                return self._row(b, v, t)
            if id(v) not in memo:
                if id(v) in sources:
                    k = sources[id(v)]
                    memo[id(v)] = _load(b, self.pointers[k], offsets[k], self.layouts[k].dtype)
                else:
                    env = {id(u): value_of(u) for u in v.owner.operands}
                    memo[id(v)] = lower_op(b, v.owner, env)
            return memo[id(v)]
        return value_of

    def _row(self, b, v: Value, t) -> ir.Value:
        found = self.row_values[id(v)]
        return found if t is None else self._get(b, found, t, v.type.dtype)

    def _set_row(self, b, v: Value, t, value) -> None:
        if t is None:
            self.row_values[id(v)] = value
        else:
            self._put(b, self.row_values[id(v)], t, value, v.type.dtype)

    def _slot(self, dtype: DType) -> ir.Value:
        """Storage for one accumulator or row value (stack, entry block): a scalar, or a tile
        (bools as bytes: arrays of i1 vectorize badly and compile slowly)."""
        if self.nest.tile is None:
            return self.entry.alloca(REGISTER[dtype])
        return self.entry.alloca(ir.ArrayType(MEMORY[dtype], self.nest.tile))

    def _get(self, b, slot, t, dtype: DType) -> ir.Value:
        """A slot's value at tile position t (t None: a scalar slot)."""
        if t is None:
            return b.load(slot)
        return _load(b, b.gep(slot, [ir.Constant(I64, 0), t], inbounds=True),
                     ir.Constant(I64, 0), dtype)

    def _put(self, b, slot, t, value, dtype: DType) -> None:
        if t is None:
            b.store(value, slot)
        else:
            _store(b, value, b.gep(slot, [ir.Constant(I64, 0), t], inbounds=True),
                   ir.Constant(I64, 0), dtype)

    def _store(self, b, k: int, value, t, r=None) -> None:
        n = self.n_in + k
        off = self._offsets(b, r, t)[n]
        _store(b, value, self.pointers[n], off, self.layouts[n].dtype)

    # --- row ops and reductions -----------------------------------------------------------------
    def _row_op(self, b: ir.IRBuilder, operation: Operation) -> None:
        result = operation.results[0]
        if self.nest.tile is not None:
            self.row_values[id(result)] = self._slot(result.type.dtype)

        def emit(b2, t):
            value_of = self._element(b2, None, t, {}, self.row_reads.get(id(operation)))
            env = {id(u): value_of(u) for u in operation.operands}
            self._set_row(b2, result, t, lower_op(b2, operation, env))
        self._each(b, emit)

    def _reduce(self, b: ir.IRBuilder, operation: Operation) -> None:
        op, (x,), result = operation.op, operation.operands, operation.results[0]
        src = x.type.dtype
        rule = RULES[op](src, result.type.dtype, self.count)
        if op in (Op.ARGMAX, Op.ARGMIN) and self.nest.tile is None:
            # along the innermost loop, two passes that vectorize: the extreme (NaN first),
            # then the first index holding it
            extreme = RULES[Op.AMAX if op is Op.ARGMAX else Op.AMIN](src, src, self.count)
            (slot,) = self._fold(b, x, extreme, False)
            rule = _first_index(src, b.load(slot))
        slots = self._fold(b, x, rule, op is Op.CUMSUM)
        if op is Op.CUMSUM:
            return
        if self.nest.tile is not None:
            self.row_values[id(result)] = self._slot(result.type.dtype)

        def finish(b2, t):
            state = [self._get(b2, slot, t, d) for slot, d in zip(slots, rule.state)]
            self._set_row(b2, result, t, rule.finish(b2, state))
        self._each(b, finish)

    def _fold(self, b: ir.IRBuilder, x: Value, rule: _Rule, scan: bool) -> list[ir.Value]:
        """One pass of `rule` over the reduced dims, reading x; the slots of its state (a scan
        also stores each running value to output 0)."""
        slots = [self._slot(d) for d in rule.state]

        def init(b2, t):
            for slot, value, dtype in zip(slots, rule.start, rule.state):
                self._put(b2, slot, t, value, dtype)
        self._each(b, init)

        def step(b2, r, t):
            value = self._element(b2, r, t, {})(x)
            state = [self._get(b2, slot, t, d) for slot, d in zip(slots, rule.state)]
            new = rule.combine(b2, state, value, _flat(b2, r, self.nest.reduced))
            for slot, v, dtype in zip(slots, new, rule.state):
                self._put(b2, slot, t, v, dtype)
            if scan:
                self._store(b2, 0, new[0], t, r)
        self._pass(b, step)
        return slots


def _flat(b: ir.IRBuilder, index, shape) -> ir.Value:
    """The C-order flat index of `index` in `shape` (argmax's answer)."""
    flat = ir.Constant(I64, 0)
    for i, n in zip(index, shape):
        flat = b.add(b.mul(flat, ir.Constant(I64, n)), i)
    return flat


# --- reduction rules ----------------------------------------------------------------------------

@dataclass
class _Rule:
    """One reduction: its state (dtypes), start values, the step and the result."""

    state: tuple[DType, ...]
    start: tuple[ir.Constant, ...]
    combine: object  # (builder, state, x, flat index) -> new state
    finish: object  # (builder, state) -> result


def _sum_like(op: Op):
    def rule(src: DType, dtype: DType, count: int) -> _Rule:
        product = op is Op.PROD
        # sums start at +0.0, as numpy's and torch's do: a row of -0.0s sums to 0.0
        start = 1 if product else 0

        # float16 accumulates in float32 and rounds the result once, as torch and the reference
        acc = DType.float32 if dtype is DType.float16 else dtype

        def combine(b, state, x, flat):
            x = CONVERTERS[Op.CAST](b, [x], [src], acc, {})
            if acc.is_floating_point:
                fold = b.fmul if product else b.fadd
                # products in element order, as numpy's (so 0 * inf is nan exactly where the
                # reference's is, not only up to rounding)
                flags = [] if op in (Op.CUMSUM, Op.PROD) else ["reassoc"]
                return [fold(state[0], x, flags=flags)]
            return [(b.mul if product else b.add)(state[0], x)]

        def finish(b, state):
            value = state[0]
            if op is Op.MEAN:
                value = b.fdiv(value, constant(acc, count))
            return round_half(b, value) if dtype is DType.float16 else value
        return _Rule((acc,), (constant(acc, start),), combine, finish)
    return rule


def _extreme(op: Op):
    greater = op is Op.AMAX

    def rule(src: DType, dtype: DType, count: int) -> _Rule:
        def combine(b, state, x, flat):
            acc = state[0]
            if dtype is DType.bool:
                return [(b.or_ if greater else b.and_)(acc, x)]
            if dtype.is_floating_point:  # NaN-propagating, vectorizable
                name = "llvm.maximum" if greater else "llvm.minimum"
                fn = _intrinsic(b, name, REGISTER[dtype], [REGISTER[dtype]] * 2)
                return [b.call(fn, [acc, x])]
            return [b.select(icmp(b, dtype)(">=" if greater else "<=", acc, x), acc, x)]
        return _Rule((dtype,), (_lowest(dtype, greater),), combine, lambda b, s: s[0])
    return rule


def _lowest(dtype: DType, greater: bool) -> ir.Constant:
    """The identity of max (greater) or min."""
    if dtype is DType.bool:
        return constant(dtype, not greater)
    if dtype.is_floating_point:
        return constant(dtype, float("-inf") if greater else float("inf"))
    if dtype is DType.uint8:
        return constant(dtype, 0 if greater else 255)
    bits = REGISTER[dtype].width - 1
    return constant(dtype, -(2**bits) if greater else 2**bits - 1)


def _logical(op: Op):
    every = op is Op.ALL

    def rule(src: DType, dtype: DType, count: int) -> _Rule:
        def combine(b, state, x, flat):
            x = CONVERTERS[Op.CAST](b, [x], [src], DType.bool, {})
            return [(b.and_ if every else b.or_)(state[0], x)]

        def finish(b, state):  # all/any of uint8 give uint8 (0 or 1), as torch
            return CONVERTERS[Op.CAST](b, state, [DType.bool], dtype, {})
        return _Rule((DType.bool,), (constant(DType.bool, every),), combine, finish)
    return rule


def _arg(op: Op):
    greater = op is Op.ARGMAX

    def rule(src: DType, dtype: DType, count: int) -> _Rule:
        def combine(b, state, x, flat):
            best, index = state
            if src.is_floating_point:  # the first NaN wins, then the first extreme
                better = b.fcmp_ordered(">" if greater else "<", x, best)
                first_nan = b.and_(b.fcmp_unordered("uno", x, x),
                                   b.fcmp_ordered("ord", best, best))
                better = b.or_(better, first_nan)
            else:
                better = icmp(b, src)(">" if greater else "<", x, best)
            return [b.select(better, x, best), b.select(better, flat, index)]
        start = (_lowest(src, greater), constant(DType.int64, 0))
        return _Rule((src, DType.int64), start, combine, lambda b, s: s[1])
    return rule


def _first_index(src: DType, extreme: ir.Value) -> _Rule:
    """The smallest flat index whose element is `extreme` (NaN matching NaN)."""
    def combine(b, state, x, flat):
        if src.is_floating_point:
            match = b.or_(b.fcmp_ordered("==", x, extreme),
                          b.and_(b.fcmp_unordered("uno", x, x),
                                 b.fcmp_unordered("uno", extreme, extreme)))
        else:
            match = b.icmp_signed("==", x, extreme)
        candidate = b.select(match, flat, constant(DType.int64, 2**63 - 1))
        smin = _intrinsic(b, "llvm.smin.i64", I64, [I64, I64])
        return [b.call(smin, [state[0], candidate])]
    return _Rule((DType.int64,), (constant(DType.int64, 2**63 - 1),), combine,
                 lambda b, s: s[0])


RULES = {
    Op.SUM: _sum_like(Op.SUM), Op.MEAN: _sum_like(Op.MEAN), Op.PROD: _sum_like(Op.PROD),
    Op.CUMSUM: _sum_like(Op.CUMSUM), Op.AMAX: _extreme(Op.AMAX), Op.AMIN: _extreme(Op.AMIN),
    Op.ALL: _logical(Op.ALL), Op.ANY: _logical(Op.ANY), Op.ARGMAX: _arg(Op.ARGMAX),
    Op.ARGMIN: _arg(Op.ARGMIN),
}
