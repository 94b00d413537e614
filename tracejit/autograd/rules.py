"""The gradient (VJP) rule of every differentiable op, one table keyed by `Op`.

A rule maps the gradient `g` of an op's result to the gradients of its operands, reading what
the op saved through `c` (`c.x(i)`: operand i, `c.out`: the result, `c.attrs`, `c.types`,
`c.needs`). Rules are written with dispatched ops, so a backward is itself traced, scripted,
compiled or differentiated again (`create_graph=True`). The tape sums each operand's gradient
over the dims broadcasting added and casts it to the operand's dtype, so rules return
gradients in the broadcast shape. `uses` says what a rule reads for the gradient of each
operand, so an op saves only what the gradients actually asked for need (an in-place write
into a tensor nothing saved is then no error, as in torch).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tracejit.dispatch import assign, dispatch
from tracejit.ir import OPS, DType, Op

if TYPE_CHECKING:
    from tracejit.tensor import Tensor

ALL = object()


class Rule:
    """One op's gradient rule: `fn(c, g)` -> a gradient (or None) per operand."""

    __slots__ = ("_saves", "fn", "name", "op", "uses")

    def __init__(self, op: Op, fn: Callable, name: str, uses: Any):
        self.op, self.fn, self.name, self.uses = op, fn, name, uses
        self._saves: dict[tuple[bool, ...], list] = {}

    def saves(self, needs: tuple[bool, ...]) -> list:
        """What to keep for the gradients `needs` asks for (worked out once per pattern)."""
        keys = self._saves.get(needs)
        if keys is None:
            keys = self._saves[needs] = self._keys(needs)
        return keys

    def _keys(self, needs: tuple[bool, ...]) -> list:
        keys: list = []
        for i, need in enumerate(needs):
            if not need:
                continue
            uses = self.uses
            if isinstance(uses, dict):
                uses = uses.get(i, ())
            if uses is ALL:
                uses = tuple(range(len(needs)))
            keys += [k for k in uses if k not in keys]
        return keys


RULES: dict[Op, Rule] = {}

# Ops torch does not differentiate either (its backward raises "the derivative for ... is not
# implemented"): recorded, and their backward raises the same.
NO_RULE = frozenset({Op.UNIQUE, Op.LU_FACTOR})


def rule(*ops: Op, name: str | None = None, uses: Any = ALL) -> Callable:
    def register(fn: Callable) -> Callable:
        for op in ops:
            if not OPS[op].differentiable:
                raise AssertionError(f"{op.value} is not differentiable in the op table")
            RULES[op] = Rule(op, fn, name or f"{op.value.title().replace('_', '')}Backward0",
                             uses)  # name: a string, or a function of the node
        return fn

    return register


# --- helpers (dispatched ops only) ---------------------------------------------------------

def zeros(t) -> Tensor:
    """Zeros of a TensorType."""
    return dispatch(Op.FULL, shape=tuple(t.shape), value=0, dtype=t.dtype)


def zeros_like(g: Tensor) -> Tensor:
    return dispatch(Op.FULL, shape=tuple(g.shape), value=0, dtype=g.dtype)


def unreduce(g: Tensor, c, dims_attr: str = "dims") -> Tensor:
    """A reduction's gradient put back to the input's rank (keepdim's shape)."""
    shape = tuple(c.types[0].shape)
    if not c.attrs.get("keepdim", False):
        dims = c.attrs[dims_attr]
        dims = (dims,) if isinstance(dims, int) else tuple(dims)
        kept = tuple(1 if d in dims else n for d, n in enumerate(shape))
        g = dispatch(Op.RESHAPE, g, shape=kept)
    return g


def expand_to(g: Tensor, shape) -> Tensor:
    return dispatch(Op.EXPAND, g, shape=tuple(shape))


def where(cond, a, b) -> Tensor:
    return dispatch(Op.WHERE, cond, a, b)


def mT(t: Tensor) -> Tensor:
    return t.transpose(-1, -2)


# --- elementwise ----------------------------------------------------------------------------

@rule(Op.CAST, name="ToCopyBackward0", uses=())
def _cast(c, g):
    return (g,)


@rule(Op.COPY, name="CloneBackward0", uses=())
def _copy(c, g):
    return (g,)


@rule(Op.NEG, uses=())
def _neg(c, g):
    return (-g,)


@rule(Op.ABS)
def _abs(c, g):
    return (g * c.x(0).sign(),)


@rule(Op.EXP, uses=("out",))
def _exp(c, g):
    return (g * c.out,)


@rule(Op.LOG)
def _log(c, g):
    return (g / c.x(0),)


@rule(Op.LOG1P)
def _log1p(c, g):
    return (g / (c.x(0) + 1),)


