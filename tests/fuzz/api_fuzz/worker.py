"""The worker process: reads JSON requests on stdin, answers on stdout, one line each.
{"op": "run", "seed", "index", "modes", ...} generates and runs a program (compile mode: with
graph breaks injected, api_fuzz/breaks.py); {"op": "check", "program", "mode", ...} runs a
given one (the shrinker's question). Before each mode it writes
{"start": mode}, so the parent knows which mode a crash belongs to."""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything else printed goes to stderr, never into the protocol
    from .breaks import with_breaks
    from .gen import generate
    from .program import Program
    from .runner import run_program

    def send(obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()

    for line in sys.stdin:
        req = json.loads(line)
        variants = {}
        if req["op"] == "run":
            prog, rejected = generate(req["seed"], req["index"])
            if "compile" in req["modes"]:  # compile runs the program with graph breaks
                variants["compile"] = with_breaks(prog, req["seed"], req["index"])
        else:
            prog, rejected = Program.from_json(req["program"]), 0
        res = run_program(prog, req["modes"], req["backend"], req["timeout"],
                          on_start=lambda mode: send({"start": mode}), variants=variants)
        send({"done": res, "rejected": rejected})


if __name__ == "__main__":
    main()
