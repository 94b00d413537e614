"""The `tracejit` command: `tracejit demo` now; inspect, run and bench come with later work."""

from __future__ import annotations

import argparse
import sys


def demo(args: argparse.Namespace) -> int:
    """Build a small CNN classifier, run it eagerly, trace it, print the IR and check that the
    compiled model computes what eager did (within float32 rounding)."""
    import numpy as np

    import tracejit
    from tracejit import nn

    tracejit.manual_seed(args.seed)
    model = nn.Sequential(
        nn.Conv2d(1, 4, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 16),
        nn.GELU(),
        nn.LayerNorm(16),
        nn.Linear(16, 3),
    ).eval()
    x = tracejit.randn(args.batch, 1, 8, 8)
    with tracejit.no_grad():
        logits = model(x)
    probs = logits.softmax(dim=-1)
    print(model)
    print(f"parameters: {sum(p.numel() for p in model.parameters())}")
    print(f"input: {tuple(x.shape)} {x.dtype}")
    print("logits:", logits, sep="\n")
    print("class probabilities:", probs, sep="\n")
    print("predicted classes:", probs.argmax(dim=-1).tolist())

    traced = tracejit.trace(model, x)
    print(f"\ntraced: {traced.signature}, {traced.graph.op_count()} ops")
    print(traced.code)
    optimized = traced.optimized_graph
    groups = sum(op.op.value == "fused" for op in optimized.walk())
    print(f"after the default pass pipeline ({groups} fused group(s)):")
    print(optimized)
    failures = 0
    for batch in (args.batch, args.batch + 3):  # the second batch size retraces
        xb = tracejit.randn(batch, 1, 8, 8)
        want, got = model(xb).numpy(), traced(xb).numpy()
        # compiled reductions sum in another order than numpy: equal within float32 rounding
        close = np.allclose(got, want, rtol=1e-5, atol=1e-6)
        failures += not close
        print(f"traced == eager on a batch of {batch}: {close} "
              f"(max difference {np.max(np.abs(got - want)):.1e})")
    if failures:
        print("error: the traced model disagrees with eager", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tracejit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("demo", help="run a small model eagerly and print its output")
    p.add_argument("--batch", type=int, default=2, help="batch size (default 2)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
