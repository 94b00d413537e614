"""The conv, pooling, normalization, padding, upsampling, activation, dropout and loss layers of
tracejit.nn against their torch 2.13 twins: reprs, state_dict keys and shapes, forward numerics
with torch's weights copied in (float32 and float64), error types, and trace/script parity.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import tracejit as tj
from tracejit import nn
from tracejit.nn import functional as F

TOL = {"float32": {"rtol": 1e-5, "atol": 2e-5}, "float64": {"rtol": 1e-10, "atol": 1e-10}}


def sample(*shape: int, dtype: str = "float32", seed: int = 0, scale: float = 1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def positive(*shape: int, dtype: str = "float32", seed: int = 0):
    return np.random.default_rng(seed).uniform(0.05, 0.95, shape).astype(dtype)


def twins(make, dtype: str, random_state: bool):
    """(ours, theirs): make(tracejit) holding a copy of make(torch)'s state, in `dtype`."""
    torch.manual_seed(0)
    theirs = make(torch).to(getattr(torch, dtype))
    if random_state:
        with torch.no_grad():
            for value in theirs.state_dict().values():
                if value.is_floating_point():
                    value.copy_(torch.rand_like(value) + 0.5)
    ours = make(tj).to(getattr(tj, dtype))
    theirs_state = theirs.state_dict()
    ours_state = ours.state_dict()
    assert list(ours_state) == list(theirs_state)
    for key, value in theirs_state.items():
        assert tuple(ours_state[key].shape) == tuple(value.shape), key
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs_state.items()})
    return ours, theirs


def assert_close(ours, theirs, dtype: str) -> None:
    expected = theirs.detach().numpy()
    assert tuple(ours.shape) == tuple(expected.shape)
    assert ours.dtype.value == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_allclose(ours.numpy(), expected, **TOL[dtype])


def run_twins(make, inputs, dtype: str, random_state: bool = False, train: bool = False):
    ours, theirs = twins(make, dtype, random_state)
    ours.train(train)
    theirs.train(train)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = theirs(*[torch.from_numpy(a.copy()) for a in inputs])
        got = ours(*[tj.tensor(a) for a in inputs])
    assert_close(got, expected, dtype)
    return ours, theirs


# --- module cases: (id, factory(lib), input shapes or arrays, random_state) ---------------------

def _inputs(spec, dtype):
    return [a.astype(dtype) if isinstance(a, np.ndarray) else sample(*a, dtype=dtype, seed=i)
            for i, a in enumerate(spec)]


