"""Comparing tracejit's results with torch's: dtype, shape, then values: exact for integers,
bools and exact float values (nan positions and signed zeros included); float32's tolerance
for inexact floats, also relative to the output's largest magnitude (for cancellation)."""

from __future__ import annotations

import numpy as np

TOL = {"float32": (2e-4, 1e-5)}


def to_numpy(t) -> np.ndarray:
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


def dtype_name(t) -> str:
    return str(getattr(t, "dtype", type(t).__name__)).split(".")[-1]


def diff(ref, got, exact: bool) -> str | None:
    """None when `got` (tracejit) matches `ref` (torch), else what differs."""
    if dtype_name(ref) != dtype_name(got):
        return f"dtype: torch {dtype_name(ref)}, tracejit {dtype_name(got)}"
    r, g = to_numpy(ref), to_numpy(got)
    if r.shape != g.shape:
        return f"shape: torch {list(r.shape)}, tracejit {list(g.shape)}"
    if r.dtype.kind != "f":
        bad = r != g
    else:
        bad = np.isnan(r) != np.isnan(g)
        if exact:
            both = ~np.isnan(r) & ~np.isnan(g)
            bad |= both & ((r != g) | (np.signbit(r) != np.signbit(g)))
        else:
            rtol, atol = TOL["float32"]  # inexact values may come through float32 math
            fin = np.isfinite(r)
            scale = float(np.abs(r[fin]).max()) if fin.any() else 0.0
            with np.errstate(all="ignore"):
                err = np.abs(r.astype(np.float64) - g.astype(np.float64))
                ok = (err <= atol + rtol * (np.abs(r) + 1e-2 * scale)) | (r == g)
            bad |= ~np.isnan(r) & ~ok
    if not bad.any():
        return None
    i = tuple(int(k) for k in np.argwhere(bad)[0])
    return (f"values at {list(i)} ({int(bad.sum())} of {bad.size}): torch {r[i]!r}, "
            f"tracejit {g[i]!r}")
