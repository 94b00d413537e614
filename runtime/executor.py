"""The executor: a graph compiled once into a plan, a flat list of steps over numbered slots,
run by one Python function generated for the plan.

Elementwise fused groups and single elementwise ops run as LLVM kernels (lower.py), compiled
for the exact dtypes, shapes and strides of their operands on first use and checked against
them before every call (a mismatch compiles another kernel; generated code never sees memory it
was not compiled for). Matmul-like ops call numpy's BLAS (blas.py); movement ops stay numpy
views; everything else runs the op table's reference code, as the interpreter does, and is
logged once per op on the `tracejit.fallback` logger.

Kernels and BLAS calls write into buffers planned ahead from liveness (buffers.py): an
intermediate lives in an arena reused from call to call, an output is allocated per call. A plan
may be called from several threads at once, or re-entered: each call holds an arena of its own,
and a kernel step keeps its last (layouts, kernel) as one tuple, replaced whole.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tracejit.ir.graph import Block, Graph, Operation
from tracejit.ir.ops import ELEMENTWISE, MOVEMENT, OPS, Kind, Op, evaluate
from tracejit.ir.printer import print_graph
from tracejit.ir.types import ConstRef, DType, TensorType
from tracejit.ir.verifier import ensure_verified
from tracejit.passes.pipeline import checks_enabled

from . import blas, buffers, jit
from .buffers import Step
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


def kernel_threads(environ=os.environ) -> int:
    """Threads a large kernel splits over: `TRACEJIT_NUM_THREADS` if set, else the CPUs this
    process may run on (its affinity mask, which containers and `taskset` narrow)."""
    value = environ.get("TRACEJIT_NUM_THREADS", "").strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            warnings.warn(f"TRACEJIT_NUM_THREADS={value!r} is not an integer; using the CPUs "
                          "this process may run on", stacklevel=2)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no affinity call
        return max(1, os.cpu_count() or 1)


THREADS = kernel_threads()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_warned: set[str] = set()
_KERNELS: dict[tuple, tuple[Callable, int]] = {}  # (block text, layouts) -> (kernel, outer)
VIEWS = {Op.RESHAPE: "_reshape({x}, {shape})", Op.PERMUTE: "_transpose({x}, {dims})",
         Op.EXPAND: "_broadcast_to({x}, {shape})"}  # movement ops run inline (always arrays)


class Plan:
    """Runs `graph`: `plan(inputs, rng)` returns its outputs as arrays. `plan.run(inputs, rng)`
    does the same without checking the inputs (the caller matched dtypes and shapes)."""

    def __init__(self, graph: Graph, block: Block | None = None, inputs=None):
        """`block` (default the graph's body) with `inputs` (default its arguments): a nested
        block runs as a plan of its own, taking its arguments and the outer values it reads,
        returning what its terminator yields. The gate: a graph is verified (or carries a
        verifier's stamp that still matches it) before anything is planned."""
        if block is None:  # a nested block's plan is made while planning its verified graph
            ensure_verified(graph)
        self.graph = graph
        block = graph.body if block is None else block
        self.inputs = list(block.args if inputs is None else inputs)
        self.slot: dict[int, int] = {}
        for value in self.inputs:
            self._slot(value)
        self.steps: list[Step] = [self._step(op) for op in block.ops
                                  if not OPS[op.op].terminator]
        self.outputs = [self.slot[id(v)] for v in block.terminator.operands]
        self.size = len(self.slot)
        types = {k: (v.type.dtype.np, v.type.shape) for s in self.steps if s.writes
                 for k, v in zip(s.outs, s.operation.results)}
        inputs = list(range(len(self.inputs)))
        self.buffers = buffers.assign(self.steps, types, inputs, self.outputs)
        if checks_enabled():
            buffers.check(self.buffers, self.steps)
        self.arenas: list[tuple[np.ndarray, ...]] = []  # free ones; a call holds one
        self.source, self.run = _generate(self, types)

    def __call__(self, inputs: Sequence[np.ndarray], rng=None, *,
                 checked: bool = False) -> list[np.ndarray]:
        """`checked`: the caller has already matched the inputs' dtypes and shapes to the
        graph (a traced callable's cache key does); kernels still check their layouts."""
        if not checked:
            check_inputs(self.graph, inputs)
        return self.run(inputs, rng)

    def new_arena(self) -> tuple[np.ndarray, ...]:
        return self.buffers.arena()

    def _slot(self, value) -> int:
        return self.slot.setdefault(id(value), len(self.slot))

    # --- building steps -------------------------------------------------------------------------
    def _step(self, operation: Operation) -> Step:
        ins = [self.slot[id(v)] for v in operation.operands]
        outs = [self._slot(v) for v in operation.results]
        op = operation.op
        if op is Op.CONSTANT:
            return ConstantStep(self.graph, operation, ins, outs)
        if op in CONTROL:
            step = CONTROL[op](self.graph, operation, ins, outs)
            step.free = [self.slot[id(v)] for v in step.outer]
            return step
        step = _kernel_step(operation, ins, outs) or _blas_step(operation, ins, outs)
        if step is not None:
            return step
        if op not in MOVEMENT and OPS[op].kind is not Kind.MATMUL and op.value not in _warned:
            _warned.add(op.value)
            log.warning("no compiled kernel for %s yet: it runs the reference numpy code",
                        op.value)
        if op in RULES:  # ops the interpreter runs itself (blocks, assert)
            step = InterpretedStep(self.graph, operation, ins, outs)
            step.free = [self.slot[k] for k in step.free_ids]
            return step
        return ReferenceStep(operation, ins, outs)


def _blas_step(operation: Operation, ins, outs) -> Step | None:
    """numpy's BLAS multiplies float16 in float16; the reference (as torch) does it in float32."""
    if any(getattr(v.type, "dtype", None) is DType.float16 for v in operation.operands):
        return None
    return blas.step(operation, ins, outs)


def _kernel_step(operation: Operation, ins, outs) -> Step | None:
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
            _warned.update((name, operation.op.value))  # not again as "no compiled kernel"
            log.warning("cannot compile %s: it runs the reference numpy code", name)
        return None
    from .lower_division import guard_divisors  # integer x // 0 raises, as in the reference

    return guard_divisors(KernelStep(block, operation, ins, outs, domain), block)


def _free_values(operation: Operation) -> list[int]:
    """ids of the values `operation`'s nested blocks read but do not define, in order."""
    nested = [o for block in operation.blocks for o in block.walk()]
    inner = {id(a) for block in operation.blocks for a in block.args}
    for o in nested:
        inner.update(id(r) for r in o.results)
        inner.update(id(a) for block in o.blocks for a in block.args)
    return list({id(v): None for o in nested for v in o.operands if id(v) not in inner})


# --- steps ----------------------------------------------------------------------------------------

class ConstantStep(Step):
    """A constant: the plan holds its own view of the data (a layout nobody else can change)."""

    def __init__(self, graph: Graph, operation: Operation, ins, outs):
        super().__init__(operation, ins, outs)
        value = operation.attrs["value"]
        data = graph.constants.get(value.name) if isinstance(value, ConstRef) else value.array
        self.graph, self.data = graph, None
        if data is not None:  # read-only: an output that is a constant is copied for the caller
            self.data = data.view()
            self.data.flags.writeable = False

    def emit(self, code: Code) -> None:
        if self.data is None:  # a @name without data: the interpreter's error says what to do
            step = code.bind(self, "s")
            code.line(f"{code.name(self.outs[0])} = {step}.missing()")
        else:
            code.names[self.outs[0]] = code.bind(self.data, "c")
            code.fixed.add(self.outs[0])

    def missing(self):
        return RULES[Op.CONSTANT](Interpreter(self.graph), self.operation, [])[0]


class ReferenceStep(Step):
    """The op table's numpy code, as the interpreter runs it."""

    numpy = True

    def emit(self, code: Code) -> None:
        operation = self.operation
        (x, *_), out = [code.name(k) for k in self.ins] or [None], code.name(self.outs[0])
        if operation.op is Op.SLICE:  # basic slicing: a numpy view, as ref.slice_ takes
            a = operation.attrs
            key = code.bind(tuple(slice(*t) for t in zip(a["starts"], a["stops"], a["steps"])),
                            "key")
            code.line(f"{out} = {x}[{key}]")
            return
        view = VIEWS.get(operation.op)
        if view is not None:
            attrs = {k: repr(tuple(v)) for k, v in operation.attrs.items()}
            code.line(f"{out} = {view.format(x=x, **attrs)}")
            return
        op, attrs = code.bind(operation.op, "op"), code.bind(operation.attrs, "attrs")
        result = code.bind(operation.results[0].type, "type")
        rng = "rng" if OPS[operation.op].random else "None"
        code.line(f"{out} = _evaluate({op}, [{code.names_of(self.ins)}], {attrs}, {result}, "
                  f"{rng})")


class InterpretedStep(Step):
    """An op the interpreter runs by its own rule (an unlowerable fused group, control flow,
    assert), its blocks seeing the outside values they read."""

    numpy = True

    def __init__(self, graph: Graph, operation: Operation, ins, outs):
        super().__init__(operation, ins, outs)
        self.graph = graph
        self.free_ids = _free_values(operation)

    def emit(self, code: Code) -> None:
        step = code.bind(self, "s")
        outs = "".join(f"{code.name(k)}, " for k in self.outs)
        code.line(f"{outs or '_'} = {step}(rng, [{code.names_of(self.ins)}], "
                  f"[{code.names_of(self.free)}])")

    def __call__(self, rng, operands, free) -> list[np.ndarray]:
        interpreter = Interpreter(self.graph, rng)
        interpreter.env.update(zip(self.free_ids, free))
        return RULES[self.operation.op](interpreter, self.operation, operands)


def outer_values(operation: Operation) -> list:
    """The values `operation`'s nested blocks read but do not define, in order of first use."""
    inner: set[int] = set()
    for block in operation.blocks:
        inner.update(id(a) for a in block.args)
        for nested in block.walk():
            inner.update(id(r) for r in nested.results)
            inner.update(id(a) for b in nested.blocks for a in b.args)
    found: dict[int, object] = {}
    for block in operation.blocks:
        for nested in block.walk():
            for v in nested.operands:
                if id(v) not in inner:
                    found.setdefault(id(v), v)
    return list(found.values())


class ControlStep(Step):
    """`if`, `for`, `while`: each block compiled once into a plan of its own (kernels, buffers
    and all), run per branch taken or per iteration, on its arguments and the outer values it
    reads."""

    def __init__(self, graph: Graph, operation: Operation, ins, outs):
        super().__init__(operation, ins, outs)
        self.outer = outer_values(operation)
        self.plans = [Plan(graph, block, [*block.args, *self.outer])
                      for block in operation.blocks]

    def emit(self, code: Code) -> None:
        step = code.bind(self, "s")
        outs = "".join(f"{code.name(k)}, " for k in self.outs)
        code.line(f"{outs or '_'} = {step}.run(rng, [{code.names_of(self.ins)}], "
                  f"[{code.names_of(self.free)}])")


class IfStep(ControlStep):
    def run(self, rng, operands, outer):
        then, other = self.plans
        return (then if operands[0] else other).run(outer, rng)


class ForStep(ControlStep):
    def run(self, rng, operands, outer):
        start, stop, step = (int(a) for a in operands[:3])
        if step == 0:
            raise ValueError(f"{self.operation.loc or 'for'}: the loop's step is zero "
                             "(range() arg 3 must not be zero)")
        carried, body = list(operands[3:]), self.plans[0].run
        for i in range(start, stop, step):
            carried = body([np.array(i, np.int64), *carried, *outer], rng)
        return carried


class WhileStep(ControlStep):
    def run(self, rng, operands, outer):
        carried, body = list(operands), self.plans[0].run
        while True:
            again, *carried = body([*carried, *outer], rng)
            if not again:
                return carried


class AssertStep(Step):
    def emit(self, code: Code) -> None:
        message = code.bind(self.operation.attrs["message"], "m")
        code.line(f"if not {code.name(self.ins[0])}:")
        code.line(f"    raise AssertionError({message})")


def _assert_step(graph, operation, ins, outs):
    step = AssertStep(operation, ins, outs)
    step.outer = []
    return step


CONTROL = {Op.IF: IfStep, Op.FOR: ForStep, Op.WHILE: WhileStep, Op.ASSERT: _assert_step}


class KernelStep(Step):
    """One compiled loop nest; recompiled per operand layout it meets."""

    def __init__(self, block: Block, operation: Operation, ins, outs, domain):
        super().__init__(operation, ins, outs)
        self.block, self.domain = block, domain
        # only a group of elementwise ops reads nothing but the element it writes (in place)
        self.writes, self.same_index = True, domain is None and all(
            o.op in ELEMENTWISE or o.op in (Op.CONSTANT, Op.YIELD) for o in block.ops)
        self.text = print_graph(Graph("kernel", block))
        self.outputs = list(block.terminator.operands)
        shape = domain[0] if domain else operation.results[0].type.shape
        self.shape = shape
        self.numel = int(np.prod(shape)) if shape else 1
        self.variable: list[int] = []  # operand positions whose layout can change per call
        self.last: tuple = (None, None, 0)  # (key of the variable layouts, kernel, outer)

    def emit(self, code: Code) -> None:
        self.variable = [k for k, slot in enumerate(self.ins) if slot not in code.fixed]
        step = code.bind(self, "s")
        arrays = [code.name(k) for k in self.ins]
        key = "".join(f"{arrays[k]}.dtype, {arrays[k]}.shape, {arrays[k]}.strides, "
                      for k in self.variable)
        code.line(f"k = {step}.last")
        code.line(f"if k[0] != ({key}):")
        code.line(f"    k = {step}.relayout({', '.join(arrays)})")
        pointer = "_id" if OBJECTS else "_pointer"
        pointers = ", ".join(f"{pointer}({code.name(k)})" for k in [*self.ins, *self.outs])
        call = "_parallel(k[1], k[2], " if self.numel >= PARALLEL_MIN and THREADS > 1 else \
            "k[1](0, k[2], "
        code.line(f"{call}{pointers})")

    def relayout(self, *arrays: np.ndarray) -> tuple:
        """The kernel for these operands' layouts, remembered as the step's last."""
        for value, array in zip(self.operation.operands, arrays):
            want = value.type
            if array.shape != want.shape or array.dtype != want.dtype.np:
                raise RuntimeError(
                    f"internal error: a {array.dtype}{list(array.shape)} array reached a kernel "
                    f"compiled for the verified type {want} ({self.operation.op.value} at "
                    f"{self.operation.loc or 'an unknown location'}); refusing to run it")
        key = ()
        for k in self.variable:
            key += (arrays[k].dtype, arrays[k].shape, arrays[k].strides)
        kernel, outer = self.kernel(tuple(_layout(a) for a in arrays))
        self.last = (key, kernel, outer)  # one tuple: threads never see a torn pair
        return self.last

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
            # every argument as c_void_p: the cheapest conversion ctypes has for an int
            prototype = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * (n + 2))
            found = _KERNELS[key] = (prototype(address), outer)
        return found


# --- the run function -----------------------------------------------------------------------------

class Code:
    """The source of a plan's run function: a line per step, and the objects it names."""

    def __init__(self):
        self.lines: list[str] = []
        self.names: dict[int, str] = {}  # slot -> the expression holding it
        self.fixed: set[int] = set()  # slots whose layout the plan fixes (constants, buffers)
        self.env: dict[str, object] = {}

    def name(self, slot: int) -> str:
        return self.names.setdefault(slot, f"v{slot}")

    def names_of(self, slots: Sequence[int]) -> str:
        return ", ".join(self.name(k) for k in slots)

    def bind(self, obj, stem: str) -> str:
        name = f"{stem}{len(self.env)}"
        self.env[name] = obj
        return name

    def line(self, text: str) -> None:
        self.lines.append(text)


GLOBALS = {"_evaluate": evaluate, "_id": id, "_empty": np.empty, "_reshape": np.reshape,
           "_transpose": np.transpose, "_broadcast_to": np.broadcast_to,
           "_default_rng": np.random.default_rng, "_errstate": np.errstate,
           **blas.NAMES}  # what generated lines call (and _pointer, _parallel, the arenas')
TAKE_ARENA = """\
    try:
        arena = _pop()
    except IndexError:  # none free: the first call, or one running beside others
        arena = _new()
    try:
        {names}, = arena"""


def _generate(plan: Plan, types) -> tuple[str, Callable]:
    """Source and function `run(inputs, rng)` running the plan's steps in order."""
    code = Code()
    code.env.update(GLOBALS, _pointer=_pointer, _parallel=_parallel, _pop=plan.arenas.pop,
                    _push=plan.arenas.append, _new=plan.new_arena)
    code.fixed.update(types)
    arena = _emit_steps(plan, code, types)
    head = ["def run(inputs, rng):"]
    if plan.inputs:
        head.append(f"    {code.names_of(range(len(plan.inputs)))}, = inputs")
    if any(OPS[s.operation.op].random or isinstance(s, (InterpretedStep, ControlStep))
           for s in plan.steps):
        head.append("    rng = _default_rng() if rng is None else rng")
    body = _indent(code.lines or ["pass"])
    if any(s.numpy for s in plan.steps):
        body = ["    with _errstate(all='ignore'):", *_indent(body)]
    if arena:  # the buffers: taken for the call, given back however it ends
        body = [TAKE_ARENA.format(names=", ".join(arena)), *_indent(body), "    finally:",
                "        _push(arena)"]
    outputs = "".join(f"{code.name(k)}, " for k in plan.outputs)
    source = "\n".join([*head, *body, f"    return [{outputs}]"])
    exec(compile(source, f"<plan {plan.graph.name}>", "exec"), code.env)
    return source, code.env["run"]


def _emit_steps(plan: Plan, code: Code, types) -> list[str]:
    """Each step's lines, after allocating its fresh results; the names of the arena's
    arrays, in `Assignment.arena` order."""
    assignment = plan.buffers
    arena = [code.name(k) for k in assignment.slots]
    for k, step in enumerate(plan.steps):
        for slot in step.outs:
            if slot in assignment.fresh:
                dtype = code.bind(types[slot][0], "dtype")
                code.line(f"{code.name(slot)} = _empty({types[slot][1]!r}, {dtype})")
        if step.scratch:
            step.temps = [f"t{k}_{j}" for j in range(len(step.scratch))]
            arena += step.temps
        step.emit(code)
    return arena


def _indent(lines: list[str]) -> list[str]:
    return [f"    {line}" for line in lines]


def _objects_work() -> bool:
    """Whether numpy arrays keep their data pointer DATA_OFFSET bytes into the object (true of
    every CPython/numpy ABI we run on; checked, and kernels get data pointers otherwise)."""
    probe = np.arange(3.0)
    found = ctypes.c_void_p.from_address(id(probe) + DATA_OFFSET).value
    return found == probe.__array_interface__["data"][0]


OBJECTS = _objects_work()


def _pointer(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


def _layout(array: np.ndarray) -> Layout:
    """The layout a kernel is compiled for; every stride a whole number of elements."""
    size = array.itemsize
    if any(s % size for s in array.strides):
        raise ValueError("unaligned strides: this array cannot be passed to a kernel")
    return Layout(DType.from_numpy(array.dtype), array.shape,
                  tuple(s // size for s in array.strides))


def _parallel(kernel, outer: int, *pointers) -> None:
    """Split the outer range over the pool's threads and the calling one (GIL released)."""
    global _pool
    if outer < 2:
        kernel(0, outer, *pointers)
        return
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=THREADS - 1, thread_name_prefix="tracejit")
    parts = min(THREADS, outer)
    bounds = [outer * k // parts for k in range(parts + 1)]
    futures = [_pool.submit(kernel, bounds[k], bounds[k + 1], *pointers)
               for k in range(1, parts)]
    kernel(bounds[0], bounds[1], *pointers)
    for future in futures:
        future.result()

