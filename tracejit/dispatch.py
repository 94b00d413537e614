"""The one dispatch point: every Tensor method and functional call ends in `dispatch(op, ...)`.

Dispatch checks attributes against the op table, applies torch's type promotion (implemented
once, here), infers the result type with the op's shape rule (which raises torch's exception
types with clear messages), and hands the op to the mode stack: autograd's layer on top
(tracejit/autograd/mode.py) records the tape and delegates to the execution mode below it.
`EagerMode` runs the numpy reference implementation; the tracer and scripter capture.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from numbers import Number
from typing import TYPE_CHECKING, Any

import numpy as np

from tracejit import random
from tracejit.ir import OPS, DType, Kind, Op, Promotion, TensorType, complete_attrs, infer_types
from tracejit.ir.numpy_impl import has_internal_overlap
from tracejit.ir.ops import check_dtypes, evaluate
from tracejit.ir.types import Category, promote_types

if TYPE_CHECKING:
    from tracejit.tensor import Tensor

# TRACEJIT_CHECKS=1 (the test suite sets it) also checks every eager result against its rule.
CHECKS = os.environ.get("TRACEJIT_CHECKS", "") not in ("", "0")


class Mode:
    """What a dispatched op does. Subclasses: eager execution, tracing, autograd (which
    records the tape and delegates to the mode below it)."""

    def apply(self, op: Op, operands: list[Tensor], attrs: dict[str, Any],
              types: tuple[TensorType, ...]) -> Tensor:
        raise NotImplementedError

    def assign(self, dst: Tensor, src: Tensor) -> None:
        """Write `src` (same dtype and shape) into `dst` in place."""
        raise NotImplementedError

    def concrete(self, tensor: Tensor, use: str) -> np.ndarray:
        """The values of `tensor`, handed to Python for `use` ('item()', 'bool()', ...).
        Eager mode just returns them; a tracer raises or guards here instead."""
        return tensor._data

    def alias(self, dst: Tensor, src: Tensor) -> None:
        """`dst` now shares `src`'s memory (`.data`, `.detach()`, `Parameter(t)`)."""

    def check_index_select(self, input: Tensor, index: Tensor, dim: int) -> None:
        """index_select's bounds, torch's IndexError: eager gather finds a bad index itself
        (index_select rewords its error); a capture mode records a check for each call."""

    def unsupported(self, what: str) -> None:
        """`what` is about to run outside the op table (a capture mode refuses it here)."""

    def created(self, tensor: Tensor) -> Tensor:
        """`tensor` was just made from Python data (`tracejit.tensor(...)`, not an op)."""
        return tensor


# Ops whose result torch allocates contiguous whatever the layout of their operands (numpy's
# would follow a permuted operand's); reductions too.
C_ORDER_OPS = frozenset({Op.CAT, Op.PAD})


class EagerMode(Mode):
    """Runs each op now with the op table's numpy implementation."""

    def apply(self, op, operands, attrs, types) -> Tensor:
        rng = random.default_generator() if OPS[op].random else None
        try:
            out = evaluate(op, [t._data for t in operands], attrs, types[0], rng)
        except (RuntimeError, IndexError):
            raise
        except (ValueError, TypeError, ArithmeticError) as e:
            shown = ", ".join(str(t) for t in _types(operands))
            raise RuntimeError(f"{op.value}: {e} (operands: {shown})") from None
        if (op in C_ORDER_OPS or OPS[op].kind is Kind.REDUCTION) and not out.flags.c_contiguous:
            out = np.asarray(out, order="C")  # torch allocates these contiguous (.view works)
        if CHECKS and not _shape_matches(types[0].shape, out.shape):
            raise AssertionError(
                f"op table bug: {op.value} produced shape {out.shape}, its rule says "
                f"{types[0].shape}"
            )
        return tensor_module.Tensor._wrap(out)

    def assign(self, dst, src) -> None:
        check_writable(dst._data, overlap=False)
        if has_internal_overlap(dst._data):  # a write of some elements (x[0, 0] = v, masked)
            np.copyto(dst._data, src._data, where=_changed(dst._data, src._data))
        else:
            np.copyto(dst._data, src._data)


