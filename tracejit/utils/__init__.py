"""`tracejit.utils`: torch.utils' data loading (`tracejit.utils.data`), the hook handle
(`utils.hooks`), `utils.checkpoint` (runs the function: no backward to save memory for)
and `utils.model_zoo` (whose downloads are refused, see tracejit.hub)."""

from tracejit.utils import checkpoint, data, hooks, model_zoo

__all__ = ["checkpoint", "data", "hooks", "model_zoo"]
