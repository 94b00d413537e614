"""tracejit.nn: torch.nn's modules, containers, initializers and functional API.

`Module` and the containers live in `module`, the layers in `layers`, `attention`, `conv`,
`pooling`, `normalization`, `padding`, `upsampling`, `activation`, `dropout`, `loss`, `sparse`
and `lazy` (and the recurrent and transformer modules), the initializers in `init` and the
stateless functions in `functional` (which re-exports its siblings `functional_*`).
"""

from tracejit.nn import functional, init
from tracejit.nn.activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh
from tracejit.nn.attention import MultiheadAttention, NonDynamicallyQuantizableLinear
from tracejit.nn.conv import Conv2d
from tracejit.nn.dropout import Dropout
from tracejit.nn.layers import Flatten, Identity, Linear, Unflatten
from tracejit.nn.module import Module, ModuleDict, ModuleList, Parameter, Sequential
from tracejit.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from tracejit.nn.pooling import AvgPool2d, MaxPool2d
from tracejit.nn.sparse import Embedding

__all__ = [
    "GELU",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Embedding",
    "Flatten",
    "Identity",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MaxPool2d",
    "Module",
    "ModuleDict",
    "ModuleList",
    "MultiheadAttention",
    "NonDynamicallyQuantizableLinear",
    "Parameter",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "Unflatten",
    "functional",
    "init",
]

# --- recurrent and Transformer layers, nn.utils ---
from tracejit.nn import utils
from tracejit.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from tracejit.nn.transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ += [
    "GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNBase", "RNNCell", "RNNCellBase",
    "Transformer", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder",
    "TransformerEncoderLayer", "utils",
]

# --- conv, pooling, normalization, padding, upsampling, activation, dropout, loss layers ---
from tracejit.nn import (  # noqa: E402
    activation,
    conv,
    dropout,
    lazy,
    loss,
    normalization,
    padding,
    pooling,
    sparse,
    upsampling,
)
from tracejit.nn.activation import *  # noqa: E402, F403
from tracejit.nn.conv import *  # noqa: E402, F403
from tracejit.nn.dropout import *  # noqa: E402, F403
from tracejit.nn.lazy import *  # noqa: E402, F403
from tracejit.nn.loss import *  # noqa: E402, F403
from tracejit.nn.normalization import *  # noqa: E402, F403
from tracejit.nn.padding import *  # noqa: E402, F403
from tracejit.nn.pooling import *  # noqa: E402, F403
from tracejit.nn.sparse import *  # noqa: E402, F403
from tracejit.nn.upsampling import *  # noqa: E402, F403

__all__ += [
    *activation.__all__, *conv.__all__, *dropout.__all__, *lazy.__all__, *loss.__all__,
    *normalization.__all__, *padding.__all__, *pooling.__all__, *sparse.__all__,
    *upsampling.__all__,
]

# --- parameter containers and nn.Buffer ---
from tracejit.nn import param_containers  # noqa: E402
from tracejit.nn.param_containers import *  # noqa: E402, F403  (Buffer, ParameterDict, ...)

__all__ += param_containers.__all__

# --- torch's submodule paths: nn.modules.*, nn.parameter, nn.common_types ---
from tracejit.nn import common_types, modules, parameter  # noqa: E402, F401
