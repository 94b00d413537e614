"""tracejit.nn.functional against torch.nn.functional (the oracle), on the same numpy inputs.

Each check calls the function of the same name in both libraries and compares dtype, shape and
values, or the exception class when torch rejects the arguments (torch's NotImplementedError for
a dtype it has no kernel for counts as the RuntimeError tracejit raises: NotImplementedError is
a RuntimeError in Python, and tracejit keeps NotImplementedError for features it lacks).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tracejit as tj
import tracejit.nn.functional as F

FLOATS = ("float32", "float64")
TOLERANCES = {"float32": (1e-5, 1e-6), "float64": (1e-10, 1e-12)}


# --- helpers ------------------------------------------------------------------------------------

def data(shape, dtype="float32", seed=0, scale=1.0) -> np.ndarray:
    rng = np.random.default_rng([seed, *shape])
    if dtype in ("int32", "int64"):
        return np.asarray(rng.integers(-5, 6, shape), dtype)
    return np.asarray(rng.standard_normal(shape) * scale, dtype)


def special(dtype) -> np.ndarray:
    """Values that trip up activations: signed zeros, infinities, NaN, large magnitudes."""
    return np.array([0.0, -0.0, 1e-4, -1e-4, 25.0, -25.0, 90.0, -90.0, np.inf, -np.inf, np.nan],
                    dtype=dtype)


def convert(lib, value):
    """numpy arrays (also inside tuples and lists) as fresh tensors of `lib`."""
    if isinstance(value, np.ndarray):
        return lib.tensor(value)
    if isinstance(value, (tuple, list)) and any(isinstance(v, np.ndarray) for v in value):
        return type(value)(convert(lib, v) for v in value)
    return value


def call(lib_functional, lib, name, args, kwargs):
    args = [convert(lib, a) for a in args]
    kwargs = {k: convert(lib, v) for k, v in kwargs.items()}
    return getattr(lib_functional, name)(*args, **kwargs)


def both(name, *args, **kwargs):
    """(tracejit result, torch result) of F.<name>(*args, **kwargs); both must succeed."""
    theirs = call(TF, torch, name, args, kwargs)
    return call(F, tj, name, args, kwargs), theirs


def assert_close(ours, theirs, rtol=None, atol=None):
    if isinstance(theirs, (tuple, list)):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_close(a, b, rtol, atol)
        return
    assert isinstance(ours, tj.Tensor), type(ours)
    name = str(theirs.dtype).removeprefix("torch.")
    assert ours.dtype.value == name, f"dtype {ours.dtype} != {theirs.dtype}"
    assert tuple(ours.shape) == tuple(theirs.shape), f"shape {ours.shape} != {theirs.shape}"
    expected = theirs.numpy()
    if name not in TOLERANCES:
        np.testing.assert_array_equal(ours.numpy(), expected)
        return
    default_rtol, default_atol = TOLERANCES[name]
    np.testing.assert_allclose(ours.numpy(), expected, equal_nan=True,
                               rtol=default_rtol if rtol is None else rtol,
                               atol=default_atol if atol is None else atol)


def check(name, *args, rtol=None, atol=None, **kwargs):
    ours, theirs = both(name, *args, **kwargs)
    assert_close(ours, theirs, rtol, atol)
    return ours, theirs


def check_warns(match: str, name, *args, **kwargs):
    """Like check, and both libraries warn with a message matching `match`."""
    with pytest.warns(UserWarning, match=match):
        theirs = call(TF, torch, name, args, kwargs)
    with pytest.warns(UserWarning, match=match):
        ours = call(F, tj, name, args, kwargs)
    assert_close(ours, theirs)


def error_class(exc: Exception) -> type:
    return RuntimeError if isinstance(exc, NotImplementedError) else type(exc)


def check_error(name, *args, **kwargs) -> Exception:
    """torch rejects F.<name>(*args, **kwargs); tracejit raises the same exception class."""
    with pytest.raises(Exception) as theirs:  # any class: ours must match it
        call(TF, torch, name, args, kwargs)
    with pytest.raises(error_class(theirs.value)) as ours:
        call(F, tj, name, args, kwargs)
    return ours.value


# --- activations --------------------------------------------------------------------------------

ACTIVATIONS = [
    ("relu", {}), ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {}),
    ("sigmoid", {}), ("tanh", {}), ("leaky_relu", {}), ("leaky_relu", {"negative_slope": 0.2}),
    ("elu", {}), ("elu", {"alpha": 0.5}), ("softplus", {}),
    ("softplus", {"beta": 2.0, "threshold": 5.0}), ("logsigmoid", {}), ("hardtanh", {}),
    ("hardtanh", {"min_val": -0.5, "max_val": 2.0}), ("relu6", {}),
]
INT_ACCEPTED = {"relu", "sigmoid", "tanh", "hardtanh", "relu6"}


@pytest.mark.parametrize(("name", "kwargs"), ACTIVATIONS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_activation_matches_torch(name, kwargs, dtype):
    check(name, data((3, 4, 5), dtype, scale=4.0), **kwargs)
    values = special(dtype)
    if name == "gelu":
        # torch's GELU of +-inf depends on the kernel path the element takes: the scalar tail
        # gives the limit (inf, -0), its AVX-512 vector body gives nan; ours is the limit.
        values = values[np.isfinite(values) | np.isnan(values)]
    check(name, values, **kwargs)


@pytest.mark.parametrize(("name", "kwargs"), ACTIVATIONS)
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_activation_on_integers_matches_torch(name, kwargs, dtype):
    x = data((4, 5), dtype)
    if name in INT_ACCEPTED:
        check(name, x, **kwargs)
    else:
        assert str(dtype) in str(check_error(name, x, **kwargs))


@pytest.mark.parametrize("name", ["relu", "silu", "leaky_relu", "elu", "hardtanh", "relu6"])
def test_inplace_activation_writes_the_input(name):
    x = data((3, 4), scale=3.0)
    ours, theirs = tj.tensor(x), torch.tensor(x)
    out_ours = getattr(F, name)(ours, inplace=True)
    out_theirs = getattr(TF, name)(theirs, inplace=True)
    assert out_ours is ours and out_theirs is theirs
    assert_close(ours, theirs)


def test_activation_argument_errors():
    exc = check_error("gelu", data((3,)), approximate="exact")
    assert str(exc) == "approximate argument must be either none or tanh."
    check_error("hardtanh", data((3,)), 1.0, -1.0)
    check_error("relu", np.array([True, False]))


@pytest.mark.filterwarnings("ignore:Implicit dimension choice")
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1, -1, None])
@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_matches_torch(name, dim, dtype):
    x = data((3, 4, 5), dtype, scale=5.0)
    check(name, x, dim)
    check(name, data((2, 6), dtype), dim)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_dtype_argument_and_integer_input(name):
    x = data((3, 4), "int64")
    ours = getattr(F, name)(tj.tensor(x), 1, dtype=tj.float64)
    theirs = getattr(TF, name)(torch.tensor(x), 1, dtype=torch.float64)
    assert_close(ours, theirs)
    check_error(name, x, 1)


# --- linear and convolution ---------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,)])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("dtype", [*FLOATS, "int32", "int64"])
def test_linear_matches_torch(shape, bias, dtype):
    w, b = data((6, 4), dtype, 1), data((6,), dtype, 2)
    check("linear", data(shape, dtype), w, b if bias else None)


def test_linear_errors():
    check_error("linear", data((5, 3)), data((6, 4)))
    check_error("linear", data((5, 4)), data((6, 4), "float64"))
    check_error("linear", data((5, 4)), data((6, 4)), data((7,)))


CONV_CASES = [
    {},
    {"stride": 2},
    {"stride": (2, 1), "padding": (1, 2)},
    {"padding": 1, "dilation": 2},
    {"padding": "valid"},
    {"padding": "same"},
    {"padding": "same", "dilation": (2, 1)},
    {"groups": 2, "padding": 1},
    {"stride": (3,), "dilation": [1]},
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("kwargs", CONV_CASES)
@pytest.mark.parametrize("kernel", [(3, 3), (2, 4)])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
def test_conv2d_matches_torch(kwargs, kernel, bias, dtype):
    w, b = data((6, 2, *kernel), dtype, 1), data((6,), dtype, 2)
    x = data((2, 2 * kwargs.get("groups", 1), 9, 8), dtype)
    check("conv2d", x, w, b if bias else None, rtol=1e-5, atol=1e-5, **kwargs)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_conv2d_same_padding_on_unbatched_input_with_even_kernel():
    x, w = data((3, 7, 6), "float64"), data((4, 3, 4, 2), "float64", 1)
    check("conv2d", x, w, padding="same", dilation=(1, 3))


def test_conv2d_errors():
    x, w = data((1, 2, 6, 6)), data((3, 2, 3, 3), seed=1)
    assert str(check_error("conv2d", x, w, stride=2, padding="same")) == (
        "padding='same' is not supported for strided convolutions"
    )
    assert str(check_error("conv2d", x, w, padding="full")) == "Invalid padding string: 'full'"
    check_error("conv2d", x, w, stride=(1, 2, 3))
    check_error("conv2d", x, data((3, 3, 3, 3)))
    check_error("conv2d", x, data((3, 2, 3, 3), "float64"))


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
@pytest.mark.parametrize("name, kwargs", [
    ("conv2d", {"padding": 1}), ("max_pool2d", {"kernel_size": 2}),
    ("avg_pool2d", {"kernel_size": 2}),
])
def test_integer_windows_follow_torch(name, kwargs, dtype):
    # torch 2.13's CPU kernels: int conv2d and max_pool2d, int64-only avg_pool2d, no bool.
    x = np.arange(50).reshape(1, 2, 5, 5) % 7
    args = (x,) if name != "conv2d" else (x, np.arange(54).reshape(3, 2, 3, 3) % 5 - 2)
    args = tuple(a.astype(dtype) for a in args)
    try:
        want = getattr(torch.nn.functional, name)(*map(torch.from_numpy, args), **kwargs)
    except (RuntimeError, NotImplementedError):
        with pytest.raises(RuntimeError, match=f"{name}: {dtype} tensors are not supported"):
            getattr(F, name)(*map(tj.tensor, args), **kwargs)
        return
    got = getattr(F, name)(*map(tj.tensor, args), **kwargs)
    assert str(got.dtype) == str(want.dtype).replace("torch", "tracejit")
    np.testing.assert_array_equal(got.numpy(), want.numpy())


# --- pooling ------------------------------------------------------------------------------------

POOL_WINDOWS = [
    {"kernel_size": 2},
    {"kernel_size": (3, 2), "stride": 1},
    {"kernel_size": 3, "stride": (2, 1), "padding": 1},
    {"kernel_size": [3], "stride": [], "padding": (1, 0), "ceil_mode": True},
    {"kernel_size": 2, "stride": 3, "ceil_mode": True},
]


@pytest.mark.parametrize("window", POOL_WINDOWS)
@pytest.mark.parametrize("dilation", [1, (2, 1)])
@pytest.mark.parametrize("dtype", FLOATS)
def test_max_pool2d_matches_torch(window, dilation, dtype):
    check("max_pool2d", data((2, 3, 9, 8), dtype), dilation=dilation, **window)
    check("max_pool2d", data((3, 7, 7), dtype), dilation=dilation, **window)


@pytest.mark.parametrize("window", POOL_WINDOWS)
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("divisor_override", [None, 5])
@pytest.mark.parametrize("dtype", FLOATS)
def test_avg_pool2d_matches_torch(window, count_include_pad, divisor_override, dtype):
    kwargs = {"count_include_pad": count_include_pad, "divisor_override": divisor_override}
    check("avg_pool2d", data((2, 3, 9, 8), dtype), **window, **kwargs)
    check("avg_pool2d", data((3, 7, 7), dtype), **window, **kwargs)


def test_pool_errors():
    x = data((1, 2, 6, 6))
    for name in ("max_pool2d", "avg_pool2d"):
        assert str(check_error(name, x, (1, 2, 3))) == (
            f"{name}: kernel_size must either be a single int, or a tuple of two ints"
        )
        check_error(name, x, 2, (1, 2, 3))
        check_error(name, x, 2, 2, (1, 1, 1))
        check_error(name, x, 2, 2, 2)  # padding above half the kernel
    check_error("max_pool2d", x, 2, 2, 0, (1, 2, 3))
    check_error("max_pool2d", data((6, 6)), 2)


def test_max_pool2d_return_indices_matches_torch():
    x = data((1, 2, 5, 4))
    values, indices = F.max_pool2d(tj.tensor(x), 2, return_indices=True)
    t_values, t_indices = TF.max_pool2d(torch.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(values.numpy(), t_values.numpy())
    np.testing.assert_array_equal(indices.numpy(), t_indices.numpy())


@pytest.mark.parametrize("size", [1, 2, 3, (2, None), (3, 5), (4, 3), (9, 8), (0, 2)])
@pytest.mark.parametrize("dtype", FLOATS)
def test_adaptive_avg_pool2d_matches_torch(size, dtype):
    check("adaptive_avg_pool2d", data((2, 3, 9, 8), dtype), size)
    check("adaptive_avg_pool2d", data((3, 7, 5), dtype), size)


def test_adaptive_avg_pool2d_errors():
    check_error("adaptive_avg_pool2d", data((4, 4)), 2)
    check_error("adaptive_avg_pool2d", data((1, 1, 4, 4)), (1, 2, 3))
    check_error("adaptive_avg_pool2d", data((1, 1, 4, 4), "int64"), 2)


# --- normalization ------------------------------------------------------------------------------

@pytest.mark.parametrize("normalized_shape", [(5,), [4, 5], (3, 4, 5)])
@pytest.mark.parametrize("affine", ["none", "weight", "bias", "both"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_layer_norm_matches_torch(normalized_shape, affine, dtype):
    shape = tuple(normalized_shape)
    w = data(shape, dtype, 1) if affine in ("weight", "both") else None
    b = data(shape, dtype, 2) if affine in ("bias", "both") else None
    check("layer_norm", data((2, 3, 4, 5), dtype, scale=3.0), normalized_shape, w, b)
    check("layer_norm", data((3, 4, 5), dtype), normalized_shape, w, b, eps=0.1)


def test_layer_norm_errors():
    x = data((2, 3, 4))
    assert str(check_error("layer_norm", x, [5])) == (
        "Given normalized_shape=[5], expected input with shape [*, 5], but got input of "
        "size[2, 3, 4]"
    )
    check_error("layer_norm", x, [2, 3, 4, 5])
    check_error("layer_norm", x, [4], data((3,)))
    check_error("layer_norm", x, [4], None, data((2, 2)))
    check_error("layer_norm", x, 4)
    check_error("layer_norm", x, [])
    check_error("layer_norm", data((2, 3, 4), "int64"), [4])
    check_error("layer_norm", x, [4], data((4,), "float64"))


BATCH_NORM_SHAPES = [(8, 3), (4, 3, 5), (2, 3, 4, 5)]


def batch_norm_args(dtype, affine):
    stats = (data((3,), dtype, 1), np.abs(data((3,), dtype, 2)) + 0.5)
    params = (data((3,), dtype, 3), data((3,), dtype, 4)) if affine else (None, None)
    return stats, params


@pytest.mark.parametrize("shape", BATCH_NORM_SHAPES)
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
def test_batch_norm_eval_matches_torch(shape, affine, dtype):
    (mean, var), (w, b) = batch_norm_args(dtype, affine)
    check("batch_norm", data(shape, dtype, scale=2.0), mean, var, w, b, eps=1e-3)


@pytest.mark.parametrize("shape", BATCH_NORM_SHAPES)
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("momentum", [0.1, 0.3])
@pytest.mark.parametrize("dtype", FLOATS)
def test_batch_norm_training_matches_torch_and_updates_running_stats(shape, affine, momentum,
                                                                     dtype):
    (mean, var), (w, b) = batch_norm_args(dtype, affine)
    x = data(shape, dtype, scale=2.0) + 1.5
    lib_args = {
        lib: [lib.tensor(a) if a is not None else None for a in (x, mean, var, w, b)]
        for lib in (tj, torch)
    }
    ours = F.batch_norm(*lib_args[tj], training=True, momentum=momentum)
    theirs = TF.batch_norm(*lib_args[torch], training=True, momentum=momentum)
    assert_close(ours, theirs)
    assert_close(lib_args[tj][1], lib_args[torch][1])  # running_mean, updated in place
    assert_close(lib_args[tj][2], lib_args[torch][2])  # running_var (unbiased), in place
    assert not np.allclose(lib_args[tj][2].numpy(), var)


def test_batch_norm_training_without_running_stats():
    check("batch_norm", data((6, 3, 2)), None, None, training=True)


def test_batch_norm_errors():
    x, stats = data((4, 3)), (data((3,)), np.ones(3, np.float32))
    exc = check_error("batch_norm", data((1, 3, 1, 1)), *stats, training=True)
    assert str(exc).startswith("Expected more than 1 value per channel when training")
    assert str(check_error("batch_norm", x, None, None)) == (
        "running_mean must be defined in evaluation mode"
    )
    check_error("batch_norm", x, stats[0], None)
    check_error("batch_norm", x, data((4,)), np.ones(4, np.float32))
    check_error("batch_norm", x, *stats, data((2,)))
    check_error("batch_norm", data((3,)), *stats)
    check_error("batch_norm", data((4, 3), "int64"), *stats)
    check_error("batch_norm", x, data((3,), "float64"), np.ones(3))


# --- embedding, dropout, pad, one_hot -----------------------------------------------------------

@pytest.mark.parametrize("index_shape", [(5,), (2, 3), ()])
@pytest.mark.parametrize("index_dtype", ["int64", "int32"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_embedding_matches_torch(index_shape, index_dtype, dtype):
    index = np.random.default_rng(1).integers(0, 10, index_shape).astype(index_dtype)
    check("embedding", index, data((10, 4), dtype))
    check("embedding", index, data((10, 4), dtype), padding_idx=3)
    check("embedding", index, data((10, 4), dtype), padding_idx=-2)


def test_embedding_errors():
    index, weight = np.array([1, 2]), data((5, 3))
    check_error("embedding", np.array([1.0]), weight)
    check_error("embedding", index, data((5,)))
    check_error("embedding", index, weight, padding_idx=5)
    check_error("embedding", index, weight, padding_idx=-6)
    check_error("embedding", np.array([5]), weight)
    with pytest.raises(NotImplementedError, match="max_norm"):
        F.embedding(tj.tensor(index), tj.tensor(weight), max_norm=1.0)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("dtype", FLOATS)
def test_dropout_zeroes_a_fraction_p_and_scales_the_rest(p, dtype):
    tj.manual_seed(0)
    torch.manual_seed(0)
    x = np.abs(data((400, 500), dtype)) + 0.5
    out = F.dropout(tj.tensor(x), p).numpy()
    assert out.dtype == x.dtype and out.shape == x.shape
    dropped = out == 0
    assert abs(dropped.mean() - p) < 0.005
    np.testing.assert_allclose(out[~dropped], x[~dropped] / (1 - p), rtol=1e-6)
    # the torch twin: same statistics
    theirs = TF.dropout(torch.tensor(x), p).numpy()
    assert abs(dropped.mean() - (theirs == 0).mean()) < 0.01


def test_dropout_edge_probabilities_and_modes():
    x = np.array([np.nan, 1.0, -2.0, np.inf], np.float32)
    ours = tj.tensor(x)
    assert F.dropout(ours, 0.0) is ours
    assert F.dropout(ours, 0.7, training=False) is ours
    check("dropout", x, 1.0)  # zeros, NaN * 0 and inf * 0 stay NaN
    y = tj.tensor(np.ones((50, 40), np.float32))
    assert F.dropout(y, 0.5, inplace=True) is y
    assert set(np.unique(y.numpy())) == {0.0, 2.0}
    tj.manual_seed(7)
    first = F.dropout(tj.ones(100), 0.5).numpy()
    tj.manual_seed(7)
    np.testing.assert_array_equal(F.dropout(tj.ones(100), 0.5).numpy(), first)


def test_dropout_errors():
    assert str(check_error("dropout", data((3,)), 1.5)) == (
        "dropout probability has to be between 0 and 1, but got 1.5"
    )
    check_error("dropout", data((3,)), -0.1)
    check_error("dropout", data((3,), "int64"), 0.5)
    check("dropout", data((3,), "int64"), 0.5, training=False)


PAD_CASES = [
    ((3, 4), (1, 2), "constant", None),
    ((3, 4), (1, 2, 0, 3), "constant", 2.5),
    ((2, 3, 4), (-1, 2, 1, -2), "constant", -1.0),
    ((2, 3, 4), (1, 1, 2, 0, 1, 1), "constant", None),
    ((3, 5), (2, 3), "reflect", None),
    ((2, 3, 5), (2, 1, 1, 2), "reflect", None),
    ((2, 3, 4, 5), (1, 2, 2, 1, 0, 1), "reflect", 0.0),
    ((2, 3, 5), (4, 0), "replicate", None),
    ((2, 2, 3, 5), (1, 2, 3, 1), "replicate", None),
    ((2, 3, 5), (5, 2), "circular", None),
    ((2, 2, 3, 5), (1, 2, 3, 0), "circular", None),
]


@pytest.mark.parametrize(("shape", "pads", "mode", "value"), PAD_CASES)
@pytest.mark.parametrize("dtype", [*FLOATS, "int64"])
def test_pad_matches_torch(shape, pads, mode, value, dtype):
    check("pad", data(shape, dtype), pads, mode=mode, value=value)


def test_pad_constant_value_on_integer_and_bool_tensors():
    check("pad", data((2, 3), "int32"), [1, 1], value=2.7)
    check("pad", np.array([[True, False]]), (1, 0), value=True)
    check("pad", np.array(1.5, np.float32), ())


def test_pad_errors():
    x = data((2, 3, 4))
    assert str(check_error("pad", x, (1,))) == "Padding length must be divisible by 2"
    check_error("pad", x, (1,) * 8)
    check_error("pad", x, (1, 1), mode="wrap")
    exc = check_error("pad", data((4,)), (1, 1), mode="reflect")
    assert str(exc).startswith("Padding size 2 is not supported for 1D input tensor.")
    check_error("pad", x, (1, 1, 1, 1, 1, 1), mode="replicate")
    check_error("pad", x, (4, 0), mode="reflect")
    check_error("pad", x, (5, 0), mode="circular")
    check_error("pad", x, (1, 1), mode="reflect", value=1.0)
    check_error("pad", x, (-3, -2))


@pytest.mark.parametrize("num_classes", [-1, 4, 7])
def test_one_hot_matches_torch(num_classes):
    check("one_hot", np.array([0, 3, 1, 1]), num_classes)
    check("one_hot", np.array([[2, 0], [1, 3]]), num_classes)
    check("one_hot", np.array(2), num_classes)
    check("one_hot", np.zeros((0, 2), np.int64), 5)


def test_one_hot_errors():
    exc = check_error("one_hot", np.array([1.0]))
    assert str(exc) == "one_hot is only applicable to index tensor of type LongTensor."
    check_error("one_hot", np.array([1], np.int32))
    check_error("one_hot", np.array([-1, 0]))
    check_error("one_hot", np.array([3]), 3)
    check_error("one_hot", np.zeros(0, np.int64))


# --- losses -------------------------------------------------------------------------------------

def targets(shape, classes, seed=0, ignore=-100):
    t = np.random.default_rng(seed).integers(0, classes, shape)
    t.reshape(-1)[:: 4] = ignore
    return t


REDUCTIONS = ["none", "mean", "sum"]
CLASS_CASES = [((6, 5), (6,)), ((2, 5, 3, 4), (2, 3, 4)), ((3, 5, 4), (3, 4)), ((5,), ())]


@pytest.mark.parametrize(("shape", "target_shape"), CLASS_CASES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
def test_cross_entropy_class_indices_matches_torch(shape, target_shape, reduction, weighted,
                                                   dtype):
    x, w = data(shape, dtype, scale=2.0), np.abs(data((5,), dtype, 1)) if weighted else None
    for smoothing in (0.0, 0.25):
        check("cross_entropy", x, targets(target_shape, 5), w, reduction=reduction,
              label_smoothing=smoothing)
        check("cross_entropy", x, targets(target_shape, 5, ignore=2), w, ignore_index=2,
              reduction=reduction, label_smoothing=smoothing)


@pytest.mark.parametrize("shape", [(6, 5), (2, 5, 3, 4), (5,)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
def test_cross_entropy_class_probabilities_matches_torch(shape, reduction, weighted, dtype):
    x, w = data(shape, dtype, scale=2.0), np.abs(data((5,), dtype, 1)) if weighted else None
    probs = torch.softmax(torch.tensor(data(shape, dtype, 3)), dim=0 if len(shape) == 1 else 1)
    for smoothing in (0.0, 0.3):
        check("cross_entropy", x, probs.numpy(), w, reduction=reduction,
              label_smoothing=smoothing)


def test_cross_entropy_edge_cases():
    x = data((4, 3))
    check("cross_entropy", x, np.full(4, -100))  # every target ignored: NaN, like torch
    check("cross_entropy", x, np.full(4, -100), label_smoothing=0.1)
    check("cross_entropy", data((0, 3)), np.zeros(0, np.int64))
    check("cross_entropy", data((0, 3)), np.zeros(0, np.int64), reduction="sum")
    check("cross_entropy", data((5,)), np.array([1]), reduction="none")
    for legacy in ({"size_average": False}, {"reduce": False}):
        check_warns("size_average and reduce args will be deprecated", "cross_entropy", x,
                    np.array([0, 2, 1, 2]), **legacy)
    # float32 logits, float64 targets: a float64 loss from float32 log-probabilities
    check("cross_entropy", x, data((4, 3), "float64", 1), rtol=1e-6)
    x[1, 2] = -np.inf
    check("cross_entropy", x, np.array([0, 2, 1, 2]), reduction="none")


def test_cross_entropy_errors():
    x = data((4, 3))
    exc = check_error("cross_entropy", x, np.array([0, 1, 2]))
    assert str(exc) == "Expected input batch_size (4) to match target batch_size (3)."
    assert str(check_error("cross_entropy", x, np.array([0, 1, 2, 0]), reduction="avg")) == (
        "avg is not a valid value for reduction"
    )
    exc = check_error("cross_entropy", data((2, 3, 4)), np.zeros((2, 5), np.int64))
    assert str(exc) == "Expected target size [2, 4], got [2, 5]"
    check_error("cross_entropy", x, np.zeros((4, 2), np.int64))
    check_error("cross_entropy", x, np.zeros(4, np.float32))
    check_error("cross_entropy", x, np.zeros(4, np.int32))
    check_error("cross_entropy", x, np.zeros((4, 3), np.int64))
    check_error("cross_entropy", x, np.zeros((4, 3), np.float32), ignore_index=1)
    check_error("cross_entropy", x, np.zeros(4, np.int64), np.ones(2, np.float32))
    check_error("cross_entropy", x, np.zeros(4, np.int64), np.ones((1, 3), np.float32))
    check_error("cross_entropy", x, np.zeros(4, np.int64), np.ones(3))
    check_error("cross_entropy", x, np.zeros(4, np.int64), label_smoothing=1.5)
    check_error("cross_entropy", data((4, 3), "int64"), np.zeros(4, np.int64))


def test_cross_entropy_out_of_range_target_raises():
    # torch raises IndexError ("Target 3 is out of bounds."); tracejit's gather op raises
    # RuntimeError, as torch.gather does.
    for bad in (3, -1):
        with pytest.raises(RuntimeError, match="out of bounds"):
            F.cross_entropy(tj.tensor(data((4, 3))), tj.tensor([0, bad, 1, 2]))


@pytest.mark.parametrize(("shape", "target_shape"), CLASS_CASES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_matches_torch(shape, target_shape, reduction, weighted):
    logp = torch.log_softmax(torch.tensor(data(shape, "float64")), 0 if len(shape) == 1 else 1)
    w = np.abs(data((5,), "float64", 1)) if weighted else None
    check("nll_loss", logp.numpy(), targets(target_shape, 5), w, reduction=reduction)
    check("nll_loss", logp.numpy(), targets(target_shape, 5, ignore=0), w, ignore_index=0,
          reduction=reduction)


def test_nll_loss_errors():
    check_error("nll_loss", data(()), np.array(0))
    check_error("nll_loss", data((5,)), np.array([1, 2]))
    check_error("nll_loss", data((2, 3)), np.array(0))
    check_error("nll_loss", data((2, 3, 4)), np.zeros(2, np.int64))
    check_error("nll_loss", data((4, 3)), data((4, 3)))
    check_error("nll_loss", data((4, 3)), np.zeros(4, np.int64), reduction="mean ")


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_pointwise_losses_match_torch(name, reduction, dtype):
    x, y = data((3, 4, 5), dtype), data((3, 4, 5), dtype, 1)
    check(name, x, y, reduction=reduction)
    check(name, x, y, reduction=reduction, weight=np.abs(data((3, 4, 5), dtype, 2)))
    check(name, x, data((3, 4, 5), "float64", 1), reduction=reduction)
    check(name, data((0,), dtype), data((0,), dtype), reduction=reduction)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_pointwise_losses_broadcast_with_torchs_warning(name):
    check_warns("different to the input size", name, data((2, 3)), data((3,), seed=1))


@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_l1_loss_on_integers_matches_torch(reduction):
    check("l1_loss", data((3, 4), "int64"), data((3, 4), "int64", 1), reduction=reduction)
    check_error("mse_loss", data((3, 4), "int64"), data((3, 4), "int64", 1), reduction=reduction)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_pointwise_loss_errors(name):
    check_error(name, data((2, 3)), data((2, 3)), reduction="max")
    check_error(name, data((3,), "int64"), data((3,), "int64"))
    check_error(name, data((3,)), data((3,)), weight=data((1,)))
    with pytest.warns(UserWarning):
        check_error(name, data((2, 3)), data((4,)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_binary_cross_entropy_matches_torch(reduction, dtype):
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (4, 5)).astype(dtype)
    x[0, :2] = (0.0, 1.0)  # log clamps at -100 like torch
    t = rng.uniform(0, 1, (4, 5)).astype(dtype)
    check("binary_cross_entropy", x, t, reduction=reduction)
    check("binary_cross_entropy", x, t, data((5,), dtype, 1), reduction=reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", FLOATS)
def test_binary_cross_entropy_with_logits_matches_torch(reduction, dtype):
    x = data((4, 5), dtype, scale=10.0)
    x[0, :3] = (80.0, -80.0, 0.0)
    t = np.random.default_rng(4).uniform(0, 1, (4, 5)).astype(dtype)
    w, pos = np.abs(data((5,), dtype, 1)), np.abs(data((5,), dtype, 2))
    check("binary_cross_entropy_with_logits", x, t, reduction=reduction)
    check("binary_cross_entropy_with_logits", x, t, w, reduction=reduction, pos_weight=pos)


def test_binary_cross_entropy_errors():
    check_error("binary_cross_entropy", data((2, 3)), data((3,)))
    check_error("binary_cross_entropy", data((3,)), data((3,), "float64"))
    check_error("binary_cross_entropy", data((3,), "int64"), data((3,), "int64"))
    check_error("binary_cross_entropy_with_logits", data((2, 3)), data((3,)))
    check_error("binary_cross_entropy_with_logits", data((3,), "int64"), data((3,), "int64"))
    check_error("binary_cross_entropy_with_logits", data((3,)), data((3,), "int64"))


@pytest.mark.parametrize("p", [2.0, 1.0, math.inf, 3])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("dtype", FLOATS)
def test_normalize_matches_torch(p, dim, dtype):
    x = data((3, 4, 5), dtype)
    x[0] = 0.0  # the eps floor
    check("normalize", x, p, dim)


def test_normalize_errors():
    check_error("normalize", data((3,)))
    check_error("normalize", data((2, 3), "int64"))


# --- attention ----------------------------------------------------------------------------------

def qkv(dtype, batch=(2, 4), length=5, source=6, embed=8, value_embed=7):
    return (data((*batch, length, embed), dtype, 1), data((*batch, source, embed), dtype, 2),
            data((*batch, source, value_embed), dtype, 3))


def bool_mask(shape, seed=0):
    return np.random.default_rng(seed).uniform(size=shape) < 0.7


@pytest.mark.parametrize("batch", [(2, 4), (3,), ()])
@pytest.mark.parametrize("dtype", FLOATS)
def test_sdpa_matches_torch(batch, dtype):
    q, k, v = qkv(dtype, batch)
    check("scaled_dot_product_attention", q, k, v)
    check("scaled_dot_product_attention", q, k, v, scale=0.3)
    check("scaled_dot_product_attention", q, k, v, is_causal=True)
    check("scaled_dot_product_attention", q, k, v, attn_mask=bool_mask((5, 6)))
    check("scaled_dot_product_attention", q, k, v, attn_mask=data((5, 6), dtype, 9))
    check("scaled_dot_product_attention", q, k, v, attn_mask=bool_mask((*batch, 5, 6), 1))


@pytest.mark.parametrize("dtype", FLOATS)
def test_sdpa_broadcasting_causal_and_grouped_heads(dtype):
    q, k, v = qkv(dtype)
    check("scaled_dot_product_attention", q, k[:1], v[:1])
    check("scaled_dot_product_attention", q, k[:, :1], v[:, :1],
          attn_mask=data((2, 1, 5, 6), dtype))
    check("scaled_dot_product_attention", q[None], k[None], v[None])
    check("scaled_dot_product_attention", q, k[0], v[0])
    check("scaled_dot_product_attention", q, k[:, :2], v[:, :2], enable_gqa=True)
    check("scaled_dot_product_attention", q[0], k[0, :1], v[0, :2], enable_gqa=True)
    long_q = data((2, 4, 9, 8), dtype, 4)
    check("scaled_dot_product_attention", long_q, k, v, is_causal=True)


def test_sdpa_fully_masked_rows_give_zeros_like_torch():
    q, k, v = qkv("float32")
    mask = bool_mask((5, 6))
    mask[1] = False
    ours, _ = check("scaled_dot_product_attention", q, k, v, attn_mask=mask)
    assert not ours[:, :, 1].numpy().any()
    float_mask = np.zeros((5, 6), np.float32)
    float_mask[2] = -np.inf
    check("scaled_dot_product_attention", q, k, v, attn_mask=float_mask)


def test_sdpa_dropout_keeps_rows_stochastic_on_average():
    tj.manual_seed(0)
    q, k, _ = qkv("float64", (20, 10), 30, 40)
    v = np.ones((20, 10, 40, 3))
    out = F.scaled_dot_product_attention(*(tj.tensor(a) for a in (q, k, v)), dropout_p=0.4)
    assert abs(out.numpy().mean() - 1.0) < 0.02
    assert out.numpy().std() > 0.1


def test_sdpa_errors():
    q, k, v = qkv("float32")
    check_error("scaled_dot_product_attention", q, k.astype("float64"), v)
    check_error("scaled_dot_product_attention", q, k, v, attn_mask=bool_mask((5, 6)),
                is_causal=True)
    check_error("scaled_dot_product_attention", q, k, v, attn_mask=data((5, 6), "float64"))
    check_error("scaled_dot_product_attention", q, k, v, attn_mask=np.ones((5, 6), np.int64))
    check_error("scaled_dot_product_attention", q, k, v, attn_mask=bool_mask((5, 7)))
    check_error("scaled_dot_product_attention", q, k, v, attn_mask=bool_mask((3, 2, 4, 5, 6)))
    check_error("scaled_dot_product_attention", q[0, 0, 0], k[0, 0, 0], v[0, 0, 0])
    check_error("scaled_dot_product_attention", q, k[..., :7], v)
    check_error("scaled_dot_product_attention", q, k, v[..., :5, :])
    check_error("scaled_dot_product_attention", q, k[:, :3], v[:, :3], enable_gqa=True)
    check_error("scaled_dot_product_attention", q, k[:, :2], v[:, :2])
    check_error("scaled_dot_product_attention", *(a.astype("int64") for a in (q, k, v)))
