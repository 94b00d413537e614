"""Element types, their promotion lattice, and the tensor type every op rule speaks in.

`DType` is the one dtype object of the project: the front end exposes its members as
`tracejit.float32` etc., the IR prints them by name, the backends read `.np` and `.itemsize`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np


class Category(enum.IntEnum):
    """Promotion categories, ordered: a higher category wins over a lower one."""

    BOOL = 0
    INT = 1
    FLOAT = 2


class DType(enum.Enum):
    """A tensor element type. Members print as `tracejit.float32`, like `torch.float32`."""

    float16 = "float16"
    float32 = "float32"
    float64 = "float64"
    uint8 = "uint8"
    int8 = "int8"
    int16 = "int16"
    int32 = "int32"
    int64 = "int64"
    bool = "bool"

    @property
    def np(self) -> np.dtype:
        return _NUMPY[self]

    @property
    def category(self) -> Category:
        return _CATEGORY[self]

    @property
    def is_floating_point(self) -> bool:
        return _CATEGORY[self] is Category.FLOAT

    @property
    def is_signed(self) -> bool:
        return self not in (DType.bool, DType.uint8)

    @property
    def itemsize(self) -> int:
        return _NUMPY[self].itemsize

    def __repr__(self) -> str:
        return f"tracejit.{self.value}"

    __str__ = __repr__
    __hash__ = object.__hash__  # members are singletons; Enum's own __hash__ is slow Python

    @staticmethod
    def from_numpy(dtype) -> DType:
        """The DType of a numpy dtype; TypeError naming the supported ones otherwise."""
        try:
            return _FROM_NUMPY[np.dtype(dtype)]
        except (KeyError, TypeError):
            raise TypeError(
                f"numpy dtype {np.dtype(dtype)} is not supported; tracejit tensors hold "
                f"{', '.join(d.value for d in DType)}"
            ) from None


_NUMPY = {d: np.dtype(d.value) for d in DType}
_FROM_NUMPY = {v: k for k, v in _NUMPY.items()}
_CATEGORY = {d: Category.BOOL if d is DType.bool else Category.FLOAT if d.np.kind == "f"
             else Category.INT for d in DType}

ALL_DTYPES = frozenset(DType)
FLOAT_DTYPES = frozenset({DType.float16, DType.float32, DType.float64})
INT_DTYPES = frozenset({DType.uint8, DType.int8, DType.int16, DType.int32, DType.int64})
NUMERIC_DTYPES = FLOAT_DTYPES | INT_DTYPES
INTEGRAL_DTYPES = INT_DTYPES | {DType.bool}


def promote_types(a: DType, b: DType) -> DType:
    """torch.promote_types: the smallest dtype both values fit in (int64 + float32 -> float32,
    uint8 + int8 -> int16: the only pair where neither operand holds the other)."""
    if a is b:
        return a
    ca, cb = a.category, b.category
    if ca != cb:
        return a if ca > cb else b
    if {a, b} == {DType.uint8, DType.int8}:
        return DType.int16
    return a if a.itemsize >= b.itemsize else b


class Size(tuple[int, ...]):
    """A tensor's shape: a tuple of ints that prints as `tracejit.Size([2, 3])`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"tracejit.Size({list(self)})"

    def numel(self) -> int:
        n = 1
        for d in self:
            n *= d
        return n


@dataclass(frozen=True, slots=True)
class TensorType:
    """A tensor's static type: dtype and shape. Dims are ints; None marks a data-dependent
    dim (boolean-mask indexing), left open for symbolic dims later."""

    dtype: DType
    shape: tuple[int | None, ...]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __str__(self) -> str:
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.dtype.value}[{dims}]"


@dataclass(frozen=True, slots=True)
class ScalarType:
    """A value that is a Python number, not a tensor: `int`, `float` or `bool`."""

    kind: str

    def __post_init__(self):
        if self.kind not in ("int", "float", "bool"):
            raise ValueError(f"scalar type must be int, float or bool, got {self.kind!r}")

    def __str__(self) -> str:
        return self.kind


Type = TensorType | ScalarType


class Literal:
    """A small constant array held inline in an attribute. Immutable, compared by value."""

    __slots__ = ("_key", "array")

    def __init__(self, array):
        array = np.array(array, copy=True)
        DType.from_numpy(array.dtype)
        array.flags.writeable = False
        self.array = array
        self._key = (array.dtype.str, array.shape, array.tobytes())

    @property
    def type(self) -> TensorType:
        return TensorType(DType.from_numpy(self.array.dtype), self.array.shape)

    def __eq__(self, other) -> bool:
        return isinstance(other, Literal) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"Literal({self.array.tolist()!r}, {self.type})"


@dataclass(frozen=True, slots=True)
class ConstRef:
    """A constant array referred to by name; its data lives in `Graph.constants[name]`."""

    name: str

    def __str__(self) -> str:
        return f"@{self.name}"
