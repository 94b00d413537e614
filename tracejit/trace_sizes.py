"""Data-dependent (`?`) sizes under trace: ops on them sized at run time (keep_open), or a
guard where the example's size is read into Python (SizeReads, OpenSize), or a clear refusal;
never a call that silently keeps the example's size."""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from tracejit.ir import Op, TensorType, infer_types
from tracejit.ir.types import Size
from tracejit.locations import TraceError, _is_internal, user_location
from tracejit.tensor import SIZE_READS, Tensor

if TYPE_CHECKING:
    from tracejit.tracer import TraceMode

# --- data-dependent (`?`) sizes: keep them open, or refuse to bake the example's size ------------

_SIZED = frozenset({Op.RESHAPE, Op.SLICE, Op.EXPAND})  # ops whose attributes hold sizes


def baked(what: str, dim: int, size: int) -> TraceError:
    return TraceError(
        f"{what} of a tensor whose size at dim {dim} depends on the data (after nonzero or a "
        f"boolean mask): the trace would keep this example's size {size} for every call. "
        "Index that dim with a slice (x[1:], x[:-1], x[::2]), reshape with -1 there, or use "
        "@tracejit.script", user_location())


def keep_open(op, shape, example, attrs) -> tuple[Op, dict, Any]:
    """(op, attrs, picks) for a slice or reshape of a tensor whose IR `shape` has `?` dims,
    sized at run time: a whole-dim slice becomes the index op's open slice, one of fixed bounds
    (narrow, topk) the index op taking those rows (`picks`, an int64 array; a row past the end
    raises IndexError on that call), and the one reshaped dim that takes the `?` dims becomes
    -1. Anything else would bake `example`'s sizes: refused with a TraceError."""
    if op is Op.SLICE:
        spec, picks = [], None
        for d, bounds in enumerate(zip(attrs["starts"], attrs["stops"], attrs["steps"])):
            if shape[d] is not None:
                spec.append(("slice", *map(int, bounds)))
            elif bounds == (0, example[d], 1) and isinstance(bounds[1], OpenDim):
                # the dim's own size read back (narrow's other dims), not a fixed length that
                # happens to equal this example's size (narrow(0, 0, 3) of 3 rows)
                spec.append(("slice", 0, None, 1))
            elif picks is None:
                picks = np.arange(*bounds, dtype=np.int64)
                spec.append(("tensor",))
            else:
                raise baked("a slice of fixed bounds in two dims", d, example[d])
        return Op.INDEX, {"spec": tuple(spec)}, picks
    target = list(attrs["shape"])
    if -1 in target:
        return op, attrs, None
    carried = [k for k, t in enumerate(target) if isinstance(t, OpenDim)]
    if len(carried) == 1 and sum(n is None for n in shape) == 1:  # squeeze, unsqueeze, flatten
        target[carried[0]] = -1
        return op, {**attrs, "shape": tuple(target)}, None
    # match the dims other than 1 from both ends; the one target dim left takes the `?` dims
    src = [s for s in shape if s != 1]
    dst = [k for k, t in enumerate(target) if t != 1]
    i = 0
    while i < min(len(src), len(dst)) and src[i] is not None and src[i] == target[dst[i]]:
        i += 1
    j = 0
    while j < min(len(src), len(dst)) - i and src[-1 - j] is not None and src[-1 - j] == target[
            dst[-1 - j]]:
        j += 1
    takers = dst[i:len(dst) - j]
    if not takers:  # the `?` dims are all 1 here: any reshape fits, -1 or not
        raise SizeOne
    if len(takers) != 1:
        takers = _dividing_takers(shape, target)
    if len(takers) != 1:
        d = next(k for k, s in enumerate(shape) if s is None)
        raise baked(f"reshape to {target}", d, example[d])
    target[takers[0]] = -1
    return op, {**attrs, "shape": tuple(target)}, None


def _dividing_takers(shape, target) -> list[int]:
    """The target dims that can take the one `?` dim of `shape` for every size n of it: the
    static dims before and after that target dim divide those before and after the `?`."""
    if sum(n is None for n in shape) != 1:
        return []
    p = shape.index(None)
    before, after = math.prod(shape[:p]), math.prod(shape[p + 1:])
    def divides(d, n):
        return d != 0 and n % d == 0
    return [t for t in range(len(target))
            if divides(math.prod(target[:t]), before) and divides(math.prod(target[t + 1:]), after)]


class OpenDim(int):
    """The size of a `?` dim as tracejit's own code reads it (see SizeReads.shape): an int
    that tells keep_open "the whole dim" apart from a fixed bound equal to this example's."""

    __slots__ = ()


