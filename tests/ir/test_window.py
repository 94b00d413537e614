"""tracejit.ir.window: numpy conv2d, max_pool2d, avg_pool2d and their shape rules, against torch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracejit.ir.window import avg_pool2d, conv2d, conv2d_shape, max_pool2d, pool2d_shape

torch = pytest.importorskip("torch")
F = torch.nn.functional

KERNELS = [(1, 1), (3, 3), (2, 3), (5, 5)]
DTYPES = [np.float32, np.float64]
SIZES = [(9, 11), (8, 7)]


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def outcome(fn):
    """(result, None) if fn() returns, (None, exception class) if it raises."""
    try:
        return fn(), None
    except Exception as exc:  # the class is what is compared
        return None, type(exc)


def assert_matches(ours_fn, torch_fn, exact=False):
    """Same exception class as torch, or the same dtype, shape and values (within tolerance).

    Returns (our result, None) or (None, the exception class both raised).
    """
    expected, expected_exc = outcome(lambda: torch_fn().numpy())
    if expected_exc is not None:
        with pytest.raises(expected_exc):
            ours_fn()
        return None, expected_exc
    got = ours_fn()
    assert isinstance(got, np.ndarray)
    assert got.dtype == expected.dtype
    assert got.shape == expected.shape
    if exact or got.dtype.kind != "f":
        np.testing.assert_array_equal(got, expected)
    elif got.dtype == np.float32:
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    return got, None


def assert_same_exception(ours_fn, torch_fn):
    _, expected_exc = outcome(torch_fn)
    assert expected_exc is not None, "torch accepted this input"
    with pytest.raises(expected_exc):
        ours_fn()


def data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "i":
        return rng.integers(-50, 50, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------- conv2d


def check_conv(x, w, b, **kw):
    t = {k: torch.from_numpy(v) if v is not None else None for k, v in dict(x=x, w=w, b=b).items()}
    got, exc = assert_matches(
        lambda: conv2d(x, w, b, **kw),
        lambda: F.conv2d(t["x"], t["w"], t["b"], **kw),
    )
    b_shape = None if b is None else b.shape
    if exc is None:
        assert conv2d_shape(x.shape, w.shape, b_shape, **kw) == got.shape
    else:
        with pytest.raises(exc):
            conv2d_shape(x.shape, w.shape, b_shape, **kw)


# The grids check float32 and float64 inside each case, to keep the case count (and runtime) down.


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("groups", [1, 2, 3])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("batched", [True, False])
def test_conv2d_grid(batched, stride, padding, dilation, groups, kernel, bias):
    kw = dict(stride=pair(stride), padding=pair(padding), dilation=pair(dilation), groups=groups)
    for dtype in DTYPES:
        x = data((2, 6, 9, 11) if batched else (6, 9, 11), dtype, seed=1)
        w = data((6, 6 // groups, *kernel), dtype, seed=2)
        b = data((6,), dtype, seed=3) if bias else None
        check_conv(x, w, b, **kw)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "stride", "padding", "dilation", "groups"),
    [
        ((2, 4, 10, 7), (6, 2, 3, 2), (1, 2), (2, 0), (2, 1), 2),
        ((3, 10, 7), (6, 3, 1, 4), (3, 1), (0, 3), (1, 2), 1),
        ((1, 6, 5, 13), (6, 1, 3, 3), (2, 3), (1, 1), (1, 3), 6),  # depthwise
        ((2, 3, 32, 32), (6, 3, 5, 5), (1, 1), (0, 0), (1, 1), 1),  # LeNet conv1
        ((2, 8, 3, 3), (4, 8, 3, 3), (1, 1), (0, 0), (1, 1), 1),  # 1x1 output
        ((2, 4, 1, 1), (4, 2, 3, 3), (1, 1), (1, 1), (1, 1), 2),  # all but centre padded
    ],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_asymmetric(x_shape, w_shape, stride, padding, dilation, groups, dtype):
    x, w, b = data(x_shape, dtype, 4), data(w_shape, dtype, 5), data(w_shape[:1], dtype, 6)
    check_conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("groups", [1, 2])
def test_conv2d_integer(dtype, groups):
    x, w, b = (
        data((2, 4, 6, 5), dtype, 7),
        data((4, 4 // groups, 3, 2), dtype, 8),
        data((4,), dtype),
    )
    kw = dict(stride=(1, 2), padding=(1, 0), dilation=(1, 1), groups=groups)
    check_conv(x, w, b, **kw)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "padding"),
    [
        ((0, 3, 5, 5), (4, 3, 3, 3), (0, 0)),  # empty batch
        ((2, 0, 5, 5), (4, 0, 3, 3), (0, 0)),  # zero channels: torch gives 0 output channels
        ((0, 5, 5), (4, 0, 3, 3), (1, 1)),  # unbatched, zero channels
        ((0, 3, 0, 4), (4, 3, 1, 1), (1, 1)),  # empty batch and zero height
    ],
)
def test_conv2d_empty(x_shape, w_shape, padding):
    x, w = data(x_shape, np.float32), data(w_shape, np.float32)
    b = data(w_shape[:1], np.float32)
    check_conv(x, w, b, stride=(1, 1), padding=padding, dilation=(1, 1), groups=1)


CONV_ERRORS = [
    # (x_shape, w_shape, b_shape, stride, padding, dilation, groups)
    ((1, 5, 8, 8), (4, 3, 3, 3), None, 1, 0, 1, 2),  # channel mismatch with groups
    ((1, 2, 8, 8), (4, 3, 3, 3), (3,), 1, 0, 1, 1),  # channel mismatch and bad bias
    ((2, 8, 8), (4, 3, 3, 3), None, 1, 0, 1, 1),  # unbatched channel mismatch
    ((1, 6, 8, 8), (5, 3, 3, 3), None, 1, 0, 1, 2),  # groups do not divide out_channels
    ((1, 3, 8, 8), (2, 1, 3, 3), None, 1, 0, 1, 3),  # fewer out_channels than groups
    ((1, 3, 8, 8), (0, 3, 3, 3), None, 1, 0, 1, 1),  # zero out_channels
    ((1, 6, 8, 8), (4, 3, 3, 3), None, 1, 0, 1, 0),  # groups = 0
    ((1, 3, 4, 4), (4, 3, 5, 5), None, 1, 0, 1, 1),  # kernel larger than input
    ((1, 3, 4, 4), (4, 3, 3, 3), None, 1, 0, 2, 1),  # dilated kernel larger than input
    ((1, 3, 2, 9), (4, 3, 5, 3), None, 1, 1, 1, 1),  # larger than padded input in one dim
    ((1, 3, 0, 4), (4, 3, 1, 1), None, 1, 0, 1, 1),  # zero height
    ((1, 3, 4, 0), (4, 3, 1, 1), None, 1, 1, 1, 1),  # zero width, even when padded
    ((1, 3, 4, 4), (4, 3, 0, 3), None, 1, 0, 1, 1),  # zero kernel
    ((1, 3, 4, 4), (4, 3, 3, 3), (3,), 1, 0, 1, 1),  # bias too short
    ((1, 3, 4, 4), (4, 3, 3, 3), (4, 1), 1, 0, 1, 1),  # bias 2-d
    ((1, 3, 4, 4), (4, 3, 3, 3), (), 1, 0, 1, 1),  # bias 0-d
    ((3, 4), (4, 3, 3, 3), None, 1, 0, 1, 1),  # 2-d input
    ((1, 1, 3, 4, 4), (4, 3, 3, 3), None, 1, 0, 1, 1),  # 5-d input
    ((1, 3, 4, 4), (4, 3, 3), None, 1, 0, 1, 1),  # 3-d weight
    ((1, 3, 4, 4), (4, 3), None, 1, 0, 1, 1),  # 2-d weight
    ((1, 3, 4, 4), (4, 3, 3, 3, 1), None, 1, 0, 1, 1),  # 5-d weight
    ((1, 3, 4, 4), (4, 3, 3, 3), None, 0, 0, 1, 1),  # zero stride
    ((1, 3, 4, 4), (4, 3, 3, 3), None, -1, 0, 1, 1),  # negative stride
    ((1, 3, 4, 4), (4, 3, 3, 3), None, 1, -1, 1, 1),  # negative padding
    ((1, 3, 4, 4), (4, 3, 3, 3), None, 1, 0, 0, 1),  # zero dilation
    ((1, 3, 4, 4), (4, 3, 3, 3), None, 1, 0, -1, 1),  # negative dilation
]


@pytest.mark.parametrize(("x_shape", "w_shape", "b_shape", "s", "p", "d", "g"), CONV_ERRORS)
def test_conv2d_errors(x_shape, w_shape, b_shape, s, p, d, g):
    x, w = data(x_shape, np.float32), data(w_shape, np.float32)
    b = None if b_shape is None else data(b_shape, np.float32)
    kw = dict(stride=pair(s), padding=pair(p), dilation=pair(d), groups=g)
    torch_b = None if b is None else torch.from_numpy(b)

    def torch_fn():
        return F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch_b, **kw)

    assert_same_exception(lambda: conv2d_shape(x_shape, w_shape, b_shape, **kw), torch_fn)
    assert_same_exception(lambda: conv2d(x, w, b, **kw), torch_fn)


def test_conv2d_error_messages_name_shapes():
    kw = dict(stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=2)
    with pytest.raises(RuntimeError) as info:
        conv2d_shape((1, 5, 8, 8), (4, 3, 3, 3), None, **kw)
    assert str(info.value) == (
        "conv2d: expected input with 6 channels (weight (4, 3, 3, 3) with groups=2), "
        "got input of shape (1, 5, 8, 8)"
    )
    with pytest.raises(RuntimeError, match=r"\(1, 3, 4, 4\).*\(4, 3, 5, 5\)"):
        conv2d_shape((1, 3, 4, 4), (4, 3, 5, 5), None, **{**kw, "groups": 1})
    with pytest.raises(RuntimeError, match=r"bias of shape \(3,\)"):
        conv2d_shape((1, 3, 4, 4), (4, 3, 3, 3), (3,), **{**kw, "groups": 1})


# ---------------------------------------------------------------- pooling


def check_max_pool(x, **kw):
    got, exc = assert_matches(
        lambda: max_pool2d(x, **kw), lambda: F.max_pool2d(torch.from_numpy(x), **kw)
    )
    if exc is None:
        assert pool2d_shape(x.shape, **kw) == got.shape
    else:
        with pytest.raises(exc):
            pool2d_shape(x.shape, **kw)


def check_avg_pool(x, **kw):
    got, exc = assert_matches(
        lambda: avg_pool2d(x, **kw), lambda: F.avg_pool2d(torch.from_numpy(x), **kw)
    )
    if exc is None:
        shape_kw = {k: kw[k] for k in ("kernel_size", "stride", "padding", "ceil_mode")}
        assert pool2d_shape(x.shape, dilation=(1, 1), **shape_kw) == got.shape


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("batched", [True, False])
def test_max_pool2d_grid(batched, size, stride, padding, dilation, kernel, ceil_mode):
    # Padding beyond half the kernel is invalid: those cases check torch's exception class.
    kw = dict(
        kernel_size=kernel,
        stride=pair(stride),
        padding=pair(padding),
        dilation=pair(dilation),
        ceil_mode=ceil_mode,
    )
    for dtype in DTYPES:
        check_max_pool(data((2, 3, *size) if batched else (3, *size), dtype, seed=9), **kw)


@pytest.mark.parametrize("divisor_override", [None, 3])
@pytest.mark.parametrize("count_include_pad", [False, True])
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("batched", [True, False])
def test_avg_pool2d_grid(
    batched, size, stride, padding, kernel, ceil_mode, count_include_pad, divisor_override
):
    kw = dict(
        kernel_size=kernel,
        stride=pair(stride),
        padding=pair(padding),
        ceil_mode=ceil_mode,
        count_include_pad=count_include_pad,
        divisor_override=divisor_override,
    )
    for dtype in DTYPES:
        check_avg_pool(data((2, 3, *size) if batched else (3, *size), dtype, seed=10), **kw)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding"),
    [
        ((5, 9), (2, 2), (2, 2), (1, 1)),  # ceil mode drops a window starting in the padding
        ((9, 5), (3, 2), (2, 3), (1, 1)),
        ((6, 6), (4, 3), (3, 2), (2, 1)),
        ((1, 1), (2, 2), (2, 2), (1, 1)),
        ((7, 10), (5, 4), (4, 3), (2, 2)),
    ],
)
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_pool_ceil_mode_edges(size, kernel, stride, padding, ceil_mode):
    x = data((2, 2, *size), np.float64, 11)
    check_max_pool(
        x, kernel_size=kernel, stride=stride, padding=padding, dilation=(1, 1), ceil_mode=ceil_mode
    )
    check_max_pool(
        x, kernel_size=kernel, stride=stride, padding=padding, dilation=(2, 1), ceil_mode=ceil_mode
    )
    for cip in (False, True):
        for div in (None, 3):
            check_avg_pool(
                x,
                kernel_size=kernel,
                stride=stride,
                padding=padding,
                ceil_mode=ceil_mode,
                count_include_pad=cip,
                divisor_override=div,
            )


def test_max_pool2d_nan_and_inf():
    x = data((2, 3, 7, 8), np.float32, 12)
    x[0, 0, 0, 0] = np.nan
    x[0, 1, 3, 4] = np.nan
    x[1, 2, 6, 7] = np.nan
    x[1, 0, :3, :3] = -np.inf
    x[1, 1, 2, 2] = np.inf
    for kernel, stride, padding, ceil_mode in [
        ((2, 2), (2, 2), (0, 0), False),
        ((3, 3), (2, 2), (1, 1), True),
        ((3, 2), (1, 1), (1, 1), False),
    ]:
        kw = dict(
            kernel_size=kernel, stride=stride, padding=padding, dilation=(1, 1), ceil_mode=ceil_mode
        )
        got = max_pool2d(x, **kw)
        assert np.isnan(got).any()
        np.testing.assert_array_equal(got, F.max_pool2d(torch.from_numpy(x), **kw).numpy())


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_max_pool2d_integer_padding_never_wins(dtype):
    x = -np.abs(data((2, 3, 5, 6), dtype, 13)) - 1
    kw = dict(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(1, 1), ceil_mode=True)
    check_max_pool(x, **kw)


@pytest.mark.parametrize("divisor_override", [None, 3, -2])
@pytest.mark.parametrize("count_include_pad", [False, True])
def test_avg_pool2d_int64_truncates_like_torch(count_include_pad, divisor_override):
    x = data((2, 3, 7, 6), np.int64, 14)
    check_avg_pool(
        x,
        kernel_size=(3, 2),
        stride=(2, 2),
        padding=(1, 1),
        ceil_mode=True,
        count_include_pad=count_include_pad,
        divisor_override=divisor_override,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_pool_float_results_are_bitwise_torch(dtype):
    # Pooling sums in torch's order and divides in the input precision: results match exactly.
    x = data((4, 5, 13, 11), dtype, 15)
    for kernel, stride, padding in [((3, 3), (2, 2), (1, 1)), ((5, 4), (3, 1), (2, 2))]:
        assert_matches(
            lambda k=kernel, s=stride, p=padding: avg_pool2d(
                x,
                kernel_size=k,
                stride=s,
                padding=p,
                ceil_mode=True,
                count_include_pad=False,
                divisor_override=None,
            ),
            lambda k=kernel, s=stride, p=padding: F.avg_pool2d(
                torch.from_numpy(x),
                kernel_size=k,
                stride=s,
                padding=p,
                ceil_mode=True,
                count_include_pad=False,
            ),
            exact=True,
        )


POOL_ERRORS = [
    # (x_shape, kernel, stride, padding, dilation)
    ((1, 3, 4, 4), 5, 5, 0, 1),  # kernel larger than input
    ((1, 3, 4, 4), 2, 1, 0, 4),  # dilated kernel larger than input
    ((1, 3, 8, 8), 3, 1, 2, 1),  # padding more than half the kernel
    ((1, 3, 8, 8), (3, 4), 1, (2, 2), 1),  # ... in one dimension
    ((1, 3, 8, 8), 3, 1, 2, 2),  # ... even though the dilated kernel is wider
    ((1, 3, 4, 4), 2, 2, -1, 1),  # negative padding
    ((1, 3, 4, 4), 2, 0, 0, 1),  # zero stride
    ((1, 3, 4, 4), 2, -1, 0, 1),  # negative stride
    ((1, 3, 4, 4), (0, 2), 1, 0, 1),  # zero kernel
    ((1, 3, 4, 4), (-1, 2), 1, 0, 1),  # negative kernel
    ((1, 0, 4, 4), 2, 2, 0, 1),  # zero channels
    ((0, 4, 4), 2, 2, 0, 1),  # unbatched zero channels
    ((1, 3, 0, 4), 2, 2, 0, 1),  # zero height
    ((3, 4, 0), 2, 2, 0, 1),  # zero width
    ((1, 1, 3, 4, 4), 2, 2, 0, 1),  # 5-d
    ((4, 4), 2, 2, 0, 1),  # 2-d (IndexError for avg_pool2d in torch)
    ((4,), 2, 2, 0, 1),  # 1-d
]


@pytest.mark.parametrize(("x_shape", "kernel", "stride", "padding", "dilation"), POOL_ERRORS)
def test_pool_errors(x_shape, kernel, stride, padding, dilation):
    x = data(x_shape, np.float32)
    t = torch.from_numpy(x)
    kw = dict(kernel_size=pair(kernel), stride=pair(stride), padding=pair(padding), ceil_mode=False)
    max_kw = dict(kw, dilation=pair(dilation))

    assert_same_exception(
        lambda: pool2d_shape(x_shape, **max_kw), lambda: F.max_pool2d(t, **max_kw)
    )
    assert_same_exception(lambda: max_pool2d(x, **max_kw), lambda: F.max_pool2d(t, **max_kw))
    if dilation == 1:
        avg_kw = dict(kw, count_include_pad=True, divisor_override=None)
        assert_same_exception(lambda: avg_pool2d(x, **avg_kw), lambda: F.avg_pool2d(t, **avg_kw))


def test_avg_pool2d_zero_divisor():
    x = data((1, 2, 4, 4), np.float32)
    kw = dict(
        kernel_size=(2, 2),
        stride=(2, 2),
        padding=(0, 0),
        ceil_mode=False,
        count_include_pad=True,
        divisor_override=0,
    )
    assert_same_exception(
        lambda: avg_pool2d(x, **kw), lambda: F.avg_pool2d(torch.from_numpy(x), **kw)
    )


def test_pool_error_messages_name_parameters():
    with pytest.raises(RuntimeError, match=r"\(1, 3, 4, 4\).*kernel_size=\(5, 5\)"):
        pool2d_shape(
            (1, 3, 4, 4),
            kernel_size=(5, 5),
            stride=(5, 5),
            padding=(0, 0),
            dilation=(1, 1),
            ceil_mode=False,
        )
    with pytest.raises(RuntimeError, match=r"padding=\(2, 2\).*kernel_size=\(3, 3\)"):
        pool2d_shape(
            (1, 3, 8, 8),
            kernel_size=(3, 3),
            stride=(1, 1),
            padding=(2, 2),
            dilation=(1, 1),
            ceil_mode=False,
        )


# ---------------------------------------------------------------- random shapes, valid or not


small = st.integers(1, 3)


@settings(max_examples=150, deadline=None)
@given(
    batch=st.sampled_from([None, 0, 1, 2]),
    groups=small,
    in_per_group=st.integers(0, 2),
    out_per_group=st.integers(0, 2),
    size=st.tuples(st.integers(0, 9), st.integers(0, 9)),
    kernel=st.tuples(small, small),
    stride=st.tuples(small, small),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    dilation=st.tuples(small, small),
    bias=st.booleans(),
)
def test_conv2d_random(
    batch, groups, in_per_group, out_per_group, size, kernel, stride, padding, dilation, bias
):
    c = groups * in_per_group
    x_shape = (c, *size) if batch is None else (batch, c, *size)
    w_shape = (groups * out_per_group, in_per_group, *kernel)
    x, w = data(x_shape, np.float64, 16), data(w_shape, np.float64, 17)
    b = data(w_shape[:1], np.float64, 18) if bias else None
    check_conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)


@settings(max_examples=150, deadline=None)
@given(
    batch=st.sampled_from([None, 0, 2]),
    size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.tuples(small, small),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    dilation=st.tuples(small, small),
    ceil_mode=st.booleans(),
    count_include_pad=st.booleans(),
    divisor_override=st.sampled_from([None, 1, 3, -2]),
)
def test_pool2d_random(
    batch, size, kernel, stride, padding, dilation, ceil_mode, count_include_pad, divisor_override
):
    x = data((2, *size) if batch is None else (batch, 2, *size), np.float32, 19)
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)
    check_max_pool(x, dilation=dilation, **kw)
    check_avg_pool(x, count_include_pad=count_include_pad, divisor_override=divisor_override, **kw)
