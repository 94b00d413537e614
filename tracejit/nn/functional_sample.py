"""torch.nn.functional.interpolate and the pixel shuffles.

interpolate is separable: each spatial dim is resampled in turn by gathering source rows at
indices computed (with torch's float arithmetic) when the call is made, and mixing them with
constant weights. Shapes are static, so a capture mode records gathers, multiplies and adds.
"""

from __future__ import annotations

import math
import operator
from typing import TYPE_CHECKING

import numpy as np

from tracejit import creation
from tracejit import functions as fn
from tracejit.ir import DType
from tracejit.nn.functional_act import _require_float
from tracejit.nn.functional_pool import _adaptive_pool

if TYPE_CHECKING:
    from tracejit.tensor import Tensor

_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")
_MODE_DIMS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
_CUBIC_A = -0.75


def interpolate(input, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resample the spatial dims of (N, C, *spatial) to `size` or by `scale_factor`."""
    if mode not in _MODES:
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
            f"the modes: nearest | linear | bilinear | bicubic | trilinear | area | "
            f"nearest-exact (got {mode})"
        )
    align_corners = _check_align_corners(mode, align_corners)
    if antialias and not (mode in ("bilinear", "bicubic") and input.ndim == 4):
        raise ValueError("Anti-alias option is restricted to bilinear, bicubic, and lanczos "
                         "modes and requires a 4-D tensor as input")
    dims = input.ndim - 2
    if dims not in (1, 2, 3) or _MODE_DIMS.get(mode, dims) != dims:
        raise NotImplementedError(
            f"Got {input.ndim}D input, but {mode} mode needs "
            f"{_MODE_DIMS.get(mode, 1) + 2}D input" if dims in (1, 2, 3) else
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
            f"the modes: nearest | linear | bilinear | bicubic | trilinear | area | "
            f"nearest-exact (got {mode})"
        )
    sizes, scales = _output_sizes(input, size, scale_factor, recompute_scale_factor, mode, dims)
    if mode == "area":
        return _adaptive_pool("adaptive_avg_pool", input, sizes, dims, "mean")
    if mode not in ("nearest", "nearest-exact"):
        kernel = "cubic" if mode == "bicubic" else "linear"
        _require_float(f"compute_indices_weights_{kernel}", input)
    out = input  # the last dim first: torch's kernel nests the last dim innermost
    for k in reversed(range(dims)):
        if antialias:
            out = _resample_antialiased(out, 2 + k, sizes[k], scales[k], mode, align_corners)
        else:
            out = _resample(out, 2 + k, sizes[k], scales[k], mode, align_corners)
    return out


def _check_align_corners(mode: str, align_corners):
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError(
                "align_corners option can only be set with the interpolating modes: "
                "linear | bilinear | bicubic | trilinear"
            )
        return False
    return bool(align_corners)


def _output_sizes(input, size, scale_factor, recompute, mode, dims):
    """(output sizes, scales passed to the kernel: None where the sizes define them)."""
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is None and scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    spatial = list(input.shape[2:])
    if size is not None:
        if recompute:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
        sizes = list(size) if isinstance(size, (list, tuple)) else [size] * dims
        if len(sizes) != dims:
            raise ValueError(
                "Input and output must have the same number of spatial dimensions, but got "
                f"input with spatial dimensions of {spatial} and output size of {size}. Please "
                "provide input tensor in (N, C, d1, d2, ...,dK) format and output size in "
                "(o1, o2, ...,oK) format."
            )
        try:
            sizes = [operator.index(s) for s in sizes]
        except TypeError:
            raise TypeError(
                "expected size to be one of int or Tuple[int] or Tuple[int, int] or "
                f"Tuple[int, int, int], but got size with types {[type(s) for s in sizes]}"
            ) from None
        return sizes, [None] * dims
    factors = list(scale_factor) if isinstance(scale_factor, (list, tuple)) \
        else [scale_factor] * dims
    if len(factors) != dims:
        raise ValueError(
            "Input and scale_factor must have the same number of spatial dimensions, but got "
            f"input with spatial dimensions of {spatial} and scale_factor of shape "
            f"{scale_factor}. Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
            "scale_factor in (s1, s2, ...,sK) format."
        )
    sizes = [math.floor(float(n) * float(f)) for n, f in zip(spatial, factors)]
    if recompute or mode == "area":
        return sizes, [None] * dims
    return sizes, [float(f) for f in factors]


def _ratio(n_in: int, n_out: int, scale, align_corners: bool, real):
    """torch's area_pixel_compute_scale in the kernel's arithmetic type `real`."""
    if align_corners:
        return real((n_in - 1) / (n_out - 1)) if n_out > 1 else real(0)
    if scale is not None and scale > 0:
        return real(1.0 / scale)
    return real(n_in) / real(n_out)


def _resample(x, dim: int, n_out: int, scale, mode: str, align_corners: bool):
    n_in = x.shape[dim]
    if n_out <= 0 or n_in <= 0:
        raise RuntimeError(
            f"Input and output sizes should be greater than 0, but got input (size: {n_in}) "
            f"output (size: {n_out})"
        )
    real = np.float64 if x.dtype is DType.float64 else np.float32
    if mode.startswith("nearest"):
        return _take(x, dim, _nearest_indices(n_in, n_out, scale, mode == "nearest-exact"))
    if n_in == n_out and mode != "bicubic":
        return x
    ratio = _ratio(n_in, n_out, scale, align_corners, real)
    dst = np.arange(n_out, dtype=real)
    if align_corners:
        src = ratio * dst
    else:
        src = ratio * (dst + real(0.5)) - real(0.5)
    if mode == "bicubic":
        return _cubic(x, dim, src.astype(real), n_in, real)
    src = np.maximum(src, real(0)).astype(real)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    lam1 = np.clip(src - i0.astype(real), 0, 1).astype(real)
    i1 = i0 + (i0 < n_in - 1)
    return _mix(x, dim, [(i0, real(1) - lam1), (i1, lam1)])


def _resample_antialiased(x, dim: int, n_out: int, scale, mode: str, align_corners: bool):
    """torch's antialiased (PIL-style) resampling along `dim`: when shrinking, the filter
    widens by the scale, so every input element within its support contributes."""
    n_in = x.shape[dim]
    if n_in == n_out:
        return x
    real = np.float64 if x.dtype is DType.float64 else np.float32
    ratio = float(_ratio(n_in, n_out, scale, align_corners, real))
    size = 4 if mode == "bicubic" else 2
    support = size * 0.5 * ratio if ratio >= 1.0 else size * 0.5
    taps = math.ceil(support) * 2 + 1
    invscale = 1.0 / ratio if ratio >= 1.0 else 1.0
    center = (ratio * (np.arange(n_out) + 0.5)).astype(real).astype(np.float64)
    start = np.maximum((center - support + 0.5).astype(np.int64), 0)
    stop = np.minimum((center + support + 0.5).astype(np.int64), n_in)
    offsets = np.arange(taps)
    weights = _aa_filter((start[:, None] + offsets - center[:, None] + 0.5) * invscale, mode)
    weights = np.where(offsets < (stop - start)[:, None], weights, 0.0)
    total = weights.sum(1, keepdims=True)
    weights = np.where(total != 0, weights / np.where(total != 0, total, 1), weights)
    index = np.minimum(start[:, None] + offsets, n_in - 1)
    return _mix(x, dim, [(index[:, j], weights[:, j].astype(real)) for j in range(taps)])


def _aa_filter(x, mode: str):
    """The triangle filter (bilinear) or Keys' cubic with a = -0.5 (bicubic), as PIL."""
    x = np.abs(x)
    if mode == "bilinear":
        return np.where(x < 1.0, 1.0 - x, 0.0)
    a = -0.5
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def _nearest_indices(n_in: int, n_out: int, scale, exact: bool) -> np.ndarray:
    """torch's nearest_idx / nearest_neighbor_exact_compute_source_index, in float32."""
    dst = np.arange(n_out)
    if not exact and n_out == n_in:
        return dst
    if not exact and n_out == 2 * n_in:
        return dst >> 1
    ratio = np.float32(1.0 / scale) if scale is not None and scale > 0 \
        else np.float32(n_in) / np.float32(n_out)
    pos = (dst.astype(np.float32) + np.float32(0.5)) if exact else dst.astype(np.float32)
    return np.minimum(np.floor(pos * ratio).astype(np.int64), n_in - 1)


def _cubic(x, dim, src, n_in, real):
    t_floor = np.floor(src)
    i = np.minimum(t_floor.astype(np.int64), n_in - 1)
    t = np.clip(src - i.astype(real), 0, 1).astype(real)
    a = real(_CUBIC_A)

    def near(v):  # cubic_convolution1
        return ((a + 2) * v - (a + 3)) * v * v + 1

    def far(v):  # cubic_convolution2
        return ((a * v - 5 * a) * v + 8 * a) * v - 4 * a

    weights = [far(t + 1), near(t), near(1 - t), far(2 - t)]
    taps = [(np.clip(i - 1 + k, 0, n_in - 1), w.astype(real)) for k, w in enumerate(weights)]
    return _mix(x, dim, taps)


def _take(x, dim: int, index: np.ndarray):
    """x's slices along `dim` at `index` (a gather with a constant index)."""
    shape = [1] * x.ndim
    shape[dim] = len(index)
    out_shape = list(x.shape)
    out_shape[dim] = len(index)
    idx = creation.tensor(index.astype(np.int64)).reshape(shape).expand(*out_shape)
    return x.gather(dim, idx)


def _mix(x, dim: int, taps):
    """sum over taps (index, weight) of weight * x[index] along `dim`."""
    shape = [1] * x.ndim
    shape[dim] = len(taps[0][0])
    out = None
    for index, weight in taps:
        w = creation.tensor(weight, dtype=x.dtype).reshape(shape)
        term = _take(x, dim, index) * w
        out = term if out is None else out + term
    return out


def upsample(input, size=None, scale_factor=None, mode: str = "nearest",
             align_corners=None) -> Tensor:
    """Deprecated alias of interpolate."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None) -> Tensor:
    """Deprecated: interpolate(mode='nearest')."""
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None) -> Tensor:
    """Deprecated: interpolate(mode='bilinear', align_corners=True)."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# --- pixel shuffle ------------------------------------------------------------------------------

def pixel_shuffle(input, upscale_factor: int) -> Tensor:
    """(*, C * r * r, H, W) -> (*, C, H * r, W * r)."""
    r = operator.index(upscale_factor)
    if input.ndim < 3:
        raise RuntimeError(
            "pixel_shuffle expects input to have at least 3 dimensions, but got input with "
            f"{input.ndim} dimension(s)"
        )
    if r <= 0:
        raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(
            "pixel_shuffle expects its input's 'channel' dimension to be divisible by the "
            f"square of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}"
        )
    n = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor: int) -> Tensor:
    """(*, C, H * r, W * r) -> (*, C * r * r, H, W)."""
    r = operator.index(downscale_factor)
    if input.ndim < 3:
        raise RuntimeError(
            "pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
            f"{input.ndim} dimension(s)"
        )
    if r <= 0:
        raise RuntimeError(f"pixel_unshuffle expects a positive downscale_factor, but got {r}")
    *lead, c, h, w = input.shape
    for name, size in (("height", h), ("width", w)):
        if size % r:
            axis = -2 if name == "height" else -1
            raise RuntimeError(
                f"pixel_unshuffle expects {name} to be divisible by downscale_factor, but "
                f"input.size({axis})={size} is not divisible by {r}"
            )
    n = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)


