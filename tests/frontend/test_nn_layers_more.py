"""The conv, pooling, normalization, padding, upsampling, activation, dropout and loss layers of
tracejit.nn against their torch 2.13 twins: reprs, state_dict keys and shapes, forward numerics
with torch's weights copied in (float32 and float64), error types, and trace/script parity.
The functional sweeps and the special layers are in test_nn_functional_more.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from layer_twins import assert_close, positive, run_twins, sample, twins

import tracejit as tj
from tracejit import nn
from tracejit.nn import functional as F

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
    np.testing.assert_array_equal(ours.predict(tj.tensor(x)).detach().numpy(),
                                  theirs.predict(torch.tensor(x)).detach().numpy())
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
            np.testing.assert_array_equal(a.detach().numpy(), t.detach().numpy())


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
        np.testing.assert_allclose(z.detach().numpy(), eager_z.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(loss.detach().numpy(), eager_loss.detach().numpy(), rtol=1e-5,
                                   atol=1e-7)


@pytest.mark.parametrize("case", MODULE_CASES, ids=[c[0] for c in MODULE_CASES])
def test_every_module_traces(case):
    _, make, spec, _ = case
    model = make(tj).eval()
    inputs = [tj.tensor(a) for a in _inputs(spec, "float32")]
    expected = model(*inputs).detach().numpy()
    got = tj.trace(model, *inputs)(*inputs).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_modules_script():
    for _, make, spec, _ in MODULE_CASES[::5]:  # a spread of them: scripting is slower
        model = make(tj).eval()
        inputs = [tj.tensor(a) for a in _inputs(spec, "float32")]
        np.testing.assert_allclose(tj.script(model)(*inputs).detach().numpy(),
                                   model(*inputs).detach().numpy(),
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
        np.testing.assert_allclose(compiled(x, w).detach().numpy(), expected.detach().numpy(),
                                   rtol=1e-5,
                                   atol=1e-6)
