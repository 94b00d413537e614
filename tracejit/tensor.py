"""`tracejit.Tensor`: torch's Tensor API over a numpy array.

Primitive methods are one-liners into `dispatch`; composite ones (var, split, repeat, ...) live
in `tracejit.functions` and are built from dispatched primitives, so every capture mode sees
them as the primitives they are made of.
"""

from __future__ import annotations

import builtins
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from tracejit import functions as F
from tracejit import functions_index as FI
from tracejit.dispatch import (
    alias,
    assign,
    concrete,
    dispatch,
    dispatch_inplace,
    result_type,
    to_dtype,
)
from tracejit.functions_special import SpecialMethods
from tracejit.indexing import getitem, setitem
from tracejit.ir import DType, Op, Size, TensorType
from tracejit.ir.types import _FROM_NUMPY
from tracejit.tensor_methods import TorchMethods


class device:
    """A device; only the CPU exists until the GPU backend lands."""

    __slots__ = ("type",)

    def __init__(self, spec="cpu"):
        self.type = check_device(spec)

    def __repr__(self):
        return f"device(type='{self.type}')"

    def __eq__(self, other):
        return isinstance(other, (device, str)) and str(self) == str(other)

    def __hash__(self):
        return hash(self.type)

    def __str__(self):
        return self.type


def check_device(spec) -> str:
    """'cpu' for a CPU device spec; a clear error for anything else."""
    if spec is None:
        return "cpu"
    name = spec.type if isinstance(spec, device) else str(spec)
    if name in ("cpu", "cpu:0"):
        return "cpu"
    raise RuntimeError(
        f"device '{name}' is not available: tracejit runs on the CPU only for now (the GPU "
        "backend is a later milestone); use device='cpu' or leave device unset"
    )


CPU = device("cpu")

# a tracer's size-read hook while a trace runs (tracejit.tracer.SizeReads): the user's code
# reading the size of a data-dependent dim as an int gets a guard recorded
SIZE_READS: list = []


def _unary(op: Op, doc: str) -> tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]:
    def method(self) -> Tensor:
        return dispatch(op, self)

    def method_(self) -> Tensor:
        return dispatch_inplace(op, self)

    method.__doc__ = doc
    method_.__doc__ = f"In-place {op.value}."
    return method, method_


def _no_bool_abs(tensor: Tensor) -> Tensor:
    """torch has no abs kernel for bool (its error type, NotImplementedError)."""
    if tensor.dtype is DType.bool:
        raise NotImplementedError("\"abs_cpu\" not implemented for 'Bool': abs of a bool tensor "
                                  "is itself; convert with .int() for an integer abs")
    return tensor


def _binary(op: Op, doc: str) -> tuple[Callable[[Tensor, Any], Tensor], ...]:
    def method(self, other) -> Tensor:
        return dispatch(op, self, other)

    def method_(self, other) -> Tensor:
        return dispatch_inplace(op, self, other)

    def reflected(self, other) -> Tensor:
        return dispatch(op, other, self)

    method.__doc__ = doc
    method_.__doc__ = f"In-place {op.value}."
    return method, method_, reflected



# torch's names for dtypes in kernel errors: ScalarType names and C++ type names
_SCALAR_NAMES = {DType.bool: "Bool", DType.uint8: "Byte", DType.int8: "Char",
                 DType.int16: "Short", DType.int32: "Int", DType.int64: "Long",
                 DType.float16: "Half", DType.float32: "Float", DType.float64: "Double"}
_C_NAMES = {DType.bool: "bool", DType.uint8: "unsigned char", DType.int8: "signed char",
            DType.int16: "short int", DType.int32: "int", DType.int64: "long int",
            DType.float16: "c10::Half", DType.float32: "float", DType.float64: "double"}