MODULE_CASES = [
    # convolutions
    ("conv1d", lambda lib: lib.nn.Conv1d(4, 6, 3), [(2, 4, 9)], False),
    ("conv1d-groups", lambda lib: lib.nn.Conv1d(4, 6, 3, stride=2, padding=1, dilation=2,
                                                 groups=2), [(2, 4, 11)], False),
    ("conv1d-same-reflect", lambda lib: lib.nn.Conv1d(4, 4, 4, padding="same",
                                                       padding_mode="reflect"), [(2, 4, 9)], False),
    ("conv1d-circular", lambda lib: lib.nn.Conv1d(4, 6, 3, padding=2, padding_mode="circular"),
     [(2, 4, 7)], False),
    ("conv1d-unbatched", lambda lib: lib.nn.Conv1d(4, 6, 3, padding=1, bias=False,
                                                    padding_mode="replicate"), [(4, 9)], False),
    ("conv3d", lambda lib: lib.nn.Conv3d(2, 4, 3), [(1, 2, 5, 6, 5)], False),
    ("conv3d-mixed", lambda lib: lib.nn.Conv3d(4, 4, (2, 3, 1), stride=(2, 1, 2),
                                               padding=(1, 0, 1), dilation=(2, 1, 1), groups=2),
     [(2, 4, 6, 5, 7)], False),
    ("conv3d-same-reflect", lambda lib: lib.nn.Conv3d(2, 3, 3, padding="same",
                                                       padding_mode="reflect"),
     [(1, 2, 4, 5, 4)], False),
    ("conv3d-valid-unbatched", lambda lib: lib.nn.Conv3d(2, 3, 2, padding="valid"),
     [(2, 3, 4, 3)], False),
    ("convT1d", lambda lib: lib.nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1,
                                                   output_padding=1), [(2, 4, 5)], False),
    ("convT1d-unbatched", lambda lib: lib.nn.ConvTranspose1d(4, 6, 3, groups=2, dilation=2,
                                                             bias=False), [(4, 5)], False),
    ("convT2d", lambda lib: lib.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1,
                                                   output_padding=1, groups=2),
     [(2, 4, 5, 4)], False),
    ("convT2d-rect", lambda lib: lib.nn.ConvTranspose2d(3, 2, (3, 2), stride=(3, 1),
                                                        padding=(0, 1), dilation=(1, 2)),
     [(1, 3, 4, 5)], False),
    ("convT2d-big-pad", lambda lib: lib.nn.ConvTranspose2d(2, 2, 3, stride=2, padding=3),
     [(1, 2, 6, 6)], False),
    ("convT3d", lambda lib: lib.nn.ConvTranspose3d(2, 3, 3, stride=2, padding=1),
     [(1, 2, 3, 4, 3)], False),
    ("bilinear", lambda lib: lib.nn.Bilinear(3, 4, 5), [(2, 3), (2, 4)], False),
    ("bilinear-batch", lambda lib: lib.nn.Bilinear(3, 2, 4, bias=False), [(2, 5, 3), (2, 5, 2)],
     False),
    # pooling
    ("maxpool1d", lambda lib: lib.nn.MaxPool1d(3), [(2, 3, 10)], False),
    ("maxpool1d-ceil", lambda lib: lib.nn.MaxPool1d(3, 2, 1, 2, ceil_mode=True), [(2, 3, 10)],
     False),
    ("avgpool1d", lambda lib: lib.nn.AvgPool1d(3, 2, 1, ceil_mode=True,
                                               count_include_pad=False), [(2, 3, 10)], False),
    ("avgpool1d-unbatched", lambda lib: lib.nn.AvgPool1d(2), [(3, 7)], False),
    ("maxpool3d", lambda lib: lib.nn.MaxPool3d(2), [(1, 2, 5, 6, 4)], False),
    ("maxpool3d-pad", lambda lib: lib.nn.MaxPool3d(3, 2, 1), [(1, 2, 5, 6, 7)], False),
    ("maxpool3d-ceil", lambda lib: lib.nn.MaxPool3d(2, 2, ceil_mode=True), [(2, 5, 5, 3)], False),
    ("avgpool3d", lambda lib: lib.nn.AvgPool3d(2), [(1, 2, 4, 6, 5)], False),
    ("avgpool3d-pad", lambda lib: lib.nn.AvgPool3d((2, 3, 2), stride=1, padding=(1, 1, 0)),
     [(1, 2, 4, 5, 3)], False),
    ("adaptiveavg1d", lambda lib: lib.nn.AdaptiveAvgPool1d(4), [(2, 3, 10)], False),
    ("adaptiveavg2d", lambda lib: lib.nn.AdaptiveAvgPool2d((3, None)), [(2, 3, 7, 5)], False),
    ("adaptiveavg2d-1", lambda lib: lib.nn.AdaptiveAvgPool2d(1), [(2, 3, 7, 5)], False),
    ("adaptiveavg3d", lambda lib: lib.nn.AdaptiveAvgPool3d((2, 3, 2)), [(1, 2, 5, 7, 4)], False),
    ("adaptivemax1d", lambda lib: lib.nn.AdaptiveMaxPool1d(3), [(2, 3, 10)], False),
    ("adaptivemax2d", lambda lib: lib.nn.AdaptiveMaxPool2d((4, 3)), [(2, 3, 7, 5)], False),
    ("adaptivemax2d-up", lambda lib: lib.nn.AdaptiveMaxPool2d(6), [(3, 4, 5)], False),
    ("adaptivemax3d", lambda lib: lib.nn.AdaptiveMaxPool3d(2), [(1, 2, 5, 3, 4)], False),
    ("lppool1d", lambda lib: lib.nn.LPPool1d(2, 3, 2), [(2, 3, 10)], False),
    ("lppool2d", lambda lib: lib.nn.LPPool2d(3, (2, 3)), [(2, 3, 6, 7)], False),
    ("lppool3d", lambda lib: lib.nn.LPPool3d(2, 2), [(1, 2, 4, 6, 5)], False),
    ("unfold", lambda lib: lib.nn.Unfold((3, 2), dilation=(1, 2), padding=1, stride=(2, 1)),
     [(2, 3, 7, 6)], False),
    ("unfold-unbatched", lambda lib: lib.nn.Unfold(2), [(3, 4, 5)], False),
    ("fold", lambda lib: lib.nn.Fold((4, 5), 2), [(2, 12, 12)], False),
    ("fold-strided", lambda lib: lib.nn.Fold((7, 6), 3, dilation=2, padding=2, stride=3),
     [(1, 18, 6)], False),
    # normalization
    ("instancenorm1d", lambda lib: lib.nn.InstanceNorm1d(4), [(2, 4, 7)], False),
    ("instancenorm1d-unbatched", lambda lib: lib.nn.InstanceNorm1d(4, affine=True), [(4, 7)],
     True),
    ("instancenorm2d-affine", lambda lib: lib.nn.InstanceNorm2d(4, affine=True),
     [(2, 4, 5, 6)], True),
    ("instancenorm3d", lambda lib: lib.nn.InstanceNorm3d(2, affine=True, bias=False),
     [(1, 2, 3, 4, 5)], True),
    ("groupnorm", lambda lib: lib.nn.GroupNorm(2, 4), [(2, 4, 5, 3)], True),
    ("groupnorm-noaffine", lambda lib: lib.nn.GroupNorm(3, 6, affine=False), [(2, 6, 7)], False),
    ("groupnorm-2d", lambda lib: lib.nn.GroupNorm(1, 4, eps=1e-3), [(3, 4)], True),
    ("lrn", lambda lib: lib.nn.LocalResponseNorm(3), [(2, 5, 4, 4)], False),
    ("lrn-3d", lambda lib: lib.nn.LocalResponseNorm(2, alpha=0.1, beta=0.5, k=2.0),
     [(2, 5, 6)], False),
    ("lrn-5d", lambda lib: lib.nn.LocalResponseNorm(4, alpha=0.3), [(1, 6, 2, 3, 2)], False),
    ("crossmaplrn2d", lambda lib: lib.nn.CrossMapLRN2d(3, 0.1, 0.75, 2.0), [(2, 7, 4, 5)],
     False),
    ("crossmaplrn2d-wide", lambda lib: lib.nn.CrossMapLRN2d(6), [(1, 4, 2, 3)], False),
    ("rmsnorm", lambda lib: lib.nn.RMSNorm(6), [(2, 3, 6)], True),
    ("rmsnorm-2d", lambda lib: lib.nn.RMSNorm([3, 6], eps=1e-3), [(2, 3, 6)], True),
    ("rmsnorm-noaffine", lambda lib: lib.nn.RMSNorm(6, elementwise_affine=False), [(4, 6)],
     False),
    # padding
    ("reflectionpad1d", lambda lib: lib.nn.ReflectionPad1d((2, 1)), [(2, 3, 5)], False),
    ("reflectionpad2d", lambda lib: lib.nn.ReflectionPad2d((1, 2, 0, 3)), [(2, 3, 5, 4)], False),
    ("reflectionpad3d", lambda lib: lib.nn.ReflectionPad3d(1), [(1, 2, 3, 4, 3)], False),
    ("replicationpad1d", lambda lib: lib.nn.ReplicationPad1d(3), [(3, 5)], False),
    ("replicationpad2d", lambda lib: lib.nn.ReplicationPad2d((1, 0, 2, 3)), [(2, 3, 4, 4)],
     False),
    ("replicationpad3d", lambda lib: lib.nn.ReplicationPad3d((1, 0, 0, 2, 1, 1)),
     [(1, 2, 3, 4, 3)], False),
    ("zeropad1d", lambda lib: lib.nn.ZeroPad1d((1, 3)), [(2, 3, 5)], False),
    ("zeropad2d", lambda lib: lib.nn.ZeroPad2d((1, 2, 3, 0)), [(2, 3, 5, 4)], False),
    ("zeropad3d", lambda lib: lib.nn.ZeroPad3d(1), [(1, 2, 3, 2, 2)], False),
    ("constantpad1d", lambda lib: lib.nn.ConstantPad1d((2, 1), 3.5), [(2, 3, 5)], False),
    ("constantpad2d", lambda lib: lib.nn.ConstantPad2d(2, -1.0), [(3, 5, 4)], False),
    ("constantpad3d", lambda lib: lib.nn.ConstantPad3d((1, 0, 2, 0, 0, 1), 2.0),
     [(1, 2, 3, 2, 2)], False),
    ("circularpad1d", lambda lib: lib.nn.CircularPad1d((2, 1)), [(2, 3, 5)], False),
    ("circularpad2d", lambda lib: lib.nn.CircularPad2d((1, 2, 2, 0)), [(2, 3, 5, 4)], False),
    ("circularpad3d", lambda lib: lib.nn.CircularPad3d(1), [(1, 2, 3, 4, 3)], False),
    # upsampling
    ("upsample-nearest", lambda lib: lib.nn.Upsample(scale_factor=2), [(2, 3, 4, 5)], False),
    ("upsample-nearest-odd", lambda lib: lib.nn.Upsample(size=(7, 3)), [(2, 3, 4, 5)], False),
    ("upsample-bilinear", lambda lib: lib.nn.Upsample(size=(7, 5), mode="bilinear"),
     [(2, 3, 4, 3)], False),
    ("upsample-bilinear-ac", lambda lib: lib.nn.Upsample(scale_factor=1.7, mode="bilinear",
                                                         align_corners=True),
     [(2, 3, 4, 5)], False),
    ("upsample-bicubic", lambda lib: lib.nn.Upsample(scale_factor=1.5, mode="bicubic"),
     [(1, 2, 4, 5)], False),
    ("upsample-nearest-exact", lambda lib: lib.nn.Upsample(scale_factor=(2, 0.6),
                                                           mode="nearest-exact"),
     [(1, 2, 4, 5)], False),
    ("upsample-linear", lambda lib: lib.nn.Upsample(size=9, mode="linear"), [(2, 3, 4)], False),
    ("upsample-trilinear", lambda lib: lib.nn.Upsample(scale_factor=2, mode="trilinear",
                                                       recompute_scale_factor=True),
     [(1, 2, 2, 3, 2)], False),
    ("upsample-area", lambda lib: lib.nn.Upsample(size=(3, 2), mode="area"), [(1, 2, 7, 5)],
     False),
    ("upsamplingnearest2d", lambda lib: lib.nn.UpsamplingNearest2d(scale_factor=3),
     [(1, 2, 2, 3)], False),
    ("upsamplingbilinear2d", lambda lib: lib.nn.UpsamplingBilinear2d(size=(6, 7)),
     [(1, 2, 3, 4)], False),
    ("pixelshuffle", lambda lib: lib.nn.PixelShuffle(2), [(2, 8, 3, 4)], False),
    ("pixelshuffle-5d", lambda lib: lib.nn.PixelShuffle(3), [(2, 1, 9, 2, 2)], False),
    ("pixelunshuffle", lambda lib: lib.nn.PixelUnshuffle(2), [(2, 2, 4, 6)], False),
    ("channelshuffle", lambda lib: lib.nn.ChannelShuffle(3), [(2, 6, 2, 3)], False),
    # activations
    *[(name.lower(), (lambda n, a: lambda lib: getattr(lib.nn, n)(*a))(name, args),
       [sample(2, 4, 3, 5, scale=3.0)], False)
      for name, args in [("ReLU6", ()), ("Softplus", (2.0, 3.0)), ("ELU", (0.5,)), ("SELU", ()),
                         ("CELU", (0.7,)), ("Hardtanh", (-2.0, 1.5)), ("Hardswish", ()),
                         ("Hardsigmoid", ()), ("Mish", ()), ("Softsign", ()),
                         ("Tanhshrink", ()), ("LogSigmoid", ()), ("Threshold", (0.2, -1.0)),
                         ("GLU", (1,)), ("Softmin", (1,)), ("Softmax2d", ()),
                         ("Hardshrink", (0.3,)), ("Softshrink", (0.3,)), ("RReLU", (0.1, 0.3)),
                         ("PReLU", ()), ("PReLU", (4, 0.1)), ("Dropout2d", ()),
                         ("Dropout3d", ()), ("AlphaDropout", ()), ("FeatureAlphaDropout", ())]],
    ("dropout1d", lambda lib: lib.nn.Dropout1d(0.2), [(2, 4, 3)], False),
    ("prelu-random", lambda lib: lib.nn.PReLU(4), [(2, 4, 3)], True),
    # distances
    ("cosinesimilarity", lambda lib: lib.nn.CosineSimilarity(dim=0), [(4, 5), (4, 5)], False),
    ("cosinesimilarity-bcast", lambda lib: lib.nn.CosineSimilarity(), [(3, 4, 2), (1, 4, 2)],
     False),
    ("pairwisedistance", lambda lib: lib.nn.PairwiseDistance(p=1.0, keepdim=True),
     [(4, 5), (4, 5)], False),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", MODULE_CASES, ids=[c[0] for c in MODULE_CASES])
