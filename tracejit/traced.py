"""`tracejit.trace`: record a function or module into a Graph, and run it as a callable.

A traced callable specialises on its input signature: the structure of its arguments, each
Tensor's dtype and shape, which arguments are the same Tensor, the values of non-Tensor
arguments and (for modules) the training flags and parameter types. A call with a new signature
traces again, returns what that tracing run computed, and caches the new graph (least recently
used first out, `cache_size` at most); `strict=True` raises instead. A module's parameters and
buffers are graph inputs read at each call, so in-place weight updates are seen; `freeze=True`
bakes them in as named constants. A traced callable called from code being traced is inlined.

The Python values a trace read are baked in and guarded (trace_guards.py): the plain attributes
of a traced module's submodules (`self.scale`), which submodules it has, and the globals and
closure variables of the traced code and the user functions it names. A call that finds one
changed traces again, logged on `tracejit.recompiles` ("retracing f: `G` was 5.0, is 6.0").
A module's state layout (parameter and buffer names, training flags) is cached between calls
and checked by one identity snapshot of its tables, so a module call costs about what a
function call does.
"""

from __future__ import annotations

import functools
import inspect
import logging
import operator
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tracejit import pytree, random
from tracejit.dispatch import current_mode, using_mode
from tracejit.ir.graph import Graph, Operation
from tracejit.ir.ops import MOVEMENT, Op, evaluate, infer_types
from tracejit.ir.verifier import VerifyError, ensure_verified, verify_write_back
from tracejit.nn.module import Module
from tracejit.passes import DEFAULT_PIPELINE, parse_pipeline
from tracejit.runtime.eager import interpret
from tracejit.runtime.executor import Plan
from tracejit.runtime.graph_cache import optimize
from tracejit.tensor import Tensor
from tracejit.trace_guards import Guards, ModuleLayout, collect, show
from tracejit.tracer import (
    SIZE_GUARD,
    NeedsValues,
    SizeReads,
    TraceError,
    TraceMode,
    aliases_of,
    fits_open,
    runtime_error,
    size_guard_error,
    user_location,
    with_location,
)

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
    sources: list[int | None]  # per output: the graph input it is, handed back as that tensor
    signature: str
    optimized: Graph  # what runs: `graph` after the pipeline
    # per output: None, or how it is a view in the user's program: ("input", k, steps) of
    # input k, ("output", i, steps) of output i, ("sibling", i, steps) of output i where both
    # view a tensor not returned (TraceMode.view_path), steps being (op, attrs, result type)
    # each; a call hands back that view of the caller's tensor (or of output i) after the
    # write-back
    aliases: list
    runner: Callable  # (arrays, rng) -> arrays: the compiled plan, or the interpreter
    # (object, attribute) the captured code assigned a tensor: their values follow the result
    writes: list = field(default_factory=list)
    # where the traced code read the size of a `?` dim, and that size (each an assert op)
    sized: list = field(default_factory=list)
    # traces of the same signature made after a call failed a size guard, tried in turn
    resized: list = field(default_factory=list)

    def __post_init__(self):
        # per output: whether it can be an input's memory (an input itself or a numpy view);
        # kernels and reference ops always make fresh arrays
        outputs = self.optimized.outputs
        self.borrowed = [not isinstance(v.owner, Operation) or v.owner.op in MOVEMENT
                         or v.owner.op in (Op.CONSTANT, Op.INDEX) for v in outputs]
        self.outputs = outputs
        self.captured = self.graph.outputs  # one value returned twice is one tensor
        # outputs other outputs view: laid out as torch lays out a new tensor, so a reshape
        # of them is a view too
        self.roots = {a[1] for a in self.aliases if a is not None and a[0] == "output"}
        # outputs standing for a tensor not returned that others view: they keep its layout
        self.siblings = {a[1] for a in self.aliases if a is not None and a[0] == "sibling"}
        # the common case: fresh arrays, each returned once, nothing written back
        self.simple = (not self.mutated and not any(self.borrowed)
                       and all(k is None for k in self.sources)
                       and not any(self.aliases)
                       and len({id(v) for v in outputs}) == len(outputs))
        self.single = self.out_structure == pytree.TENSOR
        self.call = self._direct() if self.simple and self.single else self._call

    def _direct(self) -> Callable:
        """`call` for one fresh Tensor out: the fewest Python steps between the arguments and
        the plan (the W5 per-call overhead)."""
        run, wrap, generator = self.runner, Tensor._wrap, random.default_generator

        def call(args):
            return wrap(_c_order(run([t._data for t in args], generator())[0]))
        return call

    def _call(self, args):
        return self.run(args, [])

    def run(self, leaves: Sequence[Tensor], state: list[Tensor]) -> Any:
        inputs = [*leaves, *state] if state else leaves
        if self.simple:
            return self.run_simple([t._data for t in inputs])
        self._check_overlap(inputs)
        arrays = self.runner([t._data for t in inputs], random.default_generator())
        n_out = len(arrays) - len(self.mutated)
        outs = self._new_tensors(inputs, arrays)  # before the write-back can reach them
        if self.mutated:
            # a new value may be another input's memory (x.copy_(y)): read all, then write
            news = [a.copy() if any(np.may_share_memory(a, t._data) for t in inputs) else a
                    for a in arrays[n_out:]]
            for k, array in zip(self.mutated, news):
                np.copyto(inputs[k]._data, array)
        for j, (k, alias) in enumerate(zip(self.sources, self.aliases)):
            if k is not None:  # an input itself: the caller's tensor
                outs[j] = inputs[k]
            elif alias is not None:  # a view: of the caller's tensor, as it is now
                kind, i, steps = alias
                data = (inputs[i] if kind == "input" else outs[i])._data
                for op, attrs, result in steps:
                    data = evaluate(op, [data], attrs, result)
                outs[j] = Tensor._wrap(data)
        return pytree.unflatten(self.out_structure, outs)

    def run_simple(self, arrays: list[np.ndarray]) -> Any:
        """The result of a `simple` specialization on its inputs' arrays."""
        arrays = self.runner(arrays, random.default_generator())
        if self.single:
            return Tensor._wrap(_c_order(arrays[0]))
        return pytree.unflatten(self.out_structure, [Tensor._wrap(_c_order(a)) for a in arrays])

    def _new_tensors(self, inputs: list[Tensor], arrays: list) -> list[Tensor | None]:
        """The outputs that are new tensors in the user's program (None for the others): each
        in memory of its own, not an input's (an optimization may have turned x[0] * 1 into a
        view of x, which the write-back would change) nor another output's (one value the
        optimizer merged two into), but one value returned twice is one tensor, as in eager."""
        made: dict[int, Tensor] = {}
        outs: list[Tensor | None] = []
        for j, (value, k, alias) in enumerate(zip(self.captured, self.sources, self.aliases)):
            if k is not None or alias is not None:
                outs.append(None)
                continue
            tensor = made.get(id(value))
            if tensor is None:
                array = arrays[j]
                # laid out as torch lays out a new tensor (C order), so .view() works on it
                shared = not array.flags.writeable or (
                    j not in self.siblings and not array.flags.c_contiguous) or any(
                    np.may_share_memory(array, t._data) for t in made.values()) or (
                    self.borrowed[j] and any(np.may_share_memory(array, t._data)
                                             for t in inputs))
                tensor = made[id(value)] = Tensor._wrap(array.copy() if shared else array)
            outs.append(tensor)
        return outs

    def _check_overlap(self, inputs: list[Tensor]) -> None:
        """The graph writes inputs in place as if no other input saw the write: refuse inputs
        that share memory with one it writes (the same tensor twice is part of the key)."""
        for k in self.mutated:
            for other in inputs:
                if other is not inputs[k] and np.may_share_memory(other._data, inputs[k]._data) \
                        and np.shares_memory(other._data, inputs[k]._data):
                    raise TraceError(
                        f"{self.graph.inputs[k].name} is written in place and shares memory "
                        "with another input of this call (a view of it, or it of a view): the "
                        "graph replays the write on its own copy of the values, so the other "
                        "input would not see it. Pass separate tensors (clone() one)",
                        user_location(),
                    )


