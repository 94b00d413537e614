"""The tape: nodes recorded by the autograd mode, and the backward pass that runs them.

A tensor that requires grad and is not a leaf has a `grad_fn`: the `Node` that made it, with
one edge per differentiable input (the input's own node, or the `AccumulateGrad` node of a leaf
input). `backward`/`grad` walk the nodes reachable from the outputs in reverse order of
creation, each node's rule (rules.py) mapping the gradient of its output to those of its
inputs. Rules are written with dispatched ops, so under a tracer the backward is recorded into
the graph, and with `create_graph=True` it is itself recorded by autograd (double backward).
"""

from __future__ import annotations

import heapq
import itertools
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tracejit.autograd import versions

if TYPE_CHECKING:
    from tracejit.tensor import Tensor

_sequence = itertools.count()
_NO_HOOKS: tuple = ()  # what a node without hooks holds (no list made per node)

FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you "
    "call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
    "through the graph a second time or if you need to access saved tensors after calling "
    "backward."
)


class Meta:
    """A tensor's autograd facts (torch's AutogradMeta): made on first need, else None."""

    __slots__ = (
        "accumulator",
        "grad",
        "grad_fn",
        "hooks",
        "output_nr",
        "post_hooks",
        "retains_grad",
        "view",
        "view_version",
    )

    def __init__(self):
        self.grad: Tensor | None = None
        self.grad_fn: Node | None = None
        self.output_nr = 0
        self.retains_grad = False
        self.hooks: list[Callable] = _NO_HOOKS  # a leaf's hooks, run before accumulation
        self.post_hooks: list[Callable] = _NO_HOOKS  # register_post_accumulate_grad_hook
        self.accumulator: weakref.ref | None = None  # the leaf's AccumulateGrad, while alive
        self.view: tuple[Tensor, tuple] | None = None  # (base, ((op, attrs, extra), ...))
        self.view_version = 0  # the base's version when this view's history was last set


def meta(t: Tensor) -> Meta:
    m = t._ag
    if m is None:
        m = t._ag = Meta()
    return m


class Node:
    """One recorded call: its rule, what it saved, and an edge per input `(node, output_nr)`
    (None where the input needs no gradient)."""

    __slots__ = (
        "__weakref__",
        "edges",
        "hooks",
        "n_outputs",
        "out_types",
        "pre_hooks",
        "seq",
    )

    def __init__(self, edges: Sequence[tuple[Node, int] | None], out_types=()):
        self.edges = edges
        self.seq = next(_sequence)
        self.pre_hooks: list[Callable] = _NO_HOOKS  # tensor hooks: fn(grads) -> grads | None
        self.hooks: list[Callable] = _NO_HOOKS  # fn(grad_inputs, grad_outputs), on the node
        self.out_types = out_types  # TensorType of each output (zeros for missing grads)
        self.n_outputs = len(out_types) or 1

    # torch's Node API
    def name(self) -> str:
        return type(self).__name__

    @property
    def next_functions(self) -> tuple:
        return tuple((e[0], e[1]) if e is not None else (None, 0) for e in self.edges)

    def register_hook(self, fn: Callable) -> _Handle:
        if self.hooks is _NO_HOOKS:
            self.hooks = []
        self.hooks.append(fn)
        return _Handle(self.hooks, fn)

    def register_prehook(self, fn: Callable) -> _Handle:
        self.own_pre_hooks().append(fn)
        return _Handle(self.pre_hooks, fn)

    def own_pre_hooks(self) -> list[Callable]:
        """The node's own list of tensor hooks (nodes share an empty tuple until one is added)."""
        if self.pre_hooks is _NO_HOOKS:
            self.pre_hooks = []
        return self.pre_hooks

    def apply(self, grads: list[Tensor | None], create_graph: bool) -> list[Tensor | None]:
        raise NotImplementedError

    def release(self) -> None:
        """Free what was saved for backward (after a backward without retain_graph)."""

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self):#x}>"


class _Handle:
    """What register_hook returns: `.remove()` takes the hook out."""

    def __init__(self, hooks: list, fn: Callable):
        self.hooks, self.fn = hooks, fn

    def remove(self) -> None:
        if self.fn in self.hooks:
            self.hooks.remove(self.fn)


class AccumulateGrad(Node):
    """The sink for a leaf: adds the arriving gradient into `leaf.grad`."""

    __slots__ = ("variable",)

    def __init__(self, variable: Tensor):
        super().__init__((), (variable._type,))
        self.variable = variable

    def apply(self, grads, create_graph) -> list:
        return []


