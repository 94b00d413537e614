"""tracejit.nn.functional's convolution, pooling, interpolation, sampling and loss functions and
the layers with special behaviour (running statistics, indices, lazy materialization, random
masks) against torch 2.13."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from layer_twins import assert_close, positive, run_twins, sample, twins

import tracejit as tj
from tracejit import nn
from tracejit.nn import functional as F

# --- functional sweeps --------------------------------------------------------------------------

CONV_SWEEP = [(1, 1, 0, 1, 1, 0), (2, 2, 1, 1, 2, 1), (3, 3, 2, 2, 1, 0), (1, 2, 0, 1, 2, 1),
              (2, 1, 3, 2, 1, 1)]


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("stride,padding,dilation,groups,output_padding",
                         [c[1:] for c in CONV_SWEEP])
def test_functional_conv_transpose_sweep(dims, stride, padding, dilation, groups,
                                         output_padding):
    if output_padding >= max(stride, dilation):
        output_padding = 0
    x, w, b = sample(2, 4, *(5,) * dims), sample(4, 3, *(3,) * dims, seed=1), sample(3 * groups)
    name = f"conv_transpose{dims}d"
    ours = getattr(F, name)(tj.tensor(x), tj.tensor(w), tj.tensor(b), stride, padding,
                            output_padding, groups, dilation)
    theirs = getattr(torch.nn.functional, name)(torch.tensor(x), torch.tensor(w),
                                                torch.tensor(b), stride, padding,
                                                output_padding, groups, dilation)
    assert_close(ours, theirs, "float32")
    if dims == 2:
        return
    name = f"conv{dims}d"
    w = sample(6, 4 // groups, *(3,) * dims, seed=2)
    x = sample(2, 4, *(7,) * dims)
    ours = getattr(F, name)(tj.tensor(x), tj.tensor(w), None, stride, padding, dilation, groups)
    theirs = getattr(torch.nn.functional, name)(torch.tensor(x), torch.tensor(w), None, stride,
                                                padding, dilation, groups)
    assert_close(ours, theirs, "float32")


INTERPOLATE_MODES = [("nearest", None), ("nearest-exact", None), ("bilinear", False),
                     ("bilinear", True), ("bicubic", False), ("bicubic", True), ("area", None)]
INTERPOLATE_SIZES = [{"size": (9, 4)}, {"scale_factor": 2}, {"scale_factor": (1.5, 0.7)},
                     {"scale_factor": 1.7, "recompute_scale_factor": True}, {"size": 1},
                     {"scale_factor": 0.5}]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode,align_corners", INTERPOLATE_MODES)
def test_interpolate_sweep(mode, align_corners, dtype):
    x = sample(2, 3, 5, 7, dtype=dtype)
    for kwargs in INTERPOLATE_SIZES:
        ours = F.interpolate(tj.tensor(x), mode=mode, align_corners=align_corners, **kwargs)
        theirs = torch.nn.functional.interpolate(torch.tensor(x), mode=mode,
                                                 align_corners=align_corners, **kwargs)
        assert_close(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_interpolate_antialias(mode, align_corners, dtype):
    x = sample(2, 3, 17, 13, dtype=dtype, scale=5.0)
    for kwargs in ({"size": (5, 4)}, {"scale_factor": 0.3}, {"size": (30, 20)},
                   {"scale_factor": (0.5, 1.5)}):
        ours = F.interpolate(tj.tensor(x), mode=mode, align_corners=align_corners,
                             antialias=True, **kwargs)
        theirs = torch.nn.functional.interpolate(torch.tensor(x), mode=mode,
                                                 align_corners=align_corners, antialias=True,
                                                 **kwargs)
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-5,
                                   atol=1e-5 if dtype == "float32" else 1e-10)


@pytest.mark.parametrize("mode", ["nearest", "linear", "area", "nearest-exact"])
def test_interpolate_1d(mode):
    x = sample(2, 3, 7)
    for kwargs in ({"scale_factor": 2.3}, {"size": 4}, {"size": 15}):
        assert_close(F.interpolate(tj.tensor(x), mode=mode, **kwargs),
                     torch.nn.functional.interpolate(torch.tensor(x), mode=mode, **kwargs),
                     "float32")


def test_pooling_functional_ceil_and_dilation():
    x = sample(2, 3, 9, 8, 7)
    for k, s, p, d, ceil in [(2, None, 0, 1, False), (3, 2, 1, 1, True), (3, 2, 1, 2, False),
                             (2, 3, 1, 1, True)]:
        for name, args in (("max_pool3d", (k, s, p, d, ceil)), ("avg_pool3d", (k, s, p))):
            assert_close(getattr(F, name)(tj.tensor(x), *args),
                         getattr(torch.nn.functional, name)(torch.tensor(x), *args), "float32")
        line = x[:, :, 0, 0]
        for name, args in (("max_pool1d", (k, s, p, d, ceil)), ("avg_pool1d", (k, s, p, ceil))):
            assert_close(getattr(F, name)(tj.tensor(line), *args),
                         getattr(torch.nn.functional, name)(torch.tensor(line), *args),
                         "float32")


@pytest.mark.parametrize("track", [False, True])
def test_instance_norm_running_stats(track):
    make = lambda lib: lib.nn.InstanceNorm2d(3, momentum=0.3, track_running_stats=track)  # noqa: E731
    x = sample(2, 3, 4, 5)
    ours, theirs = run_twins(make, [x], "float32", train=True)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].detach().numpy(),
                                   value.detach().numpy(), rtol=1e-5)
    run_twins(make, [x * 2 + 1], "float32", train=False)


@pytest.mark.parametrize("make,fan_in", [
    (lambda: nn.Conv1d(4, 6, 5), 4 * 5),
    (lambda: nn.Conv3d(4, 6, 3, groups=2), 2 * 27),
    (lambda: nn.ConvTranspose1d(4, 6, 5, groups=2), 3 * 5),
    (lambda: nn.ConvTranspose2d(4, 6, 3), 6 * 9),
    (lambda: nn.ConvTranspose3d(2, 6, 2), 6 * 8),
    (lambda: nn.Bilinear(9, 3, 50), 9),
])
def test_default_init_bounds(make, fan_in):
    """torch's init: weights and bias uniform in +-1/sqrt(fan_in), filling that range."""
    tj.manual_seed(0)
    layer = make()
    bound = 1 / np.sqrt(fan_in)
    for tensor in (layer.weight, layer.bias):
        values = np.abs(tensor.detach().numpy())
        assert values.max() <= bound and values.max() > 0.6 * bound