def _c_order(array: np.ndarray) -> np.ndarray:
    """`array` in C order, as torch lays out a new tensor (kernels and numpy may give any
    layout: a permuted sum, a cat): copied only when it is not already."""
    return array if array.flags.c_contiguous else array.copy(order="C")


def _kernel_error(error: Exception) -> RuntimeError:
    """A graph's op failing on this call's data (shapes a `?` dim did not fit, numpy's
    ValueError): torch's RuntimeError, as eager mode raises for the same op."""
    return RuntimeError(f"{error} (an op of the traced graph, on this call's data)")


BACKENDS = ("llvm", "eager")


def default_backend(backend: str | None = None) -> str:
    """The backend a capture runs on, decided here for trace, script, compile and load:
    `backend`, else $TRACEJIT_BACKEND, else "llvm"; ValueError for an unknown one."""
    backend = backend or os.environ.get("TRACEJIT_BACKEND") or "llvm"
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    return backend
ABSTRACT = object()  # what an abstract trace "returns": nothing was computed
_SIGNATURE = operator.attrgetter("_data.dtype", "_data.shape")  # a Tensor's fast-path key
_ARRAY_SIGNATURE = operator.attrgetter("dtype", "shape")


def _runner(graph: Graph, backend: str) -> Callable:
    if backend == "eager":
        ensure_verified(graph)  # as Plan() does: whatever produced it, checked before it runs
        return lambda arrays, rng: interpret(graph, arrays, rng)
    return Plan(graph).run  # (arrays, rng): inputs already matched by the cache key


