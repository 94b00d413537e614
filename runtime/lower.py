"""Lowering elementwise groups to LLVM IR: one loop nest per fused group (or single op).

A kernel is specialised on everything that decides its memory accesses: the iteration shape,
and each operand's dtype, shape and strides. Loops have constant bounds and constant strides,
so LLVM vectorizes the innermost one; the outermost range is a parameter, so threads can split
it. `CONVERTERS` is the table of small per-op converters; an op missing from it (or a dtype it
does not handle) raises `NotLowerable`, which the executor turns into a reference fallback.

Arithmetic carries no fast-math flags: compiled elementwise results equal the reference
interpreter's bit for bit, except where a math function is an approximation (llvm_math.py).
Literal constants of several elements inside a group are read like inputs, from arrays in the
kernel's module. A group with sin or cos runs its innermost loop in chunks, each with the cheap
short-range reduction when all its arguments allow it (`_versioned`). docs/lowering.md lists
what compiles and how closely it matches numpy.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llvmlite import ir

from tracejit.ir.graph import Block, Operation, Value
from tracejit.ir.ops import ELEMENTWISE, Op
from tracejit.ir.types import DType, Literal

I1, I8, I16, I32, I64 = (ir.IntType(n) for n in (1, 8, 16, 32, 64))
F16, F32, F64 = ir.HalfType(), ir.FloatType(), ir.DoubleType()
# float16 is stored as half and computed in float32, each op's result rounded to half
# (`lower_op`), as torch's CPU kernels and the reference do; uint8 is i8 with unsigned
# compares, extensions, conversions and division (`UNSIGNED`).
REGISTER = {DType.float16: F32, DType.float32: F32, DType.float64: F64, DType.uint8: I8,
            DType.int8: I8, DType.int16: I16, DType.int32: I32, DType.int64: I64,
            DType.bool: I1}
MEMORY = {**REGISTER, DType.bool: I8, DType.float16: F16}
UNSIGNED = frozenset({DType.bool, DType.uint8})
# The dtypes kernels compute in; an op touching any other runs the reference numpy code (the
# executor logs it once on `tracejit.fallback`). Today: all of them; a new dtype starts out
# of this set until its converters exist, and tests/runtime reads it.
LOWERED_DTYPES = frozenset(REGISTER)


TRIG = (Op.SIN, Op.COS)
SHORT = "short_range"  # a converter attribute lower_op adds: sin/cos of small arguments only


class NotLowerable(Exception):
    """This op (or dtype) has no converter; the message names it."""


@dataclass(frozen=True)
class Layout:
    """How one operand lies in memory: dtype, shape and strides in elements."""

    dtype: DType
    shape: tuple[int, ...]
    strides: tuple[int, ...]


def collapse(shape: Sequence[int], strides: Sequence[Sequence[int]]):
    """Merge neighbouring dims that every operand walks contiguously: (shape, strides)."""
    dims = [(n, [s[d] for s in strides]) for d, n in enumerate(shape) if n != 1]
    if not dims:
        return (1,), [(0,) for _ in strides]
    out = [dims[0]]
    for n, ss in dims[1:]:
        pn, ps = out[-1]
        if all(p == s * n for p, s in zip(ps, ss)):
            out[-1] = (pn * n, ss)
        else:
            out.append((n, ss))
    return tuple(n for n, _ in out), [tuple(ss[k] for _, ss in out) for k in range(len(strides))]


def broadcast_strides(layout: Layout, shape: Sequence[int]) -> tuple[int, ...]:
    """The operand's strides over the iteration `shape` (0 where it is broadcast)."""
    pad = len(shape) - len(layout.shape)
    out = []
    for d, n in enumerate(shape):
        k = d - pad
        own = layout.shape[k] if k >= 0 else 1
        out.append(0 if k < 0 or (own == 1 and n != 1) else layout.strides[k])
    return tuple(out)