def accumulator(leaf: Tensor) -> AccumulateGrad:
    """The leaf's AccumulateGrad node (one per leaf while any graph holds it, as torch's)."""
    m = meta(leaf)
    node = m.accumulator() if m.accumulator is not None else None
    if node is None:
        node = AccumulateGrad(leaf)
        m.accumulator = weakref.ref(node)
    return node


def edge_of(t: Tensor) -> tuple[Node, int] | None:
    """Where a gradient for `t` goes: its grad_fn, its accumulator (a leaf), or nowhere."""
    if not t.requires_grad:
        return None
    m = t._ag
    if m is not None and m.grad_fn is not None:
        return (m.grad_fn, m.output_nr)
    return (accumulator(t), 0)


class Saved:
    """A tensor kept for backward with its version at save time (torch's SavedVariable).
    An output is kept without its history (it would be a cycle) and gets the node back as its
    grad_fn when unpacked for a double backward."""

    __slots__ = ("is_output", "tensor", "version")

    def __init__(self, tensor: Tensor, is_output: bool = False):
        self.is_output = is_output
        if is_output:
            from tracejit.dispatch import alias

            tensor = alias(type(tensor)._wrap(tensor._data), tensor)
        self.tensor = tensor
        self.version = versions.version(tensor._data)

    def unpack(self, node: Node, create_graph: bool) -> Tensor:
        t = self.tensor
        now = versions.version(t._data)
        if now != self.version:
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: [{_describe(t)}], which is "
                f"{'output 0 of ' if self.is_output else 'an input of '}{node.name()}"
                f", is at version {now}; expected version {self.version} instead. Hint: the "
                "in-place write happened after this tensor was saved for backward; use an "
                "out-of-place op (x = x.add(1) instead of x.add_(1)) or clone() it first."
            )
        if self.is_output and create_graph:
            from tracejit.dispatch import alias
            from tracejit.tensor import Tensor

            out = alias(Tensor._wrap(t._data), t)
            out.requires_grad = True
            meta(out).grad_fn = node
            return out
        return t


def _describe(t: Tensor) -> str:
    from tracejit.tensor import _SCALAR_NAMES

    return f"torch.{_SCALAR_NAMES.get(t.dtype, t.dtype.value)}Tensor {list(t.shape)}"


def run_backward(roots: Sequence[Tensor], grads: Sequence[Tensor | None], retain_graph: bool,
                 create_graph: bool, inputs: Sequence[Tensor] | None = None,
                 accumulate: bool = True, allow_unused: bool = True) -> list[Tensor | None]:
    """Propagate `grads` from `roots` back through the graph. With `inputs` (autograd.grad),
    the gradients reaching those tensors are returned and nothing is accumulated; otherwise
    leaves' `.grad` accumulate (restricted to `inputs` if `accumulate` and inputs are given)."""
    from tracejit.autograd import mode as grad_mode

    starts: list[tuple[Node, int, Tensor]] = []
    for k, (root, g) in enumerate(zip(roots, grads)):
        edge = edge_of(root)
        if edge is None:
            raise RuntimeError(
                f"element {k} of tensors does not require grad and does not have a grad_fn "
                "(nothing it was computed from requires grad: set requires_grad=True on the "
                "leaves, or call backward outside torch.no_grad())"
            )
        starts.append((edge[0], edge[1], g))
    captures: dict[tuple[int, int], int] = {}  # (id(node), output_nr) -> position in inputs
    if inputs is not None:
        for k, t in enumerate(inputs):
            edge = edge_of(t)
            if edge is None:
                raise RuntimeError(
                    f"One of the differentiated Tensors (input {k}) does not require grad")
            captures[(id(edge[0]), edge[1])] = k
    order = _reachable([s[0] for s in starts])
    if inputs is not None:
        wanted = {key[0] for key in captures}
        order = _leading_to(order, wanted)  # only what leads to them runs (torch's)
    deps: dict[int, int] = {}
    for node in order.values():
        for e in node.edges:
            if e is not None and id(e[0]) in order:
                deps[id(e[0])] = deps.get(id(e[0]), 0) + 1
    buffers: dict[int, list] = {}
    for node, nr, g in starts:
        if id(node) in order:
            _add(buffers, node, nr, g)
    results: list[Tensor | None] = [None] * (len(inputs) if inputs is not None else 0)
    ready = [(-n.seq, id(n), n) for n in {id(s[0]): s[0] for s in starts}.values()
             if deps.get(id(n), 0) == 0 and id(n) in order]
    heapq.heapify(ready)
    with grad_mode.set_enabled(create_graph):
        while ready:
            _, _, node = heapq.heappop(ready)
            grads_out = buffers.pop(id(node), None) or [None] * node.n_outputs
            for hook in node.pre_hooks:
                changed = hook(grads_out)
                if changed is not None:
                    grads_out = changed
            for nr, g in enumerate(grads_out):
                k = captures.get((id(node), nr))
                if k is not None:
                    results[k] = g
            if isinstance(node, AccumulateGrad):
                if accumulate and (inputs is None or (id(node), 0) in captures):
                    _accumulate(node.variable, grads_out[0], create_graph)
                continue
            if inputs is not None and not accumulate and all(  # a captured input's own node:
                    (id(node), nr) in captures for nr in range(node.n_outputs)) and \
                    not any(id(e[0]) in order for e in node.edges if e is not None):
                continue  # its gradient is taken, nothing beyond it is wanted
            if all(g is None for g in grads_out):
                grads_in = [None] * len(node.edges)
            else:
                grads_in = node.apply(grads_out, create_graph)
            for hook in node.hooks:
                changed = hook(tuple(grads_in), tuple(grads_out))
                if changed is not None:
                    grads_in = list(changed)
            if not retain_graph:
                node.release()
            for e, g in zip(node.edges, grads_in):
                if e is None or id(e[0]) not in order:
                    continue
                if g is not None:
                    _add(buffers, e[0], e[1], g)
                deps[id(e[0])] -= 1
                if deps[id(e[0])] == 0:
                    heapq.heappush(ready, (-e[0].seq, id(e[0]), e[0]))
    if inputs is not None and not allow_unused:
        for k, r in enumerate(results):
            if r is None:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the "
                    f"graph (input {k}). Set allow_unused=True if this is the desired behavior.")
    return results