def specialize(graph: Graph, in_structure, out_structure, n_user: int, state_names, mutated,
               sources, signature: str, pipeline: str, backend: str,
               aliases=None) -> Specialization:
    """A captured graph optimized by `pipeline` and made runnable on `backend`. The graph and
    its write-back and alias declarations are verified first, whoever captured or loaded them.
    `aliases`: per output, None or how it views an input or output (TraceMode.view_path)."""
    ensure_verified(graph)
    verify_write_back(graph, mutated, sources)
    steps = _alias_steps(graph, len(graph.outputs) - len(mutated), sources, aliases)
    optimized = optimize(graph, pipeline)  # a copy: `graph` stays as captured
    return Specialization(graph, in_structure, out_structure, n_user, tuple(state_names),
                          list(mutated), list(sources), signature, optimized, steps,
                          _runner(optimized, backend))


_VIEW_OPS = frozenset({Op.RESHAPE, Op.PERMUTE, Op.EXPAND, Op.SLICE, Op.INDEX})


def _alias_steps(graph: Graph, n_out: int, sources, aliases) -> list:
    """`aliases` with each view op's result type (from its root's, by the op's rule), checked:
    the ops are view ops, the root an input or an output that is no alias, the types fixed and
    the last one the output's. VerifyError otherwise."""
    aliases = [None] * n_out if aliases is None else list(aliases)
    where = f"graph @{graph.name}"
    if len(aliases) != n_out:
        raise VerifyError(f"{where}: {len(aliases)} aliases declared for {n_out} outputs")
    out = []
    for j, alias in enumerate(aliases):
        if alias is None:
            out.append(None)
            continue
        try:
            kind, i, ops = alias
            outputs = graph.outputs[:n_out]
            roots = {"input": graph.inputs, "output": outputs, "sibling": outputs}[kind]
            if isinstance(i, bool) or not 0 <= i < len(roots) or sources[j] is not None or (
                    kind != "input" and (aliases[i] is not None or sources[i] is not None)):
                raise ValueError(f"{kind} {i} cannot be its root")
            typed, steps = roots[i].type, []
            for op, attrs in ops:
                if op not in _VIEW_OPS:
                    raise ValueError(f"{op} is not a view op")
                typed = infer_types(op, [typed], attrs)[0]
                steps.append((op, attrs, typed))
            if not (typed == graph.outputs[j].type or (kind == "output" and fits_open(
                    typed, graph.outputs[j].type))) or (None in typed.shape and kind != "output"):
                raise ValueError(f"the views give {typed}, the output is "
                                 f"{graph.outputs[j].type}")
        except Exception as e:  # a damaged declaration, whatever it breaks
            raise VerifyError(f"{where}: output {j} is declared a view ({e})"[:400]) from None
        out.append((kind, i, tuple(steps)))
    return out