@rule(Op.EXPM1, uses=("out",))
def _expm1(c, g):
    return (g * (c.out + 1),)


@rule(Op.SQRT, uses=("out",))
def _sqrt(c, g):
    return (g / (2 * c.out),)


@rule(Op.RSQRT, uses=("out",))
def _rsqrt(c, g):
    out = c.out
    return (-0.5 * g * out * out * out,)


@rule(Op.SIN)
def _sin(c, g):
    return (g * c.x(0).cos(),)


@rule(Op.COS)
def _cos(c, g):
    return (-g * c.x(0).sin(),)


@rule(Op.TANH, uses=("out",))
def _tanh(c, g):
    out = c.out
    return (g * (1 - out * out),)


@rule(Op.SIGMOID, uses=("out",))
def _sigmoid(c, g):
    out = c.out
    return (g * (1 - out) * out,)


_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


@rule(Op.ERF)
def _erf(c, g):
    x = c.x(0)
    return (g * _TWO_OVER_SQRT_PI * (-(x * x)).exp(),)


@rule(Op.ERFC)
def _erfc(c, g):
    x = c.x(0)
    return (g * -_TWO_OVER_SQRT_PI * (-(x * x)).exp(),)


@rule(Op.RECIPROCAL, uses=("out",))
def _reciprocal(c, g):
    out = c.out
    return (-g * out * out,)


@rule(Op.SILU)
def _silu(c, g):
    x = c.x(0)
    s = dispatch(Op.SIGMOID, x)
    return (g * s * (1 + x * (1 - s)),)


_SQRT_HALF, _INV_SQRT_2PI = math.sqrt(0.5), 1 / math.sqrt(2 * math.pi)
_K_BETA, _K_KAPPA = math.sqrt(2) * (2 / math.sqrt(math.pi)) * 0.5, 0.044715


@rule(Op.GELU)
def _gelu(c, g):
    x = c.x(0)
    if c.attrs["approximate"] == "tanh":  # torch's GeluBackward formulas
        inner = _K_BETA * (x + _K_KAPPA * x * x * x)
        t = dispatch(Op.TANH, inner)
        left_derivative = 0.5 * (1 + t)
        right_derivative = 0.5 * x * (1 - t * t) * _K_BETA * (1 + 3 * _K_KAPPA * x * x)
        return (g * (left_derivative + right_derivative),)
    cdf = 0.5 * (1 + dispatch(Op.ERF, x * _SQRT_HALF))
    pdf = (-0.5 * x * x).exp() * _INV_SQRT_2PI
    return (g * (cdf + x * pdf),)


@rule(Op.FLOOR, Op.CEIL, Op.TRUNC, Op.ROUND, Op.SIGN, uses=())
def _step(c, g):  # piecewise constant: zero gradient, as torch's
    return (zeros_like(g),)


@rule(Op.RELU, name="ReluBackward0", uses=("out",))
def _relu(c, g):  # torch's threshold_backward: zero where the result <= 0 (NaN passes)
    return (where(c.out <= 0, 0.0, g),)


@rule(Op.ASIN)
def _asin(c, g):
    x = c.x(0)
    return (g / (1 - x * x).sqrt(),)


@rule(Op.ACOS)
def _acos(c, g):
    x = c.x(0)
    return (-g / (1 - x * x).sqrt(),)


@rule(Op.ATAN)
def _atan(c, g):
    x = c.x(0)
    return (g / (1 + x * x),)


@rule(Op.ASINH)
def _asinh(c, g):
    x = c.x(0)
    return (g / (x * x + 1).sqrt(),)


@rule(Op.ACOSH)
def _acosh(c, g):
    x = c.x(0)
    return (g / ((x - 1).sqrt() * (x + 1).sqrt()),)


@rule(Op.ATANH)
def _atanh(c, g):
    x = c.x(0)
    return (g / (1 - x * x),)


@rule(Op.LGAMMA)
def _lgamma(c, g):
    from tracejit.functions_special import digamma

    return (g * digamma(c.x(0)),)


@rule(Op.ADD, uses=())
def _add(c, g):
    return (g, g)


@rule(Op.SUB, uses=())
def _sub(c, g):
    return (g, -g)


@rule(Op.MUL, uses={0: (1,), 1: (0,)})
def _mul(c, g):
    return (g * c.x(1) if c.needs[0] else None, g * c.x(0) if c.needs[1] else None)


@rule(Op.DIV, uses={0: (1,), 1: (0, 1)})
def _div(c, g):
    b = c.x(1)
    ga = g / b if c.needs[0] else None
    gb = -g * c.x(0) / (b * b) if c.needs[1] else None
    return (ga, gb)