def plain(attrs: dict) -> dict:
    """`attrs` with every OpenDim made a plain int (attributes are plain data)."""
    def fix(v):
        if isinstance(v, OpenDim):
            return int(v)
        return tuple(map(fix, v)) if type(v) is tuple else v
    return {k: fix(v) for k, v in attrs.items()}


def _rule_takes_open(op, values, attrs) -> bool:
    """Whether `op`'s shape rule sizes its result from operands with `?` dims. One that cannot
    does arithmetic on the unknown size (a TypeError) or compares it (an error naming None or
    "(?)");
    one that refuses them on purpose raises its own error, with the fix, when recorded. (The
    example's sizes passed the rule in dispatch already.)"""
    try:
        infer_types(op, [v.type for v in values], attrs)
    except TypeError:
        return False
    except (ValueError, RuntimeError, IndexError, ArithmeticError) as e:
        return "None" not in str(e) and "(?)" not in str(e)  # compared an unknown size
    return True


def plain_types(types: tuple[TensorType, ...]) -> tuple[TensorType, ...]:
    """`types` with every OpenDim in a shape made a plain int."""
    if not any(isinstance(n, OpenDim) for t in types for n in t.shape):
        return types
    return tuple(TensorType(t.dtype, tuple(n if n is None else int(n) for n in t.shape))
                 for t in types)


class SizeOne(Exception):  # a signal for TraceMode.apply, not an error
    """A reshape whose example leaves its `?` dims 1, so no target dim takes them: guarded."""


# --- reading a `?` dim's size into Python: a guard, so no call silently keeps the example's ------

SIZE_GUARD = "tracejit size guard: "  # starts the message of the assert a size read records
RUNTIME_CHECK = "tracejit check: "  # starts an assert's message that calls raise as RuntimeError


def _length(tensor: Tensor, dim: int) -> Tensor:
    """The size of `tensor`'s dim `dim` as a traced int64[] (a `?` dim's size on each call)."""
    # a bool tensor of its shape (any values), reduced to the dim; its length, counted
    flags = tensor if tensor._data.dtype == np.bool_ else tensor.ne(tensor)
    others = tuple(k for k in range(tensor.ndim) if k != dim)
    rows = flags.any(dim=others) if others else flags
    return rows.eq(rows).sum()


def runtime_error(error: AssertionError) -> Exception:
    """The error a call raises for a failed assert op: RuntimeError for tracejit's own checks
    (torch raises RuntimeError there), the AssertionError itself for the user's asserts."""
    text = str(error)
    if RUNTIME_CHECK not in text:
        return error
    where, _, said = text.partition(RUNTIME_CHECK)
    if said.startswith("IndexError: "):
        return IndexError(f"{where}{said.removeprefix('IndexError: ')}")
    return RuntimeError(f"{where}{said}")


class OpenSize(Size):
    """The shape of a tensor with `?` dims, as traced code reads it: the ints are this
    example's sizes, and taking one of a `?` dim (indexing, unpacking, comparing, numel)
    records a guard that the dim has that size on each call. `len()` and static dims are free."""

    def __new__(cls, dims, reads):
        size = super().__new__(cls, dims)
        size._reads = tuple(reads)  # per dim: None (static), or the call that records its guard
        return size

    def _read(self, k):
        if self._reads[k] is not None:
            self._reads[k]()

    def _read_all(self) -> tuple:
        for k in range(len(self)):
            self._read(k)
        return tuple(tuple.__iter__(self))

    def __getitem__(self, k):
        if isinstance(k, slice):
            return OpenSize(tuple.__getitem__(self, k), self._reads[k])
        self._read(k)
        return tuple.__getitem__(self, k)

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    def __add__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        reads = getattr(other, "_reads", (None,) * len(other))
        return OpenSize(tuple.__add__(self, other), self._reads + reads)

    def __radd__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return OpenSize(tuple.__add__(other, self), (None,) * len(other) + self._reads)

    def __repr__(self) -> str:  # printing reads nothing into the computation
        return f"tracejit.Size({list(tuple.__iter__(self))})"

    def __reduce__(self):
        return (Size, (self._read_all(),))

    def __eq__(self, other):
        return self._read_all() == other

    def __ne__(self, other):
        return self._read_all() != other

    def __lt__(self, other):
        return self._read_all() < other

    def __le__(self, other):
        return self._read_all() <= other

    def __gt__(self, other):
        return self._read_all() > other

    def __ge__(self, other):
        return self._read_all() >= other

    def __hash__(self):
        return hash(self._read_all())

    def __contains__(self, item):
        return item in self._read_all()

    def __mul__(self, n):
        return Size(self._read_all() * n)

    __rmul__ = __mul__

    def count(self, item) -> int:
        return self._read_all().count(item)

    def index(self, *args) -> int:
        return self._read_all().index(*args)


