"""`tracejit.nn.modules`: torch.nn.modules' package layout, so `from torch.nn.modules.conv import
Conv2d` (or `_ConvNd`) finds tracejit.nn's classes after the import is mapped. Every class is
also here at the top, as in torch (`torch.nn.modules.Linear`)."""

from tracejit.nn.modules import (
    activation,
    batchnorm,
    channelshuffle,
    container,
    conv,
    distance,
    dropout,
    flatten,
    fold,
    instancenorm,
    linear,
    loss,
    module,
    normalization,
    padding,
    pixelshuffle,
    pooling,
    rnn,
    sparse,
    transformer,
    upsampling,
)
from tracejit.nn.modules import utils as utils

_SUBMODULES = (activation, batchnorm, channelshuffle, container, conv, distance, dropout, flatten,
               fold, instancenorm, linear, loss, module, normalization, padding, pixelshuffle,
               pooling, rnn, sparse, transformer, upsampling)
globals().update({name: getattr(m, name) for m in _SUBMODULES for name in m.__all__})

__all__ = sorted({name for m in _SUBMODULES for name in m.__all__})
