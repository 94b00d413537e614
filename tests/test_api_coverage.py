"""docs/api-coverage.md is generated from torch 2.13 (the oracle) and this checkout by
tools/api_coverage.py; it must match what the script writes now."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("api_coverage", ROOT / "tools/api_coverage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_coverage_page_is_current():
    tool = _tool()
    current = tool.OUTPUT.read_text(encoding="utf-8")
    assert current == tool.render(), (
        "docs/api-coverage.md is stale: run `python tools/api_coverage.py` and commit it")


def test_rules_classify_known_names():
    tool = _tool()
    import torch

    import tracejit
    assert tool.status("add", torch, tracejit) == ("implemented", "")
    assert tool.status("sparse_coo_tensor", torch, tracejit)[0] == "out of scope"
    assert tool.status("view_as_complex", torch, tracejit)[0] == "out of scope"
    assert tool.status("quantize_per_tensor", torch, tracejit)[0] == "out of scope"
    # a name no rule excuses is missing, never silently out of scope
    assert tool.status("definitely_not_a_torch_name", torch, tracejit) == ("missing", "")