@rule(Op.POW, uses={0: (0, 1), 1: (0, 1, "out")})
def _pow(c, g):
    a, b = c.x(0), c.x(1)
    ga = gb = None
    if c.needs[0]:  # torch: zero where the exponent is 0 (0 ** -1 would be inf * 0)
        ga = where(b == 0, 0.0, g * b * a.pow(b - 1))
    if c.needs[1]:  # torch: zero where base 0 and exponent >= 0 (log(0) = -inf)
        gb = where((a == 0) & (b >= 0), 0.0, g * c.out * a.log())
    return (ga, gb)


def _tie_split(c, g, loses_a, loses_b):
    """torch's maximum/minimum backward: a tie splits the gradient evenly, the losing side gets
    none, and a NaN comparison (neither equal nor losing) passes it to both sides."""
    a, b = c.x(0), c.x(1)
    shared = where(a == b, g * 0.5, g)
    ga = where(loses_a(a, b), 0.0, shared) if c.needs[0] else None
    gb = where(loses_b(a, b), 0.0, shared) if c.needs[1] else None
    return (ga, gb)


@rule(Op.MAXIMUM)
def _maximum(c, g):
    return _tie_split(c, g, lambda a, b: a < b, lambda a, b: a > b)


@rule(Op.MINIMUM)
def _minimum(c, g):
    return _tie_split(c, g, lambda a, b: a > b, lambda a, b: a < b)


@rule(Op.WHERE, uses={1: (0,), 2: (0,)})
def _where(c, g):
    cond = c.x(0)
    return (None, where(cond, g, 0.0) if c.needs[1] else None,
            where(cond, 0.0, g) if c.needs[2] else None)


@rule(Op.ATAN2)
def _atan2(c, g):
    a, b = c.x(0), c.x(1)
    r = a * a + b * b
    return (g * b / r, -g * a / r)


@rule(Op.FMOD, Op.REMAINDER, uses={0: (), 1: (0, 1)})
def _fmod(c, g):
    if not c.needs[1]:
        return (g, None)
    quotient = c.x(0) / c.x(1)
    quotient = quotient.trunc() if c.node.op is Op.FMOD else quotient.floor()
    return (g, -g * quotient)


@rule(Op.NEXTAFTER, uses=())
def _nextafter(c, g):  # torch's: the step is a constant of x (other gets zeros)
    return (g, zeros_like(g))


@rule(Op.FLOOR_DIV, Op.TRUNC_DIV, uses=())
def _int_div(c, g):
    return (zeros_like(g), zeros_like(g))


# --- reductions and scans -------------------------------------------------------------------

def _overload(stem: str) -> Callable:
    """torch's node names for a reduction: `<Stem>Backward0` over every dim, `...1` over some
    (sum() vs sum(dim))."""
    def name(node) -> str:
        every = len(node.attrs["dims"]) == len(node.types[0].shape) and not node.attrs["keepdim"]
        return f"{stem}Backward{0 if every else 1}"

    return name


@rule(Op.SUM, name=_overload("Sum"), uses=())
def _sum(c, g):
    return (expand_to(unreduce(g, c), c.types[0].shape),)


@rule(Op.MEAN, name=_overload("Mean"), uses=())
def _mean(c, g):
    shape = c.types[0].shape
    count = math.prod(shape[d] for d in c.attrs["dims"]) if c.attrs["dims"] else 1
    return (expand_to(unreduce(g, c), shape) / count,)


@rule(Op.AMAX, Op.AMIN, name=None, uses=(0, "out"))
def _amax(c, g):  # torch: ties share the gradient evenly
    x, out = c.x(0), c.out
    kept = unreduce(out, c)
    mask = dispatch(Op.CAST, x == kept, dtype=g.dtype)
    count = dispatch(Op.SUM, mask, dims=c.attrs["dims"], keepdim=True)
    return (unreduce(g, c) * mask / count,)


@rule(Op.PROD)
def _prod(c, g):
    """The product of the other elements of each reduced group, exact with zeros: exclusive
    cumulative products from both ends along the flattened reduced dims."""
    x = c.x(0)
    dims = tuple(c.attrs["dims"])
    shape = tuple(x.shape)
    if not dims or x.numel() == 0:
        return (expand_to(unreduce(g, c), shape) if dims else g,)
    rest = tuple(d for d in range(x.ndim) if d not in dims)
    order = rest + dims
    moved = x.permute(order)
    flat = moved.reshape((*(shape[d] for d in rest), -1))
    ones = dispatch(Op.FULL, shape=(*flat.shape[:-1], 1), value=1, dtype=x.dtype)
    left = dispatch(Op.CAT, ones, flat[..., :-1], dim=-1 % flat.ndim).cumprod(-1)
    rflat = flat.flip(-1)
    right = dispatch(Op.CAT, ones, rflat[..., :-1], dim=-1 % flat.ndim).cumprod(-1).flip(-1)
    others = (left * right).reshape(tuple(moved.shape))
    inverse = [0] * len(order)
    for k, d in enumerate(order):
        inverse[d] = k
    others = others.permute(tuple(inverse))
    return (expand_to(unreduce(g, c), shape) * others,)


