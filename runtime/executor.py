"""The executor: a graph compiled once into a plan, a flat list of steps over numbered slots.

Elementwise fused groups and single elementwise ops run as LLVM kernels (lower.py), compiled
for the exact dtypes, shapes and strides of their operands on first use and checked against
them before every call (a mismatch compiles another kernel; generated code never sees memory it
was not compiled for). Matmul-like ops run through numpy's BLAS; movement ops stay numpy views;
everything else runs the op table's reference code, as the interpreter does, and is logged once
per op on the `tracejit.fallback` logger.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tracejit.ir.graph import Block, Graph, Operation
from tracejit.ir.ops import ELEMENTWISE, MOVEMENT, OPS, Kind, Op, evaluate
from tracejit.ir.printer import print_graph
from tracejit.ir.types import ConstRef, DType, TensorType

from . import jit
from .eager import RULES, Interpreter, check_inputs
from .lower import (
    DATA_OFFSET,
    Layout,
    NotLowerable,
    build_kernel,
    elementwise_block,
    lowerable,
)
from .lower_rows import REDUCTIONS, build_row_kernel, row_domain

log = logging.getLogger("tracejit.fallback")
PARALLEL_MIN = 1 << 17  # elements: below this a kernel runs on the calling thread
THREADS = max(1, os.cpu_count() or 1)
_pool: ThreadPoolExecutor | None = None
_warned: set[str] = set()
_KERNELS: dict[tuple, tuple[Callable, int]] = {}  # (block text, layouts) -> (kernel, outer)
Step = Callable[[list], None]


class Plan:
    """Runs `graph`: `plan(inputs, rng)` returns its outputs as arrays."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.slot: dict[int, int] = {}
        for value in graph.inputs:
            self._slot(value)
        self.steps: list[Step] = [self._step(op) for op in graph.body.ops
                                  if op.op is not Op.RETURN]
        self.outputs = [self.slot[id(v)] for v in graph.outputs]
        self.size = len(self.slot)
        self.rng = None

    def __call__(self, inputs: Sequence[np.ndarray], rng=None, *,
                 checked: bool = False) -> list[np.ndarray]:
        """`checked`: the caller has already matched the inputs' dtypes and shapes to the
        graph (a traced callable's cache key does); kernels still check their layouts."""
        if not checked:
            check_inputs(self.graph, inputs)
        env: list = [None] * self.size
        env[:len(inputs)] = inputs
        self.rng = rng
        for step in self.steps:
            step(env)
        return [env[k] for k in self.outputs]

    def _slot(self, value) -> int:
        return self.slot.setdefault(id(value), len(self.slot))

    # --- building steps -------------------------------------------------------------------------
    def _step(self, operation: Operation) -> Step:
        ins = [self.slot[id(v)] for v in operation.operands]
        outs = [self._slot(v) for v in operation.results]
        op = operation.op
        if op is Op.CONSTANT:
            return _constant_step(self.graph, outs[0], operation)
        kernel = self._kernel_step(operation, ins, outs)
        if kernel is not None:
            return kernel
        if op not in MOVEMENT and OPS[op].kind is not Kind.MATMUL and op.value not in _warned:
            _warned.add(op.value)
            log.warning("no compiled kernel for %s yet: it runs the reference numpy code",
                        op.value)
        if op is Op.FUSED:
            return self._interpreted_fused(operation, ins, outs)
        attrs, result = operation.attrs, operation.results[0].type
        random = OPS[op].random

        def reference(env):
            env[outs[0]] = evaluate(op, [env[k] for k in ins], attrs, result,
                                    self.rng if random else None)
        return reference

    def _interpreted_fused(self, operation: Operation, ins, outs) -> Step:
        block = operation.blocks[0]

        def run(env):
            interpreter = Interpreter(self.graph, self.rng)
            for k, array in zip(outs, interpreter.block(block, [env[i] for i in ins])):
                env[k] = array
        return run

    def _kernel_step(self, operation: Operation, ins, outs) -> Step | None:
        if operation.op is Op.FUSED:
            block = operation.blocks[0]
        elif operation.op in ELEMENTWISE or operation.op in REDUCTIONS:
            block = elementwise_block(operation)
        else:
            return None
        types = [v.type for v in [*operation.operands, *operation.results]]
        if not all(isinstance(t, TensorType) and None not in t.shape for t in types):
            return None
        try:
            domain = row_domain(block)
            if domain is None:
                lowerable(block)
                shapes = {v.type.shape for v in operation.results}
                if len(shapes) != 1:
                    raise NotLowerable("elementwise outputs of different shapes")
        except NotLowerable as e:
            name = f"{operation.op.value} ({e})"
            if name not in _warned:
                _warned.add(name)
                log.warning("cannot compile %s: it runs the reference numpy code", name)
            return None
        return KernelStep(block, operation, ins, outs, domain)