class _Traced:
    """What trace() returns: call it like the original; `.graph` and `.code` show the IR."""

    def __init__(self, fn: Callable, name: str, module: Module | None, *, freeze: bool,
                 strict: bool, cache_size: int, pipeline: str, backend: str):
        if cache_size < 1:
            raise ValueError(f"cache_size must be at least 1, got {cache_size}")
        parse_pipeline(pipeline)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self._pipeline, self._backend = pipeline, backend
        self._fn, self._name, self._module = fn, name, module
        self._freeze, self._strict, self._cache_size = freeze, strict, cache_size
        self._cache: OrderedDict[Any, Specialization] = OrderedDict()
        # (dtype, shape) of each positional Tensor -> its specialisation, for calls whose
        # arguments are exactly their Tensors (checked on the slow path before an entry is made)
        self._fast: dict[tuple, Specialization] = {}
        self._last: Specialization | None = None
        # the Python values the cached traces baked in (trace_guards.py); None: none
        self._baked: Guards | None = None
        # modules: the state layout the calls read, and (dtype, shape) of each state tensor
        # that the `_fast` entries were made for
        self._layout: ModuleLayout | None = None
        self._fast_state: list | None = None
        try:
            self._signature = inspect.signature(fn)
        except (TypeError, ValueError):  # builtins without a signature
            self._signature = None

    # --- calling --------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if self._baked is not None:
            changed = self._baked.changed()
            if changed is not None:
                self._forget(*changed)
        if not kwargs and self._fast:  # the fast path: Tensors only, by position
            try:
                spec = self._fast.get((_SIGNATURE(args[0]),) if len(args) == 1 else
                                      tuple(map(_SIGNATURE, args)))
            except AttributeError:  # not all Tensors
                spec = None
            if spec is not None and (len(args) == 1 or len(set(map(id, args))) == len(args)) \
                    and not isinstance(current_mode(), TraceMode):
                if self._module is not None:
                    return self._call_module(spec, args, kwargs)
                self._last = spec
                try:  # inline, as in _call_module: a helper call costs 0.2 us on this path
                    return spec.call(args)
                except (ValueError, ArithmeticError) as e:
                    raise _kernel_error(e) from None
                except AssertionError as e:
                    if SIZE_GUARD not in str(e):
                        raise runtime_error(e) from None
                    _, leaves, state = self._key(args, kwargs)  # a size guard failed
                    return self._resize(spec, args, kwargs, leaves, state, str(e))
        return self._full_call(args, kwargs)

    def _full_call(self, args: tuple, kwargs: dict):
        """A call that took no fast path: the cache key, a trace where it is new."""
        if isinstance(current_mode(), TraceMode):  # called from code being traced: inline it
            return self._fn(*args, **kwargs)
        key, leaves, state = self._key(args, kwargs)
        spec = self._cache.get(key)
        if spec is None:
            self._last, result = self._retrace(key, args, kwargs)
            if result is not ABSTRACT:
                # tracing ran the code for real: its result is this call's (running the graph
                # too would repeat its in-place writes and random draws)
                return result
            spec = self._last
        self._cache.move_to_end(key)
        self._last = spec
        if not kwargs and len(leaves) == len(args) and all(
                a is t for a, t in zip(args, leaves)) and len(set(map(id, args))) == len(args) \
                and not spec.writes and self._fast_state_for(key, state):
            self._fast[tuple(map(_SIGNATURE, args))] = spec
        try:
            return self._run_spec(spec, leaves, state)
        except (ValueError, ArithmeticError) as e:
            raise _kernel_error(e) from None
        except AssertionError as e:
            if SIZE_GUARD not in str(e):
                raise runtime_error(e) from None
            return self._resize(spec, args, kwargs, leaves, state, str(e))

    def _call_module(self, spec: Specialization, args: tuple, kwargs: dict):
        """The fast path of a module: `spec` runs on the state of the cached layout while
        that layout is current, no argument is a state tensor and each state tensor has the
        dtype and shape the fast entries were made for; else the full call."""
        layout = self._layout
        if layout is None or not layout.current() or not layout.ids.isdisjoint(map(id, args)):
            return self._full_call(args, kwargs)
        arrays = [t._data for t in layout.state]
        if list(map(_ARRAY_SIGNATURE, arrays)) != self._fast_state:
            return self._full_call(args, kwargs)
        self._last = spec
        try:
            if spec.simple and not self._freeze:
                return spec.run_simple([*[a._data for a in args], *arrays])
            return self._run_spec(spec, args, layout.state)
        except (ValueError, ArithmeticError) as e:
            raise _kernel_error(e) from None
        except AssertionError as e:
            if SIZE_GUARD not in str(e):
                raise runtime_error(e) from None
            return self._resize(spec, args, kwargs, list(args), layout.state, str(e))

    def _fast_state_for(self, key, state: list[Tensor]) -> bool:
        """Whether a fast entry may be made for this call's `key` (functions: always). A
        module's entries hold for one dtype and shape per state tensor, no argument being
        one: the first entry for other state types drops the others."""
        if self._module is None:
            return True
        if key[-1] != tuple(range(len(key[-1]))):  # an argument is a state tensor
            return False
        types = list(map(_SIGNATURE, state))
        if types != self._fast_state:
            self._fast.clear()
            self._fast_state = types
        return True

    def _forget(self, what: str, was, now) -> None:
        """A Python value the cached traces baked in changed: drop them all, so this call
        traces again."""
        log.info("retracing %s: `%s` was %s, is %s", self._name, what, show(was), show(now))
        self._cache.clear()
        self._fast.clear()
        self._baked = None

    def _run_spec(self, spec: Specialization, leaves: list[Tensor], state: list[Tensor]):
        result = spec.run(leaves, [] if self._freeze else state)
        if spec.writes:  # tensors the code assigned to attributes, written back now
            result, values = result
            for (obj, name), value in zip(spec.writes, values):
                setattr(obj, name, value)
        return result

    def _resize(self, spec: Specialization, args, kwargs, leaves, state, message: str):
        """A call whose `?` dim has another size than the one `spec`'s code read as an int:
        the first trace of this signature made for other sizes that passes its guards, else
        a new one (kept with `spec`, `cache_size` at most)."""
        for other in spec.resized:
            try:
                result = self._run_spec(other, leaves, state)
            except (ValueError, ArithmeticError) as e:
                raise _kernel_error(e) from None
            except AssertionError as e:
                if SIZE_GUARD not in str(e):
                    raise runtime_error(e) from None
                continue
            self._last = other
            return result
        if self._strict:
            raise size_guard_error(message, f"the trace of {self._name} (strict=True)")
        new, result = self._trace_with(args, kwargs, abstract=False)  # `?` dims need values
        where, was = message.split(" read at ", 1)[-1].rsplit(" was ", 1)
        now = next((str(n) for w, n in new.sized if w == where), "not read")
        log.info("retracing %s: the size of a data-dependent dim read at %s was %s, is %s",
                 self._name, where, was, now)
        spec.resized.append(new)
        if len(spec.resized) >= self._cache_size:
            spec.resized.pop(0)
        self._last = new
        if result is not ABSTRACT:
            return result
        try:  # a capture that ran abstractly (script): its graph runs on this call's tensors
            return self._run_spec(new, leaves, state)
        except (ValueError, ArithmeticError) as e:
            raise _kernel_error(e) from None
        except AssertionError as e:
            if SIZE_GUARD not in str(e):
                raise runtime_error(e) from None
            said = str(e).split(SIZE_GUARD, 1)[-1]
            raise RuntimeError(
                f"{said} when {self._name} was captured again for this call, and differs when "
                "its graph runs: the capture computed that size from other values than the "
                "graph does (a tracejit bug; please report it with this code)") from None

    def _key(self, args, kwargs) -> tuple[Any, list[Tensor], list[Tensor]]:
        """The cache key of a call (see the module docstring), its Tensors and module state."""
        leaves, structure, _ = pytree.flatten(self._bind(args, kwargs))
        state_names, state = self._state()
        first: dict[int, int] = {}  # the same tensor passed twice is one graph value
        aliases = tuple(first.setdefault(id(t), k) for k, t in enumerate(leaves + state))
        key = (structure, tuple(t._type for t in leaves), state_names,
               tuple(t._type for t in state), self._flags(), aliases)
        return key, leaves, state

    def _bind(self, args, kwargs) -> dict:
        if self._signature is None:
            return {"args": args, **({"kwargs": kwargs} if kwargs else {})}
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{self._name}(): {e}") from None
        return dict(bound.arguments)

    def _retrace(self, key, args, kwargs) -> tuple[Specialization, Any]:
        if self._cache and self._strict:
            raise TraceError(
                f"{self._name} was traced for {self._last_signature()}; this call has a new "
                f"signature {self._describe(args, kwargs)} and strict=True forbids retracing. "
                "Trace again with these inputs, or pass strict=False"
            )
        spec, result = self._trace(args, kwargs)
        if self._cache:
            log.info("retracing %s: new signature %s (cached: %s)", self._name, spec.signature,
                     "; ".join(s.signature for s in self._cache.values()))
        self._cache[key] = spec
        if len(self._cache) > self._cache_size:
            _, evicted = self._cache.popitem(last=False)
            self._fast = {k: v for k, v in self._fast.items() if v is not evicted}
            log.info("%s: cache full (%d), dropped the trace for %s", self._name,
                     self._cache_size, evicted.signature)
        return spec, result

    def _describe(self, args, kwargs) -> str:
        leaves, structure, _ = pytree.flatten(self._bind(args, kwargs))
        return pytree.render_arguments(structure, [t._type for t in leaves]) + self._mode()

    def _last_signature(self) -> str:
        return (self._last or next(reversed(self._cache.values()))).signature

    # --- tracing --------------------------------------------------------------------------------
    def _trace(self, args, kwargs) -> tuple[Specialization, Any]:
        """The specialisation for these arguments, and the result of the run that traced it
        (ABSTRACT when tracing computed nothing: the caller runs the graph for the result)."""
        try:
            return self._trace_with(args, kwargs, abstract=True)
        except NeedsValues as e:
            log.info("%s: %s has a data-dependent shape; tracing again with real values",
                     self._name, e)
            return self._trace_with(args, kwargs, abstract=False)

    def _trace_with(self, args, kwargs, abstract: bool) -> tuple[Specialization, Any]:
        if isinstance(current_mode(), TraceMode):
            raise TraceError(f"tracing {self._name} while another trace is running; call the "
                             "traced function's original instead")
        leaves, structure, names = pytree.flatten(self._bind(args, kwargs))
        state_names, state = self._state()
        tracer = TraceMode(self._name, abstract)
        try:
            for tensor, name in zip(leaves, names):
                tracer.add_input(tensor, name)
            for tensor, name in zip(state, state_names):
                if self._freeze:
                    tracer.add_frozen(tensor, name)
                else:
                    tracer.add_input(tensor, name)
            with using_mode(tracer), SizeReads(tracer):
                try:
                    result = self._fn(*args, **kwargs)
                except (RuntimeError, IndexError, TypeError, ValueError) as e:
                    located = with_location(e)
                    if located is e:
                        raise
                    raise located from None
                writes = self._assigned(tracer, state)
                packed = (result, [getattr(o, n) for o, n in writes]) if writes else result
                outs, out_structure, _ = pytree.flatten(packed)
                graph, mutated, sources = tracer.finish(outs)
        finally:
            tracer.release()
        spec = self._specialize(graph, structure, out_structure, leaves,
                                () if self._freeze else state_names, mutated, sources, "traced",
                                tracer.aliases)
        spec.writes = writes
        spec.sized = list(tracer.sized.values())
        # the Python values this run read, as they are now that it ran (checked per call)
        self._baked = collect(self._fn, self._module)
        return spec, ABSTRACT if abstract else result

    def _specialize(self, graph: Graph, structure, out_structure, leaves: list[Tensor],
                    state_names, mutated, sources, verb: str,
                    aliases: list | None = None) -> Specialization:
        """The Specialization running a captured `graph` (logged on `graph` as `verb`);
        `aliases` default to those the capture that finished `graph` found."""
        if aliases is None:
            aliases = aliases_of(graph)
        signature = (pytree.render_arguments(structure, [t._type for t in leaves])
                     + self._mode() + " -> " + pytree.render(out_structure, graph.output_types))
        graph_log.info("%s %s %s:\n%s", verb, self._name, signature, graph)
        return specialize(graph, structure, out_structure, len(leaves), state_names, mutated,
                          sources, signature, self._pipeline, self._backend, aliases)

    def _state(self) -> tuple[tuple[str, ...], list[Tensor]]:
        return (), []

    def _assigned(self, tracer: TraceMode, state: list[Tensor]) -> list[tuple[Any, str]]:
        """(module, attribute) pairs the traced code assigned a traced tensor (modules only)."""
        return []

    def _flags(self) -> tuple:
        return ()

    def _mode(self) -> str:
        """The training flags as signatures show them (modules only)."""
        return ""

    # --- inspection -----------------------------------------------------------------------------
    @property
    def graph(self) -> Graph:
        """The graph of the most recent call (or of the first trace)."""
        spec = self._last or next(iter(self._cache.values()))
        return spec.graph

    @property
    def optimized_graph(self) -> Graph:
        """`.graph` after the optimization pipeline: what calls run."""
        return (self._last or next(iter(self._cache.values()))).optimized

    @property
    def graphs(self) -> list[Graph]:
        """Every cached specialisation's graph, least recently used first (each followed by
        the traces made for other sizes of a data-dependent dim its code read)."""
        return [g.graph for s in self._cache.values() for g in (s, *s.resized)]

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
        layout = self._layout_now()
        return layout.names, layout.state

    def _flags(self) -> tuple:
        return self._layout_now().flags

    def _layout_now(self) -> ModuleLayout:
        """The module's parameters, buffers and training flags, walked again only when a
        parameter, buffer or submodule was added, removed or replaced or a flag changed (the
        fast entries are dropped when the names or flags differ)."""
        layout = self._layout
        if layout is None or not layout.current():
            new = ModuleLayout(self._module)
            if layout is None or (layout.names, layout.flags) != (new.names, new.flags):
                self._fast.clear()
            self._layout = layout = new
            baked = self._baked
            changed = baked.submodules_changed(self._module) if baked is not None else None
            if changed is not None:  # a submodule replaced: the traced code may differ
                self._forget(*changed)
        return layout

    def _assigned(self, tracer, state):
        """Attributes (`self.last_loss = loss`) and replaced buffers (`self.buf = new`) that
        hold a traced tensor after the run: outputs written back after each call (without
        that they would hold a trace's placeholder, never computed)."""
        known = {id(t) for t in state}
        out = []
        for module in self._module.modules():
            for name, value in [*vars(module).items(), *module._buffers.items()]:
                bound = getattr(value, "_value", None) if isinstance(value, Tensor) else None
                if bound is not None and id(value) not in known and id(bound) in tracer.dynamic:
                    out.append((module, name))
        return out

    def _mode(self) -> str:
        training = [name or "self" for name, m in self._module.named_modules() if m.training]
        if not training or len(training) == len(self._flags()):
            return " [train]" if training else " [eval]"
        return f" [train: {', '.join(training)}]"

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
        attr = getattr(self._module, name)
        if inspect.ismethod(attr) and attr.__self__ is self._module:
            return _returning_wrapper(self, attr)
        return attr