class Tensor(TorchMethods, SpecialMethods):
    """A strided n-dimensional array of float16/32/64, uint8, int8/16/32/64 or bool, on the CPU."""

    # _value: the IR value a tracer bound this tensor to (set only while tracing); __dict__:
    # user attributes (`p._no_weight_decay = True`), per Python object as in torch
    # _rg: requires_grad; _ag: autograd's facts (grad, grad_fn, hooks: autograd/engine.Meta)
    __slots__ = ("__dict__", "__weakref__", "_ag", "_data", "_rg", "_value")
    __array_priority__ = 1000

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs) -> Any:
        """numpy ufuncs on tensors (`np.sin(t)`, `ndarray + t`) give tensors, as torch's do."""
        from tracejit.numpy_ufuncs import array_ufunc

        return array_ufunc(ufunc, method, inputs, kwargs)

    def __new__(cls, *args, device=None):
        """torch's legacy constructor: `Tensor(2, 3)` (zeros of the default dtype),
        `Tensor([1, 2])` (data); tracejit.tensor/zeros say what they make."""
        if cls is not Tensor:  # subclasses (Parameter) construct themselves
            return object.__new__(cls)
        from tracejit.compat import legacy_new
        from tracejit.dispatch import get_default_dtype

        return legacy_new(get_default_dtype(), args, device)

    def __init__(self, *args, **kwargs):
        pass

    @classmethod
    def _wrap(cls, array: np.ndarray) -> Tensor:
        t = object.__new__(cls)
        t._data = array
        t._rg = False
        t._ag = None
        return t

    @staticmethod
    def _from_array(array: np.ndarray) -> Tensor:
        DType.from_numpy(array.dtype)
        return Tensor._wrap(array)

    # --- attributes -------------------------------------------------------------------------
    @property
    def _type(self) -> TensorType:
        return TensorType(_FROM_NUMPY[self._data.dtype], self._data.shape)

    @property
    def dtype(self) -> DType:
        return _FROM_NUMPY[self._data.dtype]

    @property
    def shape(self) -> Size:
        if SIZE_READS:
            return SIZE_READS[-1].shape(self, Size(self._data.shape), sys._getframe(1))
        return Size(self._data.shape)

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def device(self) -> device:
        return CPU

    @property
    def is_cuda(self) -> bool:
        return False

    # --- autograd (tracejit/autograd) -------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        _autograd_api().set_requires_grad(self, value)

    @property
    def grad(self) -> Tensor | None:
        return _autograd_api().get_grad(self)

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        _autograd_api().set_grad(self, value)

    @grad.deleter
    def grad(self) -> None:
        _autograd_api().set_grad(self, None)

    @property
    def grad_fn(self) -> Any:
        return self._ag.grad_fn if self._ag is not None else None

    @property
    def is_leaf(self) -> bool:
        return self._ag is None or self._ag.grad_fn is None

    @property
    def retains_grad(self) -> bool:
        return self._ag is not None and self._ag.retains_grad

    @property
    def output_nr(self) -> int:
        return self._ag.output_nr if self._ag is not None else 0

    @property
    def _version(self) -> int:
        from tracejit.autograd.versions import version

        return version(self._data)

    def __reduce_ex__(self, protocol):
        """Pickled as its values, requires_grad and attributes: never its autograd history
        (a graph does not cross a process or a file)."""
        state = (self.__dict__ or None) if type(self).__reduce_ex__ is Tensor.__reduce_ex__ \
            else None
        return _rebuild, (type(self), self._data, self._rg), state

    def __deepcopy__(self, memo) -> Tensor:
        """A copy of the values, requires_grad and `.grad` (torch's); a tensor with history
        cannot be copied (its graph would be shared or duplicated)."""
        if self.grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the "
                "deepcopy protocol at the moment.  If you were attempting to deepcopy a module, "
                "this may be because of a torch.nn.utils.weight_norm usage, see "
                "https://github.com/pytorch/pytorch/pull/103001")
        import copy

        out = type(self)._wrap(self._data.copy())
        memo[id(self)] = out
        out._rg = self._rg
        if self._ag is not None and self._ag.grad is not None:
            out.grad = copy.deepcopy(self._ag.grad, memo)
        out.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return out

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in `.grad` after backward."""
        _autograd_api().retain_grad(self)

    def register_hook(self, hook) -> Any:
        """`hook(grad)` runs when this tensor's gradient is computed; may return a new one."""
        return _autograd_api().register_hook(self, hook)

    def register_post_accumulate_grad_hook(self, hook) -> Any:
        """`hook(tensor)` runs after a leaf's `.grad` was accumulated."""
        return _autograd_api().register_post_accumulate_grad_hook(self, hook)

    @property
    def data(self) -> Tensor:
        return alias(Tensor._wrap(self._data), self)

    @data.setter
    def data(self, value: Tensor) -> None:
        self._data = value._data
        alias(self, value)

    @property
    def T(self) -> Tensor:
        return self.permute(tuple(reversed(range(self.ndim))))

    @property
    def mT(self) -> Tensor:
        return self.transpose(-2, -1)

    def size(self, dim: int | None = None) -> Size | builtins.int:
        if SIZE_READS:
            if dim is None:
                return SIZE_READS[-1].shape(self, Size(self._data.shape), sys._getframe(1))
            SIZE_READS[-1].dim(self, F.normalize_dim(dim, self.ndim), sys._getframe(1))
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[F.normalize_dim(dim, self.ndim)]

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        if SIZE_READS:
            SIZE_READS[-1].every(self, sys._getframe(1))
        return int(self._data.size)

    nelement = numel

    def element_size(self) -> int:
        return self._data.itemsize

    def stride(self, dim: int | None = None) -> tuple[builtins.int, ...] | builtins.int:
        strides = tuple(s // self._data.itemsize for s in self._data.strides)
        return strides if dim is None else strides[F.normalize_dim(dim, self.ndim)]

    def is_contiguous(self, memory_format=None) -> bool:
        if memory_format is channels_last:
            return self.ndim == 4 and bool(
                self._data.transpose(0, 2, 3, 1).flags.c_contiguous)
        return bool(self._data.flags.c_contiguous)

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    def backward(self, gradient=None, retain_graph=None, create_graph: bool = False,
                 inputs=None) -> None:
        """Accumulate the gradient of this tensor into the leaves' `.grad` (torch's)."""
        _autograd_api().backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    # --- conversion -------------------------------------------------------------------------
    def item(self) -> builtins.int | builtins.float | builtins.bool:
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar "
                f"(shape {list(self.shape)})"
            )
        return concrete(self, "item()").item()

    def tolist(self) -> list[Any] | builtins.int | builtins.float | builtins.bool:
        return concrete(self, "tolist()").tolist()

    def numpy(self, *, force: bool = False) -> np.ndarray:
        if self._rg and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        return concrete(self, "numpy()")

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        data = concrete(self, "numpy.asarray()")
        if dtype is not None and np.dtype(dtype) != data.dtype:
            return data.astype(dtype)
        return data.copy() if copy else data

    def __len__(self) -> int:
        if not self.ndim:
            raise TypeError("len() of a 0-d tensor")
        if SIZE_READS:
            SIZE_READS[-1].dim(self, 0, sys._getframe(1))
        return self._data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if not self.ndim:
            raise TypeError("iteration over a 0-d tensor")
        if SIZE_READS:
            SIZE_READS[-1].dim(self, 0, sys._getframe(1))
        return (self[i] for i in range(self._data.shape[0]))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with {self._data.size} values is ambiguous (shape "
                f"{list(self.shape)}); reduce it first with .any() or .all()"
            )
        return bool(concrete(self, "bool()").item())

    def __float__(self) -> float:
        return float(self._one_element("float"))

    def __int__(self) -> int:
        return int(self._one_element("int"))

    def _one_element(self, what: str):
        if self._data.size != 1:
            raise ValueError(
                f"only one element tensors can be converted to Python scalars ({what}() of a "
                f"tensor of shape {list(self.shape)})"
            )
        return concrete(self, f"{what}()").item()

    def __index__(self) -> int:
        if self.dtype.is_floating_point or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(concrete(self, "use as a Python index").item())

    def __format__(self, spec: str) -> str:
        if self.ndim == 0 and (spec or _traced_text(self) is None):
            return format(concrete(self, "format()").item(), spec)
        return repr(self)

    __hash__ = object.__hash__

    def __contains__(self, element) -> bool:
        return bool((self == element).any())

    def __repr__(self) -> str:
        text = _traced_text(self) or F.tensor_repr(self)
        if self._rg:  # torch's suffix: the node that made it, or that a leaf requires grad
            fn = self.grad_fn
            text = text[:-1] + (f", grad_fn=<{fn.name()}>)" if fn is not None
                                else ", requires_grad=True)")
        return text

    def to(self, *args, **kwargs) -> Tensor:
        """to(dtype), to(device), to(device, dtype), to(other); copy=True forces a copy."""
        dtype, copy = F.parse_to_args(self, args, kwargs)
        out = self if dtype is None or dtype is self.dtype else dispatch(Op.CAST, self, dtype=dtype)
        return dispatch(Op.COPY, out) if copy and out is self else out

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def float(self) -> Tensor:
        return self.to(DType.float32)

    def double(self) -> Tensor:
        return self.to(DType.float64)

    def int(self) -> Tensor:
        return self.to(DType.int32)

    def long(self) -> Tensor:
        return self.to(DType.int64)

    def bool(self) -> Tensor:
        return self.to(DType.bool)

    def half(self) -> Tensor:
        return self.to(DType.float16)

    def byte(self) -> Tensor:
        return self.to(DType.uint8)

    def char(self) -> Tensor:
        return self.to(DType.int8)

    def short(self) -> Tensor:
        return self.to(DType.int16)

    def cpu(self) -> Tensor:
        return self

    def cuda(self, *args, **kwargs) -> Tensor:
        check_device("cuda")

    def clone(self, *, memory_format=None) -> Tensor:
        return _laid_out(dispatch(Op.COPY, self), memory_format or preserve_format)

    def detach(self) -> Tensor:
        return alias(Tensor._wrap(self._data), self)

    def detach_(self) -> Tensor:
        """Detach in place: this tensor becomes a leaf that does not require grad."""
        if self._ag is not None:
            self._ag.grad_fn = None
        self._rg = False
        return self

    def contiguous(self, memory_format=None) -> Tensor:
        memory_format = memory_format or contiguous_format
        if self.is_contiguous(memory_format):
            return self
        return _laid_out(dispatch(Op.COPY, self), memory_format)

    # --- arithmetic -------------------------------------------------------------------------
    __add__, _iadd, __radd__ = _binary(Op.ADD, "self + other")
    __sub__, _isub, __rsub__ = _binary(Op.SUB, "self - other")
    __mul__, mul_, __rmul__ = _binary(Op.MUL, "self * other")
    __truediv__, _idiv, _ = _binary(Op.DIV, "self / other")

    def __rtruediv__(self, other) -> Tensor:  # torch's own definition, rounding included
        return self.reciprocal() * other
    __floordiv__, floor_divide_, __rfloordiv__ = _binary(Op.FLOOR_DIV, "self // other")
    __mod__, remainder_, __rmod__ = _binary(Op.REMAINDER, "self % other (Python's sign rule)")

    def __rpow__(self, other) -> Tensor:
        """other ** self: a tensor exponent, so C pow of each element (no scalar shortcuts)."""
        return dispatch(Op.POW, other, self, scalar_exponent=False)
    __and__, bitwise_and_, __rand__ = _binary(Op.BITWISE_AND, "self & other")
    __or__, bitwise_or_, __ror__ = _binary(Op.BITWISE_OR, "self | other")
    __xor__, bitwise_xor_, __rxor__ = _binary(Op.BITWISE_XOR, "self ^ other")
    __matmul__ = F.matmul

    def __rmatmul__(self, other) -> Tensor:
        return F.matmul(other, self)

    mul = multiply = __mul__
    true_divide = __truediv__
    floor_divide = __floordiv__
    remainder = __mod__
    bitwise_and, bitwise_or, bitwise_xor = __and__, __or__, __xor__

    def __pow__(self, exponent) -> Tensor:
        exponent = _checked_exponent(self, exponent)
        return dispatch(Op.POW, self, exponent, scalar_exponent=_torch_shortcuts(self, exponent))

    def pow_(self, exponent) -> Tensor:
        exponent = _checked_exponent(self, exponent)
        return dispatch_inplace(Op.POW, self, exponent,
                                scalar_exponent=_torch_shortcuts(self, exponent))

    pow = __pow__

    def maximum(self, other) -> Tensor:
        """Elementwise maximum (NaN propagates); `other` must be a tensor, as in torch."""
        return dispatch(Op.MAXIMUM, self, F.as_tensor_arg(other, "other"))

    def minimum(self, other) -> Tensor:
        """Elementwise minimum (NaN propagates); `other` must be a tensor, as in torch."""
        return dispatch(Op.MINIMUM, self, F.as_tensor_arg(other, "other"))

    __eq__, eq_ = _binary(Op.EQ, "self == other")[:2]
    __ne__, ne_ = _binary(Op.NE, "self != other")[:2]
    __lt__, lt_ = _binary(Op.LT, "self < other")[:2]
    __le__, le_ = _binary(Op.LE, "self <= other")[:2]
    __gt__, gt_ = _binary(Op.GT, "self > other")[:2]
    __ge__, ge_ = _binary(Op.GE, "self >= other")[:2]
    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__
    greater, less, greater_equal, less_equal = gt, lt, ge, le
    matmul = F.matmul
    mm = F.mm
    bmm = F.bmm

    def add(self, other, *, alpha=1) -> Tensor:
        return dispatch(Op.ADD, self, F.scaled(Op.ADD, self, other, alpha))

    def add_(self, other, *, alpha=1) -> Tensor:
        return dispatch_inplace(Op.ADD, self, F.scaled(Op.ADD, self, other, alpha))

    def sub(self, other, *, alpha=1) -> Tensor:
        return dispatch(Op.SUB, self, F.scaled(Op.SUB, self, other, alpha))

    def sub_(self, other, *, alpha=1) -> Tensor:
        return dispatch_inplace(Op.SUB, self, F.scaled(Op.SUB, self, other, alpha))

    subtract = sub

    def div(self, other, *, rounding_mode=None) -> Tensor:
        return dispatch(F.division_op(rounding_mode), self, other)

    def div_(self, other, *, rounding_mode=None) -> Tensor:
        return dispatch_inplace(F.division_op(rounding_mode), self, other)

    divide = div

    def __iadd__(self, other) -> Tensor:
        return self.add_(other)

    def __isub__(self, other) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other) -> Tensor:
        return self.div_(other)

    def __ifloordiv__(self, other) -> Tensor:
        return self.floor_divide_(other)

    def __imod__(self, other) -> Tensor:
        return self.remainder_(other)

    def __ipow__(self, other) -> Tensor:
        return self.pow_(other)

    def __iand__(self, other) -> Tensor:
        return self.bitwise_and_(other)

    def __ior__(self, other) -> Tensor:
        return self.bitwise_or_(other)

    def __ixor__(self, other) -> Tensor:
        return self.bitwise_xor_(other)

    def __neg__(self) -> Tensor:
        if self.dtype is DType.bool:
            raise RuntimeError(
                "Negation, the `-` operator, on a bool tensor is not supported. If you are "
                "trying to invert a mask, use the `~` or `logical_not()` operator instead."
            )
        return dispatch(Op.NEG, self)

    def __pos__(self) -> Tensor:
        return self

    neg = negative = __neg__

    def neg_(self) -> Tensor:
        return assign(self, -self, "neg_")

    def abs(self) -> Tensor:
        """Absolute value."""
        return dispatch(Op.ABS, _no_bool_abs(self))

    def abs_(self) -> Tensor:
        """In-place abs."""
        return dispatch_inplace(Op.ABS, _no_bool_abs(self))

    __abs__ = absolute = abs
    exp, exp_ = _unary(Op.EXP, "e ** x.")
    log, log_ = _unary(Op.LOG, "Natural logarithm.")
    log1p, log1p_ = _unary(Op.LOG1P, "log(1 + x), accurate near 0.")
    expm1, expm1_ = _unary(Op.EXPM1, "exp(x) - 1, accurate near 0.")
    sqrt, sqrt_ = _unary(Op.SQRT, "Square root.")
    rsqrt, rsqrt_ = _unary(Op.RSQRT, "1 / sqrt(x).")
    sin, sin_ = _unary(Op.SIN, "Sine.")
    cos, cos_ = _unary(Op.COS, "Cosine.")
    tanh, tanh_ = _unary(Op.TANH, "Hyperbolic tangent.")
    sigmoid, sigmoid_ = _unary(Op.SIGMOID, "1 / (1 + exp(-x)).")
    erf, erf_ = _unary(Op.ERF, "The error function.")
    floor, floor_ = _unary(Op.FLOOR, "Round down.")
    ceil, ceil_ = _unary(Op.CEIL, "Round up.")
    trunc, trunc_ = _unary(Op.TRUNC, "Round toward zero.")
    fix = trunc
    sign, sign_ = _unary(Op.SIGN, "-1, 0 or 1 by the sign of x.")
    reciprocal, reciprocal_ = _unary(Op.RECIPROCAL, "1 / x.")
    relu, relu_ = _unary(Op.RELU, "max(x, 0).")
    logical_not, logical_not_ = _unary(Op.LOGICAL_NOT, "x == 0, as bool.")
    bitwise_not, bitwise_not_ = _unary(Op.BITWISE_NOT, "~x (logical not on bool).")

    def __invert__(self) -> Tensor:
        if self.dtype.is_floating_point:
            raise TypeError(
                f"~ (operator.invert) is only implemented on integer and Boolean-type tensors, "
                f"got a {self.dtype.value} tensor"
            )
        return dispatch(Op.BITWISE_NOT, self)

    def round(self, *, decimals: int = 0) -> Tensor:
        return dispatch(Op.ROUND, self, decimals=decimals)

    def round_(self, *, decimals: int = 0) -> Tensor:
        return dispatch_inplace(Op.ROUND, self, decimals=decimals)

    def square(self) -> Tensor:
        """self * self; a bool tensor squares as int64 (torch computes it as pow(self, 2))."""
        x = to_dtype(self, DType.int64) if self.dtype is DType.bool else self
        return x * x

    def clamp(self, min=None, max=None) -> Tensor:
        return F.clamp(self, min, max)

    clip = clamp

    def clamp_(self, min=None, max=None) -> Tensor:
        return assign(self, F.clamp(self, min, max), "clamp_")

    clip_ = clamp_

    def clamp_min(self, min) -> Tensor:
        return F.clamp(self, min, None)

    def clamp_max(self, max) -> Tensor:
        return F.clamp(self, None, max)

    def logical_and(self, other) -> Tensor:
        return F.logical_and(self, other)

    def logical_or(self, other) -> Tensor:
        return F.logical_or(self, other)

    def logical_xor(self, other) -> Tensor:
        return F.logical_xor(self, other)

    def isnan(self) -> Tensor:
        return self != self

    def lerp(self, end, weight) -> Tensor:
        """torch's two-sided formula: exact at both ends (weight 0 gives self, 1 gives end).
        Floating self only; a tensor end or dimensioned weight must have self's dtype, a 0-d
        weight counts as a number of self's dtype (torch's rules)."""
        if not self.is_floating_point():
            raise NotImplementedError(f"\"lerp_kernel_scalar\" not implemented for "
                                      f"'{_SCALAR_NAMES[self.dtype]}'")
        for name, arg in (("end", end), ("weight", weight)):
            if isinstance(arg, Tensor) and arg.dtype != self.dtype and (
                    name == "end" or arg.ndim):
                raise RuntimeError(f"expected dtype {_C_NAMES[self.dtype]} for `{name}` but got "
                                   f"dtype {_C_NAMES[arg.dtype]}")
        if isinstance(weight, Tensor) and weight.dtype != self.dtype:
            # a 0-d weight of another dtype promotes as a 0-d tensor: float64 beside 0-d
            # float32 operands wins, beside dimensioned ones it is a number of their dtype
            weight = weight.to(result_type(self, end, weight))
        diff = end - self
        if isinstance(weight, Tensor):
            return F.where(weight.abs() < 0.5, self + weight * diff, end - diff * (1 - weight))
        return self + weight * diff if abs(weight) < 0.5 else end - diff * (1 - weight)

    # --- in-place fills and copies -----------------------------------------------------------
    def fill_(self, value) -> Tensor:
        return F.fill_(self, value)

    def zero_(self) -> Tensor:
        return F.fill_(self, 0)

    def copy_(self, src, non_blocking: bool = False) -> Tensor:
        return F.copy_(self, src)

    def masked_fill(self, mask, value) -> Tensor:
        return F.masked_fill(self, mask, value)

    def masked_fill_(self, mask, value) -> Tensor:
        return assign(self, F.masked_fill(self, mask, value), "masked_fill_")

    def where(self, condition, other) -> Tensor:
        return F.where(condition, self, other)

    def new_tensor(self, data, dtype=None, **kwargs) -> Tensor:
        from tracejit.creation import tensor

        return tensor(data, dtype=dtype or self.dtype)

    def new_full(self, size, fill_value, *, dtype=None, **kwargs) -> Tensor:
        from tracejit.creation import full

        return full(size, fill_value, dtype=dtype or self.dtype)

    def new_zeros(self, *size, dtype=None, **kwargs) -> Tensor:
        return self.new_full(F.size_args(size), 0, dtype=dtype)

    def new_ones(self, *size, dtype=None, **kwargs) -> Tensor:
        return self.new_full(F.size_args(size), 1, dtype=dtype)

    new_empty = new_zeros

    # --- reductions ---------------------------------------------------------------------------
    sum = F.sum
    mean = F.mean
    prod = F.prod
    amax = F.amax
    amin = F.amin
    max = F.max
    min = F.min
    argmax = F.argmax
    argmin = F.argmin
    all = F.all
    any = F.any
    var = F.var
    std = F.std
    norm = F.norm
    logsumexp = F.logsumexp
    cumsum = F.cumsum
    softmax = F.softmax
    log_softmax = F.log_softmax

    # --- movement -----------------------------------------------------------------------------
    reshape = F.reshape
    view = F.view
    permute = F.permute
    transpose = F.transpose
    swapaxes = swapdims = F.transpose
    t = F.t
    unsqueeze = F.unsqueeze
    squeeze = F.squeeze
    flatten = F.flatten
    unflatten = F.unflatten
    expand = F.expand
    repeat = F.repeat
    chunk = F.chunk

    def split(self, split_size, dim: int = 0) -> tuple[Tensor, ...]:
        """Tensor.split(split_size, dim): torch names the size split_size here (the function
        tracejit.split calls it split_size_or_sections)."""
        return F.split(self, split_size, dim)

    narrow = F.narrow
    tril = F.tril
    triu = F.triu
    gather = F.gather

    def expand_as(self, other) -> Tensor:
        return self.expand(*other.shape)

    def view_as(self, other) -> Tensor:
        return self.view(*other.shape)

    def reshape_as(self, other) -> Tensor:
        return self.reshape(*other.shape)

    # --- sorting, flipping, scattering, selecting, sampling (tracejit/functions_index.py) ----
    sort = FI.sort
    argsort = FI.argsort
    msort = FI.msort
    topk = FI.topk
    flip = FI.flip
    fliplr = FI.fliplr
    flipud = FI.flipud
    rot90 = FI.rot90
    roll = FI.roll
    cumprod = FI.cumprod
    cumprod_ = FI.cumprod_
    cummax = FI.cummax
    cummin = FI.cummin
    diff = FI.diff
    scatter = FI.scatter
    scatter_ = FI.scatter_
    scatter_add = FI.scatter_add
    scatter_add_ = FI.scatter_add_
    scatter_reduce = FI.scatter_reduce
    scatter_reduce_ = FI.scatter_reduce_
    index_select = FI.index_select
    index_add = FI.index_add
    index_add_ = FI.index_add_
    index_copy = FI.index_copy
    index_copy_ = FI.index_copy_
    index_fill = FI.index_fill
    index_fill_ = FI.index_fill_
    masked_scatter = FI.masked_scatter
    masked_scatter_ = FI.masked_scatter_
    take_along_dim = FI.take_along_dim
    nonzero = FI.nonzero
    count_nonzero = FI.count_nonzero
    argwhere = FI.argwhere
    multinomial = FI.multinomial
    bernoulli = FI.bernoulli
    unique = FI.unique

    __getitem__ = getitem
    __setitem__ = setitem


