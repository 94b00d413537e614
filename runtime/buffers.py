"""Buffer planning: which intermediates of a plan share memory, decided once from liveness.

A plan's steps run in a fixed order over numbered slots. A step that writes into memory it is
given (kernels, BLAS calls) has its results placed in *buffers*; every other step makes its own
arrays, which may be views of what it reads (movement ops are numpy views; reference code is
assumed to alias any operand). So a buffer is alive until the last read of any value that may
alias it. Buffers aliased by a graph output are *fresh*: allocated per call, since the caller
keeps them. The others are packed into physical buffers by a greedy pass over the steps; an
elementwise step may write a result over an operand buffer that dies there when every operand
aliasing it is that buffer itself (read at the index it is written). Graph inputs and constants
are never written. An *arena* holds one set of physical buffers, with a typed view per slot;
a call takes a free arena and gives it back, so concurrent and re-entrant calls never share one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALIGN = 64  # bytes: physical buffers start on a cache line (and an AVX-512 vector)


class Step:
    """One op of a plan as the planner and the code generator see it: it reads slots `ins`
    (and `free`: values its nested blocks read from outside) and defines slots `outs`;
    `emit(code)` writes its lines of the plan's run function (executor.py)."""

    writes = False  # results go into arrays the plan provides
    same_index = False  # result element i reads operand elements i only (may run in place)
    numpy = False  # computes with numpy: runs under the plan's np.errstate

    def __init__(self, operation, ins: list[int], outs: list[int]):
        self.operation, self.ins, self.outs = operation, ins, outs
        self.free: list[int] = []
        self.scratch: list[tuple[np.dtype, tuple[int, ...]]] = []  # temporaries it needs
        self.temps: list[str] = []  # the names the run function gives them

    @property
    def reads(self) -> list[int]:
        return self.ins + self.free

    def emit(self, code) -> None:
        raise NotImplementedError


@dataclass
class Assignment:
    """Where each buffered slot lives: `fresh` slots are allocated per call; `slots` map to
    (physical buffer, dtype, shape), and step k's scratch arrays follow in `temps[k]`."""

    fresh: set[int]
    slots: dict[int, tuple[int, np.dtype, tuple[int, ...]]]
    temps: dict[int, list[tuple[int, np.dtype, tuple[int, ...]]]]
    sizes: list[int]  # bytes per physical buffer
    in_place: list[tuple[int, int, int]]  # (step, operand slot, result slot) sharing memory
    live: dict[int, tuple[int, int]]  # buffered slot -> (defining step, last step it is alive)

    def arena(self) -> tuple[np.ndarray, ...]:
        """One set of buffers: a view per slot (in `slots` order), then the scratch views."""
        memory = [_aligned(n) for n in self.sizes]
        views = [_view(memory[p], dtype, shape) for p, dtype, shape in self.slots.values()]
        for temps in self.temps.values():
            views += [_view(memory[p], dtype, shape) for p, dtype, shape in temps]
        return tuple(views)


def assign(uses: list[Step], types: dict[int, tuple[np.dtype, tuple[int, ...]]],
           inputs: list[int], outputs: list[int]) -> Assignment:
    """Plan the buffers of the steps `uses` (in order); `types` gives the dtype and shape of every
    slot a writing step defines."""
    defined, roots = _aliases(uses, inputs)
    last = {}
    for k, use in enumerate(uses):
        for slot in use.reads:
            last[slot] = k
    for slot in outputs:
        last[slot] = len(uses)
    fresh = set().union(*(roots.get(s, ()) for s in outputs))
    death = {b: defined[b] for b in defined if b in roots.get(b, ())}
    for slot, bs in roots.items():
        for b in bs:
            death[b] = max(death[b], last.get(slot, -1))
    return _Packer(uses, types, roots, defined, death, fresh).run()


def _aliases(uses: list[Step], inputs: list[int]):
    """(defining step per slot, the buffered slots each slot may share memory with)."""
    defined: dict[int, int] = {s: -1 for s in inputs}
    roots: dict[int, frozenset[int]] = {}
    for k, use in enumerate(uses):
        seen = frozenset().union(*(roots.get(s, ()) for s in use.reads))
        for slot in use.outs:
            defined[slot] = k
            roots[slot] = frozenset({slot}) if use.writes else seen
    return defined, roots


