"""The `tracejit` command: `tracejit demo` runs a small model; `tracejit bench` runs the
benchmark harness (`python -m bench`, with the same options); `tracejit inspect FILE` and
`tracejit run FILE --input NAME=x.npy` work on graph files (tracejit.save)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path


def demo(args: argparse.Namespace) -> int:
    """Run the same model eagerly and compiled: time both, check they agree, show the compiled
    graph pointing at the model's source lines, and save and reload it as a graph file."""
    import numpy as np

    import tracejit
    from tracejit.examples.demo_model import Classifier

    tracejit.manual_seed(args.seed)
    model = Classifier().eval()
    x = tracejit.randn(args.batch, 256)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"tracejit {tracejit.__version__} demo: {type(model).__name__} from "
          f"{_short(sys.modules[type(model).__module__].__file__)} ({n_params:,} parameters), "
          f"a batch of {args.batch}")
    with tracejit.no_grad():
        eager = model(x)
    compiled = tracejit.trace(model, x)  # records one run into the IR, compiles on first call
    got = compiled(x)
    diff = float(np.max(np.abs(got.detach().numpy() - eager.detach().numpy())))
    same = bool(np.allclose(got.detach().numpy(), eager.detach().numpy(), rtol=1e-5, atol=1e-6))
    t_eager = _median_time(lambda: model(x), args.repeat)
    t_compiled = _median_time(lambda: compiled(x), args.repeat)
    print(f"  eager (numpy, op by op)   {t_eager * 1e3:8.2f} ms per call")
    print(f"  compiled (tracejit.trace) {t_compiled * 1e3:8.2f} ms per call: "
          f"{t_eager / t_compiled:.1f}x faster (medians of {args.repeat} calls)")
    print(f"  same result as eager: {same} (max difference {diff:.1e}, float32 rounding)")
    print(f"  predicted classes of the first 8 rows: {got.argmax(dim=-1)[:8].tolist()}")
    _show_graph(compiled)
    if not same:
        print("error: the compiled model disagrees with eager", file=sys.stderr)
        return 1
    return _save_and_load(compiled, x, got.detach().numpy())


def _median_time(fn, repeat: int) -> float:
    import time

    fn()  # warm-up: the first compiled call builds its kernels
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _short(path: str) -> str:
    """`path` relative to the working directory or to tracejit's install, for display."""
    import os

    import tracejit

    root = Path(tracejit.__file__).resolve().parent.parent
    full = Path(path).resolve()
    for base in (Path.cwd(), root):
        if full.is_relative_to(base):
            return os.path.relpath(full, base)
    return path


def _show_graph(compiled) -> None:
    """The optimized graph's top-level ops, each with the model line it came from."""
    graph = compiled.optimized_graph
    ops = [op for op in graph.body.ops if op.op.value not in ("return", "constant")]
    fused = sum(op.op.value == "fused" for op in ops)
    inner = sum(1 for op in graph.walk() if op.op.value not in ("fused", "yield", "return"))
    print(f"\nthe compiled graph: {len(ops)} steps ({fused} fused groups holding "
          f"{inner - (len(ops) - fused)} ops); each points at the model's source:")
    for op in ops:
        members = [o.op.value for o in op.blocks[0].walk() if o.op.value != "yield"] \
            if op.blocks else []
        what = op.op.value + (f"[{', '.join(_dedupe(members))}]" if members else "")
        loc = f"{_short(op.loc.file)}:{op.loc.line}" if op.loc else "?"
        print(f"  {what[:58]:<58} {op.results[0].type!s:<18} {loc}")
    print("(print(compiled.code) shows the captured IR, compiled.optimized_graph the above)")


def _dedupe(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


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
        got = loaded(x).detach().numpy()
    same = np.array_equal(got, expected)
    print(f"\nsaved to a graph file ({size} bytes: {len(loaded.specs)} graph(s), the weights and a "
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
    from tracejit._version import __version__

    parser = argparse.ArgumentParser(prog="tracejit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"tracejit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("demo", help="run a model eagerly and compiled, and compare")
    p.add_argument("--batch", type=int, default=512, help="batch size (default 512)")
    p.add_argument("--repeat", type=int, default=15, help="timed calls (default 15)")
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
        return guarded(f"tracejit {argv[0]}", command, argv[1:])
    args = build_parser().parse_args(argv)
    return guarded(f"tracejit {args.command}", args.func, args)


# what a user's input or environment can cause: one line, no traceback
USER_ERRORS = (OSError, RecursionError, MemoryError)


def guarded(prog: str, command, *args) -> int:
    """`command(*args)`'s exit status. A user error it lets through (a file that cannot be read
    or written, input nested too deeply, memory) prints one `prog: error: ...` line and gives 1;
    anything else is a bug in tracejit: its traceback, and a line asking to report it."""
    from tracejit.graphfile import GraphFileError

    try:
        return command(*args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except GraphFileError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    except USER_ERRORS as e:
        print(f"{prog}: error: {_user_message(e)}", file=sys.stderr)
        return 1
    except Exception:
        import traceback

        traceback.print_exc()
        print(f"{prog}: internal error: this is a bug in tracejit; please report it with the "
              "command line and the files it read", file=sys.stderr)
        return 1


def _user_message(e: BaseException) -> str:
    if isinstance(e, RecursionError):
        return "the input is nested too deeply to process (RecursionError)"
    if isinstance(e, MemoryError):
        return "out of memory"
    if isinstance(e, OSError) and e.strerror:
        return f"{e.filename}: {e.strerror}" if e.filename else e.strerror
    return str(e) or type(e).__name__


if __name__ == "__main__":
    sys.exit(main())
