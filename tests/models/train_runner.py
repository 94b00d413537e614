"""Train the real-model corpus against PyTorch: `python tests/models/train_runner.py [--table]`.

Every trainable corpus program (its model has parameters requiring grad, its output floating
tensors a loss reaches them through) is trained for STEPS steps on both sides, from equal
weights on equal inputs: once with SGD(lr=0.01, momentum=0.9), once, from fresh weights, with
AdamW(lr=1e-3). Each step's loss and, at the end, every parameter and buffer must match torch.
The models run in training mode (BatchNorm uses and updates batch statistics) with every
dropout disabled on both sides (`_no_dropout`), so the steps are deterministic; a program torch
cannot train so on the spec's inputs (BatchNorm over one value per channel, sampling beyond
dropout) trains in eval mode, and its `mode` cell says why.

The loss is fixed and generic: the sum over the output's finite floating tensors of
`(t * w).sum() / t.numel()`, `w` standard-normal weights from numpy seeded by the tensor's place
and shape (equal on both sides); every output element gets a gradient of order 1 / numel
whatever the output's scale. Where tracejit is off torch's float32 result, torch's float64
training arbitrates (`_judge`). The result per program and optimizer is PASS or the first line
of what went wrong; `--update-status` records a `train` column in corpus_status.json
(tests/models/test_corpus_train.py checks it as the ratchet).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import sys
import time
import traceback
from pathlib import Path
from typing import NamedTuple

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import runner  # noqa: E402  (tests/models is not a package)
from corpus_spec import Spec  # noqa: E402

PASS = runner.PASS
STEPS = 5
OPTIMIZERS = ("sgd", "adamw")
HEADERS = {"sgd": "SGD(momentum)", "adamw": "AdamW"}
NOT_TRAINABLE = "not trainable: "
RANDOM = "torch's training-mode output depends on the random seed with dropout off"
STATUS_KEY = "train"  # the corpus_status.json column: "pass", "fail" or "not trainable"
CELL_SECONDS = 300.0  # one optimizer's run, both sides: a hang must not stall CI
SHOW_MARGINS = False  # --margins: print how each run's state entries matched
LOSS_SEED = 7  # numpy seed of the loss weights
# Tolerances, multiples of the spec's forward ones (rtol 1e-4, atol 1e-5 by default): five
# steps of float32 forward and backward, summed in different orders by numpy and torch, and
# AdamW's update normalising tiny gradients, move results further than one forward does.
LOSS_FACTOR = 10.0
STATE_FACTOR = 10.0
# An entry off torch's float32 result passes if it is within tolerance of torch's float64
# result (torch's float32 is the one off: a oneDNN kernel bug), or no farther from it than
# NOISE_FACTOR times torch's own float32 result is (AdamW turns the rounding noise of a
# gradient that is mathematically zero, a bias before a BatchNorm, into steps of ~lr).
NOISE_FACTOR = 4.0


def _optimizer(kind: str, lib, params):
    if kind == "sgd":
        return lib.optim.SGD(params, lr=0.01, momentum=0.9)
    return lib.optim.AdamW(params, lr=1e-3)


# --- building a model for training --------------------------------------------------------

def _no_dropout(model) -> None:
    """Disable every dropout identically on both sides: `p = 0` on dropout modules, and 0.0
    for float attributes whose name holds "drop" (a rate a program passes to F.dropout, or
    nn.MultiheadAttention's and the RNNs' `dropout`)."""
    for module in model.modules():
        if "dropout" in type(module).__name__.lower() and isinstance(
                getattr(module, "p", None), float):
            module.p = 0.0
        for key, value in list(vars(module).items()):
            if "drop" in key.lower() and type(value) is float:
                setattr(module, key, 0.0)


def _build(spec: Spec, lib, flavour: str, training: bool = True):
    """The spec's model in training (or eval) mode with dropout off, its parameters'
    requires_grad as the program sets them (runner._build freezes them for inference)."""
    program, module = runner._program_of(spec)
    mod = runner.load_program(program, flavour, module)
    runner._seed(lib)
    with contextlib.redirect_stdout(io.StringIO()):  # minGPT prints its parameter count
        model = spec.build(mod)
    model.train(training)
    _no_dropout(model)
    return model


def _pair(spec: Spec, training: bool):
    """A fresh torch model and the tracejit twin holding its weights and requires_grad."""
    import torch

    import tracejit

    model = _build(spec, torch, "torch", training)
    twin = _build(spec, tracejit, "tracejit", training)
    runner._copy_weights(model, twin)
    params = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        if name in params and not p.requires_grad:
            params[name].requires_grad_(False)
    return model, twin


# --- the loss ------------------------------------------------------------------------------

def _tensors(x, out: list) -> list:
    """The output's tensors in runner._leaves' order (tuples, lists, dicts by sorted key)."""
    if isinstance(x, (tuple, list)):
        for e in x:
            _tensors(e, out)
    elif isinstance(x, dict):
        for k in sorted(x, key=str):
            _tensors(x[k], out)
    elif hasattr(x, "dtype") and hasattr(x, "numel"):
        out.append(x)
    return out


def _usable(output) -> list[bool]:
    """Per tensor of torch's first output: whether the loss weighs it (floating, not empty,
    every value finite: an output holding -inf, a masked score, would make the loss nan)."""
    return [leaf.dtype.is_floating_point and leaf.numel() > 0
            and bool(np.isfinite(leaf.detach().cpu().numpy()).all())
            for leaf in _tensors(output, [])]


@functools.cache
def _weight(index: int, shape: tuple) -> np.ndarray:
    """The loss weights of output tensor `index` when it has `shape` (outputs whose shape
    depends on the values, detected keypoints, get weights of their shape at each step)."""
    return np.random.default_rng([LOSS_SEED, index, *shape]).standard_normal(shape)


def _loss(lib, output, usable: list[bool]):
    """Sum over the weighed output tensors of (tensor * weights).sum() / numel."""
    leaves = _tensors(output, [])
    if len(leaves) != len(usable):
        raise RuntimeError(f"the output has {len(leaves)} tensors, torch's {len(usable)}")
    total = None
    for i, (leaf, use) in enumerate(zip(leaves, usable)):
        if use:
            w = lib.tensor(_weight(i, tuple(leaf.shape)), dtype=leaf.dtype)
            term = (leaf * w).sum() / leaf.numel()
            total = term if total is None else total + term
    return total


# --- trainability and training ------------------------------------------------------------

def _check_torch(spec: Spec, training: bool) -> str:
    """PASS if torch trains the spec's model in this mode, else why not: NOT_TRAINABLE + the
    reason, or an output that changes with the random seed although dropout is off."""
    import torch

    model = _build(spec, torch, "torch", training)
    if not any(p.requires_grad for p in model.parameters()):
        return NOT_TRAINABLE + "no parameter requires grad"
    inputs = runner._input_sets(spec, torch)[0]
    output = runner._run(spec, model, inputs)
    usable = _usable(output)
    if not any(usable):
        return NOT_TRAINABLE + "the output has no floating tensor"
    loss = _loss(torch, output, usable)
    if not loss.requires_grad:
        return NOT_TRAINABLE + "the output does not depend on a parameter through autograd"
    # a few other seeds: sampling may change the output only for some draws (the mixture of
    # experts' random second-expert policy)
    for seed in range(runner.SEED + 1, runner.SEED + 4):
        with torch.no_grad():
            again = _build(spec, torch, "torch", training)
            torch.manual_seed(seed)
            second = float(_loss(torch, runner._run(spec, again, inputs), usable))
        if abs(second - float(loss)) > 1e-6 * max(1.0, abs(float(loss))):
            return (f"{RANDOM} (loss {float(loss):.6g}, with another seed {second:.6g})")
    return PASS


def _training_mode(spec: Spec) -> tuple[str, str]:
    """(PASS, "train") for a program trained in training mode; (PASS, "eval: why") for one
    torch cannot train deterministically in training mode on the spec's inputs (BatchNorm over
    one value per channel, sampling beyond dropout) but can in eval mode; else (why not, "")."""
    try:
        verdict = _check_torch(spec, True)
    except ModuleNotFoundError:
        raise
    except Exception as e:  # torch itself fails in training mode: try eval mode
        verdict = f"training mode: {runner._first_line(e)}"
    if verdict == PASS:
        return PASS, "train"
    if verdict.startswith(NOT_TRAINABLE):
        return verdict, ""
    if _check_torch(spec, False) == PASS:
        return PASS, f"eval: {verdict}"
    return verdict, ""


class Run(NamedTuple):
    """One side's training: per-step losses, first-step gradients, final state (numpy)."""

    losses: list
    grads: dict
    state: dict
    usable: list


