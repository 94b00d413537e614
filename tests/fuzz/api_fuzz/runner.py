"""Running one program in one mode against torch and classifying the outcome: ok, mismatch,
raised (tracejit raised where torch did not), torch-raised (skipped), hang (timeout); a crash
is seen by the parent process (runs happen in worker subprocesses)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import tempfile
import time
import warnings

from . import breaks, differences
from .compare import diff
from .program import Program, _differ, instantiate, instantiate_env

MODES = ("eager", "trace", "script", "saveload", "compile", "grad")


class Hang(BaseException):
    """Raised by the alarm when one mode of one program runs past its time limit."""


def _alarm(signum, frame):
    raise Hang()


def run_torch(prog: Program, which: str, scalars: str | None = None, python: str | None = None):
    """Torch's outputs and inputs-after for tensor set `which`, with the scalar arguments of
    set `scalars` and the globals and attributes of set `python` (default: `which`; a new
    model object), or the exception it raised."""
    import torch
    f = instantiate(prog, torch, python or which)[0]
    xs = prog.args(prog.inputs if which == "a" else prog.inputs_b, torch, scalars or which)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            out = f(*xs)
    except Exception as e:
        return e
    return out, xs


def _capture(prog: Program, mode: str, backend: str):
    """The callable of `mode` and the rebinding of the program's globals and attributes."""
    import tracejit
    f, rebind = instantiate(prog, tracejit)
    if mode == "eager":
        return f, rebind
    if mode == "script":
        return tracejit.script(f, backend=backend), rebind
    if mode == "compile":
        return tracejit.compile(f, backend=backend), rebind
    traced = tracejit.trace(f, *prog.args(prog.inputs, tracejit, "a"), backend=backend)
    if mode == "trace":
        return traced, rebind
    fd, path = tempfile.mkstemp(suffix=".pt", prefix="fuzz-")
    os.close(fd)
    try:
        tracejit.save(traced, path)
        return tracejit.load(path, backend=backend), rebind
    finally:
        os.unlink(path)


def _check(prog: Program, ref, got_out, got_inputs) -> str | None:
    out, xs = ref
    if not isinstance(got_out, tuple) or len(got_out) != len(out):
        return f"structure: torch returned {len(out)} values, tracejit {type(got_out).__name__}"
    for name, r, g in zip(prog.returns, out, got_out):
        d = diff(r, g, name not in prog.inexact)
        if d:
            return f"output {name}: {d}"
    for name, r, g in zip(prog.names(), xs, got_inputs):
        d = diff(r, g, name not in prog.inexact)
        if d:
            return f"input {name} after the call: {d}"
    return None


def normalize(msg: str) -> str:
    """An exception message with numbers, shapes and names blurred, for signatures."""
    msg = msg.split("\n")[0]
    msg = re.sub(r"\[[-\d, ?]*\]|\([-\d, ?]*\)", "[..]", msg)
    msg = re.sub(r"\b[vx]\d+\b", "v", msg)
    msg = re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "N", msg)
    return msg[:120]


def run_mode(prog: Program, mode: str, refs: dict, backend: str, timeout: float) -> dict:
    """The outcome of `prog` in `mode`: {"outcome", "detail", "sig", "which"}."""
    import tracejit
    if isinstance(refs["a"], Exception):
        return {"outcome": "torch-raised", "detail": type(refs["a"]).__name__, "sig": ""}
    sets = [("a", prog.inputs)] + ([] if mode == "eager" else [("b", prog.inputs_b)])
    if mode in ("trace", "saveload") and prog.control:
        # reading a traced value into Python raises TraceError (documented): script only
        return {"outcome": "n/a", "detail": "", "sig": ""}
    if mode == "compile":
        return run_compile(prog, refs, backend, timeout)
    if mode == "grad":
        return run_grad(prog, timeout)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    which = "a"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn, rebind = _capture(prog, mode, backend)
            for which, arrays in sets:
                # trace keeps the attributes and globals it read, and a graph file holds the
                # example's argument values (its signature): script follows every change
                key = {"trace": "bt", "saveload": "bs"}.get(mode, "b") if which == "b" else "a"
                ref = refs[key]
                if isinstance(ref, Exception):
                    continue
                if mode == "script":
                    rebind(which)
                xs = prog.args(arrays, tracejit, "a" if key == "bs" else which)
                out = fn(*xs)
                d = _check(prog, ref, out, xs)
                if d:
                    sig = _mismatch_sig(prog, d)
                    if mode == "script" and which == "b" and prog.changes():
                        sig += " after an attribute or global changed"
                    return _outcome(prog, mode, "mismatch", d, sig, which)
    except Hang:
        return _outcome(prog, mode, "hang", f"over {timeout}s", "hang", which)
    except Exception as e:
        detail = f"{type(e).__name__}: {e}"
        return _outcome(prog, mode, "raised", detail,
                        f"{type(e).__name__}: {normalize(str(e))}", which)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return {"outcome": "ok", "detail": "", "sig": ""}


