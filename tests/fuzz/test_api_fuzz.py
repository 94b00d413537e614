"""A seeded sample of the API differential fuzzer (tests/fuzz/README.md): random programs over
the public Tensor/functional API, run with torch and with tracejit in eager, trace, script and
save/load modes, and a smaller sample through `tracejit.compile` (30% of its programs with
graph breaks injected, their side effects compared with plain Python). Any mismatch, crash,
hang or raise torch does not make fails, with the shrunk repros in the message; the
deliberate differences (api_fuzz/differences.py) are skipped by name. Unit checks of the
fuzzer's own parts come first."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("torch")

from api_fuzz import breaks, differences
from api_fuzz.compare import diff
from api_fuzz.driver import Worker, _env, check, format_failures, format_table, run
from api_fuzz.gen import generate
from api_fuzz.program import Program, Stmt, build
from api_fuzz.runner import run_program
from api_fuzz.shrink import shrink

SEED, PROGRAMS = 13, 1600
COMPILE_SEED, COMPILE_PROGRAMS = 17, 300
GRAD_SEED, GRAD_PROGRAMS = 2, 800  # grad mode: input gradients against torch's (~3 s)

# Open bugs the sample may still find (FINDINGS.md), as a regex over "mode/outcome: signature"
# with the finding and the area that owns it. Delete an entry when its fix lands.
KNOWN_OPEN: dict[str, str] = {}  # signature regex -> the open finding it is (none open)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_generation_is_deterministic_and_valid_for_torch():
    a, b = generate(5, 17)[0], generate(5, 17)[0]
    assert a.source() == b.source()
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a.inputs, b.inputs))
    import torch
    for i in range(30):
        prog = generate(5, i)[0]
        build(prog, torch)(*prog.args(prog.inputs, torch, "a"))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_programs_have_python_values_modules_and_control_flow():
    """Number arguments, module attributes with a buffer, globals and control flow all occur,
    and each such program runs with torch on the second set's values too."""
    import torch
    progs = [generate(5, i)[0] for i in range(60)]
    kinds = {"scalars": [p for p in progs if p.scalars], "module": [p for p in progs
             if p.is_module()], "globals": [p for p in progs if p.globals_],
             "control": [p for p in progs if p.control]}
    assert all(kinds.values()), {k: len(v) for k, v in kinds.items()}
    for prog in {id(p): p for v in kinds.values() for p in v}.values():
        build(prog, torch, "b")(*prog.args(prog.inputs_b, torch, "b"))


def test_compare_is_exact_on_signed_zero_and_nan_positions():
    import torch

    import tracejit
    ref = torch.tensor([0.0, float("nan"), 1.0])
    assert diff(ref, tracejit.tensor([0.0, float("nan"), 1.0]), exact=True) is None
    assert "values" in diff(ref, tracejit.tensor([-0.0, float("nan"), 1.0]), exact=True)
    assert "values" in diff(ref, tracejit.tensor([0.0, 0.0, 1.0]), exact=False)
    assert "dtype" in diff(ref, tracejit.tensor([0, 1, 1]), exact=True)
    assert diff(ref, tracejit.tensor([0.0, float("nan"), 1.00001]), exact=False) is None


def test_a_wrong_answer_is_caught_and_shrunk():
    """A program that is wrong on purpose (a different constant on the tracejit side) is a
    mismatch, and shrinking keeps only the statement that differs."""
    prog = Program([np.array([1.0, -2.0], np.float32)], [np.array([3.0, 4.0], np.float32)])
    prog.stmts = [Stmt("{0}.exp()", ["x0"], "v1", "exp", False),
                  Stmt("{0} + (T.__name__ == 'tracejit')", ["x0"], "v2", "add")]
    prog.returns = ["v1", "v2"]
    prog.inexact = {"v1"}
    res = run_program(prog, ["eager"], backend="eager")["eager"]
    assert res["outcome"] == "mismatch" and res["sig"] == "values add"
    small = shrink(prog, lambda p: run_program(p, ["eager"], backend="eager")["eager"]["sig"]
                   == "values add")
    assert [s.op for s in small.stmts] == ["add"]
    assert small.inputs[0].tolist() == [0.0]  # one element, set to zero


def test_differences_have_a_readme_bullet():
    with open(__file__.rsplit("/tests/", 1)[0] + "/README.md") as f:
        readme = " ".join(f.read().split())
    for name, (bullet, _) in differences.DIFFERENCES.items():
        assert bullet.split("...")[-1].strip() in readme, name


def _known(entry: dict) -> str | None:
    key = f"{entry['mode']}/{entry['outcome']}: {entry['signature']}"
    return next((k for k in KNOWN_OPEN if re.search(k, key)), None)


def test_seeded_sample_matches_torch():
    report = run(PROGRAMS, ["eager", "trace", "script", "saveload"], jobs=2, seed=SEED,
                 shrink_budget=120, log=lambda s: None)
    new = [e for e in report["failures"] if not _known(e)]
    assert not new, (f"{format_table(report)}\n\n"
                     f"{format_failures({'failures': new})}")
    still = sorted({KNOWN_OPEN[_known(e)] for e in report["failures"]})
    if still:
        pytest.xfail("known open: " + "; ".join(still))


