"""Per-call overhead of captured callables: a traced and a scripted 2-layer MLP against a
traced `x + 1`, and the MLP run eagerly.

`python -m bench.call_overhead [--repeat N] [--number N]`: each line is the median over
`repeat` timeit runs of `number` calls each, in microseconds per call (and the fastest run,
steadier on a busy machine). Small sizes, so what is measured is the Python work around the
kernels (binding, cache key, module state).
"""

from __future__ import annotations

import argparse
import statistics
import timeit

import tracejit
from tracejit import nn


class MLP(nn.Module):
    """Two Linear layers with a ReLU between them."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(tracejit.relu(self.fc1(x)))


def add_one(x):
    return x + 1


def cases() -> dict:
    """name -> a zero-argument callable making one call."""
    tracejit.manual_seed(0)
    x = tracejit.randn(2, 8)
    model = MLP()
    traced_fn = tracejit.trace(add_one, x)
    traced = tracejit.trace(model, x)
    scripted = tracejit.script(model)
    scripted(x)
    return {
        "traced x + 1": lambda: traced_fn(x),
        "traced MLP": lambda: traced(x),
        "scripted MLP": lambda: scripted(x),
        "eager MLP": lambda: model(x),
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--number", type=int, default=2000)
    options = parser.parse_args(argv)
    medians = {}
    for name, call in cases().items():
        call()  # warm: the first call compiles
        runs = timeit.repeat(call, repeat=options.repeat, number=options.number)
        medians[name] = statistics.median(runs) / options.number * 1e6
        print(f"{name:14s} {medians[name]:8.2f} us/call (median of {options.repeat} x "
              f"{options.number}; fastest run {min(runs) / options.number * 1e6:.2f})")
    return medians


if __name__ == "__main__":
    main()
