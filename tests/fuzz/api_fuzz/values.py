"""Random input values: ordinary numbers mixed with the special ones (signed zeros, infinities,
nan, huge and tiny magnitudes, integer wrap-around edges)."""

from __future__ import annotations

import random

import numpy as np

FLOAT_SPECIALS = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e30, -1e30, 1e-30,
                  1e-40, 3.0e38, -1.0, 1.0, 0.5, 2.0]
INT_EDGES = {"int64": [2**63 - 1, -2**63, 2**31 - 1, -2**31, 2**62],
             "int32": [2**31 - 1, -2**31, 2**30]}
DTYPES = ["float32", "float32", "float32", "float64", "int64", "int64", "int32", "bool"]


def random_shape(rng: random.Random, max_rank: int = 3) -> tuple[int, ...]:
    return tuple(rng.choice([1, 2, 3, 4]) for _ in range(rng.randint(0, max_rank)))


def broadcast_partner(rng: random.Random, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts with `shape`: a suffix of it with some dims set to 1."""
    tail = list(shape[rng.randint(0, len(shape)):] if shape else ())
    return tuple(1 if rng.random() < 0.3 else d for d in tail)


def random_values(rng: random.Random, shape, dtype: str, special: bool) -> np.ndarray:
    """An array of `shape`; with `special`, about a third of the entries are special values."""
    n = int(np.prod(shape, dtype=np.int64))
    if dtype == "bool":
        data = [rng.random() < 0.5 for _ in range(n)]
    elif dtype.startswith("int"):
        edges = INT_EDGES[dtype]
        data = [rng.choice(edges) if special and rng.random() < 0.3 else rng.randint(-5, 5)
                for _ in range(n)]
    else:
        data = [rng.choice(FLOAT_SPECIALS) if special and rng.random() < 0.35
                else round(rng.gauss(0, 2), rng.choice([0, 1, 3, 7])) for _ in range(n)]
    return np.array(data, dtype=dtype).reshape(shape)