# compile mode's calls: (which, the set of inputs and Python values). The program's breaks are
# forgotten first (tracejit keeps them per code object, and equal programs have equal code),
# so the first call finds them; the second takes the cached path (or recompiles where an
# attribute or global changed), the third goes back; "known" is a new compile of the function,
# which starts from the breaks the first one found (`fullgraph=True` for a program without
# injected breaks: script captures all of those whole)
COMPILE_CALLS = (("a", "a"), ("b", "b"), ("a2", "a"), ("known", "a"))


def run_compile(prog: Program, refs: dict, backend: str, timeout: float) -> dict:
    """`tracejit.compile` of the program, called three times, each compared with torch; a
    program with graph breaks (api_fuzz/breaks.py) also with the same program run as plain
    Python (tracejit eager), side effects included."""
    import tracejit
    from tracejit.breaks import KNOWN
    KNOWN.clear()
    effects = breaks.has_breaks(prog)
    tag = " with breaks" if effects else ""
    if effects and breaks.aliased(prog):
        tag += " and two names for one tensor"
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    which = "a"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f, _, glb = instantiate_env(prog, tracejit)
            fn = tracejit.compile(f, backend=backend)
            py, py_rebind, py_glb = instantiate_env(prog, tracejit)
            for which, w in COMPILE_CALLS:
                ref = refs[w]
                if isinstance(ref, Exception):
                    continue
                arrays = prog.inputs if w == "a" else prog.inputs_b
                want = None
                if effects:
                    py_rebind(w)
                    try:
                        with breaks.effects(py_glb) as want:
                            py(*prog.args(arrays, tracejit, w))
                    except Exception as e:
                        return _outcome(prog, "compile", "raised", f"plain Python: {e}",
                                        f"plain Python {type(e).__name__}: {normalize(str(e))}",
                                        which)
                if which == "known":  # one graph or an error, as script, where no breaks
                    fn = tracejit.compile(f, backend=backend, fullgraph=not effects)
                _set_python(prog, glb, fn, w)
                xs = prog.args(arrays, tracejit, w)
                with breaks.effects(glb) as got:
                    out = fn(*xs)
                d = want is not None and breaks.differ(want, got)
                if d:  # a loop body's print is F25's mark: an alias elsewhere is not
                    sig = d.split(":")[0]
                    if "in a loop body" not in sig:
                        sig += tag[len(" with breaks"):]
                    return _outcome(prog, "compile", "mismatch", d, sig, which)
                d = _check(prog, ref, out, xs)
                if d:
                    sig = _mismatch_sig(prog, d) + tag
                    if which != "a" and prog.changes():
                        sig += " after an attribute or global changed"
                    return _outcome(prog, "compile", "mismatch", d, sig, which)
    except Hang:
        return _outcome(prog, "compile", "hang", f"over {timeout}s", "hang", which)
    except Exception as e:
        detail = f"{type(e).__name__}: {e}"
        return _outcome(prog, "compile", "raised", detail,
                        f"{type(e).__name__}: {normalize(str(e))}{tag}", which)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return {"outcome": "ok", "detail": "", "sig": ""}


def _set_python(prog: Program, glb: dict, compiled, w: str) -> None:
    """Set the globals and the model's attributes to set `w`'s values, the attributes through
    the compiled wrapper (`compiled.a0 = v` reaches the module, docs/compile.md)."""
    j = 1 if w == "a" else 2
    glb.update({g[0]: g[j] for g in prog.globals_})
    for a in prog.attrs:
        setattr(compiled, a[0], a[j])


