"""The autograd mode: the layer of the dispatch point that records what gradients need.

Dispatch hands every op to the top mode; `AutogradMode` passes it to the mode below it (eager
execution, or a tracer or scripter) and, when grad mode is on and an operand requires grad,
records a `Node` for it (engine.py) with the rule from rules.py. In-place writes rebase the
written tensor's history (and, for a view, its base's: torch's CopySlices) and bump version
counters. Grad mode itself is per thread, like torch's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from tracejit import dispatch as _dispatch
from tracejit.autograd import engine, versions
from tracejit.autograd.engine import FREED, Node, Saved, edge_of, meta
from tracejit.ir import OPS, Op
from tracejit.ir.ops import _VIEW_OPS as VIEW_OPS  # results that may share operand 0's memory

if TYPE_CHECKING:
    from tracejit.ir import TensorType
    from tracejit.tensor import Tensor

def is_enabled() -> bool:
    return _dispatch._state.grad_enabled


@contextlib.contextmanager
def set_enabled(enabled: bool) -> Iterator[None]:
    saved, _dispatch._state.grad_enabled = _dispatch._state.grad_enabled, bool(enabled)
    try:
        yield
    finally:
        _dispatch._state.grad_enabled = saved


class AutogradMode(_dispatch.Mode):
    """Records the tape on top of `inner`, which computes (eager) or captures (a tracer)."""

    def __init__(self, inner: _dispatch.Mode):
        self.inner = inner

    def apply(self, op, operands, attrs, types) -> Tensor:
        out = self.inner.apply(op, operands, attrs, types)
        if not _dispatch._state.grad_enabled:
            return out
        if op in VIEW_OPS and operands and _shares(out, operands[0]):
            _note_view(out, operands[0], op, attrs, operands[1:])
        needed = False
        for t in operands:
            m = t._ag
            if m is not None and m.view is not None:
                _refresh_view(t, m)
            if t._rg:
                needed = True
        return record(op, operands, attrs, out) if needed else out

    def assign(self, dst, src) -> None:
        rebase = _dispatch._state.grad_enabled and (src.requires_grad or dst.requires_grad or (
            dst._ag is not None and dst._ag.view is not None and dst._ag.view[0].requires_grad))
        old = None
        if rebase:
            _check_leaf(dst)
            old = edge_of(dst)
            _keep_originals(dst, src)
        self.inner.assign(dst, src)
        versions.bump(dst._data)
        if rebase:
            _rebase(dst, src, old)

    # everything else is the inner mode's business
    def concrete(self, tensor, use) -> np.ndarray:
        return self.inner.concrete(tensor, use)

    def alias(self, dst, src) -> None:
        self.inner.alias(dst, src)

    def check_index_select(self, input, index, dim) -> None:
        self.inner.check_index_select(input, index, dim)

    def unsupported(self, what) -> None:
        self.inner.unsupported(what)

    def created(self, tensor) -> Tensor:
        return self.inner.created(tensor)


def _shares(out: Tensor, base: Tensor) -> bool:
    a, b = out._data, base._data
    return a.size > 0 and b.size > 0 and np.may_share_memory(a, b)


def _note_view(out: Tensor, base: Tensor, op: Op, attrs: dict, extra) -> None:
    m = base._ag
    root, chain = (m.view if m is not None and m.view is not None else (base, ()))
    mo = meta(out)
    mo.view = (root, (*chain, (op, attrs, tuple(extra))))
    mo.view_version = versions.version(root._data)


def _refresh_view(t: Tensor, m) -> None:
    """A view whose base was written in place since its history was set reads the base's
    new values: its history becomes the base's current one through the view (torch
    regenerates a stale view's grad_fn the same way)."""
    root, chain = m.view
    now = versions.version(root._data)
    if now == m.view_version:
        return
    m.view_version = now
    if root._rg:
        m.grad_fn, m.output_nr = ViewOfBase(edge_of(root), chain, root._type, t._type), 0
        t._rg = True
    elif m.grad_fn is not None:  # the base holds values that need no gradient any more
        m.grad_fn = None
        t._rg = False


def replay(chain: tuple, t: Tensor) -> Tensor:
    """The view `chain` (from a view's Meta) applied to `t`: the same region of another tensor."""
    from tracejit.dispatch import dispatch

    for op, attrs, extra in chain:
        t = dispatch(op, t, *extra, **attrs)
    return t


# --- recording ------------------------------------------------------------------------------