def test_batchnorm3d_train_then_eval():
    ours, theirs = run_twins(lambda lib: lib.nn.BatchNorm3d(3), [sample(2, 3, 2, 3, 4)],
                             "float32", random_state=True, train=True)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].detach().numpy(),
                                   value.detach().numpy(), rtol=1e-5)
    x = sample(2, 3, 2, 3, 4, seed=5)
    with torch.no_grad():
        assert_close(ours.eval()(tj.tensor(x)), theirs.eval()(torch.tensor(x)), "float32")
    assert repr(ours) == repr(theirs)


def test_conv_transpose_output_size():
    make = lambda lib: lib.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)  # noqa: E731
    ours, theirs = twins(make, "float32", False)
    x = sample(1, 2, 4, 5)
    for size in ([8, 10], [1, 3, 7, 9], (8, 9)):
        with torch.no_grad():
            expected = theirs(torch.tensor(x), output_size=size)
        assert_close(ours(tj.tensor(x), output_size=size), expected, "float32")
    with pytest.raises(ValueError, match="requested an output size"):
        ours(tj.tensor(x), output_size=[11, 9])


def test_channel_dropout_zeroes_whole_channels():
    tj.manual_seed(0)
    x = tj.ones(8, 16, 3, 4)
    y = nn.Dropout2d(0.5)(x).detach().numpy()
    per_channel = y.reshape(8, 16, -1)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    assert 0 < (per_channel[..., 0] == 0).mean() < 1
    assert np.array_equal(nn.Dropout1d(0.3).eval()(x[0]).detach().numpy(), x[0].detach().numpy())


def test_embedding_from_pretrained():
    weights = sample(5, 3)
    ours = nn.Embedding.from_pretrained(tj.tensor(weights), padding_idx=1)
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(weights), padding_idx=1)
    idx = np.array([[0, 4], [1, 1]])
    assert_close(ours(tj.tensor(idx)), theirs(torch.tensor(idx)), "float32")
    assert repr(ours) == repr(theirs)
    assert ours.weight.requires_grad is theirs.weight.requires_grad is False


