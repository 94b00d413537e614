"""The training examples of the README and docs/training.md run as written, and train: the
loss on their fixed batch falls below the chance level of 3 classes (log 3)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def _examples() -> list:
    readme = ROOT.joinpath("README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Training"):readme.index("## Porting PyTorch code")]
    training = ROOT.joinpath("docs", "training.md").read_text(encoding="utf-8")
    return [pytest.param(FENCE.findall(section)[0], id="README"),
            pytest.param(FENCE.findall(training)[0], id="docs-training")]


@pytest.mark.parametrize("code", _examples())
def test_training_example_trains(code, capsys):
    import tracejit

    tracejit.manual_seed(0)
    namespace: dict = {}
    exec(compile(code, "<example>", "exec"), namespace)
    loss = namespace["loss"].item()
    assert math.isfinite(loss) and loss < math.log(3)
    assert "import tracejit as torch" in code
