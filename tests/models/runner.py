"""Run the real-model corpus against PyTorch: `python tests/models/runner.py [--table]`.

Every program in tests/models/corpus/ is loaded twice: unchanged with real torch (the oracle),
and with its `torch` imports mapped to tracejit (`torch.nn` -> `tracejit.nn`, ...: the only
change a user makes when porting). Both models are built with the same seed from the spec's
small configuration (tests/models/specs_*.py), the torch weights are copied into the tracejit
model, both get equal inputs, and each mode's result is compared with torch eager:

    torch_eager   torch_trace   torch_script  torch_compile   (torch: measurement only)
    eager         trace         script        saveload        compile   (tracejit)

A cell is "pass" or the first line of what went wrong (the exception, or the mismatch). The
measurement also counts each program's graphs and graph breaks under `tracejit.compile`
(`tracejit.explain`) and under torch.compile (`torch._dynamo.explain`).
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
STATUS_FILE = HERE / "corpus_status.json"
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from corpus_spec import Spec  # noqa: E402  (tests/models is not a package)

PASS = "pass"
MISSING_DEPENDENCY = "missing dependency: "  # a cell failing on a third-party import
TORCH_MODES = ("torch_eager", "torch_trace", "torch_script", "torch_compile")
TRACEJIT_MODES = ("eager", "trace", "script", "saveload", "compile")
MODES = TORCH_MODES + TRACEJIT_MODES
CHECKED_MODES = ("torch_eager", *TRACEJIT_MODES)  # what corpus_status.json records
HEADERS = {"torch_eager": "torch eager", "torch_trace": "torch.jit.trace",
           "torch_script": "torch.jit.script", "eager": "eager", "trace": "trace",
           "script": "script", "saveload": "save/load", "torch_compile": "torch.compile",
           "compile": "compile"}
PREFIX = "_corpus_"  # module names of loaded corpus programs: _corpus_<flavour>_<program>
SEED = 0
CELL_SECONDS = 120.0  # a cell running longer fails with TimeoutError (a hang must not stall CI)
SHOW_TRACEBACKS = False  # --traceback: print each failing cell's traceback to stderr
TORCH_COMPILE_BACKEND = "inductor"  # torch.compile's default; needs a C compiler (gcc here)
COMPILE_CALLS = 2  # calls of a compiled program per input set: the second takes the cached path
COUNTS = "counts"  # the cells' entry of graph and break counts: {"compile": [graphs, breaks]}


# --- loading a corpus program with its torch imports mapped ----------------------------------

def _map_torch(name: str) -> ModuleType:
    """The tracejit module standing for torch module `name` (`torch.nn.init` -> ...)."""
    target = "tracejit" + name[len("torch"):]
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as e:
        if e.name is None or not target.startswith(e.name):
            raise
    parent, _, attr = target.rpartition(".")  # tracejit may hold it as an attribute
    with contextlib.suppress(ImportError):
        value = getattr(importlib.import_module(parent), attr, None)
        if isinstance(value, ModuleType) or (value is not None and "." in name):
            return value
    raise ModuleNotFoundError(f"No module named '{target}' (the program imports '{name}')",
                              name=target)


class _Program:
    """One corpus program in one flavour: its root package and its import function."""

    def __init__(self, program: str, flavour: str):
        self.program, self.flavour = program, flavour
        self.root = f"{PREFIX}{flavour}_{program}"
        self.folder = CORPUS / program if (CORPUS / program).is_dir() else None
        self.builtins = dict(builtins.__dict__, __import__=self._import)

    def _local(self, top: str) -> bool:
        """Whether absolute import `top` names a module of this (folder) program."""
        return self.folder is not None and (
            (self.folder / top).is_dir() or (self.folder / f"{top}.py").is_file())

    def _import(self, name, globals=None, locals=None, fromlist=(), level=0):
        top = name.partition(".")[0]
        if level == 0 and self.flavour == "tracejit" and top == "torch":
            module = _map_torch(name)
            for item in fromlist or ():
                if item != "*" and not hasattr(module, item):
                    with contextlib.suppress(ModuleNotFoundError):
                        _map_torch(f"{name}.{item}")
            return module if fromlist else importlib.import_module("tracejit")
        if level == 0 and self._local(top):
            module = importlib.import_module(f"{self.root}.{name}")
            if fromlist:
                return module
            return importlib.import_module(f"{self.root}.{top}")
        return builtins.__import__(name, globals, locals, fromlist, level)


class _Loader(importlib.machinery.SourceFileLoader):
    """Executes a corpus file with its program's import function as `__import__`."""

    def __init__(self, fullname, path, program: _Program):
        super().__init__(fullname, str(path))
        self.corpus_program = program

    def exec_module(self, module):
        module.__dict__["__builtins__"] = self.corpus_program.builtins
        super().exec_module(module)


