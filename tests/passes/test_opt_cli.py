"""`tracejit-opt` as a user runs it: input from stdin or a file, `-o`, the flags, and every
error path with its exit code and message. Runs `tracejit.opt.main` in-process, and the
installed command once as a subprocess."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_pipeline import AFTER_DCE, TEXT  # a graph with a dead op, and it after dce

from tracejit.opt import main

# defines %0 and %1 again: only valid as a separate input
SECOND = """\
graph @h(%y: float64[2]) -> (float64[2]) {
  %0 = abs(%y) : float64[2]
  %1 = abs(%0) : float64[2]
  return(%1)
}
"""
KNOWN = "control, cse, dce, decompose, fold, fuse, simplify"


def opt(monkeypatch, capsys, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `tracejit-opt argv...` with `stdin` as its input."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- input and output -----------------------------------------------------------------------------
def test_stdin_without_passes_prints_the_graph(monkeypatch, capsys):
    assert opt(monkeypatch, capsys, stdin=TEXT) == (0, TEXT, "")


def test_stdin_dash(monkeypatch, capsys):
    assert opt(monkeypatch, capsys, "-", "-p", "dce", stdin=TEXT) == (0, AFTER_DCE, "")


def test_file_input(monkeypatch, capsys, tmp_path):
    path = tmp_path / "g.ir"
    path.write_text(TEXT)
    assert opt(monkeypatch, capsys, str(path), "--pipeline", "dce") == (0, AFTER_DCE, "")


def test_output_file(monkeypatch, capsys, tmp_path):
    path = tmp_path / "out.ir"
    assert opt(monkeypatch, capsys, "-p", "dce", "-o", str(path), stdin=TEXT) == (0, "", "")
    assert path.read_text() == AFTER_DCE


def test_print_between_passes(monkeypatch, capsys):
    code, out, err = opt(monkeypatch, capsys, "-p", "cse,dce", "--print-between-passes",
                         stdin=TEXT)
    assert (code, err) == (0, "")
    after_cse = out.index("// -----// IR after cse //----- //\n")
    after_dce = out.index("// -----// IR after dce //----- //\n")
    assert after_cse < after_dce
    assert out[after_cse:].split("\n", 1)[1].startswith(TEXT)  # cse changes nothing here
    assert out[after_dce:].split("\n", 1)[1].startswith(AFTER_DCE)
    assert out.endswith(AFTER_DCE)  # then the result, as without the flag
    assert out.count("IR after") == 2


def test_split_input_file(monkeypatch, capsys):
    stdin = TEXT + "// -----\n" + SECOND
    code, out, err = opt(monkeypatch, capsys, "--split-input-file", "-p", "simplify,dce",
                         stdin=stdin)
    assert (code, err) == (0, "")
    assert out == AFTER_DCE + "// -----\n" + (
        "graph @h(%y: float64[2]) -> (float64[2]) {\n"
        "  %0 = abs(%y) : float64[2]\n"  # abs(abs(y)) -> abs(y)
        "  return(%0)\n"
        "}\n")


def test_split_input_file_errors_give_the_line_in_the_file(monkeypatch, capsys):
    # TEXT is lines 1-5, the separator line 6, SECOND lines 7-11: abs(%z) is on line 9
    stdin = TEXT + "// -----\n" + SECOND.replace("abs(%0)", "abs(%z)")
    assert opt(monkeypatch, capsys, "--split-input-file", stdin=stdin) == (
        1, "", "<stdin> (input 2):9:12: error: value %z is used before it is defined (or out of "
               "scope)\n"
               "    %1 = abs(%z) : float64[2]\n"
               "             ^\n")


def test_without_split_input_file_the_separator_is_a_comment(monkeypatch, capsys):
    code, out, err = opt(monkeypatch, capsys, stdin=TEXT + "// -----\n" + SECOND)
    assert (code, out) == (1, "")
    assert err == ("<stdin>:7:1: error: expected end of input after the graph's closing '}', "
                   "found 'graph'\n"
                   "  graph @h(%y: float64[2]) -> (float64[2]) {\n"
                   "  ^\n")


# --- errors ---------------------------------------------------------------------------------------
def test_unknown_pass(monkeypatch, capsys):
    assert opt(monkeypatch, capsys, "-p", "dce,bogus", stdin=TEXT) == (
        2, "", f"tracejit-opt: unknown pass 'bogus' in pipeline 'dce,bogus'; known passes: "
               f"{KNOWN}\n")


def test_missing_file(monkeypatch, capsys, tmp_path):
    path = tmp_path / "missing.ir"
    assert opt(monkeypatch, capsys, str(path)) == (
        2, "", f"tracejit-opt: cannot read {path}: {os.strerror(errno.ENOENT)}\n")


def test_parse_error(monkeypatch, capsys):
    text = TEXT.replace("exp(%x)", "exp(%y)")
    assert opt(monkeypatch, capsys, "-p", "dce", stdin=text) == (
        1, "", "<stdin>:2:12: error: value %y is used before it is defined (or out of scope)\n"
               "    %0 = exp(%y) : float32[4]\n"
               "             ^\n")


def test_parse_error_names_the_file(monkeypatch, capsys, tmp_path):
    path = tmp_path / "bad.ir"
    path.write_text(TEXT.replace("neg(", "frobnicate("))
    code, out, err = opt(monkeypatch, capsys, str(path))
    assert (code, out) == (1, "")
    assert err.startswith(f"{path}:3:8: error: unknown op 'frobnicate'\n")


def test_verify_error(monkeypatch, capsys):
    text = TEXT.replace("%0 = exp(%x) : float32[4]", "%0 = exp(%x) : int64[4]")
    assert opt(monkeypatch, capsys, stdin=text) == (
        1, "", "error: result types (int64[4]) differ from what exp gives (float32[4])\n"
               "  %0 = exp(%x) : int64[4]\n")


def test_unknown_flag_is_a_usage_error(monkeypatch, capsys):
    with pytest.raises(SystemExit) as info:
        opt(monkeypatch, capsys, "--no-such-flag")
    assert info.value.code == 2
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


# --- --verify-diagnostics -------------------------------------------------------------------------
UNDEFINED = """\
graph @g(%x: float32[4]) -> (float32[4]) {
  // expected-error {{EXPECTED}}
  %0 = exp(%y) : float32[4]
  return(%0)
}
"""
UNDEFINED_ERROR = ("<stdin>:3:12: error: value %y is used before it is defined (or out of scope)"
                   "\n    %0 = exp(%y) : float32[4]\n             ^")
BAD_TYPE = """\
graph @g(%x: float32[4]) -> (float32[4]) {
  // expected-error {{differ from what exp gives}}
  %0 = exp(%x) : int64[4]
  %1 = cast(%0) {dtype = float32} : float32[4]
  return(%1)
}
"""


def test_verify_diagnostics_success(monkeypatch, capsys):
    stdin = UNDEFINED.replace("EXPECTED", "%y is used before") + "// -----\n" + BAD_TYPE
    assert opt(monkeypatch, capsys, "--split-input-file", "--verify-diagnostics", "-p", "dce",
               stdin=stdin) == (
        0, "// expected error seen: %y is used before\n// -----\n"
           "// expected error seen: differ from what exp gives\n", "")


def test_verify_diagnostics_without_an_expected_error(monkeypatch, capsys):
    stdin = BAD_TYPE + "// -----\n" + TEXT
    code, out, err = opt(monkeypatch, capsys, "--split-input-file", "--verify-diagnostics",
                         stdin=stdin)
    assert (code, out) == (1, "// expected error seen: differ from what exp gives\n")
    assert err == ("<stdin> (input 2): needs exactly one '// expected-error {{...}}' "
                   "comment\n")


def test_verify_diagnostics_with_two_expected_errors(monkeypatch, capsys):
    stdin = BAD_TYPE.replace("  %0", "  // expected-error {{another}}\n  %0")
    assert opt(monkeypatch, capsys, "--verify-diagnostics", stdin=stdin) == (
        1, "", "<stdin>: needs exactly one '// expected-error {{...}}' comment\n")


def test_verify_diagnostics_with_the_wrong_message(monkeypatch, capsys):
    stdin = UNDEFINED.replace("EXPECTED", "is not defined")
    assert opt(monkeypatch, capsys, "--verify-diagnostics", stdin=stdin) == (
        1, "", f"<stdin>: expected error containing 'is not defined', got:\n{UNDEFINED_ERROR}\n")


def test_verify_diagnostics_without_an_error(monkeypatch, capsys):
    stdin = TEXT.replace("  %0", "  // expected-error {{some error}}\n  %0")
    assert opt(monkeypatch, capsys, "--verify-diagnostics", stdin=stdin) == (
        1, "", "<stdin>: expected error containing 'some error', but there was none\n")


def test_verify_diagnostics_checks_every_input(monkeypatch, capsys):
    # a failure does not stop the inputs after it; each is reported, and the exit code is 1
    stdin = "// -----\n".join([TEXT.replace("  %0", "  // expected-error {{first}}\n  %0"),
                               BAD_TYPE,
                               UNDEFINED.replace("EXPECTED", "third")])
    code, out, err = opt(monkeypatch, capsys, "--split-input-file", "--verify-diagnostics",
                         stdin=stdin)
    assert code == 1
    assert out == "// expected error seen: differ from what exp gives\n"
    # the error's line is the file's: input 1 has 6 lines, a separator, 6, a separator, then
    # exp(%y) on the third line of input 3
    assert err == ("<stdin> (input 1): expected error containing 'first', but there was none\n"
                   "<stdin> (input 3): expected error containing 'third', got:\n"
                   + UNDEFINED_ERROR.replace("<stdin>:3:12:", "<stdin> (input 3):17:12:") + "\n")


# --- --fast-math ----------------------------------------------------------------------------------
TIMES_ZERO = """\
graph @g(%x: float32[4]) -> (float32[4]) {
  %z = constant() {value = dense<float32[]: 0.0>} : float32[]
  %0 = mul(%x, %z) : float32[4]
  return(%0)
}
"""


def test_fast_math(monkeypatch, capsys):
    # x * 0 is NaN for x = inf: only fast math turns it into zeros
    assert opt(monkeypatch, capsys, "-p", "simplify,dce", stdin=TIMES_ZERO) == (0, TIMES_ZERO, "")
    assert opt(monkeypatch, capsys, "-p", "simplify,dce", "--fast-math", stdin=TIMES_ZERO) == (
        0, "graph @g(%x: float32[4]) -> (float32[4]) {\n"
           "  %0 = full() {shape = [4], value = 0, dtype = float32} : float32[4]\n"
           "  return(%0)\n"
           "}\n", "")


# --- the installed command ------------------------------------------------------------------------
def test_installed_command(tmp_path):
    command = Path(sys.executable).parent / "tracejit-opt"
    path = tmp_path / "g.ir"
    path.write_text(TEXT)
    done = subprocess.run([str(command), str(path), "-p", "dce"], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, AFTER_DCE, "")
    done = subprocess.run([str(command), "-p", "nope"], input=TEXT, capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"tracejit-opt: unknown pass 'nope' in pipeline 'nope'; known passes: " \
                          f"{KNOWN}\n"