def _checked_exponent(base, exponent):
    """torch rejects a negative Python-int exponent of an integer tensor (a negative exponent
    tensor is fine: it gives 0, 1 or -1)."""
    is_int = isinstance(exponent, (int, np.integer)) and not isinstance(exponent, bool)
    if is_int and exponent < 0 and isinstance(base, Tensor) and not base.is_floating_point():
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    if isinstance(exponent, Tensor) and exponent.dtype is DType.bool and \
            isinstance(base, Tensor) and base.dtype is DType.bool:  # only a Python bool works
        raise NotImplementedError("\"pow\" not implemented for 'Bool'")
    return exponent


def _torch_shortcuts(base, exponent) -> bool:
    """pow's scalar_exponent: torch's pow(Tensor, Scalar) shortcuts (sqrt for 0.5, x*x*x for 3,
    ...) apply to a Python-number exponent; a tensor exponent, 0-d included, and a float16
    base (torch's half kernel) get C pow of each element."""
    is_number = isinstance(exponent, (int, float, np.number)) and not isinstance(exponent, complex)
    is_number = is_number or getattr(exponent, "py_type", None) in (int, float)  # script's
    return bool(is_number and not (isinstance(base, Tensor) and base.dtype is DType.float16))


__all__ = ["CPU", "Tensor", "check_device", "device"]


