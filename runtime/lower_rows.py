"""Lowering row-wise groups: reductions over trailing dims with their prologue and epilogue,
as one multi-pass kernel per group (softmax, log_softmax and layer norm after decomposition).

The outer loops walk the rows (the leading dims), split over threads like any kernel. Per row,
each reduction is one pass over the row that recomputes the elementwise chain feeding it and
accumulates in registers; values of row shape are computed once per row; a last pass writes the
full-shape outputs. Nothing but the group's real outputs touches memory.

Accumulation runs in element order with partial sums per vector lane (`reassoc` on the
accumulating add only), so sums differ from numpy's pairwise summation by rounding: within
1e-5 relative for float32 rows up to 1e5 elements (tests document the bound). Max and min
propagate NaN as numpy does.
"""

from __future__ import annotations

from collections.abc import Sequence

from llvmlite import ir

from tracejit.ir.graph import Block, Operation, Value
from tracejit.ir.ops import ELEMENTWISE, Op
from tracejit.ir.types import DType

from .lower import (
    CONVERTERS,
    I64,
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
    kernel_function,
    lower_op,
    lowerable,
    object_entry,
)

REDUCTIONS = frozenset({Op.SUM, Op.MEAN, Op.AMAX, Op.AMIN})


def row_domain(block: Block) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(S, D) if `block` is a row-wise group this module lowers: reductions over the same
    trailing dims D of S-shaped values, everything else elementwise; None if it has no
    reduction. NotLowerable for anything else."""
    domains = set()
    for operation in block.ops:
        if operation.op in REDUCTIONS:
            x = operation.operands[0].type
            domains.add((x.shape, tuple(operation.attrs["dims"])))
        elif operation.op not in ELEMENTWISE and operation.op not in (Op.CONSTANT, Op.YIELD):
            raise NotLowerable(operation.op.value)
    if not domains:
        return None
    if len(domains) > 1:
        raise NotLowerable("reductions over different dims in one group")
    shape, dims = domains.pop()
    if not dims or sorted(dims) != list(range(len(shape) - len(dims), len(shape))):
        raise NotLowerable("a reduction over leading dims")
    _check_row_inputs(block, shape, dims)
    lowerable(Block(ops=[o for o in block.ops if o.op not in REDUCTIONS]))
    for operation in block.ops:
        if operation.op in REDUCTIONS:
            dtypes = {operation.operands[0].type.dtype, operation.results[0].type.dtype}
            if operation.op in (Op.AMAX, Op.AMIN) and DType.bool in dtypes:
                raise NotLowerable(f"{operation.op.value} on bool")
    return shape, tuple(dims)


def _check_row_inputs(block: Block, full, dims) -> None:
    """A group input read by a per-row op must vary only along the leading dims (an input of
    the dropped row shape, say float32[n] beside rows of float32[n,m], lines up with the last
    dim under broadcasting, not with the rows): NotLowerable otherwise."""
    args = {id(a) for a in block.args}
    for operation in block.ops:
        if operation.op in REDUCTIONS or not operation.results:
            continue
        if operation.results[0].type.shape == full:
            continue
        for value in operation.operands:
            if id(value) in args:
                aligned = (1,) * (len(full) - len(value.type.shape)) + tuple(value.type.shape)
                if any(aligned[d] != 1 for d in dims):
                    raise NotLowerable("a per-row op reads an input that is not row-shaped")


def _as_keep(shape, full, dims) -> tuple[int, ...]:
    """A row-shaped value's shape with its reduced dims present as 1s (same memory layout)."""
    if len(shape) == len(full):
        return tuple(shape)
    keep = []
    it = iter(shape)
    for d in range(len(full)):
        keep.append(1 if d in dims else next(it))
    return tuple(keep)


