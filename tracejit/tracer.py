"""The tracing mode: runs each dispatched op eagerly AND records it into a Graph.

Running for real keeps every Tensor's values right, so user code that reads shapes or prints
works unchanged; recording gives the graph. What tracing cannot capture raises `TraceError` at
the user's line: a traced value escaping to Python (`bool()`, `.item()`, ...), numpy-side
randomness, in-place writes the graph could not replay. (A later milestone turns the escapes
into guards with an eager fallback: they all arrive at `TraceMode.concrete`.)
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import sys
import sysconfig
import weakref
from types import CodeType
from typing import Any, NoReturn

import numpy as np

from tracejit.dispatch import EagerMode, current_mode
from tracejit.ir import OPS, Kind, Op, TensorType, infer_types
from tracejit.ir.graph import Block, ConstRef, Graph, Loc, Operation, Value, literal_or_ref
from tracejit.ir.types import Size
from tracejit.ir.verifier import verify
from tracejit.tensor import SIZE_READS, Tensor

# code object -> its co_positions(), for as long as the code lives
_VIEWS = frozenset({Op.RESHAPE, Op.PERMUTE, Op.EXPAND, Op.SLICE})  # may share their input's memory
_POSITIONS: weakref.WeakKeyDictionary[CodeType, list] = weakref.WeakKeyDictionary()


class TraceError(RuntimeError):
    """Something tracing cannot capture faithfully; the message starts at the user's line."""

    def __init__(self, message: str, loc: Loc | None = None):
        self.loc = loc
        super().__init__(f"{loc}: error: {message}" if loc is not None else message)


