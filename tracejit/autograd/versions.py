"""Version counters (torch's `t._version`), kept per memory owner so views and aliases share
them: every in-place write through the dispatch point bumps the counter of the numpy buffer it
writes, and a tensor saved for backward remembers the count it was saved at. A buffer is
tracked from its first save or write on, so tensors never saved nor written cost nothing.
"""

from __future__ import annotations

import weakref

import numpy as np

_counts: dict[int, list] = {}  # id(owner) -> [count, weakref to the owner (drops the entry)]


def _owner(array: np.ndarray):
    base = array.base
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return array if base is None else base


def _forget(key: int) -> None:
    _counts.pop(key, None)


def version(array: np.ndarray) -> int:
    """The write count of `array`'s memory; starts tracking it (at 0) on first ask."""
    owner = _owner(array)
    key = id(owner)
    entry = _counts.get(key)
    if entry is None:
        try:
            ref = weakref.ref(owner, lambda _, key=key: _forget(key))
        except TypeError:  # an owner that takes no weak reference (bytes): not tracked
            return 0
        entry = _counts[key] = [0, ref]
    return entry[0]


def bump(array: np.ndarray) -> None:
    """`array` was just written in place."""
    key = id(_owner(array))
    entry = _counts.get(key)
    if entry is None:
        version(array)  # tracked from now on (`t._version`)
        entry = _counts.get(key)
        if entry is None:
            return
    entry[0] += 1
