"""docs/ir.md is checked: its IR examples parse, verify and are in canonical printed form, its
error examples fail with the message shown, and its Python example runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tracejit.ir.parser import ParseError, parse
from tracejit.ir.printer import print_graph
from tracejit.ir.verifier import VerifyError, verify

DOC = Path(__file__).resolve().parents[1] / "docs" / "ir.md"
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def fenced_blocks() -> list[tuple[str, str, int]]:
    """(tag, text, line) of every fenced block of the doc, in order."""
    doc = DOC.read_text(encoding="utf-8")
    return [(m[1], m[2], doc.count("\n", 0, m.start()) + 1) for m in FENCE.finditer(doc)]


BLOCKS = fenced_blocks()


def tagged(tag: str) -> list:
    """pytest params of the blocks tagged `tag`, each with the block after it (or None)."""
    params = []
    for k, (t, text, line) in enumerate(BLOCKS):
        if t == tag:
            after = BLOCKS[k + 1] if k + 1 < len(BLOCKS) else None
            params.append(pytest.param(text, after, id=f"line{line}"))
    return params


def test_the_doc_has_examples_of_every_kind():
    tags = [tag for tag, _, _ in BLOCKS]
    assert tags.count("tracejit-ir") >= 6
    assert tags.count("tracejit-ir-error") >= 2
    assert "tracejit-ir-input" in tags and "python" in tags


@pytest.mark.parametrize(("text", "after"), tagged("tracejit-ir"))
def test_ir_example_is_canonical_and_verifies(text, after):
    graph = verify(parse(text))
    assert print_graph(graph) == text


@pytest.mark.parametrize(("text", "after"), tagged("tracejit-ir-input"))
def test_ir_input_example_prints_as_the_block_after_it(text, after):
    assert after is not None and after[0] == "tracejit-ir"
    assert print_graph(verify(parse(text))) == after[1]


@pytest.mark.parametrize(("text", "after"), tagged("tracejit-ir-error"))
def test_ir_error_example_fails_with_the_message_shown(text, after):
    with pytest.raises((ParseError, VerifyError)) as info:
        verify(parse(text))
    if after is not None and after[0] == "text":
        assert str(info.value) + "\n" == after[1]


@pytest.mark.parametrize(("text", "after"), tagged("python"))
def test_python_example_runs(text, after):
    assert "\nassert " in text, "a Python example checks what it shows"
    exec(compile(text, str(DOC), "exec"), {})
