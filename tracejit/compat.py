"""Top-level torch names that are not tensor functions: the legacy tensor types
(`FloatTensor`, ...), `finfo`/`iinfo`, `_assert`, `typename`, `set_grad_enabled`.

The legacy types are constructors and `isinstance` checks on the dtype (like torch's:
`isinstance(x, tracejit.FloatTensor)` is True for a float32 tensor); they are not subclasses
of `Tensor`.
"""

from __future__ import annotations

import builtins
import math
import sys
from typing import TYPE_CHECKING

import numpy as np

from tracejit import autograd as _autograd
from tracejit.dispatch import current_mode, get_default_dtype
from tracejit.ir import DType
from tracejit.tensor import Tensor, check_device

if TYPE_CHECKING:
    from tracejit.tensor import device

# torch's legacy type names, by dtype
_LEGACY_NAMES = {
    "float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
    "uint8": "ByteTensor", "int8": "CharTensor", "int16": "ShortTensor", "int32": "IntTensor",
    "int64": "LongTensor", "bool": "BoolTensor",
}


def legacy_type_name(dtype: DType) -> str:
    """'torch.FloatTensor' for float32, ...: what torch's `x.type()` returns on the CPU."""
    return f"torch.{_LEGACY_NAMES[dtype.value]}"


def legacy_type_dtype(spec) -> DType:
    """The dtype a `Tensor.type(...)` argument names: a dtype, a legacy type or its name."""
    if isinstance(spec, DType):
        return spec
    if isinstance(spec, _CudaTensorType):
        check_device("cuda")
    if isinstance(spec, _LegacyTensorType):
        return spec.dtype
    if isinstance(spec, str):
        prefix, _, name = spec.rpartition(".")
        if prefix.endswith("cuda"):
            check_device("cuda")
        for value, legacy in _LEGACY_NAMES.items():
            if legacy == name and prefix in ("torch", "tracejit") and hasattr(DType, value):
                return DType(value)
        raise ValueError(f"invalid type: '{spec}' (expected a dtype or a name such as "
                         "'torch.FloatTensor')")
    raise TypeError(f"type() takes a dtype, a legacy tensor type or its name, got "
                    f"{type(spec).__name__}")


class _LegacyTensorType(type):
    """The metaclass of FloatTensor & co: calling one makes a tensor, isinstance checks the
    dtype."""

    dtype: DType

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor) and obj.dtype is cls.dtype

    def __call__(cls, *args, device=None) -> Tensor:
        return legacy_new(cls.dtype, args, device)

    def __repr__(cls) -> str:
        return f"<class 'tracejit.{cls.__name__}'>"


def legacy_new(dtype: DType, args: tuple, device=None) -> Tensor:
    """torch's legacy constructors (`FloatTensor(2, 3)`, `Tensor([1, 2])`, `x.new()`): sizes
    give zeros (never uninitialized memory), a sequence gives its data, a tensor itself."""
    from tracejit.creation import tensor, zeros

    check_device(device)
    if len(args) == 1 and isinstance(args[0], Tensor):
        if args[0].dtype is not dtype:
            raise TypeError(f"expected {legacy_type_name(dtype)} (got {args[0].type()})")
        return args[0]
    if len(args) == 1 and not _is_int(args[0]) and not _is_size(args[0]):
        return tensor(args[0], dtype=dtype)
    shape = args[0] if len(args) == 1 and _is_size(args[0]) else args
    return zeros(*shape, dtype=dtype) if shape else zeros(0, dtype=dtype)


def _is_int(x) -> bool:
    return isinstance(x, (builtins.int, np.integer)) and not isinstance(x, builtins.bool)


def _is_size(x) -> bool:
    from tracejit.ir import Size

    return isinstance(x, Size)


class _CudaTensorType(_LegacyTensorType):
    """torch.cuda.FloatTensor & co: nameable (code picks them at import time), no tensor is
    one, and making one raises the CPU-only error."""

    def __instancecheck__(cls, obj) -> bool:
        return False

    def __call__(cls, *args, **kwargs):
        check_device("cuda")

    def __repr__(cls) -> str:
        return f"<class 'tracejit.cuda.{cls.__name__}'>"


def _legacy_types(meta=_LegacyTensorType, module="tracejit") -> dict[str, _LegacyTensorType]:
    return {name: meta(name, (), {"dtype": DType(value), "__module__": module})
            for value, name in _LEGACY_NAMES.items() if value in DType._value2member_map_}


LEGACY_TYPES = _legacy_types()
CUDA_LEGACY_TYPES = _legacy_types(_CudaTensorType, "tracejit.cuda")
globals().update(LEGACY_TYPES)


# --- finfo / iinfo ------------------------------------------------------------------------------

class finfo:
    """Machine limits of a floating-point dtype (the default dtype when none is given)."""

    def __init__(self, type: DType | None = None):
        dtype = get_default_dtype() if type is None else type
        if not isinstance(dtype, DType) or not dtype.is_floating_point:
            raise TypeError(f"torch.finfo() requires a floating point input type, got "
                            f"{dtype!r}. Use torch.iinfo to handle 'torch.finfo'")
        info = np.finfo(dtype.np)
        self.bits = info.bits
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = self.smallest_normal = float(info.tiny)
        self.resolution = 10.0 ** -info.precision  # torch: a power of ten, not numpy's cast
        self.dtype = dtype.value

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution}, min={self.min}, max={self.max}, "
                f"eps={self.eps}, smallest_normal={self.tiny}, tiny={self.tiny}, "
                f"dtype={self.dtype})")


