"""`tracejit-opt`: read IR text, run a pass pipeline, print the result (xDSL's and MLIR's -opt).

    tracejit-opt model.ir -p simplify,cse,dce
    tracejit-opt tests.ir --split-input-file --verify-diagnostics

`--split-input-file` treats `// -----` lines as separators between independent inputs.
`--verify-diagnostics` expects each input to fail with the error its
`// expected-error {{text}}` comment names (parse, verifier or pass errors), and fails otherwise.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import zipfile

from tracejit.ir.graph import Graph
from tracejit.ir.parser import ParseError, parse
from tracejit.ir.verifier import VerifyError, verify
from tracejit.passes import DEFAULT_PIPELINE, Options, parse_pipeline, run_pipeline
from tracejit.untrusted import UntrustedFileError, read_regular

SPLIT = re.compile(r"^// -----.*$", re.MULTILINE)
EXPECTED = re.compile(r"//\s*expected-error\s*\{\{(.*?)\}\}")


def split_input(text: str) -> list[str]:
    """The inputs between `// -----` lines, each preceded by as many newlines as come before it
    in `text`, so that errors give the file's line numbers."""
    starts = [0] + [m.end() for m in SPLIT.finditer(text)]
    ends = [m.start() for m in SPLIT.finditer(text)] + [len(text)]
    return ["\n" * text.count("\n", 0, start) + text[start:end]
            for start, end in zip(starts, ends)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tracejit-opt", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", nargs="?", default="-", help="IR file ('-' or none: stdin)")
    parser.add_argument("-p", "--pipeline", default="",
                        help=f"passes to run, comma-separated (default pipeline: "
                             f"{DEFAULT_PIPELINE}); empty: parse, verify and print")
    parser.add_argument("--print-between-passes", action="store_true",
                        help="print the IR after every pass")
    parser.add_argument("--split-input-file", action="store_true",
                        help="process the chunks between '// -----' lines separately")
    parser.add_argument("--verify-diagnostics", action="store_true",
                        help="check that each input fails with its expected-error")
    parser.add_argument("--fast-math", action="store_true",
                        help="allow rewrites that change floating-point results")
    parser.add_argument("-o", "--output", default="-", help="where to write (default stdout)")
    return parser


def process(text: str, source: str, args, out: list[str]) -> None:
    """Parse, verify and run the pipeline on one input, appending what to print to `out`."""
    optimize(checked(text, source), args, out)


def checked(text: str, source: str) -> Graph:
    """The verified graph of `text`. Whatever else parsing or verifying untrusted text raises
    (a number too long to convert, nesting too deep) is a VerifyError naming the input."""
    try:
        return verify(parse(text, source=source))
    except (ParseError, VerifyError):
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError) as e:
        raise VerifyError(f"{source}: error: cannot read the IR ({type(e).__name__}: {e})"[:600]) \
            from None


def optimize(graph, args, out: list[str]) -> None:
    def show(name, g):
        out.append(f"// -----// IR after {name} //----- //\n{g}")

    run_pipeline(graph, args.pipeline, Options(fast_math=args.fast_math), verify_each=True,
                 after_pass=show if args.print_between_passes else None)
    out.append(str(graph))


def check_diagnostic(text: str, source: str, args, out: list[str]) -> str | None:
    """None if `text` fails as its expected-error comment says, else what went wrong."""
    expected = EXPECTED.findall(text)
    if len(expected) != 1:
        return f"{source}: needs exactly one '// expected-error {{{{...}}}}' comment"
    try:
        process(text, source, args, [])
    except (ParseError, VerifyError, ValueError, TypeError, RuntimeError) as e:
        if expected[0] in str(e):
            out.append(f"// expected error seen: {expected[0]}\n")
            return None
        return f"{source}: expected error containing {expected[0]!r}, got:\n{e}"
    return f"{source}: expected error containing {expected[0]!r}, but there was none"


def graph_file(args) -> int:
    from tracejit.graphfile import GraphFileError, load

    try:
        graphs = load(args.input, backend="eager", pipeline="").graphs
    except GraphFileError as e:
        print(f"tracejit-opt: error: {e}", file=sys.stderr)
        return 1
    out: list[str] = []
    for graph in graphs:
        optimize(graph, args, out)
    return write(args, "// -----\n".join(out))


def main(argv: list[str] | None = None) -> int:
    from tracejit.cli import guarded

    return guarded("tracejit-opt", _main, argv)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        parse_pipeline(args.pipeline)
    except ValueError as e:
        print(f"tracejit-opt: {e}", file=sys.stderr)
        return 2
    name = "<stdin>" if args.input == "-" else args.input
    try:
        if args.input == "-":
            text = sys.stdin.read()
        else:  # a regular file only (a FIFO or /dev/zero would block or never end), bounded
            data = read_regular(args.input, "input")
            if zipfile.is_zipfile(io.BytesIO(data)):  # a graph file: every graph in it
                return graph_file(args)
            text = data.decode("utf-8")
    except OSError as e:
        print(f"tracejit-opt: cannot read {name}: {e.strerror}", file=sys.stderr)
        return 2
    except UntrustedFileError as e:
        print(f"tracejit-opt: cannot read {name}: {e.problem}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"tracejit-opt: {name} is not UTF-8 text", file=sys.stderr)
        return 2
    chunks = split_input(text) if args.split_input_file else [text]
    out: list[str] = []
    failed = False
    for k, chunk in enumerate(chunks):
        source = f"{name} (input {k + 1})" if len(chunks) > 1 else name
        if args.verify_diagnostics:
            problem = check_diagnostic(chunk, source, args, out)
            if problem:
                print(problem, file=sys.stderr)
                failed = True
            continue
        try:
            process(chunk, source, args, out)
        except (ParseError, VerifyError) as e:
            print(e, file=sys.stderr)
            return 1
    status = write(args, "// -----\n".join(out))
    return status or (1 if failed else 0)


def write(args, result: str) -> int:
    if args.output == "-":
        sys.stdout.write(result)
    else:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(result)
        except OSError as e:
            print(f"tracejit-opt: cannot write {args.output}: {e.strerror}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