def _changed(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Where `new` differs from `old` bit for bit: only those elements are written into an
    expanded tensor, so an unwritten element sharing memory with a written one keeps it."""
    unsigned = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}.get(old.dtype.itemsize)
    if unsigned is None:
        return old != new
    return old.view(unsigned) != np.ascontiguousarray(new).view(unsigned)


# Writes torch lets into an expanded tensor: they change chosen elements, not all of them
# (a plain x[key] = v checks the elements its key selects, in indexing.setitem).
_PARTIAL_WRITES = frozenset({"index_put_", "index_fill_", "masked_fill_", "fill_diagonal_",
                             "fill_"})


def check_writable(data: np.ndarray, overlap: bool = True) -> None:
    """torch's refusal of an in-place write into `data`: one where two written elements share
    a memory location (an expanded dim of size > 1); also one into a read-only numpy array."""
    if overlap and has_internal_overlap(data):
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location. Please clone() the tensor before performing the operation."
        )
    if not data.flags.writeable:
        raise RuntimeError(
            "unsupported operation: the written-to tensor wraps a read-only numpy array "
            "(np.broadcast_to, a file mapped read-only, ...). Please clone() the tensor before "
            "performing the operation."
        )


def _shape_matches(want, got) -> bool:
    return len(want) == len(got) and all(w is None or w == g for w, g in zip(want, got))


class _State(threading.local):
    """Per thread: the execution mode (eager, or a tracer's), the stack of modes on it that
    dispatch calls (`top`: the autograd mode delegating to it), grad mode, the default dtype."""

    def __init__(self):
        self.mode: Mode = EagerMode()
        self.top: Mode = _autograd_mode.AutogradMode(self.mode)
        self.grad_enabled: bool = True
        self.default_dtype: DType = DType.float32


# autograd's mode subclasses Mode (defined above); the thread state puts it on top
from tracejit.autograd import mode as _autograd_mode  # noqa: E402

_state = _State()


def current_mode() -> Mode:
    """The execution mode (eager, or the tracer capturing): below autograd's layer."""
    return _state.mode


def concrete(tensor: Tensor, use: str) -> np.ndarray:
    """Every place a tensor's values leave for Python goes through here (see Mode.concrete)."""
    return _state.top.concrete(tensor, use)


def alias(dst: Tensor, src: Tensor) -> Tensor:
    """Tell the mode that `dst` shares `src`'s memory; returns `dst`."""
    _state.top.alias(dst, src)
    return dst


def created(tensor: Tensor) -> Tensor:
    """Tell the mode that `tensor` was just made from Python data; returns it."""
    return _state.top.created(tensor)


@contextlib.contextmanager
def using_mode(mode: Mode) -> Iterator[None]:
    """Run the enclosed code with `mode` executing dispatched ops (the tracer uses this);
    autograd's layer stays on top of it, so a traced function's backward is traced too."""
    saved = _state.mode, _state.top
    _state.mode, _state.top = mode, type(saved[1])(mode)
    try:
        yield mode
    finally:
        _state.mode, _state.top = saved


def get_default_dtype() -> DType:
    return _state.default_dtype


def set_default_dtype(dtype: DType) -> None:
    from tracejit.dtypes import refuse_unsupported

    refuse_unsupported(dtype)
    if not isinstance(dtype, DType) or not dtype.is_floating_point:
        raise TypeError(
            f"only floating-point types are supported as the default type, got {dtype!r}"
        )
    _state.default_dtype = dtype


# --- type promotion ---------------------------------------------------------------------------

def scalar_dtype(value) -> DType:
    """The dtype a Python scalar brings to promotion: bool, int64 or the default float."""
    if isinstance(value, (bool, np.bool_)):
        return DType.bool
    if isinstance(value, (int, np.integer)):
        return DType.int64
    if isinstance(value, (float, np.floating)):
        return _state.default_dtype
    raise TypeError(f"expected a Tensor or a Python number, got {type(value).__name__}")


def _update(current: DType | None, dtype: DType) -> DType:
    return dtype if current is None else promote_types(current, dtype)


def _combine(higher: DType | None, lower: DType | None) -> DType | None:
    """torch's combine_categories: a lower-priority group only counts if its category is higher."""
    if higher is None:
        return lower
    if lower is None or higher.is_floating_point:
        return higher
    if higher is DType.bool or lower.category > higher.category:
        return promote_types(higher, lower)
    return higher


def result_type(*args) -> DType:
    """torch.result_type: dimensioned tensors, then 0-d tensors, then Python scalars."""
    Tensor = tensor_module.Tensor
    dims = zero = scalars = weak = None
    for a in args:
        if isinstance(a, Tensor):
            py_type = getattr(a, "py_type", None) if type(a) is not Tensor else None
            if py_type is not None:  # a Python number held as a 0-d tensor (script's args)
                scalars = _update(scalars, scalar_dtype(py_type()))
                weak = _update(weak, a.dtype)
            elif a._data.ndim:
                dims = _update(dims, a.dtype)
            else:
                zero = _update(zero, a.dtype)
        else:
            scalars = _update(scalars, scalar_dtype(a))
    if weak is not None and dims is None and zero is None:  # Python arithmetic on numbers
        return promote_types(weak, DType.float64 if scalars.is_floating_point else scalars)
    return _combine(_combine(dims, zero), scalars)


def can_cast(src: DType, dst: DType) -> bool:
    """torch.can_cast for in-place results: never to a lower category (float -> int)."""
    return src.category <= dst.category


def to_dtype(value, dtype: DType, checked: bool = False) -> Tensor:
    """A Tensor of `dtype`: casts a Tensor (a dispatched op), wraps a Python scalar as a 0-d
    literal (capture modes record tensors they have not seen as constants). A Python int wraps
    into a small int dtype as in torch's arithmetic; `checked` raises instead (torch's pow,
    clamp, where and fill check their scalars)."""
    Tensor = tensor_module.Tensor
    if isinstance(value, Tensor):
        return value if value.dtype is dtype else dispatch(Op.CAST, value, dtype=dtype)
    if isinstance(value, np.ndarray):
        return to_dtype(Tensor._from_array(value), dtype)
    value = _py_scalar(value)
    if checked:
        check_fits(value, dtype)
    try:
        if dtype.category is Category.INT and isinstance(value, int):
            # torch wraps a Python int into a small int dtype: uint8 tensor + 300 adds 44
            return Tensor._wrap(np.array(value, dtype=np.int64).astype(dtype.np))
        if dtype is DType.float16:  # torch rounds a Python float to half via float32
            with np.errstate(over="ignore"):  # beyond 65504: inf, as torch
                return Tensor._wrap(np.array(np.float32(value), dtype=dtype.np))
        return Tensor._wrap(np.array(value, dtype=dtype.np))
    except OverflowError:
        raise RuntimeError(f"value cannot be converted to type {dtype.value} without overflow: "
                           f"{value!r}") from None


def _py_scalar(value):
    return value.item() if isinstance(value, np.generic) else value


def check_fits(value, dtype: DType) -> None:
    """torch's Scalar.to<T> check (c10::overflows): a Python int within the dtype (uint8 also
    takes -255..-1, wrapping), a finite float within float16's range; RuntimeError otherwise."""
    fits = True
    if dtype.category is Category.INT and isinstance(value, int):
        info = np.iinfo(dtype.np)
        fits = (-info.max if info.min == 0 else info.min) <= value <= info.max
    elif dtype is DType.float16 and isinstance(value, float) and np.isfinite(value):
        fits = abs(value) <= float(np.finfo(np.float16).max)
    if not fits:
        raise RuntimeError(f"value cannot be converted to type {dtype.value} without overflow: "
                           f"{value!r}")


# the operands torch converts from a Python scalar with an overflow check (its Scalar.to<T>:
# pow's exponent, clamp's bounds, where's values); elsewhere an int wraps (uint8 + 300)
CHECKED_SCALARS = {Op.POW: (1,), Op.MAXIMUM: (0, 1), Op.MINIMUM: (0, 1), Op.WHERE: (1, 2)}


def _promote(op: Op, args: tuple) -> list[Tensor]:
    Tensor = tensor_module.Tensor
    opdef = OPS[op]
    if any(type(a) is np.ndarray for a in args):
        args = tuple(Tensor._from_array(a) if type(a) is np.ndarray else a for a in args)
    if opdef.promotion is Promotion.NONE:
        for a in args:
            if not isinstance(a, Tensor):
                raise TypeError(
                    f"{op.value}(): expected Tensor operands, got {type(a).__name__}"
                )
        return list(args)
    positions = opdef.promoted if opdef.promoted is not None else range(len(args))
    check_operands(op, *args)
    dtype = result_type(*(args[i] for i in positions))
    if opdef.promotion is Promotion.INT_TO_FLOAT and dtype.category < Category.FLOAT:
        dtype = _state.default_dtype
    out = list(args)
    for i in positions:  # torch's where checks an int scalar, not a float one
        checked = i in CHECKED_SCALARS.get(op, ()) and not (
            op is Op.WHERE and isinstance(args[i], float))
        out[i] = to_dtype(args[i], dtype, checked)
    for i, a in enumerate(out):
        if not isinstance(a, Tensor):
            raise TypeError(f"{op.value}(): operand {i} must be a Tensor, got {type(a).__name__}")
    return out


def check_operands(op: Op, *args) -> None:
    """The op's rule on operand dtypes before promotion (OpDef.operand_dtypes: bool - x)."""
    allowed = OPS[op].operand_dtypes
    if allowed is not None:
        check_dtypes(op, [_operand_dtype(a) for a in args], allowed)


def _operand_dtype(value) -> DType:
    return value.dtype if isinstance(value, tensor_module.Tensor) else scalar_dtype(value)


def _types(tensors) -> list[TensorType]:
    return [t._type for t in tensors]


# --- the dispatch point -------------------------------------------------------------------------

def dispatch(op: Op, *args, **attrs) -> Tensor:
    """Run `op` on `args` (Tensors or Python scalars) in the active mode; returns a Tensor."""
    if op in HALF_BY_SCALAR and len(args) == 2 and not attrs:
        scaled = _half_by_scalar(op, *args)
        if scaled is not None:
            return scaled
    attrs = complete_attrs(op, attrs)
    operands = _promote(op, args)
    types = infer_types(op, _types(operands), attrs)
    return _state.top.apply(op, operands, attrs, types)


# torch's CPU mul and div of a float16 tensor by a CPU scalar (a Python number or a 0-d tensor)
# use the scalar's value in float32 rather than the scalar rounded to half: x * 0.1 is
# half(float(x) * 0.1f). The operand positions that count: mul's either one, div's divisor.
HALF_BY_SCALAR = {Op.MUL: (0, 1), Op.DIV: (1,)}


def _half_by_scalar(op: Op, a, b) -> Tensor | None:
    """`op(a, b)` computed as torch does when it is a float16 tensor and a scalar; else None."""
    Tensor = tensor_module.Tensor
    zero_dim = all(not isinstance(v, Tensor) or v._data.ndim == 0 for v in (a, b))
    for k in (0, 1) if zero_dim else HALF_BY_SCALAR[op]:  # 0-d: both scalars, either side
        x, s = (b, a) if k == 0 else (a, b)
        scalar = (is_number(s) and not isinstance(s, bool)) or (
            isinstance(s, Tensor) and s._data.ndim == 0 and s.dtype.category > Category.BOOL
            and (k == 1 or zero_dim))  # torch.mul(0-d tensor, x) rounds it to half first
        if (scalar and isinstance(x, Tensor) and x.dtype is DType.float16
                and result_type(x, s) is DType.float16):
            wide = dispatch(Op.CAST, x, dtype=DType.float32)
            s = to_dtype(s, DType.float32)
            out = dispatch(op, *((s, wide) if k == 0 else (wide, s)))
            return dispatch(Op.CAST, out, dtype=DType.float16)
    return None


def dispatch_inplace(op: Op, target: Tensor, *args, **attrs) -> Tensor:
    """`target.op_(...)`: compute `op(target, *args)`, then write it into `target`."""
    return assign(target, dispatch(op, target, *args, **attrs), f"{op.value}_")


def assign(target: Tensor, result: Tensor, what: str = "copy_") -> Tensor:
    """Write `result` into `target` (torch's in-place rules: same shape, castable dtype)."""
    if tuple(result.shape) != tuple(target.shape):
        raise RuntimeError(
            f"{what}: output with shape {list(target.shape)} doesn't match the broadcast shape "
            f"{list(result.shape)}"
        )
    if not can_cast(result.dtype, target.dtype):
        raise RuntimeError(
            f"{what}: result type {result.dtype.value} can't be cast to the desired output "
            f"type {target.dtype.value}"
        )
    if what not in _PARTIAL_WRITES:
        check_writable(target._data)
    _state.top.assign(target, to_dtype(result, target.dtype))
    return target


def is_number(value) -> bool:
    return isinstance(value, Number) and not isinstance(value, complex)


# Imported last: tensor.py imports this module, and only needs it complete at call time.
from tracejit import tensor as tensor_module  # noqa: E402
