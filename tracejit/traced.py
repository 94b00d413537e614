"""`tracejit.trace`: record a function or module into a Graph, and run it as a callable.

A traced callable specialises on its input signature: the structure of its arguments, each
Tensor's dtype and shape, the values of non-Tensor arguments and (for modules) the training
flags and parameter types. A call with a new signature traces again and caches the new graph
(least recently used first out, `cache_size` at most); `strict=True` raises instead. A module's
parameters and buffers are graph inputs read at each call, so in-place weight updates are seen;
`freeze=True` bakes them in as named constants.
"""

from __future__ import annotations

import inspect
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracejit import pytree, random
from tracejit.dispatch import current_mode, using_mode
from tracejit.ir.graph import Graph
from tracejit.nn.module import Module
from tracejit.runtime.eager import interpret
from tracejit.tensor import Tensor
from tracejit.tracer import TraceError, TraceMode

log = logging.getLogger("tracejit.recompiles")
graph_log = logging.getLogger("tracejit.graph")


@dataclass(eq=False)
class Specialization:
    """One trace: its graph and how to map Python values in and out of it."""

    graph: Graph
    in_structure: Any
    out_structure: Any
    n_user: int  # graph inputs that come from the call's arguments; the rest are module state
    state_names: tuple[str, ...]  # parameter and buffer names, in graph input order
    mutated: list[int]  # graph inputs written in place, returned after the real outputs
    signature: str

    def run(self, leaves: list[Tensor], state: list[Tensor]):
        inputs = leaves + state
        arrays = interpret(self.graph, [t._data for t in inputs], random.default_generator())
        n_out = len(arrays) - len(self.mutated)
        for k, array in zip(self.mutated, arrays[n_out:]):
            np.copyto(inputs[k]._data, array)
        outs = [Tensor._wrap(a if a.flags.writeable else a.copy()) for a in arrays[:n_out]]
        return pytree.unflatten(self.out_structure, outs)