def build_row_kernel(name: str, block: Block, outputs: Sequence[Value],
                     inputs: Sequence[Layout], full: tuple[int, ...],
                     dims: tuple[int, ...]) -> tuple[str, int]:
    """LLVM IR text of the kernel and its number of outer iterations (see module docstring).
    Outputs are contiguous arrays of their own shapes."""
    n_lead = len(full) - len(dims)
    out_layouts = []
    for v in outputs:
        shape = _as_keep(v.type.shape, full, dims) if v.type.shape != full else full
        out_layouts.append(Layout(v.type.dtype, shape, _contiguous(shape)))
    layouts = [*inputs, *out_layouts]
    strides = [broadcast_strides(x, full) for x in layouts]
    lead_shape, lead_strides = collapse(full[:n_lead], [s[:n_lead] for s in strides])
    trail_shape, trail_strides = collapse(full[n_lead:], [s[n_lead:] for s in strides])
    count = 1
    for n in full[n_lead:]:
        count *= n

    module, fn, entry = kernel_function(name, layouts)
    pointers = list(fn.args[2:])
    row_level = {id(a) for a, s in zip(block.args, trail_strides) if not any(s)}
    for operation in block.ops:
        if operation.results and operation.results[0].type.shape != full:
            row_level.add(id(operation.results[0]))
    slots = {id(o.results[0]): entry.alloca(REGISTER[o.results[0].type.dtype])
             for o in block.ops if o.op in REDUCTIONS}

    def row(b: ir.IRBuilder, lead_index):
        base = [_offset(b, lead_index, s) for s in lead_strides]
        row_env: dict[int, ir.Value] = {}
        for arg, p, off, x in zip(block.args, pointers, base, inputs):
            if id(arg) in row_level:
                row_env[id(arg)] = _load(b, p, off, x.dtype)

        def element(b2, trail_index, memo):
            """Emit (once per pass) the value of anything at this element of the row."""
            offsets = [b2.add(o, _offset(b2, trail_index, s)) for o, s in
                       zip(base, trail_strides)]

            def value_of(v: Value) -> ir.Value:
                if id(v) in row_env:
                    return row_env[id(v)]
                if id(v) not in memo:
                    owner = v.owner
                    if isinstance(owner, Operation):
                        env = {id(u): value_of(u) for u in owner.operands}
                        memo[id(v)] = lower_op(b2, owner, env)
                    else:
                        k = block.args.index(v)
                        memo[id(v)] = _load(b2, pointers[k], offsets[k], inputs[k].dtype)
                return memo[id(v)]
            return value_of, offsets

        for operation in block.ops:
            op = operation.op
            if op is Op.YIELD:
                break
            result = operation.results[0]
            if op in REDUCTIONS:
                slot = slots[id(result)]
                dtype = result.type.dtype
                b.store(_identity(op, dtype, count), slot)

                def accumulate(b2, trail_index, operation=operation, slot=slot, dtype=dtype):
                    value_of, _ = element(b2, trail_index, {})
                    x = value_of(operation.operands[0])
                    x = CONVERTERS[Op.CAST](b2, [x], [operation.operands[0].type.dtype],
                                            dtype, {})
                    b2.store(_combine(b2, operation.op, dtype, b2.load(slot), x), slot)
                _loops_within(b, trail_shape, accumulate)
                total = b.load(slot)
                if op is Op.MEAN:
                    total = b.fdiv(total, constant(dtype, count))
                row_env[id(result)] = total
            elif id(result) in row_level and all(id(u) in row_env for u in operation.operands):
                row_env[id(result)] = lower_op(b, operation, row_env)  # (operands may repeat)
        # row-shaped outputs once per row; full-shaped ones in a last pass over the row
        n_in = len(inputs)
        for k, (v, x) in enumerate(zip(outputs, out_layouts)):
            if id(v) in row_level:
                _store(b, row_env[id(v)], pointers[n_in + k], base[n_in + k], x.dtype)
        full_outs = [(k, v) for k, v in enumerate(outputs) if id(v) not in row_level]
        if full_outs:
            def write(b2, trail_index):
                value_of, offsets = element(b2, trail_index, {})
                for k, v in full_outs:
                    _store(b2, value_of(v), pointers[n_in + k], offsets[n_in + k],
                           out_layouts[k].dtype)
            _loops_within(b, trail_shape, write)

    _loops(entry, fn.args[0], fn.args[1], lead_shape, row)
    entry.ret_void()
    object_entry(module, fn)
    return str(module), lead_shape[0]


def _loops_within(b: ir.IRBuilder, shape, body) -> None:
    """Counted loops over every dim of `shape` (all from 0), calling body(b, index)."""
    def nest(level, index):
        if level == len(shape):
            body(b, index)
            return
        _counted_loop(b, ir.Constant(I64, 0), ir.Constant(I64, shape[level]),
                      lambda i: nest(level + 1, [*index, i]))
    nest(0, [])


def _identity(op: Op, dtype: DType, count: int) -> ir.Constant:
    if op in (Op.SUM, Op.MEAN):
        # -0.0 is the identity of +: a row of -0.0s sums to -0.0 (an empty row to 0.0), as numpy
        return constant(dtype, -0.0 if count and dtype.is_floating_point else 0)
    if dtype.is_floating_point:
        return constant(dtype, float("-inf") if op is Op.AMAX else float("inf"))
    info = (-(2 ** 31), 2 ** 31 - 1) if dtype is DType.int32 else (-(2 ** 63), 2 ** 63 - 1)
    return constant(dtype, info[0] if op is Op.AMAX else info[1])


def _combine(b: ir.IRBuilder, op: Op, dtype: DType, acc, x) -> ir.Value:
    if op in (Op.SUM, Op.MEAN):
        if dtype.is_floating_point:
            return b.fadd(acc, x, flags=["reassoc"])
        return b.add(acc, x)
    if dtype.is_floating_point:  # NaN-propagating, vectorizable
        name = "llvm.maximum" if op is Op.AMAX else "llvm.minimum"
        return b.call(_intrinsic(b, name, REGISTER[dtype], [REGISTER[dtype]] * 2), [acc, x])
    return b.select(b.icmp_signed(">=" if op is Op.AMAX else "<=", acc, x), acc, x)
