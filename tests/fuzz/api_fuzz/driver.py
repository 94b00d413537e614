"""Running many programs in worker subprocesses (a segfault or a hang costs one worker, which
is restarted and the program counted), shrinking one program per distinct failure signature,
and printing the mode x outcome table and the deduplicated minimal repros."""

from __future__ import annotations

import collections
import json
import os
import queue
import select
import subprocess
import sys
import tempfile
import threading
import time

from .breaks import with_breaks
from .gen import generate
from .program import Program, repro
from .shrink import shrink

OUTCOMES = ("ok", "mismatch", "raised", "crash", "hang", "known-diff", "torch-raised", "n/a")
FAILURES = ("mismatch", "raised", "crash", "hang")
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Worker:
    """One worker subprocess; `request` answers (results, None) or (None, crash/hang info)."""

    def __init__(self, env: dict):
        self.env, self.proc, self.buf = env, None, b""
        # the worker's stderr: a crash reports its end
        self.err = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())

    def _spawn(self):
        self.buf = b""
        self.err.seek(0)
        self.err.truncate()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api_fuzz.worker"], cwd=HERE, env=self.env, bufsize=0,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err)

    def stderr_tail(self) -> str:
        """The last line the worker wrote to stderr (an LLVM or Python fatal error)."""
        self.err.seek(0, os.SEEK_END)
        self.err.seek(max(0, self.err.tell() - 2000))
        lines = self.err.read().decode(errors="replace").strip().splitlines()
        return lines[-1][:300] if lines else ""

    def _readline(self, deadline: float) -> bytes | None:
        """One line of the worker's answer; b"" when it died, None at the deadline."""
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                return None
            chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
            if not chunk:
                return b""
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def close(self, keep_log: bool = False):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        if not keep_log:
            self.err.close()

    def request(self, req: dict, timeout: float):
        if self.proc is None or self.proc.poll() is not None:
            self._spawn()
        self.proc.stdin.write((json.dumps(req) + "\n").encode())
        mode, deadline = None, time.monotonic() + timeout
        while True:
            line = self._readline(deadline)
            if line is None:
                self.close(keep_log=True)
                return None, {"outcome": "hang", "mode": mode, "detail": f"over {timeout}s",
                              "sig": "hang (worker killed)"}
            if not line:
                rc = self.proc.wait()
                self.proc = None
                return None, {"outcome": "crash", "mode": mode,
                              "detail": f"exit status {rc}: {self.stderr_tail()}",
                              "sig": f"crash (exit status {rc})"}
            msg = json.loads(line)
            if "start" in msg:
                mode = msg["start"]
            else:
                return msg, None


def _env(backend: str) -> dict:
    env = dict(os.environ)
    env.setdefault("TRACEJIT_CACHE_DIR", tempfile.mkdtemp(prefix="tracejit-fuzz-cache-"))
    env["PYTHONPATH"] = HERE + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _one(worker: Worker, req: dict, modes, timeout: float) -> dict:
    msg, bad = worker.request(req, timeout * (len(modes) + 1) + 30)
    if msg is not None:
        return msg["done"]
    if not bad["mode"]:  # died before any mode started: generating, or torch's run
        bad["sig"] += " before any mode started"
    first = modes.index(bad["mode"]) if bad["mode"] else 0
    return {m: dict(bad) for m in modes[first:]}


def run(programs: int, modes, jobs: int = 2, seed: int = 0, backend: str = "llvm",
        timeout: float = 20.0, shrink_budget: int = 250, log=print) -> dict:
    """Run programs 0..programs-1 of `seed` in every mode; shrink each distinct failure."""
    env = _env(backend)
    todo = queue.Queue()
    for i in range(programs):
        todo.put(i)
    results, lock = [], threading.Lock()
    t0 = time.monotonic()

    def loop():
        w = Worker(env)
        try:
            while True:
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                req = {"op": "run", "seed": seed, "index": i, "modes": list(modes),
                       "backend": backend, "timeout": timeout}
                res = _one(w, req, list(modes), timeout)
                with lock:
                    results.append((i, res))
                    if len(results) % 500 == 0:
                        log(f"  {len(results)}/{programs} programs, {time.monotonic() - t0:.0f}s")
        finally:
            w.close()
    _parallel(loop, jobs)
    wall = time.monotonic() - t0
    table = collections.Counter()
    seconds = collections.Counter()
    groups: dict[tuple, list[int]] = collections.defaultdict(list)
    for i, res in results:
        for mode, r in res.items():
            table[(mode, r["outcome"])] += 1
            seconds[mode] += r.get("seconds", 0.0)
            if r["outcome"] in FAILURES:
                groups[(mode, r["outcome"], r["sig"])].append(i)
    failures = shrink_all(groups, seed, backend, timeout, jobs, shrink_budget, env)
    return {"programs": programs, "modes": list(modes), "seed": seed, "backend": backend,
            "wall_s": wall, "table": {f"{m}/{o}": n for (m, o), n in sorted(table.items())},
            "mode_seconds": dict(seconds), "failures": failures}