def _traced_text(t: Tensor) -> str | None:
    """`tensor(<traced float32[2, 3]>)` for a tensor whose values belong to a trace being
    recorded (not computed: printing them would show garbage); None when they are known."""
    try:
        concrete(t, "repr()")
    except RuntimeError:  # the capture mode refused: a TraceError
        return f"tensor(<traced {t.dtype.name}{list(t.shape)}>)"
    return None


# --- memory formats (torch.contiguous_format, ...): strides of eager results ---------------------
class memory_format:
    """A layout request for clone()/contiguous(); only eager strides depend on it (graphs
    hold values, not layouts)."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"tracejit.{self.name}"


contiguous_format = memory_format("contiguous_format")
preserve_format = memory_format("preserve_format")
channels_last = memory_format("channels_last")


def _laid_out(out: Tensor, fmt: memory_format) -> Tensor:
    """`out` (a fresh copy) with the strides `fmt` asks for, as torch lays it out. numpy's
    copy keeps the source's order (torch's preserve_format for dense inputs)."""
    if not isinstance(fmt, memory_format):
        raise TypeError(f"memory_format must be a tracejit memory format, got "
                        f"{type(fmt).__name__}")
    if fmt is contiguous_format:
        out._data = np.asarray(out._data, order="C")  # (ascontiguousarray makes 0-d 1-d)
    elif fmt is channels_last:
        if out.ndim != 4:
            raise RuntimeError("required rank 4 tensor to use channels_last format")
        nhwc = np.ascontiguousarray(out._data.transpose(0, 2, 3, 1))
        out._data = nhwc.transpose(0, 3, 1, 2)
    return out


def _autograd_api():
    from tracejit import autograd

    return autograd


def _rebuild(cls, data, requires_grad: bool) -> Tensor:
    """A pickled tensor back: a leaf holding `data`."""
    out = cls._wrap(data)
    out._rg = bool(requires_grad)
    return out
