"""Mutation fuzz of valid graphs through their text: nothing reaches a kernel unverified.

Valid graphs (tests/ir/random_graphs.py and a few traced models) are printed, one thing in the
text is changed (a dim, a rank, a dtype, an integer attribute, an operand), and the mutant is
parsed back. Each mutant either fails to parse (ParseError) or to verify (VerifyError, and then
the plan entry refuses it too, since it never went through the verifier), or it verifies and
then runs compiled (llvm) and on the reference interpreter alike: the same values (floats
within the backend's documented tolerances), or the same kind of error; never a crash.
Write-back declarations are mutated as well: a declaration that verifies is exact at run time.

Seeded and deterministic: about 200 mutants in CI; TRACEJIT_FUZZ_N=5000 runs that many
(TRACEJIT_FUZZ_SEED picks another seed).
"""

from __future__ import annotations

import os
import random
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracejit
import tracejit.nn as nn
from tracejit.ir import DType, TensorType
from tracejit.ir.graph import Graph
from tracejit.ir.parser import ParseError, parse
from tracejit.ir.printer import print_graph
from tracejit.ir.verifier import VerifyError, verify, verify_write_back
from tracejit.runtime.eager import Interpreter
from tracejit.runtime.executor import Plan

sys.path.insert(0, str(Path(__file__).parents[1] / "ir"))
from random_graphs import example_inputs, graphs

N = int(os.environ.get("TRACEJIT_FUZZ_N", "0") or 0) or 200
SEED = int(os.environ.get("TRACEJIT_FUZZ_SEED", "0") or 0)
PER_GRAPH = 4  # mutants of each random graph
TOL = {"float16": 1e-2, "float32": 1e-4, "float64": 1e-10}  # as tests/runtime/test_plan_properties
RUN_LIMIT = 1 << 22  # elements: a verified mutant with a larger value is checked, not run

DTYPES = [d.value for d in DType]
TYPE = re.compile(r"\b(" + "|".join(DTYPES) + r")\[([0-9?,]*)\]")
NAME = re.compile(r"%(?:\d+|[A-Za-z_][\w.]*)")
ATTRS = re.compile(r"\) \{(.*)\} :")
INT = re.compile(r"(?<![\w.\"-])-?\d+(?![\w.])")
DIMS = [0, 1, 2, 3, 7, 1000, 2**41, 2**63, None]  # None: `?`
INTS = [0, 1, -1, 2, 5, 2**31, 2**63, 10**30]


# --- mutating the text ----------------------------------------------------------------------------
def _dims(match: re.Match) -> list[str]:
    return [d for d in match.group(2).split(",") if d]


def _with_dims(match: re.Match, dims: list[str]) -> str:
    return f"{match.group(1)}[{','.join(dims)}]"


def mutate_dim(line: str, rng: random.Random) -> str | None:
    found = [m for m in TYPE.finditer(line) if _dims(m)]
    if not found:
        return None
    m = rng.choice(found)
    dims = _dims(m)
    k = rng.randrange(len(dims))
    old = None if dims[k] == "?" else int(dims[k])
    new = rng.choice(DIMS + ([old + 1, max(old - 1, 0)] if old is not None else []))
    dims[k] = "?" if new is None else str(new)
    return line[:m.start()] + _with_dims(m, dims) + line[m.end():]


def mutate_rank(line: str, rng: random.Random) -> str | None:
    found = list(TYPE.finditer(line))
    if not found:
        return None
    m = rng.choice(found)
    dims = _dims(m)
    if dims and rng.random() < 0.5:
        dims.pop(rng.randrange(len(dims)))
    else:
        dims.insert(rng.randrange(len(dims) + 1), str(rng.choice([1, 2, 3])))
    return line[:m.start()] + _with_dims(m, dims) + line[m.end():]


def mutate_dtype(line: str, rng: random.Random) -> str | None:
    found = list(TYPE.finditer(line))
    if not found:
        return None
    m = rng.choice(found)
    dtype = rng.choice([d for d in DTYPES if d != m.group(1)])
    return line[:m.start()] + f"{dtype}[{m.group(2)}]" + line[m.end():]


def mutate_attr(line: str, rng: random.Random) -> str | None:
    region = ATTRS.search(line)
    if region is None:
        return None
    found = list(INT.finditer(line, region.start(1), region.end(1)))
    if not found:
        return None
    m = rng.choice(found)
    old = int(m.group())
    new = rng.choice([*INTS, old + 1, old - 1, -old])
    return line[:m.start()] + str(new) + line[m.end():]


def mutate_operand(line: str, rng: random.Random, names: list[str]) -> str | None:
    _, eq, rest = line.partition(" = ")
    start = len(line) - len(rest) if eq else 0
    uses = [m for m in NAME.finditer(line, start) if "loc(" not in line[:m.start()]]
    if not uses or not names:
        return None
    m = rng.choice(uses)
    return line[:m.start()] + rng.choice(names) + line[m.end():]


