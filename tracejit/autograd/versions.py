"""Version counters (torch's `t._version`), kept per memory owner so views and aliases share
them: every in-place write through the dispatch point bumps the counter of the numpy buffer it
writes, and a tensor saved for backward remembers the count it was saved at. A buffer is
tracked from its first save or write on, so tensors never saved nor written cost nothing.
"""

from __future__ import annotations

import weakref

import numpy as np

_counts: dict[int, int] = {}


def _owner(array: np.ndarray):
    base = array.base
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return array if base is None else base


def version(array: np.ndarray) -> int:
    """The write count of `array`'s memory; starts tracking it (at 0) on first ask."""
    owner = _owner(array)
    key = id(owner)
    count = _counts.get(key)
    if count is None:
        try:
            weakref.finalize(owner, _counts.pop, key, None)
        except TypeError:  # an owner that takes no weak reference (bytes): not tracked
            return 0
        count = _counts[key] = 0
    return count


def bump(array: np.ndarray) -> None:
    """`array` was just written in place."""
    key = id(_owner(array))
    if key in _counts:
        _counts[key] += 1
    elif version(array) == 0 and key in _counts:  # tracked from now on (`t._version`)
        _counts[key] = 1
