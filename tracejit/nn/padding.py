"""torch.nn's padding layers: constant, zero, reflection, replication and circular, in 1, 2 and
3 dims, each a call to F.pad with the padding torch stores (left, right, top, bottom, ...)."""

from __future__ import annotations

from tracejit.nn import functional as F
from tracejit.nn.module import Module
from tracejit.tensor import Tensor


def _padding(padding, dims: int) -> tuple[int, ...]:
    if isinstance(padding, int):
        return (padding,) * (2 * dims)
    padding = tuple(padding)
    if len(padding) != 2 * dims:
        raise ValueError(f"padding must be an int or a {2 * dims}-tuple of ints, got "
                         f"{padding!r}")
    return padding


class _PadNd(Module):
    """`padding` as torch stores it, and F.pad with `_mode`."""

    _dims = 1
    _mode = "constant"

    def __init__(self, padding):
        super().__init__()
        self.padding = _padding(padding, self._dims)

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    """Padding with a constant `value`."""

    def __init__(self, padding, value: float):
        super().__init__(padding)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pads the last dim with `value`."""

    _dims = 1


class ConstantPad2d(_ConstantPadNd):
    """Pads the last two dims with `value`."""

    _dims = 2


class ConstantPad3d(_ConstantPadNd):
    """Pads the last three dims with `value`."""

    _dims = 3


class _ZeroPad:
    """ZeroPad*d's constructor and repr, mixed into the ConstantPad*d it derives from (torch's
    ZeroPad2d is a ConstantPad2d)."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad1d(_ZeroPad, ConstantPad1d):
    """Pads the last dim with zeros."""


class ZeroPad2d(_ZeroPad, ConstantPad2d):
    """Pads the last two dims with zeros."""


class ZeroPad3d(_ZeroPad, ConstantPad3d):
    """Pads the last three dims with zeros."""


class _ReflectionPadNd(_PadNd):
    """Padding with the reflection of the edge (the edge not repeated)."""

    _mode = "reflect"


class ReflectionPad1d(_ReflectionPadNd):
    """Pads the last dim with its reflection (the edge not repeated)."""

    _dims = 1


class ReflectionPad2d(_ReflectionPadNd):
    """Pads the last two dims with their reflection."""

    _dims = 2


class ReflectionPad3d(_ReflectionPadNd):
    """Pads the last three dims with their reflection."""

    _dims = 3


class _ReplicationPadNd(_PadNd):
    """Padding by repeating the edge values."""

    _mode = "replicate"


class ReplicationPad1d(_ReplicationPadNd):
    """Pads the last dim by repeating its edge values."""

    _dims = 1


class ReplicationPad2d(_ReplicationPadNd):
    """Pads the last two dims by repeating their edge values."""

    _dims = 2


class ReplicationPad3d(_ReplicationPadNd):
    """Pads the last three dims by repeating their edge values."""

    _dims = 3


class _CircularPadNd(_PadNd):
    """Padding by wrapping around."""

    _mode = "circular"


class CircularPad1d(_CircularPadNd):
    """Pads the last dim by wrapping around."""

    _dims = 1


class CircularPad2d(_CircularPadNd):
    """Pads the last two dims by wrapping around."""

    _dims = 2


class CircularPad3d(_CircularPadNd):
    """Pads the last three dims by wrapping around."""

    _dims = 3


__all__ = [
    "CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d",
    "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
    "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d",
    "ZeroPad3d",
]