class _RootLoader(importlib.abc.Loader):
    """A folder program's root: an empty package whose path is the folder."""

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        pass


class _Finder(importlib.abc.MetaPathFinder):
    """Finds `_corpus_<flavour>_<program>[.dotted]` modules in tests/models/corpus."""

    programs: dict[str, _Program] = {}

    def find_spec(self, fullname, path=None, target=None):
        root, _, rest = fullname.partition(".")
        program = self.programs.get(root)
        if program is None:
            return None
        base = program.folder if program.folder is not None else CORPUS
        if not rest:
            if program.folder is None:
                file = CORPUS / f"{program.program}.py"
                return importlib.util.spec_from_file_location(
                    fullname, file, loader=_Loader(fullname, file, program))
            spec = importlib.machinery.ModuleSpec(fullname, _RootLoader(), is_package=True)
            spec.submodule_search_locations = [str(base)]
            return spec
        where = base.joinpath(*rest.split("."))
        if where.is_dir():
            init = where / "__init__.py"
            loader = _Loader(fullname, init, program) if init.is_file() else _RootLoader()
            spec = importlib.machinery.ModuleSpec(fullname, loader, is_package=True,
                                                  origin=str(init) if init.is_file() else None)
            spec.submodule_search_locations = [str(where)]
            if init.is_file():
                spec.has_location = True
            return spec
        file = where.with_suffix(".py")
        if file.is_file():
            return importlib.util.spec_from_file_location(
                fullname, file, loader=_Loader(fullname, file, program))
        return None


_FINDER = _Finder()