# --- affine grids and grid sampling ------------------------------------------------------------

def affine_grid(theta, size, align_corners=None) -> Tensor:
    """The (N, H, W, 2) sampling grid of the 2-d affine maps theta (N, 2, 3) for an output of
    `size` (N, C, H, W), in grid_sample's [-1, 1] coordinates."""
    if not theta.dtype.is_floating_point:
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = tuple(size)
    if len(size) != 4:
        raise NotImplementedError(
            "affine_grid supports 4D sizes (2D affine transforms) only; got size "
            f"{list(size)}"
        )
    if theta.ndim != 3 or tuple(theta.shape[-2:]) != (2, 3):
        raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size "
                         f"{list(size)}. Got {theta.shape}.")
    if min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {list(size)}")
    n, _, h, w = size
    xs, ys = (_unit_range(k, bool(align_corners), theta.dtype) for k in (w, h))
    base = fn.stack([xs.reshape(1, w).expand(h, w), ys.reshape(h, 1).expand(h, w),
                     creation.ones(h, w, dtype=theta.dtype)], -1)
    grid = fn.matmul(base.reshape(1, h * w, 3), theta.transpose(1, 2))
    return grid.reshape(n, h, w, 2)


def _unit_range(steps: int, align_corners: bool, dtype):
    """torch's linspace_from_neg_one: -1..1, shrunk by (steps - 1) / steps unless aligned."""
    if steps <= 1:
        return creation.zeros(steps, dtype=dtype)
    values = creation.linspace(-1, 1, steps, dtype=dtype)
    return values if align_corners else values * ((steps - 1) / steps)