def _numpy(t) -> np.ndarray:
    return t.detach().cpu().numpy().copy() if hasattr(t, "cpu") else np.array(t.numpy())


def _double(x):
    """Inputs with every floating torch tensor in float64."""
    if isinstance(x, (tuple, list)):
        return type(x)(_double(e) for e in x)
    if hasattr(x, "dtype") and getattr(x.dtype, "is_floating_point", False):
        return x.double()
    return x


def _train(spec: Spec, lib, model, kind: str, usable: list | None, double=False) -> Run:
    """STEPS optimizer steps of `model` on the spec's inputs (alternating its two input sets).
    `usable` None: the loss weighs what this (torch) side's first output allows."""
    input_sets = runner._input_sets(spec, lib)
    if double:
        input_sets = [_double(x) for x in input_sets]
    optimizer = _optimizer(kind, lib, model.parameters())
    losses, grads = [], {}
    for step in range(STEPS):
        optimizer.zero_grad()
        output = runner._run(spec, model, input_sets[step % 2])
        if usable is None:
            usable = _usable(output)
        loss = _loss(lib, output, usable)
        loss.backward()
        if step == 0:
            grads = {n: _numpy(p.grad) for n, p in model.named_parameters()
                     if p.grad is not None}
        optimizer.step()
        losses.append(float(loss.item()))
    state = {k: _numpy(v) for k, v in model.state_dict().items()}
    return Run(losses, grads, state, usable)