class _Packer:
    """The greedy pass: per step, place its results (in place or in a free buffer, best fit),
    then its scratch, then free what died there."""

    def __init__(self, uses, types, roots, defined, death, fresh):
        self.uses, self.types, self.roots = uses, types, roots
        self.defined, self.death, self.fresh = defined, death, fresh
        self.sizes: list[int] = []
        self.free: list[int] = []
        self.owner: dict[int, int] = {}  # physical buffer -> the slot holding it
        self.slots: dict[int, tuple] = {}
        self.temps: dict[int, list] = {}
        self.in_place: list[tuple[int, int, int]] = []

    def run(self) -> Assignment:
        dying: dict[int, list[int]] = {}
        for b, k in self.death.items():
            if b not in self.fresh:
                dying.setdefault(k, []).append(b)
        for k, use in enumerate(self.uses):
            if use.writes:
                for slot in use.outs:
                    if slot not in self.fresh:
                        self._place(k, use, slot)
            if use.scratch:
                temps = [(self._take(_nbytes(d, s)), np.dtype(d), s) for d, s in use.scratch]
                self.free += [p for p, _, _ in temps]
                self.temps[k] = temps
            for b in dying.get(k, ()):
                p = self.slots[b][0]
                if self.owner.get(p) == b:
                    del self.owner[p]
                    self.free.append(p)
        live = {b: (self.defined[b], self.death[b]) for b in self.slots}
        return Assignment(self.fresh, self.slots, self.temps, self.sizes, self.in_place, live)

    def _place(self, k: int, use: Step, slot: int) -> None:
        dtype, shape = self.types[slot]
        p = self._in_place(k, use, slot) if use.same_index else None
        if p is None:
            p = self._take(_nbytes(dtype, shape))
        self.owner[p] = slot
        self.slots[slot] = (p, np.dtype(dtype), tuple(shape))

    def _in_place(self, k: int, use: Step, slot: int) -> int | None:
        """A buffer an operand of step k frees there, readable at the index it is written."""
        for u in use.ins:
            if u not in self.slots or self.death[u] != k or self.types.get(u) != self.types[slot]:
                continue
            p = self.slots[u][0]
            if self.owner.get(p) != u:
                continue  # already given to another result of this step
            if any(u in self.roots.get(w, ()) and w != u for w in use.reads):
                continue  # a view of it is read too: other elements than the one written
            # (the kernel's pointers are declared noalias; sharing one stays sound here since
            # each element is loaded once, and the store to it depends on that load)
            self.in_place.append((k, u, slot))
            return p
        return None

    def _take(self, n: int) -> int:
        fits = [p for p in self.free if self.sizes[p] >= n]
        if fits:
            p = min(fits, key=lambda q: self.sizes[q])
        elif self.free:
            p = max(self.free, key=lambda q: self.sizes[q])
            self.sizes[p] = n
        else:
            self.sizes.append(n)
            return len(self.sizes) - 1
        self.free.remove(p)
        return p


def check(assignment: Assignment, uses: list[Step]) -> None:
    """AssertionError if two slots sharing a buffer are alive at once (beyond an in-place
    step's hand-over) or a step's scratch overlaps what it reads or writes (TRACEJIT_CHECKS)."""
    by_buffer: dict[int, list[int]] = {}
    for slot, (p, _, _) in assignment.slots.items():
        by_buffer.setdefault(p, []).append(slot)
    handed = {(u, r) for _, u, r in assignment.in_place}
    for slots in by_buffer.values():
        for a in slots:
            for b in slots:
                (a0, a1), b0 = assignment.live[a], assignment.live[b][0]
                if a != b and a0 <= b0 <= a1 and not (b0 == a1 and (a, b) in handed):
                    raise AssertionError(f"slots {a} and {b} share a buffer while both alive")
    for k, temps in assignment.temps.items():
        mine = {assignment.slots[s][0] for s in uses[k].reads + uses[k].outs
                if s in assignment.slots}
        if len({p for p, _, _ in temps}) < len(temps) or mine & {p for p, _, _ in temps}:
            raise AssertionError(f"step {k}'s scratch overlaps its operands or results")


def _nbytes(dtype, shape) -> int:
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def _aligned(n: int) -> np.ndarray:
    raw = np.empty(n + ALIGN, np.uint8)
    start = -raw.ctypes.data % ALIGN
    return raw[start:start + n]


def _view(memory: np.ndarray, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """A C-contiguous `dtype[shape]` at the start of `memory`: kernels are called on these
    without a layout check (the plan fixes it), so it is checked here, once per arena."""
    view = memory[:_nbytes(dtype, shape)].view(dtype).reshape(shape)
    if view.dtype != dtype or view.shape != shape or not view.flags.c_contiguous:
        raise AssertionError(f"arena view {view.dtype}{view.shape} is not {dtype}{shape}")
    return view
