"""Matmul-like steps of a plan: numpy's BLAS writing into the buffers the plan provides.

`matmul` (batched and broadcast alike) and `linear` (x @ wᵀ, then the bias added in place) are
one `np.matmul(..., out=)` call each. `conv2d` is im2col as the reference computes it
(ir/window.py): the zero-padded input and the patch columns gathered into scratch buffers, one
matmul per group, so the numbers are the reference's; with a batch of one the product is
already in output order, otherwise one pass reorders it and adds the bias. Every dtype the ops
take runs here (integers through numpy's own loops); what has no static shape, or an empty
result, stays on the reference code.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tracejit.ir.graph import Operation
from tracejit.ir.ops import Op
from tracejit.ir.types import TensorType

from .buffers import Step

NAMES = {"_matmul": np.matmul, "_add": np.add}  # what the generated lines call


class BlasStep(Step):
    writes = True
    numpy = True


class MatmulStep(BlasStep):
    """a @ b, numpy's matmul semantics (1-d operands, broadcast batch dims)."""

    def emit(self, code) -> None:
        a, b = (code.name(k) for k in self.ins)
        code.line(f"_matmul({a}, {b}, out={code.name(self.outs[0])})")


class LinearStep(BlasStep):
    """x @ wᵀ (+ b): the reference's two operations, the second in place."""

    def emit(self, code) -> None:
        x, w, *b = (code.name(k) for k in self.ins)
        out = code.name(self.outs[0])
        code.line(f"_matmul({x}, {w}.T, out={out})")
        if b:
            code.line(f"_add({out}, {b[0]}, out={out})")


class Conv2dStep(BlasStep):
    """conv2d through im2col into scratch buffers (see the module docstring)."""

    def __init__(self, operation: Operation, ins, outs):
        super().__init__(operation, ins, outs)
        x, w = (v.type for v in operation.operands[:2])
        attrs = operation.attrs
        self.batched = len(x.shape) == 4
        n, c, h, wd = x.shape if self.batched else (1, *x.shape)
        o, _, kh, kw = w.shape
        self.groups = g = attrs["groups"]
        (ph, pw), (dh, dw) = attrs["padding"], attrs["dilation"]
        self.span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
        self.steps = (slice(None), slice(None), *(slice(None, None, s) for s in attrs["stride"]),
                      slice(None, None, dh), slice(None, None, dw))
        oh, ow = operation.results[0].type.shape[-2:]
        self.dims = (n, c, h, wd, o, kh, kw, oh, ow)
        self.padding = (ph, pw)
        dtype = x.dtype.np
        if ph or pw:
            self.scratch.append((dtype, (n, c, h + 2 * ph, wd + 2 * pw)))
        self.scratch.append((dtype, (g, c // g * kh * kw, n * oh * ow)))
        if n > 1:
            self.scratch.append((dtype, (g, o // g, n * oh * ow)))

    def emit(self, code) -> None:
        step = code.bind(self, "s")
        operands = [code.name(k) for k in self.ins] + ["None"] * (3 - len(self.ins))
        code.line(f"{step}({', '.join(operands)}, {code.name(self.outs[0])}, "
                  f"{', '.join(self.temps)})")

    def __call__(self, x, w, b, out, *temps) -> None:
        n, c, h, wd, o, kh, kw, oh, ow = self.dims
        g, (ph, pw) = self.groups, self.padding
        x = x if self.batched else x[None]
        out = out if self.batched else out[None]
        if ph or pw:
            padded, *temps = temps
            _zero_border(padded, ph, pw)
            padded[:, :, ph:ph + h, pw:pw + wd] = x
            x = padded
        cols, *product = temps
        win = sliding_window_view(x, self.span, axis=(2, 3))[self.steps]
        win = win.reshape(n, g, c // g, oh, ow, kh, kw).transpose(1, 2, 5, 6, 0, 3, 4)
        np.copyto(cols.reshape(g, c // g, kh, kw, n, oh, ow), win)
        weights = w.reshape(g, o // g, -1)
        if not product:  # a batch of one: (G, O/G, OH*OW) is the output's own order
            np.matmul(weights, cols, out=out.reshape(g, o // g, oh * ow))
            if b is not None:
                np.add(out, b.reshape(-1, 1, 1), out=out)
            return
        np.matmul(weights, cols, out=product[0])
        ordered = product[0].reshape(o, n, oh, ow).transpose(1, 0, 2, 3)
        if b is None:
            np.copyto(out, ordered)
        else:
            np.add(ordered, b.reshape(-1, 1, 1), out=out)


def _zero_border(padded: np.ndarray, ph: int, pw: int) -> None:
    """Zero what lies outside the input in a padded scratch buffer (it held other values)."""
    h, w = padded.shape[2:]
    padded[:, :, :ph] = 0
    padded[:, :, h - ph:] = 0
    padded[:, :, :, :pw] = 0
    padded[:, :, :, w - pw:] = 0


STEPS = {Op.MATMUL: MatmulStep, Op.LINEAR: LinearStep, Op.CONV2D: Conv2dStep}


def step(operation: Operation, ins: list[int], outs: list[int]) -> Step | None:
    """The BLAS step for a matmul-like op with static shapes and a non-empty result."""
    kind = STEPS.get(operation.op)
    types = [v.type for v in [*operation.operands, *operation.results]]
    if kind is None or not all(isinstance(t, TensorType) and None not in t.shape
                               for t in types):
        return None
    if 0 in operation.results[0].type.shape:
        return None
    return kind(operation, ins, outs)