class _Traced:
    """What trace() returns: call it like the original; `.graph` and `.code` show the IR."""

    def __init__(self, fn: Callable, name: str, module: Module | None, *, freeze: bool,
                 strict: bool, cache_size: int):
        if cache_size < 1:
            raise ValueError(f"cache_size must be at least 1, got {cache_size}")
        self._fn, self._name, self._module = fn, name, module
        self._freeze, self._strict, self._cache_size = freeze, strict, cache_size
        self._cache: OrderedDict[Any, Specialization] = OrderedDict()
        self._last: Specialization | None = None
        try:
            self._signature = inspect.signature(fn)
        except (TypeError, ValueError):  # builtins without a signature
            self._signature = None

    # --- calling --------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        key, leaves, state = self._key(args, kwargs)
        spec = self._cache.get(key)
        if spec is None:
            spec = self._retrace(key, args, kwargs)
        else:
            self._cache.move_to_end(key)
        self._last = spec
        return spec.run(leaves, state)

    def _key(self, args, kwargs) -> tuple[Any, list[Tensor], list[Tensor]]:
        """The cache key of a call (see the module docstring), its Tensors and module state."""
        leaves, structure, _ = pytree.flatten(self._bind(args, kwargs))
        state_names, state = self._state()
        key = (structure, tuple(t._type for t in leaves), state_names,
               tuple(t._type for t in state), self._flags())
        return key, leaves, state

    def _bind(self, args, kwargs) -> dict:
        if self._signature is None:
            return {"args": args, **({"kwargs": kwargs} if kwargs else {})}
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{self._name}(): {e}") from None
        return dict(bound.arguments)

    def _retrace(self, key, args, kwargs) -> Specialization:
        if self._cache and self._strict:
            raise TraceError(
                f"{self._name} was traced for {self._last_signature()}; this call has a new "
                f"signature {self._describe(args, kwargs)} and strict=True forbids retracing. "
                "Trace again with these inputs, or pass strict=False"
            )
        spec = self._trace(args, kwargs)
        if self._cache:
            log.info("retracing %s: new signature %s (cached: %s)", self._name, spec.signature,
                     "; ".join(s.signature for s in self._cache.values()))
        self._cache[key] = spec
        if len(self._cache) > self._cache_size:
            _, evicted = self._cache.popitem(last=False)
            log.info("%s: cache full (%d), dropped the trace for %s", self._name,
                     self._cache_size, evicted.signature)
        return spec

    def _describe(self, args, kwargs) -> str:
        leaves, structure, _ = pytree.flatten(self._bind(args, kwargs))
        return pytree.render_arguments(structure, [t._type for t in leaves])

    def _last_signature(self) -> str:
        return (self._last or next(reversed(self._cache.values()))).signature

    # --- tracing --------------------------------------------------------------------------------
    def _trace(self, args, kwargs) -> Specialization:
        if isinstance(current_mode(), TraceMode):
            raise TraceError(f"tracing {self._name} while another trace is running; call the "
                             "traced function's original instead")
        leaves, structure, names = pytree.flatten(self._bind(args, kwargs))
        state_names, state = self._state()
        tracer = TraceMode(self._name)
        try:
            for tensor, name in zip(leaves, names):
                tracer.add_input(tensor, name)
            for tensor, name in zip(state, state_names):
                if self._freeze:
                    tracer.add_frozen(tensor, name)
                else:
                    tracer.add_input(tensor, name)
            with using_mode(tracer):
                result = self._fn(*args, **kwargs)
                outs, out_structure, _ = pytree.flatten(result)
                graph, mutated = tracer.finish(outs)
        finally:
            tracer.release()
        in_types = [t._type for t in leaves]
        signature = (pytree.render_arguments(structure, in_types) + " -> "
                     + pytree.render(out_structure, graph.output_types))
        graph_log.info("traced %s %s:\n%s", self._name, signature, graph)
        n_user = len(leaves)
        return Specialization(graph, structure, out_structure, n_user,
                              () if self._freeze else state_names, mutated, signature)

    def _state(self) -> tuple[tuple[str, ...], list[Tensor]]:
        return (), []

    def _flags(self) -> tuple:
        return ()

    # --- inspection -----------------------------------------------------------------------------
    @property
    def graph(self) -> Graph:
        """The graph of the most recent call (or of the first trace)."""
        spec = self._last or next(iter(self._cache.values()))
        return spec.graph

    @property
    def graphs(self) -> list[Graph]:
        """Every cached specialisation's graph, least recently used first."""
        return [s.graph for s in self._cache.values()]

    @property
    def code(self) -> str:
        """The IR text of `.graph`."""
        return str(self.graph)

    @property
    def signature(self) -> str:
        """Inputs and outputs of `.graph`: `(x=float32[2,3]) -> float32[2,4]`-style text."""
        return (self._last or next(iter(self._cache.values()))).signature

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name}: {self.signature})"


class TracedFunction(_Traced):
    """A traced Python function."""


class TracedModule(_Traced):
    """A traced nn.Module; attribute access, state_dict() and friends reach the module."""

    def __init__(self, module: Module, **options):
        super().__init__(module, type(module).__name__, module, **options)
        self._signature = _signature_of(module.forward)

    def _state(self):
        named = [*self._module.named_parameters(), *self._module.named_buffers()]
        return tuple(n for n, _ in named), [t for _, t in named]

    def _flags(self) -> tuple:
        return tuple(m.training for m in self._module.modules())

    @property
    def module(self) -> Module:
        return self._module

    def train(self, mode: bool = True) -> TracedModule:
        self._module.train(mode)
        return self

    def eval(self) -> TracedModule:
        return self.train(False)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._module, name)


def _signature_of(fn) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def trace(fn_or_module, *example_inputs, example_kwarg_inputs: dict | None = None,
          freeze: bool = False, strict: bool = False, cache_size: int = 8):
    """Run `fn_or_module` once on the example inputs, recording every op into a Graph.

    Returns a `TracedModule` for an `nn.Module` and a `TracedFunction` otherwise, callable like
    the original. Inputs and outputs are Tensors or nested tuples, lists and dicts of them.
    """
    options = {"freeze": freeze, "strict": strict, "cache_size": cache_size}
    if isinstance(fn_or_module, Module):
        traced = TracedModule(fn_or_module, **options)
    elif callable(fn_or_module):
        name = getattr(fn_or_module, "__name__", type(fn_or_module).__name__)
        traced = TracedFunction(fn_or_module, name, None, **options)
    else:
        raise TypeError(f"trace() takes a function or an nn.Module, got "
                        f"{type(fn_or_module).__name__}")
    kwargs = example_kwarg_inputs or {}
    key, _, _ = traced._key(example_inputs, kwargs)
    traced._retrace(key, example_inputs, kwargs)
    return traced
