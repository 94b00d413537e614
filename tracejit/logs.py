"""Debug logging switched on by the environment: `TRACEJIT_LOG=recompiles,graph` (or `all`).

Each name is a child of the `tracejit` logger (`tracejit.recompiles`, `tracejit.graph`,
`tracejit.passes`, ...); the switch sets it to INFO and prints it to stderr. Everything goes
through stdlib logging, so applications can route these loggers as they like instead.
"""

from __future__ import annotations

import logging
import os
import sys

CHANNELS = {
    "recompiles": "a traced callable traces again for a new input signature",
    "graph": "the graph each trace captures",
    "passes": "each pass run: its time and op counts before and after",
    "ir": "the IR after each pass",
    "graph_breaks": "each graph break tracejit.compile finds: where, why, the source line",
    "guards": "the guards each capture installs: input types and the Python values it baked",
}


def configure(spec: str | None = None) -> list[str]:
    """Enable the channels named in `spec` (default: $TRACEJIT_LOG); the names enabled."""
    spec = os.environ.get("TRACEJIT_LOG", "") if spec is None else spec
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if "all" in names:
        names = list(CHANNELS)
    unknown = [n for n in names if n not in CHANNELS]
    if unknown:
        print(f"tracejit: TRACEJIT_LOG names unknown channel(s) {', '.join(unknown)}; known: "
              f"{', '.join(CHANNELS)}, all", file=sys.stderr)
    _warnings_handler()
    for name in names:
        if name in CHANNELS:
            logger = logging.getLogger(f"tracejit.{name}")
            logger.setLevel(logging.INFO)
            if not logger.handlers:
                handler = logging.StreamHandler(sys.stderr)
                handler.setFormatter(logging.Formatter(f"[tracejit.{name}] %(message)s"))
                logger.addHandler(handler)
    return [n for n in names if n in CHANNELS]


def _warnings_handler() -> None:
    """tracejit's warnings (an op falling back to numpy, ...) print to stderr prefixed with
    their logger's name, not bare through logging's last-resort handler. An application that
    configures logging itself can remove it: `logging.getLogger("tracejit").handlers.clear()`."""
    logger = logging.getLogger("tracejit")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        handler.setFormatter(logging.Formatter("[%(name)s] %(message)s"))
        logger.addHandler(handler)
