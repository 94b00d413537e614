"""The tracing mode: runs each dispatched op eagerly AND records it into a Graph.

Running for real keeps every Tensor's values right, so user code that reads shapes or prints
works unchanged; recording gives the graph. What tracing cannot capture raises `TraceError` at
the user's line: a traced value escaping to Python (`bool()`, `.item()`, ...), numpy-side
randomness, in-place writes the graph could not replay. (A later milestone turns the escapes
into guards with an eager fallback: they all arrive at `TraceMode.concrete`.)
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import threading
import weakref
from typing import NoReturn

import numpy as np

from tracejit.dispatch import EagerMode, current_mode
from tracejit.ir import OPS, DType, Kind, Op, TensorType, infer_types
from tracejit.ir.graph import Block, ConstRef, Graph, Loc, Operation, Value, literal_or_ref
from tracejit.ir.verifier import verify
from tracejit.locations import (  # noqa: F401 (TraceError, with_location: imported from here)
    TraceError,
    _is_internal,
    user_location,
    with_location,
)
from tracejit.tensor import Tensor
from tracejit.trace_sizes import (  # noqa: F401 (SIZE_GUARD, SizeReads, ...: imported from here)
    _SIZED,
    RUNTIME_CHECK,
    SIZE_GUARD,
    OpenDim,
    OpenSize,
    SizeOne,
    SizeReads,
    _length,
    _rule_takes_open,
    baked,
    keep_open,
    plain,
    plain_types,
    runtime_error,
    size_guard_error,
)

_VIEWS = frozenset({Op.RESHAPE, Op.PERMUTE, Op.EXPAND, Op.SLICE})  # may share their input's memory


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


def fits_open(typed: TensorType, actual: TensorType) -> bool:
    """Whether a view's type derived from a root with `?` dims, `typed`, is `actual`'s, a
    `?` standing for a size the capture fixed (a size read, guarded on each call)."""
    return typed.dtype == actual.dtype and len(typed.shape) == len(actual.shape) and all(
        t is None or t == a for t, a in zip(typed.shape, actual.shape))


def _fixed_takers(op, given, attrs) -> tuple:
    """(dim, size) for each dim of a reshape that keep_open made -1 to take the `?` dims
    where the user's code gave a fixed size (not -1, nor a size read back): checked per call."""
    if op is not Op.RESHAPE or "shape" not in given or not _users_reshape():
        return ()
    return tuple((k, int(n)) for k, (n, m) in enumerate(zip(given["shape"], attrs["shape"]))
                 if m == -1 and n != -1 and not isinstance(n, OpenDim))


_RESHAPES = frozenset({"reshape", "view", "reshape_as", "view_as"})


def _users_reshape() -> bool:
    """Whether the reshape being recorded is the user's reshape/view (sizes the user wrote),
    not one inside tracejit's composites (flatten, repeat: sizes that follow the data)."""
    frame, seen = sys._getframe(2), False
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if frame.f_code.co_name in _RESHAPES and name in ("tracejit.functions",
                                                            "tracejit.tensor"):
            seen = True
        elif seen:  # the caller of reshape/view: the user's code, or script running it
            return not _is_internal(frame) or name.startswith("tracejit.script")
        elif name not in ("tracejit.tracer", "tracejit.script_mode", "tracejit.dispatch",
                          "tracejit.autograd.mode"):
            return False
        frame = frame.f_back
    return False


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


# per thread, the graph a capture finished last and its outputs' aliases (see aliases_of)
_finished = threading.local()


def aliases_of(graph: Graph) -> list | None:
    """The aliases (TraceMode.view_path) of `graph`'s outputs, if it is the graph this thread's
    capture finished last: for the driver that specializes it."""
    last = getattr(_finished, "last", None)
    return last[1] if last is not None and last[0] is graph else None


