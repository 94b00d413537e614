"""`tracejit.hub`: torch.hub's names, so model files that import them load. Downloading is
refused with a clear error: pretrained checkpoints are torch pickles, which tracejit does not
read (no torch at run time). Build models with pretrained=False and copy weights in from torch:
`model.load_state_dict({k: tracejit.tensor(v.numpy()) for k, v in torch_sd.items()})`.
"""

from __future__ import annotations

import os
from pathlib import Path

_hub_dir: str | None = None


def get_dir() -> str:
    """Where torch.hub would cache downloads ($TORCH_HOME/hub, like torch)."""
    if _hub_dir is not None:
        return _hub_dir
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "torch")
    return os.path.join(torch_home, "hub")


def set_dir(d) -> None:
    global _hub_dir
    _hub_dir = os.path.expanduser(str(d))


def _refuse(what: str):
    raise RuntimeError(
        f"{what}: tracejit does not download or read torch checkpoints (they are torch "
        "pickles). Build the model with pretrained=False, load the weights with torch and copy "
        "them in: model.load_state_dict({k: tracejit.tensor(v.numpy()) for k, v in "
        "torch_state_dict.items()})"
    )


def load_state_dict_from_url(url: str, model_dir=None, map_location=None, progress=True,
                             check_hash=False, file_name=None, weights_only=False):
    """Refused with the way to bring torch weights in (see the module docstring)."""
    _refuse(f"load_state_dict_from_url({url!r})")


def download_url_to_file(url: str, dst, hash_prefix=None, progress=True) -> None:
    _refuse(f"download_url_to_file({url!r})")


def load(repo_or_dir, model, *args, **kwargs):
    """torch.hub.load runs code from GitHub: refused."""
    _refuse(f"hub.load({repo_or_dir!r}, {model!r})")


__all__ = ["download_url_to_file", "get_dir", "load", "load_state_dict_from_url", "set_dir"]
