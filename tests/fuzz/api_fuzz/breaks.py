"""Graph-break injection for the `compile` mode: uncapturable Python statements placed between
(and inside the loop and `if` bodies of) a program's statements: a `print` of a tensor's
`.sum().item()`, a `.tolist()` appended to a global list `LOG`, a `float(t.mean())`-driven
Python `if` that appends to `LOG`, a `warnings.warn`, a numpy round-trip
`T.from_numpy(np.asarray(t.numpy()).copy())`, a `.mul_(2)` from Python of a tensor a region
made, a Python `if` that rebinds a variable (or a second name of one) on one path, a `try`
that catches an error, an early `return`, a statement inside a `try` or a `with`. Their side
effects (the printed text, `LOG`'s contents, the warnings' messages) are compared with the
same program run uncompiled."""

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
    # writes from Python into a tensor (or view) a region made, which later regions read
    "mutate": "LOG.append({0}.mul_(2).tolist())",
    # a second name for a tensor, rebound on one path of a Python if: the regions after it
    # see the two names as one tensor on one call and two on another
    "alias": ("{out} = {0}\nif float({out}.double().sign().mean()) > 0:\n    LOG.append('pos')\n"
              "    {out} = {out} * 2\nelse:\n    LOG.append('neg')"),
    # an error raised inside a try (torch raises RuntimeError for a negative size)
    "raise": ("try:\n    {0}.reshape(-7)\n    LOG.append('no error')\nexcept RuntimeError:\n"
              "    LOG.append('caught')"),
    # a Python if that rebinds the variable on one path (later regions see either)
    "ifbind": ("if float({0}.double().sign().mean()) > 0:\n    LOG.append('pos')\n"
               "    {0} = {0} * 2\nelse:\n    LOG.append('neg')"),
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
        if kind in ("numpy", "alias"):
            fresh += 1
            out = f"v{fresh}"
            src[out] = src.get(a, a)
            if a in p.inexact:
                p.inexact.add(out)
            if kind == "alias" or rng.random() < 0.7:
                p.returns.append(out)
            if kind == "alias" and a not in p.returns:
                p.returns.append(a)
        p.stmts.insert(pos, Stmt(code, [a], out, "brk_" + kind))
    _structure(p, rng)
    return p if has_breaks(p) else None


WRAPS = {  # a statement of the program inside a `try` or a `with`, which run as Python
    "try": "try:\n{body}\nexcept (RuntimeError, ValueError):\n    LOG.append('caught')",
    "with": "with warnings.catch_warnings():\n    warnings.simplefilter('ignore')\n{body}",
}


def _structure(p: Program, rng: random.Random) -> None:
    """Sometimes wrap one statement in a `try` or `with`; sometimes add an early `return` of
    the program's results, taken when most of an exact variable's values are positive."""
    r = rng.random()
    if r < 0.3 and p.stmts:
        i = rng.randrange(len(p.stmts))
        st = p.stmts[i]
        if "brk" not in st.op:
            kind = "try" if r < 0.2 else "with"
            tmpl = st.code if "{out}" in st.code or not st.out else "{out} = " + st.code
            body = "\n".join("    " + ln for ln in tmpl.splitlines())
            code = WRAPS[kind].replace("{body}", body)
            p.stmts[i] = Stmt(code, list(st.operands), st.out, f"{st.op}_{kind}brk", st.exact)
    if rng.random() < 0.2:
        made = [i for i, st in enumerate(p.stmts) if st.out in p.returns]
        pos = max(made, default=-1) + 1
        defined = p.names() + [st.out for st in p.stmts[:pos] if st.out]
        exact = [n for n in defined if n not in p.inexact]
        if exact:
            a = rng.choice(exact)
            code = ("if float({0}.double().sign().mean()) > 0.5:\n    LOG.append('early')\n"
                    f"    return ({''.join(n + ', ' for n in p.returns)})")
            p.stmts.insert(pos, Stmt(code, [a, *p.returns], None, "brk_return"))


def _into_body(stmt: Stmt) -> None:
    """A print (loops) or LOG.append (if) of the control statement's result inside its body."""
    if stmt.op == "control_if":
        line = "    LOG.append({out}.tolist())"
        stmt.code = stmt.code.replace("\nelse:", f"\n{line}\nelse:") + "\n" + line
    else:
        stmt.code += "\n    print('fuzz-loop', {out}.double().abs().sum().item())"
    stmt.op += "_brk"


def aliased(prog: Program) -> bool:
    """Whether two of the program's names are one tensor after some statement on either set
    (torch's run): a signature mark, since regions mix up such names (FINDINGS.md F27)."""
    import torch

    from .gen import _run
    found = []

    def check(env):
        ts = [id(t) for t in env.values() if isinstance(t, torch.Tensor)]
        found.append(len(set(ts)) < len(ts))
    stmts = [s for s in prog.stmts if s.op != "brk_return"]  # exec'd outside a function
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        for which in ("a", "b"):
            with contextlib.suppress(Exception):  # a statement after an early return
                _run(prog, stmts, which, sink_globals(), check)
    return any(found)


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
            where = " in a loop body" if key == "stdout" and _first_diff(
                ref[key], got[key]).startswith("fuzz-loop") else ""
            return (f"effects {key}{where}: python {ref[key]!r:.150}, "
                    f"compiled {got[key]!r:.150}")
    return None


def _first_diff(a: str, b: str) -> str:
    """The first line of plain Python's text that the compiled text does not have there."""
    for x, y in zip([*a.splitlines(), ""], [*b.splitlines(), ""]):
        if not _close(x, y):
            return x or y
    return ""


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
