"""The pass registry and the pipeline that runs passes by name: `"dce,cse,fold,simplify,fuse"`.

Each pass is a function `(graph, options) -> bool` (whether it changed the graph) registered
under a kebab-case name with `@register`. With checks on (`TRACEJIT_CHECKS=1`, always set by
the test suite) the verifier runs after every pass. `TRACEJIT_LOG=passes` logs each pass with
its time and op counts; `TRACEJIT_LOG=ir` logs the IR after each pass.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from tracejit.ir.graph import Graph
from tracejit.ir.verifier import VerifyError, verify

from .rewrite import Options

Pass = Callable[[Graph, Options], bool]
PASSES: dict[str, Pass] = {}
DEFAULT_PIPELINE = "simplify,fold,control,cse,dce,decompose,simplify,fold,cse,dce,fuse,dce"

pass_log = logging.getLogger("tracejit.passes")
ir_log = logging.getLogger("tracejit.ir")


def register(name: str) -> Callable[[Pass], Pass]:
    """Register a pass under `name` (kebab-case) for pipeline strings."""
    def wrap(fn: Pass) -> Pass:
        if name in PASSES:
            raise ValueError(f"pass '{name}' is registered twice")
        PASSES[name] = fn
        return fn
    return wrap


def parse_pipeline(pipeline: str) -> list[str]:
    """The pass names in `pipeline` ("a,b,c"); ValueError naming an unknown one."""
    names = [n.strip() for n in pipeline.split(",") if n.strip()]
    for name in names:
        if name not in PASSES:
            raise ValueError(f"unknown pass '{name}' in pipeline '{pipeline}'; known passes: "
                             f"{', '.join(sorted(PASSES))}")
    return names


def checks_enabled() -> bool:
    return os.environ.get("TRACEJIT_CHECKS", "") not in ("", "0")


def run_pipeline(graph: Graph, pipeline: str = DEFAULT_PIPELINE, options: Options | None = None,
                 *, verify_each: bool | None = None,
                 after_pass: Callable[[str, Graph], None] | None = None) -> Graph:
    """Run the passes of `pipeline` on `graph` in place; returns `graph`."""
    options = options or Options()
    verify_each = checks_enabled() if verify_each is None else verify_each
    for name in parse_pipeline(pipeline):
        before = graph.op_count()
        start = time.perf_counter()
        changed = PASSES[name](graph, options)
        ms = (time.perf_counter() - start) * 1e3
        pass_log.info("%s: %.2f ms, %d -> %d ops%s", name, ms, before, graph.op_count(),
                      "" if changed else " (no change)")
        if ir_log.isEnabledFor(logging.INFO):
            ir_log.info("after %s:\n%s", name, graph)
        if verify_each:
            try:
                verify(graph)
            except VerifyError as e:
                raise VerifyError(f"after pass '{name}': {e}") from None
        if after_pass is not None:
            after_pass(name, graph)
    return graph