def retype(text: str, rng: random.Random) -> str | None:
    """Every occurrence of one type in the whole text made another (a dim or the dtype): the
    mutants that most often still verify, so kernels run on new shapes and dtypes."""
    found = list(TYPE.finditer(text))
    if not found:
        return None
    m = rng.choice(found)
    dims = _dims(m)
    if dims and rng.random() < 0.6:
        k = rng.randrange(len(dims))
        dims[k] = str(rng.choice([0, 1, 2, 5] + ([int(dims[k]) + 1] if dims[k] != "?" else [])))
        new = _with_dims(m, dims)
    else:
        new = f"{rng.choice(DTYPES)}[{m.group(2)}]"
    return re.sub(rf"(?<![\w]){re.escape(m.group())}", new, text)


MUTATIONS = ["dim", "dim", "rank", "dtype", "dtype", "attr", "attr", "operand", "retype",
             "retype", "retype"]


def mutate(text: str, rng: random.Random) -> tuple[str, str] | None:
    """(kind, mutated text) with one thing changed (None if 20 picks changed nothing)."""
    for _ in range(20):
        picked = _mutate_once(text, rng)
        if picked is not None:
            return picked
    return None


def _mutate_once(text: str, rng: random.Random) -> tuple[str, str] | None:
    lines = text.split("\n")
    names = sorted(set(NAME.findall(text)))
    kind = rng.choice(MUTATIONS)
    if kind == "retype":
        new_text = retype(text, rng)
        return None if new_text in (None, text) else (kind, new_text)
    k = rng.randrange(len(lines))
    if kind == "dim":
        new = mutate_dim(lines[k], rng)
    elif kind == "rank":
        new = mutate_rank(lines[k], rng)
    elif kind == "dtype":
        new = mutate_dtype(lines[k], rng)
    elif kind == "attr":
        new = mutate_attr(lines[k], rng)
    else:
        new = mutate_operand(lines[k], rng, names)
    if new is None or new == lines[k]:
        return None
    lines[k] = new
    return kind, "\n".join(lines)


# --- checking one mutant ------------------------------------------------------------------------
def outcome(fn):
    try:
        return fn(), None
    except Exception as e:  # compared by class: a crash would end the process instead
        return None, e


def largest(graph: Graph) -> int:
    sizes = [int(np.prod([2 if d is None else d for d in v.type.shape]))
             for op in graph.walk() for v in op.results if isinstance(v.type, TensorType)]
    sizes += [int(np.prod([2 if d is None else d for d in t.shape]))
              for t in graph.input_types if isinstance(t, TensorType)]
    return max(sizes, default=0)


def check_declared(graph: Graph, env: dict, text: str) -> None:
    """Every value the reference computed has the type the verifier derived (a kernel reading it
    is compiled for that type): the rules and the numpy references agree."""
    for operation in graph.walk():
        for value in operation.results:
            array = env.get(id(value))
            if array is None or not isinstance(value.type, TensorType):
                continue
            t = value.type
            assert array.dtype == t.dtype.np and array.ndim == len(t.shape) and all(
                d is None or d == n for d, n in zip(t.shape, array.shape)), (
                f"{operation.op.value} computed {array.dtype}{list(array.shape)}, declared {t}, "
                f"in\n{text}")


def check_mutant(text: str, constants: dict, stats: Counter, mutated=(), sources=()) -> None:
    """Refused by the parser or the verifier (and then by the plan entry), or run alike."""
    try:
        graph = parse(text, constants=constants)
    except ParseError:
        stats["parse error"] += 1
        return
    try:
        verify(parse(text, constants=constants))
    except VerifyError:
        stats["verify error"] += 1
        with pytest.raises(VerifyError):
            Plan(graph)  # skipped the verifier: the backend entry refuses it
        return
    verify(graph)
    if largest(graph) > RUN_LIMIT:
        stats["verified, too large to run"] += 1
        return
    stats["verified and run"] += 1
    inputs = example_inputs(graph, seed=7)
    interpreter = Interpreter(graph, np.random.default_rng(3))
    want, want_error = outcome(lambda: interpreter.run(inputs))
    check_declared(graph, interpreter.env, text)
    got, got_error = outcome(lambda: Plan(graph)(inputs, np.random.default_rng(3)))
    if want_error or got_error:
        assert type(got_error) is type(want_error), (
            f"interpreter {want_error!r}, compiled {got_error!r} on\n{text}")
        return
    for w, g, t in zip(want, got, graph.output_types):
        assert (w.dtype, w.shape) == (g.dtype, g.shape), f"{w.dtype}{w.shape} vs {g.dtype}" \
                                                         f"{g.shape} on\n{text}"
        if isinstance(t, TensorType):
            assert w.dtype == t.dtype.np and all(d is None or d == s
                                                 for d, s in zip(t.shape, w.shape)), text
        if w.dtype.kind == "f":
            with np.errstate(all="ignore"):
                np.testing.assert_allclose(g, w, rtol=TOL[w.dtype.name], atol=TOL[w.dtype.name],
                                           equal_nan=True, err_msg=text)
        else:
            np.testing.assert_array_equal(g, w, err_msg=text)
    try:
        verify_write_back(graph, mutated, sources)
    except VerifyError:
        stats["write-back refused"] += 1
        return
    n_out = len(want) - len(mutated)
    for j, k in enumerate(mutated):  # a declaration that verifies is exact when written back
        assert (want[n_out + j].dtype, want[n_out + j].shape) == (inputs[k].dtype,
                                                                  inputs[k].shape), text