# the standard library's own files: its decorator wrappers (contextlib's ContextDecorator behind
# `@no_grad()`, functools) stand between tracejit and the user's line
_STDLIB = tuple(sorted({sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")}))
_SITE = tuple(sorted({sysconfig.get_paths()[k] for k in ("purelib", "platlib")}))


def _is_internal(frame) -> bool:
    """A frame of tracejit itself or of a standard-library wrapper, not the user's code."""
    name = frame.f_globals.get("__name__", "")
    if name == "tracejit" or (name.startswith("tracejit.")
                              and not name.startswith("tracejit.examples.")):  # user code
        return True
    file = frame.f_code.co_filename
    return file.startswith(_STDLIB) and not file.startswith(_SITE)


def user_location() -> Loc | None:
    """The first frame outside tracejit and the standard library's wrappers: the user's file,
    line and column."""
    frame = sys._getframe(1)
    while frame is not None and _is_internal(frame):
        frame = frame.f_back
    if frame is None:
        return None
    code = frame.f_code
    positions = _POSITIONS.get(code)
    if positions is None:
        positions = _POSITIONS[code] = list(code.co_positions())
    line, _, col, _ = positions[frame.f_lasti // 2] if frame.f_lasti >= 0 else (None,) * 4
    return Loc(code.co_filename, line or frame.f_lineno, (col + 1) if col is not None else 0)


_TORCH_ERRORS = (RuntimeError, IndexError, TypeError, ValueError)


def with_location(error: BaseException) -> BaseException:
    """`error` raised by the user's code while it was traced, as the same type with the user's
    line (the innermost frame of theirs in its traceback) before its message; other errors,
    and those already located (TraceError), unchanged."""
    if type(error) not in _TORCH_ERRORS or len(error.args) > 1:
        return error
    loc, tb = None, error.__traceback__
    while tb is not None:
        if not _is_internal(tb.tb_frame):
            code = tb.tb_frame.f_code
            line, _, col, _ = next(itertools.islice(code.co_positions(), tb.tb_lasti // 2, None),
                                   (None,) * 4)
            loc = Loc(code.co_filename, line or tb.tb_lineno, (col + 1) if col is not None else 0)
        tb = tb.tb_next
    text = str(error)
    if loc is None or text.startswith(f"{loc.file}:"):
        return error
    return type(error)(f"{loc}: error: {text}").with_traceback(error.__traceback__)


_ESCAPES = {
    "bool()": "Python control flow on a traced Tensor (bool()): the trace would keep only the "
              "branch these example inputs take",
    "item()": "item() on a traced Tensor: the trace would bake its value in as a constant",
    "int()": "int() on a traced Tensor: the trace would bake its value in as a constant",
    "float()": "float() on a traced Tensor: the trace would bake its value in as a constant",
    "use as a Python index": "a traced Tensor used as a Python index (__index__): the trace "
                             "would bake its value in as a constant",
    "tolist()": "tolist() on a traced Tensor: Python code on its values is not traced",
    "numpy()": "numpy() on a traced Tensor: numpy code on its values is not traced",
    "numpy.asarray()": "a traced Tensor converted to a numpy array: numpy code on its values "
                       "is not traced",
    "format()": "a traced Tensor formatted as a number (an f-string or format()): the trace "
                "would bake its value into the text",
    "tensor()": "tensor() of a traced Tensor: the trace would bake its values in as a "
                "constant; copy it with .clone() instead",
}
_ADVICE = ("use @tracejit.script for data-dependent control flow, tracejit.where() to select "
           "values without branching, or keep the computation in tracejit ops")


def _unknown_dims(values) -> bool:
    return any(d is None for v in values for d in getattr(v.type, "shape", ()))


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
    does arithmetic on the unknown size (a TypeError) or compares it (an error naming None);
    one that refuses them on purpose raises its own error, with the fix, when recorded. (The
    example's sizes passed the rule in dispatch already.)"""
    try:
        infer_types(op, [v.type for v in values], attrs)
    except TypeError:
        return False
    except (ValueError, RuntimeError, IndexError, ArithmeticError) as e:
        return "None" not in str(e)
    return True


class SizeOne(Exception):  # a signal for TraceMode.apply, not an error
    """A reshape whose example leaves its `?` dims 1, so no target dim takes them: guarded."""


def _is_view(op, operands, out) -> bool:
    """Whether `out` views operands[0] in torch: a movement op numpy also made a view, or the
    index op of a basic index along a `?` dim, whose index tensors stand for integers or a
    fixed range (tagged `_basic_index`): numpy copies those, torch does not. An empty example
    shares no memory, but other calls' data may: its views count as views."""
    if op is Op.INDEX and len(operands) > 1:
        return all(getattr(t, "_basic_index", False) for t in operands[1:])
    viewing = op in _VIEWS or op is Op.INDEX
    if viewing and (out._data.size == 0 or operands[0]._data.size == 0):
        return op is not Op.RESHAPE or operands[0]._data.flags.c_contiguous
    return viewing and np.may_share_memory(out._data, operands[0]._data)


def _write_rows(base, child, spec, extra) -> None:
    """Give the example values of `base` the rows a write to its copied view `child` changed,
    so later ops traced on `base` see them, as torch's view would."""
    if len(extra) and base._data.flags.writeable:
        from tracejit.ir.numpy_impl import index_put

        indices = [t._data for t in extra]
        np.copyto(base._data, index_put(base._data, child._data, *indices, spec=spec))


def _shape_attr(tensor) -> tuple:
    """A reshape's target shape for `tensor`: its one `?` dim, if any, as -1."""
    shape = tensor._value.type.shape
    if sum(d is None for d in shape) != 1:
        return tuple(tensor.shape)
    return tuple(-1 if d is None else d for d in shape)


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
        "cannot trace again. Use @tracejit.script, or code that does not read the size "
        "(reshape(-1, ...), view(-1, ...), x.new_zeros(...)/zeros_like of the tensor itself, "
        "slices instead of a loop over range(len(x)))")


# tracejit's own code whose reads of a `?` size become ops the tracer sizes at run time
# (keep_open, open_expand, the index op), or refuses, or only check shapes the kernels check
# again: free (None: the whole module). Every other read is guarded, tracejit's composites
# included (var's count, roll's shift, zeros_like's shape, an `if x.numel() == 0` branch). cat
# skips an empty 1-D tensor: a read only matters where the example's is empty.
_SIZING: dict[str, frozenset | None] = {
    "tracejit.tracer": None,
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


class NeedsValues(Exception):  # a signal for the caller, not an error
    """Abstract tracing met an op whose result shape depends on values (`x[mask]`)."""


class TraceMode(EagerMode):
    """Records every op into one block. Abstractly by default: an op on values that depend on
    the inputs (or on randomness) gets an uninitialized result of the right type instead of
    being computed, so tracing a large model costs no arithmetic and has no side effects on
    the inputs; view ops and ops on constants still run, so aliasing and constant values stay
    real. `abstract=False` computes everything (needed for data-dependent shapes)."""

    def __init__(self, name: str, abstract: bool = True):
        self.name = name
        self.abstract = abstract
        self.body = Block()
        self.constants: dict[str, np.ndarray] = {}
        self.dynamic: set[int] = set()  # ids of values that depend on inputs or randomness
        self.inputs: list[Tensor] = []
        self.start: list[Value] = []  # what each input tensor was bound to before the code ran
        # Tensors the trace has seen, by id, with a weakref whose callback forgets the id (and
        # the facts below) when the tensor dies, so a reused id never inherits them.
        self.tracked: dict[int, weakref.ref] = {}
        self.pending: dict[int, str] = {}  # id(frozen tensor) -> constant name, made on use
        # id(view tensor) -> (its base, the view op, its attributes, its index operands), for
        # views numpy shares and torch's views of a `?` dim that numpy copies (see _is_view);
        # the base is held while the view lives, as numpy's view.base holds its array
        self.views: dict[int, tuple[Tensor, Op, dict, list]] = {}
        self.fixed: set[int] = set()  # ids of tensors the graph holds as constants
        # (id(value), dim) -> (where the user's code read its size, that size): guarded dims
        self.sized: dict[tuple[int, int], tuple[str, int]] = {}

    # --- binding tensors to values --------------------------------------------------------------
    def track(self, tensor: Tensor) -> None:
        key = id(tensor)
        if key not in self.tracked:
            self.tracked[key] = weakref.ref(tensor, lambda _, key=key: self.forget(key))

    def forget(self, key: int) -> None:
        self.tracked.pop(key, None)
        self.views.pop(key, None)
        self.pending.pop(key, None)
        self.fixed.discard(key)

    def live(self) -> list[Tensor]:
        return [t for t in (r() for r in list(self.tracked.values())) if t is not None]

    def bind(self, tensor: Tensor, value: Value) -> None:
        tensor._value = value
        self.track(tensor)

    def add_input(self, tensor: Tensor, name: str) -> None:
        value = Value(tensor._type, self.body, len(self.body.args), name)
        self.body.args.append(value)
        self.inputs.append(tensor)
        self.dynamic.add(id(value))
        if getattr(tensor, "_value", None) is None:  # the same tensor twice: the first wins
            self.bind(tensor, value)
        self.start.append(tensor._value)

    def add_frozen(self, tensor: Tensor, name: str) -> None:
        """`tensor` becomes the named constant `@name` when first used."""
        self.track(tensor)
        self.pending[id(tensor)] = name
        self.fixed.add(id(tensor))

    def value_of(self, tensor: Tensor) -> Value:
        value = getattr(tensor, "_value", None)
        if value is None:
            value = self.constant(tensor)
        return value

    def constant(self, tensor: Tensor) -> Value:
        """A constant op holding a copy of `tensor`'s values: by name if it is frozen state or
        large, inline otherwise."""
        data = np.array(tensor._data, copy=True)
        data.flags.writeable = False
        name = self.pending.pop(id(tensor), None)
        if name is not None:
            attr = ConstRef(name)
        else:
            attr = literal_or_ref(data, self.fresh_name())
        if isinstance(attr, ConstRef):
            self.constants[attr.name] = data
        op = Operation.create(Op.CONSTANT, [], {"value": attr}, [tensor._type])
        self.body.append(op)
        self.track(tensor)
        self.fixed.add(id(tensor))
        self.bind(tensor, op.result)
        return op.result

    def fresh_name(self) -> str:
        taken = set(self.constants) | set(self.pending.values())
        k = len(self.constants)
        while f"const{k}" in taken:
            k += 1
        return f"const{k}"

    # --- the Mode interface ---------------------------------------------------------------------
    def apply(self, op, operands, attrs, types) -> Tensor:
        values = [self.value_of(t) for t in operands]
        if op in _SIZED and _unknown_dims(values[:1]) and not self.guarded(values[0]):
            if op is Op.EXPAND:
                return self.open_expand(operands[0], values[0], attrs, types)
            given = attrs
            try:
                op, attrs, picks = keep_open(op, values[0].type.shape,
                                             tuple(operands[0].shape), attrs)
            except SizeOne:  # reshape(-1) of one row: kept for that size, other sizes retrace
                for d, n in enumerate(values[0].type.shape):
                    if n is None:
                        self.guard_size(operands[0], d)
                picks = None
            if picks is not None:  # fixed bounds on a `?` dim: take those rows, bounds-checked
                self.require_rows(operands[0], given)
                operands = [operands[0], Tensor._wrap(picks)]
                operands[1]._basic_index = True  # a view in torch (see _is_view)
                values = [values[0], self.constant(operands[1])]
        attrs = plain(attrs)
        if _unknown_dims(values) and (not _rule_takes_open(op, values, attrs) or (
                op in _SIZED and self.guarded(values[0]))):  # sizes read: attributes hold them
            values = self.pin(operands, values)
        if OPS[op].kind is Kind.REDUCTION and _unknown_dims(values[:1]):
            self.require_nonempty(op, operands, values[0], attrs)
        dynamic = OPS[op].random or any(id(v) in self.dynamic for v in values)
        if dynamic and self.abstract and op not in _VIEWS:
            if any(d is None for t in types for d in t.shape):
                raise NeedsValues(op.value)  # a data-dependent shape: trace with real values
            out = Tensor._wrap(np.empty(types[0].shape, types[0].dtype.np))  # never read
        else:
            out = super().apply(op, operands, attrs, types)
        # the IR's types, from the IR's operand types: a data-dependent dim stays `?` downstream
        result = self.record(op, values, attrs, None if _unknown_dims(values) else types)
        if dynamic:
            self.dynamic.add(id(result))
        self.bind(out, result)
        if _is_view(op, operands, out):
            self.views[id(out)] = (operands[0], op, attrs, operands[1:])
        return out

    def pin(self, operands, values) -> list[Value]:
        """`values` with each `?` dim guarded to this example's size and reshaped to it: for an
        op whose rule cannot size its result from `?` dims (each new size traces again)."""
        out = []
        for tensor, value in zip(operands, values):
            if None in value.type.shape:
                for d, n in enumerate(value.type.shape):
                    if n is None:
                        self.guard_size(tensor, d)
                value = self.record(Op.RESHAPE, [value], {"shape": tuple(tensor._data.shape)})
                self.dynamic.add(id(value))
            out.append(value)
        return out

    def open_expand(self, tensor, value, attrs, types) -> Tensor:
        """expand of a tensor with `?` dims, recorded as where(True, x, x) broadcasting x
        against a constant that is 1 at those dims (np.broadcast_to needs every size)."""
        shape, target = value.type.shape, tuple(attrs["shape"])
        lead = len(target) - len(shape)
        for d, n in enumerate(shape):
            if n is None and target[lead + d] != tensor.shape[d]:
                raise baked("expand", d, tensor.shape[d])
        ones = tuple(1 if d >= lead and shape[d - lead] is None else n
                     for d, n in enumerate(target))
        out = super().apply(Op.EXPAND, [tensor], attrs, types)
        cond = self.constant(Tensor._wrap(np.ones(ones, np.bool_)))
        result = self.record(Op.WHERE, [cond, value, value], {})
        self.dynamic.add(id(result))
        self.bind(out, result)
        return out

    def record(self, op, values, attrs, types=None) -> Value:
        if types is None:
            types = infer_types(op, [v.type for v in values], attrs)
        operation = Operation.create(op, values, attrs, types, loc=user_location())
        self.body.append(operation)
        return operation.result

    def assign(self, dst, src) -> None:
        root = self.root(dst)
        if id(root) in self.fixed or getattr(root, "_value", None) is None:
            raise TraceError(
                "in-place write to a tensor the traced code does not take as an input (a "
                "global, a closure variable, or a buffer frozen by freeze=True): the graph "
                "could not replay the write on later calls. Pass the tensor in as an input, "
                "or trace without freeze=True",
                user_location(),
            )
        family = [t for t in self.live() if self.root(t) is root]  # views of the same memory
        for other in self.live():
            if all(other is not t for t in family) and np.may_share_memory(
                    other._data, dst._data) and np.shares_memory(other._data, dst._data):
                raise TraceError(
                    "in-place write to a tensor that shares memory with another live tensor "
                    "made outside tracejit's view ops (numpy, or arguments that share "
                    "memory with each other): tracing "
                    "records values, not memory, so the other tensor would not see the write. "
                    "Use out-of-place ops, or clone() before writing",
                    user_location(),
                )
        if self.abstract and id(self.value_of(src)) in self.dynamic:
            if not dst._data.flags.writeable:  # the same refusal eager mode gives
                super().assign(dst, src)
        else:
            super().assign(dst, src)
        self.bind(dst, self.value_of(src))
        self.write_back(dst)
        derived = {id(t) for t in self.chain(dst)}
        for view in family:  # every other view of the same memory reads it again
            if id(view) not in derived:
                self.rederive(view, derived)

    # --- views: functionalizing writes through them ------------------------------------------
    def root(self, tensor: Tensor) -> Tensor:
        """The tensor whose memory `tensor` views (itself if it is not a view)."""
        while id(tensor) in self.views:
            tensor = self.views[id(tensor)][0]
        return tensor

    def chain(self, tensor: Tensor) -> list[Tensor]:
        """`tensor`, its base, its base's base, ... up to its root."""
        out = [tensor]
        while id(out[-1]) in self.views:
            out.append(self.views[id(out[-1])][0])
        return out

    def write_back(self, view: Tensor) -> None:
        """After `view` got a new value, give each base up the chain the value it now holds."""
        chain = self.chain(view)
        for child, base in itertools.pairwise(chain):
            _, op, attrs, extra = self.views[id(child)]
            value = child._value
            if op is Op.SLICE:
                spec = tuple(("slice", *t) for t in zip(attrs["starts"], attrs["stops"],
                                                        attrs["steps"]))
                new = self.record(Op.INDEX_PUT, [base._value, value], {"spec": spec})
            elif op is Op.INDEX:  # a basic index of a `?` dim (see keep_open)
                new = self.record(Op.INDEX_PUT, [base._value, value,
                                                 *map(self.value_of, extra)], attrs)
                _write_rows(base, child, attrs["spec"], extra)
            elif op is Op.RESHAPE:
                new = self.record(Op.RESHAPE, [value], {"shape": _shape_attr(base)})
            else:  # PERMUTE (a write to an expanded view fails in eager mode first)
                inverse = tuple(sorted(range(len(attrs["dims"])), key=attrs["dims"].__getitem__))
                new = self.record(Op.PERMUTE, [value], {"dims": inverse})
            self.dynamic.add(id(new))
            self.bind(base, new)

    def rederive(self, view: Tensor, done: set[int]) -> None:
        """Record `view` again from its base's current value (its base first, if needed)."""
        base, op, attrs, extra = self.views[id(view)]
        if id(base) not in done and id(base) in self.views:
            self.rederive(base, done)
        value = self.record(op, [base._value, *map(self.value_of, extra)], attrs)
        self.dynamic.add(id(value))
        self.bind(view, value)
        done.add(id(view))

    def concrete(self, tensor, use) -> np.ndarray:
        value = getattr(tensor, "_value", None)
        if value is not None and id(value) in self.dynamic:
            what = _ESCAPES.get(use, f"{use} on a traced Tensor")
            raise TraceError(f"{what}; {_ADVICE}", user_location())
        return tensor._data

    def check(self, cond: Tensor, message: str) -> None:
        """A runtime check of a bool[] `cond`: now if its value is known, else an `assert` op
        (each call of the graph raises AssertionError where it is false)."""
        value = self.value_of(cond)
        if id(value) not in self.dynamic:
            if not bool(cond._data):
                raise RuntimeError(message)
            return
        loc = self.location()
        text = f"{loc}: {message}" if loc is not None else message
        self.body.append(Operation.create(Op.ASSERT, [value], {"message": text}, [], loc=loc))

    def guarded(self, value: Value) -> bool:
        """Whether every `?` dim of `value` has a size guard: ops may keep its sizes."""
        return all((id(value), d) in self.sized for d, n in enumerate(value.type.shape)
                   if n is None)

    def guard_size(self, tensor: Tensor, dim: int) -> None:
        """The user's code read the size of `tensor`'s `?` dim `dim` as an int: an assert op
        that each call has this example's size there (a call that fails it traces again)."""
        value = getattr(tensor, "_value", None)
        if value is None or current_mode() is not self or (id(value), dim) in self.sized:
            return  # a shape kept past its trace (the trace has ended), or already guarded
        loc = user_location()
        where = f"{loc.file}:{loc.line}" if loc is not None else "an unknown line"
        size = tensor._data.shape[dim]
        self.sized[id(value), dim] = (where, size)
        ok = self.value_of(_length(tensor, dim).eq(size))
        message = f"{SIZE_GUARD}the size of a data-dependent dim read at {where} was {size}"
        self.body.append(Operation.create(Op.ASSERT, [ok], {"message": message}, [], loc=loc))

    def require_rows(self, tensor: Tensor, attrs: dict) -> None:
        """A slice of fixed bounds (narrow, topk) along a `?` dim: each call checks that the
        dim reaches its stop, raising torch's RuntimeError where it does not."""
        shape = self.value_of(tensor).type.shape
        for d, (start, stop) in enumerate(zip(attrs["starts"], attrs["stops"])):
            if shape[d] is None and not isinstance(stop, OpenDim):
                length = _length(tensor, d)
                if start:  # torch checks the start first, with an IndexError
                    self.require(length.ge(int(start)), f"IndexError: start out of range (got "
                                 f"{start}, past the end of a data-dependent dim)")
                self.require(length.ge(int(stop)), f"start ({start}) + length ({stop - start}) "
                             "exceeds the dimension size (narrow or topk of a data-dependent dim)")

    def require_nonempty(self, op, operands, value, attrs) -> None:
        """A reduction whose rule refuses an empty reduced dim (max, argmax, ...), of a `?`
        dim: each call checks it, with the rule's IndexError."""
        shape, example = value.type.shape, operands[0]._data.shape
        rest = [t._type for t in operands[1:]]
        for d, n in enumerate(shape):
            if n is not None:
                continue
            empty = tuple(0 if k == d else example[k] for k in range(len(shape)))
            try:
                infer_types(op, [TensorType(value.type.dtype, empty), *rest], attrs)
            except IndexError as e:
                self.require(_length(operands[0], d).ge(1), f"IndexError: {e}")
            except (TypeError, ValueError, RuntimeError, ArithmeticError):
                pass

    def require(self, ok: Tensor, message: str) -> None:
        """An assert op that each call raises as torch's RuntimeError (or the IndexError that
        `message` starts with) where `ok` is false."""
        loc = self.location()
        text = (f"{loc}: " if loc is not None else "") + f"{RUNTIME_CHECK}{message}"
        self.body.append(Operation.create(Op.ASSERT, [self.value_of(ok)], {"message": text}, [],
                                          loc=loc))

    def location(self) -> Loc | None:
        """Where the op being recorded comes from in the user's code."""
        return user_location()

    def alias(self, dst, src) -> None:
        """`dst` shares `src`'s memory. A fresh one (`.detach()`, `.data`) is a view of `src`
        that changes nothing: in-place writes through either reach the other, as in torch."""
        value = getattr(src, "_value", None)
        if value is not None:
            fresh = getattr(dst, "_value", None) is None and dst is not src
            self.bind(dst, value)
            if fresh and (np.may_share_memory(dst._data, src._data) or not dst._data.size):
                self.views[id(dst)] = (src, Op.RESHAPE, {"shape": _shape_attr(src)}, [])
        elif id(src) in self.pending:
            self.add_frozen(dst, self.pending[id(src)])

    def unsupported(self, what) -> NoReturn:
        raise TraceError(f"{what} cannot be traced", user_location())

    def created(self, tensor) -> Tensor:
        self.constant(tensor)
        self.fixed.discard(id(tensor))  # made during the trace: writing to it is replayable
        return tensor

    # --- the result -----------------------------------------------------------------------------
    def finish(self, outputs: list[Tensor]) -> tuple[Graph, list[int], list[int | None]]:
        """The verified graph returning `outputs` and then every input written in place; the
        positions of those inputs; for each output, the input tensor it is, if any (a call
        hands back the caller's tensor there, as eager code does)."""
        values = [self.value_of(t) for t in outputs]
        mutated = [k for k, t in enumerate(self.inputs) if t._value is not self.start[k]
                   and self.start[k] is self.body.args[k]]
        position = {id(t): k for k, t in reversed(list(enumerate(self.inputs)))}
        sources = [position.get(id(t)) for t in outputs]
        values += [self.inputs[k]._value for k in mutated]
        self.body.append(Operation.create(Op.RETURN, values, {}, []))
        graph = Graph(self.name, self.body, self.constants)
        return verify(graph), mutated, sources

    def release(self) -> None:
        """Forget the values bound to tensors that outlive the trace."""
        for tensor in self.live():
            with contextlib.suppress(AttributeError):
                del tensor._value
