"""tracejit's benchmark harness: `python -m bench` (peers measured side by side, one process)."""
