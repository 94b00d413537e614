"""Corpus specs of the vision and generative models (tests/models/corpus/).

These programs come unchanged from pinned PyPI packages of well-known public repositories
(pytorchcv, torchsr, fepegar/unet, DCGAN-PyTorch, EfficientNet-PyTorch); each corpus file
names its package, path and licence and loads it through tests/models/installed.py. Every spec
builds the program small through its own constructor (channel widths of 4 to 32: most have a
few thousand parameters; those with widths fixed in the code, AlexNet's 4096-wide head, DCGAN,
CARN and Fast-SCNN, have 1 to 19 million) on inputs of 8 to 224 pixels, the smallest their
fixed pooling allows, and makes float32 inputs from numpy's seeded generator, so torch and
tracejit get equal values. Models run in eval mode (BatchNorm uses its
running statistics, Dropout is the identity).

Tolerances: the default rtol 1e-4 / atol 1e-5 for every program but RAFT and Fast-SCNN. Outputs
are of order 1 and come out of 10 to 40 float32 layers whose sums numpy and PyTorch's kernels order
differently; the largest difference measured against torch is 6.3e-7 (the 3-D U-Net, whose
InstanceNorm divides by per-sample variances), so the bound leaves a margin of ~15x without
hiding a real error (a wrong padding, pooling or normalization moves outputs by 1e-2 or more).
RAFT refines its flow iteratively through grid_sample, which amplifies rounding: torch alone
moves its flow by 1.5e-4 when only its convolution kernel changes, hence 1e-3 there.
Fast-SCNN's outputs reach 9 after ~50 layers: torch's own float32 result is 1.32e-5 from its
float64 one (tracejit's 1.33e-5, no layer worse than torch's), hence atol 5e-5 there.
"""

from __future__ import annotations

import numpy as np
from corpus_spec import Spec


def images(lib, rng, *shape):
    """float32 images in [-1, 1) of `shape` (N, C, H, W) or (N, C, D, H, W)."""
    return lib.tensor(rng.uniform(-1.0, 1.0, shape).astype(np.float32))


def image_inputs(*shape):
    """An `inputs` function making one batch of images of `shape`."""
    return lambda lib, rng: (images(lib, rng, *shape),)


# --- pytorchcv classifiers (osmr/imgclsmob) ------------------------------------------------

def _cifar_resnet(cls_name: str, channels, init: int, bottleneck: bool):
    return lambda mod: getattr(mod.program, cls_name)(
        channels=channels, init_block_channels=init, bottleneck=bottleneck, num_classes=10)


def _densenet_cifar(mod):
    # growth rate 4, 2 units per stage (get_densenet_cifar's formula for blocks=10)
    return mod.program.CIFARDenseNet(
        channels=[[12, 16], [12, 16], [12, 16]], init_block_channels=8, bottleneck=False,
        dropout_rate=0.1, num_classes=10)


def _nin_cifar(mod):
    return mod.program.CIFARNIN(
        channels=[[16, 12, 8], [16, 16, 16], [16, 16]], first_kernel_sizes=[5, 5, 3],
        num_classes=10)


def _mobilenetv2(mod):
    # two stride-2 steps (init block, stage 2): 28x28 -> 7x7 for the final 7x7 average pool
    return mod.program.MobileNetV2(
        channels=[[8], [12, 12]], init_block_channels=8, final_block_channels=16,
        remove_exp_conv=False, in_size=(28, 28), num_classes=10)


def _mobilenetv3(mod):
    # init block, stage 1 (first_stride) and stage 2 stride 2: 56x56 -> 7x7
    return mod.program.MobileNetV3(
        channels=[[8], [8, 8]], exp_channels=[[8], [16, 16]], init_block_channels=8,
        final_block_channels=16, classifier_mid_channels=16, kernels3=[[1], [1, 0]],
        use_relu=[[1], [1, 0]], use_se=[[1], [0, 1]], first_stride=True, final_use_se=False,
        in_size=(56, 56), num_classes=10)


def _shufflenetv2(mod):
    # init conv and max pool (x4), two stages (x4): 112x112 -> 7x7
    return mod.program.ShuffleNetV2(
        channels=[[16, 16], [32]], init_block_channels=8, final_block_channels=32,
        in_size=(112, 112), num_classes=10)


def _squeezenet(mod):
    # SqueezeNet 1.1's layout at 1/16 width; its 13x13 final pool wants 224x224 inputs
    return mod.program.SqueezeNet(
        channels=[[8, 8], [16, 16], [24, 24, 32, 32]], residuals=[[0, 1], [0, 1], [0, 1, 0, 1]],
        init_block_kernel_size=3, init_block_channels=8, in_size=(224, 224), num_classes=10)