def _add(buffers: dict, node: Node, nr: int, g: Tensor) -> None:
    slot = buffers.get(id(node))
    if slot is None:
        slot = buffers[id(node)] = [None] * node.n_outputs
    slot[nr] = g if slot[nr] is None else slot[nr] + g


def _reachable(starts: list[Node]) -> dict[int, Node]:
    """Every node reachable from `starts` (iteratively: RNN graphs are deep)."""
    seen: dict[int, Node] = {}
    stack = list(starts)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen[id(node)] = node
        stack.extend(e[0] for e in node.edges if e is not None and id(e[0]) not in seen)
    return seen


def _leading_to(nodes: dict[int, Node], wanted: set[int]) -> dict[int, Node]:
    """The nodes from which some node in `wanted` can be reached (autograd.grad runs only
    those, as torch does)."""
    useful = set()
    for node in sorted(nodes.values(), key=lambda n: n.seq):  # inputs come before users
        if id(node) in wanted or any(e is not None and id(e[0]) in useful for e in node.edges):
            useful.add(id(node))
    return {k: n for k, n in nodes.items() if k in useful}


def _accumulate(leaf: Tensor, g: Tensor | None, create_graph: bool) -> None:
    """torch's AccumulateGrad: hooks, then `.grad` = g (first time) or `.grad + g`."""
    if g is None:
        return
    m = meta(leaf)
    for hook in m.hooks:
        changed = hook(g)
        if changed is not None:
            g = changed
    if tuple(g.shape) != tuple(leaf.shape):
        g = g.expand(leaf.shape) if g.numel() == 1 else g.reshape(leaf.shape)
    if m.grad is None:
        m.grad = g if create_graph else _fresh(g)
    elif create_graph:
        m.grad = m.grad + g
    else:
        from tracejit.dispatch import dispatch_inplace
        from tracejit.ir import Op

        dispatch_inplace(Op.ADD, m.grad, g)
    for hook in m.post_hooks:
        hook(leaf)


def _fresh(g: Tensor) -> Tensor:
    """A gradient `.grad` may own: detached, contiguous, not aliasing anything else."""
    from tracejit.dispatch import dispatch
    from tracejit.ir import Op

    if g._ag is None and not g.requires_grad and g._data.flags.c_contiguous and \
            g._data.base is None and g._data.flags.writeable:
        return g
    out = dispatch(Op.COPY, g)
    out.requires_grad = False
    out._ag = None
    return out
