"""Optimized graphs by the captured graph's text hash: the pass pipeline runs once per graph on
this machine, and a later trace of the same graph, in this process or another, parses the result.

An entry is the optimized graph's IR text (parsed back with `ir.parser.parse`; never pickle),
stored in the compile cache (cache.py: memory and disk layers, atomic writes, checksums, the
size bound) under `cache.key(captured text, extra=...)`. Besides the text (source locations
included) and what `cache.key` always hashes (host, llvmlite and tracejit versions), the key
holds the entry kind, the pipeline, the named constants' data, numpy's version (folding runs
numpy) and a digest of the source of tracejit's IR and passes, so editing a pass invalidates.

A hit must parse, match the captured graph's input and output types and verify; otherwise the
pipeline runs and the entry is rewritten. Not cached: graphs whose named constants exceed
CONSTANT_BYTES (hashing them would cost more than the passes), pipelines with passes
registered outside tracejit.passes, and results that hold constants the pipeline computed (the
text names them but does not hold their data).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os

import numpy as np

from tracejit.ir.graph import Graph
from tracejit.ir.parser import parse
from tracejit.ir.printer import print_graph
from tracejit.ir.verifier import verify
from tracejit.passes import PASSES, parse_pipeline, run_pipeline
from tracejit.passes.pipeline import ir_log, pass_log

from . import cache

KIND = "optimized-graph-v1"
CONSTANT_BYTES = 1 << 20
stats = {"hits": 0, "misses": 0, "rejected": 0, "uncached": 0}


def optimize(graph: Graph, pipeline: str) -> Graph:
    """A copy of `graph` after `pipeline`: from the cache when this graph was optimized before."""
    text = print_graph(graph)
    graph_key = entry_key(graph, text, pipeline)
    if graph_key is None:
        stats["uncached"] += 1
        return run_pipeline(parse(text, graph.constants), pipeline)
    store = cache.default_cache()
    # someone watching the passes run (TRACEJIT_LOG=passes,ir) sees them run
    watching = pass_log.isEnabledFor(logging.INFO) or ir_log.isEnabledFor(logging.INFO)
    payload = None if watching else store.get(graph_key)
    if payload is not None:
        optimized = _load(payload, graph)
        if optimized is not None:
            stats["hits"] += 1
            return optimized
        stats["rejected"] += 1
    stats["misses"] += 1
    optimized = run_pipeline(parse(text, graph.constants), pipeline)
    if all(graph.constants.get(n) is a for n, a in optimized.constants.items()):
        store.put(graph_key, print_graph(optimized).encode())
    return optimized


def entry_key(graph: Graph, text: str, pipeline: str) -> str | None:
    """The cache key of `graph` (printed as `text`) after `pipeline`; None when not cached."""
    names = parse_pipeline(pipeline)
    if not names or any(not PASSES[n].__module__.startswith("tracejit.passes.") for n in names):
        return None
    if sum(a.nbytes for a in graph.constants.values()) > CONSTANT_BYTES:
        return None
    return cache.key(text, extra=(KIND, ",".join(names), _constants_digest(graph),
                                  np.__version__, source_digest()))


def _constants_digest(graph: Graph) -> str:
    digest = hashlib.sha256()
    for name in sorted(graph.constants):
        array = np.ascontiguousarray(graph.constants[name])
        digest.update(repr((name, array.dtype.str, array.shape)).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


@functools.cache
def source_digest() -> str:
    """SHA-256 of the source files of tracejit.ir and tracejit.passes (~0.5 ms, once)."""
    import tracejit.ir
    import tracejit.passes

    digest = hashlib.sha256()
    for package in (tracejit.ir, tracejit.passes):
        folder = os.path.dirname(package.__file__)
        for name in sorted(n for n in os.listdir(folder) if n.endswith(".py")):
            with open(os.path.join(folder, name), "rb") as f:
                digest.update(name.encode() + b"\0" + f.read() + b"\0")
    return digest.hexdigest()


def _load(payload: bytes, graph: Graph) -> Graph | None:
    """The optimized graph an entry holds, or None if it does not fit `graph`."""
    try:
        optimized = parse(payload.decode(), graph.constants)
        if optimized.input_types != graph.input_types or \
                optimized.output_types != graph.output_types:
            return None
        verify(optimized)  # a cache entry is input like any file: checked, then stamped
    except (ValueError, RecursionError):  # Parse/VerifyError, UnicodeDecodeError, deep nesting
        return None
    return optimized