@pytest.mark.parametrize("ceil", [False, True])
def test_max_pool_indices_and_unpool(ceil):
    x = sample(2, 3, 9, 8)
    x[0, 0, :2, :2] = 1.0  # a tie: the first maximum wins, as in torch
    for k, s, p, d in [(2, None, 0, 1), (3, 2, 1, 1), (3, 2, 1, 2), ((3, 2), (1, 2), (1, 0), 1)]:
        ours = nn.MaxPool2d(k, s, p, d, return_indices=True, ceil_mode=ceil)(tj.tensor(x))
        theirs = torch.nn.MaxPool2d(k, s, p, d, return_indices=True,
                                    ceil_mode=ceil)(torch.tensor(x))
        for a, b in zip(ours, theirs):
            assert a.dtype.value == str(b.dtype).removeprefix("torch.")
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
        line = x[:, :, 0]
        kk, ss, pp = (v if v is None or isinstance(v, int) else v[0] for v in (k, s, p))
        ours = F.max_pool1d(tj.tensor(line), kk, ss, pp, d, ceil, return_indices=True)
        theirs = torch.nn.functional.max_pool1d(torch.tensor(line), kk, ss, pp, d, ceil,
                                                return_indices=True)
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    values, indices = nn.MaxPool2d(2, return_indices=True)(tj.tensor(x))
    t_values, t_indices = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    for size in (None, (9, 9), [2, 3, 8, 9]):
        np.testing.assert_array_equal(
            nn.MaxUnpool2d(2)(values, indices, output_size=size).detach().numpy(),
            torch.nn.MaxUnpool2d(2)(t_values, t_indices, output_size=size).detach().numpy())
    values, indices = F.max_pool1d(tj.tensor(x[:, :, 0]), 3, 2, 1, return_indices=True)
    t_values, t_indices = torch.nn.functional.max_pool1d(torch.tensor(x[:, :, 0]), 3, 2, 1,
                                                         return_indices=True)
    np.testing.assert_array_equal(
        nn.MaxUnpool1d(3, 2, 1)(values, indices, output_size=[8]).detach().numpy(),
        torch.nn.MaxUnpool1d(3, 2, 1)(t_values, t_indices, output_size=[8]).detach().numpy())
    assert repr(nn.MaxUnpool2d(2)) == repr(torch.nn.MaxUnpool2d(2))