def _mismatch_sig(prog: Program, d: str) -> str:
    """`values sum`: what differs, and the op that made the differing value."""
    where, what = d.split(": ", 2)[:2]
    name = where.split(" ")[1]
    ops = [st.op for st in prog.stmts if st.out == name] or ["input"]
    return f"{what.split(' ')[0]} {ops[-1]}"


def _outcome(prog, mode, outcome, detail, sig, which) -> dict:
    res = {"outcome": outcome, "detail": detail[:400], "sig": sig, "which": which}
    known = differences.match(prog, mode, res)
    if known:
        res.update(outcome="known-diff", sig=known)
    return res


def run_program(prog: Program, modes, backend: str = "llvm", timeout: float = 20.0,
                on_start=None, variants: dict | None = None) -> dict:
    """Every mode's outcome for one program (torch runs once per input set); `variants` maps
    a mode to the program it runs instead (compile's program with graph breaks)."""
    refs_of: dict[int, dict] = {}
    results = {}
    for mode in modes:
        p = (variants or {}).get(mode, prog)
        if id(p) not in refs_of:
            refs_of[id(p)] = torch_refs(p)
        if on_start:
            on_start(mode)
        t0 = time.perf_counter()
        results[mode] = run_mode(p, mode, refs_of[id(p)], backend, timeout)
        results[mode]["seconds"] = time.perf_counter() - t0
    return results


def torch_refs(prog: Program) -> dict:
    """Torch's results for each input set and Python-value combination the modes compare."""
    refs = {"a": run_torch(prog, "a"), "b": run_torch(prog, "b")}
    refs["bt"] = run_torch(prog, "b", "b", "a") if prog.changes() else refs["b"]
    same = all(not _differ(s[2], s[3]) for s in prog.scalars)
    refs["bs"] = refs["bt"] if same else run_torch(prog, "b", "a", "a")
    return refs


# --- grad mode: the program's gradients against torch's ---------------------------------------

def _backward(prog: Program, lib):
    """The gradients of a fixed random linear function of the program's floating outputs with
    respect to its floating tensor inputs (None where an input gets none), run in `lib`."""
    import numpy as np

    f = instantiate(prog, lib, "a")[0]
    xs = prog.args(prog.inputs, lib, "a")
    leaves = [x for x in xs if isinstance(x, lib.Tensor) and x.is_floating_point()]
    for x in leaves:
        x.requires_grad_(True)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        out = f(*xs)
        rng = np.random.default_rng(len(prog.returns))
        loss = None
        for o in out if isinstance(out, tuple) else (out,):
            if isinstance(o, lib.Tensor) and o.requires_grad:
                w = rng.standard_normal(tuple(o.shape)).astype(np.float64)
                term = (o.double() * lib.tensor(w)).sum()
                loss = term if loss is None else loss + term
        if loss is None:
            return None
        loss.backward()
    return [x.grad for x in leaves]


def run_grad(prog: Program, timeout: float) -> dict:
    """grad mode: the same gradients as torch's (eager autograd), or torch's exception type."""
    import torch

    import tracejit
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        try:
            want = _backward(prog, torch)
        except Exception as e:
            return {"outcome": "torch-raised", "detail": type(e).__name__, "sig": ""}
        if want is None:
            return {"outcome": "n/a", "detail": "", "sig": ""}
        got = _backward(prog, tracejit)
        if got is None:
            return _outcome(prog, "grad", "mismatch", "no output requires grad", "no grad", "a")
        for k, (w, g) in enumerate(zip(want, got)):
            if (w is None) != (g is None):
                detail = f"input {k}: torch grad {'None' if w is None else 'set'}, " \
                         f"tracejit {'None' if g is None else 'set'}"
                return _outcome(prog, "grad", "mismatch", detail, "grad presence", "a")
            d = diff(w, g, False) if w is not None else None
            if d:
                return _outcome(prog, "grad", "mismatch", f"grad of input {k}: {d}",
                                "grad " + d.split(":")[0], "a")
    except Hang:
        return _outcome(prog, "grad", "hang", f"over {timeout}s", "hang", "a")
    except Exception as e:
        return _outcome(prog, "grad", "raised", f"{type(e).__name__}: {e}",
                        f"{type(e).__name__}: {normalize(str(e))}", "a")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return {"outcome": "ok", "detail": "", "sig": ""}
