"""Byte-level mutation fuzz of graph files and checkpoints: nothing but GraphFileError, never a
crash or a hang, and what loads computes what the reference interpreter computes.

Valid files (a function with a constant array, a module with state written back, a function
writing an input in place, a checkpoint) are damaged: bits flipped, bytes inserted, deleted or
cut off; zip members changed (with their checksums fixed, so the change reaches the parsers),
dropped, renamed or added; manifest fields replaced by values of every JSON type; IR text tokens
(dims, dtypes, op names, value names, whole lines) and npy headers changed. Each mutant either
raises GraphFileError on load, or loads on both backends and, called on random inputs of the
types it declares, gives on the compiled (llvm) backend what the interpreter (`backend="eager"`)
gives, written-back inputs and state included, or the same kind of error on both.

The mutants run in a child process, so a crash fails the test naming the mutant instead of
killing pytest, and each has a time limit (faulthandler), so a hang does too. Seeded and
deterministic: 300 mutants in CI; TRACEJIT_FUZZ_N=5000 runs that many and TRACEJIT_FUZZ_SEED
picks another seed. `python tests/fuzz/test_graphfile_bytes.py N SEED FOLDER` runs the child
alone; a failing mutant is kept in FOLDER as `fail-<i>.tjg` to reproduce it with tracejit.load.
"""

from __future__ import annotations

import faulthandler
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

N = int(os.environ.get("TRACEJIT_FUZZ_N", "300"))
SEED = int(os.environ.get("TRACEJIT_FUZZ_SEED", "0"))
MUTANT_SECONDS = 60  # one mutant's load and calls (compiles included)
TOL = {"float16": 1e-2, "float32": 1e-4, "float64": 1e-10}  # as tests/runtime/test_plan_properties
RUN_LIMIT = 1 << 22  # elements: a mutant with a larger value is loaded, not run
CALL_ERRORS = (RuntimeError, ValueError, IndexError, TypeError, AssertionError,
               ArithmeticError)  # the clear errors a call may raise (alike on both backends)
MANIFEST = "manifest.json"
VERBOSE = bool(os.environ.get("TRACEJIT_FUZZ_VERBOSE"))  # the child prints why each was refused


def test_graph_file_mutants_raise_graph_file_error_or_run_as_the_interpreter(tmp_path):
    proc = subprocess.run([sys.executable, __file__, str(N), str(SEED), str(tmp_path)],
                          capture_output=True, text=True, timeout=max(600, N))
    lines = proc.stdout.splitlines()
    failures = [line for line in lines if line.startswith("FAIL")]
    last = next((line for line in reversed(lines) if line.startswith("mutant")), "none")
    assert proc.returncode == 0, (f"the child died (status {proc.returncode}) at {last} "
                                  f"(kept in {tmp_path}):\n{proc.stderr[-3000:]}")
    assert not failures, "\n".join(failures[:10])
    stats = json.loads(lines[-1])
    assert sum(stats.values()) == N
    # the fuzz reaches every stage: refused by the checksums, by the parser or verifier, by the
    # manifest checks, and loaded and run (not only refused)
    assert stats.get("refused", 0) > N // 4, stats
    assert stats.get("ran alike", 0) > N // 20, stats


# --- the child ----------------------------------------------------------------------------------
def seeds(folder: Path) -> list[bytes]:
    """Valid files to mutate (made here, so they follow the current format); the checkpoint
    last."""
    import tracejit as tj

    rng = np.random.default_rng(0)

    def tensor(*shape):
        return tj.tensor(rng.standard_normal(shape).astype(np.float32))

    weight = tensor(4, 3)

    def affine(x, y):
        return (x @ weight + y).relu().amax(-1), x.exp() * 0.5

    model = tj.nn.Sequential(tj.nn.Linear(4, 3), tj.nn.BatchNorm1d(3)).train()

    def in_place(x, y):
        x.add_(y.sum())
        return x, y * 2

    def views(x, i):
        return (x[1:3, ::2].t().reshape(-1) + tj.cat([x, x], 0)[::3].sum(),
                x.expand(2, 4, 5)[:, i].amax(0), x.sum(-1, keepdim=True) + x[:1])

    made = [(tj.trace(affine, tensor(2, 4), tensor(2, 3)), "affine"),
            (tj.trace(views, tensor(4, 5), tj.tensor([0, 3, 1])), "views"),
            (tj.trace(model, tensor(5, 4)), "module"),
            (tj.trace(in_place, tensor(3, 4), tensor(2)), "in_place"),
            ({"w": tensor(3, 2), "n": 3, "l": [1.5, "s", None],
              "t": (tj.tensor([1, 2, 3]), tj.tensor([True, False]))}, "checkpoint")]
    files = []
    for obj, name in made:
        path = folder / f"seed-{name}.tjg"
        tj.save(obj, path)
        files.append(path.read_bytes())
    return files


