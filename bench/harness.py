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


def calibrate(fn: Callable[[], object], min_run_s: float = 0.05) -> int:
    """After a warm-up call: how many calls of `fn` a run needs to last about `min_run_s`."""
    fn()
    number = 1
    while True:
        elapsed = time_run(fn, number) * number
        if elapsed >= min_run_s or number >= 1 << 20:
            return number
        number *= 2 if elapsed == 0 else max(2, int(min_run_s / elapsed * 1.2))


def time_run(fn: Callable[[], object], number: int) -> float:
    """Per-call seconds of one run: `number` calls of `fn` in a row."""
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def time_once(fn: Callable[[], object]) -> tuple[float, object]:
    """Seconds one call of `fn` takes (a first call: compile included), and its result."""
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def measure(workload: str, peers: dict[str, Callable[[], object]], repeat: int,
            on_run: Callable[[int], None] | None = None) -> list[Result]:
    """Time each peer of one workload: every peer is warmed up and calibrated first, then runs
    interleave, one run of each peer per round (starting with a different peer each round), so
    that a noisy moment hits every peer alike. `on_run(k)` is called before round k."""
    numbers = {name: calibrate(fn) for name, fn in peers.items()}
    names = list(peers)
    runs: dict[str, list[float]] = {name: [] for name in names}
    for k in range(repeat):
        if on_run is not None:
            on_run(k)
        shift = k % max(len(names), 1)
        for name in names[shift:] + names[:shift]:
            runs[name].append(time_run(peers[name], numbers[name]))
    return [Result(workload, name, statistics.median(r), r, extra={"calls_per_run": numbers[name]})
            for name, r in runs.items()]


def format_seconds(s: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def table(results: list[Result], baselines: tuple[str, ...] = ("numpy",)) -> str:
    """One line per result: median, min-max over runs, the memory bandwidth a per-call median
    means (when the workload says how many bytes a run moves), and the ratio of medians to each
    baseline peer of the same workload and kind (measured in the same run)."""
    base = {(r.workload, r.kind, r.peer): r.median_s for r in results}
    header = (f"{'workload':<30} {'kind':<12} {'peer':<16} {'median':>9} {'min - max':>19}"
              f" {'GB/s':>6}" + "".join(f" {'vs ' + b:>15}" for b in baselines))
    lines = [header, "-" * len(header)]
    for r in results:
        spread = f"{format_seconds(r.min_s)} - {format_seconds(r.max_s)}"
        moved = r.extra.get("bytes") if r.kind == PER_CALL else None
        rate = f"{moved / r.median_s / 1e9:.1f}" if moved and r.median_s > 0 else "-"
        ratios = ""
        for b in baselines:
            denominator = base.get((r.workload, r.kind, b))
            ratios += f" {f'{r.median_s / denominator:.2f}x' if denominator else '-':>15}"
        lines.append(f"{r.workload:<30} {r.kind:<12} {r.peer:<16} "
                     f"{format_seconds(r.median_s):>9} {spread:>19} {rate:>6}{ratios}")
    return "\n".join(lines)
