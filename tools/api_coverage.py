"""Writes docs/api-coverage.md: torch 2.13's public API, name by name, against tracejit's.

Each public name of the namespaces below (read from the installed torch, the oracle) is
*implemented* (tracejit has it), *out of scope* (a rule below says why) or *missing*. Missing
names are ranked by how often the real-model corpus (tests/models/corpus/) uses them, so the
names real code reaches for come first. tests/test_api_coverage.py fails when the file is stale.

    python tools/api_coverage.py            # rewrite docs/api-coverage.md
    python tools/api_coverage.py --check    # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "api-coverage.md"
CORPUS = ROOT / "tests" / "models" / "corpus"

# (title, torch namespace, tracejit namespace, how the corpus spells a use of a name)
NAMESPACES = [
    ("torch", "torch", "tracejit", r"torch\.{}\b"),
    ("torch.Tensor", "torch.Tensor", "tracejit.Tensor", r"\.{}\b"),
    ("torch.nn (modules)", "torch.nn", "tracejit.nn", r"\bnn\.{}\b"),
    ("torch.nn.functional", "torch.nn.functional", "tracejit.nn.functional", r"\bF\.{}\b"),
    ("torch.nn.init", "torch.nn.init", "tracejit.nn.init", r"\binit\.{}\b"),
    ("torch.nn.utils", "torch.nn.utils", "tracejit.nn.utils", r"\butils\.{}\b"),
    ("torch.linalg", "torch.linalg", "tracejit.linalg", r"\blinalg\.{}\b"),
    ("torch.utils.data", "torch.utils.data", "tracejit.utils.data", r"\b{}\b"),
]

# Out of scope, first matching rule wins: (regular expression on the name, reason).
OUT_OF_SCOPE = [
    (r"^(constant|normal|uniform|xavier_normal|xavier_uniform|kaiming_normal|kaiming_uniform|"
     r"orthogonal|sparse|dirac|eye)$|^NLLLoss2d$|^Container$|^clip_grad$|^clip_grad_norm$",
     "deprecated aliases (use the name with a trailing underscore, or the new name)"),
    (r"^(Tensor|ScalingType|SwizzleType|assert_int_or_pair|boolean_dispatch|handle_torch_function|"
     r"has_torch_function\w*|graph|graph_settings|dataloader|dataset|sampler)$",
     "torch internals and submodules re-exported from this namespace"),
    (r"(^|_)(cuda|xpu|mps|mtia|hpu|ipu|xla|maia|vulkan|mkldnn|miopen|cudnn|fbgemm|nnpack|nested|"
     r"pin_memory|is_pinned|share_memory|ipc|set_device|device_module)(_|$)|DistributedSampler|"
     r"ThroughputBenchmark",
     "devices other than the CPU, pinned or shared memory (the GPU backend is issue 19)"),
    (r"quantiz|^q_|qint|quint|int_repr|dequantize|qscheme|fake_quant", "quantized tensors"),
    (r"sparse|_coo|csr|csc|bsr|bsc|^smm$|^dsmm$|^hsmm$|sspaddmm|hspmm|to_dense|coalesce|"
     r"^values$|^indices$|crow_|ccol_|^row_indices|^col_indices|_nnz|dense_dim",
     "sparse tensors (dense equivalents are supported)"),
    (r"complex|^real$|imag|conj|angle|polar|view_as_real|cfloat|cdouble|chalf|^is_neg$|resolve_neg|"
     r"^eig$|^eigvals$", "complex dtypes (eig and eigvals return complex values)"),
    (r"bfloat16|float8|uint16|uint32|uint64|^bits\d|^u?int[1-7]$|float4|e8m0",
     "dtypes numpy has no type for"),
    (r"Storage|storage|untyped|data_ptr|^set_$|_cow|is_set_to",
     "raw storages (tensors are numpy arrays)"),
    (r"named|rename|refine_names|align_to|align_as|^names$",
     "named tensors (a prototype in torch)"),
    (r"^(fft|stft|istft)$|_window$", "signal processing (torch.fft)"),
    (r"DataPipe|datapipe|Datapipe|DataChunk|runtime_validation|non_deterministic|"
     r"argument_validation|guaranteed_datapipes",
     "datapipes (deprecated in torch)"),
    (r"^sym_|^Sym[A-Z]|^export$|^cond$|while_loop|^vmap$|^func$|compiler|^compile$|_dynamo|^fx$|"
     r"onnx|^library$|^ops$|^classes$|overrides|^hub$|distributed|^rpc|^package$|^testing$",
     "torch's own compiler stack, export and extension points (tracejit's are trace, script, "
     "compile)"),
    (r"autocast|GradScaler|^amp$", "mixed precision (float16 is supported as a dtype)"),
    (r"deterministic|warn_always|float32_matmul_precision|num_interop|set_flush_denormal|"
     r"^has_mkl|^has_openmp|parallel_info|^config$|__config__|vitals|^show$",
     "runtime and build configuration of torch itself"),
]
# Not out of scope: planned in an open issue (listed as missing, with the issue).
PLANNED = [
    (r"grad|backward|autograd|requires_grad|retain|hook|is_leaf|version|detach_|"
     r"checkpoint|functional_call|stateless", "issue 15 (autograd)"),
    (r"^optim", "issue 15 (optimizers)"),
]


def public_names(title: str, namespace) -> list[str]:
    """The public names of one torch namespace, as its documentation lists them."""
    import torch

    if namespace is torch:
        names = set(torch.__all__)
        names |= {n for n in dir(torch) if isinstance(getattr(torch, n), torch.dtype)}
        names |= {"device", "dtype", "Size", "Generator", "finfo", "iinfo", "no_grad",
                  "jit", "nn", "linalg", "utils", "cuda", "backends"}
        return sorted(n for n in names if not n.startswith("_"))
    if title == "torch.Tensor":
        return sorted(n for n in dir(namespace) if not n.startswith("_"))
    out = []
    for name in dir(namespace):
        if name.startswith("_"):
            continue
        obj = getattr(namespace, name)
        if title == "torch.nn (modules)":
            if (inspect.isclass(obj) and issubclass(obj, torch.nn.Module)) or name in (
                    "Parameter", "Buffer", "UninitializedParameter"):
                out.append(name)
        elif (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismodule(obj)
              or callable(obj)) and _from_torch(obj, name, namespace):
            out.append(name)
    return sorted(out)


def _from_torch(obj, name: str, namespace) -> bool:
    """Defined by torch, not a helper it imported (typing's Optional, math, warnings)."""
    module = obj.__name__ if inspect.ismodule(obj) else getattr(obj, "__module__", "") or ""
    if inspect.ismodule(obj):
        return module.startswith(namespace.__name__ + ".")
    return module.startswith("torch") or (module == "" and callable(obj))


_CORE_C_CLASSES = {"Generator", "Size", "device", "dtype", "finfo", "iinfo", "memory_format",
                   "layout", "Stream", "Event"}


def status(name: str, theirs, ours) -> tuple[str, str]:
    """('implemented' | 'out of scope' | 'missing', reason or planned issue)."""
    refused = type(getattr(ours, name, None)).__name__ == "UnsupportedDType"  # bfloat16
    if ours is not None and hasattr(ours, name) and not refused:
        return "implemented", ""
    obj = getattr(theirs, name, None)
    cls = obj if inspect.isclass(obj) else type(obj)
    if type(cls).__module__ == "pybind11_builtins" and name not in _CORE_C_CLASSES:
        return "out of scope", "TorchScript's and the dispatcher's C++ classes and constants"
    for pattern, reason in OUT_OF_SCOPE:
        if re.search(pattern, name):
            return "out of scope", reason
    for pattern, issue in PLANNED:
        if re.search(pattern, name):
            return "missing", issue
    return "missing", ""


def corpus_text() -> str:
    """Every corpus program's source, for counting uses: the files in the corpus and, for a
    program run from its pinned PyPI package (tests/models/installed.py), that module's file."""
    texts = []
    for path in sorted(CORPUS.rglob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        texts.append(text)
        for dist, module in re.findall(r'load_program\(__import__, "([^"]+)", "[^"]+", "([^"]+)"',
                                       text):
            texts.append(_installed_source(dist, module))
    return "\n".join(texts)


def _installed_source(dist: str, module: str) -> str:
    """The source of `module` from installed distribution `dist` ('' if it is not installed)."""
    from importlib import metadata

    try:
        files = metadata.distribution(dist).files or []
    except metadata.PackageNotFoundError:
        return ""
    stem = module.replace(".", "/")
    for f in files:
        if str(f) in (f"{stem}.py", f"{stem}/__init__.py"):
            return f.locate().read_text(encoding="utf-8", errors="replace")
    return ""


def _import(path: str):
    head, _, attr = path.rpartition(".")
    try:
        return importlib.import_module(path)
    except ImportError:
        pass
    try:
        return getattr(importlib.import_module(head), attr)
    except (ImportError, AttributeError):
        return None


def render() -> str:
    import torch

    text = corpus_text()
    rows, sections, ranked = [], [], []
    for title, theirs_path, ours_path, use in NAMESPACES:
        theirs, ours = _import(theirs_path), _import(ours_path)
        groups: dict[str, list[str]] = {"implemented": [], "out of scope": [], "missing": []}
        reasons: dict[str, list[str]] = {}
        for name in public_names(title, theirs):
            kind, why = status(name, theirs, ours)
            uses = len(re.findall(use.format(re.escape(name)), text))
            if kind == "out of scope":
                reasons.setdefault(why, []).append(name)
            label = f"`{name}`" + (f" ({why})" if kind == "missing" and why else "")
            groups[kind].append(label)
            if kind == "missing" and uses:
                ranked.append((uses, f"{title}", name, why))
        total = sum(len(v) for v in groups.values())
        rows.append(f"| {title} | {total} | {len(groups['implemented'])} | "
                    f"{len(groups['out of scope'])} | {len(groups['missing'])} |")
        sections.append(_section(title, groups, reasons))
    ranked.sort(key=lambda r: (-r[0], r[1], r[2]))
    return "\n".join([
        "# API coverage: torch's public API in tracejit",
        "",
        f"Generated by `python tools/api_coverage.py` from torch {torch.__version__} (the "
        "oracle) and this checkout; `tests/test_api_coverage.py` fails when it is stale. A name "
        "is *implemented* when tracejit has it under the same path, *out of scope* when a rule "
        "in the script says why, and *missing* otherwise (with the issue that plans it, if one "
        f"does). Uses are counted in the {len(list(CORPUS.rglob('*.py')))} files of the "
        "real-model corpus (tests/models/corpus/).",
        "",
        "| namespace | public names | implemented | out of scope | missing |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "## Missing names that real model code uses, most used first",
        "",
        *([f"- `{ns}`: `{name}`: {n} use{'s' if n != 1 else ''}"
           + (f" ({why})" if why else "") for n, ns, name, why in ranked]
          or ["None: every name the corpus uses is implemented or out of scope."]),
        "",
        *sections,
    ]) + "\n"


def _section(title: str, groups: dict, reasons: dict) -> str:
    lines = [f"## {title}", ""]
    lines.append(f"**Implemented ({len(groups['implemented'])}):** "
                 + (", ".join(groups["implemented"]) or "none") + "\n")
    lines.append(f"**Missing ({len(groups['missing'])}):** "
                 + (", ".join(groups["missing"]) or "none") + "\n")
    lines.append(f"**Out of scope ({len(groups['out of scope'])}):**\n")
    for why, names in sorted(reasons.items()):
        lines.append(f"- {why}: " + ", ".join(f"`{n}`" for n in names))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is stale: run python tools/api_coverage.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
