"""docs/getting-started.md runs: its ```python blocks execute in order in one namespace (each
block's asserts are the checks), and the commands it shows exist."""

from __future__ import annotations

import linecache
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "getting-started.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def test_getting_started_examples_run(capsys):
    text = DOC.read_text(encoding="utf-8")
    blocks = [m[2] for m in FENCE.finditer(text) if m[1] == "python"]
    assert len(blocks) >= 6
    namespace: dict = {"__name__": "getting_started"}
    for k, block in enumerate(blocks):
        name = f"<{DOC.name}: python block {k + 1}>"
        # script reads a function's source: register the block as that "file"'s lines
        linecache.cache[name] = (len(block), None, block.splitlines(True), name)
        exec(compile(block, name, "exec"), namespace)
    printed = capsys.readouterr().out
    # the outputs the page shows in comments are what the blocks print
    assert "tracejit.Size([2, 4]) tracejit.float32" in printed
    assert "[(4, 3), (4, 3), (2, 3)]" in printed


def test_getting_started_commands_exist():
    from tracejit.cli import build_parser

    shell = "".join(m[2] for m in FENCE.finditer(DOC.read_text(encoding="utf-8")) if not m[1])
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert re.findall(r"^tracejit (\w+)", shell, re.MULTILINE) == ["demo"]
    for command in re.findall(r"^tracejit (\w+)", shell, re.MULTILINE):
        assert command in commands, command
