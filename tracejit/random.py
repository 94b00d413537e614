"""The global random number generator behind rand, randn, randint, dropout and nn.init.

Streams are numpy's (PCG64), so `manual_seed(s)` makes tracejit reproducible but does not
reproduce torch's numbers for the same seed.
"""

from __future__ import annotations

import numpy as np

_seed: int = 0
_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the global generator, like torch.manual_seed."""
    global _generator, _seed
    seed = int(seed)
    _seed, _generator = seed, np.random.default_rng(seed & 0xFFFF_FFFF_FFFF_FFFF)


def initial_seed() -> int:
    return _seed


def default_generator() -> np.random.Generator:
    return _generator