def grid_sample(input, grid, mode: str = "bilinear", padding_mode: str = "zeros",
                align_corners=None) -> Tensor:
    """Sample (N, C, H, W) `input` at the (N, Ho, Wo, 2) [-1, 1] coordinates of `grid`, by
    gathering the neighbours of each point (bilinear or nearest)."""
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(f"nn.functional.grid_sample(): expected mode to be 'bilinear', "
                         f"'nearest' or 'bicubic', but got: '{mode}'")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError("nn.functional.grid_sample(): expected padding_mode to be 'zeros', "
                         f"'border', or 'reflection', but got: '{padding_mode}'")
    if mode == "bicubic" or input.ndim != 4:
        raise NotImplementedError("grid_sample supports 4-D input with mode 'bilinear' or "
                                  "'nearest' only")
    if grid.ndim != 4 or grid.shape[-1] != 2 or grid.shape[0] != input.shape[0]:
        raise RuntimeError(
            f"grid_sampler(): expected grid of shape [{input.shape[0]}, H, W, 2] for input of "
            f"shape {list(input.shape)}, but got grid with size {list(grid.shape)}"
        )
    align = bool(align_corners)
    n, c, h, w = input.shape
    ix = _source_coordinate(grid[..., 0], w, padding_mode, align)
    iy = _source_coordinate(grid[..., 1], h, padding_mode, align)
    flat = input.reshape(n, c, h * w)
    if mode == "nearest":
        return _pick(flat, ix.round(), iy.round(), h, w, c)
    x0, y0 = ix.floor(), iy.floor()
    x1, y1 = x0 + 1, y0 + 1
    corners = [(x0, y0, (x1 - ix) * (y1 - iy)), (x1, y0, (ix - x0) * (y1 - iy)),
               (x0, y1, (x1 - ix) * (iy - y0)), (x1, y1, (ix - x0) * (iy - y0))]
    out = None
    for cx, cy, weight in corners:
        term = _pick(flat, cx, cy, h, w, c) * weight.unsqueeze(1)
        out = term if out is None else out + term
    return out