def _parallel(fn, jobs: int):
    threads = [threading.Thread(target=fn) for _ in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def shrink_all(groups, seed, backend, timeout, jobs, budget, env) -> list[dict]:
    """One shrunk repro per (mode, outcome, signature); deduplicated by the shrunk program."""
    todo = queue.Queue()
    for key, idx in sorted(groups.items()):
        todo.put((key, idx))
    out, lock = [], threading.Lock()

    def loop():
        w = Worker(env)
        try:
            while True:
                try:
                    (mode, outcome, sig), idx = todo.get_nowait()
                except queue.Empty:
                    return
                prog, _ = generate(seed, idx[0])
                if mode == "compile":
                    prog = with_breaks(prog, seed, idx[0])
                small, res = shrink_one(w, prog, mode, outcome, sig, backend, timeout, budget)
                entry = {"mode": mode, "outcome": outcome, "signature": sig, "count": len(idx),
                         "first": [seed, idx[0]], "detail": res.get("detail", ""),
                         "ops": sorted(set(small.ops())),
                         "repro": repro(small, mode, res.get("which", "a"),
                                        f"{mode}: {outcome}: {res.get('detail', '')}")}
                with lock:
                    out.append(entry)
        finally:
            w.close()
    _parallel(loop, jobs)
    out.sort(key=lambda e: (-e["count"], e["mode"], e["signature"]))
    return out


def check(worker: Worker, prog: Program, mode: str, backend: str, timeout: float) -> dict:
    req = {"op": "check", "program": prog.to_json(), "modes": [mode], "backend": backend,
           "timeout": timeout}
    return _one(worker, req, [mode], timeout).get(mode, {"outcome": "none", "sig": ""})


def shrink_one(worker, prog, mode, outcome, sig, backend, timeout, budget):
    """Shrink `prog` keeping (outcome, sig) in `mode`; the small program and its outcome."""
    def fails(p):
        r = check(worker, p, mode, backend, timeout)
        return r["outcome"] == outcome and r["sig"] == sig
    small = shrink(prog, fails, budget) if outcome in ("mismatch", "raised") else prog
    return small, check(worker, small, mode, backend, timeout)


def format_table(report: dict) -> str:
    """The mode x outcome table, with programs per second of worker time per mode."""
    modes = report["modes"]
    cols = [o for o in OUTCOMES if any(f"{m}/{o}" in report["table"] for m in modes)
            or o in FAILURES]
    lines = ["| mode | " + " | ".join(cols) + " | programs/s |",
             "|---" * (len(cols) + 2) + "|"]
    for m in modes:
        secs = report["mode_seconds"].get(m, 0.0)
        n = sum(report["table"].get(f"{m}/{o}", 0) for o in OUTCOMES)
        rate = f"{n / secs:.0f}" if secs else "-"
        lines.append(f"| {m} | " + " | ".join(str(report["table"].get(f"{m}/{o}", 0))
                                            for o in cols) + f" | {rate} |")
    return "\n".join(lines)


def format_failures(report: dict) -> str:
    parts = []
    for e in report["failures"]:
        parts.append(f"### {e['mode']} / {e['outcome']}: {e['signature']} "
                     f"({e['count']} programs, first: seed {e['first'][0]} program "
                     f"{e['first'][1]})\n```python\n{e['repro']}\n```")
    return "\n\n".join(parts)
