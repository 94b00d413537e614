"""Script mode's tracer: the ScriptMode writing ops into the block the scripter builds, and
the Python numbers (`int`/`float` arguments) held as weakly typed 0-d tensors."""

from __future__ import annotations

import weakref
from typing import NoReturn

import numpy as np

from tracejit.ir.graph import Loc, Operation, Value
from tracejit.ir.ops import Op, infer_types
from tracejit.script_source import _Escape
from tracejit.tensor import Tensor
from tracejit.tracer import TraceError, TraceMode


# --- the mode -----------------------------------------------------------------------------------
class ScriptMode(TraceMode):
    """The tracer, writing into the block the scripter is building, with the AST's locations;
    constants go to the top of the graph so every block can see them."""

    def __init__(self, name: str, abstract: bool = True):
        super().__init__(name, abstract=abstract)
        self.top = self.body
        self.loc: Loc | None = None
        # id(tensor) -> (merged, its earlier value, name, where): see maybe_view
        self.merged_views: dict[int, list[tuple]] = {}
        self.stale: dict[int, tuple] = {}  # id(tensor) -> (it, why reading it is refused)
        # id(input) -> (it, its values before the first write): restored by release()
        self.originals: dict[int, tuple] = {}
        self.held_values: dict[int, tuple] = {}  # id(value) -> (it, its data when bound)

    def apply(self, op, operands, attrs, types) -> Tensor:
        literals = [getattr(t, "_value", None) is None for t in operands]  # before binding
        out = super().apply(op, operands, attrs, types)
        _weak_result(operands, literals, out)
        return out

    def record(self, op, values, attrs, types=None) -> Value:
        if types is None:
            types = infer_types(op, [v.type for v in values], attrs)
        operation = Operation.create(op, values, attrs, types, loc=self.loc)
        self.body.append(operation)
        return operation.result

    def constant(self, tensor) -> Value:
        body, self.body = self.body, self.top
        try:
            return super().constant(tensor)
        finally:
            self.body = body

    def concrete(self, tensor, use) -> np.ndarray:
        value = getattr(tensor, "_value", None)
        if value is not None and id(value) in self.dynamic:
            raise _Escape(use)
        return tensor._data

    def maybe_view(self, before, after, name: str, where: str) -> None:
        """Variable `name` held tensor `before` on some path through `where` and holds the
        merged `after` now: if `before` (or what it views) is written in place while `after`
        lives, or `after` while it lives, the write would reach `name` on only some paths."""
        if not isinstance(before, Tensor) or not isinstance(after, Tensor) or before is after:
            return
        root = self.root(before)
        entry = (weakref.ref(after), weakref.ref(root), name, where)
        self.merged_views.setdefault(id(root), []).append(entry)
        self.merged_views.setdefault(id(after), []).append(entry)

    def check_merged_view(self, dst) -> None:
        """A write to a tensor a merged variable may or may not view (see maybe_view): the
        other side holds a value the write reaches on only some paths; reading it later (or
        the caller's tensor it is) is refused."""
        root = self.root(dst)
        for after_ref, before_ref, name, where in self.merged_views.get(id(root), ()):
            after, before = after_ref(), before_ref()
            if after is None or before is None or (root is not after and root is not before):
                continue
            other = before if root is after else after
            message = (f"variable '{name}' shares memory with another tensor on some paths "
                       f"through {where} and not on others, and one of the two was written in "
                       f"place since: in eager code the write reaches the other only on those "
                       f"paths, which script cannot make one graph of. Give '{name}' its own "
                       f"memory before {where.split(' at ')[0]} ('{name} = {name}.clone()')")
            if any(other is t for t in self.inputs):  # the caller's tensor: written back
                raise TraceError(message)
            other = self.root(other)  # and every view of it
            self.stale[id(other)] = (weakref.ref(other), message)

    compile_mode = False  # tracejit.compile's capture (see regions.py)

    def value_of(self, tensor) -> Value:
        if self.compile_mode and getattr(tensor, "_value", None) is None and \
                type(tensor).__name__ == "Parameter":
            raise TraceError("a parameter of a module that is not an argument of the compiled "
                             "code (a global or closure variable): its weights would be baked "
                             "in, and an optimizer step would not be seen; the call runs as "
                             "Python, the module compiled on its own")
        if self.stale:
            root = self.root(tensor)
            entry = self.stale.get(id(root))
            if entry is not None and entry[0]() is root:
                raise TraceError(entry[1])
        return super().value_of(tensor)

    def assign(self, dst, src) -> None:
        """An in-place write, recorded; the memory of the caller's tensors (arguments, module
        state) keeps its values: the graph runs on them after scripting, so a value read
        before the write must see them unwritten. What the write made is a dynamic value."""
        if self.merged_views:
            self.check_merged_view(dst)
        root = self.root(dst)  # a write to a copied view (x[i], i a tensor) writes x's rows
        held = [t for t in self.inputs if np.may_share_memory(t._data, dst._data)
                or np.may_share_memory(t._data, root._data)]
        if not self.abstract:  # computing values: later ops (a mask) must see the write
            for t in held:
                self.originals.setdefault(id(t), (t, t._data.copy()))
            held = []
        saved = [(t, t._data.copy()) for t in held if t._data.flags.writeable]
        super().assign(dst, src)
        for t, values in saved:
            np.copyto(t._data, values)
        if saved:
            for t in held:  # reading them as Python values now would read the old values
                self.dynamic.add(id(t._value))

    def release(self) -> None:
        """Give the caller's tensors written while computing values their values back: the
        graph runs on them after scripting and replays the writes."""
        for t, values in self.originals.values():
            if t._data.flags.writeable:
                np.copyto(t._data, values)
        self.originals.clear()
        self.held_values.clear()
        super().release()

    def unsupported(self, what) -> NoReturn:
        raise TraceError(f"{what} cannot be scripted")

    def location(self) -> Loc | None:
        return self.loc

    def dynamic_tensor(self, value, like: Tensor | None = None, data=None) -> Tensor:
        """A Tensor standing for the dynamic IR `value` (its data is never read, unless `data`
        gives its values: see computed); a `?` dim gets the size it has in `like`, the tensor
        the value starts as or comes from."""
        shape = value.type.shape
        if data is not None and data.dtype == value.type.dtype.np and data.ndim == len(shape):
            t = Tensor._wrap(np.array(data, order="C"))
        else:
            if None in shape:
                sizes = like._data.shape if like is not None and like._data.ndim == len(shape) \
                    else (1,) * len(shape)
                shape = tuple(sizes[d] if n is None else n for d, n in enumerate(shape))
            t = Tensor._wrap(np.empty(shape, value.type.dtype.np))
        self.dynamic.add(id(value))
        self.bind(t, value)
        return t

    def bind(self, tensor, value) -> None:
        super().bind(tensor, value)
        if not self.abstract:  # the values it had when bound, for computed()
            self.held_values[id(value)] = (value, tensor._data.copy())

    def computed(self, op: Operation) -> list | None:
        """Capturing with values: the results of the structured `op` (if, for, while) run by
        the reference interpreter on the values its operands had, so that what follows (a
        mask's size) computes with them; None when abstract or a value was not held."""
        if self.abstract:
            return None
        from tracejit.runtime.eager import RULES, Interpreter

        interp = Interpreter(None)
        interp.env.update((key, data) for key, (_, data) in self.held_values.items())
        for o in self.top.ops:
            value = o.attrs.get("value") if o.op is Op.CONSTANT else None
            if getattr(value, "array", None) is not None:
                interp.env.setdefault(id(o.result), value.array)
        try:
            with np.errstate(all="ignore"):
                return RULES[op.op](interp, op, [interp.env[id(v)] for v in op.operands])
        except Exception:  # a value not held: the example's, checked on each call
            return None