@pytest.mark.parametrize("ceil", [False, True])
def test_max_pool3d_indices_and_unpool(ceil):
    x = sample(2, 3, 7, 6, 5)
    x[0, 0, :2, :2, :2] = 3.0
    for k, s, p, d in [(2, None, 0, 1), (3, 2, 1, 2), ((2, 3, 2), (1, 2, 2), (1, 1, 0), 1)]:
        ours = F.max_pool3d(tj.tensor(x), k, s, p, d, ceil, return_indices=True)
        theirs = torch.nn.functional.max_pool3d(torch.tensor(x), k, s, p, d, ceil,
                                                return_indices=True)
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    values, indices = nn.MaxPool3d(2, return_indices=True)(tj.tensor(x))
    t_values, t_indices = torch.nn.MaxPool3d(2, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(
        nn.MaxUnpool3d(2)(values, indices, output_size=(7, 6, 5)).detach().numpy(),
        torch.nn.MaxUnpool3d(2)(t_values, t_indices, output_size=(7, 6, 5)).detach().numpy())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fractional_max_pool(dtype):
    x, samples = sample(2, 3, 9, 11, dtype=dtype), positive(2, 3, 2, dtype=dtype)
    for args in [(2, (4, 5)), ((3, 2), None, (0.5, 0.5)), (2, (8, 10)), (3, 1), (2, (7, 1))]:
        ours = nn.FractionalMaxPool2d(*args, return_indices=True,
                                      _random_samples=tj.tensor(samples))(tj.tensor(x))
        theirs = torch.nn.FractionalMaxPool2d(*args, return_indices=True,
                                              _random_samples=torch.tensor(samples))(
                                                  torch.tensor(x))
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    x3, samples3 = sample(2, 3, 7, 8, 9, dtype=dtype), positive(2, 3, 3, dtype=dtype)
    ours = F.fractional_max_pool3d(tj.tensor(x3), 2, (3, 4, 5), return_indices=True,
                                   _random_samples=tj.tensor(samples3))
    theirs = torch.nn.functional.fractional_max_pool3d(
        torch.tensor(x3), 2, (3, 4, 5), return_indices=True,
        _random_samples=torch.tensor(samples3))
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    tj.manual_seed(0)
    assert tuple(nn.FractionalMaxPool2d(3, output_ratio=0.5)(tj.tensor(x)).shape) == (2, 3, 4, 5)


@pytest.mark.parametrize("size", [(3, 4), (2, None), 1, (7, 9), (9, 11)])
def test_adaptive_max_pool_indices(size):
    x = sample(2, 3, 7, 9)
    x[0, 0, :3, :3] = 5.0  # ties: the first maximum in row-major order wins, as in torch
    ours = nn.AdaptiveMaxPool2d(size, return_indices=True)(tj.tensor(x))
    theirs = torch.nn.AdaptiveMaxPool2d(size, return_indices=True)(torch.tensor(x))
    line = size if isinstance(size, int) else size[0]
    ours += F.adaptive_max_pool1d(tj.tensor(x[:, :, 0]), line, return_indices=True)
    theirs += torch.nn.functional.adaptive_max_pool1d(torch.tensor(x[:, :, 0]), line,
                                                      return_indices=True)
    volume = np.repeat(x[:, :, None], 3, 2) * np.arange(1, 4).reshape(1, 1, 3, 1, 1)
    ours += nn.AdaptiveMaxPool3d((2, *size) if isinstance(size, tuple) else size,
                                 return_indices=True)(tj.tensor(volume.astype("float32")))
    theirs += torch.nn.AdaptiveMaxPool3d((2, *size) if isinstance(size, tuple) else size,
                                         return_indices=True)(torch.tensor(
                                             volume.astype("float32")))
    for a, b in zip(ours, theirs):
        assert a.dtype.value == str(b.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_bag(mode, padding_idx):
    weights = sample(6, 3)
    flat, offsets = np.array([1, 2, 4, 5, 4, 3, 2, 0]), np.array([0, 2, 2, 5])
    calls = [(flat, offsets, None, False), (np.array([[1, 2, 4], [4, 3, 0]]), None, None, False),
             (flat, np.array([0, 2, 2, 5, 8]), None, True)]
    if mode == "sum":
        calls.append((flat, offsets, positive(8), False))
    for indices, offs, per_sample, last in calls:
        bags = [lib.nn.EmbeddingBag.from_pretrained(lib.tensor(weights), mode=mode,
                                                    padding_idx=padding_idx,
                                                    include_last_offset=last)
                for lib in (tj, torch)]
        args = [[lib.tensor(a) if a is not None else None for a in (indices, offs, per_sample)]
                for lib in (tj, torch)]
        assert_close(bags[0](*args[0]), bags[1](*args[1]), "float32")
        assert repr(bags[0]) == repr(bags[1])


def test_embedding_bag_state_dict_and_trace():
    ours, theirs = twins(lambda lib: lib.nn.EmbeddingBag(7, 4, mode="sum"), "float64", False)
    flat, offsets = np.array([1, 2, 6, 5, 0]), np.array([0, 1, 3])
    expected = theirs(torch.tensor(flat), torch.tensor(offsets))
    assert_close(ours(tj.tensor(flat), tj.tensor(offsets)), expected, "float64")
    traced = tj.trace(ours, tj.tensor(flat), tj.tensor(offsets))
    assert_close(traced(tj.tensor(flat), tj.tensor(offsets)), expected, "float64")


def test_inplace_functional_variants():
    x = sample(3, 4, scale=3.0)
    for name, args in [("relu_", ()), ("elu_", (0.5,)), ("celu_", (0.7,)), ("selu_", ()),
                       ("hardtanh_", (-1.5, 2.0)), ("leaky_relu_", (0.2,)),
                       ("threshold_", (0.1, -3.0))]:
        ours, theirs = tj.tensor(x), torch.tensor(x)
        out = getattr(F, name)(ours, *args)
        getattr(torch.nn.functional, name)(theirs, *args)
        assert out is ours
        assert_close(ours, theirs, "float32")


def test_sync_batchnorm_converts_and_matches_batchnorm():
    def make(lib):
        model = lib.nn.Sequential(lib.nn.Conv2d(3, 4, 3), lib.nn.BatchNorm2d(4),
                                  lib.nn.Sequential(lib.nn.Flatten(), lib.nn.BatchNorm1d(36)))
        return lib.nn.SyncBatchNorm.convert_sync_batchnorm(model)

    ours, theirs = run_twins(make, [sample(8, 3, 5, 5)], "float32", random_state=True,
                             train=True)
    assert repr(ours) == repr(theirs)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].detach().numpy(),
                                   value.detach().numpy(), rtol=1e-5)


