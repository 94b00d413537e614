"""tracejit's IR: dtypes and tensor types, and the op table that drives every stage."""

from .ops import OPS, Attr, Kind, Op, OpDef, Promotion, complete_attrs, infer_types
from .types import DType, Size, TensorType, promote_types

__all__ = [
    "OPS",
    "Attr",
    "DType",
    "Kind",
    "Op",
    "OpDef",
    "Promotion",
    "Size",
    "TensorType",
    "complete_attrs",
    "infer_types",
    "promote_types",
]
