"""The compiled backend against the reference interpreter on hypothesis-generated graphs: the
random valid graphs of tests/ir/random_graphs.py and fusion-rich DAGs, each run through the
default pipeline and then through both. Floats agree within the backend's documented
tolerances (approximated math, reordered sums), everything else exactly, and both raise
alike."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings

from tracejit.ir.parser import parse
from tracejit.ir.printer import print_graph
from tracejit.passes import run_pipeline
from tracejit.runtime.eager import interpret
from tracejit.runtime.executor import Plan

sys.path.insert(0, str(Path(__file__).parents[1] / "ir"))
sys.path.insert(0, str(Path(__file__).parents[1] / "passes"))
from random_graphs import example_inputs, graphs
from test_properties import fusion_graphs

SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TOL = {"float32": 1e-4, "float64": 1e-10}


def outcome(fn):
    try:
        return fn(), None
    except Exception as e:  # compared by class
        return None, e


def check(graph) -> None:
    graph = run_pipeline(parse(print_graph(graph), graph.constants))
    inputs = example_inputs(graph)
    want, want_error = outcome(lambda: interpret(graph, inputs, np.random.default_rng(3)))
    got, got_error = outcome(lambda: Plan(graph)(inputs, np.random.default_rng(3)))
    if want_error or got_error:
        assert type(got_error) is type(want_error), (
            f"interpreter {want_error!r}, compiled {got_error!r} on\n{print_graph(graph)}")
        return
    for w, g in zip(want, got):
        assert (w.dtype, w.shape) == (g.dtype, g.shape), f"{w.dtype}{w.shape}, {g.dtype}{g.shape}"
        if w.dtype.kind == "f":
            with np.errstate(all="ignore"):
                np.testing.assert_allclose(g, w, rtol=TOL[w.dtype.name], atol=TOL[w.dtype.name],
                                           equal_nan=True, err_msg=print_graph(graph))
        else:
            np.testing.assert_array_equal(g, w, err_msg=print_graph(graph))


@SETTINGS
@given(graph=graphs(max_ops=8))
def test_random_graphs_compiled_match_the_interpreter(graph):
    check(graph)


@SETTINGS
@given(graph=fusion_graphs())
def test_fusion_graphs_compiled_match_the_interpreter(graph):
    check(graph)
