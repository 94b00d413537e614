"""`tracejit.utils`: torch.utils' data loading (`tracejit.utils.data`), the hook handle
(`utils.hooks`) and `utils.model_zoo` (whose downloads are refused, see tracejit.hub)."""

from tracejit.utils import data, hooks, model_zoo

__all__ = ["data", "hooks", "model_zoo"]