@rule(Op.CUMSUM, uses=())
def _cumsum(c, g):
    d = c.attrs["dim"]
    if not c.types[0].shape:
        return (g,)
    return (g.flip((d,)).cumsum(d).flip((d,)),)


@rule(Op.CUMPROD, uses=(0, "out"))
def _cumprod(c, g):
    """dL/dx_i = sum over k >= i of g_k * prod_{j <= k, j != i} x_j, exact with zeros (as
    torch's): before a slice's first zero, reversed cumsum(g * out) / x; at the first zero,
    reversed cumsum(g * cumprod(x with that zero as 1)); after it, zero."""
    d = c.attrs["dim"]
    x, out = c.x(0), c.out
    if not c.types[0].shape:
        return (g,)

    def rev(t):
        return t.flip((d,)).cumsum(d).flip((d,))

    zero = x == 0
    seen = dispatch(Op.CAST, zero, dtype=DType.int64).cumsum(d)
    first = zero & (seen == 1)
    after = (seen >= 1) & ~first
    plain = rev(g * out) / where(zero, 1.0, x)
    at_zero = rev(g * where(first, 1.0, x).cumprod(d))
    return (where(first, at_zero, where(after, 0.0, plain)),)


# --- matmul, convolution, normalization -----------------------------------------------------

@rule(Op.MATMUL, name="MmBackward0", uses={0: (1,), 1: (0,)})
def _matmul(c, g):
    a_type, b_type = c.types
    a = c.x(0) if c.needs[1] else None
    b = c.x(1) if c.needs[0] else None
    if len(a_type.shape) == 1 and len(b_type.shape) == 1:  # a dot product
        return (g * b if b is not None else None, g * a if a is not None else None)
    if len(a_type.shape) == 1:
        g = g.unsqueeze(-2)
        a = a.unsqueeze(0) if a is not None else None
    if len(b_type.shape) == 1:
        g = g.unsqueeze(-1)
        b = b.unsqueeze(-1) if b is not None else None
    ga = dispatch(Op.MATMUL, g, mT(b)) if b is not None else None
    gb = dispatch(Op.MATMUL, mT(a), g) if a is not None else None
    if ga is not None and len(a_type.shape) == 1:
        ga = ga.squeeze(-2)
    if gb is not None and len(b_type.shape) == 1:
        gb = gb.squeeze(-1)
    return (ga, gb)


@rule(Op.LINEAR, name="AddmmBackward0", uses={0: (1,), 1: (0,), 2: ()})
def _linear(c, g):
    gx = dispatch(Op.MATMUL, g, c.x(1)) if c.needs[0] else None
    gw = gb = None
    if c.needs[1]:
        x = c.x(0)
        if x.ndim == 1:
            gw = g.unsqueeze(-1) * x
        else:
            g2 = g.reshape((-1, g.shape[-1]))
            gw = dispatch(Op.MATMUL, mT(g2), x.reshape((-1, x.shape[-1])))
    if len(c.needs) > 2 and c.needs[2]:
        gb = g.sum(tuple(range(g.ndim - 1))) if g.ndim > 1 else g
    return (gx, gw, gb)


@rule(Op.CONV2D, name="ConvolutionBackward0", uses={0: (1,), 1: (0,), 2: ()})
def _conv2d(c, g):
    from tracejit.nn.functional_conv import conv_transpose2d

    stride, padding = c.attrs["stride"], c.attrs["padding"]
    dilation, groups = c.attrs["dilation"], c.attrs["groups"]
    x_type, w_type = c.types[0], c.types[1]
    batched = len(x_type.shape) == 4
    gb4 = g if batched else g.unsqueeze(0)
    gx = gw = gb = None
    if c.needs[0]:
        w = c.x(1)
        h, wd = x_type.shape[-2:]
        kh, kw = w_type.shape[-2:]
        extra = tuple(n + 2 * p - (d * (k - 1) + 1) - (o - 1) * s
                      for n, p, d, k, o, s in zip((h, wd), padding, dilation, (kh, kw),
                                                  gb4.shape[-2:], stride))
        gx = conv_transpose2d(gb4, w, None, stride, padding, extra, groups, dilation)
        gx = gx if batched else gx.squeeze(0)
    if c.needs[1]:
        gw = _conv2d_weight_grad(c.x(0) if batched else c.x(0).unsqueeze(0), gb4, w_type,
                                 stride, padding, dilation, groups)
    if len(c.needs) > 2 and c.needs[2]:
        gb = gb4.sum((0, 2, 3))
    return (gx, gw, gb)


