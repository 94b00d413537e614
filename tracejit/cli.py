"""The `tracejit` command: `tracejit demo` runs a small model; `tracejit bench` runs the
benchmark harness (`python -m bench`, with the same options); `tracejit inspect FILE` and
`tracejit run FILE --input NAME=x.npy` work on graph files (tracejit.save)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path


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
    return _save_and_load(traced, xb, got)


def _save_and_load(traced, x, expected) -> int:
    """Save the compiled model to a graph file, load it back and check it computes the same."""
    import tempfile

    import numpy as np

    import tracejit

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "demo.tjg"
        tracejit.save(traced, path)
        size = path.stat().st_size
        loaded = tracejit.load(path)
        got = loaded(x).numpy()
    same = np.array_equal(got, expected)
    print(f"\nsaved to a graph file ({size} bytes: {len(loaded.specs)} graphs, the weights and a "
          f"manifest), loaded back: same result as the traced model: {same}")
    if not same:
        print("error: the loaded model disagrees with the traced one", file=sys.stderr)
        return 1
    return 0


def bench(argv: list[str]) -> int:
    """`tracejit bench ARGS` is `python -m bench ARGS`."""
    return _harness().main(argv, prog="tracejit bench")


def _harness():
    """The harness module bench/__main__.py of the source checkout tracejit runs from."""
    import tracejit

    root = Path(tracejit.__file__).resolve().parent.parent
    if (root / "bench" / "__main__.py").is_file() and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        harness = importlib.import_module("bench.__main__")
    except ImportError:
        harness = None
    if not hasattr(harness, "execute"):
        raise SystemExit("tracejit bench: the benchmark harness lives in the bench/ folder of "
                         "tracejit's source repository, which this installation does not have; "
                         "install tracejit from a checkout (pip install -e '.[bench]')")
    return harness


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tracejit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("demo", help="run a small model eagerly and print its output")
    p.add_argument("--batch", type=int, default=2, help="batch size (default 2)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=demo)
    # listed for --help; main() hands everything after `bench` to the harness's own parser
    commands.add_parser("bench", add_help=False,
                        help="benchmark tracejit against numpy, torch and jax (python -m bench; "
                             "tracejit bench --help lists its options)")
    commands.add_parser("inspect", add_help=False,
                        help="print a graph file's signatures, op histogram and IR")
    commands.add_parser("run", add_help=False,
                        help="run a graph file on .npy inputs (--input NAME=FILE.npy)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        return bench(argv[1:])
    if argv[:1] in (["inspect"], ["run"]):  # their own parsers, as bench has
        from tracejit import graph_tools
        command = graph_tools.inspect_command if argv[0] == "inspect" else \
            graph_tools.run_command
        return command(argv[1:])
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
