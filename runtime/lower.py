"""Lowering elementwise groups to LLVM IR: one loop nest per fused group (or single op).

A kernel is specialised on everything that decides its memory accesses: the iteration shape,
and each operand's dtype, shape and strides. Loops have constant bounds and constant strides,
so LLVM vectorizes the innermost one; the outermost range is a parameter, so threads can split
it. `CONVERTERS` is the table of small per-op converters; an op missing from it (or a dtype it
does not handle) raises `NotLowerable`, which the executor turns into a reference fallback.

Arithmetic carries no fast-math flags: compiled elementwise results equal the reference
interpreter's bit for bit, except where a math function is an approximation (llvm_math.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llvmlite import ir

from tracejit.ir.graph import Block, Operation, Value
from tracejit.ir.ops import ELEMENTWISE, Op
from tracejit.ir.types import DType, Literal

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
F32, F64 = ir.FloatType(), ir.DoubleType()
REGISTER = {DType.float32: F32, DType.float64: F64, DType.int32: I32, DType.int64: I64,
            DType.bool: I1}
MEMORY = {**REGISTER, DType.bool: I8}


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
    layouts = [*inputs, *out_layouts]
    loop_shape, strides = collapse(shape, [broadcast_strides(x, shape) for x in layouts])
    module, fn, builder = kernel_function(name, layouts)
    pointers = list(fn.args[2:])

    def body(b: ir.IRBuilder, index: list[ir.Value]):
        offsets = [_offset(b, index, s) for s in strides]
        env = {id(arg): _load(b, p, off, x.dtype) for arg, p, off, x in
               zip(block.args, pointers, offsets, inputs)}
        for operation in block.ops:
            if operation.op is Op.YIELD:
                break
            env[id(operation.results[0])] = lower_op(b, operation, env)
        for value, p, off, x in zip(outputs, pointers[len(inputs):], offsets[len(inputs):],
                                    out_layouts):
            _store(b, env[id(value)], p, off, x.dtype)

    _loops(builder, fn.args[0], fn.args[1], loop_shape, body)
    builder.ret_void()
    object_entry(module, fn)
    return str(module), loop_shape[0]


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


def lowerable(block: Block) -> None:
    """NotLowerable naming the first op of `block` without a converter for its types."""
    for operation in block.ops:
        op = operation.op
        if op is Op.YIELD:
            continue
        if op is Op.CONSTANT:
            if not isinstance(operation.attrs["value"], Literal) or operation.results[0].type.shape:
                raise NotLowerable("constant (only scalar literals live inside kernels)")
            continue
        if op not in ELEMENTWISE or op not in CONVERTERS:
            raise NotLowerable(op.value)
        dtypes = {v.type.dtype for v in operation.operands} | {operation.results[0].type.dtype}
        allowed = CONVERTER_DTYPES.get(op)
        if allowed is not None and not dtypes <= allowed:
            raise NotLowerable(f"{op.value} on {', '.join(sorted(d.value for d in dtypes))}")


# --- loops, loads and stores --------------------------------------------------------------------

def _contiguous(shape) -> tuple[int, ...]:
    out, step = [], 1
    for n in reversed(shape):
        out.append(step)
        step *= n
    return tuple(reversed(out))


def _loops(b: ir.IRBuilder, start, stop, shape, body) -> None:
    """Nested counted loops: the outermost over [start, stop), the others over their dims."""
    def nest(level: int, index: list):
        if level == len(shape):
            body(b, index)
            return
        lo = start if level == 0 else ir.Constant(I64, 0)
        hi = stop if level == 0 else ir.Constant(I64, shape[level])
        _counted_loop(b, lo, hi, lambda i: nest(level + 1, [*index, i]))
    nest(0, [])


def _counted_loop(b: ir.IRBuilder, lo, hi, emit) -> None:
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
    b.branch(head)
    b.position_at_end(done)


def _offset(b: ir.IRBuilder, index, strides) -> ir.Value:
    total = ir.Constant(I64, 0)
    for i, s in zip(index, strides):
        if s:
            total = b.add(total, b.mul(i, ir.Constant(I64, s), flags=["nsw"]), flags=["nsw"])
    return total


def _load(b: ir.IRBuilder, pointer, offset, dtype: DType) -> ir.Value:
    value = b.load(b.gep(pointer, [offset], inbounds=True))
    return b.icmp_unsigned("!=", value, ir.Constant(I8, 0)) if dtype is DType.bool else value


def _store(b: ir.IRBuilder, value, pointer, offset, dtype: DType) -> None:
    if dtype is DType.bool:
        value = b.zext(value, I8)
    b.store(value, b.gep(pointer, [offset], inbounds=True))


def lower_op(b: ir.IRBuilder, operation: Operation, env: dict) -> ir.Value:
    if operation.op is Op.CONSTANT:
        literal = operation.attrs["value"].array
        dtype = operation.results[0].type.dtype
        return constant(dtype, literal.item())
    args = [env[id(v)] for v in operation.operands]
    types = [v.type.dtype for v in operation.operands]
    return CONVERTERS[operation.op](b, args, types, operation.results[0].type.dtype,
                                    operation.attrs)


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
FLOATS = frozenset({DType.float32, DType.float64})
INTS = frozenset({DType.int32, DType.int64})


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
    """numpy's maximum/minimum: `x >= y or x is NaN ? x : y` (NaN from either side wins)."""
    if dtype.is_floating_point:
        keep = b.fcmp_unordered(">=" if greater else "<=", x, y)  # true when either is NaN ...
        keep = b.select(b.fcmp_unordered("uno", y, y), b.fcmp_ordered("uno", x, x), keep)
        return b.select(keep, x, y)  # ... so y NaN (and x not) picks y, above
    cmp = b.icmp_signed if dtype is not DType.bool else b.icmp_unsigned
    return b.select(cmp(">=" if greater else "<=", x, y), x, y)


