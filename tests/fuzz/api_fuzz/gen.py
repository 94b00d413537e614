"""The program generator. Each candidate statement is run with torch on both input sets while
generating, so programs stay well-typed for torch (a rejected candidate is just redrawn), and
shapes, dtypes and values are known exactly when choosing the next statement."""

from __future__ import annotations

import math
import random
import types
import warnings

import torch

from . import ops, pyvals
from .program import Program, Stmt, make_inputs
from .values import DTYPES, broadcast_partner, random_shape, random_values


class Gen:
    """Generation state: the program so far and torch's values of its variables."""

    def __init__(self, rng: random.Random, special: bool):
        self.rng, self.special = rng, special
        self.prog = Program([], [])
        self.exact: dict[str, bool] = {}
        self.env_a: dict = {}
        self.env_b: dict = {}
        self.nvars = 0

    # -- variables -------------------------------------------------------------------------
    def new_input(self, shape, dtype: str) -> str:
        name = f"x{len(self.prog.inputs)}"
        for arrays in (self.prog.inputs, self.prog.inputs_b):
            arrays.append(random_values(self.rng, tuple(shape), dtype, self.special))
        self.exact[name] = True
        self._replay()
        return name

    def vars(self, pred=lambda t: True) -> list[str]:
        return [n for n, t in self.env_a.items() if pred(t) and pred(self.env_b[n])]

    def pick(self, pred=lambda t: True, exact: bool = False) -> str | None:
        names = [n for n in self.vars(pred) if not exact or self.is_exact(n)]
        if not names:
            return None
        return names[-1] if self.rng.random() < 0.4 else self.rng.choice(names)

    def is_exact(self, name: str) -> bool:
        return self.exact.get(name, True) or not self.env_a[name].is_floating_point()

    def fresh(self) -> str:
        self.nvars += 1
        return f"v{self.nvars}"

    # -- candidates ------------------------------------------------------------------------
    def _replay(self, stmts=None) -> None:
        self.env_a = _run(self.prog, stmts, "a")
        self.env_b = _run(self.prog, stmts, "b")

    def add(self, stmt: Stmt, cls: str, tame: bool = False, moderate: bool = False) -> bool:
        """Try `stmt` (class exact, inexact, disc or sensitive); keep it if torch runs it on
        both sets. `tame`: its float operands must be finite and of moderate magnitude (where
        torch's own vectorized and scalar kernels disagree on special values); `moderate`:
        finite float operands below 1e15 in magnitude (sums of 1e30 and -1e30 cancel in an
        order-dependent way), inf and nan allowed."""
        ins = [o for o in stmt.operands if o in self.env_a]
        if cls in ("disc", "sensitive") and not all(self.is_exact(o) for o in ins):
            return False
        if stmt.op.split("_")[0] in ZERO_TIES and ("-0.0" in stmt.code or any(
                _neg_zero(env[o]) for o in ins for env in (self.env_a, self.env_b))):
            return False
        if moderate and not all(_moderate(env[o]) for o in ins for env in (self.env_a, self.env_b)):
            return False
        if (tame or moderate) and not self._python_values_moderate():
            return False  # saveload mixes one set's tensors with the other's Python values
        if tame and not all(_tame(env[o]) for o in ins for env in (self.env_a, self.env_b)):
            return False
        try:
            self._replay([*self.prog.stmts, stmt])
        except Exception:
            self._replay()
            return False
        exact = cls not in ("inexact", "sensitive") and all(self.is_exact(o) for o in ins)
        if stmt.out:
            self.exact[stmt.out] = exact
        elif not exact and ins:
            target = self.env_a[ins[0]]
            ptr = target.untyped_storage().data_ptr()
            for n, t in self.env_a.items():
                if t.untyped_storage().data_ptr() == ptr:
                    self.exact[n] = False
        stmt.exact = exact
        self.prog.stmts.append(stmt)
        return True


    def _python_values_moderate(self) -> bool:
        """Every Python number of the program (arguments, attributes, globals) in both sets
        is finite and below 1e15: a value checked only in its own set can otherwise meet the
        other set's tensors (saveload keeps the example's numbers) unchecked."""
        entries = self.prog.scalars + self.prog.attrs + self.prog.globals_
        return all(not isinstance(v, float) or (math.isfinite(v) and abs(v) < 1e15)
                   for e in entries for v in e[-2:])


# torch orders a tie of -0.0 and +0.0 differently in its scalar and vectorized max/min
# kernels (minimum(-0.0, 0.0) is -0.0 for one element, clamp gives +0.0 for 36), so
# these ops never see a negative zero
ZERO_TIES = {"maximum", "minimum", "clamp", "hardtanh", "amax", "amin", "cummax", "inplaceclamp",
              "topk", "sort"}


def _neg_zero(t) -> bool:
    return t.is_floating_point() and bool(((t == 0) & t.signbit()).any())


def _moderate(t) -> bool:
    return not t.is_floating_point() or bool(((t.abs() < 1e15) | ~t.isfinite()).all())


def _tame(t) -> bool:
    if not t.is_floating_point():
        return True
    a = t.abs()
    return bool((a.isfinite() & (a < 1e15) & ((a > 1e-15) | (a == 0))).all())


def _run(prog: Program, stmts, which: str, extra: dict | None = None, each=None) -> dict:
    """Torch's tensors of the program's names after `stmts` (default: all) on set `which`;
    `extra` globals, and `each(env)` called after every statement."""
    arrays = prog.inputs if which == "a" else prog.inputs_b
    names = prog.names() + [s[0] for s in prog.scalars]
    env = dict(zip(names, prog.args(arrays, torch, which)))
    k = 1 if which == "a" else 2
    glb = {"T": torch, "F": torch.nn.functional, **{v[0]: v[k] for v in prog.globals_},
           **(extra or {})}
    if prog.is_module():
        env["self"] = types.SimpleNamespace(**{a[0]: a[k] for a in prog.attrs}, **{
            n: t for (n, _), t in zip(prog.buffers, make_inputs(
                [b[1] for b in prog.buffers], torch))})
    for s in prog.stmts if stmts is None else stmts:
        exec(s.text(), glb, env)
        if each:
            each(env)
    return {n: t for n, t in env.items() if isinstance(t, torch.Tensor)}


def generate(seed: int, index: int, max_stmts: int = 6) -> tuple[Program, int]:
    """Program number `index` of run `seed` (deterministic), and how many candidates torch
    rejected while generating it."""
    rng = random.Random(seed * 1_000_003 + index)
    g = Gen(rng, special=rng.random() < 0.4)
    base = random_shape(rng)
    pyvals.setup(g, base)
    g.new_input(base, rng.choice(DTYPES))
    for _ in range(rng.randint(0, 2)):
        shape = base if rng.random() < 0.5 else broadcast_partner(rng, base)
        g.new_input(shape, rng.choice(DTYPES))
    rejected, target = 0, rng.randint(1, max_stmts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while len(g.prog.stmts) < target and rejected < 200:
            maker = rng.choices(ops.MAKERS, weights=ops.WEIGHTS)[0]
            if not maker(g):
                rejected += 1
    outs = [s.out for s in g.prog.stmts if s.out]
    rets = outs[-rng.randint(1, 2):] if outs else []
    if not rets or rng.random() < 0.2:
        rets.append(rng.choice(g.prog.names()))
    g.prog.returns = list(dict.fromkeys(rets))
    g.prog.inexact = {n for n in g.env_a if not g.is_exact(n)}
    return g.prog, rejected