def build_kernel(name: str, block: Block, outputs: Sequence[Value], inputs: Sequence[Layout],
                 shape: tuple[int, ...]) -> tuple[str, int]:
    """LLVM IR text of `void name(i64 start, i64 stop, T* noalias args...)` computing `block`'s
    `outputs` (contiguous, of `shape`) from `inputs`; and how many outer iterations it has."""
    out_layouts = [Layout(v.type.dtype, shape, _contiguous(shape)) for v in outputs]
    module, fn, builder = kernel_function(name, [*inputs, *out_layouts])
    literals = literal_arrays(module, block)
    sources = {id(v): k for k, v in enumerate([*block.args, *(v for v, _, _ in literals)])}
    reads = [*inputs, *(x for _, x, _ in literals)]
    layouts = [*reads, *out_layouts]
    loop_shape, strides = collapse(shape, [broadcast_strides(x, shape) for x in layouts])
    n = len(inputs)
    pointers = [*fn.args[2:2 + n], *(p for _, _, p in literals), *fn.args[2 + n:]]

    def values(b: ir.IRBuilder, index: list[ir.Value], short: bool):
        """value_of(v) at the element `index`, each op emitted once, when first asked for."""
        offsets = [_offset(b, index, s) for s in strides]
        env: dict[int, ir.Value] = {}

        def value_of(v: Value) -> ir.Value:
            if id(v) not in env:
                if id(v) in sources:
                    k = sources[id(v)]
                    env[id(v)] = _load(b, pointers[k], offsets[k], reads[k].dtype)
                else:
                    operands = {id(u): value_of(u) for u in v.owner.operands}
                    env[id(v)] = lower_op(b, v.owner, operands, short)
            return env[id(v)]
        return value_of, offsets

    def body(b: ir.IRBuilder, index: list[ir.Value], short: bool = False):
        value_of, offsets = values(b, index, short)
        for value, p, off, x in zip(outputs, pointers[len(reads):], offsets[len(reads):],
                                    out_layouts):
            _store(b, value_of(value), p, off, x.dtype)

    trig = [o.operands[0] for o in block.ops if o.op in TRIG]
    innermost = None
    if trig:  # chunks without a large sin/cos argument run the short-range reduction
        def full_range(b: ir.IRBuilder, index: list[ir.Value]) -> ir.Value:
            from .llvm_math import needs_full_range

            value_of, _ = values(b, index, True)
            flags = [needs_full_range(b, value_of(x)) for x in trig]
            return functools.reduce(b.or_, flags)
        innermost = _versioned(builder.alloca(ir.IntType(1)), full_range, body)
    _loops(builder, fn.args[0], fn.args[1], loop_shape, body, innermost=innermost)
    builder.ret_void()
    object_entry(module, fn)
    return str(module), loop_shape[0]


CHUNK = 1024  # elements of the innermost loop that take the same version


def _versioned(slot, check, body):
    """The innermost loop over [lo, hi) in chunks: each chunk first ORs check(b, index) over
    its elements into `slot` (one vectorized pass), then runs body(b, index, short=True) if it
    is false for all of them, else body(b, index)."""
    def loop(b: ir.IRBuilder, lo, hi, index):
        size = ir.Constant(I64, CHUNK)
        count = b.udiv(b.add(b.sub(hi, lo), ir.Constant(I64, CHUNK - 1)), size)

        def chunk(j):
            start = b.add(lo, b.mul(j, size))
            stop = b.add(start, size)
            stop = b.select(b.icmp_signed("<", stop, hi), stop, hi)
            b.store(ir.Constant(ir.IntType(1), 0), slot)
            _counted_loop(b, start, stop, lambda i: b.store(
                b.or_(b.load(slot), check(b, [*index, i])), slot))
            with b.if_else(b.load(slot)) as (full, short):
                with full:
                    _counted_loop(b, start, stop, lambda i: body(b, [*index, i]))
                with short:
                    _counted_loop(b, start, stop, lambda i: body(b, [*index, i], True))
        _counted_loop(b, ir.Constant(I64, 0), count, chunk)
    return loop


MAX_LITERAL = 4096  # elements: a literal constant up to this size is embedded in its kernels


def literal_arrays(module: ir.Module, block: Block) -> list[tuple[Value, Layout, ir.Value]]:
    """The block's literal constants of more than one element, as read-only arrays in `module`
    that the kernel reads like inputs: (value, contiguous layout, element pointer)."""
    found = []
    for operation in block.ops:
        if operation.op is not Op.CONSTANT or operation.attrs["value"].array.size < 2:
            continue
        value = operation.results[0]
        dtype, data = value.type.dtype, operation.attrs["value"].array
        ty = ir.ArrayType(MEMORY[dtype], data.size)
        array = ir.GlobalVariable(module, ty, f"literal.{len(found)}")
        array.initializer = ir.Constant(ty, [_element(dtype, v) for v in data.reshape(-1)])
        array.global_constant, array.linkage = True, "private"
        pointer = array.gep([ir.Constant(I64, 0), ir.Constant(I64, 0)])
        shape = tuple(value.type.shape)
        found.append((value, Layout(dtype, shape, _contiguous(shape)), pointer))
    return found