def _reference(spec: Spec, kind: str, training: bool, usable: list) -> Run | str:
    """The same training by torch in float64 (torch's float32 model converted, so equal
    starting weights), or why it failed (a program making float32 tensors of its own)."""
    import torch

    model = _build(spec, torch, "torch", training).double()
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return _train(spec, torch, model, kind, usable, double=True)
    except Exception as e:  # no reference: the float32 comparison alone decides
        return runner._first_line(e)
    finally:
        torch.set_default_dtype(saved)


def _worst(got: dict, want: dict) -> str:
    """The entry of `got` farthest (max abs) from `want`'s, as 'name (error)'."""
    errors = {k: _err(got[k], v) for k, v in want.items()
              if k in got and got[k].shape == v.shape and v.size}
    if not errors:
        return ""
    name = max(errors, key=errors.get)
    return f"{name} (max abs error {errors[name]:.3g})"


def _err(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)),
                        initial=0.0))


def _close(a, b, rtol: float, atol: float) -> bool:
    return bool(np.allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                            rtol=rtol, atol=atol, equal_nan=True))


def _judge(a, b, r, rtol: float, atol: float, other=None) -> str:
    """How tracejit's `a` matches torch's float32 `b` given torch's float64 `r` (None: no
    reference): "torch" (within tolerance), "float64" (within tolerance of the float64
    result, torch's float32 is not), "noise" (no farther from float64 than NOISE_FACTOR times
    torch's own float32 result, `b` or `other()`'s, torch without oneDNN: rounding noise an
    optimizer amplified) or "" (a mismatch)."""
    if _close(a, b, rtol, atol):
        return "torch"
    if r is None:
        return ""
    if _close(a, r, rtol, atol):
        return "float64"
    if _err(a, r) <= NOISE_FACTOR * _err(b, r) + atol:
        return "noise"
    c = other() if other is not None else None
    if c is not None and _err(a, r) <= NOISE_FACTOR * _err(c, r) + atol:
        return "noise"
    return ""


