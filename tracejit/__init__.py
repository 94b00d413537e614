"""tracejit: PyTorch-style eager tensors on numpy, and (later milestones) a JIT that traces,
optimizes and compiles them.

Write models as you would with torch (`tracejit.Tensor`, `tracejit.nn`,
`tracejit.nn.functional`); the eager API runs every op through one dispatch point driven by
the op table in `tracejit.ir.ops`.
"""

try:
    import tracejit.ir as _ir  # noqa: F401  (ir/ is mapped into the package by pyproject.toml)
except ModuleNotFoundError as _e:  # pragma: no cover - only in an uninstalled checkout
    if _e.name not in ("tracejit.ir", "tracejit.ir.ops", "tracejit.ir.types"):
        raise
    raise ImportError(
        "tracejit is not installed: its packages tracejit.ir, tracejit.passes and "
        "tracejit.runtime live in the repository's ir/, passes/ and runtime/ folders and are "
        "mapped into place by pip. From the repository root run:\n"
        "    python -m pip install -e .\n"
        "(or `pip install -e '.[test]'` to run the tests), then import tracejit again."
    ) from None

import builtins as _builtins

from tracejit import _dynamo as _dynamo  # torch._dynamo's config, explain, disable, ...
from tracejit import _malloc as _malloc  # on import: eager temporaries reuse the heap top
from tracejit import backends, cuda, hub, jit, linalg, nn, utils
from tracejit import compiler as compiler  # torch.compiler's disable, is_compiling, reset
from tracejit import logs as _logs
from tracejit import optim as optim  # torch.optim: SGD, Adam, AdamW, ..., lr_scheduler
from tracejit._version import __version__ as __version__  # the one version source
from tracejit.autograd import enable_grad, inference_mode, is_grad_enabled, no_grad
from tracejit.compat import *  # noqa: F403  (FloatTensor, finfo, _assert, set_grad_enabled, ...)
from tracejit.compat import __all__ as _compat_names
from tracejit.compiler import CompiledFunction, CompiledModule, compile
from tracejit.creation import (
    arange,
    as_tensor,
    asarray,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    logspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    scalar_tensor,
    tensor,
    zeros,
    zeros_like,
)
from tracejit.dispatch import get_default_dtype, result_type, set_default_dtype
from tracejit.dtypes import bfloat16  # a named refusal: numpy has no bfloat16
from tracejit.explain import ExplainReport, explain
from tracejit.functions import *  # noqa: F403  (torch's functions: sum, cat, reshape, ...)
from tracejit.functions import __all__ as _function_names
from tracejit.functions_extra import *  # noqa: F403  (einsum, outer, meshgrid, isclose, ...)
from tracejit.functions_extra import __all__ as _extra_function_names
from tracejit.functions_index import *  # noqa: F403  (sort, topk, scatter, ...)
from tracejit.functions_index import __all__ as _index_function_names
from tracejit.functions_math import *  # noqa: F403  (addcmul, isinf, nan_to_num, diag, ...)
from tracejit.functions_math import __all__ as _math_function_names
from tracejit.functions_shape import *  # noqa: F403  (tile, movedim, hstack, tensor_split, ...)
from tracejit.functions_shape import __all__ as _shape_function_names
from tracejit.functions_special import *  # noqa: F403  (asin, atan2, erfinv, fmod, shifts, ...)
from tracejit.functions_special import __all__ as _special_function_names
from tracejit.functions_stats import *  # noqa: F403  (median, quantile, isin, ...)
from tracejit.functions_stats import __all__ as _stats_function_names
from tracejit.generator import (
    Generator,
    default_generator,
    get_rng_state,
    seed,
    set_rng_state,
)
from tracejit.graphfile import GraphFileError, LoadedGraph, load, save
from tracejit.ir import DType as dtype
from tracejit.ir import Size
from tracejit.ir.types import promote_types
from tracejit.random import initial_seed, manual_seed
from tracejit.scripting import ScriptedFunction, ScriptedModule, ScriptError, script
from tracejit.tensor import (
    Tensor,
    channels_last,
    contiguous_format,
    device,
    memory_format,
    preserve_format,
)
from tracejit.torch_aliases import *  # noqa: F403  (torch.relu_, torch.conv2d, ...)
from tracejit.torch_aliases import __all__ as _alias_names
from tracejit.traced import TracedFunction, TracedModule, trace
from tracejit.tracer import TraceError

