"""The pass registry and pipeline: pipeline strings and their errors, registration, the
verifier after each pass, the after-pass hook, and the logs (`tracejit.passes` and
`tracejit.ir`, switched on by TRACEJIT_LOG)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys

import pytest

from tracejit.ir import DType, TensorType
from tracejit.ir.graph import Graph
from tracejit.ir.parser import parse
from tracejit.ir.verifier import VerifyError, verify
from tracejit.logs import configure
from tracejit.passes import DEFAULT_PIPELINE, PASSES, parse_pipeline, register, run_pipeline

BUILT_IN = ["control", "cse", "dce", "decompose", "fold", "fuse", "simplify"]

# exp(%x) is dead: dce takes the graph from 2 ops to 1
TEXT = """\
graph @g(%x: float32[4]) -> (float32[4]) {
  %0 = exp(%x) : float32[4]
  %1 = neg(%x) : float32[4]
  return(%1)
}
"""
AFTER_DCE = """\
graph @g(%x: float32[4]) -> (float32[4]) {
  %0 = neg(%x) : float32[4]
  return(%0)
}
"""


def graph() -> Graph:
    return verify(parse(TEXT))


@pytest.fixture
def toy_pass():
    """Registers passes under unique test names; removes them from PASSES afterwards."""
    names = []

    def add(name, fn):
        names.append(name)
        register(name)(fn)

    yield add
    for name in names:
        PASSES.pop(name, None)


# --- pipeline strings -----------------------------------------------------------------------------
def test_the_built_in_passes_are_registered():
    assert sorted(PASSES) == BUILT_IN


def test_parse_pipeline_splits_and_strips():
    assert parse_pipeline("dce, cse ,dce") == ["dce", "cse", "dce"]


@pytest.mark.parametrize("pipeline", ["", " ", ",", " , ,"])
def test_empty_pipeline(pipeline):
    assert parse_pipeline(pipeline) == []
    g = graph()
    assert run_pipeline(g, pipeline) is g
    assert str(g) == TEXT


def test_unknown_pass():
    with pytest.raises(ValueError) as info:
        parse_pipeline("dce,no-such-pass,cse")
    assert str(info.value) == ("unknown pass 'no-such-pass' in pipeline 'dce,no-such-pass,cse'; "
                               "known passes: control, cse, dce, decompose, fold, fuse, simplify")


def test_unknown_pass_runs_nothing():
    g = graph()
    with pytest.raises(ValueError, match=r"^unknown pass 'nope'"):
        run_pipeline(g, "dce,nope")
    assert str(g) == TEXT  # the whole pipeline is checked before the first pass runs


def test_default_pipeline_names_only_registered_passes():
    names = [n.strip() for n in DEFAULT_PIPELINE.split(",")]
    assert names and all(name in PASSES for name in names)
    assert parse_pipeline(DEFAULT_PIPELINE) == names


def test_default_pipeline_runs():
    g = graph()
    assert run_pipeline(g) is g
    assert str(verify(g)) == AFTER_DCE  # dead exp gone; a lone neg makes no fused group


# --- registration -------------------------------------------------------------------------------
def test_registering_a_name_twice_is_an_error():
    dce = PASSES["dce"]
    with pytest.raises(ValueError) as info:
        register("dce")(lambda graph, options: False)
    assert str(info.value) == "pass 'dce' is registered twice"
    assert PASSES["dce"] is dce


def test_registered_pass_runs_by_name(toy_pass):
    seen = []
    toy_pass("test-record", lambda graph, options: seen.append(options.fast_math) or False)
    run_pipeline(graph(), "test-record,test-record")
    assert seen == [False, False]


# --- verification after each pass -----------------------------------------------------------------
def break_types(graph: Graph, options) -> bool:
    """A broken pass: gives exp an int64 result (the verifier must catch it)."""
    exp = graph.body.ops[0]
    exp.results[0].type = TensorType(DType.int64, (4,))
    return True


BROKEN = ("after pass 'test-break-types': error: result types (int64[4]) differ from what exp "
          "gives (float32[4])\n  %0 = exp(%x) : int64[4]")


def test_verify_after_each_pass_names_the_pass(toy_pass):
    toy_pass("test-break-types", break_types)
    with pytest.raises(VerifyError) as info:
        run_pipeline(graph(), "cse,test-break-types,dce", verify_each=True)
    assert str(info.value) == BROKEN


def test_verify_after_each_pass_follows_tracejit_checks(toy_pass, monkeypatch):
    toy_pass("test-break-types", break_types)
    monkeypatch.setenv("TRACEJIT_CHECKS", "1")
    with pytest.raises(VerifyError, match=r"^after pass 'test-break-types': "):
        run_pipeline(graph(), "test-break-types")
    monkeypatch.setenv("TRACEJIT_CHECKS", "0")
    run_pipeline(graph(), "test-break-types")  # no checks: the broken graph goes through


def test_verify_each_false_skips_the_verifier(toy_pass):
    toy_pass("test-break-types", break_types)
    g = run_pipeline(graph(), "test-break-types", verify_each=False)
    with pytest.raises(VerifyError):
        verify(g)


def test_after_pass_sees_each_pass_in_order():
    seen = []
    run_pipeline(graph(), "cse,dce,cse",
                 after_pass=lambda name, g: seen.append((name, g.op_count(), str(g))))
    assert seen == [("cse", 2, TEXT), ("dce", 1, AFTER_DCE), ("cse", 1, AFTER_DCE)]


def test_after_pass_runs_after_the_verifier(toy_pass):
    toy_pass("test-break-types", break_types)
    seen = []
    with pytest.raises(VerifyError):
        run_pipeline(graph(), "test-break-types", verify_each=True,
                     after_pass=lambda name, g: seen.append(name))
    assert seen == []


# --- logging ------------------------------------------------------------------------------------
PASS_LINE = r"(?P<name>[a-z-]+): (?P<ms>\d+\.\d\d) ms, (?P<before>\d+) -> (?P<after>\d+) ops"


def test_pass_log_lines(caplog):
    caplog.set_level(logging.INFO, logger="tracejit.passes")
    run_pipeline(graph(), "dce,cse")
    lines = [r.getMessage() for r in caplog.records if r.name == "tracejit.passes"]
    assert len(lines) == 2
    dce, cse = (re.fullmatch(PASS_LINE + r"(?P<note>.*)", line) for line in lines)
    assert (dce["name"], dce["before"], dce["after"], dce["note"]) == ("dce", "2", "1", "")
    assert (cse["name"], cse["before"], cse["after"], cse["note"]) == (
        "cse", "1", "1", " (no change)")


def test_ir_log_shows_the_ir_after_each_pass(caplog):
    caplog.set_level(logging.INFO, logger="tracejit.ir")
    run_pipeline(graph(), "dce,cse")
    messages = [r.getMessage() for r in caplog.records if r.name == "tracejit.ir"]
    assert messages == [f"after dce:\n{AFTER_DCE}", f"after cse:\n{AFTER_DCE}"]


RUN_DCE = f"""
from tracejit.ir.parser import parse
from tracejit.passes import run_pipeline
run_pipeline(parse({TEXT!r}), "dce")
"""


def run_python(code: str, log: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRACEJIT_LOG": log}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=60)


def test_tracejit_log_switch_prints_passes_and_ir():
    done = run_python(RUN_DCE, "passes,ir")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    first, rest = done.stderr.split("\n", 1)
    assert re.fullmatch(r"\[tracejit\.passes\] " + PASS_LINE, first)
    assert first.startswith("[tracejit.passes] dce: ") and first.endswith(" 2 -> 1 ops")
    # the handler ends the record with a newline after the graph's own: a blank line follows
    assert rest == f"[tracejit.ir] after dce:\n{AFTER_DCE}\n"


def test_logs_are_quiet_without_tracejit_log():
    done = run_python(RUN_DCE, "")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_tracejit_log_with_an_unknown_channel_warns():
    done = run_python(RUN_DCE, "passes,bogus")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == ("tracejit: TRACEJIT_LOG names unknown channel(s) bogus; known: "
                        "recompiles, graph, passes, ir, graph_breaks, guards, all")
    assert lines[1].startswith("[tracejit.passes] dce: ")  # the known channel still works
    assert len(lines) == 2


def test_configure_warns_about_unknown_channels(capsys):
    assert configure("nope, other") == []
    assert capsys.readouterr().err == (
        "tracejit: TRACEJIT_LOG names unknown channel(s) nope, other; known: recompiles, graph, "
        "passes, ir, graph_breaks, guards, all\n")
