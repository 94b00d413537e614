"""`tracejit inspect FILE` and `tracejit run FILE --input NAME=x.npy ...`: graph files from the
command line (see docs/graph-file.md)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter


def inspect_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracejit inspect",
                                     description="Print a graph file's signatures, op "
                                                 "histogram and IR.")
    parser.add_argument("file")
    parser.add_argument("--no-ir", action="store_true", help="leave out the IR text")
    args = parser.parse_args(argv)
    from tracejit.graphfile import GraphFileError, load

    try:
        loaded = load(args.file, backend="eager", pipeline="")
    except GraphFileError as e:
        print(f"tracejit inspect: error: {e}", file=sys.stderr)
        return 1
    manifest = loaded.manifest
    print(f"{args.file}: {manifest.get('kind', '?')} {loaded.name}, format version "
          f"{manifest.get('version')}, written by tracejit {manifest.get('tracejit', '?')}")
    print(f"pipeline: {manifest.get('pipeline') or '(none)'}")
    if loaded.state:
        size = sum(t._data.nbytes for t in loaded.state)
        print(f"state: {len(loaded.state)} arrays, {size} bytes")
    for k, spec in enumerate(loaded.specs):
        ops = Counter(op.op.value for op in spec.graph.walk())
        histogram = ", ".join(f"{name} {n}" for name, n in sorted(ops.items(),
                                                                  key=lambda kv: (-kv[1], kv[0])))
        print(f"\n[{k}] {spec.signature}")
        print(f"    {sum(ops.values())} ops: {histogram}")
        if not args.no_ir:
            print(spec.graph)
    return 0


def run_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tracejit run",
                                     description="Run a graph file on inputs from .npy files.")
    parser.add_argument("file")
    parser.add_argument("--input", "-i", action="append", default=[], metavar="NAME=FILE.npy",
                        help="an argument by name (repeat for each); FILE.npy is read with "
                             "allow_pickle=False")
    parser.add_argument("--output", "-o", help="write the outputs to this .npz (default: print)")
    parser.add_argument("--backend", choices=("llvm", "eager"), default=None)
    args = parser.parse_args(argv)
    import numpy as np

    import tracejit
    from tracejit import pytree
    from tracejit.graphfile import GraphFileError, load

    try:
        loaded = load(args.file, backend=args.backend)
    except GraphFileError as e:
        return _error(f"{e}", 1)
    kwargs = {}
    for item in args.input:
        name, sep, path = item.partition("=")
        if not sep or not name:
            return _error(f"--input takes NAME=FILE.npy, got {item!r}", 2)
        try:
            kwargs[name] = tracejit.from_numpy(_read_input(path))
        except (OSError, ValueError, TypeError) as e:
            return _error(f"cannot use {path} as input {name!r}: {e}", 2)
    try:
        result = loaded(**kwargs)
    except (TypeError, ValueError, RuntimeError, AssertionError, IndexError) as e:
        return _error(f"{e}", 1)
    leaves, _, names = pytree.flatten(result, "out")
    arrays = {name: t.detach().numpy() for name, t in zip(names, leaves)}
    if args.output:
        out = args.output if args.output.endswith(".npz") else args.output + ".npz"
        try:
            np.savez(out, **arrays)
        except OSError as e:
            return _error(f"cannot write {out}: {e.strerror or e}", 1)
        print(f"wrote {', '.join(arrays)} to {out}")
    else:
        for name, array in arrays.items():
            print(f"{name}: {array.dtype}{list(array.shape)}")
            print(array)
    return 0


def _read_input(path: str):
    """The array of the .npy file `path`: a regular file, its header checked against its size
    before anything is allocated, no pickle."""
    from tracejit.untrusted import UntrustedFileError, read_npy, read_regular

    try:
        return read_npy(read_regular(path, "input")).copy()
    except FileNotFoundError:
        raise OSError("no such file") from None
    except UntrustedFileError as e:
        raise ValueError(e.problem) from None


def _error(message: str, status: int) -> int:
    """One line on stderr, argparse's way (`prog: error: ...`); the exit status."""
    print(f"tracejit run: error: {message}", file=sys.stderr)
    return status