# --- random graphs --------------------------------------------------------------------------------
N_GRAPHS = max(1, N // (2 * PER_GRAPH))  # half the mutants; traced models give the other half
STATS: Counter = Counter()


@settings(max_examples=N_GRAPHS, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(graph=graphs(max_ops=6), seed=st.integers(0, 2**32 - 1))
def test_mutants_of_random_graphs_are_refused_or_run_alike(graph, seed):
    text = print_graph(graph)
    rng = random.Random(seed ^ SEED)
    for _ in range(PER_GRAPH):
        picked = mutate(text, rng)
        if picked is not None:
            STATS[picked[0]] += 1
            check_mutant(picked[1], graph.constants, STATS)


# --- traced models --------------------------------------------------------------------------------
def _movement(x, y):
    a = x[1:, ::2].permute(1, 0).reshape(-1)
    b = tracejit.cat([a, y.sum(0)], 0)
    return tracejit.nn.functional.pad(b, (1, 2)).cumsum(0), x.amax(1, keepdim=True) * y[0]


def _in_place(x, y):
    x.add_(y)
    x[0] = 3.0
    return x.mul(2).tanh()


def _traced() -> list[tuple[str, Graph, list[int], list]]:
    rng = np.random.default_rng(0)
    t = lambda *shape: tracejit.tensor(rng.standard_normal(shape).astype(np.float32))  # noqa: E731
    mlp = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3), nn.Softmax(-1))
    conv = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 5))
    norm = nn.Sequential(nn.LayerNorm(6), nn.GELU(), nn.Linear(6, 2))
    out = []
    for name, fn, args in (("mlp", mlp, (t(4, 6),)), ("conv", conv, (t(2, 3, 8, 8),)),
                           ("norm", norm, (t(3, 6),)), ("movement", _movement, (t(5, 6), t(4, 3))),
                           ("in_place", _in_place, (t(4, 3), t(4, 3)))):
        traced = tracejit.trace(fn, *args)
        (spec,) = traced._cache.values()  # the one specialization: its write-back declarations
        for graph in (spec.graph, spec.optimized):
            out.append((name, graph, list(spec.mutated), list(spec.sources)))
    return out


def test_mutants_of_traced_models_are_refused_or_run_alike():
    rng = random.Random(SEED)
    stats: Counter = Counter()
    models = _traced()
    total = N - N_GRAPHS * PER_GRAPH
    for k in range(max(total, len(models))):
        _, graph, mutated, sources = models[k % len(models)]
        picked = mutate(print_graph(graph), rng)
        if picked is not None:
            stats[picked[0]] += 1
            check_mutant(picked[1], graph.constants, stats, mutated, sources)
    assert stats["verify error"] + stats["parse error"] > 0, stats
    assert stats["verified and run"] > 0, stats  # operand swaps of a same-typed value


def test_write_back_declarations_mutated():
    # the written-back output (float32[4,3] into %x) swapped for another value, or the
    # declaration pointed at another input or the same input twice
    traced = tracejit.trace(_in_place, tracejit.zeros(4, 3), tracejit.ones(4, 3))
    graph = traced.graph
    verify_write_back(graph, [0], [None])
    for mutated in ([1, 1], [2], [0, 0]):
        with pytest.raises(VerifyError):
            verify_write_back(graph, mutated, [None])
    text = print_graph(graph)
    last = text.rstrip().rsplit("\n", 2)[-2]  # the return line
    names = sorted(set(NAME.findall(text)))
    refused = 0
    for name in names:
        swapped = text.replace(last, re.sub(r"%\w+\)$", f"{name})", last))
        try:
            mutant = verify(parse(swapped, constants=graph.constants))
            verify_write_back(mutant, [0], [None])
        except (ParseError, VerifyError):
            refused += 1
            continue
        assert mutant.outputs[-1].type == mutant.inputs[0].type
    assert refused > 0


def test_plan_refuses_a_graph_that_skipped_the_verifier():
    text = ("graph @g(%x: float32[4]) -> (float32[4096]) {\n"
            "  %0 = slice(%x) {starts = [0], stops = [4096], steps = [1]} : float32[4096]\n"
            "  %1 = exp(%0) : float32[4096]\n  return(%1)\n}\n")
    with pytest.raises(VerifyError, match="slice"):
        Plan(parse(text))
