"""`tracejit.cuda`: torch.cuda's queries for a machine without CUDA, so device-selecting code
(`"cuda" if torch.cuda.is_available() else "cpu"`) picks the CPU. Seeding is a no-op; asking
for a CUDA device raises the same error as `tensor.cuda()`."""

from __future__ import annotations

import contextlib

from tracejit.compat import CUDA_LEGACY_TYPES
from tracejit.tensor import check_device

globals().update(CUDA_LEGACY_TYPES)  # torch.cuda.FloatTensor & co: nameable, not makeable


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def is_initialized() -> bool:
    return False


def is_bf16_supported(including_emulation: bool = True) -> bool:
    return False


def manual_seed(seed: int) -> None:
    """No-op: there is no CUDA generator to seed."""


manual_seed_all = manual_seed


def seed() -> None:
    """No-op: there is no CUDA generator to seed."""


seed_all = seed


def synchronize(device=None) -> None:
    """No-op: nothing runs asynchronously."""


def empty_cache() -> None:
    """No-op: there is no CUDA memory cache."""


def current_device() -> int:
    check_device("cuda")
    return 0  # pragma: no cover (check_device raises)


def get_device_name(device=None) -> str:
    check_device("cuda")
    return ""  # pragma: no cover


def set_device(device) -> None:
    check_device("cuda" if isinstance(device, int) else device)


def device(device) -> contextlib.nullcontext[None]:
    check_device("cuda" if isinstance(device, int) else device)
    return contextlib.nullcontext()  # pragma: no cover


class amp:
    """torch.cuda.amp: `autocast(enabled=...)` runs the block unchanged (no float16 casts)."""

    @staticmethod
    def autocast(enabled: bool = True, dtype=None, cache_enabled: bool = True):
        return contextlib.nullcontext()


__all__ = [
    *CUDA_LEGACY_TYPES,
    "amp", "current_device", "device", "device_count", "empty_cache", "get_device_name",
    "is_available", "is_bf16_supported", "is_initialized", "manual_seed", "manual_seed_all",
    "seed", "seed_all", "set_device", "synchronize",
]