def test_gumbel_softmax_is_a_distribution():
    tj.manual_seed(0)
    logits = tj.tensor(sample(64, 5))
    soft = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.sum(-1).detach().numpy(), np.ones(64), rtol=1e-6)
    hard = F.gumbel_softmax(logits, hard=True, dim=1).detach().numpy()
    assert set(np.unique(hard)) <= {0.0, 1.0} and np.all(hard.sum(1) == 1)
    assert len(set(hard.argmax(1))) > 1  # the noise changes the winner


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_ctc_loss(dtype, reduction):
    rng = np.random.default_rng(7)
    log_probs = np.log(rng.dirichlet(np.ones(5), size=(12, 3))).astype(dtype)
    targets = rng.integers(1, 5, (3, 4))
    targets[0, 1] = targets[0, 0]  # a repeated label needs a blank between
    lengths = (np.array([12, 10, 7]), np.array([4, 2, 0]))
    for zero_infinity in (False, True):
        args = [[lib.tensor(a) for a in (log_probs, targets, *lengths)] for lib in (tj, torch)]
        assert_close(nn.CTCLoss(reduction=reduction, zero_infinity=zero_infinity)(*args[0]),
                     torch.nn.CTCLoss(reduction=reduction, zero_infinity=zero_infinity)(
                         *args[1]), dtype)
    flat = np.array([1, 3, 3, 3, 1, 4, 4, 4, 4, 4, 4])  # concatenated; two cannot align
    ours = F.ctc_loss(tj.tensor(log_probs), tj.tensor(flat), (12, 3, 5), (4, 3, 4), blank=2,
                      reduction="none")
    theirs = torch.nn.functional.ctc_loss(torch.tensor(log_probs), torch.tensor(flat),
                                          (12, 3, 5), (4, 3, 4), blank=2, reduction="none")
    assert_close(ours, theirs, dtype)


def test_ctc_loss_traces():
    log_probs = tj.tensor(np.log(np.random.default_rng(1).dirichlet(np.ones(4), (6, 2)))
                          .astype("float32"))
    targets, lengths = tj.tensor(np.array([[1, 2], [3, 3]])), tj.tensor(np.array([6, 5]))
    loss = nn.CTCLoss()
    expected = loss(log_probs, targets, lengths, tj.tensor(np.array([2, 2])))
    traced = tj.trace(loss, log_probs, targets, lengths, tj.tensor(np.array([2, 2])))
    got = traced(log_probs, targets, lengths, tj.tensor(np.array([2, 2])))
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=1e-6)


def test_channel_shuffle_and_pdist():
    x = sample(2, 6, 3)
    assert_close(F.channel_shuffle(tj.tensor(x), 2),
                 torch.nn.functional.channel_shuffle(torch.tensor(x), 2), "float32")
    assert_close(F.pdist(tj.tensor(x[0]), 1.5), torch.nn.functional.pdist(torch.tensor(x[0]), 1.5),
                 "float32")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_and_grid_sample(dtype, align_corners):
    rng = np.random.default_rng(4)
    theta = (rng.standard_normal((2, 2, 3)) * 0.7).astype(dtype)
    grid = F.affine_grid(tj.tensor(theta), (2, 3, 5, 7), align_corners=align_corners)
    t_grid = torch.nn.functional.affine_grid(torch.tensor(theta), (2, 3, 5, 7),
                                             align_corners=align_corners)
    assert_close(grid, t_grid, dtype)
    x = sample(2, 3, 6, 5, dtype=dtype)
    points = (rng.random((2, 4, 7, 2)) * 2.6 - 1.3).astype(dtype)  # some outside [-1, 1]
    points[0, 0, :2] = [[1.0, -1.0], [0.0, 0.5]]  # exactly on pixel centres and edges
    for mode in ("bilinear", "nearest"):
        for padding_mode in ("zeros", "border", "reflection"):
            ours = F.grid_sample(tj.tensor(x), tj.tensor(points), mode, padding_mode,
                                 align_corners)
            theirs = torch.nn.functional.grid_sample(torch.tensor(x), torch.tensor(points),
                                                     mode, padding_mode, align_corners)
            assert_close(ours, theirs, dtype)


