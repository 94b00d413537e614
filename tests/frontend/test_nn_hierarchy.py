"""tracejit.nn's layer classes form torch's class hierarchy: every issubclass relation between
two classes of torch.nn.modules (public layers and the private bases both have) is the same in
tracejit.nn.modules, and the private bases take torch's constructor arguments."""

import importlib
import inspect
import itertools

import pytest
import torch

import tracejit as tj
import tracejit.nn.modules

SUBMODULES = [m.__name__.rsplit(".", 1)[1] for m in tracejit.nn.modules._SUBMODULES]


def _classes(module) -> dict[str, type]:
    return {name: value for name, value in vars(module).items() if isinstance(value, type)}


def _pairs() -> dict[str, tuple[type, type]]:
    """name -> (tracejit's class, torch's class) for every torch module class (public or a
    private base) that tracejit's nn.modules.X also has."""
    both = {}
    for sub in SUBMODULES:
        ours = _classes(importlib.import_module(f"tracejit.nn.modules.{sub}"))
        theirs = _classes(importlib.import_module(f"torch.nn.modules.{sub}"))
        for name in ours.keys() & theirs.keys():
            if issubclass(theirs[name], torch.nn.Module):
                both[name] = (ours[name], theirs[name])
    return both


def test_the_class_set_is_large_and_holds_the_private_bases():
    both = _pairs()
    assert len(both) > 150
    assert {"_ConvNd", "_ConvTransposeNd", "_NormBase", "_BatchNorm", "_InstanceNorm", "Module",
            "_DropoutNd", "_MaxPoolNd", "_AvgPoolNd", "_ConstantPadNd", "_Loss"} <= both.keys()


def test_every_issubclass_relation_is_torchs():
    both = _pairs()
    wrong = [(a, b, issubclass(both[a][0], both[b][0]))
             for a, b in itertools.permutations(sorted(both), 2)
             if issubclass(both[a][0], both[b][0]) != issubclass(both[a][1], both[b][1])]
    assert not wrong, wrong[:20]


@pytest.mark.parametrize("name", ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose2d", "MaxPool2d",
                                  "AvgPool2d", "BatchNorm2d", "InstanceNorm2d", "Dropout",
                                  "ZeroPad2d", "ReflectionPad2d", "Embedding", "ReLU"])
def test_layers_exist_once(name):
    cls = getattr(tj.nn, name)
    family = cls.__module__
    assert family != "tracejit.nn.layers", f"{name} still lives in layers.py"
    from tracejit.nn import layers

    assert getattr(layers, name, cls) is cls  # the old path names the same class


def test_convnd_takes_torchs_positional_arguments():
    from torch.nn.modules.conv import _ConvNd as TorchConvNd

    from tracejit.nn.modules.conv import _ConvNd

    ours = list(inspect.signature(_ConvNd.__init__).parameters)
    theirs = list(inspect.signature(TorchConvNd.__init__).parameters)
    assert ours == theirs

    def make(base, nn):
        class SharedConv(base):  # a library layer as written for torch
            def __init__(self, cin, cout):
                super().__init__(cin, cout, (3, 3), (1, 1), (1, 1), (1, 1), False, (0, 0), 1,
                                 True, "zeros")

            def forward(self, x):
                return nn.functional.conv2d(x, self.weight, self.bias, self.stride,
                                            self.padding)

        return SharedConv(2, 4)

    a, b = make(_ConvNd, tj.nn), make(TorchConvNd, torch.nn)
    assert repr(a) == repr(b)
    assert {k: tuple(v.shape) for k, v in a.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in b.state_dict().items()}
    a.load_state_dict({k: v.detach().numpy() for k, v in b.state_dict().items()})
    x = torch.randn(1, 2, 5, 5)
    with torch.no_grad():
        want = b(x).detach().numpy()
    got = a(tj.tensor(x.detach().numpy())).detach().numpy()
    assert got.shape == want.shape
    assert abs(got - want).max() < 1e-5


@pytest.mark.parametrize("make", [
    lambda nn: nn.Conv2d(2, 4, 3, padding="same", dilation=2, bias=False),
    lambda nn: nn.Conv2d(2, 4, (3, 2), stride=2, padding=1, padding_mode="reflect"),
    lambda nn: nn.ConvTranspose2d(2, 4, 3, stride=2, output_padding=1),
    lambda nn: nn.MaxPool2d(3, 2, 1, ceil_mode=True), lambda nn: nn.AvgPool2d(2),
    lambda nn: nn.AvgPool3d(2, 1), lambda nn: nn.BatchNorm2d(3, affine=False),
    lambda nn: nn.InstanceNorm2d(3, affine=True), lambda nn: nn.Dropout(0.2),
    lambda nn: nn.ZeroPad2d((1, 2, 0, 1)), lambda nn: nn.ConstantPad1d(2, 1.5),
    lambda nn: nn.Embedding(5, 3, padding_idx=1), lambda nn: nn.LogSoftmax(1),
    lambda nn: nn.LeakyReLU(0.2, True), lambda nn: nn.ReLU(inplace=True),
])
def test_reprs_and_state_dict_keys_match_torch(make):
    ours, theirs = make(tj.nn), make(torch.nn)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_a_library_transposed_conv_calls_output_padding_as_in_torch():
    def make(nn):
        class Up(nn.ConvTranspose2d):  # a library layer as written for torch
            def forward(self, x, output_size=None):
                pad = self._output_padding(x, output_size, self.stride, self.padding,
                                           self.kernel_size, 2, self.dilation)
                return nn.functional.conv_transpose2d(x, self.weight, self.bias, self.stride,
                                                      self.padding, pad, self.groups,
                                                      self.dilation)

        return Up(3, 2, 3, stride=2, padding=1)

    ours, theirs = make(tj.nn), make(torch.nn)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = torch.randn(1, 3, 4, 5)
    for size in (None, [8, 10], (1, 2, 7, 9)):
        with torch.no_grad():
            want = theirs(x, size).detach().numpy()
        got = ours(tj.tensor(x.detach().numpy()), size).detach().numpy()
        assert got.shape == want.shape
        assert abs(got - want).max() < 1e-5