def _inverse(ops, root: TensorType) -> tuple:
    """The reshape and permute ops that undo `ops` (reshapes and permutes of a `root`)."""
    types = [root]
    for op, attrs in ops:
        types.append(infer_types(op, [types[-1]], attrs)[0])
    undo = []
    for (op, attrs), before in zip(reversed(ops), reversed(types[:-1])):
        if op is Op.RESHAPE:
            undo.append((Op.RESHAPE, {"shape": tuple(before.shape)}))
        else:
            order = sorted(range(len(attrs["dims"])), key=attrs["dims"].__getitem__)
            undo.append((Op.PERMUTE, {"dims": tuple(order)}))
    return tuple(undo)


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
        fixed = ()
        if op in _SIZED and _unknown_dims(values[:1]) and not self.guarded(values[0]):
            if op is Op.EXPAND:
                return self.open_expand(operands[0], values[0], attrs, types)
            given = attrs
            try:
                op, attrs, picks = keep_open(op, values[0].type.shape,
                                             tuple(operands[0].shape), attrs)
                fixed = _fixed_takers(op, given, attrs)
            except (SizeOne, TraceError):
                # reshape(-1) of one row, or sizes no single dim can take (reshape(4, 2, 1) of
                # a `?` dim): kept for this size, guarded, so another size captures again
                # (and raises torch's error there if the reshape does not fit it)
                for d, n in enumerate(values[0].type.shape):
                    if n is None:
                        self.guard_size(operands[0], d)
                picks, fixed = None, ()
            if picks is not None:  # fixed bounds on a `?` dim: take those rows, bounds-checked
                self.require_rows(operands[0], given)
                operands = [operands[0], Tensor._wrap(picks)]
                operands[1]._basic_index = True  # a view in torch (see _is_view)
                values = [values[0], self.constant(operands[1])]
        attrs, types = plain(attrs), plain_types(types)
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
        for k, n in fixed:  # a size the user fixed takes the `?` dims: each call checks it
            self.require(_length(out, k).eq(n), f"shape '{list(map(int, given['shape']))}' "
                         f"is invalid for input of a data-dependent size (dim {k} must be {n})")
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
        against a constant (np.broadcast_to needs every size): 1 at a `?` dim the target keeps
        open (-1, or its own size read back), the target's size n at one it fixes, where each
        call checks that the dim is 1 or n (torch's RuntimeError otherwise), as torch does."""
        shape, target = value.type.shape, tuple(attrs["shape"])
        lead = len(target) - len(shape)
        ones, final = [], []
        for d, n in enumerate(target):
            open_ = d >= lead and shape[d - lead] is None
            keep = open_ and (isinstance(n, OpenDim) or n == -1)
            ones.append(1 if keep or (open_ and n == 1) else n)
            final.append(None if keep else n)
            if open_ and not keep:
                self.require_expandable(tensor, d - lead, int(n), target)
        out = super().apply(Op.EXPAND, [tensor], attrs, types)
        cond = self.constant(Tensor._wrap(np.ones(tuple(map(int, ones)), np.bool_)))
        result = self.record(Op.WHERE, [cond, value, value], {})
        if tuple(result.type.shape) != tuple(final) and final.count(None) <= 1:
            shape_attr = tuple(-1 if n is None else int(n) for n in final)
            result = self.record(Op.RESHAPE, [result], {"shape": shape_attr})
        self.dynamic.add(id(result))
        self.bind(out, result)
        if not lead and all(n is None for n, s in zip(final, shape) if s is None) and all(
                int(n) == s for n, s in zip(target, shape) if s is not None):
            # expands nothing: a view that in-place writes reach its base through, as torch's
            self.views[id(out)] = (tensor, Op.RESHAPE, {"shape": _shape_attr(tensor)}, [])
        return out

    def require_expandable(self, tensor, dim: int, n: int, target) -> None:
        """Each call checks that `?` dim `dim` of `tensor`, expanded to size n, is 1 or n."""
        length = _length(tensor, dim)
        ok = length.eq(1) if n == 1 else length.eq(1).logical_or(length.eq(n))
        shown = "[" + ", ".join(str(int(k)) for k in target) + "]"
        self.require(ok, f"The expanded size of the tensor ({n}) must match the existing size "
                     f"(a data-dependent size other than {'1' if n == 1 else f'1 or {n}'}) at "
                     f"non-singleton dimension {dim + len(target) - tensor.ndim}.  Target "
                     f"sizes: {shown}")

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
        # an abstract trace runs the graph on the caller's tensors afterwards: their memory
        # keeps the values a read before this write sees (the graph replays the write)
        held = [t for t in self.inputs if np.may_share_memory(t._data, dst._data)] \
            if self.abstract else []
        saved = dst._data.copy() if held and dst._data.flags.writeable else None
        if self.abstract and id(self.value_of(src)) in self.dynamic:
            if not dst._data.flags.writeable:  # the same refusal eager mode gives
                super().assign(dst, src)
        else:
            super().assign(dst, src)
        self.bind(dst, self.value_of(src))
        self.write_back(dst)
        chain = self.chain(dst)
        expanded = [k for k, t in enumerate(chain[:-1]) if self.views[id(t)][1] is Op.EXPAND]
        # below an expand, a write changed elements that share memory with the written ones
        derived = {id(t) for t in chain[expanded[-1] + 1 if expanded else 0:]}
        for view in family:  # every other view of the same memory reads it again
            if id(view) not in derived:
                self.rederive(view, derived)
        if saved is not None:
            np.copyto(dst._data, saved)
            for t in (*held, dst):  # their example values are stale: the graph computes them
                self.dynamic.add(id(t._value))

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
                new = self.record(Op.INDEX_PUT, [base._value, value],
                                  {"spec": spec, "accumulate": False})
            elif op is Op.INDEX:  # a basic index of a `?` dim (see keep_open)
                new = self.record(Op.INDEX_PUT, [base._value, value,
                                                 *map(self.value_of, extra)],
                                  {"spec": attrs["spec"], "accumulate": False})
                _write_rows(base, child, attrs["spec"], extra)
            elif op is Op.RESHAPE:
                new = self.record(Op.RESHAPE, [value], {"shape": _shape_attr(base)})
            elif op is Op.EXPAND:
                old = base._value
                if _unknown_dims([old]) and not _unknown_dims([value]):
                    old = self.pin([base], [old])[0]  # its sizes were guarded when expanded
                new = self.unexpand(value, old)
            else:  # PERMUTE
                inverse = tuple(sorted(range(len(attrs["dims"])), key=attrs["dims"].__getitem__))
                new = self.record(Op.PERMUTE, [value], {"dims": inverse})
            self.dynamic.add(id(new))
            self.bind(base, new)

    def unexpand(self, value: Value, old: Value) -> Value:
        """The base of an expanded view after a write to some of its elements (torch refuses
        the others): along each expanded dim, the first element that changed, else the old."""
        lead = len(value.type.shape) - len(old.type.shape)
        base_shape = (1,) * lead + tuple(old.type.shape)
        if lead:
            old = self.record(Op.RESHAPE, [old], {"shape": base_shape})
        for dim, size in enumerate(base_shape):
            if size != 1 or value.type.shape[dim] == 1:
                continue
            wide = self.record(Op.EXPAND, [old], {"shape": tuple(value.type.shape)})
            changed = self.record(Op.NE, [value, wide], {})
            if value.type.dtype.is_floating_point:  # NaN kept is not a change
                kept = self.record(Op.BITWISE_OR, [self.record(Op.EQ, [value, value], {}),
                                                   self.record(Op.EQ, [wide, wide], {})], {})
                changed = self.record(Op.BITWISE_AND, [changed, kept], {})
            changed = self.record(Op.CAST, [changed], {"dtype": DType.uint8})
            first = self.record(Op.ARGMAX, [changed], {"dim": dim, "keepdim": True})
            value = self.record(Op.GATHER, [value, first], {"dim": dim})
        if lead:
            value = self.record(Op.RESHAPE, [value], {"shape": base_shape[lead:]})
        return value

    def rederive(self, view: Tensor, done: set[int]) -> None:
        """Record `view` again from its base's current value (its base first, if needed)."""
        base, op, attrs, extra = self.views[id(view)]
        if id(base) not in done and id(base) in self.views:
            self.rederive(base, done)
        values = [base._value, *map(self.value_of, extra)]
        if _unknown_dims(values[:1]) and not _rule_takes_open(op, values, attrs):
            values = self.pin([base, *extra], values)  # its sizes were guarded when made
        value = self.record(op, values, attrs)
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
        loc = self.location()  # script: the scripted line, not the caller's
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

    def check_index_select(self, x, index, d) -> None:
        """index_select (recorded as gather) with indices from the data: each call checks
        them, with torch's IndexError (its RuntimeError for dim 1), not gather's error."""
        if id(self.value_of(index)) not in self.dynamic:
            return  # a constant index: gather checks it now, while capturing
        n = x.shape[d] if x.ndim else 1
        if self.value_of(x).type.shape[d:d + 1] == (None,):
            return  # a `?` dim: gather's own check, on each call's size
        ok = index.ge(0).logical_and(index.lt(n)).all()
        if d == 1 and x.ndim >= 2:  # torch's own kernel for dim 1
            self.require(ok, f"INDICES element is out of DATA bounds (axis_dim={n})")
        else:
            self.require(ok, f"IndexError: index out of range in self: index_select() index "
                             f"out of range for dimension {d} with size {n}")

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
        self.aliases = [None if k is not None else self.view_path(t, outputs)
                        for t, k in zip(outputs, sources)]
        _finished.last = (graph, self.aliases)
        return verify(graph), mutated, sources

    def view_path(self, tensor: Tensor, outputs: list[Tensor]) -> tuple | None:
        """How `tensor`, returned, is a view in the user's program: ("input", k, ops) of the
        k-th input, or ("output", i, ops) of the i-th output (itself no view), through `ops`,
        (op, attrs) pairs of view ops of fixed shapes; None where it is not one. Outputs that
        view one tensor the code does not return are ("sibling", i, ops) of the first of them
        that views all of it (reshaped or permuted), `ops` starting with the inverse of its."""
        path = self.path_to_root(tensor, open_ok=True)
        if path is None:
            return None
        root, ops = path
        k = next((k for k, t in enumerate(self.inputs) if t is root), None)
        i = next((i for i, t in enumerate(outputs) if t is root), None)
        if k is None and i is not None:  # of a returned tensor, `?` dims too (each call's)
            return ("output", i, ops)
        path = self.path_to_root(tensor)
        if path is None:
            return None
        root, ops = path
        if k is not None:
            return ("input", k, ops)
        if i is not None:
            return ("output", i, ops)
        for i, other in enumerate(outputs):
            way = self.path_to_root(other)
            if way is not None and way[0] is root and all(
                    op in (Op.RESHAPE, Op.PERMUTE) for op, _ in way[1]):
                if other is tensor:
                    return None  # the first such: it stands for the root
                return ("sibling", i, (*_inverse(way[1], root._value.type), *ops))
        return None

    def path_to_root(self, tensor: Tensor, open_ok: bool = False) -> tuple[Tensor, tuple] | None:
        """(root, ops): `tensor` is the root's view through the (op, attrs) pairs `ops`, all
        of fixed shapes (or, `open_ok`, sized on each call: `?` dims, no index operands);
        None if it is no view, or sizes are known only at run time."""
        chain = self.chain(tensor)
        root = chain[-1]
        if len(chain) == 1 or (None in root._value.type.shape and not open_ok):
            return None
        ops, typed = [], root._value.type
        for child in reversed(chain[:-1]):
            _, op, attrs, extra = self.views[id(child)]
            if extra or (None in child._value.type.shape and not open_ok):
                return None
            ops.append((op, attrs))
            try:  # each step's type from the root's by the op's rule, as a call derives it
                typed = infer_types(op, [typed], attrs)[0]
            except (TypeError, ValueError, RuntimeError, IndexError, ArithmeticError):
                return None
            if not fits_open(typed, child._value.type):
                return None
        return root, tuple(ops)

    def release(self) -> None:
        """Forget the values bound to tensors that outlive the trace."""
        for tensor in self.live():
            with contextlib.suppress(AttributeError):
                del tensor._value