def _conv2d_weight_grad(x, g, w_type, stride, padding, dilation, groups):
    """dL/dw[o, c, i, j] = sum over n, y, x of g[n, o, y, x] * x_padded[n, c, y*s + i*d, ...]:
    a convolution of the input (batch as channels) with the gradient as its kernel, with the
    roles of stride and dilation swapped."""
    from tracejit.nn.functional import pad

    kh, kw = w_type.shape[-2:]
    if any(padding):
        x = pad(x, (padding[1], padding[1], padding[0], padding[0]))
    cin = x.shape[1] // groups
    cout = g.shape[1] // groups
    parts = []
    for k in range(groups):
        xg = x[:, k * cin:(k + 1) * cin].transpose(0, 1)  # (cin, N, H, W)
        gg = g[:, k * cout:(k + 1) * cout].transpose(0, 1)  # (cout, N, OH, OW)
        full = dispatch(Op.CONV2D, xg, gg, stride=tuple(dilation), padding=(0, 0),
                        dilation=tuple(stride), groups=1)  # (cin, cout, KH', KW')
        parts.append(full[:, :, :kh, :kw].transpose(0, 1))
    return parts[0] if groups == 1 else dispatch(Op.CAT, *parts, dim=0)


@rule(Op.SOFTMAX, uses=("out",))
def _softmax(c, g):
    out = c.out
    d = c.attrs["dim"]
    if not c.types[0].shape:
        return (zeros_like(g),)
    return (out * (g - (g * out).sum(d, keepdim=True)),)


@rule(Op.LOG_SOFTMAX, uses=("out",))
def _log_softmax(c, g):
    d = c.attrs["dim"]
    if not c.types[0].shape:
        return (zeros_like(g),)
    return (g - c.out.exp() * g.sum(d, keepdim=True),)


@rule(Op.LAYER_NORM, name="NativeLayerNormBackward0")
def _layer_norm(c, g):
    k, eps = c.attrs["normalized_ndim"], c.attrs["eps"]
    x = c.x(0)
    n = len(c.types)
    w = c.x(1) if n > 1 else None
    dims = tuple(range(x.ndim - k, x.ndim))
    mu = x.mean(dims, keepdim=True)
    d = x - mu
    rstd = ((d * d).mean(dims, keepdim=True) + eps).rsqrt()
    xhat = d * rstd
    batch = tuple(range(x.ndim - k))
    gx = gw = gb = None
    if c.needs[0]:
        gxhat = g * w if w is not None else g
        gx = rstd * (gxhat - gxhat.mean(dims, keepdim=True)
                     - xhat * (gxhat * xhat).mean(dims, keepdim=True))
    if n > 1 and c.needs[1]:
        gw = (g * xhat).sum(batch) if batch else g * xhat
    if n > 2 and c.needs[2]:
        gb = g.sum(batch) if batch else g
    return (gx, gw, gb)


_POOL_KEYS = ("kernel_size", "stride", "padding")


@rule(Op.MAX_POOL2D, name="MaxPool2DWithIndicesBackward0")
def _max_pool2d(c, g):
    attrs = {k: c.attrs[k] for k in (*_POOL_KEYS, "dilation", "ceil_mode")}
    return (dispatch(Op.MAX_POOL2D_GRAD, g, c.x(0), **attrs),)


_AVG_KEYS = (*_POOL_KEYS, "ceil_mode", "count_include_pad", "divisor_override")


@rule(Op.AVG_POOL2D, name="AvgPool2DBackward0")
def _avg_pool2d(c, g):
    attrs = {k: c.attrs[k] for k in _AVG_KEYS}
    return (dispatch(Op.AVG_POOL2D_GRAD, g, c.x(0), **attrs),)


@rule(Op.MAX_POOL2D_GRAD, name="MaxPool2DWithIndicesBackwardBackward0", uses=(1,))
def _max_pool2d_grad(c, g):
    """Linear in the pooled gradient: its adjoint reads each window's maximum position."""
    from tracejit.nn.functional_pool import _max_indices

    x = c.x(1).detach()
    k, s, p, d = (c.attrs[n] for n in ("kernel_size", "stride", "padding", "dilation"))
    values = dispatch(Op.MAX_POOL2D, x, kernel_size=k, stride=s, padding=p, dilation=d,
                      ceil_mode=c.attrs["ceil_mode"])
    where_max = _max_indices(x, values, 2, k, s, p, d)
    picked = g.flatten(-2).gather(-1, where_max.flatten(-2))
    return (picked.reshape(tuple(values.shape)), None)