class OpNode(Node):
    """A dispatched op on the tape: its rule, attributes, operand types and saved tensors."""

    __slots__ = ("attrs", "freed", "needs", "op", "rule", "saved", "types")

    def __init__(self, op, rule, attrs, types, edges, out_type):
        super().__init__(edges, (out_type,))
        self.op, self.rule, self.attrs, self.types = op, rule, attrs, types
        self.needs = tuple(e is not None for e in edges)
        self.saved: dict[Any, Saved] = {}
        self.freed = False

    def name(self) -> str:
        if self.rule is None:
            return f"{self.op.value.title()}Backward0"
        name = self.rule.name
        return name(self) if callable(name) else name

    def apply(self, grads, create_graph) -> list:
        if self.rule is None:
            raise RuntimeError(
                f"the derivative for '{self.op.value}' is not implemented in tracejit; compute "
                "it without gradients (under tracejit.no_grad(), or on a .detach()ed input)")
        if self.freed:
            raise RuntimeError(FREED)
        g = grads[0]
        out = self.rule.fn(_Ctx(self, create_graph), g)
        return [_fit(r, t) if (r is not None and need) else None
                for r, t, need in zip(out, self.types, self.needs)]

    def release(self) -> None:
        """Free the saved tensors; a later backward through a node that saved any raises
        (one that saved nothing runs again, as torch's)."""
        self.freed = bool(self.saved)
        self.saved = {}


class _Ctx:
    """What a rule reads: `x(i)` (operand i), `out` (the result), `attrs`, `types`, `needs`."""

    __slots__ = ("create_graph", "node")

    def __init__(self, node: OpNode, create_graph: bool):
        self.node, self.create_graph = node, create_graph

    def x(self, i: int) -> Tensor:
        saved = self.node.saved.get(i)
        if saved is None:
            raise AssertionError(f"rule bug: {self.node.name()} did not save operand {i}")
        return saved.unpack(self.node, self.create_graph)

    @property
    def out(self) -> Tensor:
        saved = self.node.saved.get("out")
        if saved is None:
            raise AssertionError(f"rule bug: {self.node.name()} did not save its result")
        return saved.unpack(self.node, self.create_graph)

    @property
    def attrs(self) -> dict:
        return self.node.attrs

    @property
    def types(self) -> tuple[TensorType, ...]:
        return self.node.types

    @property
    def needs(self) -> tuple[bool, ...]:
        return self.node.needs


_RULES: dict | None = None  # rules.RULES itself, bound on first use (rules.py imports the
# dispatch point, which imports this module)


def record(op: Op, operands: list[Tensor], attrs: dict, out: Tensor) -> Tensor:
    """Put `op` on the tape: `out` requires grad and gets the node as its grad_fn."""
    global _RULES
    if _RULES is None:
        from tracejit.autograd.rules import RULES as _RULES
    positions = OPS[op].differentiable
    if not out.dtype.is_floating_point or not positions:
        return out
    edges = [edge_of(t) if (i in positions and t.dtype.is_floating_point) else None
             for i, t in enumerate(operands)]
    if all(e is None for e in edges):
        return out
    rule = _RULES.get(op)
    node = OpNode(op, rule, attrs, tuple(t._type for t in operands), edges, out._type)
    if rule is not None:
        for key in rule.saves(node.needs):
            tensor = out if key == "out" else operands[key]
            node.saved[key] = Saved(tensor, is_output=key == "out")
    out._rg = True  # a floating result (checked above)
    m = meta(out)
    m.grad_fn, m.output_nr = node, 0
    return out


def _fit(g: Tensor, t: TensorType) -> Tensor:
    """`g` summed over the dims broadcasting added and cast to the operand's dtype."""
    from tracejit.dispatch import dispatch

    shape = tuple(t.shape)
    if tuple(g.shape) != shape:
        extra = g.ndim - len(shape)
        dims = tuple(range(extra)) + tuple(
            extra + d for d, n in enumerate(shape) if n == 1 and g.shape[extra + d] != 1)
        if dims:
            g = dispatch(Op.SUM, g, dims=dims, keepdim=True)
        if extra or tuple(g.shape) != shape:
            g = dispatch(Op.RESHAPE, g, shape=shape)
    if g.dtype is not t.dtype:
        g = dispatch(Op.CAST, g, dtype=t.dtype)
    return g


# --- in-place writes ------------------------------------------------------------------------

def _check_leaf(dst: Tensor) -> None:
    m = dst._ag
    if dst.requires_grad and (m is None or m.grad_fn is None):
        raise RuntimeError(
            "a leaf Variable that requires grad is being used in an in-place operation. (Write "
            "to it under tracejit.no_grad(), as optimizers and nn.init do, or clone() it first.)")
    if m is not None and m.view is not None:
        base = m.view[0]
        if base.requires_grad and (base._ag is None or base._ag.grad_fn is None):
            raise RuntimeError(
                "a view of a leaf Variable that requires grad is being used in an in-place "
                "operation. (Write under tracejit.no_grad(), or clone() the leaf first.)")