def _compare(spec: Spec, got: Run, want: Run, ref: Run | str, native=None) -> str:
    """PASS or the first difference between tracejit's run `got` and torch's `want`, judged
    with torch's float64 run `ref` (a str: why there is none) and, asked for only where
    needed, `native()`: torch's float32 run without oneDNN (a Run, or a str: why none)."""
    r = ref if isinstance(ref, Run) else None
    why = "" if r is not None else f" (no float64 reference: {ref})"
    rtol, atol = spec.rtol * LOSS_FACTOR, spec.atol * LOSS_FACTOR
    for step, (a, b) in enumerate(zip(got.losses, want.losses)):
        if not (_close(a, b, rtol, atol) or (r is not None and _close(a, r.losses[step],
                                                                       rtol, atol))):
            f64 = f", torch float64 {r.losses[step]:.7g}" if r is not None else why
            hint = f"; first-step gradient farthest from torch's: {_worst(got.grads, want.grads)}"
            return (f"mismatch: step {step + 1} loss {a:.7g}, torch {b:.7g}{f64} "
                    f"(rtol={rtol:g}, atol={atol:g}){hint if step == 0 else ''}")
    missing = sorted(set(want.grads) - set(got.grads))
    if missing:
        return f"mismatch: no gradient for {', '.join(missing[:3])} (torch has one)"
    rtol, atol = spec.rtol * STATE_FACTOR, spec.atol * STATE_FACTOR
    used, worst = {"torch": 0, "float64": 0, "noise": 0}, 0.0
    for name, b in want.state.items():
        a = got.state.get(name)
        if a is None:
            return f"mismatch: the state_dict lacks {name}"
        if a.shape != b.shape or a.dtype != b.dtype:
            return f"mismatch: {name} is {a.dtype}{list(a.shape)}, torch {b.dtype}{list(b.shape)}"
        if b.dtype.kind not in "fc":
            if not np.array_equal(a, b):
                return f"mismatch: after {STEPS} steps {name} differs"
            continue
        def other(name=name):
            run = native() if native is not None else None
            return run.state.get(name) if isinstance(run, Run) else None
        verdict = _judge(a, b, r.state[name] if r is not None else None, rtol, atol, other)
        if not verdict:
            c = other() if r is not None else None
            f64 = why if r is None else (f"; from torch float64 {_err(a, r.state[name]):.3g}, "
                                         f"torch float32's {_err(b, r.state[name]):.3g}" +
                                         ("" if c is None else
                                          f" ({_err(c, r.state[name]):.3g} without oneDNN)"))
            return (f"mismatch: after {STEPS} steps {name} max abs error {_err(a, b):.3g} "
                    f"(rtol={rtol:g}, atol={atol:g}{f64}); first-step gradient farthest from "
                    f"torch's: {_worst(got.grads, want.grads)}")
        used[verdict] += 1
        if verdict == "noise":
            c, rr = other(), r.state[name]
            scale = max(_err(b, rr), _err(c, rr) if c is not None else 0.0)
            worst = max(worst, _err(a, rr) / scale if scale else float("inf"))
    if SHOW_MARGINS:
        print(f"  {spec.name}: state entries matching torch {used['torch']}, torch float64 "
              f"only {used['float64']}, within {NOISE_FACTOR:g}x torch float32's own error "
              f"{used['noise']} (worst {worst:.2f}x){why}", file=sys.stderr)
    return PASS


def _run_optimizer(spec: Spec, kind: str, training: bool) -> str:
    import torch

    import tracejit

    model, twin = _pair(spec, training)
    want = _train(spec, torch, model, kind, None)
    ref = _reference(spec, kind, training, want.usable)
    got = _train(spec, tracejit, twin, kind, want.usable)
    return _compare(spec, got, want, ref,
                    functools.cache(lambda: _native(spec, kind, training, want.usable)))


def _native(spec: Spec, kind: str, training: bool, usable: list) -> Run | str:
    """torch's float32 training again with oneDNN off (its native kernels): a second measure
    of how far float32 rounding alone moves the result from float64's."""
    import torch

    try:
        with torch.backends.mkldnn.flags(enabled=False):
            return _train(spec, torch, _build(spec, torch, "torch", training), kind, usable)
    except Exception as e:  # then torch's oneDNN run alone measures it
        return runner._first_line(e)


def _limited(fn, *args) -> tuple[str, object]:
    """runner._cell with this runner's time limit: (PASS, value) or (first error line, None)."""
    saved, runner.CELL_SECONDS = runner.CELL_SECONDS, CELL_SECONDS
    try:
        return runner._cell(fn, *args)
    finally:
        runner.CELL_SECONDS = saved


def train_spec(spec: Spec) -> dict[str, str]:
    """{"mode": "train" or "eval: why", optimizer: PASS or what went wrong}; a program torch
    cannot train has mode "" and its reason (NOT_TRAINABLE ...) in every optimizer's cell."""
    status, got = _limited(_training_mode, spec)
    verdict, mode = got if got is not None else (status, "")
    if verdict != PASS:
        return {"mode": "", **dict.fromkeys(OPTIMIZERS, verdict)}
    cells = {"mode": mode}
    for kind in OPTIMIZERS:
        status, verdict = _limited(_run_optimizer, spec, kind, mode == "train")
        cells[kind] = verdict if verdict is not None else status
    return cells


