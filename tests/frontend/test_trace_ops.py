"""Every op in the op table, traced: the traced call equals eager execution bit for bit.

The calls come from the oracle table of test_ops_oracle.py (`TABLE`). For each entry a few
representative inputs are built; the call is traced on them, then run both eagerly and through
the traced callable on FRESH inputs of the same signature but other values (so a value baked in
as a constant shows up), with the global generator re-seeded before each run. Both paths run the
op table's numpy code, so results (and inputs written in place) must match to the last bit.
Calls that eager execution rejects are skipped; calls that escape the trace (TraceError) must be
exactly the commented ESCAPES below. Each traced graph must hold the op under test, and every
op of the table must show up in some traced graph.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from test_ops_oracle import (
    SHAPE_PAIRS,
    TABLE,
    Binary,
    Case,
    Reduce,
    Unary,
    Where,
    distinct,
    sample,
)
from torch_oracle import DTYPE_NAMES, error_class, to_lib

import tracejit as tj
from tracejit.ir import OPS, Kind, Op

GRAPH_ONLY = {Kind.CONSTANT, Kind.STRUCTURE}  # IR ops with no front-end call of their own

# Entries whose call reads a traced value in Python, so tracing refuses it. None does today:
# every call in the table keeps its values in ops (0-d tensor operands such as masked_fill's
# value or clamp's bounds are operands, not .item()s). An entry that starts escaping must be
# added here, with the reason.
ESCAPES: set[str] = set()

# Entries filed under one op whose call lowers to others: their graphs must hold these instead.
LOWERED = {
    "where-clamp-both": ("maximum", "minimum"),  # clamp is max(min(...)), not a where
    "where-clamp-tensors": ("maximum", "minimum"),
    "where-clamp-int-by-float": ("maximum", "minimum"),
    "slice-getitem-False": ("index",),  # x[False] is a 0-d False mask
    "slice-getitem-0d-int-tensor": ("index",),  # a tensor key indexes even when 0-d
}
# Besides these, a graph may lack its op only where the call is a no-op on those inputs: eager
# returns an input tensor itself (x.to(x.dtype), x.t() of a 1-d x, x.contiguous() of a 0-d x).


# --- inputs -------------------------------------------------------------------------------------

@functools.cache
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def refreshed(value):
    """Another value of the same kind: arrays (also in lists and tuples) with their elements
    shuffled, so they keep their dtype, shape and domain (index ranges, mask counts)."""
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)
        flat = array.reshape(-1)
        shuffled = rng().permutation(flat) if flat.size > 1 else flat.copy()
        if flat.size > 1 and np.array_equal(shuffled, flat) and len(set(flat.tolist())) > 1:
            shuffled = np.roll(flat, 1)
        return shuffled.reshape(array.shape)
    if isinstance(value, list | tuple):
        return type(value)(refreshed(v) for v in value)
    return value


def grid(entry) -> Iterator[tuple[str, Callable, tuple, tuple]]:
    """(label, fn(lib, *inputs), example inputs, fresh inputs) for one table entry."""
    if isinstance(entry, Case):
        yield "", entry.fn, entry.inputs, refreshed(entry.inputs)
        return
    if isinstance(entry, Unary):
        for dtype in entry.dtypes:
            for shape in ((2, 3), ()):
                x, y = (sample(dtype, shape, entry.domain, seed=s) for s in (0, 1))
                yield f"{dtype}{list(shape)}", entry.call, (x,), (y,)
    elif isinstance(entry, Binary):
        for dtype in DTYPE_NAMES:
            for sa, sb in (SHAPE_PAIRS[2], SHAPE_PAIRS[4]):
                a, b, c, d = (sample(dtype, shape, domain, seed=s) for s, (shape, domain) in
                              enumerate(zip((sa, sb) * 2, entry.domains * 2)))
                yield f"{dtype}{list(sa)}x{list(sb)}", entry.call, (a, b), (c, d)
            scalar = entry.scalars[0]
            a, b = (sample(dtype, (2, 3), entry.domains[0], seed=s) for s in (0, 1))
            yield f"{dtype} x {scalar!r}", entry.call, (a, scalar), (b, scalar)
    elif isinstance(entry, Where):
        for dtype in DTYPE_NAMES:
            c, a, b, c2, a2, b2 = (sample(t, (2, 3), seed=s) for s, t in
                                   enumerate(["bool", dtype, dtype] * 2))
            yield f"{dtype}", entry.call, (c, a, b), (c2, a2, b2)
            yield f"{dtype} x 2.5", entry.call, (c, a, 2.5), (c2, a2, 2.5)
    elif isinstance(entry, Reduce):
        kwargs = [{}, {"dim": 1}] + ([{"dim": -1, "keepdim": True}] if entry.keepdim else [])
        for dtype in entry.dtypes:
            if entry.distinct:
                x = distinct(dtype, (2, 3, 4))
                y = refreshed(x)
            else:
                x, y = (sample(dtype, (2, 3, 4), entry.domain, seed=s) for s in (0, 1))
            for kw in kwargs:
                fn = functools.partial(_reduce, entry.call, kw)
                yield f"{dtype} {kw}", fn, (x,), (y,)


def _reduce(call, kw, lib, x):
    return call(lib, x, **kw)


def tensors(values) -> tuple:
    """numpy arrays (also in lists and tuples) as fresh tracejit tensors."""
    return tuple(to_lib(tj, v) for v in values)


# --- running ------------------------------------------------------------------------------------

def outcome(fn, *args):
    try:
        return fn(*args), None
    except Exception as exc:  # compared by class below
        return None, exc


def seeded(fn, *args):
    tj.manual_seed(0)
    return outcome(fn, *args)


# Compiled reductions accumulate in another order than numpy's pairwise sums: float results of
# the llvm backend are compared within these tolerances; everything else bit for bit.
COMPILED_TOL = {"float32": 1e-5, "float64": 1e-12}


def assert_bits(ours, expected, where: str = "out", backend: str = "eager"):
    """Same structure, and tensors with equal dtype, shape and bytes (-0.0 != 0.0); floats
    from the compiled backend within COMPILED_TOL."""
    assert type(ours) is type(expected), f"{where}: {type(ours)} != {type(expected)}"
    if isinstance(expected, tj.Tensor):
        assert ours.dtype is expected.dtype, f"{where}: {ours.dtype} != {expected.dtype}"
        assert ours.shape == expected.shape, f"{where}: {ours.shape} != {expected.shape}"
        a, b = ours.detach().numpy(), expected.detach().numpy()
        tol = COMPILED_TOL.get(a.dtype.name) if backend == "llvm" else None
        if tol is None:
            assert a.tobytes() == b.tobytes(), f"{where}: {a} != {b}"
        else:
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol, equal_nan=True, err_msg=where)
    elif isinstance(expected, list | tuple):
        assert len(ours) == len(expected), f"{where}: {len(ours)} != {len(expected)} items"
        for k, (a, b) in enumerate(zip(ours, expected)):
            assert_bits(a, b, f"{where}[{k}]", backend)
    else:
        assert ours == expected, f"{where}: {ours!r} != {expected!r}"


def returns_an_input(out, inputs) -> bool:
    outs = out if isinstance(out, list | tuple) else (out,)
    flat = [t for v in inputs for t in (v if isinstance(v, list | tuple) else (v,))]
    return any(o is t for o in outs for t in flat)


class Report:
    """What tracing one op's table entries gave."""

    def __init__(self):
        self.failures: list[str] = []
        self.escapes: set[str] = set()
        self.skipped = 0  # calls eager execution rejects
        self.ops: set[str] = set()  # op names seen in the traced graphs
        self.checked = 0


