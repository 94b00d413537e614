"""The deliberate differences from torch that the fuzzer skips, each by name, with the README
("Differences from PyTorch") bullet it stands for. Everything not matched here counts.

A predicate sees the program, the mode and the outcome dict ({"outcome", "detail", "sig"}) and
must match only that difference: keep this list short, and never add a bug to it."""

from __future__ import annotations


def _graph_file_size_guard(prog, mode: str, res: dict) -> bool:
    return (mode == "saveload" and res["outcome"] == "raised"
            and res["detail"].startswith("RuntimeError: the size of a data-dependent dim")
            and "baked that size in and cannot trace again" in res["detail"])


def _expanded_index_write(prog, mode: str, res: dict) -> bool:
    return (res["outcome"] == "raised" and "RuntimeError" in res["detail"]
            and "the written-to tensor is read-only (an expanded view" in res["detail"]
            and any("> 0] = " in s.code for s in prog.stmts))  # a mask write


DIFFERENCES: dict[str, tuple[str, callable]] = {
    # A graph file cannot trace again: reading a data-dependent size (squeeze, a dim of
    # x[mask]) is a guard that raises, naming the line, when a call's size differs.
    "graph-file-size-guard": (
        "Tracing is abstract ... with `strict=True` or from a graph file it raises an error "
        "naming the line", _graph_file_size_guard),
    # torch deprecates index_put_/masked_fill_ on an expanded tensor but still writes.
    "expanded-index-write": (
        "An advanced-index write into an expanded tensor (`x.expand(4)[mask] = v`), which torch "
        "still performs with a deprecation warning, raises RuntimeError (clone() first).",
        _expanded_index_write),
}


def match(prog, mode: str, res: dict) -> str | None:
    """The name of the deliberate difference `res` is, or None."""
    for name, (_bullet, pred) in DIFFERENCES.items():
        if pred(prog, mode, res):
            return name
    return None
