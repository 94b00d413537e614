"""Timing: medians over repeated runs after warm-up, each run long enough to time reliably."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Result:
    workload: str
    peer: str
    median_s: float
    runs: list[float]


def median_time(fn: Callable[[], object], repeat: int = 7, min_run_s: float = 0.05) -> list[float]:
    """Per-call seconds for `repeat` runs; each run loops `fn` long enough to last `min_run_s`."""
    fn()  # warm-up
    number, elapsed = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= min_run_s or number >= 1 << 20:
            break
        number *= 2 if elapsed == 0 else max(2, int(min_run_s / elapsed * 1.2))
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - t0) / number)
    return runs


def measure(workload: str, peers: dict[str, Callable[[], object]], repeat: int) -> list[Result]:
    """Time each peer of one workload, alternating peers between runs to share the noise."""
    runs: dict[str, list[float]] = {name: [] for name in peers}
    for _ in range(repeat):
        for name, fn in peers.items():
            runs[name].extend(median_time(fn, repeat=1))
    return [Result(workload, name, statistics.median(r), r) for name, r in runs.items()]


def format_seconds(s: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def table(results: list[Result], baseline: str = "numpy") -> str:
    base = {r.workload: r.median_s for r in results if r.peer == baseline}
    lines = [f"{'workload':<34} {'peer':<16} {'median':>10} {'vs ' + baseline:>10}"]
    for r in results:
        ratio = f"{r.median_s / base[r.workload]:.2f}x" if r.workload in base else "-"
        lines.append(f"{r.workload:<34} {r.peer:<16} {format_seconds(r.median_s):>10} {ratio:>10}")
    return "\n".join(lines)