def size_guard_error(message: str, where: str) -> RuntimeError:
    """The error of a call whose `?` dim no longer has the size the trace read at its line."""
    said = message.split(SIZE_GUARD, 1)[-1]
    return RuntimeError(
        f"{said} when traced, and differs on this call: {where} baked that size in and "
        "cannot trace again. Capture the source again for this size (tracejit.trace or "
        "tracejit.script capture each new size; strict=False), or use code that does not "
        "read the size "
        "(reshape(-1, ...), view(-1, ...), x.new_zeros(...)/zeros_like of the tensor itself, "
        "slices instead of a loop over range(len(x)))")


# tracejit's own code whose reads of a `?` size become ops the tracer sizes at run time
# (keep_open, open_expand, the index op), or refuses, or only check shapes the kernels check
# again: free (None: the whole module). Every other read is guarded, tracejit's composites
# included (var's count, roll's shift, zeros_like's shape, an `if x.numel() == 0` branch). cat
# skips an empty 1-D tensor: a read only matters where the example's is empty.
_SIZING: dict[str, frozenset | None] = {
    "tracejit.tracer": None,
    "tracejit.trace_sizes": None,
    "tracejit.indexing": None,
    "tracejit.dispatch": frozenset({"assign"}),
    "tracejit.functions": frozenset({
        "reshape", "view", "flatten", "unflatten", "squeeze", "unsqueeze", "narrow",
        "_slice_dim", "chunk", "split", "expand", "expand.<locals>.<genexpr>", "repeat",
        "stack"}),
    "tracejit.functions_index": frozenset({"topk"}),
}


class SizeReads:
    """Installed in tracejit.tensor while a trace runs: `shape`, `size()`, `len()`, `numel()`
    and iteration of a tensor with `?` dims, called from the user's code, guard what they read
    (tracejit's own code reads shapes for ops that size `?` dims at run time: free)."""

    def __init__(self, mode: TraceMode):
        self.mode = mode

    def __enter__(self):
        SIZE_READS.append(self)
        return self

    def __exit__(self, *exc):
        SIZE_READS.remove(self)

    def open_dims(self, tensor, frame) -> tuple | None:
        """The IR shape of `tensor` if it has `?` dims whose sizes this read must guard."""
        value = getattr(tensor, "_value", None)
        if value is None or None not in value.type.shape or id(value) not in self.mode.dynamic:
            return None
        if _is_internal(frame):
            code = frame.f_code
            free = _SIZING.get(frame.f_globals.get("__name__", ""), ())
            if free is None or code.co_qualname in free or (
                    code.co_qualname == "cat.<locals>.<listcomp>" and tensor._data.size):
                return None
        return value.type.shape

    def shape(self, tensor, size: Size, frame) -> Size:
        dims = self.open_dims(tensor, frame)
        if dims is None:
            self.squeezed(tensor, frame)
            value = getattr(tensor, "_value", None)
            if value is not None and None in value.type.shape:  # a free read: marked
                return Size(OpenDim(n) if d is None else n
                            for d, n in zip(value.type.shape, size))
            return size
        return OpenSize(size, [None if n is not None else functools.partial(
            self.mode.guard_size, tensor, d) for d, n in enumerate(dims)])

    def squeezed(self, tensor, frame) -> None:
        """squeeze() keeps or drops a dim by whether its size is 1: for a `?` dim, that size
        is read (guarded)."""
        if frame.f_code.co_qualname != "squeeze" or frame.f_globals.get("__name__") != (
                "tracejit.functions"):
            return
        value = getattr(tensor, "_value", None)
        if value is not None and id(value) in self.mode.dynamic:
            for d in frame.f_locals.get("dims", ()):
                if value.type.shape[d] is None:
                    self.mode.guard_size(tensor, d)

    def dim(self, tensor, d: int, frame) -> None:
        """The size of dim `d` (normalized) is read as an int."""
        dims = self.open_dims(tensor, frame)
        if dims is not None and dims[d] is None:
            self.mode.guard_size(tensor, d)

    def every(self, tensor, frame) -> None:
        """Every size is read (numel())."""
        dims = self.open_dims(tensor, frame)
        for d, n in enumerate(dims or ()):
            if n is None:
                self.mode.guard_size(tensor, d)
