"""`torch._dynamo`'s names that real PyTorch code uses, so it ports by changing its import:
`config.cache_size_limit` (tracejit.compile's default recompile limit), `explain`, `reset`,
`disable`, `is_compiling`, and `mark_dynamic`/`mark_static` (accepted: shapes are specialized,
a new shape compiles again).
"""

from __future__ import annotations

import types
from typing import Any

# settable like torch._dynamo.config; tracejit reads cache_size_limit (the recompile limit of
# each compiled piece) and accepts the rest unused
config = types.SimpleNamespace(cache_size_limit=8, accumulated_cache_size_limit=256,
                               suppress_errors=False, verbose=False,
                               capture_scalar_outputs=False,
                               capture_dynamic_output_shape_ops=False)


def explain(fn, *args, **kwargs) -> Any:
    """torch._dynamo.explain: `explain(fn)(*args)` (torch's form) or `explain(fn, *args)`;
    the tracejit.explain report."""
    from tracejit.explain import explain as _explain
    if not args and not kwargs:
        return lambda *a, **k: _explain(fn, *a, **k)
    return _explain(fn, *args, **kwargs)


def reset() -> None:
    from tracejit.compiler import reset as _reset
    _reset()


def disable(fn=None, recursive: bool = True):
    from tracejit.compiler import disable as _disable
    return _disable(fn, recursive)


def is_compiling() -> bool:
    from tracejit.compiler import is_compiling as _is_compiling
    return _is_compiling()


def mark_dynamic(t, index, **kwargs) -> None:
    """Accepted and unused: tracejit.compile specializes shapes (a new one compiles again,
    logged on TRACEJIT_LOG=recompiles)."""


def mark_static(t, index=None) -> None:
    """Accepted and unused: shapes are static already."""
