"""Timing: medians over repeated runs after warm-up, each run long enough to time reliably.

Generic: knows callables, peers and results, not workloads or frameworks.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

PER_CALL = "per call"


@dataclass
class Result:
    """One peer on one workload: seconds per run (`kind` says what a run is)."""

    workload: str
    peer: str
    median_s: float
    runs: list[float]
    kind: str = PER_CALL  # or "first call", "cold compile", "warm compile", "import"
    verified: bool = True  # the peer's result matched numpy before it was timed
    extra: dict = field(default_factory=dict)

    @property
    def min_s(self) -> float:
        return min(self.runs)

    @property
    def max_s(self) -> float:
        return max(self.runs)

    def to_json(self) -> dict:
        return {**asdict(self), "min_s": self.min_s, "max_s": self.max_s}


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


def time_once(fn: Callable[[], object]) -> tuple[float, object]:
    """Seconds one call of `fn` takes (a first call: compile included), and its result."""
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


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


def table(results: list[Result], baselines: tuple[str, ...] = ("numpy",)) -> str:
    """One line per result: median, min-max over runs, and the ratio of medians to each baseline
    peer of the same workload and kind (measured in the same run)."""
    base = {(r.workload, r.kind, r.peer): r.median_s for r in results}
    header = (f"{'workload':<30} {'kind':<12} {'peer':<16} {'median':>9} {'min - max':>19}"
              + "".join(f" {'vs ' + b:>15}" for b in baselines))
    lines = [header, "-" * len(header)]
    for r in results:
        spread = f"{format_seconds(r.min_s)} - {format_seconds(r.max_s)}"
        ratios = ""
        for b in baselines:
            denominator = base.get((r.workload, r.kind, b))
            ratios += f" {f'{r.median_s / denominator:.2f}x' if denominator else '-':>15}"
        lines.append(f"{r.workload:<30} {r.kind:<12} {r.peer:<16} "
                     f"{format_seconds(r.median_s):>9} {spread:>19}{ratios}")
    return "\n".join(lines)