def _source_coordinate(coord, size: int, padding_mode: str, align_corners: bool):
    """torch's grid_sampler_compute_source_index: unnormalize, then border or reflect."""
    if align_corners:
        coord = (coord + 1) / 2 * (size - 1)
    else:
        coord = ((coord + 1) * size - 1) / 2
    if padding_mode == "border":
        return coord.clamp(0, size - 1)
    if padding_mode == "reflection":
        low, high = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)
        return _reflect(coord, low, high).clamp(0, size - 1)
    return coord


def _reflect(coord, twice_low: int, twice_high: int):
    if twice_low == twice_high:
        return coord * 0
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    dist = (coord - low).abs()
    flips = (dist / span).floor()
    extra = dist - flips * span
    even = fn.remainder(flips, 2) == 0
    return fn.where(even, extra + low, span - extra + low)


def _pick(flat, x, y, h: int, w: int, c: int):
    """flat (N, C, H*W) at integer-valued float coordinates (N, Ho, Wo); 0 outside."""
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    index = (y.clamp(0, h - 1) * w + x.clamp(0, w - 1)).to(DType.int64)
    n, ho, wo = index.shape
    index = index.reshape(n, 1, ho * wo).expand(n, c, ho * wo)
    values = flat.gather(2, index).reshape(n, c, ho, wo)
    return fn.where(inside.unsqueeze(1), values, 0.0)