def load_program(program: str, flavour: str, module: str = "") -> ModuleType:
    """Import corpus program `program` ("torch": as it is; "tracejit": torch mapped) and return
    its entry module: the file itself, or `module` (dotted) inside a folder program."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    if not (CORPUS / program).is_dir() and not (CORPUS / f"{program}.py").is_file():
        raise FileNotFoundError(f"no corpus program {program!r} in {CORPUS}")
    p = _Program(program, flavour)
    _Finder.programs.setdefault(p.root, p)
    return importlib.import_module(f"{p.root}.{module}" if module else p.root)


def unload_programs() -> None:
    """Forget every loaded corpus module (the next load executes the files again)."""
    for name in [n for n in sys.modules if n.startswith(PREFIX)]:
        del sys.modules[name]


# --- specs --------------------------------------------------------------------------------

def collect_specs(groups: list[str] | None = None) -> list[Spec]:
    """Every `SPECS` entry of tests/models/specs_*.py (only specs_<group>.py for `groups`), in
    file then list order."""
    specs: list[Spec] = []
    for file in sorted(HERE.glob("specs_*.py")):
        if groups and file.stem.removeprefix("specs_") not in groups:
            continue
        name = f"_corpus_specs_{file.stem}"
        module = sys.modules.get(name)
        if module is None:
            spec = importlib.util.spec_from_file_location(name, file)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        specs.extend(module.SPECS)
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"corpus spec names must be unique; repeated: {duplicates}")
    return specs


def _program_of(spec: Spec) -> tuple[str, str]:
    return (getattr(spec, "program", "") or spec.name, getattr(spec, "module", "") or "")


# --- running one spec ---------------------------------------------------------------------

def _first_line(e: BaseException) -> str:
    text = [line for line in str(e).strip().splitlines() if line.strip()]
    if len(text) > 1 and text[0].endswith("raised:"):  # torch.compile: "backend=... raised:"
        text = [f"{text[0]} {text[1]}"]
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _leaves(x, out: list) -> list:
    """Flatten an output into numpy arrays (None, numbers and strings kept as they are)."""
    import torch

    import tracejit

    if isinstance(x, (tuple, list)):
        for e in x:
            _leaves(e, out)
    elif isinstance(x, dict):
        for k in sorted(x, key=str):
            _leaves(x[k], out)
    elif isinstance(x, torch.Tensor):
        out.append(x.detach().cpu().numpy())
    elif isinstance(x, tracejit.Tensor):
        out.append(np.asarray(x.numpy()))
    elif isinstance(x, (bool, int, float)) or x is None or isinstance(x, str):
        out.append(x)
    else:
        out.append(f"<{type(x).__name__}>")
    return out


def compare(got, want, rtol: float, atol: float) -> str:
    """PASS, or the first difference between output `got` and the torch output `want`."""
    g, w = _leaves(got, []), _leaves(want, [])
    if len(g) != len(w):
        return f"mismatch: {len(g)} output leaves, torch has {len(w)}"
    for i, (a, b) in enumerate(zip(g, w)):
        if not isinstance(b, np.ndarray):
            if isinstance(a, np.ndarray) and a.shape == () and isinstance(b, (int, float)):
                a = a.item()
            if isinstance(b, float) and isinstance(a, (int, float)):
                if not np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True):
                    return f"mismatch: output {i} is {a!r}, torch {b!r}"
            elif a != b:
                return f"mismatch: output {i} is {a!r}, torch {b!r}"
            continue
        if not isinstance(a, np.ndarray):
            return f"mismatch: output {i} is {type(a).__name__}, torch a {b.dtype} array"
        if a.shape != b.shape:
            return f"mismatch: output {i} shape {a.shape}, torch {b.shape}"
        if a.dtype != b.dtype:
            return f"mismatch: output {i} dtype {a.dtype}, torch {b.dtype}"
        if a.dtype.kind in "fc":
            if not np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True):
                err = np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))
                return f"mismatch: output {i} max abs error {err:.3g} (rtol={rtol}, atol={atol})"
        elif not np.array_equal(a, b):
            return f"mismatch: output {i} differs in {int(np.sum(a != b))} of {a.size} values"
    return PASS


def _seed(lib) -> None:
    random.seed(SEED)
    np.random.seed(SEED)
    lib.manual_seed(SEED)


def _entry(spec: Spec, model, n_inputs: int):
    """What trace and script capture: the model itself, or a function of `n_inputs` named
    parameters running `spec.call` (TorchScript and tracejit.script take no *args)."""
    if spec.call is None:
        return model
    call = spec.call
    if n_inputs == 1:
        def entry(a):
            return call(model, a)
    elif n_inputs == 2:
        def entry(a, b):
            return call(model, a, b)
    elif n_inputs == 3:
        def entry(a, b, c):
            return call(model, a, b, c)
    else:
        raise ValueError(f"a spec with `call` takes 1 to 3 inputs, got {n_inputs}")
    return entry


def _run(spec: Spec, model, inputs):
    return spec.call(model, *inputs) if spec.call is not None else model(*inputs)


def _build(spec: Spec, lib, flavour: str):
    program, module = _program_of(spec)
    mod = load_program(program, flavour, module)
    _seed(lib)
    with contextlib.redirect_stdout(io.StringIO()):  # minGPT prints its parameter count
        model = spec.build(mod)
    if hasattr(model, "train"):
        model.train(spec.train)
    if hasattr(model, "requires_grad_"):
        model.requires_grad_(False)  # inference, as a user compiles it for serving
    return model


def _copy_weights(torch_model, model) -> None:
    """Load the torch model's state_dict into the tracejit model; a key one side lacks fails."""
    state = {k: v.detach().cpu().numpy().copy() for k, v in torch_model.state_dict().items()}
    result = model.load_state_dict(state, strict=False)
    params = {k for k, _ in model.named_parameters()}
    lacking = [k for k in result.missing_keys if k in params]
    if result.unexpected_keys or lacking:
        raise RuntimeError(f"state_dict keys differ from torch's: tracejit lacks "
                           f"{result.unexpected_keys}, torch lacks {lacking}")


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Raise TimeoutError in the block after `seconds` (POSIX main thread; else no limit)."""
    usable = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if not usable or seconds <= 0:
        yield
        return

    def expire(signum, frame):
        raise TimeoutError(f"ran over the runner's {seconds:g} s limit per cell")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _cell(fn, *args) -> tuple[str, object]:
    """Run fn(*args) with warnings silenced: (PASS, its value) or (first error line, None)."""
    try:
        with warnings.catch_warnings(), _time_limit(CELL_SECONDS):
            warnings.simplefilter("ignore")
            return PASS, fn(*args)
    except Exception as e:  # any failure is a cell of the table
        if SHOW_TRACEBACKS:
            traceback.print_exc()
        if isinstance(e, ModuleNotFoundError) and not (e.name or "").startswith(
                ("torch", "tracejit")):
            return MISSING_DEPENDENCY + _first_line(e), None
        return _first_line(e), None


def _input_sets(spec: Spec, lib) -> list[tuple]:
    """Two sets of inputs, equal on both sides: compiled code is built on the first and must
    also match torch on the second (a value baked in while capturing shows there)."""
    return [spec.inputs(lib, np.random.default_rng(seed)) for seed in (SEED, SEED + 1)]


def _verdict(run, input_sets, wants, spec: Spec, calls: int = 1) -> str:
    """Compare run(inputs) with torch's output for each input set; PASS or the first
    difference. With `calls` > 1 each set runs that many times in a row and every result,
    the earlier ones kept alive, must match (a cached call may not clobber an earlier output)."""
    for k, (inputs, want) in enumerate(zip(input_sets, wants)):
        outputs = [run(inputs) for _ in range(calls)]
        for c, got in enumerate(outputs):
            verdict = compare(got, want, spec.rtol, spec.atol)
            if verdict != PASS:
                where = [w for w in ("on the second inputs" if k else "",
                                     f"call {c + 1} of {calls}" if c else "") if w]
                return f"{', '.join(where)}: {verdict}" if where else verdict
    return PASS


def _run_torch_eager(spec: Spec) -> tuple:
    """The torch model, its two input sets and its eager outputs (the oracle)."""
    import torch

    model = _build(spec, torch, "torch")
    input_sets = _input_sets(spec, torch)
    with torch.no_grad():
        return model, input_sets, [_run(spec, model, x) for x in input_sets]


def _run_torch(spec: Spec, torch_jit: bool, torch_compile: bool, cells: dict):
    import torch

    cells["torch_eager"], got = _cell(lambda: _run_torch_eager(spec))
    if got is None:
        return None
    model, input_sets, wants = got
    first = input_sets[0]
    for mode, compile_ in (("torch_trace", lambda f: torch.jit.trace(f, first,
                                                                     check_trace=False)),
                           ("torch_script", torch.jit.script)):
        if not torch_jit:
            continue

        def run_compiled(compile_=compile_):
            with torch.no_grad():
                compiled = compile_(_entry(spec, model, len(first)))
                return _verdict(lambda x: compiled(*x), input_sets, wants, spec)
        cells[mode], verdict = _cell(run_compiled)
        if verdict is not None:
            cells[mode] = verdict
    if torch_compile:
        _run_torch_compile(spec, cells)
    return model, wants


def _run_torch_compile(spec: Spec, cells: dict) -> None:
    """The torch.compile cell and its counts, measured in a child process: a backend failure
    can leave torch's dispatcher state broken for every later program (llama2c_generate's
    does), and the child gives each program a torch that compiled nothing yet."""
    limit = 3 * CELL_SECONDS
    try:
        child = subprocess.run([sys.executable, str(Path(__file__).resolve()),
                                "--torch-compile-cell", spec.name], capture_output=True,
                               text=True, timeout=limit)
        got = json.loads(child.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        got = {"cell": f"TimeoutError: the torch.compile child ran over {limit:g} s"}
    except (json.JSONDecodeError, IndexError):
        tail = (child.stderr.strip().splitlines() or ["no output"])[-1]
        got = {"cell": f"the torch.compile child failed (rc {child.returncode}): {tail}"}
    cells["torch_compile"] = got["cell"]
    cells.setdefault(COUNTS, {})["torch_compile"] = got.get("counts", got["cell"])


def torch_compile_cell(spec: Spec) -> dict:
    """In the child: torch._dynamo.explain's graph and break counts on the first input set,
    and torch.compile (TORCH_COMPILE_BACKEND) against torch eager, COMPILE_CALLS calls per
    input set, each on a fresh torch model."""
    import torch
    import torch._dynamo

    def entry():
        model = _build(spec, torch, "torch")
        return _entry(spec, model, len(input_sets[0]))

    def run_compiled():
        with torch.no_grad():
            compiled = torch.compile(entry(), backend=TORCH_COMPILE_BACKEND)
            return _verdict(lambda x: compiled(*x), input_sets, wants, spec, COMPILE_CALLS)

    def explain():
        torch._dynamo.reset()
        with torch.no_grad():
            report = torch._dynamo.explain(entry())(*input_sets[0])
        return [report.graph_count, report.graph_break_count]

    status, got = _cell(lambda: _run_torch_eager(spec))
    if got is None:
        return {"cell": f"skipped: torch eager failed ({status})"}
    input_sets, wants = got[1:]
    counted, counts = _cell(explain)  # first: a backend failure may break torch's state
    torch._dynamo.reset()
    status, verdict = _cell(run_compiled)
    return {"cell": verdict if verdict is not None else status,
            "counts": counts if counts is not None else counted}


def _run_tracejit(spec: Spec, torch_model, wants, cells: dict, explain: bool) -> None:
    import tracejit

    def build():
        model = _build(spec, tracejit, "tracejit")
        _copy_weights(torch_model, model)
        return model, _input_sets(spec, tracejit)

    status, built = _cell(build)
    if built is None:
        for mode in TRACEJIT_MODES:
            cells[mode] = status
        return
    model, input_sets = built
    first = input_sets[0]

    def checked(run):
        def check():
            with tracejit.no_grad():
                return _verdict(run, input_sets, wants, spec)
        status, verdict = _cell(check)
        return verdict if verdict is not None else status

    cells["eager"] = checked(lambda x: _run(spec, model, x))
    compiled = {}

    def compile_once(mode, compile_):
        if mode not in compiled:
            compiled[mode] = compile_(_entry(spec, model, len(first)))
        return compiled[mode]
    cells["trace"] = checked(lambda x: compile_once(
        "trace", lambda f: tracejit.trace(f, *first))(*x))
    cells["script"] = checked(lambda x: compile_once("script", tracejit.script)(*x))
    _run_compile(spec, lambda: build()[0], input_sets, wants, cells, explain)
    source = next((m for m in ("trace", "script") if cells[m] == PASS), None)
    if source is None:
        cells["saveload"] = "no compiled module to save (trace and script failed)"
        return

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{spec.name}.tjg"
        loaded = {}

        def load_once():
            if not loaded:
                tracejit.save(compiled[source], path)
                loaded["graph"] = tracejit.load(path)
            return loaded["graph"]
        cells["saveload"] = checked(lambda x: load_once()(*x))


def _run_compile(spec: Spec, build, input_sets, wants, cells: dict, explain: bool) -> None:
    """The compile cell: `tracejit.compile` of what trace and script capture (the model, or
    the function running `spec.call` on it), called COMPILE_CALLS times on each input set;
    with `explain`, tracejit.explain's graph and break counts on the first input set. Each
    gets a model of its own from `build()`, as a user compiles a model nothing captured yet."""
    import tracejit

    first = input_sets[0]

    def check():
        compiled = tracejit.compile(_entry(spec, build(), len(first)))
        with tracejit.no_grad():
            return _verdict(lambda x: compiled(*x), input_sets, wants, spec, COMPILE_CALLS)
    status, verdict = _cell(check)
    cells["compile"] = verdict if verdict is not None else status
    if not explain:
        return

    def count():
        entry = _entry(spec, build(), len(first))
        with tracejit.no_grad():
            report = tracejit.explain(entry, *first)
        return [report.graph_count, report.graph_break_count,
                [f"{Path(b.file).name}:{b.line}: {b.reason}" for b in report.breaks]]
    status, counts = _cell(count)
    cells.setdefault(COUNTS, {})["compile"] = counts if counts is not None else status


def run_spec(spec: Spec, torch_jit: bool = True,
             torch_compile: bool | None = None) -> dict[str, str]:
    """The cells of one corpus program: mode -> PASS or what went wrong. `torch_jit` runs the
    measurement columns (torch.jit, and torch.compile unless `torch_compile` is False) and
    the graph and break counts (cells[COUNTS])."""
    cells: dict[str, str] = {}
    torch_compile = torch_jit if torch_compile is None else torch_compile
    torch_side = _run_torch(spec, torch_jit, torch_compile, cells)
    if torch_side is None:
        for mode in TRACEJIT_MODES:
            cells[mode] = "skipped: torch eager failed"
        return cells
    _run_tracejit(spec, *torch_side, cells, explain=torch_jit)
    return cells


# --- status file and table ----------------------------------------------------------------

def read_status(path: Path = STATUS_FILE) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    return json.loads(path.read_text())["programs"]


def write_status(results: dict[str, dict[str, str]], path: Path = STATUS_FILE) -> None:
    kept = read_status(path)  # other runners' columns (train_runner.py's "train") stay
    programs = {name: {**{m: "pass" if cells.get(m) == PASS else "fail" for m in CHECKED_MODES},
                       **{k: v for k, v in kept.get(name, {}).items() if k not in CHECKED_MODES}}
                for name, cells in sorted(results.items())}
    text = json.dumps({"about": "modes that passed at the last measurement; regenerate with "
                                "`python tests/models/runner.py --update-status` (the train "
                                "column: tests/models/train_runner.py --update-status)",
                       "programs": programs}, indent=1)
    path.write_text(text + "\n")


def table(results: dict[str, dict[str, str]], width: int = 70) -> str:
    """A markdown table: one row per program, a cell per mode, per-column totals at the end."""
    modes = [m for m in MODES if any(m in c for c in results.values())]
    lines = ["| program | " + " | ".join(HEADERS[m] for m in modes) + " |",
             "|---" * (len(modes) + 1) + "|"]
    for name, cells in results.items():
        shown = []
        for m in modes:
            cell = cells.get(m, "")
            cell = "✓" if cell == PASS else cell.replace("|", "\\|")
            shown.append(cell if len(cell) <= width else cell[:width - 1] + "…")
        lines.append(f"| {name} | " + " | ".join(shown) + " |")
    totals = [f"**{sum(c.get(m) == PASS for c in results.values())}/{len(results)}**"
              for m in modes]
    lines.append("| **total** | " + " | ".join(totals) + " |")
    return "\n".join(lines)


def _counts_cell(cell, k: int) -> str:
    """Entry k (0: graphs, 1: breaks) of a counts cell, or its error shortened."""
    if isinstance(cell, list):
        return str(cell[k])
    if cell is None:
        return ""
    return "error" if k else str(cell).replace("|", "\\|")[:60]


def _breaks(measured: list) -> int:
    """Total breaks; torch reports -1 (graphs - 1) where it captured no graph: counted 0."""
    return sum(max(m[1], 0) for m in measured)


def counts_table(results: dict[str, dict[str, str]]) -> str:
    """A markdown table of graphs and graph breaks per program under tracejit.compile
    (tracejit.explain) and torch.compile (torch._dynamo.explain), with totals."""
    rows = {n: c[COUNTS] for n, c in results.items() if COUNTS in c}
    if not rows:
        return ""
    sides = ("compile", "torch_compile")
    lines = ["| program | compile | tracejit graphs | tracejit breaks | torch.compile | "
             "torch.compile graphs | torch.compile breaks |", "|---" * 7 + "|"]
    for name, counts in rows.items():
        shown = []
        for side in sides:
            shown.append("✓" if results[name].get(side) == PASS else "✗")
            shown += [_counts_cell(counts.get(side), 0), _counts_cell(counts.get(side), 1)]
        lines.append(f"| {name} | " + " | ".join(shown) + " |")
    total = []
    for side in sides:
        total.append(f"**{sum(results[n].get(side) == PASS for n in rows)}/{len(rows)}**")
        measured = [c[side] for c in rows.values() if isinstance(c.get(side), list)]
        total += [f"**{sum(m[0] for m in measured)}**", f"**{_breaks(measured)}**"]
    lines.append("| **total** | " + " | ".join(total) + " |")
    return "\n".join(lines)


def counts_summary(results: dict[str, dict[str, str]]) -> str:
    """One line per side: programs matching eager under compile, graphs and breaks."""
    lines = []
    for side, label in (("compile", "tracejit.compile"),
                        ("torch_compile", f"torch.compile ({TORCH_COMPILE_BACKEND})")):
        names = [n for n, c in results.items() if side in c]
        if not names:
            continue
        passed = sum(results[n][side] == PASS for n in names)
        measured = [results[n].get(COUNTS, {}).get(side) for n in names]
        measured = [m for m in measured if isinstance(m, list)]
        lines.append(f"- {label}: {passed}/{len(names)} programs give eager's results; "
                     f"{sum(m[0] for m in measured)} graphs, {_breaks(measured)} "
                     f"graph breaks (explain on the first inputs, {len(measured)} programs "
                     f"counted); {sum(m[0] > 0 for m in measured)} programs captured at least "
                     f"one graph, {sum(m[0] > 0 and m[1] <= 0 for m in measured)} of them "
                     "whole (one graph, no break)"
                     + ("; torch reports -1 breaks where it captured no graph, counted as 0"
                        if any(m[1] < 0 for m in measured) else ""))
    return "\n".join(lines)


def break_list(results: dict[str, dict[str, str]]) -> str:
    """Each program's tracejit.compile graph breaks: file:line and reason."""
    lines = []
    for name, cells in results.items():
        counts = cells.get(COUNTS, {}).get("compile")
        if isinstance(counts, list):
            lines += [f"- {name}: {b}" for b in counts[2]]
    return "\n".join(lines)


