"""The op table's own contract: complete, self-consistent schemas, and checked entry points."""

import re

import numpy as np
import pytest

from tracejit.ir import OPS, DType, Kind, Op, TensorType, complete_attrs, infer_types
from tracejit.ir.ops import ATTR_TYPES, ELEMENTWISE, Promotion


def test_every_op_has_a_definition():
    assert set(OPS) == set(Op)
    for op, opdef in OPS.items():
        assert opdef.op is op and opdef.name == op.value


@pytest.mark.parametrize("op", list(Op), ids=str)
def test_schema_is_consistent(op):
    opdef = OPS[op]
    lo, hi = opdef.arity
    assert lo >= 0 and (hi is None or hi >= lo)
    names = [a.name for a in opdef.attrs]
    assert len(names) == len(set(names)), "duplicate attribute"
    for a in opdef.attrs:
        assert a.type in ATTR_TYPES
        if a.default is not ...:
            assert ATTR_TYPES[a.type](a.default), f"default of {a.name} fails its own type"
    for name, allowed in (opdef.choices or {}).items():
        assert name in names and allowed
    assert opdef.dtypes and opdef.dtypes <= set(DType)
    assert callable(opdef.infer)
    # structure ops (fused, if, loops, yield, return, assert) run through their blocks or the
    # interpreter's own rules, not a numpy function
    assert callable(opdef.impl) or opdef.kind is Kind.STRUCTURE
    effect = op is Op.ASSERT  # no blocks, no results: a check with a side effect
    assert (opdef.blocks > 0 or opdef.terminator or effect) == (opdef.kind is Kind.STRUCTURE)
    if opdef.random:
        assert not opdef.pure, "random ops must be impure so no pass removes or merges them"
    if opdef.kind is Kind.CREATION:
        assert opdef.arity == (0, 0)


def test_elementwise_ops_are_unary_binary_or_ternary():
    assert {OPS[op].arity for op in ELEMENTWISE} <= {(1, 1), (2, 2), (3, 3)}


def test_promotion_positions_exist():
    for opdef in OPS.values():
        if opdef.promoted is not None:
            assert opdef.promotion is not Promotion.NONE
            assert max(opdef.promoted) < opdef.arity[0]


def test_complete_attrs_fills_defaults_and_rejects_bad_input():
    assert complete_attrs(Op.GELU, {}) == {"approximate": "none"}
    with pytest.raises(TypeError, match=re.escape("sum: missing attribute 'dims' (ints)")):
        complete_attrs(Op.SUM, {"keepdim": True})
    with pytest.raises(TypeError, match=re.escape("sum: attribute 'keepdim' must be bool, got 1")):
        complete_attrs(Op.SUM, {"dims": (0,), "keepdim": 1})
    with pytest.raises(TypeError, match=re.escape("add: unknown attribute(s) alpha")):
        complete_attrs(Op.ADD, {"alpha": 2})
    with pytest.raises(ValueError, match=re.escape("gelu: approximate='erf' is not one of")):
        complete_attrs(Op.GELU, {"approximate": "erf"})


def test_infer_types_checks_arity_and_dtypes():
    f32 = TensorType(DType.float32, (2, 3))
    with pytest.raises(TypeError, match=re.escape("add: expected 2 operands, got 1")):
        infer_types(Op.ADD, [f32], {})
    message = (
        "bitwise_and: float32 tensors are not supported (supported dtypes: uint8, int8, int16, "
        "int32, int64, bool)"
    )
    with pytest.raises(RuntimeError, match=re.escape(message)):
        infer_types(Op.BITWISE_AND, [f32, f32], {})
    got = infer_types(Op.ADD, [f32, TensorType(DType.float32, (1, 3))], {})
    assert got == (f32,)


@pytest.mark.parametrize("op", sorted(ELEMENTWISE - {Op.CAST, Op.WHERE}, key=str), ids=str)
def test_elementwise_rule_agrees_with_reference_on_broadcast_shapes(op):
    # The shape rule and the numpy implementation must describe the same op.
    opdef = OPS[op]
    dtype = DType.float64 if DType.float64 in opdef.dtypes else DType.int64
    n = opdef.arity[0]
    shapes = [(4, 1, 3), (2, 1), (1,)][:n]
    arrays = [np.abs(np.arange(np.prod(s), dtype=dtype.np).reshape(s)) + 1 for s in shapes]
    attrs = complete_attrs(op, {})
    (want,) = infer_types(op, [TensorType(dtype, s) for s in shapes], attrs)
    with np.errstate(all="ignore"):
        got = np.asarray(opdef.impl(*arrays, **attrs))
    assert got.shape == want.shape