def _keep_originals(dst: Tensor, src: Tensor, limit: int = 16) -> None:
    """Nodes recorded since `dst` got its value (the in-place op's own, as `x.mul_(y)`'s mul
    saving x) keep a copy of what they saved from `dst`'s memory instead of the memory the
    write is about to change: torch's `original_self`. A node that saved it as its *result*
    still raises torch's version error (torch does too)."""
    m = src._ag
    if m is None or m.grad_fn is None:
        return
    bound = dst._ag.grad_fn.seq if dst._ag is not None and dst._ag.grad_fn is not None else -1
    stack, seen = [m.grad_fn], set()
    while stack and len(seen) < limit:
        node = stack.pop()
        if id(node) in seen or node.seq <= bound:
            continue
        seen.add(id(node))
        if isinstance(node, OpNode):
            for key, saved in list(node.saved.items()):
                t = saved.tensor
                if not saved.is_output and np.may_share_memory(t._data, dst._data) and \
                        saved.version == versions.version(t._data):
                    node.saved[key] = Saved(_dispatch.dispatch(Op.COPY, t))
        stack.extend(e[0] for e in node.edges if e is not None)


def _rebase(dst: Tensor, src: Tensor, old) -> None:
    """`dst` now holds `src`'s values: its history becomes src's; for a view, its base's
    history becomes the old base with the view's region replaced (torch's CopySlices)."""
    m = meta(dst)
    if m.view is not None:
        base, chain = m.view
        node = CopySlices(edge_of(base), edge_of(src), chain, base._type)
        base.requires_grad = True
        mb = meta(base)
        mb.grad_fn, mb.output_nr = node, 0
        m.grad_fn, m.output_nr = ViewOfBase((node, 0), chain, base._type, dst._type), 0
        m.view_version = versions.version(base._data)
    elif src.requires_grad:
        e = edge_of(src)
        if old is not None and not _reaches(e[0], old[0]):  # copy_/fill_: the old value's
            e = (CopyBackwards(old, e, dst._type), 0)  # history gets zeros, as torch's
        m.grad_fn, m.output_nr = e
    else:  # overwritten by values that carry no gradient: its old history gets zeros
        m.grad_fn, m.output_nr = Stop(dst._type, old), 0
    dst.requires_grad = True


def _reaches(start: Node, target: Node, limit: int = 16) -> bool:
    """Whether `target` is among the nodes recorded after it that lead from `start` (the
    in-place op's own nodes: x.add_(1) reads x, x.copy_(y) does not)."""
    stack, seen = [start], set()
    while stack and len(seen) < limit:
        node = stack.pop()
        if node is target:
            return True
        if id(node) in seen or node.seq < target.seq:
            continue
        seen.add(id(node))
        stack.extend(e[0] for e in node.edges if e is not None)
    return bool(stack)  # gave up: assume it does (the zeros would only be a cost)


class CopyBackwards(Node):
    """A tensor overwritten by values that require grad: they get the gradient, what it held
    before gets zeros."""

    __slots__ = ()

    def __init__(self, old, src, out_type):
        super().__init__((old, src), (out_type,))

    def apply(self, grads, create_graph):
        from tracejit.autograd.rules import zeros_like

        return [zeros_like(grads[0]), grads[0]]


class CopySlices(Node):
    """The new base after an in-place write into its view: the old base's gradient outside the
    region, the written value's gradient inside it."""

    __slots__ = ("base_type", "chain")

    def __init__(self, base_edge, src_edge, chain, base_type):
        super().__init__((base_edge, src_edge), (base_type,))
        self.chain, self.base_type = chain, base_type

    def apply(self, grads, create_graph):
        from tracejit.dispatch import assign, dispatch

        g = grads[0]
        base_grad = None
        if self.edges[0] is not None:
            base_grad = dispatch(Op.COPY, g)
            region = replay(self.chain, base_grad)
            assign(region, dispatch(Op.FULL, shape=tuple(region.shape), value=0,
                                    dtype=region.dtype))
        src_grad = replay(self.chain, g) if self.edges[1] is not None else None
        return [base_grad, src_grad]


class ViewOfBase(Node):
    """A view read back out of a base an in-place write rebased: its gradient goes to the
    view's region of the base."""

    __slots__ = ("base_type", "chain")

    def __init__(self, edge, chain, base_type, out_type):
        super().__init__((edge,), (out_type,))
        self.chain, self.base_type = chain, base_type

    def name(self) -> str:
        return "AsStridedBackward0"

    def apply(self, grads, create_graph):
        from tracejit.dispatch import assign, dispatch

        t = self.base_type
        z = dispatch(Op.FULL, shape=tuple(t.shape), value=0, dtype=t.dtype)
        region = replay(self.chain, z)
        assign(region, grads[0].expand(region.shape) if grads[0].ndim == 0 else grads[0])
        return [z]


class Stop(Node):
    """The history of a tensor overwritten in place by values that need no gradient: what it
    held before gets a zero gradient (torch's FillBackward/CopyBackwards)."""

    __slots__ = ()

    def __init__(self, out_type, old):
        super().__init__((old,), (out_type,))

    def name(self) -> str:
        return "FillBackward0"

    def apply(self, grads, create_graph):
        from tracejit.autograd.rules import zeros_like

        return [zeros_like(grads[0]) if self.edges[0] is not None else None]


__all__ = ["AutogradMode", "OpNode", "engine", "is_enabled", "record", "replay", "set_enabled"]