def _efficientnet(mod):
    return mod.program.EfficientNet(
        channels=[[8], [12, 12]], init_block_channels=8, final_block_channels=32,
        kernel_sizes=[[3], [5, 3]], strides_per_stage=[1, 2], expansion_factors=[[1], [6, 6]],
        dropout_rate=0.2, tf_mode=True, in_size=(32, 32), num_classes=10)


def _ghostnet(mod):
    # init block and stages 2, 3 stride 2: 56x56 -> 7x7 for the final 7x7 average pool
    return mod.program.GhostNet(
        channels=[[8], [12, 12], [16]], init_block_channels=8, final_block_channels=32,
        classifier_mid_channels=32, kernels3=[[1], [1, 1], [0]], exp_factors=[[1], [3, 3], [3]],
        use_se=[[0], [0, 1], [1]], first_stride=False, in_size=(56, 56), num_classes=10)


def _alexnet(mod):
    # AlexNet 'a' (with local response normalization) at 1/16 width; 224x224 for its 6x6 head
    return mod.program.AlexNet(
        channels=[[8], [16], [16, 16, 16]], kernel_sizes=[[11], [5], [3, 3, 3]],
        strides=[[4], [1], [1, 1, 1]], paddings=[[0], [2], [1, 1, 1]], use_lrn=True,
        in_size=(224, 224), num_classes=10)


def _ibnbresnet(mod):
    # conv + max pool (x4) and stage 2 (x2): 56x56 -> 7x7 for the final 7x7 average pool
    return mod.program.IBNbResNet(
        channels=[[16], [32]], init_block_channels=8, in_size=(56, 56), num_classes=10)


def _cbamresnet(mod):
    # widths of 16 and 32 leave the attention's reduction-16 bottleneck 1 and 2 channels wide
    return mod.program.CbamResNet(
        channels=[[16], [32]], init_block_channels=8, bottleneck=False, in_size=(56, 56),
        num_classes=10)


def _pyramidnet_cifar(mod):
    return mod.program.CIFARPyramidNet(
        channels=[[8, 10], [12, 14], [16, 18]], init_block_channels=8, bottleneck=False,
        num_classes=10)


def _jasper(mod):
    # QuartzNet's layout (depthwise separable Conv1d, kernels 33 to 87) at 16 channels, on
    # 16 mel features instead of audio; forward takes the lengths too and returns them
    return mod.program.Jasper(
        channels=[16, 16, 16, 16, 16, 16, 16, 32], kernel_sizes=[33, 33, 39, 51, 63, 75, 87, 1],
        bn_eps=1e-3, dropout_rates=[0.0] * 8, repeat=2, use_dw=True, use_dr=False,
        from_audio=False, in_channels=16, num_classes=29)


def _features_and_lengths(lib, rng):
    x = lib.tensor(rng.standard_normal((2, 16, 40)).astype(np.float32))
    return x, lib.tensor(np.array([40, 31], dtype=np.int64))


def _sknet(mod):
    # SKNet's selective-kernel convolutions are grouped 32-fold: 64 is the narrowest width
    return mod.program.SKNet(
        channels=[[64], [64]], init_block_channels=8, in_size=(56, 56), num_classes=10)


def _resnesta(mod):
    return mod.program.ResNeStA(
        channels=[[16], [32]], init_block_channels=8, bottleneck=False, in_size=(56, 56),
        num_classes=10)


def _octresnet(mod):
    return mod.program.OctResNet(
        channels=[[16], [32]], init_block_channels=8, bottleneck=False, conv1_stride=True,
        in_size=(56, 56), num_classes=10)


def _tresnet(mod):
    return mod.program.TResNet(
        channels=[[16], [32], [64]], init_block_channels=16, bottleneck=[False, False, True],
        in_size=(64, 64), num_classes=10)


# --- segmentation ------------------------------------------------------------------------

def _enet(mod):
    # enet_cityscapes' four stages (two down, two up) with 2 or 3 units each instead of 17
    return mod.program.ENet(
        channels=[16, 32, 16, 8], init_block_channels=8,
        kernel_sizes=[[3, 3], [3, 5, 3], [3, 3], [3, 3]],
        paddings=[[1, 1], [1, 2, 2], [1, 1], [1, 1]],
        dilations=[[1, 1], [1, 1, 2], [1, 1], [1, 1]],
        use_asym_convs=[[0, 0], [0, 1, 0], [0, 0], [0, 0]],
        dropout_rates=[0.01, 0.1, 0.1, 0.1], downs=[1, 1, 0, 0], in_size=(32, 32),
        num_classes=4)