@rule(Op.AVG_POOL2D_GRAD, uses=())
def _avg_pool2d_grad(c, g):  # linear in the gradient: its adjoint is the pool itself
    attrs = {k: c.attrs[k] for k in _AVG_KEYS}
    return (dispatch(Op.AVG_POOL2D, g, **attrs), None)


# --- movement -------------------------------------------------------------------------------

@rule(Op.RESHAPE, name="ViewBackward0", uses=())
def _reshape(c, g):
    return (dispatch(Op.RESHAPE, g, shape=tuple(c.types[0].shape)),)


@rule(Op.PERMUTE, uses=())
def _permute(c, g):
    dims = c.attrs["dims"]
    inverse = [0] * len(dims)
    for k, d in enumerate(dims):
        inverse[d] = k
    return (dispatch(Op.PERMUTE, g, dims=tuple(inverse)),)


@rule(Op.EXPAND, uses=())
def _expand(c, g):  # the tape sums the expanded dims
    return (g,)


@rule(Op.SLICE, uses=())
def _slice(c, g):  # zeros of the operand's type with g written where the slice read
    z = zeros(c.types[0])
    assign(dispatch(Op.SLICE, z, **c.attrs), g)
    return (z,)


@rule(Op.CAT, uses=())
def _cat(c, g):
    d = c.attrs["dim"]
    out, start = [], 0
    for t, need in zip(c.types, c.needs):
        n = t.shape[d] if len(t.shape) > d else 0
        if need:
            out.append(g.narrow(d, start, n) if len(t.shape) == g.ndim else None)
        else:
            out.append(None)
        start += n
    return tuple(out)


@rule(Op.PAD, name="ConstantPadNdBackward0", uses=())
def _pad(c, g):
    pads, mode = c.attrs["pads"], c.attrs["mode"]
    if mode == "constant":
        return (dispatch(Op.PAD, g, pads=tuple(-p for p in pads), mode="constant", value=0.0),)
    return (_pad_gather_grad(c, g),)