def status_of(cells: dict[str, str]) -> str:
    """The ratchet's value: "pass" (every optimizer), "not trainable", or "fail"."""
    if all(cells[k] == PASS for k in OPTIMIZERS):
        return "pass"
    if all(cells[k].startswith(NOT_TRAINABLE) for k in OPTIMIZERS):
        return "not trainable"
    return "fail"


def update_status(results: dict[str, dict[str, str]], path: Path = runner.STATUS_FILE) -> None:
    """Record each program's `train` value in corpus_status.json, keeping the other columns."""
    data = json.loads(path.read_text())
    for name, cells in results.items():
        data["programs"].setdefault(name, {})[STATUS_KEY] = status_of(cells)
    path.write_text(json.dumps(data, indent=1) + "\n")


def table(results: dict[str, dict[str, str]], width: int = 90) -> str:
    """A markdown table: one row per program, a cell per optimizer, totals at the end."""
    lines = ["| program | mode | " + " | ".join(HEADERS[k] for k in OPTIMIZERS) + " |",
             "|---" * (len(OPTIMIZERS) + 2) + "|"]
    for name, cells in results.items():
        shown = [cells.get("mode", "").replace("|", "\\|")[:width]]
        for k in OPTIMIZERS:
            cell = "✓" if cells[k] == PASS else cells[k].replace("|", "\\|")
            shown.append(cell if len(cell) <= width else cell[:width - 1] + "…")
        lines.append(f"| {name} | " + " | ".join(shown) + " |")
    trainable = [c for c in results.values() if status_of(c) != "not trainable"]
    totals = [f"**{sum(c[k] == PASS for c in trainable)}/{len(trainable)}**" for k in OPTIMIZERS]
    lines.append("| **total (trainable)** | | " + " | ".join(totals) + " |")
    return "\n".join(lines)


def summary(results: dict[str, dict[str, str]]) -> str:
    trainable = [c for c in results.values() if status_of(c) != "not trainable"]
    passed = sum(status_of(c) == "pass" for c in trainable)
    return (f"{passed} of {len(trainable)} trainable programs train for {STEPS} steps with "
            f"SGD(momentum) and AdamW matching torch ({len(results) - len(trainable)} of "
            f"{len(results)} specs not trainable)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this program (repeatable)")
    parser.add_argument("--group", action="append", metavar="GROUP",
                        help="run only the specs of tests/models/specs_GROUP.py (repeatable)")
    parser.add_argument("--table", action="store_true", help="print the markdown table")
    parser.add_argument("--json", metavar="FILE", help="write the cells as JSON to FILE")
    parser.add_argument("--update-status", action="store_true",
                        help=f"record the `{STATUS_KEY}` column of {runner.STATUS_FILE.name}")
    parser.add_argument("--traceback", action="store_true",
                        help="print the traceback of every failing cell to stderr")
    parser.add_argument("--margins", action="store_true",
                        help="print how each run's parameters and buffers matched")
    args = parser.parse_args(argv)
    global SHOW_MARGINS
    runner.SHOW_TRACEBACKS, SHOW_MARGINS = args.traceback, args.margins
    specs = runner.collect_specs(args.group)
    if args.only:
        unknown = set(args.only) - {s.name for s in specs}
        if unknown:
            parser.error(f"unknown program(s) {sorted(unknown)}")
        specs = [s for s in specs if s.name in args.only]
    results = {}
    for spec in specs:
        start = time.perf_counter()
        try:
            results[spec.name] = cells = train_spec(spec)
        except Exception:  # a bug of the runner itself: show it whole
            traceback.print_exc()
            return 2
        shown = "  ".join(f"{k}: {'pass' if cells[k] == PASS else cells[k][:80]}"
                          for k in OPTIMIZERS)
        print(f"{spec.name:32s} {time.perf_counter() - start:6.2f}s  {shown}", file=sys.stderr)
    if args.table:
        print(table(results))
        failures = [(n, k, c[k]) for n, c in results.items() for k in OPTIMIZERS
                    if c[k] != PASS and not c[k].startswith(NOT_TRAINABLE)]
        if failures:
            print("\nFailures:")
            for name, k, cell in failures:
                print(f"- {name} / {HEADERS[k]}: {cell}")
    print(summary(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    if args.update_status:
        update_status(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