def _constant_step(graph: Graph, slot: int, operation: Operation) -> Step:
    value = operation.attrs["value"]
    data = graph.constants.get(value.name) if isinstance(value, ConstRef) else value.array
    if data is None:  # a @name without data: the interpreter's error says what to do
        return lambda env: RULES[Op.CONSTANT](Interpreter(graph), operation, [])

    def constant(env):
        env[slot] = data
    return constant


class KernelStep:
    """One compiled loop nest; recompiled per operand layout it meets."""

    def __init__(self, block: Block, operation: Operation, ins, outs, domain):
        self.block, self.ins, self.outs, self.domain = block, ins, outs, domain
        self.text = print_graph(Graph("kernel", block))
        self.outputs = list(block.terminator.operands)
        self.results = [(v.type.shape, v.type.dtype.np) for v in operation.results]
        shape = domain[0] if domain else operation.results[0].type.shape
        self.shape = shape
        self.numel = int(np.prod(shape)) if shape else 1
        self.last_key, self.last = None, None  # the layouts of the previous call, and its kernel

    def __call__(self, env: list) -> None:
        arrays = [env[k] for k in self.ins]
        key = tuple((a.dtype, a.shape, a.strides) for a in arrays)
        if key == self.last_key:
            kernel, outer = self.last
        else:
            kernel, outer = self.last = self.kernel(tuple(_layout(a) for a in arrays))
            self.last_key = key
        outs = [np.empty(shape, dtype) for shape, dtype in self.results]
        pointers = [id(a) for a in (*arrays, *outs)] if OBJECTS else [
            a.__array_interface__["data"][0] for a in (*arrays, *outs)]
        if self.numel >= PARALLEL_MIN and outer > 1 and THREADS > 1:
            _parallel(kernel, outer, pointers)
        else:
            kernel(0, outer, *pointers)
        for k, out in zip(self.outs, outs):
            env[k] = out

    def kernel(self, layouts: tuple[Layout, ...]) -> tuple[Callable, int]:
        key = (self.text, layouts, self.shape)
        found = _KERNELS.get(key)
        if found is None:
            engine = jit.engine()
            name = jit.PLACEHOLDER
            if self.domain is None:
                text, outer = build_kernel(name, self.block, self.outputs, layouts, self.shape)
            else:
                text, outer = build_row_kernel(name, self.block, self.outputs, layouts,
                                               *self.domain)
            entry = f"{name}_objs" if OBJECTS else name
            (address,) = engine.compile(text, [entry]).values()
            n = len(layouts) + len(self.outputs)
            prototype = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64,
                                         *[ctypes.c_void_p] * n)
            found = _KERNELS[key] = (prototype(address), outer)
        return found


def _objects_work() -> bool:
    """Whether numpy arrays keep their data pointer DATA_OFFSET bytes into the object (true of
    every CPython/numpy ABI we run on; checked, and kernels get data pointers otherwise)."""
    probe = np.arange(3.0)
    found = ctypes.c_void_p.from_address(id(probe) + DATA_OFFSET).value
    return found == probe.__array_interface__["data"][0]


OBJECTS = _objects_work()


def _layout(array: np.ndarray) -> Layout:
    """The layout a kernel is compiled for; every stride a whole number of elements."""
    size = array.itemsize
    if any(s % size for s in array.strides):
        raise ValueError("unaligned strides: this array cannot be passed to a kernel")
    return Layout(DType.from_numpy(array.dtype), array.shape,
                  tuple(s // size for s in array.strides))


def _parallel(kernel, outer: int, pointers) -> None:
    """Split the outer range over the pool's threads and the calling one (GIL released)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=THREADS - 1, thread_name_prefix="tracejit")
    parts = min(THREADS, outer)
    bounds = [outer * k // parts for k in range(parts + 1)]
    futures = [_pool.submit(kernel, bounds[k], bounds[k + 1], *pointers)
               for k in range(1, parts)]
    kernel(bounds[0], bounds[1], *pointers)
    for future in futures:
        future.result()
