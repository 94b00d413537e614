"""Graph-break injection for the `compile` mode: uncapturable Python statements placed between
(and inside the loop and `if` bodies of) a program's statements: a `print` of a tensor's
`.sum().item()`, a `.tolist()` appended to a global list `LOG`, a `float(t.mean())`-driven
Python `if` that appends to `LOG`, a `warnings.warn`, a numpy round-trip
`T.from_numpy(np.asarray(t.numpy()).copy())`. Their side effects (the printed text, `LOG`'s
contents, the warnings' messages) are compared with the same program run uncompiled."""

from __future__ import annotations

import contextlib
import io
import random
import re
import warnings

from .program import Program, Stmt

RATE = 0.3  # the share of compile-mode programs that get breaks
TOL = (2e-4, 1e-5)  # compare.py's float32 tolerance (rtol, atol)

# kind -> code over {0} (an exact variable); "numpy" also binds {out}. %s is `.abs()` for
# floats: a compiled sum may add in another order, and a sum of magnitudes has no cancellation,
# so the printed number is within float tolerance of plain Python's (compared as such); the
# `if` reads the mean of the signs (exact in any order), so it never flips on a last bit
KINDS = {
    "print": "print('fuzz', {0}%s.sum().item())",
    "tolist": "LOG.append({0}.tolist())",
    "if": ("if float({0}.double().sign().mean()) > 0:\n    LOG.append('pos')\nelse:\n"
           "    LOG.append('neg')"),
    "warn": "warnings.warn('fuzz %%r' %% ({0}%s.sum().item(),))",
    "numpy": "{out} = T.from_numpy(np.asarray({0}.numpy()).copy())",
}


def has_breaks(prog: Program) -> bool:
    return any("brk" in s.op for s in prog.stmts)


def with_breaks(prog: Program, seed: int, index: int) -> Program:
    """The program compile mode runs for program `index` of `seed`: for RATE of them, a copy
    with 1-3 break statements inserted (kept only when torch runs it on both sets)."""
    rng = random.Random(f"breaks-{seed}-{index}")
    if rng.random() >= RATE or not prog.stmts:
        return prog
    for _ in range(5):
        cand = _inject(prog, rng)
        if cand is not None and _torch_runs(cand):
            return cand
    return prog


def _inject(prog: Program, rng: random.Random) -> Program | None:
    p = Program(list(prog.inputs), list(prog.inputs_b), [Stmt(**vars(s)) for s in prog.stmts],
                list(prog.returns), set(prog.inexact), [list(s) for s in prog.scalars],
                [list(a) for a in prog.attrs], [list(g) for g in prog.globals_],
                list(prog.buffers), prog.control)
    from .gen import _run
    env, src = _run(prog, None, "a"), {}
    nums = [int(m) for s in p.stmts if s.out for m in re.findall(r"^v(\d+)$", s.out)]
    fresh = max(nums, default=0) + 100
    for _ in range(rng.randint(1, 3)):
        pos = rng.randint(0, len(p.stmts))
        defined = p.names() + [s.out for s in p.stmts[:pos] if s.out]
        exact = [n for n in defined if n not in p.inexact]
        blocks = [st for st in p.stmts if st.op.startswith("control") and "brk" not in st.op]
        if blocks and rng.random() < 0.5:
            _into_body(rng.choice(blocks))  # inside the loop or both branches of the if
            continue
        kind = rng.choice(list(KINDS))
        pool = defined if kind == "numpy" else exact
        if not pool:
            continue
        a = rng.choice(pool)
        code = KINDS[kind]
        if kind in ("print", "warn"):
            code = code % (".abs()" if env[src.get(a, a)].is_floating_point() else "")
        out = None
        if kind == "numpy":
            fresh += 1
            out = f"v{fresh}"
            src[out] = src.get(a, a)
            if a in p.inexact:
                p.inexact.add(out)
            if rng.random() < 0.7:
                p.returns.append(out)
        p.stmts.insert(pos, Stmt(code, [a], out, "brk_" + kind))
    return p if has_breaks(p) else None


def _into_body(stmt: Stmt) -> None:
    """A print (loops) or LOG.append (if) of the control statement's result inside its body."""
    if stmt.op == "control_if":
        line = "    LOG.append({out}.tolist())"
        stmt.code = stmt.code.replace("\nelse:", f"\n{line}\nelse:") + "\n" + line
    else:
        stmt.code += "\n    print('fuzz-loop', {out}.double().abs().sum().item())"
    stmt.op += "_brk"


def _torch_runs(prog: Program) -> bool:
    from .runner import run_torch
    return not any(isinstance(run_torch(prog, w), Exception) for w in ("a", "b"))


def sink_globals() -> dict:
    """What break statements reach: the global list `LOG`, `warnings` and `np`."""
    import numpy as np
    return {"LOG": [], "warnings": warnings, "np": np}


@contextlib.contextmanager
def effects(glb: dict):
    """Collects one call's side effects into the yielded dict: `stdout` (the printed text),
    `log` (repr of what `LOG` gained) and `warnings` (the messages of `fuzz` warnings)."""
    buf, rec, start = io.StringIO(), {}, len(glb.get("LOG", ()))
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(buf):
        warnings.simplefilter("always")
        yield rec
    rec["stdout"] = buf.getvalue()
    rec["log"] = repr(glb.get("LOG", [])[start:])
    rec["warnings"] = [str(w.message) for w in caught if str(w.message).startswith("fuzz")]


def differ(ref: dict, got: dict) -> str | None:
    """None when the compiled call's side effects equal plain Python's, else what differs:
    `LOG` exactly (values copied out of exact tensors), the printed and warned text with the
    floats in it within float32 tolerance (they are sums)."""
    for key in ("stdout", "log", "warnings"):
        same = ref[key] == got[key] if key == "log" else _close(str(ref[key]), str(got[key]))
        if not same:
            return f"effects {key}: python {ref[key]!r:.150}, compiled {got[key]!r:.150}"
    return None


_FLOAT = re.compile(r"-?(?:\d+\.\d*(?:e[-+]?\d+)?|\d+e[-+]?\d+|inf|nan)")


def _close(a: str, b: str) -> bool:
    if a == b:
        return True
    if _FLOAT.split(a) != _FLOAT.split(b):
        return False
    for x, y in zip(_FLOAT.findall(a), _FLOAT.findall(b)):
        fx, fy = float(x), float(y)
        if x != y and not abs(fx - fy) <= TOL[1] + TOL[0] * abs(fx):  # nan is never close
            return False
    return True
