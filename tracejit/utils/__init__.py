"""`tracejit.utils`: torch.utils' data loading (`tracejit.utils.data`)."""

from tracejit.utils import data

__all__ = ["data"]