def test_grad_sample_matches_torch():
    report = run(GRAD_PROGRAMS, ["grad"], jobs=2, seed=GRAD_SEED, shrink_budget=120,
                 log=lambda s: None)
    assert report["table"].get("grad/ok", 0) > GRAD_PROGRAMS // 3  # it differentiates
    new = [e for e in report["failures"] if not _known(e)]
    assert not new, (f"{format_table(report)}\n\n"
                     f"{format_failures({'failures': new})}")


def test_compile_sample_matches_torch_and_plain_python():
    report = run(COMPILE_PROGRAMS, ["compile"], jobs=2, seed=COMPILE_SEED, shrink_budget=120,
                 log=lambda s: None)
    new = [e for e in report["failures"] if not _known(e)]
    assert not new, (f"{format_table(report)}\n\n"
                     f"{format_failures({'failures': new})}")
    still = sorted({KNOWN_OPEN[_known(e)] for e in report["failures"]})
    if still:
        pytest.xfail("known open: " + "; ".join(still))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_compile_programs_get_every_kind_of_break():
    """Injected breaks of each kind (inside loop and if bodies too, statements inside a try or
    a with, an early return) occur in about 30% of the programs, and torch runs every such
    program on both input sets."""
    import torch
    progs = [breaks.with_breaks(generate(5, i)[0], 5, i) for i in range(120)]
    broken = [p for p in progs if breaks.has_breaks(p)]
    assert 15 <= len(broken) <= 60, len(broken)
    ops = {s.op for p in broken for s in p.stmts if "brk" in s.op}
    assert {f"brk_{k}" for k in breaks.KINDS} <= ops, ops
    assert any(op.startswith("control") for op in ops), ops
    assert any(op.endswith("_trybrk") for op in ops) and any(op.endswith("_withbrk")
                                                             for op in ops), ops
    for prog in broken:
        for which, arrays in (("a", prog.inputs), ("b", prog.inputs_b)):
            build(prog, torch, which)(*prog.args(arrays, torch, which))


def _break_program() -> Program:
    prog = Program([np.array([1.0, -2.0], np.float32)], [np.array([3.0, 4.0], np.float32)])
    prog.stmts = [Stmt("{0} * 2", ["x0"], "v1", "mul"),
                  Stmt("print('fuzz', {0}.abs().sum().item())", ["v1"], None, "brk_print"),
                  Stmt("LOG.append({0}.tolist())", ["v1"], None, "brk_tolist"),
                  Stmt("{0} + 1", ["v1"], "v2", "add")]
    prog.returns = ["v2"]
    return prog


def test_compile_side_effects_are_compared_with_plain_python(monkeypatch):
    """A compiled call whose prints vanish, or whose list gets one more item, is a mismatch
    of its side effects, though its values match torch's."""
    import contextlib
    import io

    import tracejit
    prog = _break_program()
    assert run_program(prog, ["compile"], backend="eager")["compile"]["outcome"] == "ok"
    real = tracejit.compile

    def silent(f, **kw):
        g = real(f, **kw)

        def call(*args):
            with contextlib.redirect_stdout(io.StringIO()):
                return g(*args)
        return call
    monkeypatch.setattr(tracejit, "compile", silent)
    res = run_program(prog, ["compile"], backend="eager")["compile"]
    assert (res["outcome"], res["sig"]) == ("mismatch", "effects stdout"), res

    def twice(f, **kw):
        g = real(f, **kw)
        return lambda *args: (f.__globals__["LOG"].append(0), g(*args))[1]
    monkeypatch.setattr(tracejit, "compile", twice)
    res = run_program(prog, ["compile"], backend="eager")["compile"]
    assert (res["outcome"], res["sig"]) == ("mismatch", "effects log"), res


def test_side_effect_text_allows_float_tolerance_only():
    assert breaks._close("fuzz 1.0000001\n", "fuzz 1.0\n")
    assert not breaks._close("fuzz 1.01\n", "fuzz 1.0\n")
    assert not breaks._close("fuzz 3\n", "fuzz 4\n")  # integers exactly
    assert not breaks._close("fuzz nan\n", "fuzz 1.0\n")


def _only_tracejit(code: str) -> Program:
    prog = Program([np.array([1.0], np.float32)], [np.array([2.0], np.float32)])
    prog.stmts = [Stmt(f"({code}) if T.__name__ == 'tracejit' else None", [], "v1", "probe"),
                  Stmt("{0} + 1", ["x0"], "v2", "add")]
    prog.returns = ["v2"]
    return prog


def test_a_crash_and_a_hang_are_counted_not_fatal():
    """A worker that dies is a crash of the mode it was in; one stuck past the limit a hang;
    the same worker object goes on with a fresh process."""
    w = Worker(_env("eager"))
    try:
        crash = check(w, _only_tracejit("__import__('os').abort()"), "trace", "eager", 5.0)
        hang = check(w, _only_tracejit("__import__('time').sleep(60)"), "eager", "eager", 1.0)
        ok = check(w, _only_tracejit("None"), "script", "eager", 5.0)
    finally:
        w.close()
    assert crash["outcome"] == "crash" and crash["mode"] == "trace"
    assert hang["outcome"] == "hang"
    assert ok["outcome"] == "ok"
