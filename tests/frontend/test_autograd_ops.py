"""Gradients generated from the op table: every differentiable op (`OPS[op].differentiable`)
has a rule (tracejit/autograd/rules.py) and cases (grad_cases.py) whose gradients match
PyTorch's in float32 and float64, pass a finite-difference check in float64, and whose second
derivatives (`create_graph=True`; the issue asks for the elementwise and matmul ops, every op
is checked) match torch's in float64.

A case's output `o` is reduced with a random cotangent `ct` of its shape, `(o * ct).sum()`,
so every element's gradient counts. Inputs that are float arrays require grad in both
libraries; their `.grad` must match torch's (None where torch's is None), and each case must
record its op on the tape. Also here: public composites (grad_composites.py: losses, layers,
activations) against torch and finite differences; the ops without a rule (rules.NO_RULE)
raise in backward where torch's does; non-differentiable results have no grad_fn.
Known disagreements with torch are strict xfails whose reasons say what differs.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
from grad_cases import GRAD_CASES, NO_RULE_CASES, NOT_DIFFERENTIABLE_CASES, GradCase
from grad_composites import COMPOSITE_CASES
from torch_oracle import error_class

import tracejit as tj
from tracejit.autograd.rules import NO_RULE, RULES
from tracejit.ir import OPS, Op

# gradients add up many products: looser than the forward's tolerances (torch_oracle.py)
TOLERANCES = {"float32": (1e-4, 1e-5), "float64": (1e-8, 1e-10)}
FD_EPS = 1e-6  # central differences in float64: truncation ~eps**2, rounding ~1e-16/eps
FD_RTOL, FD_ATOL = 1e-5, 1e-7
FD_MAX_ELEMENTS = 40  # per input: a random subset of larger inputs' elements
DTYPES = ("float32", "float64")
DIFFERENTIABLE = frozenset(op for op, d in OPS.items() if d.differentiable)
LIBS = {"torch": torch, "tracejit": tj}


def test_every_differentiable_op_has_a_rule():
    """A new differentiable op without a gradient rule, or without gradient cases, fails."""
    want = DIFFERENTIABLE - NO_RULE
    missing = sorted(op.value for op in want - set(RULES))
    assert not missing, f"differentiable ops without a rule in rules.RULES: {missing}"
    extra = sorted(op.value for op in set(RULES) - want)
    assert not extra, f"rules for ops the table does not call differentiable: {extra}"
    no_case = sorted(op.value for op in want if not GRAD_CASES.get(op))
    assert not no_case, f"differentiable ops without GRAD_CASES: {no_case}"
    assert set(GRAD_CASES) <= want, "GRAD_CASES keys must be differentiable ops with a rule"
    assert NO_RULE <= DIFFERENTIABLE, "rules.NO_RULE lists ops the table calls not differentiable"
    stale = sorted(op.value for op in set(NO_RULE_CASES) ^ NO_RULE)
    assert not stale, (f"grad_cases.NO_RULE_CASES must hold exactly rules.NO_RULE: {stale} (an op "
                       "that got a rule moves its case to GRAD_CASES)")


# --- running a case in one library --------------------------------------------------------

def _seed(*parts) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def make_inputs(L, case: GradCase, dtype: str, grad: bool = True, arrays=None) -> list:
    """The case's inputs as `L` tensors: float arrays in `dtype` (requiring grad if `grad`),
    integer and bool arrays as they are, anything else passed through."""
    out = []
    for i, a in enumerate(case.inputs if arrays is None else arrays):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            t = L.tensor(a if i in case.keep_dtype else a.astype(dtype))
            out.append(t.requires_grad_() if grad and i not in case.constant else t)
        elif isinstance(a, np.ndarray):
            out.append(L.tensor(a))
        else:
            out.append(a)
    return out


def leaves(inputs) -> list:
    return [t for t in inputs if getattr(t, "requires_grad", False)]


def cotangent(case: GradCase, dtype: str, shape, salt="ct") -> np.ndarray:
    rng = np.random.default_rng(_seed(case.name, dtype, salt))
    return rng.standard_normal(tuple(shape)).astype(dtype)


def tape_ops(t) -> set:
    """The ops recorded on the tape behind `t`."""
    ops, seen, stack = set(), set(), [t.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        ops.add(getattr(node, "op", None))
        stack.extend(n for n, _ in node.next_functions)
    return ops


def outcome(thunk):
    try:
        thunk()
    except Exception as exc:  # the class is compared with torch's
        return exc
    return None


def assert_close(ours, theirs, dtype: str, tol: float, where: str):
    rtol, atol = TOLERANCES[dtype]
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=rtol * tol,
                               atol=atol * tol, err_msg=where)


def _params(cases_of, marks_of, dtypes=DTYPES):
    out = []
    for op, cases in GRAD_CASES.items():
        for case in cases_of(op, cases):
            for dtype in dtypes:
                if dtype not in case.dtypes:
                    continue
                reason = marks_of(case)
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                out.append(pytest.param(op, case, dtype, marks=marks,
                                        id=f"{op.value}-{case.name}-{dtype}"))
    return out


# --- (b) first derivatives against torch ----------------------------------------------------

def _composite_params(marks_of, dtypes=DTYPES, smooth_only=False):
    return [pytest.param(case, dtype, id=f"{case.name}-{dtype}", marks=[
        pytest.mark.xfail(strict=True, reason=marks_of(case))] if marks_of(case) else [])
        for case in COMPOSITE_CASES for dtype in dtypes
        if dtype in case.dtypes and (case.smooth or not smooth_only)]


@pytest.mark.parametrize("op, case, dtype",
                         _params(lambda op, cs: cs, lambda c: c.xfail))
def test_gradient_matches_torch(op: Op, case: GradCase, dtype: str):
    check_against_torch(case, dtype, op)


@pytest.mark.parametrize("case, dtype", _composite_params(lambda c: c.xfail))
def test_composite_gradient_matches_torch(case: GradCase, dtype: str):
    """Public functions built from several ops (losses, activations, layers) keep their
    gradients on the tape and match torch's."""
    check_against_torch(case, dtype)


