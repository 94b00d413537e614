"""`python -m bench.math_accuracy [--points N] [--speed-n N] [--no-speed]`: runtime/llvm_math.py
measured against numpy, the tables of docs/math-accuracy.md.

Accuracy: each function's JIT-compiled test kernel on a dense sweep of its domain (evenly spaced
points plus log-spaced magnitudes of both signs), against numpy in a wider type (float64 for
float32 results; long double, where it is wider, for float64 results). Speed: 16M float32
elements on one thread, the kernel against numpy's own function (or numpy expression).
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from tracejit.ir.special import erf as numpy_erf
from tracejit.runtime.llvm_math import SHORT_RANGE_UNARY, UNARY, compile_unary

WIDE = np.longdouble if np.finfo(np.longdouble).nmant > 52 else np.float64


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def _erf(x: np.ndarray) -> np.ndarray:
    return numpy_erf(np.asarray(x, np.float64)).astype(x.dtype)  # fdlibm, 1 ulp of float64


REFERENCE = {  # numpy implementations, evaluated in a wider type than the kernel's
    "exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "tanh": np.tanh,
    "sigmoid": _sigmoid, "erf": _erf, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos,
    "sin_short": np.sin, "cos_short": np.cos,
}
# Timed peers: numpy's ufuncs; sigmoid as the usual eager expression; erf as the project's
# eager erf (numpy has none): tracejit.ir.special, vectorized numpy in the input's type.
NUMPY = {**REFERENCE, "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "erf": numpy_erf}

# Sweeps: ("lin", lo, hi) evenly spaced; ("log", a, b) magnitudes 10^a .. 10^b, both signs;
# ("pos", a, b) the same, positive only. Keys: (function, dtype name).
SWEEPS = {
    ("exp", "float32"): [("lin", -104.0, 89.0), ("log", -45, 2)],
    ("exp", "float64"): [("lin", -746.0, 710.0), ("log", -320, 2.85)],
    ("expm1", "float32"): [("lin", -20.0, 89.0), ("log", -45, 2)],
    ("expm1", "float64"): [("lin", -40.0, 710.0), ("log", -320, 2.85)],
    ("log", "float32"): [("lin", 0.0, 4.0), ("pos", -45, 38.5)],
    ("log", "float64"): [("lin", 0.0, 4.0), ("pos", -323, 308)],
    ("log1p", "float32"): [("lin", -1.0, 4.0), ("log", -45, 0), ("pos", 0, 38)],
    ("log1p", "float64"): [("lin", -1.0, 4.0), ("log", -320, 0), ("pos", 0, 308)],
    ("tanh", "float32"): [("lin", -10.0, 10.0), ("log", -45, 2)],
    ("tanh", "float64"): [("lin", -20.0, 20.0), ("log", -320, 2)],
    ("sigmoid", "float32"): [("lin", -100.0, 20.0), ("log", -45, 2)],
    ("sigmoid", "float64"): [("lin", -740.0, 40.0), ("log", -320, 2)],
    ("erf", "float32"): [("lin", -5.0, 5.0), ("log", -45, 1)],
    ("erf", "float64"): [("lin", -7.0, 7.0), ("log", -320, 1)],
    ("sqrt", "float32"): [("lin", 0.0, 4.0), ("pos", -45, 38)],
    ("sqrt", "float64"): [("lin", 0.0, 4.0), ("pos", -323, 308)],
    ("sin", "float32"): [("lin", -1e4, 1e4), ("log", -45, 38.5)],  # every finite magnitude
    ("sin", "float64"): [("lin", -1e6, 1e6), ("log", -320, 308)],
    ("cos", "float32"): [("lin", -1e4, 1e4), ("log", -45, 38.5)],
    ("cos", "float64"): [("lin", -1e6, 1e6), ("log", -320, 308)],
    # the short-range reduction kernels use on chunks of small arguments: |x| <= 2^20, 2^30
    ("sin_short", "float32"): [("lin", -1e4, 1e4), ("log", -45, 6.02)],
    ("sin_short", "float64"): [("lin", -1e6, 1e6), ("log", -320, 9.03)],
    ("cos_short", "float32"): [("lin", -1e4, 1e4), ("log", -45, 6.02)],
    ("cos_short", "float64"): [("lin", -1e6, 1e6), ("log", -320, 9.03)],
}
MEASURED = {**UNARY, **SHORT_RANGE_UNARY}


def sweep(name: str, dtype, points: int) -> np.ndarray:
    """About `points` inputs covering the function's stated domain, as `dtype`."""
    segments = SWEEPS[name, np.dtype(dtype).name]
    each = points // len(segments)
    parts = []
    for kind, lo, hi in segments:
        if kind == "lin":
            parts.append(np.linspace(lo, hi, each))
        else:
            mags = np.logspace(lo, hi, each // 2 if kind == "log" else each)
            parts.append(mags if kind == "pos" else np.concatenate([mags, -mags]))
    return np.concatenate(parts).astype(dtype)


def reference(name: str, x: np.ndarray) -> np.ndarray:
    """numpy's `name` of x, in a wider type than x's."""
    wide = np.float64 if x.dtype == np.float32 else WIDE
    with np.errstate(all="ignore"):
        return REFERENCE[name](x.astype(wide))


def errors(got: np.ndarray, want: np.ndarray) -> dict[str, float]:
    """Max abs error (where |exact| <= 1), max relative error (normal results) and max error in
    ulps of got's type. A result equal to the exact value rounded to got's type (infinities
    included) counts as exact; nan must match nan.
    """
    dtype = got.dtype
    with np.errstate(over="ignore"):  # exact values beyond dtype's range round to inf
        rounded = want.astype(dtype)
    inf = {"abs": math.inf, "rel": math.inf, "ulp": math.inf}
    if not np.array_equal(np.isnan(got), np.isnan(want)):
        return inf
    off = ~np.isnan(want) & (got != rounded)
    g, w = got[off].astype(want.dtype), want[off]
    if not np.all(np.isfinite(g) & np.isfinite(rounded[off])):
        return inf
    diff = np.abs(g - w)
    ulp = np.spacing(np.abs(w).astype(dtype)).astype(want.dtype)  # of the exact value
    normal = np.abs(w) >= np.finfo(dtype).smallest_normal
    return {
        "abs": float(diff[np.abs(w) <= 1].max(initial=0.0)),
        "rel": float((diff[normal] / np.abs(w[normal])).max(initial=0.0)),
        "ulp": float((diff / ulp).max(initial=0.0)),
    }


def accuracy_table(points: int, names=MEASURED) -> list[str]:
    rows = ["| function | dtype | domain | max abs error (\\|exact\\| <= 1) | max rel error "
            "| max ulps |",
            "|---|---|---|---|---|---|"]
    for name in names:
        for dtype in (np.float32, np.float64):
            x = sweep(name, dtype, points if dtype == np.float32 else points // 4)
            e = errors(compile_unary(name, dtype)(x), reference(name, x))
            domain = ", ".join(_domain(s) for s in SWEEPS[name, np.dtype(dtype).name])
            rows.append(f"| {name} | {np.dtype(dtype).name} | {domain} | {e['abs']:.2g} "
                        f"| {e['rel']:.2g} | {e['ulp']:.2f} |")
    return rows


SHORT_LIMIT_F32 = 2.0**20  # the short-range kernels' domain (llvm_math.SHORT_RANGE)


def exhaustive_float32(name: str, chunk: int = 1 << 24) -> dict[str, float]:
    """errors() over every float32 bit pattern (|x| <= 2^20 for the short-range kernels)."""
    kernel, worst = compile_unary(name, np.float32), dict.fromkeys(("abs", "rel", "ulp"), 0.0)
    for start in range(0, 1 << 32, chunk):
        x = np.arange(start, start + chunk, dtype=np.uint64).astype(np.uint32).view(np.float32)
        if name in SHORT_RANGE_UNARY:
            x = x[np.abs(x) <= SHORT_LIMIT_F32]
        e = errors(kernel(x), reference(name, x))
        worst = {k: max(v, e[k]) for k, v in worst.items()}
    return worst


def exhaustive_table(names=UNARY) -> list[str]:
    rows = ["| function | inputs | max abs error (\\|exact\\| <= 1) | max rel error | max ulps |",
            "|---|---|---|---|---|"]
    for name in names:
        print(f"exhaustive {name} ...", file=sys.stderr, flush=True)
        e = exhaustive_float32(name)
        inputs = "every float32" + (", \\|x\\| <= 2^20" if name in SHORT_RANGE_UNARY else "")
        rows.append(f"| {name} | {inputs} | {e['abs']:.2g} | {e['rel']:.2g} "
                    f"| {e['ulp']:.2f} |")
    return rows


def _domain(segment) -> str:
    kind, lo, hi = segment
    if kind == "lin":
        return f"[{lo:g}, {hi:g}]"
    return f"{'' if kind == 'pos' else '±'}[1e{lo:g}, 1e{hi:g}]"


def best_time(fn, x: np.ndarray, repeat: int) -> float:
    fn(x)  # warm-up: page faults of the output, compile
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return min(times)


def speed_table(n: int, repeat: int, names=UNARY) -> list[str]:
    rng = np.random.default_rng(0)
    rows = ["| function | numpy (ms) | llvm_math (ms) | speed-up |", "|---|---|---|---|"]
    for name in names:
        lo, hi = (0.01, 100.0) if name in ("log", "log1p", "sqrt") else (-10.0, 10.0)
        x = rng.uniform(lo, hi, n).astype(np.float32)
        with np.errstate(all="ignore"):
            t_np = best_time(NUMPY[name], x, repeat)
        t_jit = best_time(compile_unary(name, np.float32), x, repeat)
        rows.append(f"| {name} | {t_np * 1e3:.1f} | {t_jit * 1e3:.1f} | {t_np / t_jit:.1f}x |")
    copy = best_time(lambda a: np.add(a, 0, out=np.empty_like(a)), x, repeat)
    rows.append(f"| (x + 0, memory-bound yardstick) | {copy * 1e3:.1f} | | |")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.math_accuracy", description=__doc__)
    parser.add_argument("--points", type=int, default=2_000_000, help="float32 sweep size "
                        "per function (float64: a quarter of it)")
    parser.add_argument("--speed-n", type=int, default=16 << 20, help="elements timed")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs (best is shown)")
    parser.add_argument("--no-speed", action="store_true", help="accuracy only")
    parser.add_argument("--exhaustive", action="store_true",
                        help="also check every float32 input (1-3 minutes per function)")
    parser.add_argument("--only", default=",".join(MEASURED),
                        help="comma-separated functions (default: all)")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(MEASURED)
    if unknown:
        parser.error(f"unknown functions {', '.join(sorted(unknown))}; "
                     f"known: {', '.join(MEASURED)}")
    print("\n".join(accuracy_table(args.points, names)))
    if args.exhaustive:
        print("\n" + "\n".join(exhaustive_table(names)))
    if not args.no_speed:
        print(f"\nfloat32, {args.speed_n} elements, 1 thread, best of {args.repeat}:\n")
        print("\n".join(speed_table(args.speed_n, args.repeat, names)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
