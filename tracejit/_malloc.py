"""Keep freed memory at the top of the C heap instead of handing it back to the kernel at once.

Eager tensors are numpy arrays: every op allocates its result, and a training step frees and
reallocates megabyte-sized temporaries hundreds of times. glibc's malloc trims the heap top on
each such free and grows it again on the next allocation, so every temporary pays fresh page
faults: an SGD step on a 400k-parameter MLP took 3.6 ms instead of 0.8 ms (measured,
bench/train_step.py's MLP). `M_TOP_PAD` keeps 64 MiB of slack at the top, as a caching
allocator (torch's) would. glibc only; `TRACEJIT_MALLOC_TUNING=0` leaves malloc alone.
"""

from __future__ import annotations

import os
import sys

TOP_PAD = 64 << 20  # bytes of slack kept at the heap top
_M_TOP_PAD = -2  # glibc's mallopt parameter number (malloc.h)


def tune() -> bool:
    """Set glibc's M_TOP_PAD once; False where it is not glibc or the user opted out."""
    if os.environ.get("TRACEJIT_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith(
            "linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (musl and others: no tuning)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_TOP_PAD, TOP_PAD))


TUNED = tune()  # on import of tracejit