def check_against_torch(case: GradCase, dtype: str, op: Op | None = None):
    """Forward values, grad_fn presence, backward errors and every input's .grad as torch."""
    t_in, j_in = make_inputs(torch, case, dtype), make_inputs(tj, case, dtype)
    t_out, j_out = case.fn(torch, *t_in), case.fn(tj, *j_in)
    assert tuple(j_out.shape) == tuple(t_out.shape), "forward shape"
    assert str(j_out.dtype).split(".")[-1] == str(t_out.dtype).split(".")[-1], "forward dtype"
    assert_close(j_out.detach().numpy(), t_out.detach().numpy(), dtype, case.tol, "forward")
    assert (j_out.grad_fn is None) == (t_out.grad_fn is None), (
        f"grad_fn: tracejit {j_out.grad_fn}, torch {t_out.grad_fn}")
    assert op is None or op in tape_ops(j_out), f"the case does not record {op.value} on the tape"
    ct = cotangent(case, dtype, t_out.shape)
    t_exc = outcome(lambda: (t_out * torch.tensor(ct)).sum().backward())
    j_exc = outcome(lambda: (j_out * tj.tensor(ct)).sum().backward())
    if t_exc is not None or j_exc is not None:
        assert error_class(j_exc) is error_class(t_exc), (
            f"backward: torch {t_exc!r}, tracejit {j_exc!r}")
        return
    for k, (a, b) in enumerate(zip(leaves(t_in), leaves(j_in))):
        if a.grad is None:
            assert b.grad is None, f"input {k}: torch's grad is None, tracejit's is not"
            continue
        assert b.grad is not None, f"input {k}: tracejit's grad is None, torch's is not"
        assert tuple(b.grad.shape) == tuple(a.grad.shape), f"input {k}: grad shape"
        assert str(b.grad.dtype).split(".")[-1] == str(a.grad.dtype).split(".")[-1], (
            f"input {k}: grad dtype {b.grad.dtype}, torch's {a.grad.dtype}")
        assert_close(b.grad.numpy(), a.grad.numpy(), dtype, case.tol, f"input {k} grad")


# --- (c) finite differences in float64 (tracejit alone) -------------------------------------

def _functional(case: GradCase, ct: np.ndarray):
    """f(arrays) = sum(fn(arrays) * ct), evaluated without gradients recorded."""
    def f(arrays):
        out = case.fn(tj, *make_inputs(tj, case, "float64", grad=False, arrays=arrays))
        return float((out.detach().numpy() * ct).sum())

    return f


@pytest.mark.parametrize(
    "op, case, dtype",
    _params(lambda op, cs: [c for c in cs if c.smooth], lambda c: c.fd_xfail, ("float64",)))
def test_finite_differences(op: Op, case: GradCase, dtype: str):
    check_finite_differences(case, dtype)


@pytest.mark.parametrize("case, dtype",
                         _composite_params(lambda c: c.fd_xfail, ("float64",), smooth_only=True))
def test_composite_finite_differences(case: GradCase, dtype: str):
    check_finite_differences(case, dtype)


def check_finite_differences(case: GradCase, dtype: str):
    """Each input's autograd gradient of sum(o * ct) against central differences."""
    xs = make_inputs(tj, case, dtype)
    out = case.fn(tj, *xs)
    ct = cotangent(case, dtype, out.shape)
    (out * tj.tensor(ct)).sum().backward()
    f = _functional(case, ct)
    arrays = [a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
              and i not in case.keep_dtype else a for i, a in enumerate(case.inputs)]
    rng = np.random.default_rng(_seed(case.name, "fd"))
    float_positions = [i for i, a in enumerate(arrays) if isinstance(a, np.ndarray)
                       and a.dtype.kind == "f" and i not in case.constant]
    for k, (i, x) in enumerate(zip(float_positions, leaves(xs))):
        analytic = x.grad.numpy() if x.grad is not None else np.zeros(arrays[i].shape)
        flat = np.arange(arrays[i].size)
        if flat.size > FD_MAX_ELEMENTS:
            flat = rng.choice(flat, FD_MAX_ELEMENTS, replace=False)
        numeric = []
        for j in flat:
            values = []
            for sign in (1, -1):
                moved = list(arrays)
                moved[i] = arrays[i].copy()
                moved[i].reshape(-1)[j] += sign * FD_EPS
                values.append(f(moved))
            numeric.append((values[0] - values[1]) / (2 * FD_EPS))
        np.testing.assert_allclose(analytic.reshape(-1)[flat], numeric, rtol=FD_RTOL,
                                   atol=FD_ATOL * max(1.0, np.abs(numeric).max(initial=0)),
                                   err_msg=f"input {k}: autograd vs central differences")


