"""The CPU-backend milestone's workloads, float32, one function per workload.

Each workload is written twice, with its framework passed in so this module imports only numpy:
`array_fn(xp, *arrays)` for array libraries (numpy, jax.numpy) and `tensor_fn(F, *tensors)` for
torch-style ones (torch and tracejit, F being their `nn.functional`). `Workload.peers()` turns
them into the per-peer callables (bench/peers.py). `scale` shrinks the sizes, so that tests can
run every workload tiny; W5 measures per-call overhead and never scales. `bandwidth`, the
memory-bandwidth yardstick, is not a workload to select: every run measures it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

GELU_C = math.sqrt(2 / math.pi)
YARDSTICK = "yardstick"  # the id of `bandwidth`, which every run measures


@dataclass
class Workload:
    """Inputs, the two spellings of the computation, and the tolerance against numpy."""

    id: str  # W1 ... W5: what --workloads selects
    name: str
    inputs: list[np.ndarray]
    array_fn: Callable  # (xp, *arrays)
    tensor_fn: Callable  # (F, *tensors)
    tol: float  # rtol and atol against the numpy peer's result
    bytes: int = 0  # memory one run must move at least (inputs read, output written)
    not_run: dict[str, str] = field(default_factory=dict)  # {peer: why it cannot run this}

    def reference(self) -> np.ndarray:
        return self.array_fn(np, *self.inputs)

    def peers(self, names=None):
        """The per-peer callables for `names` (default all): see bench.peers.build_peers."""
        from bench.peers import build_peers

        return build_peers(self, names)


def _gelu_tanh(xp, y):
    # y * y * y, not y**3: numpy's power has no fast path for 3 (about 3x slower here)
    return 0.5 * y * (1 + xp.tanh(GELU_C * (y + 0.044715 * (y * y * y))))


def _rows(n: int, scale: float) -> int:
    return max(1, round(n * scale))


def _randn(*shape: int, std: float = 1.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(std)


def gelu_bias(scale: float = 1.0) -> Workload:
    """W1: gelu_tanh(x*a+b), 16M elements, a and b full size: 4 arrays of 64 MB move."""
    n = max(16, round((1 << 24) * scale))

    def array_fn(xp, x, a, b):
        return _gelu_tanh(xp, x * a + b)

    def tensor_fn(F, x, a, b):
        return F.gelu(x * a + b, approximate="tanh")

    inputs = [_randn(n, seed=k) for k in range(3)]
    return Workload("W1", f"W1 gelu_tanh(x*a+b) [{n}]", inputs, array_fn, tensor_fn, 1e-4,
                    bytes=16 * n)


def softmax(scale: float = 1.0) -> Workload:
    """W2: softmax over the last dim of 4096x4096 (`scale` shrinks the rows)."""
    rows = _rows(4096, scale)

    def array_fn(xp, x):
        e = xp.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def tensor_fn(F, x):
        return F.softmax(x, dim=-1)

    return Workload("W2", f"W2 softmax [{rows},4096]", [_randn(rows, 4096)], array_fn,
                    tensor_fn, 1e-5, bytes=2 * 4 * rows * 4096)


def layer_norm(scale: float = 1.0) -> Workload:
    """W3: layer norm over the last dim of 8192x1024, with weight and bias."""
    rows, d = _rows(8192, scale), 1024

    def array_fn(xp, x, w, b):
        mean = x.mean(axis=-1, keepdims=True)
        centred = x - mean
        var = (centred * centred).mean(axis=-1, keepdims=True)
        return centred / xp.sqrt(var + 1e-5) * w + b

    def tensor_fn(F, x, w, b):
        return F.layer_norm(x, (d,), w, b, eps=1e-5)

    inputs = [_randn(rows, d), 1 + _randn(d, std=0.1, seed=1), _randn(d, std=0.1, seed=2)]
    return Workload("W3", f"W3 layer_norm [{rows},{d}]", inputs, array_fn, tensor_fn, 1e-4,
                    bytes=2 * 4 * rows * d)


def mlp(batch: int, scale: float = 1.0) -> Workload:
    """W4: MLP 1024-4096-4096-1024, tanh GELU after the first two layers (`scale` shrinks the
    widths by its square root, so the weights shrink by `scale`)."""
    widths = [max(4, round(w * math.sqrt(scale))) for w in (1024, 4096, 4096, 1024)]
    weights = []
    for k, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        weights += [_randn(n_out, n_in, std=n_in**-0.5, seed=2 * k + 1),
                    _randn(n_out, std=0.1, seed=2 * k + 2)]

    def array_fn(xp, x, w1, b1, w2, b2, w3, b3):
        h = _gelu_tanh(xp, x @ w1.T + b1)
        h = _gelu_tanh(xp, h @ w2.T + b2)
        return h @ w3.T + b3

    def tensor_fn(F, x, w1, b1, w2, b2, w3, b3):
        h = F.gelu(F.linear(x, w1, b1), approximate="tanh")
        h = F.gelu(F.linear(h, w2, b2), approximate="tanh")
        return F.linear(h, w3, b3)

    name = f"W4 MLP {'-'.join(map(str, widths))} b{batch}"
    inputs = [_randn(batch, widths[0]), *weights]
    moved = sum(a.nbytes for a in inputs) + 4 * batch * widths[-1]
    return Workload("W4", name, inputs, array_fn, tensor_fn, 1e-3, bytes=moved)


def bandwidth(scale: float = 1.0) -> Workload:
    """The memory-bandwidth yardstick, measured in every run: x*a+b on W1's arrays, the same
    4 x 64 MB of memory traffic with almost no arithmetic. The fastest peer here shows what
    memory allows a one-pass workload (W1) to reach on this machine today."""
    w1 = gelu_bias(scale)

    def array_fn(xp, x, a, b):
        return x * a + b

    def tensor_fn(F, x, a, b):
        return x * a + b

    n = w1.inputs[0].size
    return Workload(YARDSTICK, f"yardstick x*a+b [{n}]", w1.inputs, array_fn, tensor_fn, 1e-6,
                    bytes=16 * n)


def add_one(scale: float = 1.0) -> Workload:
    """W5: per-call overhead, x + 1 on 16 elements (never scaled)."""

    def array_fn(xp, x):
        return x + 1

    def tensor_fn(F, x):
        return x + 1

    return Workload("W5", "W5 x + 1 [16]", [_randn(16)], array_fn, tensor_fn, 0)


def gru(scale: float = 1.0) -> Workload:
    """W6: a GRU-style cell over 100 time steps (a recurrent loop: script keeps it one `for` op
    whose body is compiled once; trace and torch.compile unroll it). `scale` shrinks the batch."""
    steps, hidden, batch = 100, 128, max(1, round(32 * scale))
    w_ih = _randn(3 * hidden, hidden, std=hidden**-0.5, seed=1)
    w_hh = _randn(3 * hidden, hidden, std=hidden**-0.5, seed=2)
    b_ih, b_hh = _randn(3 * hidden, std=0.1, seed=3), _randn(3 * hidden, std=0.1, seed=4)

    def array_fn(xp, xs, h, w_ih, w_hh, b_ih, b_hh):
        for t in range(steps):
            gi, gh = xs[t] @ w_ih.T + b_ih, h @ w_hh.T + b_hh
            r = 1 / (1 + xp.exp(-(gi[:, :hidden] + gh[:, :hidden])))
            z = 1 / (1 + xp.exp(-(gi[:, hidden:2 * hidden] + gh[:, hidden:2 * hidden])))
            n = xp.tanh(gi[:, 2 * hidden:] + r * gh[:, 2 * hidden:])
            h = (1 - z) * n + z * h
        return h

    def tensor_fn(F, xs, h, w_ih, w_hh, b_ih, b_hh):
        for t in range(steps):
            gi, gh = F.linear(xs[t], w_ih, b_ih), F.linear(h, w_hh, b_hh)
            r = F.sigmoid(gi[:, :hidden] + gh[:, :hidden])
            z = F.sigmoid(gi[:, hidden:2 * hidden] + gh[:, hidden:2 * hidden])
            n = F.tanh(gi[:, 2 * hidden:] + r * gh[:, 2 * hidden:])
            h = (1 - z) * n + z * h
        return h

    inputs = [_randn(steps, batch, hidden), _randn(batch, hidden, std=0.5, seed=5),
              w_ih, w_hh, b_ih, b_hh]
    return Workload("W6", f"W6 GRU {steps} steps [{batch},{hidden}]", inputs, array_fn,
                    tensor_fn, 1e-4)


def block_with_breaks(scale: float = 1.0) -> Workload:
    """W7: a transformer block that logs `.item()` statistics and exits early on one (graph
    breaks: bench/breaks.py, which also measures per-call overhead with 0, 1 and 3 breaks)."""
    from bench.breaks import block

    return block(scale)


# id -> builders of its workloads (W4 is two: batch 1 and batch 64)
WORKLOADS: dict[str, list[Callable[[float], Workload]]] = {
    "W1": [gelu_bias],
    "W2": [softmax],
    "W3": [layer_norm],
    "W4": [lambda s: mlp(1, s), lambda s: mlp(64, s)],
    "W5": [add_one],
    "W6": [gru],
    "W7": [block_with_breaks],
}


def select(ids: str | None) -> list[str]:
    """The workload ids named in a comma list like "W1,W3" (all when None)."""
    if not ids:
        return list(WORKLOADS)
    chosen = [w.strip().upper() for w in ids.split(",") if w.strip()]
    unknown = [w for w in chosen if w not in WORKLOADS]
    if unknown:
        raise ValueError(f"unknown workload {', '.join(unknown)}; choose from "
                         f"{', '.join(WORKLOADS)}")
    return chosen
