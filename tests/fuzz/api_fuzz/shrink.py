"""Shrinking a failing program: drop statements (with everything that uses their results),
returned values and unused inputs, set statement arguments (dims, sizes, numbers) and
Python values to 0, -1, 1 or 2, cut input dims to 1 or 2, then simplify input values,
keeping each step only when the program still fails the same way (same mode, outcome and
signature)."""

from __future__ import annotations

import copy
import re

import numpy as np

from .program import Program


def _uses(stmt, names: set[str]) -> bool:
    return any(o in names for o in stmt.operands)


def drop_stmt(prog: Program, i: int) -> Program | None:
    """`prog` without statement `i` and every statement or return that used its result."""
    p = copy.deepcopy(prog)
    gone = {p.stmts[i].out} if p.stmts[i].out else set()
    del p.stmts[i]
    kept = []
    for s in p.stmts:
        if _uses(s, gone):
            if s.out:
                gone.add(s.out)
        else:
            kept.append(s)
    p.stmts = kept
    p.returns = [r for r in p.returns if r not in gone]
    if not p.returns:  # return what is left: the last result, else the first input
        p.returns = [next((s.out for s in reversed(p.stmts) if s.out), "x0")]
    return p


def drop_unused_inputs(prog: Program) -> Program:
    used = {o for s in prog.stmts for o in s.operands} | set(prog.returns)
    keep = [i for i, n in enumerate(prog.names()) if n in used]
    if len(keep) == len(prog.inputs):
        return prog
    rename = {f"x{old}": f"x{new}" for new, old in enumerate(keep)}
    p = copy.deepcopy(prog)
    p.inputs = [prog.inputs[i] for i in keep]
    p.inputs_b = [prog.inputs_b[i] for i in keep]

    def sub(name):
        return rename.get(name, name)
    for s in p.stmts:
        s.operands = [sub(o) for o in s.operands]
        s.code = re.sub(r"\bx\d+\b", lambda m: sub(m.group()), s.code)
    p.returns = [sub(r) for r in p.returns]
    p.inexact = {sub(n) for n in p.inexact}
    return p


_NUMBER = re.compile(r"(?<![\w.{'])-?\d+(\.\d+)?(e[-+]?\d+)?(?![\w}])")


def _simpler_args(prog: Program):
    """Candidates with one statement argument (a dim, a size, a number) or one Python value
    (an argument, attribute or global) set to 0, -1, 1 or 2."""
    for i, st in enumerate(prog.stmts):
        for m in list(_NUMBER.finditer(st.code))[:6]:
            for new in ("0", "-1", "1", "2"):
                if m.group() != new:
                    p = copy.deepcopy(prog)
                    p.stmts[i].code = st.code[:m.start()] + new + st.code[m.end():]
                    yield p
    for field in ("scalars", "attrs", "globals_"):
        for j, entry in enumerate(getattr(prog, field)):
            for new in (0, 1, 2):
                if entry[-2:] != [new, new] and not isinstance(entry[-1], bool):
                    p = copy.deepcopy(prog)
                    getattr(p, field)[j][-2:] = [new, new]
                    yield p


def _simpler_values(a: np.ndarray):
    """Candidate replacements for one array: all zeros/ones, then one element at a time."""
    simple = [np.zeros_like(a), np.ones_like(a)]
    yield from simple
    flat = a.reshape(-1)
    for k in range(min(flat.size, 24)):
        for v in (0, 1):
            if flat[k] != v or (a.dtype.kind == "f" and np.signbit(flat[k])):
                b = flat.copy()
                b[k] = v
                yield b.reshape(a.shape)


def shrink(prog: Program, fails, budget: int = 250) -> Program:
    """The smallest program found for which `fails(candidate)` holds (at most `budget` tries)."""
    tries = [0]

    def ok(p):
        if p is None or tries[0] >= budget:
            return False
        tries[0] += 1
        return fails(p)
    changed = True
    while changed:
        changed = False
        for i in reversed(range(len(prog.stmts))):
            cand = drop_stmt(prog, i) if i < len(prog.stmts) else None
            if ok(cand):
                prog, changed = cand, True
        for r in list(prog.returns):
            cand = copy.deepcopy(prog)
            cand.returns.remove(r)
            if cand.returns and ok(cand):
                prog, changed = cand, True
    cand = drop_unused_inputs(prog)
    if cand is not prog and ok(cand):
        prog = cand
    progress = True
    while progress and tries[0] < budget:
        progress = False
        for cand in _simpler_args(prog):
            if ok(cand):
                prog, progress = cand, True
                break
    for j in range(len(prog.inputs)):
        for d in range(prog.inputs[j].ndim):
            for size in (1, 2):
                if prog.inputs[j].shape[d] > size:
                    cand = copy.deepcopy(prog)
                    cand.inputs[j] = prog.inputs[j].take(range(size), axis=d)
                    cand.inputs_b[j] = prog.inputs_b[j].take(range(size), axis=d)
                    if ok(cand):
                        prog = cand
                        break
    for which in ("inputs", "inputs_b"):
        for j in range(len(getattr(prog, which))):
            progress = True
            while progress and tries[0] < budget:
                progress = False
                for new in _simpler_values(getattr(prog, which)[j]):
                    cand = copy.deepcopy(prog)
                    getattr(cand, which)[j] = new
                    if ok(cand):
                        prog, progress = cand, True
                        break
    return prog