# --- (d) double backward against torch ------------------------------------------------------

def _second_grads(L, case: GradCase, dtype: str):
    """First gradients (create_graph=True) of sum(o * ct), then the gradients of a random
    weighting of them: None (no path) read as zeros, as torch may give either."""
    xs = make_inputs(L, case, dtype)
    ins = leaves(xs)
    out = case.fn(L, *xs)
    ct = L.tensor(cotangent(case, dtype, out.shape))
    firsts = L.autograd.grad((out * ct).sum(), ins, create_graph=True, allow_unused=True)
    total = 0
    for k, (g, x) in enumerate(zip(firsts, ins)):
        if g is not None and g.requires_grad:
            total = total + (g * L.tensor(cotangent(case, dtype, x.shape, f"w{k}"))).sum()
    seconds = [None] * len(ins)
    if isinstance(total, L.Tensor) and total.requires_grad:
        seconds = L.autograd.grad(total, ins, allow_unused=True)
    zeros = [np.zeros(tuple(x.shape)) for x in ins]
    return ([z if g is None else _numpy(g) for g, z in zip(firsts, zeros)],
            [z if g is None else _numpy(g) for g, z in zip(seconds, zeros)])


def _numpy(g) -> np.ndarray:
    """torch's double backward may give a ZeroTensor, which numpy() refuses without force."""
    return g.detach().numpy(force=True) if isinstance(g, torch.Tensor) else g.detach().numpy()


@pytest.mark.parametrize(
    "op, case, dtype",
    _params(lambda op, cs: cs, lambda c: c.xfail or c.double_xfail, ("float64",)))
def test_double_backward_matches_torch(op: Op, case: GradCase, dtype: str):
    """Second derivatives (create_graph=True) as torch's: the issue asks for the elementwise
    and matmul ops; every rule is written in dispatched ops, so every op is checked (float64:
    float32 adds rounding, not coverage, to the first-derivative tests)."""
    theirs, t_exc = None, None
    try:
        theirs = _second_grads(torch, case, dtype)
    except RuntimeError as exc:
        t_exc = exc
    if t_exc is not None:
        with pytest.raises(RuntimeError):
            _second_grads(tj, case, dtype)
        return
    ours = _second_grads(tj, case, dtype)
    for order, (mine, their) in enumerate(zip(ours, theirs), start=1):
        for k, (a, b) in enumerate(zip(mine, their)):
            assert_close(a, b, dtype, case.tol, f"derivative {order} of input {k}")


# --- ops without a rule: their backward raises where torch's does ---------------------------

def _no_rule_params():
    out = []
    for op, (torch_differentiates, _, _) in NO_RULE_CASES.items():
        marks = []
        if torch_differentiates:
            marks.append(pytest.mark.xfail(strict=True, reason=(
                f"torch differentiates {op.value}; tracejit lists it in rules.NO_RULE")))
        out.append(pytest.param(op, id=op.value, marks=marks))
    return out


@pytest.mark.parametrize("op", _no_rule_params())
def test_no_rule_op_backward_as_torch(op: Op):
    """NO_RULE holds the ops torch does not differentiate: backward raises in both."""
    _, fn, inputs = NO_RULE_CASES[op]
    results = {}
    for name, L in LIBS.items():
        case = GradCase(op.value, fn, inputs)
        xs = make_inputs(L, case, "float64")
        out = fn(L, *xs)
        if name == "tracejit":
            assert op in tape_ops(out), f"the case does not record {op.value}"
        results[name] = outcome(lambda out=out: out.sum().backward())
    assert error_class(results["tracejit"]) is error_class(results["torch"]), (
        f"backward: torch {results['torch']!r}, tracejit {results['tracejit']!r}")


@pytest.mark.parametrize("name", list(NOT_DIFFERENTIABLE_CASES))
def test_not_differentiable_results_have_no_grad_fn(name: str):
    """Integer, boolean and index results of a tensor that requires grad: no grad_fn, no
    requires_grad, as torch's."""
    x = np.random.default_rng(_seed(name)).uniform(-1, 1, (3, 4))
    for L in (torch, tj):
        out = NOT_DIFFERENTIABLE_CASES[name](L, L.tensor(x, requires_grad=True))
        assert out.grad_fn is None and not out.requires_grad, f"{L.__name__}: {out.grad_fn}"