def _pad_gather_grad(c, g):
    """reflect/replicate/circular padding reads input elements more than once: each padded dim
    is a gather along it, whose gradient adds back with scatter."""
    import numpy as np

    from tracejit.ir.numpy_impl import pad as np_pad
    from tracejit.tensor import Tensor

    shape = tuple(c.types[0].shape)
    pads, mode = c.attrs["pads"], c.attrs["mode"]
    for k in range(len(pads) // 2):
        d = len(shape) - 1 - k
        lo, hi = pads[2 * k], pads[2 * k + 1]
        if lo == 0 and hi == 0:
            continue
        one = [0] * (2 * (k + 1))
        one[2 * k], one[2 * k + 1] = lo, hi
        source = np_pad(np.arange(shape[d], dtype=np.int64).reshape(
            (shape[d],) + (1,) * k), pads=tuple(one), mode=mode, value=0.0)
        index = source.reshape(-1)  # which input row each output row along d came from
        idx_shape = [1] * g.ndim
        idx_shape[d] = index.shape[0]
        idx = Tensor._wrap(index.reshape(idx_shape)).expand(tuple(g.shape))
        target = list(g.shape)
        target[d] = shape[d]
        z = dispatch(Op.FULL, shape=tuple(target), value=0, dtype=g.dtype)
        g = dispatch(Op.SCATTER, z, idx, g, dim=d, reduce="sum", include_self=True)
    return g


@rule(Op.TRIL, Op.TRIU, uses=())
def _tri(c, g):
    return (dispatch(c.node.op, g, diagonal=c.attrs["diagonal"]),)


@rule(Op.FLIP, uses=())
def _flip(c, g):
    return (dispatch(Op.FLIP, g, dims=c.attrs["dims"]),)


# --- indexing -------------------------------------------------------------------------------

@rule(Op.INDEX, uses=ALL)
def _index(c, g):
    indices = [c.x(i) for i in range(1, len(c.types))]
    z = zeros(c.types[0])
    return (dispatch(Op.INDEX_PUT, z, g, *indices, spec=c.attrs["spec"], accumulate=True),
            *([None] * len(indices)))


@rule(Op.INDEX_PUT, uses=ALL)
def _index_put(c, g):
    indices = [c.x(i) for i in range(2, len(c.types))]
    spec = c.attrs["spec"]
    gx = gv = None
    if c.needs[0]:
        if c.attrs["accumulate"]:
            gx = g
        else:
            zero = zeros(c.types[1])
            gx = dispatch(Op.INDEX_PUT, g, zero, *indices, spec=spec)
    if c.needs[1]:
        gv = dispatch(Op.INDEX, g, *indices, spec=spec)
        v_shape = tuple(c.types[1].shape)
        if tuple(gv.shape) != v_shape and gv.ndim < len(v_shape):
            gv = gv.reshape((1,) * (len(v_shape) - gv.ndim) + tuple(gv.shape))
    return (gx, gv, *([None] * len(indices)))


@rule(Op.GATHER, uses=(1,))
def _gather(c, g):
    z = zeros(c.types[0])
    return (dispatch(Op.SCATTER, z, c.x(1), g, dim=c.attrs["dim"], reduce="sum",
                     include_self=True), None)


@rule(Op.SCATTER, uses=(1,))
def _scatter(c, g):
    reduce = c.attrs["reduce"]
    if reduce not in ("none", "sum"):
        raise RuntimeError(
            f"the derivative of scatter_reduce with reduce='{reduce}' is not implemented in "
            "tracejit (only scatter, scatter_add and reduce='sum')")
    idx, dim = c.x(1), c.attrs["dim"]
    gx = gsrc = None
    if c.needs[0]:
        if reduce == "sum" and c.attrs["include_self"]:
            gx = g
        else:
            gx = dispatch(Op.SCATTER, g, idx, zeros(c.types[2]), dim=dim, reduce="none",
                          include_self=True)
    if c.needs[2]:
        gsrc = _fit_index(dispatch(Op.GATHER, g, idx, dim=dim), c.types[2])
    return (gx, None, gsrc)


def _fit_index(g, t):
    """A gathered gradient (index's shape) padded with zeros to src's larger shape."""
    shape = tuple(t.shape)
    if tuple(g.shape) == shape:
        return g
    pads = []
    for n, m in reversed(list(zip(g.shape, shape))):
        pads += [0, m - n]
    return dispatch(Op.PAD, g, pads=tuple(pads), mode="constant", value=0.0)


@rule(Op.MASKED_SCATTER, uses=(1,))
def _masked_scatter(c, g):
    mask = c.x(1)
    gx = where(mask, 0.0, g) if c.needs[0] else None
    gsrc = None
    if c.needs[2]:
        src_type = c.types[2]
        shape = tuple(dispatch(Op.WHERE, mask, g, g).shape)
        picked = g.expand(shape)[mask.expand(shape)]
        n = math.prod(src_type.shape)
        flat = dispatch(Op.PAD, picked, pads=(0, n - picked.shape[0]), mode="constant",
                        value=0.0)
        gsrc = flat.reshape(tuple(src_type.shape))
    return (gx, None, gsrc)


# --- linear algebra -------------------------------------------------------------------------

@rule(Op.INV, name="LinalgInvExBackward0", uses=("out",))
def _inv(c, g):
    out_t = mT(c.out)
    return (-dispatch(Op.MATMUL, dispatch(Op.MATMUL, out_t, g), out_t),)


@rule(Op.DET, name="LinalgDetBackward0", uses=(0, "out"))
def _det(c, g):
    x = c.x(0)
    inv_t = mT(dispatch(Op.INV, x, check=True))
    return ((g * c.out).unsqueeze(-1).unsqueeze(-1) * inv_t,)


@rule(Op.SLOGDET, name="LinalgSlogdetBackward0")
def _slogdet(c, g):
    if c.attrs["result"] == "sign":
        return (zeros(c.types[0]),)
    inv_t = mT(dispatch(Op.INV, c.x(0), check=True))
    return (g.unsqueeze(-1).unsqueeze(-1) * inv_t,)


@rule(Op.SOLVE, name="LinalgSolveExBackward0", uses=(0, "out"))
def _solve(c, g):
    a, x = c.x(0), c.out
    a_shape, b_shape = tuple(c.types[0].shape), tuple(c.types[1].shape)
    vector = len(b_shape) == 1 or (len(b_shape) == len(a_shape) - 1 and
                                   b_shape == a_shape[:-1])  # torch's rule for a vector B
    gb = dispatch(Op.SOLVE, mT(a), g, check=True)
    if vector:
        ga = -(gb.unsqueeze(-1) * x.unsqueeze(-2))
    else:
        ga = -dispatch(Op.MATMUL, gb, mT(x))
    return (ga, gb)


@rule(Op.CHOLESKY, name="LinalgCholeskyExBackward0", uses=("out",))
def _cholesky(c, g):
    """torch's cholesky_backward: gA = L^-H phi(L^H gL) L^-1, symmetrized (phi: the lower
    triangle with a halved diagonal)."""
    if c.attrs["result"] != "factor":
        return (zeros(c.types[0]),)
    L = c.out
    phi = dispatch(Op.MATMUL, mT(L), g).tril()
    eye = _eye_like(L)
    phi = phi - 0.5 * phi * eye
    inv_l = dispatch(Op.SOLVE, L, eye.expand(tuple(L.shape)), check=True)  # L^-1
    ga = dispatch(Op.MATMUL, dispatch(Op.MATMUL, mT(inv_l), phi), inv_l)
    return (0.5 * (ga + mT(ga)),)


def _eye_like(t: Tensor) -> Tensor:
    n = t.shape[-1]
    return dispatch(Op.EYE, n=n, m=n, dtype=t.dtype)


@rule(Op.MATRIX_EXP, name="LinalgMatrixExpBackward0")
def _matrix_exp(c, g):
    """The adjoint of exp's Frechet derivative: the upper-right block of
    exp([[A^T, G], [0, A^T]])."""
    a_t = mT(c.x(0))
    n = a_t.shape[-1]
    z = zeros_like(a_t)
    top = dispatch(Op.CAT, a_t, g, dim=a_t.ndim - 1)
    bottom = dispatch(Op.CAT, z, a_t, dim=a_t.ndim - 1)
    block = dispatch(Op.CAT, top, bottom, dim=a_t.ndim - 2)
    e = dispatch(Op.MATRIX_EXP, block)
    return (e[..., :n, n:],)


@rule(Op.EIGH, name="LinalgEighBackward0")
def _eigh(c, g):
    """Real symmetric eigendecomposition (torch's linalg_eig_backward for the Hermitian case):
    gA = V (diag(gL) + F o (V^T gV)) V^T with F_ij = 1 / (L_j - L_i) off the diagonal."""
    x = c.x(0)
    uplo = c.attrs["uplo"]
    values = dispatch(Op.EIGH, x, uplo=uplo, result="values")
    vectors = dispatch(Op.EIGH, x, uplo=uplo, result="vectors")
    if c.attrs["result"] == "values":
        inner = g.unsqueeze(-1) * _eye_like(x)
    else:
        diff = values.unsqueeze(-2) - values.unsqueeze(-1)  # [i, j] = L_j - L_i
        eye = _eye_like(x)
        f = where(eye > 0, 0.0, 1 / where(eye > 0, 1.0, diff))
        vtg = dispatch(Op.MATMUL, mT(vectors), g)
        inner = f * 0.5 * (vtg - mT(vtg))  # the antisymmetric part (torch's real case)
    ga = dispatch(Op.MATMUL, dispatch(Op.MATMUL, vectors, inner), mT(vectors))
    return (ga,)  # the full symmetric gradient, as torch's (though eigh reads one triangle)


@rule(Op.QR, name="LinalgQrBackward0")
def _qr(c, g):
    """m >= n, reduced mode: gA = (gQ + Q copyltu(M)) R^-T with M = R gR^T - gQ^T Q and
    copyltu(M) the symmetric matrix of M's lower triangle."""
    x = c.x(0)
    m, n = c.types[0].shape[-2:]
    if c.attrs["mode"] != "reduced" or m < n:
        raise RuntimeError("the derivative of qr is implemented for mode='reduced' with "
                           "m >= n only (as torch's)")
    q = dispatch(Op.QR, x, mode="reduced", result="q")
    r = dispatch(Op.QR, x, mode="reduced", result="r")
    gq = g if c.attrs["result"] == "q" else zeros_like(q)
    gr = g if c.attrs["result"] == "r" else zeros_like(r)
    # gA = (gQ + Q copyltu(M)) R^-H, with copyltu(M) = tril(M, -1) + tril(M, -1)^H + diag(M)
    mm = dispatch(Op.MATMUL, r, mT(gr)) - dispatch(Op.MATMUL, mT(gq), q)
    low = mm.tril(-1)
    copyltu = low + mT(low) + mm * _eye_like(mm)
    rhs = gq + dispatch(Op.MATMUL, q, copyltu)
    ga = mT(dispatch(Op.SOLVE, r, mT(rhs), check=True))  # rhs R^-T
    return (ga,)


@rule(Op.SVD, name="LinalgSvdBackward0")
def _svd(c, g):
    """Singular values only (torch's formula gA = U diag(gS) V^H); the vectors' gradient is
    gauge-dependent and not implemented."""
    x = c.x(0)
    if c.attrs["result"] != "s":
        raise RuntimeError("the derivative of svd's U and Vh is not implemented in tracejit; "
                           "differentiate the singular values (torch.linalg.svdvals) instead")
    u = dispatch(Op.SVD, x, full_matrices=False, result="u")
    vh = dispatch(Op.SVD, x, full_matrices=False, result="vh")
    return (dispatch(Op.MATMUL, u * g.unsqueeze(-2), vh),)
