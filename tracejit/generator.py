"""`tracejit.Generator` (torch.Generator) and the in-place random fills (`normal_`, `uniform_`,
`random_`, `bernoulli_`).

A Generator wraps its own numpy PCG64 stream; functions given `generator=` draw from it instead
of the global one. Streams are numpy's, so seeds do not reproduce torch's numbers. Under
trace/script the draws are recorded as random ops, which read the global generator when the
captured graph runs.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from tracejit import random as _random
from tracejit.tensor import CPU, check_device

if TYPE_CHECKING:
    from tracejit.tensor import Tensor


class Generator:
    """A random stream of its own: `g = Generator().manual_seed(0); randn(3, generator=g)`."""

    def __init__(self, device="cpu"):
        check_device(device)
        self.device = device if not isinstance(device, str) else _device(device)
        self.manual_seed(secrets.randbits(63))

    def manual_seed(self, seed: int) -> Generator:
        """Restart the stream from `seed`; returns the generator, like torch."""
        self._seed = int(seed)
        self._rng = np.random.default_rng(self._seed & 0xFFFF_FFFF_FFFF_FFFF)
        return self

    def seed(self) -> int:
        """Reseed from fresh entropy and return the new seed."""
        self.manual_seed(secrets.randbits(63))
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        """The stream's state (numpy's PCG64 state dict, not torch's ByteTensor)."""
        return self._rng.bit_generator.state

    def set_state(self, state: dict) -> Generator:
        self._rng.bit_generator.state = state
        return self

    def __repr__(self) -> str:
        return f"<tracejit.Generator seed={self._seed}>"


class _DefaultGenerator(Generator):
    """`tracejit.default_generator`: the global stream (what manual_seed seeds) as a
    Generator."""

    def __init__(self):
        self.device = CPU

    @property
    def _rng(self) -> np.random.Generator:
        return _random.default_generator()

    @property
    def _seed(self) -> int:
        return _random.initial_seed()

    def manual_seed(self, seed: int) -> Generator:
        _random.manual_seed(seed)
        return self

    def seed(self) -> int:
        _random.manual_seed(secrets.randbits(63))
        return _random.initial_seed()


default_generator = _DefaultGenerator()


def seed() -> int:
    """Seed the global stream from fresh entropy; returns the seed."""
    return default_generator.seed()


def get_rng_state() -> dict:
    """The global stream's state (numpy's PCG64 state dict, not torch's ByteTensor)."""
    return default_generator.get_state()


def set_rng_state(new_state: dict) -> None:
    default_generator.set_state(new_state)


def _device(spec: str):
    from tracejit.tensor import device

    return device(spec)


@contextlib.contextmanager
def using_generator(generator: Generator | None) -> Iterator[None]:
    """Draw from `generator` (when not None) instead of the global stream inside the block."""
    if generator is None:
        yield
        return
    if not isinstance(generator, Generator):
        raise TypeError(f"generator must be a tracejit.Generator, got "
                        f"{type(generator).__name__}")
    saved, _random._generator = _random._generator, generator._rng
    try:
        yield
    finally:
        _random._generator = saved


def random_fill(t, kind: str, params: tuple, generator: Generator | None) -> Tensor:
    """Fill `t` in place from a distribution: normal, uniform, integers or bernoulli."""
    from tracejit import functions as F

    with using_generator(generator):
        sample = _SAMPLERS[kind](t, *params)
    return F.copy_(t, sample)


def _floating(t, name: str):
    if not t.dtype.is_floating_point:
        raise RuntimeError(f'"{name}" not implemented for {t.dtype.value} tensors (use a '
                           "floating-point tensor)")


def _normal(t, mean, std):
    from tracejit.creation import randn

    _floating(t, "normal_kernel_cpu")
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    return randn(*t.shape, dtype=t.dtype) * std + mean


def _uniform(t, low, high):
    from tracejit.creation import rand

    _floating(t, "check_uniform_bounds")
    if low > high:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found "
                           f"from={low} > to={high}")
    return rand(*t.shape, dtype=t.dtype) * (high - low) + low


def _integers(t, low, high):
    from tracejit.creation import randint

    if high is None:
        low, high = (0, low) if low else (0, _random_top(t.dtype))
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got "
                           f"from={low} >= to={high}")
    return randint(int(low), int(high), tuple(t.shape), dtype=t.dtype)


def _random_top(dtype) -> int:
    """torch's range for random_() with no bounds: [0, 2^mantissa] for floats, [0, max]
    for integers, {0, 1} for bool."""
    if dtype.is_floating_point:
        return 2 ** (np.finfo(dtype.np).nmant + 1) + 1
    if dtype.np == np.bool_:
        return 2
    return int(np.iinfo(dtype.np).max)


def _bernoulli(t, p):
    from tracejit.creation import rand

    return (rand(*t.shape) < p).to(t.dtype)


def _exponential(t, lambd):
    from tracejit.creation import rand

    _floating(t, "exponential_cpu")
    if lambd <= 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    return -(1 - rand(*t.shape, dtype=t.dtype)).log() / lambd


def _log_normal(t, mean, std):
    return _normal(t, mean, std).exp()


def _cauchy(t, median, sigma):
    from tracejit.creation import rand

    _floating(t, "cauchy_cpu")
    angle = (rand(*t.shape, dtype=t.dtype) - 0.5) * np.pi
    return angle.sin() / angle.cos() * sigma + median


def _geometric(t, p):
    from tracejit.creation import rand

    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    u = rand(*t.shape, dtype=t.dtype if t.dtype.is_floating_point else None)
    return ((1 - u).log() / float(np.log1p(-p))).ceil().clamp_min(1)


_SAMPLERS = {"normal": _normal, "uniform": _uniform, "integers": _integers,
             "bernoulli": _bernoulli, "exponential": _exponential, "log_normal": _log_normal,
             "cauchy": _cauchy, "geometric": _geometric}
