"""Error messages for the common mistakes, tested verbatim: each names the shapes, dims or
dtypes involved (and the fix, where there is one). Where torch raises for the same code, the
exception class is torch's too."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import tracejit as tj


def _x(L):
    return L.arange(24).reshape(2, 3, 4)


def _setitem(x, key, value):
    x[key] = value


# name: (code taking the library module, exception class, exact message, torch raises too)
ERRORS = {
    "broadcast": (
        lambda L: L.ones(2, 3) + L.ones(4), RuntimeError,
        "The size of tensor a (3) must match the size of tensor b (4) at non-singleton "
        "dimension 1 (shapes [2, 3] and [4])", True),
    "broadcast-three": (
        lambda L: L.where(L.ones(2, 1) > 0, L.ones(3), L.ones(4)), RuntimeError,
        "The size of tensor b (3) must match the size of tensor c (4) at non-singleton "
        "dimension 1 (shapes [2, 1], [3] and [4])", True),
    "matmul": (
        lambda L: L.ones(2, 3) @ L.ones(4, 5), RuntimeError,
        "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)", True),
    "matmul-batched": (
        lambda L: L.ones(5, 2, 3) @ L.ones(4, 5), RuntimeError,
        "matmul: shapes [5, 2, 3] and [4, 5] cannot be multiplied (inner dimensions 3 and 4 "
        "differ)", True),
    "matmul-vectors": (
        lambda L: L.ones(3) @ L.ones(4), RuntimeError,
        "matmul: shapes [3] and [4] cannot be multiplied (inner dimensions 3 and 4 differ)", True),
    "matmul-0d": (
        lambda L: L.ones(()) @ L.ones(4), RuntimeError,
        "both arguments to matmul need to be at least 1D, but they are 0D and 1D", True),
    "reshape": (
        lambda L: _x(L).reshape(5, 5), RuntimeError,
        "shape '[5, 5]' is invalid for input of size 24 (input shape [2, 3, 4])", True),
    "reshape-infer": (
        lambda L: _x(L).reshape(5, -1), RuntimeError,
        "shape '[5, -1]' is invalid for input of size 24 (input shape [2, 3, 4])", True),
    "dim-out-of-range": (
        lambda L: _x(L).sum(3), IndexError,
        "Dimension out of range (expected to be in range of [-3, 2], but got 3)", True),
    "dim-out-of-range-negative": (
        lambda L: _x(L).softmax(-4), IndexError,
        "Dimension out of range (expected to be in range of [-3, 2], but got -4)", True),
    "index-out-of-bounds": (
        lambda L: _x(L)[0, 3], IndexError,
        "index 3 is out of bounds for dimension 1 with size 3", True),
    "index-tensor-out-of-bounds": (
        lambda L: _x(L)[:, L.tensor([0, 5])], IndexError,
        "index 5 is out of bounds for dimension 1 with size 3", True),
    "setitem-out-of-bounds": (
        lambda L: _setitem(_x(L), L.tensor([-3]), 0), IndexError,
        "index -3 is out of bounds for dimension 0 with size 2", True),
    "too-many-indices": (
        lambda L: _x(L)[0, 0, 0, 0], IndexError,
        "too many indices for tensor of dimension 3 (shape [2, 3, 4], indexed in 4 dims)", True),
    "mask-shape": (
        lambda L: _x(L)[L.tensor([True, False, True])], IndexError,
        "The shape of the mask [3] at index 0 does not match the shape of the indexed tensor "
        "[2, 3, 4] at index 0", True),
    "float-index": (
        lambda L: _x(L)[L.tensor([1.0])], IndexError,
        "tensors used as indices must be long, int or bool tensors, got float32", True),
    "index-put-dtype": (
        lambda L: _setitem(L.zeros(3), L.tensor([0, 1]), L.tensor([1, 2])), RuntimeError,
        "Index put requires the source and destination dtypes match, got float32 for the "
        "destination and int64 for the source; convert the value with .to(tracejit.float32)",
        True),
    "bool-of-many": (
        lambda L: bool(L.ones(2, 3)), RuntimeError,
        "Boolean value of Tensor with 6 values is ambiguous (shape [2, 3]); reduce it first "
        "with .any() or .all()", True),
    "item-of-many": (
        lambda L: L.ones(2, 3).item(), RuntimeError,
        "a Tensor with 6 elements cannot be converted to Scalar (shape [2, 3])", True),
    "float-of-many": (
        lambda L: float(L.ones(2)), ValueError,
        "only one element tensors can be converted to Python scalars (float() of a tensor of "
        "shape [2])", True),
    "neg-bool": (
        lambda L: -L.tensor([True]), RuntimeError,
        "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
        "invert a mask, use the `~` or `logical_not()` operator instead.", True),
    "sub-bool": (
        lambda L: L.ones(2) - L.tensor([True, False]), RuntimeError,
        "sub: bool tensors are not supported (supported dtypes: float16, float32, float64, uint8, "
        "int8, int16, int32, int64)",
        True),
    "bitwise-float": (
        lambda L: L.ones(2) & L.ones(2), RuntimeError,
        "bitwise_and: float32 tensors are not supported (supported dtypes: uint8, int8, int16, "
        "int32, int64, bool)",
        True),
    "invert-float": (
        lambda L: ~L.ones(2, dtype=L.float64), TypeError,
        "~ (operator.invert) is only implemented on integer and Boolean-type tensors, got a "
        "float64 tensor", True),
    "round-decimals-int": (
        lambda L: L.tensor([15]).round(decimals=-1), RuntimeError,
        "round: decimals=-1 needs a floating-point tensor, got int64 (round integers with "
        "decimals=0)", True),
    "mean-int": (
        lambda L: _x(L).mean(), RuntimeError,
        "mean: int64 tensors are not supported (supported dtypes: float16, float32, float64)",
        True),
    "inplace-int-add-float": (
        lambda L: L.ones(2, dtype=L.int64).add_(1.5), RuntimeError,
        "add_: result type float32 can't be cast to the desired output type int64", True),
    "iadd-int-float-tensor": (
        lambda L: L.ones(2, dtype=L.int32).__iadd__(L.ones(2)), RuntimeError,
        "add_: result type float32 can't be cast to the desired output type int32", True),
    "div_-int": (
        lambda L: L.ones(2, dtype=L.int64).div_(2), RuntimeError,
        "div_: result type float32 can't be cast to the desired output type int64", True),
    "inplace-broadcast": (
        lambda L: L.ones(3).add_(L.ones(2, 3)), RuntimeError,
        "add_: output with shape [3] doesn't match the broadcast shape [2, 3]", True),
    "int-pow-negative": (
        lambda L: L.tensor([2, 3]) ** -1, RuntimeError,
        "Integers to negative integer powers are not allowed.", True),
    "alpha-float-int": (
        lambda L: L.tensor([1]).add(L.tensor([2]), alpha=0.5), RuntimeError,
        "For integral input tensors, argument alpha must not be a floating point number.", True),
    "device-cuda": (
        lambda L: L.ones(2, device="cuda"), RuntimeError,
        "device 'cuda' is not available: tracejit runs on the CPU only for now (the GPU backend "
        "is a later milestone); use device='cpu' or leave device unset", None),
    "to-cuda": (
        lambda L: L.ones(2).to("cuda"), RuntimeError,
        "device 'cuda' is not available: tracejit runs on the CPU only for now (the GPU backend "
        "is a later milestone); use device='cpu' or leave device unset", None),
    "numpy-uint16": (
        lambda L: L.from_numpy(np.zeros(2, np.uint16)), TypeError,
        "numpy dtype uint16 is not supported; tracejit tensors hold float16, float32, float64, "
        "uint8, int8, int16, int32, int64, bool", False),
    "bfloat16": (
        lambda L: L.ones(2).to(L.bfloat16), TypeError,
        "tracejit.bfloat16 is not supported: numpy, which holds tracejit's data, has no "
        "bfloat16. tracejit holds float16, float32, float64, uint8, int8, int16, int32, int64 "
        "and bool; use float16 or float32 instead", False),
    "cat-shapes": (
        lambda L: L.cat([L.ones(2, 3), L.ones(2, 4)]), RuntimeError,
        "Sizes of tensors must match except in dimension 0. Expected size 3 but got size 4 for "
        "tensor number 1 in the list (shapes [2, 3] and [2, 4]).", True),
    "cat-ndim": (
        lambda L: L.cat([L.ones(2, 3), L.ones(3)]), RuntimeError,
        "Tensors must have same number of dimensions: got 2 and 1 (shapes [2, 3] and [3])", True),
    "cat-empty-list": (
        lambda L: L.cat([]), ValueError, "torch.cat(): expected a non-empty list of Tensors", True),
    "view-of-transpose": (
        lambda L: L.ones(2, 3).t().view(6), RuntimeError,
        "view size is not compatible with input tensor's size and stride (input shape [3, 2], "
        "view shape [6]: at least one dimension spans across two contiguous subspaces). Use "
        ".reshape(...) instead.", True),
    "expand": (
        lambda L: L.ones(2, 3).expand(4, 4), RuntimeError,
        "The expanded size of the tensor (4) must match the existing size (2) at non-singleton "
        "dimension 0.  Target sizes: [4, 4].  Tensor sizes: [2, 3]", True),
    "narrow": (
        lambda L: L.ones(3).narrow(0, 2, 5), RuntimeError,
        "start (2) + length (5) exceeds dimension size (3).", True),
    "max-of-empty": (
        lambda L: L.ones(0, 3).max(), RuntimeError,
        "max(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
        "reduction dim with the 'dim' argument.", True),
    "norm-inf-of-empty": (
        lambda L: L.ones(0, 3).norm(float("inf")), RuntimeError,
        "norm(): cannot compute the inf norm over an empty dimension (input shape [0, 3]): "
        "max/min of no elements has no identity", True),
    "maximum-scalar": (
        lambda L: L.maximum(L.ones(2), 1.0), TypeError, "other must be a Tensor, got float",
        True),
}


@pytest.mark.parametrize("name", ERRORS)
def test_error_message_verbatim(name: str):
    code, exc_class, message, torch_raises = ERRORS[name]
    with pytest.raises(exc_class, match=f"^{re.escape(message)}$"):
        code(tj)
    if torch_raises:
        with pytest.raises(exc_class):
            code(torch)
    elif torch_raises is False:  # deliberately narrower than torch: listed in the report
        code(torch)
