"""torch dtype names tracejit does not hold: accessible (real code builds dtype tables at import
time, `{"bfloat16": torch.bfloat16, ...}`), compared by identity, refused loudly when used."""

from __future__ import annotations


class UnsupportedDType:
    """A torch dtype name without a tracejit dtype behind it; any use raises TypeError."""

    __slots__ = ("name", "reason")

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason

    def __repr__(self) -> str:
        return f"tracejit.{self.name}"

    def error(self) -> TypeError:
        """The TypeError every use of this dtype raises."""
        return TypeError(
            f"tracejit.{self.name} is not supported: {self.reason}. tracejit holds float16, "
            "float32, float64, uint8, int8, int16, int32, int64 and bool; use float16 or "
            "float32 instead"
        )

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise self.error()


bfloat16 = UnsupportedDType("bfloat16", "numpy, which holds tracejit's data, has no bfloat16")


def refuse_unsupported(dtype) -> None:
    """Raise the clear TypeError if `dtype` is a torch dtype name tracejit does not hold."""
    if isinstance(dtype, UnsupportedDType):
        raise dtype.error()