def test_module_matches_torch(case, dtype):
    _, make, spec, random_state = case
    run_twins(make, _inputs(spec, dtype), dtype, random_state)


@pytest.mark.parametrize("case", MODULE_CASES, ids=[c[0] for c in MODULE_CASES])
def test_module_repr_matches_torch(case):
    make = case[1]
    assert repr(make(tj)) == repr(make(torch))


# --- losses -------------------------------------------------------------------------------------

def _loss_inputs(dtype):
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((4, 5)).astype(dtype), rng.standard_normal((4, 5)).astype(dtype)
    p, q = positive(4, 5, dtype=dtype), positive(4, 5, dtype=dtype, seed=1)
    sign = np.array([1, -1, -1, 1], dtype=dtype)
    labels = np.array([0, 3, 1, 4])
    return x, y, p, q, sign, labels


LOSS_CASES = [
    ("l1", lambda lib: lib.nn.L1Loss(), lambda x, y, p, q, s, t: (x, y)),
    ("mse-sum", lambda lib: lib.nn.MSELoss(reduction="sum"), lambda x, y, p, q, s, t: (x, y)),
    ("cross-entropy", lambda lib: lib.nn.CrossEntropyLoss(label_smoothing=0.1),
     lambda x, y, p, q, s, t: (x, t)),
    ("cross-entropy-weight", lambda lib: lib.nn.CrossEntropyLoss(
        weight=lib.tensor([1.0, 2.0, 0.5, 1.0, 3.0])), lambda x, y, p, q, s, t: (x, t)),
    ("nll", lambda lib: lib.nn.NLLLoss(ignore_index=1), lambda x, y, p, q, s, t: (x, t)),
    ("bce", lambda lib: lib.nn.BCELoss(), lambda x, y, p, q, s, t: (p, q)),
    ("bce-logits", lambda lib: lib.nn.BCEWithLogitsLoss(
        pos_weight=lib.tensor([1.0, 2.0, 0.5, 1.0, 3.0])), lambda x, y, p, q, s, t: (x, q)),
    ("kldiv-batchmean", lambda lib: lib.nn.KLDivLoss(reduction="batchmean"),
     lambda x, y, p, q, s, t: (np.log(p), q)),
    ("kldiv-logtarget", lambda lib: lib.nn.KLDivLoss(reduction="sum", log_target=True),
     lambda x, y, p, q, s, t: (np.log(p), np.log(q))),
    ("kldiv-none", lambda lib: lib.nn.KLDivLoss(reduction="none"),
     lambda x, y, p, q, s, t: (x, np.where(q < 0.3, 0, q).astype(q.dtype))),
    ("smoothl1", lambda lib: lib.nn.SmoothL1Loss(beta=0.5), lambda x, y, p, q, s, t: (x, y)),
    ("smoothl1-beta0", lambda lib: lib.nn.SmoothL1Loss(beta=0.0), lambda x, y, p, q, s, t: (x, y)),
    ("huber", lambda lib: lib.nn.HuberLoss(delta=0.7, reduction="none"),
     lambda x, y, p, q, s, t: (x, y)),
    ("cosine-embedding", lambda lib: lib.nn.CosineEmbeddingLoss(0.1),
     lambda x, y, p, q, s, t: (x, y, s)),
    ("margin-ranking", lambda lib: lib.nn.MarginRankingLoss(0.2),
     lambda x, y, p, q, s, t: (x[:, 0], y[:, 0], s)),
    ("triplet", lambda lib: lib.nn.TripletMarginLoss(swap=True, p=1.5),
     lambda x, y, p, q, s, t: (x, y, p)),
    ("hinge-embedding", lambda lib: lib.nn.HingeEmbeddingLoss(),
     lambda x, y, p, q, s, t: (x, np.repeat(s[:, None], 5, 1))),
    ("soft-margin", lambda lib: lib.nn.SoftMarginLoss(reduction="sum"),
     lambda x, y, p, q, s, t: (x, np.repeat(s[:, None], 5, 1))),
    ("poisson-nll", lambda lib: lib.nn.PoissonNLLLoss(full=True),
     lambda x, y, p, q, s, t: (x, q * 4)),
    ("poisson-nll-rate", lambda lib: lib.nn.PoissonNLLLoss(log_input=False),
     lambda x, y, p, q, s, t: (p, q * 4)),
    ("multi-margin", lambda lib: lib.nn.MultiMarginLoss(p=2, margin=0.7, weight=lib.tensor(
        [1.0, 2.0, 0.5, 1.0, 3.0])), lambda x, y, p, q, s, t: (x, t)),
    ("multi-margin-1d", lambda lib: lib.nn.MultiMarginLoss(reduction="sum"),
     lambda x, y, p, q, s, t: (x[0], np.array(t[1]))),
    ("multilabel-soft-margin", lambda lib: lib.nn.MultiLabelSoftMarginLoss(reduction="none"),
     lambda x, y, p, q, s, t: (x, (q > 0.5).astype(q.dtype))),
    ("multilabel-margin", lambda lib: lib.nn.MultiLabelMarginLoss(),
     lambda x, y, p, q, s, t: (x, np.array([[3, 0, -1, 1, 2], [1, -1, -1, -1, -1],
                                            [0, 1, 2, 3, 4], [-1, 0, 0, 0, 0]]))),
    ("gaussian-nll", lambda lib: lib.nn.GaussianNLLLoss(full=True),
     lambda x, y, p, q, s, t: (x, y, p)),
    ("gaussian-nll-homoscedastic", lambda lib: lib.nn.GaussianNLLLoss(reduction="sum"),
     lambda x, y, p, q, s, t: (x, y, p[:, 0])),
    ("triplet-distance", lambda lib: lib.nn.TripletMarginWithDistanceLoss(swap=True),
     lambda x, y, p, q, s, t: (x, y, p)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss_matches_torch(case, dtype):
    _, make, pick = case
    inputs = pick(*_loss_inputs(dtype))
    run_twins(make, inputs, dtype)
    assert repr(make(tj)) == repr(make(torch))


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_weighted_huber_loss(reduction):
    x, y, p, *_ = _loss_inputs("float32")
    ours = F.huber_loss(tj.tensor(x), tj.tensor(y), reduction, 0.5, weight=tj.tensor(p))
    theirs = torch.nn.functional.huber_loss(torch.tensor(x), torch.tensor(y), reduction, 0.5,
                                            weight=torch.tensor(p))
    assert_close(ours, theirs, "float32")


def test_adaptive_log_softmax_with_loss():
    make = lambda lib: lib.nn.AdaptiveLogSoftmaxWithLoss(16, 20, [4, 9, 15], div_value=2.0,  # noqa: E731
                                                          head_bias=True)
    ours, theirs = twins(make, "float32", False)
    x, y = sample(7, 16), np.array([0, 3, 4, 8, 9, 15, 19])
    got, expected = ours(tj.tensor(x), tj.tensor(y)), theirs(torch.tensor(x), torch.tensor(y))
    assert_close(got.output, expected.output, "float32")
    assert_close(got.loss, expected.loss, "float32")
    assert_close(ours.log_prob(tj.tensor(x)), theirs.log_prob(torch.tensor(x)), "float32")
    np.testing.assert_array_equal(ours.predict(tj.tensor(x)).numpy(),
                                  theirs.predict(torch.tensor(x)).numpy())
    single = ours(tj.tensor(x[0]), tj.tensor(y[3]))
    assert_close(single.output, theirs(torch.tensor(x[0]), torch.tensor(y[3])).output, "float32")
    traced = tj.trace(ours, tj.tensor(x), tj.tensor(y))
    assert_close(traced(tj.tensor(x), tj.tensor(y)).output, expected.output, "float32")
    assert repr(ours) == repr(theirs)
    with pytest.raises(RuntimeError, match=r"Target values should be in \[0, 19\]"):
        ours(tj.tensor(x), tj.tensor(np.array([0, 1, 2, 3, 4, 5, 20])))


@pytest.mark.parametrize("kwargs", [{}, {"bias": True, "label_smoothing": 0.1},
                                    {"ignore_index": 2, "reduction": "sum"},
                                    {"out_features": (3,), "bias": True}])
def test_linear_cross_entropy_loss(kwargs):
    make = lambda lib: lib.nn.LinearCrossEntropyLoss(8, 6, **kwargs)  # noqa: E731
    rng = np.random.default_rng(2)
    target = rng.integers(0, 6, (5, 3) if "out_features" in kwargs else 5)
    run_twins(make, [sample(5, 8), target], "float32")
    assert repr(make(tj)) == repr(make(torch))


def test_conv_tbc_and_with_indices_aliases():
    x, w, b = sample(7, 2, 4), sample(3, 4, 5, seed=1), sample(5, seed=2)
    assert_close(F.conv_tbc(tj.tensor(x), tj.tensor(w), tj.tensor(b), 1),
                 torch.conv_tbc(torch.tensor(x), torch.tensor(w), torch.tensor(b), 1), "float32")
    image = sample(2, 3, 7, 9)
    for name in ("adaptive_max_pool2d_with_indices", "adaptive_max_pool1d_with_indices"):
        data = image if "2d" in name else image[:, :, 0]
        ours = getattr(F, name)(tj.tensor(data), 3)
        theirs = getattr(torch.nn.functional, name)(torch.tensor(data), 3)
        for a, t in zip(ours, theirs):
            np.testing.assert_array_equal(a.numpy(), t.numpy())


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
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5,
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
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), rtol=1e-5)
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
        values = np.abs(tensor.numpy())
        assert values.max() <= bound and values.max() > 0.6 * bound


