"""`tracejit.hub`: torch.hub's names, so model files that import them load. Nothing is
downloaded (tracejit makes no network requests) and torch's checkpoints are pickles, which
tracejit never reads. Convert a downloaded checkpoint once with torch:
`tracejit.save({k: v.numpy() for k, v in torch.load(p).items()}, out)`; such a file placed in the
hub cache under the URL's file name is what `load_state_dict_from_url` returns.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlparse

_hub_dir: str | None = None


def get_dir() -> str:
    """Where torch.hub would cache downloads ($TORCH_HOME/hub, like torch)."""
    if _hub_dir is not None:
        return _hub_dir
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "torch")
    return os.path.join(torch_home, "hub")


def set_dir(d) -> None:
    """Set the hub cache directory (`get_dir()` returns it from then on)."""
    global _hub_dir
    _hub_dir = os.path.expanduser(os.fspath(d))


def _convert_hint(url: str, cached: str) -> str:
    return (
        f"download {url} yourself and convert it once with torch: `sd = torch.load(file)`, "
        "`tracejit.save({k: v.numpy() for k, v in sd.items()}, out)`, then "
        "`model.load_state_dict(tracejit.load(out))` (or save it as "
        f"{cached}, where load_state_dict_from_url finds it). Or build the model with "
        "pretrained=False and copy the weights in from torch")


def load_state_dict_from_url(url: str, model_dir=None, map_location=None, progress=True,
                             check_hash=False, file_name=None, weights_only=False) -> Any:
    """The checkpoint cached for `url` if it is a tracejit checkpoint; otherwise a RuntimeError
    saying how to download and convert it (tracejit does not download)."""
    from tracejit.graphfile import GraphFileError, LoadedGraph, load

    folder = os.fspath(model_dir) if model_dir is not None else os.path.join(get_dir(),
                                                                             "checkpoints")
    cached = os.path.join(folder, file_name or os.path.basename(urlparse(url).path))
    what = f"load_state_dict_from_url({url!r})"
    if not os.path.isfile(cached):
        raise RuntimeError(f"{what}: tracejit does not download files, and checkpoints "
                           f"published for torch are pickles it never reads: "
                           f"{_convert_hint(url, cached)}")
    try:
        state = load(cached)
    except GraphFileError as e:
        raise RuntimeError(f"{what}: the cached file {cached} is not a checkpoint tracejit can "
                           f"read ({e.problem.split(':')[0]}): {_convert_hint(url, cached)}"
                           ) from None
    if isinstance(state, LoadedGraph):
        raise RuntimeError(f"{what}: the cached file {cached} holds compiled graphs, not a "
                           f"state dict: {_convert_hint(url, cached)}")
    return state


def download_url_to_file(url: str, dst, hash_prefix=None, progress=True) -> None:
    """Refused: tracejit makes no network requests."""
    raise RuntimeError(f"download_url_to_file({url!r}): tracejit does not download files; "
                       f"fetch it with another tool and save it as {os.fspath(dst)}")


def _refuse_repo(what: str):
    raise RuntimeError(
        f"{what}: torch.hub runs a repository's hubconf.py from GitHub, and tracejit neither "
        "downloads nor runs fetched code. Import the model's module from a local copy, build "
        "it with pretrained=False and load converted weights (see tracejit.hub's docs)")


def load(repo_or_dir, model, *args, **kwargs) -> NoReturn:
    """torch.hub.load runs code from GitHub: refused with the way to build the model locally."""
    _refuse_repo(f"hub.load({repo_or_dir!r}, {model!r})")


def list(github, force_reload=False, skip_validation=False, trust_repo=None,
         verbose=True) -> NoReturn:
    """torch.hub.list: refused, as `load`."""
    _refuse_repo(f"hub.list({github!r})")


def help(github, model, force_reload=False, skip_validation=False, trust_repo=None) -> NoReturn:
    """torch.hub.help: refused, as `load`."""
    _refuse_repo(f"hub.help({github!r}, {model!r})")


__all__ = ["download_url_to_file", "get_dir", "help", "list", "load", "load_state_dict_from_url",
           "set_dir"]