# --- embedding bags -----------------------------------------------------------------------------

def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type: float = 2,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights=None, include_last_offset: bool = False,
                  padding_idx=None) -> Tensor:
    """Sums, means or maxima of bags of embedding rows: the rows of a 2-d `input`, or the
    segments of a 1-d `input` starting at `offsets`. Bags are selected with a (bags, n) mask,
    so the shapes stay static and capture sees gathers, compares and a matmul."""
    if max_norm is not None:
        raise NotImplementedError("embedding_bag(max_norm=...) is not supported; pass None")
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"mode has to be one of sum, mean or max, got {mode!r}")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(
            f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
            f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
            "GitHub."
        )
    member = _bag_membership(input, offsets, include_last_offset)
    flat = input.reshape(-1)
    if padding_idx is not None:
        padding_idx = padding_idx % weight.shape[0]
        member = member & (flat != padding_idx)
    rows = weight[flat]
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.reshape(-1, 1)
    if mode == "max":
        picked = fn.where(member.unsqueeze(-1), rows.unsqueeze(0), float("-inf"))
        best = picked.amax(1)
        return fn.where(member.any(1, keepdim=True), best, 0.0)
    total = member.to(weight.dtype).matmul(rows)
    if mode == "sum":
        return total
    count = member.sum(1, keepdim=True).clamp_min(1).to(weight.dtype)
    return total / count


def _bag_membership(input, offsets, include_last_offset: bool):
    """A bool (bags, n) matrix: which of the n flattened indices belong to each bag."""
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated "
                             "is a mini-batch of fixed length sequences. However, found offsets "
                             f"of type {type(offsets)}")
        bags, length = input.shape
        position = creation.arange(bags * length).reshape(1, -1)
        start = (creation.arange(bags) * length).reshape(-1, 1)
        return (position >= start) & (position < start + length)
    if input.ndim != 1:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension "
                         f"{input.ndim}")
    if offsets is None:
        raise ValueError("offsets has to be a 1D Tensor but got None")
    if offsets.ndim != 1:
        raise ValueError("offsets has to be a 1D Tensor")
    n = input.shape[0]
    starts = offsets[:-1] if include_last_offset else offsets
    stops = offsets[1:] if include_last_offset else \
        fn.cat([offsets[1:], creation.full((1,), n, dtype=offsets.dtype)])
    position = creation.arange(n).reshape(1, -1)
    return (position >= starts.reshape(-1, 1)) & (position < stops.reshape(-1, 1))


__all__ = [
    "affine_grid", "embedding_bag", "grid_sample", "interpolate", "pixel_shuffle",
    "pixel_unshuffle", "upsample", "upsample_bilinear", "upsample_nearest",
]