def test_batchnorm3d_train_then_eval():
    ours, theirs = run_twins(lambda lib: lib.nn.BatchNorm3d(3), [sample(2, 3, 2, 3, 4)],
                             "float32", random_state=True, train=True)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), rtol=1e-5)
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
    y = nn.Dropout2d(0.5)(x).numpy()
    per_channel = y.reshape(8, 16, -1)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    assert 0 < (per_channel[..., 0] == 0).mean() < 1
    assert np.array_equal(nn.Dropout1d(0.3).eval()(x[0]).numpy(), x[0].numpy())


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
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        line = x[:, :, 0]
        kk, ss, pp = (v if v is None or isinstance(v, int) else v[0] for v in (k, s, p))
        ours = F.max_pool1d(tj.tensor(line), kk, ss, pp, d, ceil, return_indices=True)
        theirs = torch.nn.functional.max_pool1d(torch.tensor(line), kk, ss, pp, d, ceil,
                                                return_indices=True)
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    values, indices = nn.MaxPool2d(2, return_indices=True)(tj.tensor(x))
    t_values, t_indices = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    for size in (None, (9, 9), [2, 3, 8, 9]):
        np.testing.assert_array_equal(
            nn.MaxUnpool2d(2)(values, indices, output_size=size).numpy(),
            torch.nn.MaxUnpool2d(2)(t_values, t_indices, output_size=size).numpy())
    values, indices = F.max_pool1d(tj.tensor(x[:, :, 0]), 3, 2, 1, return_indices=True)
    t_values, t_indices = torch.nn.functional.max_pool1d(torch.tensor(x[:, :, 0]), 3, 2, 1,
                                                         return_indices=True)
    np.testing.assert_array_equal(
        nn.MaxUnpool1d(3, 2, 1)(values, indices, output_size=[8]).numpy(),
        torch.nn.MaxUnpool1d(3, 2, 1)(t_values, t_indices, output_size=[8]).numpy())
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
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    values, indices = nn.MaxPool3d(2, return_indices=True)(tj.tensor(x))
    t_values, t_indices = torch.nn.MaxPool3d(2, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(
        nn.MaxUnpool3d(2)(values, indices, output_size=(7, 6, 5)).numpy(),
        torch.nn.MaxUnpool3d(2)(t_values, t_indices, output_size=(7, 6, 5)).numpy())


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
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    x3, samples3 = sample(2, 3, 7, 8, 9, dtype=dtype), positive(2, 3, 3, dtype=dtype)
    ours = F.fractional_max_pool3d(tj.tensor(x3), 2, (3, 4, 5), return_indices=True,
                                   _random_samples=tj.tensor(samples3))
    theirs = torch.nn.functional.fractional_max_pool3d(
        torch.tensor(x3), 2, (3, 4, 5), return_indices=True,
        _random_samples=torch.tensor(samples3))
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
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
        np.testing.assert_array_equal(a.numpy(), b.numpy())


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
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), rtol=1e-5)