def check_call(report: Report, op: Op, name: str, label: str, fn, example, fresh,
               backend: str = "eager") -> None:
    _, error = seeded(fn, tj, *tensors(example))
    if error is not None:
        report.skipped += 1
        return
    tj.manual_seed(0)
    traced, error = outcome(lambda: tj.trace(lambda *ts: fn(tj, *ts), *tensors(example),
                                             backend=backend))
    if isinstance(error, tj.TraceError):
        report.escapes.add(name)
        return
    if error is not None:
        report.failures.append(f"{label}: tracing raised {error!r}")
        return
    names = {o.op.value for g in traced.graphs for o in g.walk()}
    report.ops |= names
    mine, theirs = tensors(fresh), tensors(fresh)
    expected, their_error = seeded(fn, tj, *theirs)
    out, my_error = seeded(traced, *mine)
    try:
        if their_error is not None or my_error is not None:
            assert error_class(my_error) is error_class(their_error), (
                f"eager raised {their_error!r}, traced {my_error!r}")
            return
        assert len(traced.graphs) == 1, f"retraced for the fresh inputs: {traced.signature}"
        assert_bits(out, expected, backend=backend)
        assert_bits(mine, theirs, "inputs after the call", backend)
        wanted = LOWERED.get(name, (op.value,))
        no_op = returns_an_input(expected, theirs) and name not in LOWERED
        assert set(wanted) <= names or no_op, f"{wanted} not in the graph:\n{traced.code}"
        report.checked += 1
    except AssertionError as exc:
        report.failures.append(f"{label}: {exc}")