def test_spatial_transformer_traces():
    def transform(x, theta):
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, align_corners=False)

    x, theta = tj.tensor(sample(2, 3, 6, 5)), tj.tensor(sample(2, 2, 3, seed=1) * 0.5)
    expected = torch.nn.functional.grid_sample(
        torch.tensor(x.detach().numpy()), torch.nn.functional.affine_grid(
            torch.tensor(theta.detach().numpy()), [2, 3, 6, 5], align_corners=False),
        align_corners=False)
    for run in (transform, tj.trace(transform, x, theta), tj.script(transform)):
        assert_close(run(x, theta), expected, "float32")


LAZY_CASES = [
    ("linear", lambda lib: lib.nn.LazyLinear(4), (3, 5)),
    ("conv1d", lambda lib: lib.nn.LazyConv1d(4, 3), (6, 7)),
    ("conv2d", lambda lib: lib.nn.LazyConv2d(4, 3, groups=2, padding=1), (2, 6, 5, 5)),
    ("conv3d", lambda lib: lib.nn.LazyConv3d(2, 2), (1, 2, 3, 3, 3)),
    ("convT2d", lambda lib: lib.nn.LazyConvTranspose2d(4, 3, stride=2), (2, 6, 3, 3)),
    ("batchnorm1d", lambda lib: lib.nn.LazyBatchNorm1d(affine=False), (4, 3)),
    ("batchnorm2d", lambda lib: lib.nn.LazyBatchNorm2d(), (2, 3, 4, 4)),
    ("instancenorm1d", lambda lib: lib.nn.LazyInstanceNorm1d(), (2, 3, 7)),
]


@pytest.mark.parametrize("case", LAZY_CASES, ids=[c[0] for c in LAZY_CASES])
def test_lazy_modules(case):
    _, make, shape = case
    x = sample(*shape)
    ours, theirs = make(tj), make(torch)
    assert repr(ours) == repr(theirs)
    first = theirs(torch.tensor(x))
    # loading torch's state materializes ours from the stored shapes
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert type(ours).__name__ == type(theirs).__name__ and repr(ours) == repr(theirs)
    ours.eval(), theirs.eval()
    with torch.no_grad():
        assert_close(ours(tj.tensor(x)), theirs(torch.tensor(x)), "float32")
    fresh = make(tj).double()  # the first input materializes it, in the dtype it was given
    out = fresh(tj.tensor(x.astype("float64")))
    assert tuple(out.shape) == tuple(first.shape) and type(fresh).__name__ == type(theirs).__name__
    assert fresh.state_dict()["weight" if "weight" in fresh.state_dict() else "running_mean"
                              ].dtype is tj.float64


def test_lazy_module_materializes_under_trace():
    model = nn.Sequential(nn.LazyConv2d(4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    x = tj.tensor(sample(2, 3, 5, 5))
    traced = tj.trace(model, x)
    assert isinstance(model[0], nn.Conv2d) and model[3].in_features == 36
    # built from real initial values, not the trace's placeholders (which read as zeros)
    assert np.abs(model[3].weight.detach().numpy()).max() > 0
    np.testing.assert_allclose(traced(x).detach().numpy(), model(x).detach().numpy(), rtol=1e-6)


HALF_CASES = {
    "group_norm": lambda F, x: F.group_norm(x, 2),
    "instance_norm": lambda F, x: F.instance_norm(x),
    "rms_norm": lambda F, x: F.rms_norm(x, (6,)),
    "adaptive_avg_pool2d": lambda F, x: F.adaptive_avg_pool2d(x, 3),
    "bilinear": lambda F, x: F.interpolate(x, scale_factor=2, mode="bilinear"),
    "bicubic": lambda F, x: F.interpolate(x, scale_factor=2, mode="bicubic"),
    "selu": lambda F, x: F.selu(x),
    "hardswish": lambda F, x: F.hardswish(x),
    "glu": lambda F, x: F.glu(x, 1),
    "pixel_shuffle": lambda F, x: F.pixel_shuffle(x, 2),
}


@pytest.mark.parametrize("name", list(HALF_CASES))
def test_float16_like_torch(name):
    """torch's CPU kernels take float16 here; the composites give its values to a half ulp or
    two (torch accumulates in float32)."""
    x = sample(2, 4, 5, 6, dtype="float16")
    ours = HALF_CASES[name](F, tj.tensor(x))
    theirs = HALF_CASES[name](torch.nn.functional, torch.tensor(x))
    assert ours.dtype is tj.float16 and tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.detach().numpy().astype("float32"),
                               theirs.float().detach().numpy(),
                               rtol=4e-3, atol=4e-3)
