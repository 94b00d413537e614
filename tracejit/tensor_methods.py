"""More of torch's Tensor API (issue 12), as a base class of `Tensor` to keep tensor.py small:
the composites of functions_extra/_math/_shape as methods, their in-place variants, random
fills (`normal_`, `uniform_`, ...), the legacy type API (`type()`, `new`) and device and size
attributes. Everything here goes through dispatched ops or other Tensor methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracejit import functions as F
from tracejit import functions_extra as FX
from tracejit import functions_math as FM
from tracejit import functions_shape as FS
from tracejit import functions_stats as FST
from tracejit.dispatch import assign

if TYPE_CHECKING:
    from tracejit.compat import layout as Layout
    from tracejit.linalg import qr_result, slogdet_result, svd_result
    from tracejit.tensor import Tensor


def _in_place(function, name: str):
    """`x.name(...)`: function(x, ...) written back into x (torch's in-place dtype rules)."""

    def method(self, *args, **kwargs) -> Tensor:
        return assign(self, function(self, *args, **kwargs), name)

    method.__name__ = name
    method.__doc__ = f"In-place {name[:-1]}."
    return method


def _random_fill(t, kind: str, params: tuple, generator):
    from tracejit.generator import random_fill  # generator.py imports tensor.py

    return random_fill(t, kind, params, generator)


def _aliases():
    from tracejit import torch_aliases  # it imports nn.functional, which imports tensor.py

    return torch_aliases


def _become(t, view):
    """t now is `view` (a reshaped view of itself), as torch's shape-changing x.op_() do."""
    from tracejit.dispatch import alias

    t._data = view._data
    alias(t, view)
    return t


class TorchMethods:
    """Tensor methods built from other Tensor methods and dispatched composites."""

    __slots__ = ()

    # --- composites as methods ------------------------------------------------------------------
    addbmm = FX.addbmm
    addmm = FX.addmm
    addmv = FX.addmv
    allclose = FX.allclose
    baddbmm = FX.baddbmm
    dot = FX.dot
    equal = FX.equal
    ger = outer = FX.outer
    isclose = FX.isclose
    mv = FX.mv
    repeat_interleave = FX.repeat_interleave
    unbind = FX.unbind
    addcdiv = FM.addcdiv
    addcmul = FM.addcmul
    aminmax = FM.aminmax
    cross = FM.cross
    diag = FM.diag
    diagonal = FM.diagonal
    dist = FM.dist
    hypot = FM.hypot
    inner = FM.inner
    isfinite = FM.isfinite
    isinf = FM.isinf
    isneginf = FM.isneginf
    isposinf = FM.isposinf
    kron = FM.kron
    logaddexp = FM.logaddexp
    nan_to_num = FM.nan_to_num
    nanmean = FM.nanmean
    nansum = FM.nansum
    trace = FM.trace_matrix
    vdot = FM.vdot
    broadcast_to = FS.broadcast_to
    dsplit = FS.dsplit
    hsplit = FS.hsplit
    masked_select = FS.masked_select
    moveaxis = movedim = FS.movedim
    ravel = FS.ravel
    select = FS.select
    tensor_split = FS.tensor_split
    tile = FS.tile
    vsplit = FS.vsplit

    addr = FX.addr
    copysign = FM.copysign
    corrcoef = FM.corrcoef
    cosh = FM.cosh
    cov = FM.cov
    deg2rad = FM.deg2rad
    exp2 = FM.exp2
    float_power = FM.float_power
    fmax = FM.fmax
    fmin = FM.fmin
    frac = FM.frac
    heaviside = FM.heaviside
    log10 = FM.log10
    log2 = FM.log2
    logaddexp2 = FM.logaddexp2
    logit = FM.logit
    rad2deg = FM.rad2deg
    sgn = FM.sgn
    signbit = FM.signbit
    sinc = FM.sinc
    sinh = FM.sinh
    tan = FM.tan
    xlogy = FM.xlogy
    fill_diagonal_ = FS.fill_diagonal_
    index_put = FS.index_put
    index_put_ = FS.index_put_
    narrow_copy = FS.narrow_copy
    split_with_sizes = FS.split_with_sizes
    sum_to_size = FS.sum_to_size
    take = FS.take
    unfold = FS.unfold

    bincount = FST.bincount
    diagflat = FST.diagflat
    histc = FST.histc
    isin = FST.isin
    kthvalue = FST.kthvalue
    median = FST.median
    nanmedian = FST.nanmedian
    nanquantile = FST.nanquantile
    quantile = FST.quantile

    def det(self) -> Tensor:
        return _aliases().det(self)

    def inverse(self) -> Tensor:
        return _aliases().inverse(self)

    def slogdet(self) -> slogdet_result:
        return _aliases().slogdet(self)

    def logdet(self) -> Tensor:
        return _aliases().logdet(self)

    def pinverse(self, rcond: float = 1e-15) -> Tensor:
        return _aliases().pinverse(self, rcond)

    def matrix_power(self, n: int) -> Tensor:
        return _aliases().matrix_power(self, n)

    def cholesky(self, upper: bool = False) -> Tensor:
        return _aliases().cholesky(self, upper)

    def qr(self, some: bool = True) -> qr_result:
        return _aliases().qr(self, some)

    def svd(self, some: bool = True, compute_uv: bool = True) -> svd_result:
        return _aliases().svd(self, some, compute_uv)

    def ldexp(self, other) -> Tensor:
        return _aliases().ldexp(self, other)

    def renorm(self, p, dim: int, maxnorm) -> Tensor:
        return _aliases().renorm(self, p, dim, maxnorm)

    def select_scatter(self, src, dim: int, index: int) -> Tensor:
        return _aliases().select_scatter(self, src, dim, index)

    def slice_scatter(self, src, dim: int = 0, start=None, end=None, step: int = 1) -> Tensor:
        return _aliases().slice_scatter(self, src, dim, start, end, step)

    def hardshrink(self, lambd: float = 0.5) -> Tensor:
        from tracejit.nn.functional import hardshrink

        return hardshrink(self, lambd)

    def prelu(self, weight) -> Tensor:
        from tracejit.nn.functional import prelu

        return prelu(self, weight)

    def diag_embed(self, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
        return FM.diag_embed(self, offset, dim1, dim2)

    def put_(self, index, source, accumulate: bool = False) -> Tensor:
        """self.flatten()[index] = source, in place (accumulate=True is not supported yet)."""
        if accumulate:
            raise NotImplementedError("put_(accumulate=True) is not supported yet; use "
                                      "index_add_ on the flattened tensor")
        flat = self.reshape(-1).clone()
        flat[index.reshape(-1)] = source.reshape(-1) if hasattr(source, "reshape") else source
        return assign(self, flat.reshape(self.shape), "put_")

    def put(self, index, source, accumulate: bool = False) -> Tensor:
        return self.clone().put_(index, source, accumulate)

    def adjoint(self) -> Tensor:
        return self.mT

    def unsafe_split(self, split_size, dim: int = 0) -> tuple[Tensor, ...]:
        return self.split(split_size, dim)

    def unsafe_chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        return self.chunk(chunks, dim)

    def not_equal(self, other) -> Tensor:
        return self.ne(other)

    def positive(self) -> Tensor:
        return +self

    # --- in-place variants ----------------------------------------------------------------------
    addcdiv_ = _in_place(FM.addcdiv, "addcdiv_")
    addcmul_ = _in_place(FM.addcmul, "addcmul_")
    clamp_max_ = _in_place(F.clamp_max, "clamp_max_")
    clamp_min_ = _in_place(F.clamp_min, "clamp_min_")
    cumsum_ = _in_place(F.cumsum, "cumsum_")
    hypot_ = _in_place(FM.hypot, "hypot_")
    lerp_ = _in_place(lambda self, end, weight: self.lerp(end, weight), "lerp_")
    logical_and_ = _in_place(F.logical_and, "logical_and_")
    logical_or_ = _in_place(F.logical_or, "logical_or_")
    logical_xor_ = _in_place(F.logical_xor, "logical_xor_")
    nan_to_num_ = _in_place(FM.nan_to_num, "nan_to_num_")
    square_ = _in_place(lambda self: self.square(), "square_")
    tril_ = _in_place(F.tril, "tril_")
    triu_ = _in_place(F.triu, "triu_")

    addbmm_ = _in_place(FX.addbmm, "addbmm_")
    addmm_ = _in_place(FX.addmm, "addmm_")
    addmv_ = _in_place(FX.addmv, "addmv_")
    addr_ = _in_place(FX.addr, "addr_")
    baddbmm_ = _in_place(FX.baddbmm, "baddbmm_")
    copysign_ = _in_place(FM.copysign, "copysign_")
    deg2rad_ = _in_place(FM.deg2rad, "deg2rad_")
    exp2_ = _in_place(FM.exp2, "exp2_")
    float_power_ = _in_place(FM.float_power, "float_power_")
    frac_ = _in_place(FM.frac, "frac_")
    heaviside_ = _in_place(FM.heaviside, "heaviside_")
    log10_ = _in_place(FM.log10, "log10_")
    log2_ = _in_place(FM.log2, "log2_")
    logit_ = _in_place(FM.logit, "logit_")
    rad2deg_ = _in_place(FM.rad2deg, "rad2deg_")
    sgn_ = _in_place(FM.sgn, "sgn_")
    sinc_ = _in_place(FM.sinc, "sinc_")
    sinh_ = _in_place(FM.sinh, "sinh_")
    cosh_ = _in_place(FM.cosh, "cosh_")
    tan_ = _in_place(FM.tan, "tan_")
    xlogy_ = _in_place(FM.xlogy, "xlogy_")
    not_equal_ = _in_place(lambda self, other: self.ne(other), "not_equal_")
    greater_ = _in_place(lambda self, other: self.gt(other), "greater_")
    greater_equal_ = _in_place(lambda self, other: self.ge(other), "greater_equal_")
    less_ = _in_place(lambda self, other: self.lt(other), "less_")
    less_equal_ = _in_place(lambda self, other: self.le(other), "less_equal_")

    def negative_(self) -> Tensor:
        return self.neg_()

    def absolute_(self) -> Tensor:
        return self.abs_()

    def fix_(self) -> Tensor:
        return self.trunc_()

    # --- shape changes in place (self becomes the reshaped view, as in torch) ------------------
    def squeeze_(self, dim=None) -> Tensor:
        return _become(self, self.squeeze() if dim is None else self.squeeze(dim))

    def unsqueeze_(self, dim) -> Tensor:
        return _become(self, self.unsqueeze(dim))

    def t_(self) -> Tensor:
        return _become(self, self.t())

    def transpose_(self, dim0, dim1) -> Tensor:
        return _become(self, self.transpose(dim0, dim1))

    swapaxes_ = swapdims_ = transpose_

    def multiply_(self, other) -> Tensor:
        return self.mul_(other)

    def divide_(self, other, *, rounding_mode=None) -> Tensor:
        return self.div_(other, rounding_mode=rounding_mode)

    def true_divide_(self, other) -> Tensor:
        return self.div_(other)

    def subtract_(self, other, *, alpha=1) -> Tensor:
        return self.sub_(other, alpha=alpha)

    # --- random fills ---------------------------------------------------------------------------
    def normal_(self, mean=0.0, std=1.0, *, generator=None) -> Tensor:
        """Fill in place with samples of N(mean, std^2)."""
        return _random_fill(self, "normal", (mean, std), generator)

    def uniform_(self, from_=0.0, to=1.0, *, generator=None) -> Tensor:
        """Fill in place with samples of U(from_, to)."""
        return _random_fill(self, "uniform", (from_, to), generator)

    def random_(self, from_=0, to=None, *, generator=None) -> Tensor:
        """Fill in place with integers in [from_, to) ([0, from_) when only one is given)."""
        return _random_fill(self, "integers", (from_, to), generator)

    def bernoulli_(self, p=0.5, *, generator=None) -> Tensor:
        """Fill in place with 1 (probability p) or 0."""
        return _random_fill(self, "bernoulli", (p,), generator)

    def exponential_(self, lambd=1.0, *, generator=None) -> Tensor:
        """Fill in place with samples of Exp(lambd)."""
        return _random_fill(self, "exponential", (lambd,), generator)

    def log_normal_(self, mean=1.0, std=2.0, *, generator=None) -> Tensor:
        """Fill in place with exp of N(mean, std^2) samples."""
        return _random_fill(self, "log_normal", (mean, std), generator)

    def cauchy_(self, median=0.0, sigma=1.0, *, generator=None) -> Tensor:
        """Fill in place with samples of Cauchy(median, sigma)."""
        return _random_fill(self, "cauchy", (median, sigma), generator)

    def geometric_(self, p, *, generator=None) -> Tensor:
        """Fill in place with the number of Bernoulli(p) trials to the first success."""
        return _random_fill(self, "geometric", (p,), generator)

    # --- the legacy type API --------------------------------------------------------------------
    def type(self, dtype=None, non_blocking: bool = False, **kwargs) -> str | Tensor:
        """No argument: the legacy type name ('torch.FloatTensor'); else a cast to a dtype or
        a legacy type (`x.type(tracejit.LongTensor)`, `x.type('torch.LongTensor')`)."""
        from tracejit.compat import legacy_type_dtype, legacy_type_name

        if dtype is None:
            return legacy_type_name(self.dtype)
        return self.to(legacy_type_dtype(dtype))

    def new(self, *args, device=None) -> Tensor:
        """Legacy: a tensor of self's dtype: new(2, 3) zeros, new([1, 2]) data, new() empty."""
        from tracejit.compat import legacy_new

        return legacy_new(self.dtype, args, device)

    # --- device and size attributes -------------------------------------------------------------
    def _false(self) -> bool:
        return False

    is_xpu = is_mps = is_sparse = is_quantized = is_meta = property(_false)

    @property
    def is_cpu(self) -> bool:
        return True

    def get_device(self) -> int:
        """-1: the tensor lives on the CPU."""
        return -1

    def data_ptr(self) -> int:
        """The address of the first element."""
        return int(self._data.__array_interface__["data"][0])

    def ndimension(self) -> int:
        return self._data.ndim

    @property
    def itemsize(self) -> int:
        return self._data.itemsize

    @property
    def nbytes(self) -> int:
        return int(self._data.nbytes)

    @property
    def layout(self) -> Layout:
        from tracejit.compat import strided

        return strided

    @property
    def mH(self) -> Tensor:
        return self.mT

    @property
    def H(self) -> Tensor:
        if self.ndim > 2:
            raise RuntimeError("tensor.H is only supported on matrices (2-D tensors). Got "
                               f"{self.ndim}-D tensor.")
        return self.T

    def is_signed(self) -> bool:
        return self.dtype.is_signed

    def is_same_size(self, other) -> bool:
        return self.shape == other.shape

    def is_inference(self) -> bool:
        return False

    def is_nonzero(self) -> bool:
        return bool(self)

    def dim_order(self) -> tuple[int, ...]:
        """The dims from outermost to innermost in memory (by stride)."""
        strides = self.stride()
        return tuple(sorted(range(self.ndim), key=lambda d: -strides[d]))