float32 = float = dtype.float32
float64 = double = dtype.float64
int32 = int = dtype.int32
int64 = long = dtype.int64
bool = dtype.bool
# --- dtypes of issue 12 (uint8, int8, int16, float16; bfloat16 is a named refusal) ---
uint8 = dtype.uint8
int8 = dtype.int8
int16 = short = dtype.int16
float16 = half = dtype.float16

_logs.configure()


def is_tensor(obj) -> _builtins.bool:
    return isinstance(obj, Tensor)


def numel(input: Tensor) -> _builtins.int:
    return input.numel()


def can_cast(from_: dtype, to: dtype) -> _builtins.bool:
    from tracejit.dispatch import can_cast as _can_cast

    return _can_cast(from_, to)


__all__ = [
    "CompiledFunction",
    "CompiledModule",
    "ExplainReport",
    "compile",
    "explain",
    "channels_last",  # memory formats (issue 12, porting bugs)
    "contiguous_format",
    "memory_format",
    "preserve_format",
    "Size",
    "Tensor",
    "TraceError",
    "TracedFunction",
    "TracedModule",
    "arange",
    "as_tensor",
    "bool",
    "bfloat16",
    "float16",
    "half",
    "int16",
    "int8",
    "short",
    "uint8",
    "can_cast",
    "device",
    "double",
    "dtype",
    "empty",
    "empty_like",
    "enable_grad",
    "eye",
    "float",
    "float32",
    "float64",
    "from_numpy",
    "full",
    "full_like",
    "get_default_dtype",
    "inference_mode",
    "initial_seed",
    "int",
    "int32",
    "int64",
    "is_grad_enabled",
    "is_tensor",
    "linspace",
    "long",
    "manual_seed",
    "nn",
    "no_grad",
    "numel",
    "ones",
    "ones_like",
    "promote_types",
    "rand",
    "rand_like",
    "randint",
    "randn",
    "randn_like",
    "randperm",
    "result_type",
    "set_default_dtype",
    "tensor",
    "trace",
    "save",
    "load",
    "GraphFileError",
    "LoadedGraph",
    "script",
    "ScriptError",
    "ScriptedFunction",
    "ScriptedModule",
    "zeros",
    "zeros_like",
    *_function_names,
    *_index_function_names,
    # torch namespace of issue 12
    "Generator",
    "default_generator",
    "get_rng_state",
    "seed",
    "set_rng_state",
    "backends",
    "cuda",
    "hub",
    "jit",
    "linalg",
    "utils",
    *_compat_names,
    *_extra_function_names,
    *_math_function_names,
    *_alias_names,
    *_shape_function_names,
    *_stats_function_names,
    *_special_function_names,
    "asarray",
    "logspace",
    "randint_like",
    "scalar_tensor",
]

# einops recognises tracejit tensors once einops is imported (helper H4; einops not imported here)
from tracejit import _einops  # noqa: E402

_einops.install()


# --- typing (helper H12): names that annotations use but their modules import only for type
# checkers (tensor.py imports those modules: a cycle). Bound here, once everything is loaded, so
# typing.get_type_hints resolves every public signature (tests/frontend/test_typing.py).
def _bind_annotation_names() -> None:
    import sys

    modules = {name[len("tracejit."):]: module for name, module in sys.modules.items()
               if name.startswith("tracejit.")}  # (tracejit.tensor is the function here)
    tensor_, compat_, linalg_ = modules["tensor"], modules["compat"], modules["linalg"]
    names = {"Tensor": tensor_.Tensor, "device": tensor_.device, "Layout": compat_.layout,
             "qr_result": linalg_.qr_result, "slogdet_result": linalg_.slogdet_result,
             "svd_result": linalg_.svd_result}
    wanted = {
        "compat": ("device",), "dispatch": ("Tensor",), "functions": ("Tensor",),
        "functions_extra": ("Tensor",), "functions_index": ("Tensor",),
        "functions_shape": ("Tensor",), "functions_stats": ("Tensor",),
        "functions_reduce": ("Tensor",),
        "generator": ("Tensor",), "autograd": ("Tensor",),
        "tensor_methods": ("Tensor", "Layout", "qr_result", "slogdet_result", "svd_result"),
        "torch_aliases": ("Tensor", "qr_result", "slogdet_result", "svd_result"),
        "functions_special": ("Tensor",), "linalg": ("Tensor",), "functions_math": ("Tensor",),
        "indexing": ("Tensor",), **{f"nn.functional{part}": ("Tensor",) for part in (
            "", "_act", "_conv", "_loss", "_norm", "_pool", "_sample")},
    }
    for module, bound in wanted.items():
        namespace = vars(modules[module])
        for name in bound:
            namespace.setdefault(name, names[name])


_bind_annotation_names()
