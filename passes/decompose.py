"""decompose: rewrite row-wise composite ops into the primitives they are made of, so fusion
can put each one in a single group.

softmax, log_softmax and layer_norm become reductions plus elementwise ops, in exactly the
order the numpy reference computes them, so results do not change by a bit. A linear with a
bias becomes `matmul(x, wᵀ) + b`, so the bias add fuses with the activation and residual that
follow (one kernel pass after the BLAS call). Ops a backend does better whole (matmul, conv2d,
pooling, a linear without bias) are kept; elementwise composites (gelu, silu) fuse as they are.
"""

from __future__ import annotations

from tracejit.ir.graph import Graph
from tracejit.ir.ops import ELEMENTWISE, Op

from .pipeline import register
from .rewrite import Options, apply_rules, users


@register("decompose")
def decompose(graph: Graph, options: Options) -> bool:
    return apply_rules(graph, RULES)


def _reduces_nonempty(op, dims) -> bool:
    """Whether every reduced dim exists and is non-empty (amax of nothing is an error)."""
    shape = op.operands[0].type.shape
    return None not in shape and all(0 <= d < len(shape) and shape[d] for d in dims)


def softmax(op, rw):  # softmax(x) -> e / sum(e), e = exp(x - amax(x))
    (x,), dims = op.operands, (op.attrs["dim"],)
    if not _reduces_nonempty(op, dims):
        return None
    e = rw.insert(Op.EXP, [rw.insert(Op.SUB, [x, _amax(rw, x, dims)])])
    return rw.insert(Op.DIV, [e, rw.insert(Op.SUM, [e], {"dims": dims, "keepdim": True})])


def log_softmax(op, rw):  # log_softmax(x) -> s - log(sum(exp(s))), s = x - amax(x)
    (x,), dims = op.operands, (op.attrs["dim"],)
    if not _reduces_nonempty(op, dims):
        return None
    s = rw.insert(Op.SUB, [x, _amax(rw, x, dims)])
    total = rw.insert(Op.SUM, [rw.insert(Op.EXP, [s])], {"dims": dims, "keepdim": True})
    return rw.insert(Op.SUB, [s, rw.insert(Op.LOG, [total])])


def layer_norm(op, rw):  # (x - mean) * rsqrt(var + eps) * w + b, var = mean((x - mean)^2)
    x, *affine = op.operands
    ndim = len(x.type.shape)
    dims = tuple(range(ndim - op.attrs["normalized_ndim"], ndim))
    if not _reduces_nonempty(op, dims):
        return None
    d = rw.insert(Op.SUB, [x, rw.insert(Op.MEAN, [x], {"dims": dims, "keepdim": True})])
    var = rw.insert(Op.MEAN, [rw.insert(Op.MUL, [d, d])], {"dims": dims, "keepdim": True})
    eps = rw.insert(Op.FULL, [], {"shape": (), "value": op.attrs["eps"], "dtype": x.type.dtype})
    scale = rw.insert(Op.RECIPROCAL, [rw.insert(Op.SQRT, [rw.insert(Op.ADD, [var, eps])])])
    y = rw.insert(Op.MUL, [d, scale])
    if affine:
        y = rw.insert(Op.MUL, [y, affine[0]])
    if len(affine) > 1:
        y = rw.insert(Op.ADD, [y, affine[1]])
    return y


def _amax(rw, x, dims):
    return rw.insert(Op.AMAX, [x], {"dims": dims, "keepdim": True})


def linear_bias(op, rw):  # linear(x, w, b) -> matmul(x, permute(w)) + b, the reference's order
    if len(op.operands) != 3 or not _feeds_elementwise(op, rw):
        return None
    x, w, b = op.operands
    product = rw.insert(Op.MATMUL, [x, rw.insert(Op.PERMUTE, [w], {"dims": (1, 0)})])
    return rw.insert(Op.ADD, [product, b])


def _feeds_elementwise(op, rw) -> bool:
    """Whether the op's only user is an elementwise op of its shape, which the split-off bias
    add can fuse with (alone, the add would only be one more pass)."""
    uses = users(rw.driver.graph).get(id(op.result), [])
    return (len(uses) == 1 and uses[0].op in ELEMENTWISE
            and uses[0].results[0].type.shape == op.result.type.shape)


RULES = {Op.SOFTMAX: [softmax], Op.LOG_SOFTMAX: [log_softmax], Op.LAYER_NORM: [layer_norm],
         Op.LINEAR: [linear_bias]}
