"""tracejit.passes: graph-to-graph optimizations, registered by name and run by a pipeline.

    from tracejit.passes import run_pipeline
    run_pipeline(graph, "simplify,fold,cse,dce,fuse")

See pipeline.py for the registry, logging and per-pass verification, and each pass's module
docstring for what it guarantees.
"""

from . import control, cse, dce, decompose, fold, fuse, simplify  # noqa: F401  (register the passes)
from .fusion_policy import can_fuse
from .pipeline import DEFAULT_PIPELINE, PASSES, parse_pipeline, register, run_pipeline
from .rewrite import Options

__all__ = ["DEFAULT_PIPELINE", "PASSES", "Options", "can_fuse", "parse_pipeline", "register",
           "run_pipeline"]
