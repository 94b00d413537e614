"""One training step (forward, loss, backward, optimizer step) in tracejit's eager autograd
against PyTorch eager, on the same weights and data.

`python -m bench.train_step [--repeat N] [--steps N] [--json FILE] [--phases]`: for each
workload and optimizer, the median over `repeat` runs of `steps` steps, in milliseconds per
step, for tracejit and torch measured in the same run, and their ratio (tracejit / torch;
below 1 is faster). `--phases` also prints each phase's median (zero_grad, forward and loss,
backward, optimizer step) over 30 single steps. Workloads: an MLP (64 x 256 -> 512 -> 512 ->
10, cross-entropy) and a transformer encoder block (batch 8, 64 tokens, d_model 128, 4 heads,
ff 512, mean-squared error).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time

import numpy as np


def _mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                         nn.Linear(512, 10))


def _block(lib):
    return lib.nn.TransformerEncoderLayer(128, 4, 512, dropout=0.0, batch_first=True)


WORKLOADS = {
    "mlp": (_mlp, lambda rng: rng.standard_normal((64, 256)),
            lambda rng: rng.integers(0, 10, 64), "cross_entropy"),
    "transformer_block": (_block, lambda rng: rng.standard_normal((8, 64, 128)),
                          lambda rng: rng.standard_normal((8, 64, 128)), "mse_loss"),
}
OPTIMIZERS = {
    "sgd_momentum": lambda lib, params: lib.optim.SGD(params, lr=0.01, momentum=0.9),
    "adamw": lambda lib, params: lib.optim.AdamW(params, lr=1e-3),
}


def make(lib, workload: str, optimizer: str, seed: int = 0):
    """(step function, model) for `lib` (tracejit or torch), weights copied from torch's."""
    import torch

    import tracejit

    build, make_x, make_y, loss_name = WORKLOADS[workload]
    torch.manual_seed(seed)
    reference = build(torch)
    model = build(lib)
    if lib is tracejit:
        model.load_state_dict({k: tracejit.tensor(v.detach().numpy())
                               for k, v in reference.state_dict().items()})
    else:
        model = reference
    rng = np.random.default_rng(seed)
    x = lib.tensor(make_x(rng).astype(np.float32))
    y_np = make_y(rng)
    y = lib.tensor(y_np if y_np.dtype.kind == "i" else y_np.astype(np.float32))
    opt = OPTIMIZERS[optimizer](lib, model.parameters())
    loss_fn = getattr(lib.nn.functional, loss_name)

    def step(clock=None):
        marks = [time.perf_counter()] if clock is not None else None
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        if marks is not None:
            marks.append(time.perf_counter())
        loss.backward()
        if marks is not None:
            marks.append(time.perf_counter())
        opt.step()
        if marks is not None:
            marks.append(time.perf_counter())
            clock.append([b - a for a, b in itertools.pairwise(marks)])
        return loss

    return step


def phases(step, steps: int = 30) -> dict[str, float]:
    """Median milliseconds of (zero_grad + forward + loss), backward and the optimizer step."""
    step()
    clock: list = []
    for _ in range(steps):
        step(clock)
    names = ("forward", "backward", "optimizer step")
    return {n: statistics.median(c[k] for c in clock) * 1e3 for k, n in enumerate(names)}


def measure(step, steps: int, repeat: int) -> float:
    """Median milliseconds per step over `repeat` runs of `steps` steps (after one warm step)."""
    step()
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        runs.append((time.perf_counter() - start) / steps * 1e3)
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> dict:
    import torch

    import tracejit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--json", default=None)
    parser.add_argument("--phases", action="store_true", help="also time each phase")
    options = parser.parse_args(argv)
    results = {}
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"{'workload':<20}{'optimizer':<15}{'tracejit ms':>12}{'torch ms':>10}{'ratio':>8}")
    for workload in WORKLOADS:
        for optimizer in OPTIMIZERS:
            ours = measure(make(tracejit, workload, optimizer), options.steps, options.repeat)
            theirs = measure(make(torch, workload, optimizer), options.steps, options.repeat)
            results[f"{workload}/{optimizer}"] = {"tracejit_ms": ours, "torch_ms": theirs,
                                                  "ratio": ours / theirs}
            print(f"{workload:<20}{optimizer:<15}{ours:>12.2f}{theirs:>10.2f}"
                  f"{ours / theirs:>8.2f}")
            if options.phases:
                for lib in (tracejit, torch):
                    split = phases(make(lib, workload, optimizer))
                    print(f"    {lib.__name__:<10}" + "  ".join(
                        f"{k} {v:.2f}" for k, v in split.items()))
    if options.json:
        with open(options.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