def _segnet(mod):
    # decoder widths mirror the encoder's: each unpooling reuses its encoder stage's indices
    return mod.program.SegNet(
        channels=[[8, 16, 16, 32, 32], [32, 16, 16, 8, 8]], layers=[[2] * 5, [2] * 5],
        in_size=(32, 32), num_classes=4)


def _pcv_unet(mod):
    # get_unet's layout at 1/8 width
    return mod.program.UNet(
        channels=[[16, 32, 64, 64], [64, 32, 16, 8]], init_block_channels=8, in_size=(32, 32),
        num_classes=3)


def _fastscnn(mod):
    return mod.program.FastSCNN(fixed_size=True, in_size=(64, 64), num_classes=4)


def _fepegar_unet2d(mod):
    return mod.program.UNet(
        in_channels=1, out_classes=2, dimensions=2, num_encoding_blocks=3,
        out_channels_first_layer=4, normalization="batch", upsampling_type="conv", padding=1,
        residual=True, dropout=0.1)


def _fepegar_unet3d(mod):
    return mod.program.UNet(
        in_channels=1, out_classes=2, dimensions=3, num_encoding_blocks=2,
        out_channels_first_layer=4, normalization="instance", upsampling_type="linear",
        padding=1, preactivation=True)


# --- keypoints and optical flow ---------------------------------------------------------

def _superpointnet(mod):
    # forward returns per-image lists: keypoints above the score threshold (a data-dependent
    # count), their scores and their descriptors sampled with grid_sample
    return mod.program.SuperPointNet(
        channels=[[8, 8], [8, 8], [16, 16], [16, 16]], final_block_channels=16)


def _raft(mod):
    # RAFT-small's layout (ConvGRU, no convex up-sampling mask) at 8 to 16 channels, a radius-2
    # correlation lookup and 2 refinement iterations; 128x128 frames keep the 4-level
    # correlation pyramid at least 2x2
    return mod.program.RAFT(
        corr_levels=4, corr_radius=2, hidden_dim=16, context_dim=8,
        encoder_init_block_channels=8, encoder_mid_channels=[[8, 8], [12, 12], [16, 16]],
        fnet_final_block_channels=16, encoder_bottleneck=True, cnet_normalize=False,
        corr_out_channels_list=(16,), flow_out_channels_list=(8, 4), mout_in_channels=20,
        mout_out_channels=14, gru_class=mod.program.ConvGRU, gru_input_dim=24,
        flow_mid_channels=16, mask_out_channels=0, iters=2)


def _two_frames(lib, rng):
    return images(lib, rng, 1, 3, 128, 128), images(lib, rng, 1, 3, 128, 128)


# --- super-resolution and generative models ----------------------------------------------

def _edsr(mod):
    return mod.program.EDSR(n_resblocks=2, n_feats=8, scale=2, res_scale=0.1)


def _ninasr(mod):
    return mod.program.NinaSR(n_resblocks=2, n_feats=8, scale=2)


def _vdsr(mod):
    return mod.program.VDSR(n_resblocks=3, n_feats=8, scale=2, pretrained=False)


def _rdn(mod):
    return mod.program.RDN(scale=2, G0=8, D=2, C=2, G=8)


def _rcan(mod):
    return mod.program.RCAN(n_resgroups=2, n_resblocks=2, n_feats=8, reduction=4, scale=2)


def _carn(mod):
    return mod.program.CARN(scale=2)


def _dcgan_generator(mod):
    # the 'g-cifar' parameters with a 16-dim latent instead of 100 (the widths are fixed at 64)
    return mod.program.Generator(mod.program.get_model_params("g-cifar")._replace(noise=16))


def _dcgan_discriminator(mod):
    return mod.program.Discriminator.from_name("d-cifar")


def _efficientnet_pytorch(mod):
    net = mod.program.EfficientNet.from_name(
        "efficientnet-b0", width_coefficient=0.25, depth_coefficient=0.3, image_size=32,
        dropout_rate=0.2, num_classes=10)
    net.set_swish(memory_efficient=False)  # the plain x * sigmoid(x), as for export
    return net


def _noise(lib, rng):
    """Latent vectors shaped (N, latent, 1, 1), as the DCGAN generator takes them."""
    return (lib.tensor(rng.standard_normal((2, 16, 1, 1)).astype(np.float32)),)


