"""`tracejit.utils.checkpoint`: torch's activation checkpointing, which trades memory for
recomputation in the backward pass. tracejit runs inference only (no backward yet), so there is
nothing to recompute: `checkpoint(fn, *args)` is `fn(*args)`, and traces as that."""

from __future__ import annotations

from typing import Any


def checkpoint(function, *args, use_reentrant: bool | None = None, context_fn=None,
               determinism_check: str = "default", debug: bool = False,
               preserve_rng_state: bool = True, **kwargs) -> Any:
    """`function(*args, **kwargs)`: torch's checkpointing options are accepted and unused."""
    return function(*args, **kwargs)


def checkpoint_sequential(functions, segments: int, input, use_reentrant: bool | None = None,
                          **kwargs) -> Any:
    """Run `functions` (a Sequential or a list of modules) one after another on `input`."""
    kwargs.pop("preserve_rng_state", None)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    if hasattr(functions, "children") and not isinstance(functions, (list, tuple)):
        functions = list(functions.children())
    for function in functions:
        input = function(input)
    return input


__all__ = ["checkpoint", "checkpoint_sequential"]