def _element(dtype: DType, v) -> ir.Constant:
    if dtype is DType.bool:
        return ir.Constant(I8, int(bool(v)))
    if dtype is DType.float16:
        return ir.Constant(F16, float(v))
    return constant(dtype, v.item())


def kernel_function(name: str, layouts: Sequence[Layout]):
    """A module holding `void name(i64 start, i64 stop, T* noalias ...)`, one pointer per
    layout; (module, function, a builder at its entry)."""
    module = ir.Module(name=name)
    params = [MEMORY[x.dtype].as_pointer() for x in layouts]
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [I64, I64, *params]), name=name)
    for arg in fn.args[2:]:
        arg.add_attribute("noalias")
    return module, fn, ir.IRBuilder(fn.append_basic_block("entry"))


DATA_OFFSET = 16  # bytes from a numpy array object to its data pointer (after PyObject_HEAD)


def object_entry(module: ir.Module, fn: ir.Function) -> None:
    """`{name}_objs(start, stop, PyArrayObject*...)`: reads each array's data pointer and calls
    the kernel, so a caller passes id(array) instead of building a pointer (executor.py checks
    the offset against numpy once)."""
    n = len(fn.args) - 2
    entry = ir.Function(module, ir.FunctionType(ir.VoidType(), [I64, I64, *[I8.as_pointer()] * n]),
                        name=f"{fn.name}_objs")
    b = ir.IRBuilder(entry.append_basic_block("entry"))
    pointers = []
    for obj, param in zip(entry.args[2:], fn.args[2:]):
        slot = b.bitcast(b.gep(obj, [ir.Constant(I64, DATA_OFFSET)], inbounds=True),
                         I8.as_pointer().as_pointer())
        pointers.append(b.bitcast(b.load(slot), param.type))
    b.call(fn, [entry.args[0], entry.args[1], *pointers])
    b.ret_void()


def elementwise_block(operation: Operation) -> Block:
    """A single elementwise op as a block (so one op and a fused group lower alike)."""
    block = Block.create([v.type for v in operation.operands])
    clone = Operation.create(operation.op, block.args, operation.attrs,
                             [r.type for r in operation.results])
    block.append(clone)
    block.append(Operation.create(Op.YIELD, clone.results, {}, []))
    return block


def lowerable(block: Block, skip: frozenset[Op] = frozenset()) -> None:
    """NotLowerable naming the first op of `block` without a converter for its types (ops in
    `skip` are another module's to check)."""
    _check_dtypes(block)
    for operation in block.ops:
        op = operation.op
        if op is Op.YIELD or op in skip:
            continue
        if op is Op.CONSTANT:
            value = operation.attrs["value"]
            if not isinstance(value, Literal) or value.array.size > MAX_LITERAL:
                raise NotLowerable("constant (only literals live inside kernels)")
            continue
        if op not in ELEMENTWISE or op not in CONVERTERS:
            raise NotLowerable(op.value)
        dtypes = {v.type.dtype for v in operation.operands} | {operation.results[0].type.dtype}
        allowed = CONVERTER_DTYPES.get(op)
        if allowed is not None and not dtypes <= allowed:
            raise NotLowerable(f"{op.value} on {', '.join(sorted(d.value for d in dtypes))}")
    lower_division.check_divisors(block)


def _check_dtypes(block: Block) -> None:
    """NotLowerable naming the first value of `block` whose dtype kernels do not compute in."""
    values = [*block.args, *(v for o in block.ops for v in (*o.operands, *o.results))]
    for v in values:
        if v.type.dtype not in LOWERED_DTYPES:
            raise NotLowerable(f"{v.type.dtype.value} values (compiled kernels compute in "
                               f"{', '.join(sorted(d.value for d in LOWERED_DTYPES))})")


# --- loops, loads and stores --------------------------------------------------------------------

def _contiguous(shape) -> tuple[int, ...]:
    out, step = [], 1
    for n in reversed(shape):
        out.append(step)
        step *= n
    return tuple(reversed(out))