@converter(Op.MAXIMUM)
def _maximum(b, args, types, out, attrs):  # np.maximum
    return _select_max(b, *args, out, True)


@converter(Op.MINIMUM)
def _minimum(b, args, types, out, attrs):  # np.minimum
    return _select_max(b, *args, out, False)


@converter(Op.RELU, dtypes=FLOATS | INTS)
def _relu(b, args, types, out, attrs):  # np.maximum(x, 0)
    return _select_max(b, args[0], constant(out, 0), out, True)


@converter(Op.ABS, dtypes=FLOATS | INTS)
def _abs(b, args, types, out, attrs):  # |x|
    x = args[0]
    if out.is_floating_point:
        return b.call(_intrinsic(b, "llvm.fabs", REGISTER[out]), [x])
    return b.select(b.icmp_signed("<", x, constant(out, 0)), b.neg(x), x)


_COMPARE = {Op.EQ: "==", Op.NE: "!=", Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}


def _make_compare(op: Op):
    symbol = _COMPARE[op]

    def convert(b, args, types, out, attrs):  # numpy comparisons
        x, y = args
        dtype = types[0]
        if dtype.is_floating_point:
            return (b.fcmp_unordered if symbol == "!=" else b.fcmp_ordered)(symbol, x, y)
        cmp = b.icmp_unsigned if dtype is DType.bool else b.icmp_signed
        return cmp(symbol, x, y)
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
    if src is DType.bool:
        return b.uitofp(x, REGISTER[out]) if out.is_floating_point else b.zext(x, REGISTER[out])
    if src.is_floating_point and out.is_floating_point:
        return (b.fpext if out is DType.float64 else b.fptrunc)(x, REGISTER[out])
    if out.is_floating_point:
        return b.sitofp(x, REGISTER[out])
    if src.is_floating_point:  # saturating: out-of-range and NaN are defined, unlike fptosi
        target = REGISTER[out]
        fn = _intrinsic(b, f"llvm.fptosi.sat.i{target.width}.{_fname(src)}", target,
                        [REGISTER[src]])
        return b.call(fn, [x])
    return (b.sext if out is DType.int64 else b.trunc)(x, REGISTER[out])


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
APPROXIMATE = frozenset({Op.EXP, Op.EXPM1, Op.LOG, Op.LOG1P, Op.TANH, Op.SIGMOID, Op.ERF,
                         Op.GELU, Op.SILU})


def _math(name: str) -> Converter:
    def convert(b, args, types, out, attrs):  # vectorizable polynomial, within a few ulps
        from . import llvm_math

        return getattr(llvm_math, f"emit_{name}")(b, args[0])
    return convert


# sin and cos are not lowered: llvm_math's versions give NaN beyond |x| > 2^20 (float32), where
# numpy still answers; they stay on the reference path until a full-range reduction exists
for _op in (Op.EXP, Op.EXPM1, Op.LOG, Op.LOG1P, Op.TANH, Op.SIGMOID, Op.ERF):
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
