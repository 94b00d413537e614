"""Graph breaks: what `tracejit.compile` costs per call where a function breaks, and W7, a
transformer block that logs statistics read with `.item()` and exits early on one of them.

`python -m bench.breaks [--repeat N] [--scale S] [--peers P,Q] [--part all|overhead|W7]
[--json PATH]`:

1. Per-call overhead on float32[16]: `x + 1` (no break), then one-op steps split by 1 or 3
   breaks, each a cheap statement no graph can hold: a `logging` call (`LOGGER.debug(...)`, its
   level off, as in production code) or `n = y.sum().item()`. A function with k breaks runs
   k + 1 one-op graphs, so the issue's goal ("each break adds at most one more compiled call plus
   the statement") is a budget: (k + 1) x traced `x + 1` + k x the statement run alone, eagerly
   (compile can beat it: only the `.item()` call runs as Python, `y.sum()` joins the graph).
   Every callable is timed in the same run (bench/harness.py: warm, calibrated runs,
   interleaved, medians); ratios are to `tracejit.trace` of `x + 1` from that run.
2. W7 through the harness's peers (as `python -m bench --workloads W7` runs it), ratios to
   torch eager. Trace and script cannot capture W7 (its `if` reads a tensor into Python), nor can
   jax.jit; those peers are listed as not run, with the reason.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

import numpy as np

from bench.harness import Result, measure
from bench.workloads import Workload, _gelu_tanh, _randn

LOGGER = logging.getLogger("bench.breaks")  # silent unless configured: a call costs ~0.1 us


# -- part 1: the same one-op steps with 0, 1 and 3 breaks between them ------------------------

def add_one(x):
    return x + 1


def log_1(x):
    y = x + 1
    LOGGER.debug("step %d", 1)
    return y + 1


def log_3(x):
    y = x + 1
    LOGGER.debug("step %d", 1)
    y = y + 1
    LOGGER.debug("step %d", 2)
    y = y + 1
    LOGGER.debug("step %d", 3)
    return y + 1


def item_1(x):
    y = x + 1
    n = y.sum().item()  # noqa: F841  (a tensor read into Python, as logging code does)
    return y + 1


def item_3(x):
    y = x + 1
    n = y.sum().item()
    y = y + 1
    n = y.sum().item()
    y = y + 1
    n = y.sum().item()  # noqa: F841
    return y + 1


def _log_statement(y):
    LOGGER.debug("step %d", 1)


def _item_statement(y):
    return y.sum().item()


# name -> (function, breaks, the break statement alone)
FUNCTIONS = {
    "x + 1 (0 breaks)": (add_one, 0, None),
    "1 break: logging": (log_1, 1, _log_statement),
    "3 breaks: logging": (log_3, 3, _log_statement),
    "1 break: .item()": (item_1, 1, _item_statement),
    "3 breaks: .item()": (item_3, 3, _item_statement),
}
OVERHEAD_PEERS = ("tracejit eager", "tracejit traced", "tracejit compile", "torch eager",
                  "torch.compile")
TORCH_BACKENDS = ("inductor", "eager", "aot_eager")  # torch.compile's default first


def torch_compile(fn, args, backends=TORCH_BACKENDS):
    """(torch.compile(fn) that ran `fn(*args)` once, its backend): the first backend that
    works here."""
    import torch

    errors = []
    for backend in backends:
        torch._dynamo.reset()
        try:
            compiled = torch.compile(fn, backend=backend)
            compiled(*args)
            return compiled, backend
        except Exception as e:  # a missing C compiler, say: try the next backend
            errors.append(f"{backend}: {type(e).__name__}: {e}")
    raise RuntimeError("torch.compile failed with every backend: " + "; ".join(errors))


def _statement_row(name: str) -> str:
    return f"  its statement alone ({name.split(': ')[1]})"


def overhead_callables(peers: tuple[str, ...]) -> tuple[dict, dict]:
    """({(function, peer): zero-argument callable}, notes such as the torch.compile backend).
    Statement rows time each break statement alone, eagerly, on a float32[16] tensor."""
    import tracejit

    calls, notes = {}, {}
    x = tracejit.from_numpy(_randn(16))
    for name, (fn, _, statement) in FUNCTIONS.items():
        if "tracejit eager" in peers:
            calls[name, "tracejit eager"] = (lambda f: lambda: f(x))(fn)
        if "tracejit traced" in peers and fn is add_one:
            traced = tracejit.trace(fn, x)
            calls[name, "tracejit traced"] = lambda t=traced: t(x)
        if "tracejit compile" in peers:
            compiled = tracejit.compile(fn)
            compiled(x)
            calls[name, "tracejit compile"] = lambda c=compiled: c(x)
        if statement is not None:
            calls[_statement_row(name), "tracejit eager"] = lambda s=statement: s(x)
    if "torch eager" in peers or "torch.compile" in peers:
        import torch

        t = torch.from_numpy(_randn(16))
        for name, (fn, _, _) in FUNCTIONS.items():
            if "torch eager" in peers:
                calls[name, "torch eager"] = (lambda f: lambda: f(t))(fn)
            if "torch.compile" in peers:
                compiled, notes["torch.compile backend"] = torch_compile(fn, (t,))
                calls[name, "torch.compile"] = lambda c=compiled: c(t)
    return calls, notes


def check_overhead(calls: dict) -> None:
    """Every compiled callable returns what its function returns run as plain Python."""
    import tracejit

    x = tracejit.from_numpy(_randn(16))
    for (name, peer), call in calls.items():
        if name in FUNCTIONS and peer.startswith("tracejit") and peer != "tracejit eager":
            want = FUNCTIONS[name][0](x).numpy()
            if not np.array_equal(call().numpy(), want):
                raise AssertionError(f"{peer} of {name!r} differs from eager")


def budgets(medians: dict) -> dict:
    """{function: the issue's per-call budget in seconds}, from this run's medians."""
    one = medians.get(("x + 1 (0 breaks)", "tracejit traced"))
    out = {}
    for name, (_, k, _) in FUNCTIONS.items():
        stmt = medians.get((_statement_row(name), "tracejit eager")) if k else 0.0
        if one is not None and stmt is not None:
            out[name] = (k + 1) * one + k * stmt
    return out


def overhead_table(results: list[Result], peers: tuple[str, ...]) -> str:
    """Microseconds per call, and each one's ratio to traced `x + 1` of the same run."""
    medians = {(r.workload, r.peer): r.median_s for r in results}
    ref = medians.get(("x + 1 (0 breaks)", "tracejit traced"))
    budget = budgets(medians)
    header = f"{'us per call (x trace of x + 1)':<30}" + "".join(f"{p:>19}" for p in peers)
    header += f"{'budget (compile/it)':>21}"
    lines = [header, "-" * len(header)]
    names = list(dict.fromkeys(r.workload for r in results))
    for name in names:
        cells = ""
        for peer in peers:
            s = medians.get((name, peer))
            ratio = f" ({s / ref:.1f}x)" if s is not None and ref else ""
            cells += f"{'-' if s is None else f'{s * 1e6:.2f}{ratio}':>19}"
        b, s = budget.get(name), medians.get((name, "tracejit compile"))
        over = f" ({s / b:.1f}x)" if b and s is not None else ""
        cells += f"{'-' if b is None else f'{b * 1e6:.2f}{over}':>21}"
        lines.append(f"{name:<30}{cells}")
    return "\n".join(lines)


def capture_counts(fn, tracejit_args: tuple, torch_args: tuple | None) -> dict:
    """{"tracejit.compile": [graphs, breaks], "torch.compile": [graphs, breaks]} of one call
    (torch's from torch._dynamo.explain, when torch is given)."""
    import tracejit

    report = tracejit.explain(fn, *tracejit_args)
    counts = {"tracejit.compile": [report.graph_count, report.graph_break_count]}
    if torch_args is not None:
        import torch

        torch._dynamo.reset()
        theirs = torch._dynamo.explain(fn)(*torch_args)
        counts["torch.compile"] = [theirs.graph_count, theirs.graph_break_count]
    return counts


def _describe_counts(what: str, counts: dict) -> str:
    return f"{what}: " + ", ".join(f"{k} {g} graphs / {b} breaks" for k, (g, b) in counts.items())


def measure_overhead(peers: tuple[str, ...], repeat: int) -> tuple[list[Result], dict]:
    calls, notes = overhead_callables(peers)
    check_overhead(calls)
    named = {f"{name}|{peer}": call for (name, peer), call in calls.items()}
    results = measure("breaks", named, repeat)
    for r in results:
        r.workload, r.peer = r.peer.split("|")
    return results, notes


# -- part 2: W7, a transformer block with logging and a `.item()`-driven early exit -----------

def block(scale: float = 1.0, limit: float = 1e3, heads: int = 4) -> Workload:
    """W7: a pre-norm transformer block (attention, then a tanh-GELU MLP) on [batch, 64, 128].
    After attention it reads max |x| with `.item()`, logs it, and returns early when it exceeds
    `limit` (never, at the default); at the end it logs the mean square. `scale` shrinks the
    batch (8 at 1.0)."""
    batch, seq, d = max(1, round(8 * scale)), 64, 128
    dh = d // heads

    def array_fn(xp, x, ln1_w, ln1_b, w_qkv, b_qkv, w_o, b_o, ln2_w, ln2_b, w_1, b_1, w_2, b_2):
        def norm(v, w, b):
            centred = v - v.mean(axis=-1, keepdims=True)
            var = (centred * centred).mean(axis=-1, keepdims=True)
            return centred / xp.sqrt(var + 1e-5) * w + b

        def linear(v, w, b):  # on rows: numpy's stacked matmul with a transposed w is slow
            return (v.reshape(-1, v.shape[-1]) @ w.T + b).reshape(batch, seq, -1)

        def heads_of(v):
            return v.reshape(batch, seq, heads, dh).transpose(0, 2, 1, 3)

        qkv = linear(norm(x, ln1_w, ln1_b), w_qkv, b_qkv)
        q, k, v = (heads_of(qkv[..., i * d:(i + 1) * d]) for i in range(3))
        s = q @ k.transpose(0, 1, 3, 2) * (dh ** -0.5)
        e = xp.exp(s - s.max(axis=-1, keepdims=True))
        y = (e / e.sum(axis=-1, keepdims=True)) @ v
        x = x + linear(y.transpose(0, 2, 1, 3).reshape(batch, seq, d), w_o, b_o)
        peak = float(xp.abs(x).max())
        LOGGER.info("attention out: max |x| %.4f", peak)
        if peak > limit:
            return x
        h = _gelu_tanh(xp, linear(norm(x, ln2_w, ln2_b), w_1, b_1))
        x = x + linear(h, w_2, b_2)
        LOGGER.info("block out: mean square %.4f", float((x * x).mean()))
        return x

    def tensor_fn(F, x, ln1_w, ln1_b, w_qkv, b_qkv, w_o, b_o, ln2_w, ln2_b, w_1, b_1, w_2, b_2):
        qkv = F.linear(F.layer_norm(x, (d,), ln1_w, ln1_b, eps=1e-5), w_qkv, b_qkv)
        q = qkv[..., :d].reshape(batch, seq, heads, dh).transpose(1, 2)
        k = qkv[..., d:2 * d].reshape(batch, seq, heads, dh).transpose(1, 2)
        v = qkv[..., 2 * d:].reshape(batch, seq, heads, dh).transpose(1, 2)
        att = F.softmax(q @ k.transpose(-2, -1) * (dh ** -0.5), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(batch, seq, d)
        x = x + F.linear(y, w_o, b_o)
        peak = x.abs().max().item()
        LOGGER.info("attention out: max |x| %.4f", peak)
        if peak > limit:
            return x
        h = F.gelu(F.linear(F.layer_norm(x, (d,), ln2_w, ln2_b, eps=1e-5), w_1, b_1),
                   approximate="tanh")
        x = x + F.linear(h, w_2, b_2)
        LOGGER.info("block out: mean square %.4f", (x * x).mean().item())
        return x

    params = [1 + _randn(d, std=0.1, seed=1), _randn(d, std=0.1, seed=2),
              _randn(3 * d, d, std=d ** -0.5, seed=3), _randn(3 * d, std=0.1, seed=4),
              _randn(d, d, std=d ** -0.5, seed=5), _randn(d, std=0.1, seed=6),
              1 + _randn(d, std=0.1, seed=7), _randn(d, std=0.1, seed=8),
              _randn(4 * d, d, std=d ** -0.5, seed=9), _randn(4 * d, std=0.1, seed=10),
              _randn(d, 4 * d, std=(4 * d) ** -0.5, seed=11), _randn(d, std=0.1, seed=12)]
    inputs = [_randn(batch, seq, d), *params]
    why = "its `if` reads a tensor into Python (.item()): no single graph holds it"
    return Workload("W7", f"W7 block, breaks [{batch},{seq},{d}]", inputs, array_fn,
                    tensor_fn, 1e-3,
                    not_run={"tracejit traced": why, "tracejit script": why, "jax.jit": why})


# -- the command ------------------------------------------------------------------------------

def _captures(w: Workload, with_torch: bool) -> dict:
    """{what: graph and break counts} for part 1's functions and W7."""
    import tracejit
    import tracejit.nn.functional as F

    x = tracejit.from_numpy(_randn(16))
    torch = None
    if with_torch:
        import torch
    out = {}
    for name, (fn, _, _) in FUNCTIONS.items():
        t = (torch.from_numpy(_randn(16)),) if torch else None
        out[name] = capture_counts(fn, (x,), t)
    tensors = tuple(tracejit.from_numpy(a) for a in w.inputs)
    t = (torch.nn.functional, *(torch.from_numpy(a) for a in w.inputs)) if torch else None
    out[w.name] = capture_counts(w.tensor_fn, (F, *tensors), t)
    return out


def main(argv: list[str] | None = None) -> int:
    from bench import peers as bench_peers
    from bench.__main__ import BASELINES, available_peers, run_workload
    from bench.harness import table
    from bench.progress import Progress

    parser = argparse.ArgumentParser(prog="python -m bench.breaks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per callable")
    parser.add_argument("--scale", type=float, default=1.0, help="W7's batch multiplier")
    parser.add_argument("--peers", help="comma list (default: all that run here)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--part", choices=("all", "overhead", "W7"), default="all",
                        help="run only the overhead table or only W7")
    args = parser.parse_args(argv)
    progress = Progress(3, quiet=True)
    names, skipped = available_peers(bench_peers.select(args.peers), progress)
    report = {"argv": sys.argv[1:] if argv is None else list(argv), "scale": args.scale,
              "repeat": args.repeat, "peers": names, "skipped": skipped, "failed": {},
              "not_run": {}, "workloads": [], "load_average_1min": [os.getloadavg()[0]]}
    w = block(args.scale)
    if args.part in ("all", "overhead"):
        chosen = tuple(p for p in OVERHEAD_PEERS if p in names)
        overhead, notes = measure_overhead(chosen, args.repeat)
        print(overhead_table(overhead, chosen))
        for key, value in notes.items():
            print(f"{key}: {value}")
        report.update(notes, overhead=[r.to_json() for r in overhead],
                      budgets_s=budgets({(r.workload, r.peer): r.median_s for r in overhead}))
        report["load_average_1min"].append(os.getloadavg()[0])
    if args.part in ("all", "W7"):
        w7 = run_workload(w, names, args.repeat, report, progress)
        report["results"] = [r.to_json() for r in w7]
        report["load_average_1min"].append(os.getloadavg()[0])
        print()
        print(table(w7, baselines=BASELINES))
    _footer(report, w, names, skipped, args.json)
    return 1 if report["failed"] else 0


def _footer(report: dict, w: Workload, names: list[str], skipped: dict, path: str | None):
    """Graph and break counts, the load average, the peers not run; the JSON file."""
    from bench.__main__ import _machine

    report["captures"] = _captures(w, "torch eager" in names)
    for what, counts in report["captures"].items():
        print(_describe_counts(what, counts))
    loads = ", ".join(f"{v:.2f}" for v in report["load_average_1min"])
    print(f"load average (1 min) at the start and after each part: {loads}")
    for what, why in {**report["not_run"], **report["failed"], **skipped}.items():
        print(f"not run: {what}: {why}")
    if path:
        report["machine"] = _machine()
        with open(path, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    raise SystemExit(main())