def _loops(b: ir.IRBuilder, start, stop, shape, body, scalar: bool = False,
           innermost=None) -> None:
    """Nested counted loops: the outermost over [start, stop), the others over their dims.
    `scalar`: the loop vectorizer leaves these loops alone (their bodies hold loops of their
    own, which it vectorizes; once small ones are unrolled it would widen the outer loop into
    gathers, slow to compile and to run). `innermost(b, lo, hi, index)`: emits the innermost
    loop itself."""
    def nest(level: int, index: list):
        if level == len(shape):
            body(b, index)
            return
        lo = start if level == 0 else ir.Constant(I64, 0)
        hi = stop if level == 0 else ir.Constant(I64, shape[level])
        if innermost is not None and level == len(shape) - 1:
            innermost(b, lo, hi, index)
            return
        _counted_loop(b, lo, hi, lambda i: nest(level + 1, [*index, i]),
                      no_vectorize(b.module) if scalar else None)
    nest(0, [])


def _counted_loop(b: ir.IRBuilder, lo, hi, emit, metadata=None) -> None:
    pre = b.block
    head = b.append_basic_block("head")
    loop = b.append_basic_block("loop")
    done = b.append_basic_block("done")
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64)
    i.add_incoming(lo, pre)
    b.cbranch(b.icmp_signed("<", i, hi), loop, done)
    b.position_at_end(loop)
    emit(i)
    i.add_incoming(b.add(i, ir.Constant(I64, 1), flags=["nsw"]), b.block)
    latch = b.branch(head)
    if metadata is not None:
        latch.set_metadata("llvm.loop", metadata)
    b.position_at_end(done)


def no_vectorize(module: ir.Module) -> ir.values.MDValue:
    """A new loop ID (`!N = !{!N, !{"llvm.loop.vectorize.enable", i1 false}}`)."""
    option = module.add_metadata([ir.MetaDataString(module, "llvm.loop.vectorize.enable"),
                                  ir.Constant(ir.IntType(1), 0)])
    loop = ir.values.MDValue(module, [option], name=str(len(module.metadata)))
    loop.operands = (loop, option)
    return loop


def _offset(b: ir.IRBuilder, index, strides) -> ir.Value:
    total = ir.Constant(I64, 0)
    for i, s in zip(index, strides):
        if s:
            total = b.add(total, b.mul(i, ir.Constant(I64, s), flags=["nsw"]), flags=["nsw"])
    return total


def _load(b: ir.IRBuilder, pointer, offset, dtype: DType) -> ir.Value:
    value = b.load(b.gep(pointer, [offset], inbounds=True))
    if dtype is DType.float16:
        return b.fpext(value, F32)
    return b.icmp_unsigned("!=", value, ir.Constant(I8, 0)) if dtype is DType.bool else value


def _store(b: ir.IRBuilder, value, pointer, offset, dtype: DType) -> None:
    if dtype is DType.bool:
        value = b.zext(value, I8)
    elif dtype is DType.float16:
        value = b.fptrunc(value, F16)  # exact: values are rounded to half when computed
    b.store(value, b.gep(pointer, [offset], inbounds=True))


