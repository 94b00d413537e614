"""The deliberate differences from torch that the fuzzer skips, each by name, with the README
("Differences from PyTorch") bullet it stands for. Everything not matched here counts.

A predicate sees the program, the mode and the outcome dict ({"outcome", "detail", "sig"}) and
must match only that difference: keep this list short, and never add a bug to it."""

from __future__ import annotations


def _graph_file_size_guard(prog, mode: str, res: dict) -> bool:
    return (mode == "saveload" and res["outcome"] == "raised"
            and res["detail"].startswith("RuntimeError: the size of a data-dependent dim")
            and "baked that size in and cannot trace again" in res["detail"])


def _float64_var(prog, mode: str, res: dict) -> bool:
    if res["outcome"] != "mismatch" or res["sig"] not in ("values var", "values std"):
        return False
    torch_side = res["detail"].split("torch ", 1)[-1].split(",")[0]
    return "inf" in torch_side or "nan" in torch_side  # torch overflowed, tracejit did not


DIFFERENCES: dict[str, tuple[str, callable]] = {
    # A graph file cannot trace again: reading a data-dependent size (squeeze, a dim of
    # x[mask]) is a guard that raises, naming the line, when a call's size differs.
    "graph-file-size-guard": (
        "Tracing is abstract ... with `strict=True` or from a graph file it raises an error "
        "naming the line", _graph_file_size_guard),
    # var/std of float32 accumulate in float64, so huge values do not overflow as torch's
    # float32 mean does (FINDINGS.md F7).
    "float64-var": (
        "`var`/`std` of float32 accumulate in float64 throughout, so `var` of huge equal values",
        _float64_var),
}


def match(prog, mode: str, res: dict) -> str | None:
    """The name of the deliberate difference `res` is, or None."""
    for name, (_bullet, pred) in DIFFERENCES.items():
        if pred(prog, mode, res):
            return name
    return None