def test_gumbel_softmax_is_a_distribution():
    tj.manual_seed(0)
    logits = tj.tensor(sample(64, 5))
    soft = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.sum(-1).numpy(), np.ones(64), rtol=1e-6)
    hard = F.gumbel_softmax(logits, hard=True, dim=1).numpy()
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
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6)


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
        torch.tensor(x.numpy()), torch.nn.functional.affine_grid(
            torch.tensor(theta.numpy()), [2, 3, 6, 5], align_corners=False),
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
    np.testing.assert_allclose(traced(x).numpy(), model(x).numpy(), rtol=1e-6)


# --- errors -------------------------------------------------------------------------------------

def _x(*shape):
    return sample(*shape)


ERROR_CASES = [
    ("conv-groups", lambda lib: lib.nn.Conv1d(4, 6, 3, groups=3)),
    ("conv-same-strided", lambda lib: lib.nn.Conv1d(4, 4, 3, padding="same", stride=2)),
    ("conv-padding-mode", lambda lib: lib.nn.Conv3d(4, 4, 3, padding_mode="foo")),
    ("convT-padding-mode", lambda lib: lib.nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect")),
    ("conv1d-rank", lambda lib: lib.nn.functional.conv1d(lib.tensor(_x(1, 2, 3, 4)),
                                                          lib.tensor(_x(2, 2, 3)))),
    ("conv3d-rank", lambda lib: lib.nn.functional.conv3d(lib.tensor(_x(2, 3, 4)),
                                                          lib.tensor(_x(2, 2, 1, 1, 1)))),
    ("convT-output-padding", lambda lib: lib.nn.functional.conv_transpose2d(
        lib.tensor(_x(1, 2, 3, 3)), lib.tensor(_x(2, 2, 3, 3)), stride=2, output_padding=2)),
    ("convT-channels", lambda lib: lib.nn.functional.conv_transpose1d(
        lib.tensor(_x(1, 3, 5)), lib.tensor(_x(2, 2, 3)))),
    ("pixel-shuffle-channels", lambda lib: lib.nn.functional.pixel_shuffle(
        lib.tensor(_x(2, 5, 3, 3)), 2)),
    ("pixel-shuffle-rank", lambda lib: lib.nn.functional.pixel_shuffle(lib.tensor(_x(4, 3)), 2)),
    ("pixel-unshuffle-size", lambda lib: lib.nn.functional.pixel_unshuffle(
        lib.tensor(_x(1, 1, 3, 4)), 2)),
    ("interp-both", lambda lib: lib.nn.functional.interpolate(lib.tensor(_x(1, 1, 3, 3)), 4, 2.0)),
    ("interp-none", lambda lib: lib.nn.functional.interpolate(lib.tensor(_x(1, 1, 3, 3)))),
    ("interp-align", lambda lib: lib.nn.functional.interpolate(lib.tensor(_x(1, 1, 3, 3)), 4,
                                                                align_corners=True)),
    ("interp-mode-rank", lambda lib: lib.nn.functional.interpolate(lib.tensor(_x(1, 1, 3)), 4,
                                                                    mode="bilinear")),
    ("interp-antialias-mode", lambda lib: lib.nn.functional.interpolate(
        lib.tensor(_x(1, 1, 3, 3)), 2, antialias=True)),
    ("interp-size-len", lambda lib: lib.nn.functional.interpolate(lib.tensor(_x(1, 1, 3, 3)),
                                                                   (4, 4, 4))),
    ("group-norm-groups", lambda lib: lib.nn.functional.group_norm(lib.tensor(_x(2, 5, 3)), 2)),
    ("groupnorm-ctor", lambda lib: lib.nn.GroupNorm(2, 5)),
    ("glu-odd", lambda lib: lib.nn.functional.glu(lib.tensor(_x(2, 3)), 1)),
    ("instancenorm-affine-channels", lambda lib: lib.nn.InstanceNorm2d(3, affine=True)(
        lib.tensor(_x(1, 4, 3, 3)))),
    ("instancenorm-rank", lambda lib: lib.nn.InstanceNorm1d(3)(lib.tensor(_x(1, 3, 3, 3)))),
    ("lrn-rank", lambda lib: lib.nn.functional.local_response_norm(lib.tensor(_x(2, 3)), 2)),
    ("smoothl1-beta", lambda lib: lib.nn.functional.smooth_l1_loss(
        lib.tensor(_x(3)), lib.tensor(_x(3)), beta=-1.0)),
    ("triplet-margin", lambda lib: lib.nn.TripletMarginLoss(margin=0.0)),
    ("maxpool1d-rank", lambda lib: lib.nn.functional.max_pool1d(lib.tensor(_x(1, 2, 3, 4)), 2)),
    ("adaptive-rank", lambda lib: lib.nn.functional.adaptive_max_pool2d(lib.tensor(_x(4, 5)), 2)),
    ("softmax2d-rank", lambda lib: lib.nn.Softmax2d()(lib.tensor(_x(4, 5)))),
    ("dropout2d-p", lambda lib: lib.nn.Dropout2d(p=1.5)),
    ("prelu-channels", lambda lib: lib.nn.functional.prelu(lib.tensor(_x(2, 3)),
                                                            lib.tensor(_x(2)))),
    ("rms-norm-shape", lambda lib: lib.nn.functional.rms_norm(lib.tensor(_x(2, 3)), (4,))),
    ("hardtanh-bounds", lambda lib: lib.nn.Hardtanh(1.0, -1.0)),
    ("reduction", lambda lib: lib.nn.functional.kl_div(lib.tensor(_x(3)), lib.tensor(_x(3)),
                                                        reduction="avg")),
    ("convT-output-size", lambda lib: lib.nn.ConvTranspose1d(2, 2, 3)(lib.tensor(_x(1, 2, 4)),
                                                                       output_size=[2, 3])),
    ("unfold-rank", lambda lib: lib.nn.functional.unfold(lib.tensor(_x(1, 2, 3, 4, 5)), 2)),
    ("fold-blocks", lambda lib: lib.nn.functional.fold(lib.tensor(_x(1, 12, 11)), (4, 5), 2)),
    ("unpool-size", lambda lib: lib.nn.functional.max_unpool2d(
        lib.tensor(_x(1, 1, 2, 2)), lib.tensor(np.zeros((1, 1, 2, 2), np.int64)), 2,
        output_size=(9, 4))),
    ("multi-margin-p", lambda lib: lib.nn.MultiMarginLoss(p=3)),
    ("gaussian-var-size", lambda lib: lib.nn.functional.gaussian_nll_loss(
        lib.tensor(_x(2, 3)), lib.tensor(_x(2, 3)), lib.tensor(np.ones((3, 2), np.float32)))),
    ("gaussian-var-negative", lambda lib: lib.nn.functional.gaussian_nll_loss(
        lib.tensor(_x(2, 3)), lib.tensor(_x(2, 3)), lib.tensor(-np.ones((2, 3), np.float32)))),
    ("channel-shuffle-groups", lambda lib: lib.nn.functional.channel_shuffle(
        lib.tensor(_x(1, 4, 2)), 3)),
    ("fractional-no-size", lambda lib: lib.nn.FractionalMaxPool2d(2)),
    ("fractional-ratio", lambda lib: lib.nn.FractionalMaxPool2d(2, output_ratio=1.5)),
    ("grid-sample-mode", lambda lib: lib.nn.functional.grid_sample(
        lib.tensor(_x(1, 1, 2, 2)), lib.tensor(_x(1, 2, 2, 2)), mode="linear")),
    ("affine-grid-theta", lambda lib: lib.nn.functional.affine_grid(lib.tensor(_x(1, 3, 3)),
                                                                     [1, 1, 2, 2])),
    *[(f"int-{name}", (lambda call: lambda lib: call(lib, lib.arange(48).reshape(2, 4, 3, 2)))(f))
      for name, f in [
          ("group-norm", lambda lib, x: lib.nn.functional.group_norm(x, 2)),
          ("instance-norm", lambda lib, x: lib.nn.functional.instance_norm(x)),
          ("rms-norm", lambda lib, x: lib.nn.functional.rms_norm(x, (2,))),
          ("adaptive-avg", lambda lib, x: lib.nn.functional.adaptive_avg_pool2d(x, 2)),
          ("bilinear", lambda lib, x: lib.nn.functional.interpolate(x, 4, mode="bilinear")),
          ("bicubic", lambda lib, x: lib.nn.functional.interpolate(x, 4, mode="bicubic")),
          ("selu", lambda lib, x: lib.nn.functional.selu(x)),
          ("hardswish", lambda lib, x: lib.nn.functional.hardswish(x)),
          ("glu", lambda lib, x: lib.nn.functional.glu(x, 1)),
      ]],
    ("huber-weight-size", lambda lib: lib.nn.functional.huber_loss(
        lib.tensor(_x(2, 3)), lib.tensor(_x(2, 3)), weight=lib.tensor(_x(3)))),
    ("embedding-bag-offsets", lambda lib: lib.nn.functional.embedding_bag(
        lib.tensor(np.array([1, 2])), lib.tensor(_x(3, 2)))),
    ("embedding-bag-psw-mode", lambda lib: lib.nn.functional.embedding_bag(
        lib.tensor(np.array([[1, 2]])), lib.tensor(_x(3, 2)), mode="mean",
        per_sample_weights=lib.tensor(_x(1, 2)))),
]


def _error_type(fn, lib):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(lib)
    except Exception as e:  # the type is what is compared
        return type(e)
    return None


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_errors_match_torch(case):
    expected = _error_type(case[1], torch)
    assert expected is not None
    got = _error_type(case[1], tj)
    assert got is not None and issubclass(got, expected), (got, expected)


# --- capture: trace and script give eager's result ----------------------------------------------

class _Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(4, 8, 3, stride=2, padding=1, output_padding=1, groups=2)
        self.norm = nn.GroupNorm(4, 8)
        self.act = nn.Hardswish()
        self.shuffle = nn.PixelShuffle(2)
        self.pool = nn.AdaptiveMaxPool2d((3, 2))
        self.conv = nn.Conv1d(8, 4, 3, padding=1, padding_mode="reflect")
        self.loss = nn.KLDivLoss(reduction="batchmean")

    def forward(self, x):
        y = self.act(self.norm(self.up(x)))
        y = F.interpolate(y, scale_factor=1.5, mode="bilinear", align_corners=False)
        y = self.pool(self.shuffle(F.pad(y, (0, 1, 1, 0))))
        z = self.conv(y.flatten(2).repeat(1, 4, 1))
        return z, self.loss(F.log_softmax(z, -1), F.softmax(z * 2, -1))


def test_trace_script_and_graph_file_match_eager(tmp_path):
    model = _Decoder()
    x = tj.tensor(sample(2, 4, 5, 4))
    eager_z, eager_loss = model(x)
    traced = tj.trace(model, x)
    tj.save(traced, tmp_path / "decoder.tjg")
    for compiled in (traced, tj.script(model), tj.load(tmp_path / "decoder.tjg")):
        z, loss = compiled(x)
        np.testing.assert_allclose(z.numpy(), eager_z.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(loss.numpy(), eager_loss.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("case", MODULE_CASES, ids=[c[0] for c in MODULE_CASES])
def test_every_module_traces(case):
    _, make, spec, _ = case
    model = make(tj).eval()
    inputs = [tj.tensor(a) for a in _inputs(spec, "float32")]
    expected = model(*inputs).numpy()
    got = tj.trace(model, *inputs)(*inputs).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_modules_script():
    for _, make, spec, _ in MODULE_CASES[::5]:  # a spread of them: scripting is slower
        model = make(tj).eval()
        inputs = [tj.tensor(a) for a in _inputs(spec, "float32")]
        np.testing.assert_allclose(tj.script(model)(*inputs).numpy(), model(*inputs).numpy(),
                                   rtol=1e-5, atol=1e-6, equal_nan=True)


def test_trace_functional_pieces():
    def pieces(x, w):
        y = F.conv_transpose1d(x, w, stride=3, padding=1)
        y = F.interpolate(y, size=11, mode="linear", align_corners=True)
        y = F.group_norm(F.adaptive_avg_pool1d(y, 5), 2)
        return F.smooth_l1_loss(y, F.instance_norm(y) * 2, beta=0.5, reduction="none") + \
            F.rms_norm(y, (5,))

    x, w = tj.tensor(sample(2, 4, 6)), tj.tensor(sample(4, 2, 3, seed=1))
    expected = pieces(x, w)
    for compiled in (tj.trace(pieces, x, w), tj.script(pieces)):
        np.testing.assert_allclose(compiled(x, w).numpy(), expected.numpy(), rtol=1e-5,
                                   atol=1e-6)