def round_half(b: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """A float32 value rounded to the nearest half, in float32 (fptrunc rounds correctly)."""
    return b.fpext(b.fptrunc(value, F16), F32)


def lower_op(b: ir.IRBuilder, operation: Operation, env: dict,
             short_trig: bool = False) -> ir.Value:
    """The value of `operation` at one element, from its operands' (`env`: id -> value). A
    literal of one element is a constant; larger ones are read like inputs (literal_arrays).
    `short_trig`: sin and cos may assume |x| <= llvm_math.SHORT_RANGE."""
    if operation.op is Op.CONSTANT:
        literal = operation.attrs["value"].array
        dtype = operation.results[0].type.dtype
        return constant(dtype, literal.reshape(-1)[0].item() if literal.size else 0)
    args = [env[id(v)] for v in operation.operands]
    types = [v.type.dtype for v in operation.operands]
    attrs = operation.attrs
    if short_trig and operation.op in TRIG:
        attrs = {**attrs, SHORT: True}
    out = operation.results[0].type.dtype
    if operation.op is Op.POW and lower_division.scalar_exponent(operation):
        attrs = {**attrs, lower_division.NUMPY_SCALAR: True}  # numpy's fast paths
    value = CONVERTERS[operation.op](b, args, types, out, attrs)
    if out.is_floating_point and isinstance(value, ir.SelectInstr):
        value = freeze(b, value)
    return round_half(b, value) if out is DType.float16 else value


def freeze(b: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """`freeze value`: a float select as an opaque value. LLVM 22's InstCombine folds nested
    select-based max patterns as if -0.0 and NaN did not exist (`r = x < 0 ? 0 : x` then
    `r > 0 ? r : 0` became r: relu then where(r > 0, r, 0) gave -0.0 and NaN); freezing each
    op's select stops that fold and costs no instruction."""
    frozen = ir.instructions.Instruction(b.block, value.type, "freeze", [value])
    b._insert(frozen)  # llvmlite's IRBuilder has no freeze()
    return frozen


def constant(dtype: DType, value) -> ir.Constant:
    if dtype is DType.bool:
        return ir.Constant(I1, int(bool(value)))
    if dtype.is_floating_point:
        return ir.Constant(REGISTER[dtype], float(value))
    return ir.Constant(REGISTER[dtype], int(value))


# --- converters ---------------------------------------------------------------------------------
Converter = Callable[..., ir.Value]
CONVERTERS: dict[Op, Converter] = {}
CONVERTER_DTYPES: dict[Op, frozenset[DType]] = {}
FLOATS = frozenset({DType.float16, DType.float32, DType.float64})
INTS = frozenset({DType.uint8, DType.int8, DType.int16, DType.int32, DType.int64})


def icmp(b: ir.IRBuilder, dtype: DType):
    """The builder's integer compare for `dtype`: unsigned for bool and uint8."""
    return b.icmp_unsigned if dtype in UNSIGNED else b.icmp_signed


def converter(*ops: Op, dtypes: frozenset[DType] | None = None):
    def register(fn: Converter) -> Converter:
        for op in ops:
            CONVERTERS[op] = fn
            if dtypes is not None:
                CONVERTER_DTYPES[op] = dtypes
        return fn
    return register


def _binary(float_op: str, int_op: str, bool_op: str | None = None):
    def convert(b, args, types, out, attrs):
        x, y = args
        if out.is_floating_point:
            return getattr(b, float_op)(x, y)
        return getattr(b, bool_op if out is DType.bool and bool_op else int_op)(x, y)
    return convert


converter(Op.ADD)(_binary("fadd", "add", "or_"))
converter(Op.SUB, dtypes=FLOATS | INTS)(_binary("fsub", "sub"))
converter(Op.MUL)(_binary("fmul", "mul", "and_"))
converter(Op.DIV, dtypes=FLOATS)(_binary("fdiv", "sdiv"))
converter(Op.BITWISE_AND, dtypes=INTS | {DType.bool})(_binary("and_", "and_"))
converter(Op.BITWISE_OR, dtypes=INTS | {DType.bool})(_binary("or_", "or_"))
converter(Op.BITWISE_XOR, dtypes=INTS | {DType.bool})(_binary("xor", "xor"))


@converter(Op.NEG, dtypes=FLOATS | INTS)
def _neg(b, args, types, out, attrs):  # -x
    return b.fneg(args[0]) if out.is_floating_point else b.neg(args[0])


def _select_max(b, x, y, dtype: DType, greater: bool) -> ir.Value:
    """numpy's maximum/minimum: `x > y or x is NaN ? x : y` (NaN from either side wins; of
    equal values, signed zeros included, the second)."""
    if dtype.is_floating_point:
        keep = b.or_(b.fcmp_ordered(">" if greater else "<", x, y), b.fcmp_unordered("uno", x, x))
        return b.select(keep, x, y)
    return b.select(icmp(b, dtype)(">" if greater else "<", x, y), x, y)


@converter(Op.MAXIMUM)
def _maximum(b, args, types, out, attrs):  # np.maximum
    return _select_max(b, *args, out, True)


@converter(Op.MINIMUM)
def _minimum(b, args, types, out, attrs):  # np.minimum
    return _select_max(b, *args, out, False)


@converter(Op.RELU, dtypes=FLOATS | INTS)
def _relu(b, args, types, out, attrs):  # where(x < 0, 0, x): -0.0 and NaN stay, as torch
    x, zero = args[0], constant(out, 0)
    below = b.fcmp_ordered("<", x, zero) if out.is_floating_point else icmp(b, out)("<", x, zero)
    return b.select(below, zero, x)


@converter(Op.ABS, dtypes=FLOATS | INTS)
def _abs(b, args, types, out, attrs):  # |x|
    x = args[0]
    if out.is_floating_point:
        return b.call(_intrinsic(b, "llvm.fabs", REGISTER[out]), [x])
    if out is DType.uint8:
        return x
    return b.select(b.icmp_signed("<", x, constant(out, 0)), b.neg(x), x)


_COMPARE = {Op.EQ: "==", Op.NE: "!=", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}


def _make_compare(op: Op):
    symbol = _COMPARE[op]

    def convert(b, args, types, out, attrs):  # numpy comparisons
        x, y = args
        dtype = types[0]
        if dtype.is_floating_point:
            return (b.fcmp_unordered if symbol == "!=" else b.fcmp_ordered)(symbol, x, y)
        return icmp(b, dtype)(symbol, x, y)
    return convert


for _op in _COMPARE:
    converter(_op)(_make_compare(_op))


@converter(Op.WHERE)
def _where(b, args, types, out, attrs):  # where(c, x, y)
    return b.select(*args)


@converter(Op.LOGICAL_NOT)
def _logical_not(b, args, types, out, attrs):  # not x
    x, dtype = args[0], types[0]
    if dtype.is_floating_point:
        return b.fcmp_ordered("==", x, constant(dtype, 0))
    return b.icmp_unsigned("==", x, constant(dtype, 0))


@converter(Op.COPY)
def _copy(b, args, types, out, attrs):  # x
    return args[0]


@converter(Op.CAST)
def _cast(b, args, types, out, attrs):  # x.astype(dtype)
    x, src = args[0], types[0]
    if src is out:
        return x
    if out is DType.bool:
        zero = constant(src, 0)
        return (b.fcmp_unordered("!=", x, zero) if src.is_floating_point
                else b.icmp_unsigned("!=", x, zero))
    to = REGISTER[out]
    if src.is_floating_point and out.is_floating_point:  # float16 rounds in lower_op
        if to == REGISTER[src]:
            return x
        return (b.fpext if out is DType.float64 else b.fptrunc)(x, to)
    if out.is_floating_point:
        return (b.uitofp if src in UNSIGNED else b.sitofp)(x, to)
    if src.is_floating_point:
        if to.width < 32:  # numpy's x86 casts: to int32, then keep the low bits
            return b.trunc(_float_to_int(b, x, src, DType.int32), to)
        return _float_to_int(b, x, src, out)
    if to.width == REGISTER[src].width:  # int8 <-> uint8: the same bits
        return x
    if to.width < REGISTER[src].width:
        return b.trunc(x, to)
    return (b.zext if src in UNSIGNED else b.sext)(x, to)


def _float_to_int(b, x, src: DType, out: DType) -> ir.Value:
    """Truncation toward zero; out of range and NaN give the minimum integer, as numpy's casts
    on x86 do (cvttss2si's "integer indefinite"). Only in-range values reach fptosi, whose
    result is poison otherwise."""
    width = REGISTER[out].width
    low, high = constant(src, -(2.0 ** (width - 1))), constant(src, 2.0 ** (width - 1))
    inside = b.and_(b.fcmp_ordered(">=", x, low), b.fcmp_ordered("<", x, high))
    value = b.fptosi(b.select(inside, x, constant(src, 0)), REGISTER[out])
    return b.select(inside, value, constant(out, -(2 ** (width - 1))))


@converter(Op.SQRT, dtypes=FLOATS)
def _sqrt(b, args, types, out, attrs):  # sqrt(x): vsqrtps, exact
    return b.call(_intrinsic(b, "llvm.sqrt", REGISTER[out]), args)


@converter(Op.RECIPROCAL, dtypes=FLOATS)
def _reciprocal(b, args, types, out, attrs):  # 1 / x
    return b.fdiv(constant(out, 1.0), args[0])


@converter(Op.RSQRT, dtypes=FLOATS)
def _rsqrt(b, args, types, out, attrs):  # 1 / sqrt(x), as the reference computes it
    return b.fdiv(constant(out, 1.0), _sqrt(b, args, types, out, attrs))


for _op, _name in ((Op.FLOOR, "llvm.floor"), (Op.CEIL, "llvm.ceil"), (Op.TRUNC, "llvm.trunc")):
    def _round(b, args, types, out, attrs, _name=_name):  # llvm rounding intrinsics vectorize
        if not out.is_floating_point:
            return args[0]
        return b.call(_intrinsic(b, _name, REGISTER[out]), args)
    converter(_op, dtypes=FLOATS | INTS)(_round)


@converter(Op.ROUND, dtypes=FLOATS | INTS)
def _round_half_even(b, args, types, out, attrs):  # np.round(x, decimals)
    x = args[0]
    if not out.is_floating_point:
        return x
    decimals = attrs["decimals"]
    if not decimals:
        return b.call(_intrinsic(b, "llvm.rint", REGISTER[out]), [x])
    scale = constant(out, _power_of_ten(abs(decimals)))  # numpy's own: x * 10^d, rint, / 10^d
    first, then = (b.fmul, b.fdiv) if decimals > 0 else (b.fdiv, b.fmul)
    return then(b.call(_intrinsic(b, "llvm.rint", REGISTER[out]), [first(x, scale)]), scale)


def _power_of_ten(n: int) -> float:
    """10^n as numpy's round computes it (a table to 1e8, then repeated products)."""
    if n < 9:
        return float(10**n)
    value = 1e9
    for _ in range(n - 9):
        value *= 10.0
    return value


@converter(Op.SIGN)
def _sign(b, args, types, out, attrs):  # 1, -1 or 0 (nan gives 0, like torch)
    x = args[0]
    if out is DType.bool:
        return x
    zero = constant(out, 0)
    if out.is_floating_point:
        positive, negative = b.fcmp_ordered(">", x, zero), b.fcmp_ordered("<", x, zero)
    else:
        positive, negative = icmp(b, out)(">", x, zero), icmp(b, out)("<", x, zero)
    return b.select(positive, constant(out, 1), b.select(negative, constant(out, -1), zero))


@converter(Op.BITWISE_NOT, dtypes=INTS | {DType.bool})
def _bitwise_not(b, args, types, out, attrs):  # ~x (not x for bool)
    return b.not_(args[0])


def _intrinsic(b: ir.IRBuilder, name: str, result, params=None) -> ir.Function:
    """Declare (once per module) an overloaded intrinsic with an explicit signature."""
    module = b.module
    full = name if name.count(".") > 1 else f"{name}.{_fname_type(result)}"
    existing = module.globals.get(full)
    if existing is not None:
        return existing
    params = params or [result]
    return ir.Function(module, ir.FunctionType(result, params), name=full)


def _fname(dtype: DType) -> str:
    return "f32" if dtype is DType.float32 else "f64"


def _fname_type(t) -> str:
    return "f32" if t == F32 else "f64"


# --- approximated math (llvm_math.py; accuracy in docs/math-accuracy.md) ------------------------
# The math the C library computes (one call per element; numpy's own SIMD versions of some of
# these can differ from it by an ulp or two, hence "approximate").
LIBM = {Op.ASIN: "asin", Op.ACOS: "acos", Op.ATAN: "atan", Op.ASINH: "asinh",
        Op.ACOSH: "acosh", Op.ATANH: "atanh", Op.ERFC: "erfc", Op.LGAMMA: "lgamma",
        Op.ATAN2: "atan2"}
APPROXIMATE = frozenset({Op.EXP, Op.EXPM1, Op.LOG, Op.LOG1P, Op.TANH, Op.SIGMOID, Op.ERF,
                         Op.SIN, Op.COS, Op.GELU, Op.SILU, *LIBM})


def _math(name: str) -> Converter:
    def convert(b, args, types, out, attrs):  # vectorizable polynomial, within a few ulps
        from . import llvm_math

        if name in ("sin", "cos"):  # lower_op's short_trig: |x| within SHORT_RANGE
            return getattr(llvm_math, f"emit_{name}")(b, args[0], attrs.get(SHORT, False))
        return getattr(llvm_math, f"emit_{name}")(b, args[0])
    return convert


for _op in (Op.EXP, Op.EXPM1, Op.LOG, Op.LOG1P, Op.TANH, Op.SIGMOID, Op.ERF, *TRIG):
    converter(_op, dtypes=FLOATS)(_math(_op.value))


@converter(Op.GELU, dtypes=FLOATS)
def _gelu(b, args, types, out, attrs):  # the reference's formula, in its order of operations
    from . import llvm_math

    x = args[0]
    c = lambda v: constant(out, v)  # noqa: E731
    if attrs["approximate"] == "tanh":
        cube = b.fmul(b.fmul(b.fmul(c(0.044715), x), x), x)
        inner = b.fmul(c(0.7978845608028654), b.fadd(x, cube))
        t = llvm_math.emit_tanh(b, inner)
    else:
        t = llvm_math.emit_erf(b, b.fmul(x, c(0.7071067811865475)))
    return b.fmul(b.fmul(c(0.5), x), b.fadd(c(1.0), t))


@converter(Op.SILU, dtypes=FLOATS)
def _silu(b, args, types, out, attrs):  # x * sigmoid(x)
    from . import llvm_math

    return b.fmul(args[0], llvm_math.emit_sigmoid(b, args[0]))


# --- C library math, fmod, shifts, gcd and lcm (the ops of ir/math_ops.py) ----------------------
def _libm_call(name: str) -> Converter:
    def convert(b, args, types, out, attrs):  # the C library's name (float) or namef
        ty = REGISTER[out]
        symbol = name if out is DType.float64 else f"{name}f"
        fn = b.module.globals.get(symbol)
        if fn is None:  # nobuiltin: LLVM must not rewrite the call into something else
            fn = ir.Function(b.module, ir.FunctionType(ty, [ty] * len(args)), name=symbol)
            fn.attributes.add("nobuiltin")
            fn.attributes.add("nounwind")
        return b.call(fn, args)
    return convert


for _op, _name in LIBM.items():
    converter(_op, dtypes=FLOATS)(_libm_call(_name))
converter(Op.NEXTAFTER, dtypes=FLOATS)(_libm_call("nextafter"))  # exact, as numpy's


@converter(Op.FMOD, dtypes=FLOATS)
def _fmod(b, args, types, out, attrs):  # np.fmod: frem is C's fmod, exact
    return b.frem(args[0], args[1])


def _shift(left: bool) -> Converter:
    def convert(b, args, types, out, attrs):  # ir/math_ops.py: out-of-range amounts as torch
        x, y = args
        bits = constant(out, REGISTER[out].width)
        inside = b.icmp_unsigned("<", y, bits)  # a negative amount is a huge unsigned one
        amount = b.select(inside, y, constant(out, 0))
        if left:
            return b.select(inside, b.shl(x, amount), constant(out, 0))
        if out in UNSIGNED:
            return b.select(inside, b.lshr(x, amount), constant(out, 0))
        fill = b.ashr(x, constant(out, REGISTER[out].width - 1))
        return b.select(inside, b.ashr(x, amount), fill)
    return convert


converter(Op.SHIFT_LEFT, dtypes=INTS)(_shift(True))
converter(Op.SHIFT_RIGHT, dtypes=INTS)(_shift(False))


def _unsigned_gcd(b, x, y, dtype: DType):
    """numpy's npy_gcdu: Euclid's loop on the magnitudes as unsigned numbers (|MIN| is 2^(n-1)),
    so gcd(MIN, 0) wraps back to MIN as in numpy."""
    magnitude = (lambda v: v) if dtype in UNSIGNED else (
        lambda v: b.select(b.icmp_signed("<", v, constant(dtype, 0)), b.neg(v), v))
    x, y = magnitude(x), magnitude(y)
    ty, pre = REGISTER[dtype], b.block
    head, body, done = (b.append_basic_block(n) for n in ("gcd.head", "gcd.body", "gcd.done"))
    b.branch(head)
    b.position_at_end(head)
    a, rest = b.phi(ty), b.phi(ty)
    a.add_incoming(x, pre)
    rest.add_incoming(y, pre)
    b.cbranch(b.icmp_unsigned("!=", a, constant(dtype, 0)), body, done)
    b.position_at_end(body)
    a.add_incoming(b.urem(rest, a), body)
    rest.add_incoming(a, body)
    b.branch(head)
    b.position_at_end(done)
    return rest, x, y


@converter(Op.GCD, dtypes=INTS)
def _gcd(b, args, types, out, attrs):  # np.gcd
    return _unsigned_gcd(b, *args, out)[0]


@converter(Op.LCM, dtypes=INTS)
def _lcm(b, args, types, out, attrs):  # np.lcm: |x| / gcd * |y| in unsigned arithmetic, 0 if 0
    g, x, y = _unsigned_gcd(b, *args, out)
    zero = b.icmp_unsigned("==", g, constant(out, 0))
    safe = b.select(zero, constant(out, 1), g)
    return b.select(zero, constant(out, 0), b.mul(b.udiv(x, safe), y))


from . import lower_division  # noqa: E402  (registers the division and power converters)
