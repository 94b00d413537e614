"""API-level differential fuzzer: random programs over the public Tensor/functional API, run
with torch and with tracejit in eager, trace, script and save/load modes, compared, and every
failure shrunk to a minimal standalone repro. Usage in tests/fuzz/README.md."""