class iinfo:
    """Machine limits of an integer (or bool) dtype."""

    def __init__(self, type: DType):
        if not isinstance(type, DType) or type.is_floating_point:
            raise TypeError(f"torch.iinfo() requires an integer input type, got {type!r}. Use "
                            "torch.finfo to handle floating point types")
        info = np.iinfo(np.uint8) if type is DType.bool else np.iinfo(type.np)
        self.bits = info.bits
        self.max = 1 if type is DType.bool else builtins.int(info.max)
        self.min = 0 if type is DType.bool else builtins.int(info.min)
        self.dtype = type.value

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


# --- misc ---------------------------------------------------------------------------------------

def _assert(condition, message: str) -> None:
    """torch._assert: AssertionError(message) when `condition` is false; on a traced tensor
    it becomes a runtime check in the captured graph."""
    from tracejit.tracer import TraceError

    if isinstance(condition, Tensor):
        try:
            ok = builtins.bool(condition)
        except TraceError:
            cond = condition.reshape(()) if condition.ndim else condition
            current_mode().check(cond.bool(), message)
            return
    else:
        ok = builtins.bool(condition)
    if not ok:
        raise AssertionError(message)


def typename(obj) -> str:
    """'torch.FloatTensor' for a float32 tensor, 'module.QualName' for anything else."""
    if isinstance(obj, Tensor):
        return legacy_type_name(obj.dtype)
    module = getattr(obj, "__module__", "") or ""
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if qualname is None:
        qualname = type(obj).__qualname__
        module = type(obj).__module__ or ""
    return f"{module}.{qualname}" if module and module != "builtins" else qualname


def is_floating_point(input: Tensor) -> bool:
    return input.is_floating_point()


def is_nonzero(input: Tensor) -> bool:
    """The truth of a one-element tensor."""
    return builtins.bool(input)


pi = math.pi
e = math.e
inf = math.inf
nan = math.nan
newaxis = None


class layout:
    """A tensor memory layout; tracejit tensors are all `strided` (dense)."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"tracejit.{self.name}"


strided = layout("strided")


def clone(input: Tensor, *, memory_format=None) -> Tensor:
    return input.clone(memory_format=memory_format)


def detach(input: Tensor) -> Tensor:
    return input.detach()


def fill(input: Tensor, value) -> Tensor:
    """A copy of input with every element set to value."""
    return input.clone().fill_(value)


def fill_(input: Tensor, value) -> Tensor:
    return input.fill_(value)


def zero_(input: Tensor) -> Tensor:
    return input.zero_()


def is_same_size(input: Tensor, other: Tensor) -> builtins.bool:
    return input.shape == other.shape


def is_signed(input: Tensor) -> builtins.bool:
    return input.is_signed()


_PRINT_PROFILES = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None) -> None:
    """How tensors print: digits, when to summarize, line width; like torch's (sci_mode=True
    prints every float in e-notation)."""
    from tracejit.functions import PRINT_OPTIONS

    if profile is not None:
        PRINT_OPTIONS.update(_PRINT_PROFILES[profile])
    given = {"precision": precision, "threshold": threshold, "edgeitems": edgeitems,
             "linewidth": linewidth}
    PRINT_OPTIONS.update({k: v for k, v in given.items() if v is not None})
    PRINT_OPTIONS["sci_mode"] = sci_mode
    if PRINT_OPTIONS["threshold"] == math.inf:
        PRINT_OPTIONS["threshold"] = sys.maxsize


def get_num_threads() -> int:
    """Threads a large compiled kernel splits over ($TRACEJIT_NUM_THREADS or the CPUs this
    process may use)."""
    from tracejit.runtime import executor

    return executor.THREADS


def set_num_threads(n: int) -> None:
    """Split large compiled kernels over at most n threads from now on."""
    from tracejit.runtime import executor

    if int(n) < 1:
        raise RuntimeError(f"set_num_threads expects a positive integer, got {n}")
    executor.THREADS = int(n)


def get_default_device() -> device:
    from tracejit.tensor import CPU

    return CPU


def set_default_device(device) -> None:
    """Only the CPU exists: anything else raises the CPU-only error."""
    check_device(device)


def set_default_tensor_type(t) -> None:
    """The legacy way to set the default dtype: FloatTensor or DoubleTensor (or its name)."""
    from tracejit.dispatch import set_default_dtype

    set_default_dtype(legacy_type_dtype(t))


def range(start, end, step=1, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Deprecated torch.range: like arange but end is included, default dtype float. (This
    module shadows the builtin range from here on: use builtins.range below.)"""
    from tracejit.creation import arange

    dtype = dtype or get_default_dtype()
    count = math.floor((end - start) / step) + 1
    return arange(0, builtins.max(count, 0), dtype=dtype, device=device) * step + start


set_grad_enabled = _autograd.set_grad_enabled


__all__ = [
    *LEGACY_TYPES, "_assert", "clone", "detach", "e", "fill", "fill_", "finfo", "iinfo", "inf",
    "is_floating_point", "is_nonzero", "is_same_size", "is_signed", "layout", "nan", "newaxis",
    "pi", "set_grad_enabled", "set_printoptions", "strided", "get_num_threads",
    "set_num_threads", "get_default_device", "set_default_device", "set_default_tensor_type",
    "range", "typename", "zero_",
]

if TYPE_CHECKING:  # the legacy types made above, named for type checkers
    FloatTensor = DoubleTensor = HalfTensor = ByteTensor = LEGACY_TYPES["FloatTensor"]
    CharTensor = ShortTensor = IntTensor = LongTensor = BoolTensor = LEGACY_TYPES["FloatTensor"]
    __all__ += ["BoolTensor", "ByteTensor", "CharTensor", "DoubleTensor", "FloatTensor",
                "HalfTensor", "IntTensor", "LongTensor", "ShortTensor"]
