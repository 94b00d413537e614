"""An einops backend for tracejit tensors, so einops.rearrange/reduce/repeat/pack/einsum work
on them, eagerly and under tracejit.trace (every step is a dispatched op).

einops finds a backend by scanning the subclasses of `einops._backends.AbstractBackend` whose
`framework_name` is imported. tracejit never imports einops itself: `install()` defines the
backend now if einops is already imported, otherwise when einops._backends first loads (a
one-shot import hook on sys.meta_path).
"""

from __future__ import annotations

import sys

__all__ = ["install"]

_TARGET = "einops._backends"
_backend_class = None  # held here: __subclasses__() only keeps weak references


def _define_backend() -> type:
    """Create (once) the AbstractBackend subclass einops will pick for tracejit.Tensor."""
    global _backend_class
    if _backend_class is not None:
        return _backend_class
    from einops._backends import AbstractBackend

    import tracejit

    class TracejitBackend(AbstractBackend):
        """einops' operations in terms of tracejit's torch-like API."""

        framework_name = "tracejit"

        def is_appropriate_type(self, tensor) -> bool:
            return isinstance(tensor, tracejit.Tensor)

        def from_numpy(self, x):
            return tracejit.from_numpy(x)

        def to_numpy(self, x):
            return x.detach().numpy()

        def arange(self, start, stop):
            return tracejit.arange(start, stop, dtype=tracejit.int64)

        def shape(self, x):
            return tuple(x.shape)

        def reshape(self, x, shape):
            return x.reshape(tuple(shape))

        def transpose(self, x, axes):
            return x.permute(*axes)

        def reduce(self, x, operation, reduced_axes):
            reduced_axes = tuple(reduced_axes)
            if operation in ("min", "max"):
                return getattr(x, "a" + operation)(dim=reduced_axes)
            if operation in ("sum", "mean"):
                return getattr(x, operation)(dim=reduced_axes)
            if operation in ("any", "all", "prod"):
                for axis in sorted(reduced_axes)[::-1]:
                    x = getattr(x, operation)(dim=axis)
                return x
            raise NotImplementedError("Unknown reduction ", operation)

        def stack_on_zeroth_dimension(self, tensors: list):
            return tracejit.stack(tensors)

        def add_axis(self, x, new_position):
            return x.unsqueeze(new_position)

        def add_axes(self, x, n_axes, pos2len):
            repeats = [-1] * n_axes
            for position, length in pos2len.items():
                x = x.unsqueeze(position)
                repeats[position] = length
            return x.expand(*repeats)

        def tile(self, x, repeats):
            return x.repeat(*repeats)

        def concat(self, tensors, axis: int):
            return tracejit.cat(list(tensors), dim=axis)

        def is_float_type(self, x) -> bool:
            return x.dtype.is_floating_point

        def layers(self):
            raise NotImplementedError("einops has no tracejit layers module; einops.layers."
                                      "torch's layers work inside tracejit.nn containers")

        def einsum(self, pattern, *x):
            einsum = getattr(tracejit, "einsum", None)
            if einsum is None:
                raise NotImplementedError("einops.einsum needs tracejit.einsum, which this "
                                          "version lacks")
            return einsum(pattern, *x)

    _backend_class = TracejitBackend
    return TracejitBackend


class _AfterEinopsBackends:
    """A sys.meta_path finder: finds einops._backends through the other finders, then defines
    our backend after the module has run; removes itself once used."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        import importlib.util

        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            sys.modules.setdefault(fullname, module)
            _define_backend()

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    """Make einops recognise tracejit tensors, now or when einops gets imported."""
    if _TARGET in sys.modules:
        _define_backend()
    elif not any(isinstance(f, _AfterEinopsBackends) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterEinopsBackends())