SPECS = [
    Spec("pytorchcv_resnet_cifar", _cifar_resnet("CIFARResNet", [[8], [16], [32]], 8, False),
         image_inputs(2, 3, 32, 32)),
    Spec("pytorchcv_preresnet_cifar",
         _cifar_resnet("CIFARPreResNet", [[16], [32], [64]], 8, True), image_inputs(2, 3, 32, 32)),
    Spec("pytorchcv_seresnet_cifar",
         _cifar_resnet("CIFARSEResNet", [[16], [32], [32]], 8, False), image_inputs(2, 3, 32, 32)),
    Spec("pytorchcv_densenet_cifar", _densenet_cifar, image_inputs(2, 3, 32, 32)),
    Spec("pytorchcv_nin_cifar", _nin_cifar, image_inputs(2, 3, 32, 32)),
    Spec("pytorchcv_mobilenetv2", _mobilenetv2, image_inputs(2, 3, 28, 28)),
    Spec("pytorchcv_mobilenetv3", _mobilenetv3, image_inputs(2, 3, 56, 56)),
    Spec("pytorchcv_shufflenetv2", _shufflenetv2, image_inputs(1, 3, 112, 112)),
    Spec("pytorchcv_squeezenet", _squeezenet, image_inputs(1, 3, 224, 224)),
    Spec("pytorchcv_efficientnet", _efficientnet, image_inputs(2, 3, 32, 32)),
    Spec("pytorchcv_ghostnet", _ghostnet, image_inputs(1, 3, 56, 56)),
    Spec("pytorchcv_alexnet", _alexnet, image_inputs(1, 3, 224, 224)),
    Spec("pytorchcv_ibnbresnet", _ibnbresnet, image_inputs(1, 3, 56, 56)),
    Spec("pytorchcv_cbamresnet", _cbamresnet, image_inputs(1, 3, 56, 56)),
    Spec("pytorchcv_pyramidnet_cifar", _pyramidnet_cifar, image_inputs(2, 3, 32, 32)),
    Spec("pytorchcv_sknet", _sknet, image_inputs(1, 3, 56, 56)),
    Spec("pytorchcv_resnesta", _resnesta, image_inputs(1, 3, 56, 56)),
    Spec("pytorchcv_octresnet", _octresnet, image_inputs(1, 3, 56, 56)),
    Spec("pytorchcv_tresnet", _tresnet, image_inputs(1, 3, 64, 64)),
    Spec("pytorchcv_jasper", _jasper, _features_and_lengths),
    Spec("pytorchcv_enet", _enet, image_inputs(1, 3, 32, 32)),
    Spec("pytorchcv_segnet", _segnet, image_inputs(1, 3, 32, 32)),
    Spec("pytorchcv_unet", _pcv_unet, image_inputs(1, 3, 32, 32)),
    Spec("pytorchcv_fastscnn", _fastscnn, image_inputs(1, 3, 64, 64), atol=5e-5,
         notes="float32 rounding, not an op: layer by layer against torch in float64, tracejit "
               "and torch's float32 errors are alike (final 1.33e-5 and 1.32e-5, outputs up to "
               "9); they differ from each other by 1.28e-5, over the default atol 1e-5"),
    Spec("fepegar_unet2d", _fepegar_unet2d, image_inputs(2, 1, 16, 16)),
    Spec("fepegar_unet3d", _fepegar_unet3d, image_inputs(1, 1, 8, 8, 8)),
    Spec("pytorchcv_superpointnet", _superpointnet, image_inputs(1, 1, 32, 32)),
    Spec("pytorchcv_raft", _raft, _two_frames, rtol=1e-3, atol=1e-3,
         notes="iterative flow refinement amplifies float32 rounding: torch itself moves the "
               "flow by up to 1.5e-4 (of 1.2) when only its conv kernel changes (mkldnn off)"),
    Spec("torchsr_ninasr", _ninasr, image_inputs(1, 3, 8, 8)),
    Spec("torchsr_vdsr", _vdsr, image_inputs(1, 3, 8, 8)),
    Spec("torchsr_rdn", _rdn, image_inputs(1, 3, 8, 8)),
    Spec("torchsr_edsr", _edsr, image_inputs(1, 3, 8, 8)),
    Spec("torchsr_rcan", _rcan, image_inputs(1, 3, 8, 8)),
    Spec("torchsr_carn", _carn, image_inputs(1, 3, 8, 8)),
    Spec("dcgan_pytorch_generator", _dcgan_generator, _noise),
    Spec("dcgan_pytorch_discriminator", _dcgan_discriminator, image_inputs(2, 3, 64, 64)),
    Spec("dcgan_pytorch_discriminator_train", _dcgan_discriminator, image_inputs(4, 3, 64, 64),
         train=True, notes="train mode: BatchNorm normalizes with the batch's statistics"),
    Spec("efficientnet_pytorch", _efficientnet_pytorch, image_inputs(2, 3, 32, 32)),
]
