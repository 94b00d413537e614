"""Eager-mode workloads: tracejit's dispatch overhead and op-by-op speed against numpy and
torch eager (when installed), each checked against numpy before it is timed."""

from __future__ import annotations

import math

import numpy as np

import tracejit
import tracejit.nn.functional as TF


def _gelu_tanh_np(x, a, b):
    y = x * a + b
    return 0.5 * y * (1 + np.tanh(math.sqrt(2 / math.pi) * (y + 0.044715 * y**3)))


def _mlp_np(x, w1, b1, w2, b2):
    h = x @ w1.T + b1
    h = 0.5 * h * (1 + np.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3)))
    return h @ w2.T + b2


def workloads(scale: float = 1.0):
    """(name, numpy fn, tracejit fn, torch fn or None, tolerance) for each workload."""
    rng = np.random.default_rng(0)
    torch = _torch()
    small = rng.standard_normal(16, dtype=np.float32)
    n = int(1_000_000 * scale)
    x, a, b = (rng.standard_normal(n, dtype=np.float32) for _ in range(3))
    mlp = [rng.standard_normal(s, dtype=np.float32) * 0.05
           for s in ((64, 256), (1024, 256), (1024,), (256, 1024), (256,))]
    tj = [tracejit.from_numpy(v) for v in mlp]
    tx, ta, tb = (tracejit.from_numpy(v) for v in (x, a, b))
    ts = tracejit.from_numpy(small)
    yield ("x + 1, 16 elements", lambda: small + 1, lambda: ts + 1,
           _torch_fn(torch, lambda t: t + 1, small), 0)
    yield (f"gelu_tanh(x*a+b), {n} elements", lambda: _gelu_tanh_np(x, a, b),
           lambda: TF.gelu(tx * ta + tb, approximate="tanh"),
           _torch_fn(torch, lambda *t: torch.nn.functional.gelu(t[0] * t[1] + t[2],
                                                                 approximate="tanh"), x, a, b),
           1e-5)
    yield ("MLP 256-1024-256 GELU, batch 64", lambda: _mlp_np(*mlp),
           lambda: TF.linear(TF.gelu(TF.linear(tj[0], tj[1], tj[2]), approximate="tanh"),
                             tj[3], tj[4]),
           _torch_fn(torch, lambda *t: torch.nn.functional.linear(torch.nn.functional.gelu(
               torch.nn.functional.linear(t[0], t[1], t[2]), approximate="tanh"), t[3], t[4]),
               *mlp), 1e-4)


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(max(1, torch.get_num_threads()))
    return torch


def _torch_fn(torch, fn, *arrays):
    if torch is None:
        return None
    tensors = [torch.from_numpy(a) for a in arrays]
    return lambda: fn(*tensors)