@functools.cache
def report_for(op: Op, backend: str = "eager") -> Report:
    report = Report()
    for k, entry in enumerate(TABLE[op]):
        if getattr(entry, "skip", None):
            continue
        name = f"{op.value}-{entry.label}" if isinstance(entry, Case) else f"{op.value}-{k}"
        for label, fn, example, fresh in grid(entry):
            check_call(report, op, name, f"{name} {label}".strip(), fn, example, fresh,
                       backend)
    return report


# --- the tests ----------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["eager", "llvm"])
@pytest.mark.parametrize("op", list(TABLE), ids=lambda op: op.value)
def test_traced_equals_eager(op: Op, backend: str):
    report = report_for(op, backend)
    assert not report.failures, f"{len(report.failures)} failing:\n" + "\n".join(
        f[:800] for f in report.failures)
    assert report.checked > 0, f"no call of {op.value} was traced and compared"


def test_escapes_are_the_known_ones():
    escapes = set().union(*(report_for(op).escapes for op in TABLE))
    assert escapes == ESCAPES


def test_every_op_shows_up_in_a_traced_graph():
    seen = set().union(*(report_for(op).ops for op in TABLE))
    missing = [op.value for op in OPS if OPS[op].kind not in GRAPH_ONLY and op.value not in seen]
    assert not missing, f"ops no traced graph holds: {', '.join(missing)}"


def test_the_harness_sees_escapes_and_baked_values():
    """A call that escapes is reported as one; a call that bakes an input's values in (here
    by reading the private array behind the tracer's back) fails on the fresh inputs."""
    x, y = sample("float32", (2, 3)), sample("float32", (2, 3), seed=1)
    report = Report()
    check_call(report, Op.MUL, "escape", "escape", lambda L, x: x * float(x.sum()), (x,), (y,))
    check_call(report, Op.ADD, "baked", "baked", lambda L, x: x + L.from_numpy(x._data.copy()),
               (x,), (y,))
    assert report.escapes == {"escape"}
    assert len(report.failures) == 1 and report.failures[0].startswith("baked: out: ")


@pytest.mark.parametrize("op", list(TABLE), ids=lambda op: op.value)
def test_fresh_inputs_differ_from_the_examples(op: Op):
    """Every example array with two distinct values gets other values at some position."""
    for entry in TABLE[op]:
        for _, _, example, fresh in grid(entry):
            for a, b in zip(_arrays(example), _arrays(fresh)):
                if len(set(a.reshape(-1).tolist())) > 1:
                    assert not np.array_equal(a, b), f"{op.value}: {a} was not refreshed"


def _arrays(values) -> list[np.ndarray]:
    out = []
    for v in values:
        if isinstance(v, np.ndarray | np.generic):
            out.append(np.asarray(v))
        elif isinstance(v, list | tuple):
            out += _arrays(v)
    return out