def members_of(data: bytes) -> dict[str, bytes]:
    import io

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def zip_of(members: dict[str, bytes], fix: bool = True) -> bytes:
    """A zip of `members`; with `fix`, the manifest's sizes and checksums made to match."""
    import io

    if fix and MANIFEST in members:
        manifest = json.loads(members[MANIFEST])
        listed = manifest.get("members") if isinstance(manifest, dict) else None
        if isinstance(listed, dict):
            for name in listed:
                if name in members:
                    listed[name] = {"size": len(members[name]),
                                    "sha256": hashlib.sha256(members[name]).hexdigest()}
            members = {**members, MANIFEST: json.dumps(manifest).encode()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def damage(rng: random.Random, data: bytes) -> bytes:
    """Bits flipped, bytes inserted or deleted, or the end cut off."""
    data = bytearray(data)
    how = rng.choice(["flip", "insert", "delete", "truncate"])
    if how == "flip" or not data:
        for _ in range(rng.randint(1, 8)):
            if data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif how == "insert":
        at = rng.randrange(len(data) + 1)
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif how == "delete":
        at = rng.randrange(len(data))
        del data[at:at + rng.randint(1, 64)]
    else:
        del data[rng.randrange(len(data)):]
    return bytes(data)


JSON_VALUES = [None, True, False, 0, 1, -1, 2, 7, 2**31, 2**63, 10**30, -(10**30), 0.5, 1e308,
               "", "tensor", "x", "graphs/0.ir", "arrays/0.npy", "checkpoint", "float32",
               [], [0], [None], ["x", "y"], [[["deep"]]], {}, {"tensor": "0"},
               {"tuple": ["tensor", "tensor"]}, {"list": [{"static": 1}]}, {"float": "0x1p9999"},
               {"dict": ["x"], "items": ["tensor"]}]


def json_paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from json_paths(v, (*path, k))
    elif isinstance(node, list):
        for k, v in enumerate(node):
            yield from json_paths(v, (*path, k))


def mutate_json(rng: random.Random, text: bytes) -> bytes:
    """One value of the JSON document replaced, deleted, or given a sibling."""
    root = json.loads(text)
    path = rng.choice(list(json_paths(root))[1:] or [()])
    if not path:
        return json.dumps(rng.choice(JSON_VALUES)).encode()
    parent = root
    for key in path[:-1]:
        parent = parent[key]
    how = rng.random()
    if how < 0.75:
        parent[path[-1]] = rng.choice(JSON_VALUES)
    elif how < 0.9:
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[rng.choice(["extra", "kind", "mutated", "n_user"])] = rng.choice(JSON_VALUES)
    else:
        parent.append(rng.choice(JSON_VALUES))
    return json.dumps(root).encode()


TOKEN = re.compile(r"%[\w.]+|-?\d+(?:\.\d+)?(?:e-?\d+)?|[a-z_][a-z0-9_]*|\?")
NUMBERS = ["0", "1", "-1", "2", "3", "4", "5", "8", "99", "-7", "2147483648",
           "9223372036854775808", "1" + "0" * 30, "0.5", "?"]


def mutate_ir(rng: random.Random, text: bytes) -> bytes:
    """A few tokens of IR text changed (numbers and dims, dtypes, op names, value names), or a
    line deleted, repeated or swapped with the next."""
    from tracejit.ir.ops import Op
    from tracejit.ir.types import DType

    source = text.decode()
    for _ in range(rng.randint(1, 3)):
        lines = source.split("\n")
        if rng.random() < 0.15 and len(lines) > 2:
            k = rng.randrange(1, len(lines) - 1)
            how = rng.choice(["delete", "repeat", "swap"])
            if how == "delete":
                del lines[k]
            elif how == "repeat":
                lines.insert(k, lines[k])
            elif k + 1 < len(lines):
                lines[k], lines[k + 1] = lines[k + 1], lines[k]
            source = "\n".join(lines)
            continue
        tokens = list(TOKEN.finditer(source))
        if not tokens:
            break
        token = rng.choice(tokens)
        word = token.group()
        if word.startswith("%"):
            names = sorted({t.group() for t in tokens if t.group().startswith("%")})
            new = rng.choice(names)
        elif word[0].isdigit() or word[0] in "-?":
            new = rng.choice(NUMBERS)
        elif word in DType.__members__:
            new = rng.choice(list(DType.__members__))
        elif word in {op.value for op in Op}:
            new = rng.choice([op.value for op in Op if op not in (Op.RAND, Op.RANDN, Op.RANDINT,
                                                                  Op.MULTINOMIAL)])
        else:
            new = rng.choice(["dims", "keepdim", "shape", "value", "true", "false", "dense"])
        source = source[:token.start()] + new + source[token.end():]
    return source.encode()


def mutate_npy(rng: random.Random, data: bytes) -> bytes:
    """The npy header's shape, dtype or order changed (the data left as it is, the header's
    length field kept right), or its bytes damaged."""
    if data[:8] != b"\x93NUMPY\x01\x00" or rng.random() < 0.2:
        return damage(rng, data)
    size = int.from_bytes(data[8:10], "little")
    header, rest = data[10:10 + size].decode("latin1"), data[10 + size:]
    how = rng.random()
    if how < 0.5:
        shape = rng.choice(["()", "(0,)", "(1,)", "(3,)", "(2, 3)", "(3, 2)", "(4, 3)", "(-1,)",
                            "(1000000, 1000000)", "(2, 2, 2, 2)", "(3, 2, 0)"])
        header = re.sub(r"'shape': \([^)]*\)", f"'shape': {shape}", header)
    elif how < 0.85:
        descr = rng.choice(["<f4", "<f8", "<f2", "<i8", "<i4", "|u1", "|b1", ">f4", "<c8",
                            "<U2", "|O", "<M8[s]", "|V4"])
        header = re.sub(r"'descr': '[^']*'", f"'descr': '{descr}'", header)
    else:
        header = header.replace("False", "True") if "False" in header else \
            header.replace("True", "False")
    text = header.rstrip("\n").rstrip(" ")
    padded = text + " " * (-(len(text) + 11) % 64) + "\n"
    return data[:8] + len(padded).to_bytes(2, "little") + padded.encode("latin1") + rest


def mutant(rng: random.Random, files: list[bytes]) -> tuple[str, bytes]:
    """One mutant of one of the seed files, and what was done to it."""
    which = rng.randrange(len(files))
    kind, data = change(rng, files[which])
    return f"seed {which}, {kind}", data


def change(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    members = members_of(data)
    kind = rng.choices(["bytes", "member", "zip", "manifest", "ir", "npy", "object"],
                       weights=[3, 2, 1, 4, 6, 2, 1])[0]
    names = [n for n in members if n != MANIFEST]
    if kind == "bytes":
        return kind, damage(rng, data)
    if kind == "member":
        name = rng.choice(names)
        return f"{kind} {name}", zip_of({**members, name: damage(rng, members[name])})
    if kind == "zip":
        name = rng.choice([*names, MANIFEST])
        how = rng.choice(["drop", "rename", "duplicate", "unfixed"])
        if how == "drop":
            members.pop(name)
        elif how == "rename":
            members[name + ".moved"] = members.pop(name)
        elif how == "duplicate":
            members[f"extra/{rng.randrange(9)}"] = members[name]
        else:
            return f"{kind} {how} {name}", zip_of({**members, name: damage(rng, members[name])},
                                                  fix=False)
        return f"{kind} {how} {name}", zip_of(members)
    if kind == "manifest":
        return kind, zip_of({**members, MANIFEST: mutate_json(rng, members[MANIFEST])},
                            fix=rng.random() < 0.8)
    pick = {"ir": ".ir", "npy": ".npy", "object": ".json"}[kind]
    chosen = [n for n in names if n.endswith(pick)]
    if not chosen:
        return f"{kind} (none: bytes)", damage(rng, data)
    name = rng.choice(chosen)
    change = {"ir": mutate_ir, "npy": mutate_npy, "object": mutate_json}[kind]
    return f"{kind} {name}", zip_of({**members, name: change(rng, members[name])})


def random_inputs(rng: np.random.Generator, types) -> list[np.ndarray]:
    from tracejit.ir.types import TensorType

    arrays = []
    for t in types:
        if not isinstance(t, TensorType):
            arrays.append(np.array(rng.integers(-3, 4)))
            continue
        shape = tuple(2 if d is None else d for d in t.shape)
        kind = t.dtype.np.kind
        if kind == "f":
            a = rng.standard_normal(shape) * 2
        elif kind == "b":
            a = rng.integers(0, 2, shape)
        else:
            a = rng.integers(0 if kind == "u" else -5, 6, shape)
        arrays.append(np.asarray(a).astype(t.dtype.np))
    return arrays


def largest(graph) -> int:
    from tracejit.ir.types import TensorType

    sizes = [0]
    for value in [*graph.inputs, *(v for op in graph.walk() for v in op.results)]:
        if isinstance(value.type, TensorType):
            n = 1
            for d in value.type.shape:
                n *= 2 if d is None else d
            sizes.append(n)
    return max(sizes)


def run(loaded, k: int, arrays: list[np.ndarray]):
    """Call specialisation `k` of `loaded` on copies of `arrays`: ("ok", every array it gives
    back, the inputs and state after the call) or ("error", the exception)."""
    import tracejit as tj
    from tracejit import pytree
    from tracejit.tensor import Tensor

    spec = loaded.specs[k]
    leaves = [Tensor._wrap(a.copy()) for a in arrays]
    tj.manual_seed(0)
    try:
        if k == 0 and spec.in_structure[0] == "dict" and loaded._signature is not None:
            out = loaded(**pytree.unflatten(spec.in_structure, leaves))  # the public call
        else:
            out = spec.run(leaves, loaded.state)
    except CALL_ERRORS as e:
        return "error", e
    outs, _, _ = pytree.flatten(out)
    return "ok", [t.numpy() for t in [*outs, *leaves, *loaded.state]]


def compare(got, want) -> str | None:
    if got[0] != want[0]:
        return f"compiled {got[0]} {got[1]!r}, interpreter {want[0]} {want[1]!r}"[:500]
    if got[0] == "error":
        if type(got[1]) is not type(want[1]):
            return f"compiled raised {got[1]!r}, the interpreter {want[1]!r}"[:500]
        return None
    if len(got[1]) != len(want[1]):
        return f"{len(got[1])} arrays compiled, {len(want[1])} interpreted"
    for g, w in zip(got[1], want[1]):
        if (g.dtype, g.shape) != (w.dtype, w.shape):
            return f"compiled {g.dtype}{g.shape}, interpreter {w.dtype}{w.shape}"
        try:
            if w.dtype.kind == "f":
                with np.errstate(all="ignore"):
                    np.testing.assert_allclose(g, w, rtol=TOL[w.dtype.name],
                                               atol=TOL[w.dtype.name], equal_nan=True)
            else:
                np.testing.assert_array_equal(g, w)
        except AssertionError as e:
            return f"values differ: {e}"[:800]
    return None


def check(path: Path, stats: Counter) -> str | None:
    """None if the mutant behaves, else what it did wrong; counts the outcome in `stats`."""
    import tracejit as tj
    from tracejit.graphfile import LoadedGraph

    outcomes = []
    for backend in ("llvm", "eager"):
        try:
            outcomes.append(tj.load(path, backend=backend))
        except tj.GraphFileError as e:
            if not str(e).startswith(f"{path}: "):
                return f"GraphFileError not naming the file: {e}"
            if VERBOSE and backend == "llvm":
                print(f"  refused: {e.member}: {e.problem[:70]!r}")
            outcomes.append(e)
        except Exception as e:  # what the fuzz is for: anything but GraphFileError
            return f"load(backend={backend!r}) raised {type(e).__name__}: {e}"[:800]
    compiled, reference = outcomes
    if isinstance(compiled, tj.GraphFileError) or isinstance(reference, tj.GraphFileError):
        if type(compiled) is not type(reference):
            return f"loads on one backend only: {compiled!r} / {reference!r}"[:800]
        stats["refused"] += 1
        return None
    # (a checkpoint named by backend= is refused above; read it as torch.load would)
    if not isinstance(compiled, LoadedGraph):
        return f"load with a backend returned {type(compiled).__name__}"
    if any(largest(s.graph) > RUN_LIMIT for s in compiled.specs):
        stats["loaded, too large to run"] += 1
        return None
    rng = np.random.default_rng(1)
    for k, spec in enumerate(compiled.specs):
        arrays = random_inputs(rng, [v.type for v in spec.graph.inputs[:spec.n_user]])
        problem = compare(run(compiled, k, arrays), run(reference, k, arrays))
        if problem:
            return f"specialisation {k}: {problem}"
    stats["ran alike"] += 1
    return None


def check_object(path: Path, stats: Counter) -> str | None:
    """A checkpoint mutant (what tracejit.load without a backend reads)."""
    import tracejit as tj

    try:
        tj.load(path)
    except tj.GraphFileError:
        stats["refused"] += 1
        return None
    except Exception as e:
        return f"load raised {type(e).__name__}: {e}"[:800]
    stats["loaded"] += 1
    return None


def child(n: int, seed: int, folder: Path) -> int:
    files = seeds(folder)
    rng = random.Random(seed)
    stats: Counter = Counter()
    for i in range(n):
        kind, data = mutant(rng, files)
        path = folder / f"mutant-{i}.tjg"
        path.write_bytes(data)
        print(f"mutant {i}: {kind} (seed {seed})", flush=True)
        faulthandler.dump_traceback_later(MUTANT_SECONDS, exit=True)
        is_checkpoint = kind.startswith(f"seed {len(files) - 1},")  # the last seed
        problem = (check_object if is_checkpoint and rng.random() < 0.8 else check)(path, stats)
        faulthandler.cancel_dump_traceback_later()
        if problem:
            path.rename(folder / f"fail-{i}.tjg")
            print(f"FAIL mutant {i} ({kind}): {problem}", flush=True)
        else:
            path.unlink()
    print(json.dumps(dict(stats)), flush=True)
    return 0


if __name__ == "__main__":
    faulthandler.enable()
    sys.exit(child(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])))
