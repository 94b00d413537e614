"""Test-suite setup: every eager result is checked against its op's shape rule."""

import os

# Read by tracejit.dispatch at import time, so set before any test imports tracejit.
os.environ.setdefault("TRACEJIT_CHECKS", "1")
