"""Test-suite setup: every eager result is checked against its op's shape rule, compiled
kernels go to a compile cache of this run's own (never the user's), and CI never runs without
the PyTorch oracle."""

import os
import tempfile

import pytest

# Read by tracejit.dispatch at import time, so set before any test imports tracejit.
os.environ.setdefault("TRACEJIT_CHECKS", "1")
os.environ.setdefault("TRACEJIT_CACHE_DIR", tempfile.mkdtemp(prefix="tracejit-test-cache-"))


def pytest_configure(config):
    if os.environ.get("CI", "") not in ("", "0", "false"):
        try:
            import torch  # noqa: F401
        except ImportError as e:
            raise pytest.UsageError(
                f"CI needs the PyTorch oracle, torch==2.13.0 from the test extra "
                f"(pip install -e '.[test]'), and it cannot be imported: {e}"
            ) from e


def pytest_report_header(config):
    try:
        import torch
    except ImportError:
        return "PyTorch oracle: not installed (oracle tests will fail to import)"
    return f"PyTorch oracle: torch {torch.__version__}"