class _Scalar(Tensor):
    """A Python int or float argument as a 0-d tensor input; isinstance() sees the number.
    Promotion treats it as the Python number it stands for (weakly typed: a float32 tensor
    times a float argument stays float32), and so is arithmetic on such numbers alone."""

    __slots__ = ()  # py_type lives in the instance dict: a 0-d result can become one

    def __round__(self, ndigits=None):  # a Python number's round(): its value is needed
        raise _Escape("round()")

    def __mul__(self, other):
        if isinstance(other, (list, tuple, str, bytes)):  # [x] * n: n is needed as an int
            raise _Escape("a sequence repeated a number of times")
        return super().__mul__(other)

    def __rmul__(self, other):
        if isinstance(other, (list, tuple, str, bytes)):
            raise _Escape("a sequence repeated a number of times")
        return super().__rmul__(other)


def _dynamic_scalar(value):
    if type(value) in (int, float):
        t = _Scalar._wrap(np.array(value, np.int64 if type(value) is int else np.float64))
        t.py_type = type(value)
        return t
    return value


def _weak_result(operands, literals: list[bool], out: Tensor) -> None:
    """`out` of an op on Python numbers alone (script's number arguments, and literals: 0-d
    tensors no op made) is a Python number too: a _Scalar, weakly typed in later promotion."""
    if out._data.ndim or type(out) is not Tensor:
        return
    weak = False
    for t, literal in zip(operands, literals):
        if isinstance(t, _Scalar):
            weak = True
        elif type(t) is not Tensor or t._data.ndim or not literal:
            return  # a tensor of the code's own
    if weak:
        out.__class__ = _Scalar
        kind = out._data.dtype.kind
        out.py_type = float if kind in "fc" else bool if kind == "b" else int