# issue 12's targets: each tracejit mode against the torch mode it must at least match
TARGETS = (("eager", "torch_eager"), ("trace", "torch_trace"), ("saveload", "torch_trace"),
           ("script", "torch_script"))


def targets(results: dict[str, dict[str, str]]) -> str:
    """One line per target: tracejit's count against torch's, and whether it is reached."""
    count = {m: sum(c.get(m) == PASS for c in results.values()) for m in MODES}
    lines = []
    for ours, theirs in TARGETS:
        if any(theirs in c for c in results.values()):
            reached = "reached" if count[ours] >= count[theirs] else "not reached"
            lines.append(f"- {HEADERS[ours]} {count[ours]} vs {HEADERS[theirs]} "
                         f"{count[theirs]}: {reached}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this program (repeatable)")
    parser.add_argument("--table", action="store_true", help="print the markdown table")
    parser.add_argument("--json", metavar="FILE", help="write the cells as JSON to FILE")
    parser.add_argument("--no-torch-jit", action="store_true",
                        help="skip the measurement: the torch.jit.trace/script and "
                             "torch.compile columns and the graph and break counts")
    parser.add_argument("--no-torch-compile", action="store_true",
                        help="skip only the torch.compile column and its counts (slow)")
    parser.add_argument("--update-status", action="store_true",
                        help=f"rewrite {STATUS_FILE.name}, the ratchet the tests check")
    parser.add_argument("--traceback", action="store_true",
                        help="print the traceback of every failing cell to stderr")
    parser.add_argument("--group", action="append", metavar="GROUP",
                        help="run only the specs of tests/models/specs_GROUP.py (repeatable)")
    parser.add_argument("--torch-compile-cell", metavar="NAME", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.torch_compile_cell:  # the child process of one torch.compile cell
        spec = next(s for s in collect_specs() if s.name == args.torch_compile_cell)
        print(json.dumps(torch_compile_cell(spec)))
        return 0
    global SHOW_TRACEBACKS
    SHOW_TRACEBACKS = args.traceback
    specs = collect_specs(args.group)
    if args.only:
        unknown = set(args.only) - {s.name for s in specs}
        if unknown:
            parser.error(f"unknown program(s) {sorted(unknown)}; known: "
                         f"{', '.join(s.name for s in specs)}")
        specs = [s for s in specs if s.name in args.only]
    results = {}
    for spec in specs:
        start = time.perf_counter()
        try:
            results[spec.name] = run_spec(spec, torch_jit=not args.no_torch_jit,
                                          torch_compile=not (args.no_torch_jit
                                                             or args.no_torch_compile))
        except Exception:  # a bug of the runner itself: show it whole
            traceback.print_exc()
            return 2
        cells = results[spec.name]
        passed = [m for m in MODES if cells.get(m) == PASS]
        print(f"{spec.name:28s} {time.perf_counter() - start:6.2f}s  pass: {' '.join(passed)}",
              file=sys.stderr)
    if args.table:
        print(table(results))
        print(f"\nTargets (of {len(results)} programs):\n{targets(results)}")
        counted = counts_table(results)
        if counted:
            print(f"\nGraphs and graph breaks:\n\n{counted}\n\n{counts_summary(results)}")
            breaks = break_list(results)
            if breaks:
                print(f"\ntracejit.compile graph breaks:\n{breaks}")
        failures = [(n, m, c[m]) for n, c in results.items() for m in MODES
                    if m in c and c[m] != PASS]
        if failures:
            print("\nFailures:")
            for name, mode, cell in failures:
                print(f"- {name} / {HEADERS[mode]}: {cell}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    if args.update_status:
        if args.only or args.group:
            merged = {**{n: {m: PASS if v == "pass" else "fail" for m, v in c.items()}
                         for n, c in read_status().items()}, **results}
            write_status(merged)
        else:
            write_status(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