def _returning_wrapper(wrapper: TracedModule, method: Callable) -> Callable:
    """`method` of the wrapped module, handing back the compiled `wrapper` where it returns the
    module (`.to(...)`, `.float()`, `.requires_grad_()`, `.apply(fn)`): a chained call keeps
    the compilation. Changed dtypes change the cache key, so the next call captures again."""
    @functools.wraps(method)
    def call(*args, **kwargs):
        out = method(*args, **kwargs)
        return wrapper if out is wrapper._module else out
    return call


def _unpacked(signature: inspect.Signature | None, examples: tuple, kwargs: dict) -> tuple:
    """torch.jit.trace's tuple of example inputs, `trace(f, (x, y))`, as the arguments
    (x, y), where binding the tuple as the one argument fails and binding its items works."""
    if len(examples) != 1 or type(examples[0]) is not tuple or signature is None:
        return examples
    try:
        signature.bind(*examples, **kwargs)
        return examples
    except TypeError:
        pass
    try:
        signature.bind(*examples[0], **kwargs)
    except TypeError:
        return examples
    return examples[0]


def _signature_of(fn) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def trace(fn_or_module, *example_inputs, example_kwarg_inputs: dict | None = None,
          freeze: bool = False, strict: bool = False, cache_size: int = 8,
          pipeline: str = DEFAULT_PIPELINE,
          backend: str | None = None) -> TracedFunction | TracedModule:
    """Run `fn_or_module` once on the example inputs, recording every op into a Graph.

    Returns a `TracedModule` for an `nn.Module` and a `TracedFunction` otherwise, callable like
    the original. Inputs and outputs are Tensors or nested tuples, lists and dicts of them.
    Calls run the graph after the pass `pipeline` (see tracejit.passes; "" runs it as captured)
    on `backend`: "llvm" compiles kernels for this CPU, "eager" runs the reference interpreter
    (default: $TRACEJIT_BACKEND, else "llvm"). The examples are passed as the call's positional
    arguments, `trace(f, x, y)`; torch.jit.trace's form, one tuple `trace(f, (x, y))`, is
    unpacked where `f` cannot take the tuple as its only argument.
    """
    backend = default_backend(backend)
    options = {"freeze": freeze, "strict": strict, "cache_size": cache_size,
               "pipeline": pipeline, "backend": backend}
    if isinstance(fn_or_module, Module):
        traced = TracedModule(fn_or_module, **options)
    elif callable(fn_or_module):
        name = getattr(fn_or_module, "__name__", type(fn_or_module).__name__)
        traced = TracedFunction(fn_or_module, name, None, **options)
    else:
        raise TypeError(f"trace() takes a function or an nn.Module, got "
                        f"{type(fn_or_module).__name__}")
    kwargs = example_kwarg_inputs or {}
    example_inputs = _unpacked(traced._signature, example_inputs, kwargs)
    key, _, _ = traced._key(example_inputs, kwargs)
    traced._retrace(key, example_inputs, kwargs)
    return traced
