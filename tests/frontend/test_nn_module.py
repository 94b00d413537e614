"""tracejit.nn's module system against torch.nn: registration, walks, state_dict, repr.

Every model here is built twice from one factory (`lib` is tracejit or torch), so names, keys,
reprs and error texts are compared with what torch itself produces.
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
import pytest
import torch

import tracejit as tj
from tracejit import nn


def make_net(lib):
    """A small model with nested modules, a shared layer and both kinds of buffer."""

    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = lib.nn.Conv2d(3, 4, 3, padding=1, bias=False)
            self.bn = lib.nn.BatchNorm2d(4)
            self.body = lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.ReLU(),
                                          lib.nn.Linear(8, 2))
            self.tied = self.body[0]
            self.scale = lib.nn.Parameter(lib.ones(2))
            self.register_buffer("step", lib.zeros(1))
            self.register_buffer("cache", lib.zeros(3), persistent=False)
            self.note = "not registered"

        def forward(self, x):
            x = self.bn(self.conv(x)).mean((2, 3))
            return self.body(x) * self.scale

    return Net()


def make_seq(lib):
    return lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.ReLU(), lib.nn.Linear(8, 3))


def torch_state(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def torch_error(fn) -> str:
    with pytest.raises(Exception) as info:
        fn()
    return str(info.value)


# --- Parameter ----------------------------------------------------------------------------------

def test_parameter_shares_data_and_is_a_tensor():
    data = tj.tensor([1.0, 2.0])
    p = nn.Parameter(data)
    assert isinstance(p, tj.Tensor) and p.requires_grad
    with tj.no_grad():  # an in-place write to a leaf that requires grad (torch's rule)
        p.add_(1)
    assert data.tolist() == [2.0, 3.0]
    assert type(p + 1) is tj.Tensor
    assert not nn.Parameter(tj.zeros(1), requires_grad=False).requires_grad
    assert tuple(nn.Parameter().shape) == (0,)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("requires_grad", [True, False])
def test_parameter_repr_is_torchs(dtype, requires_grad):
    values = [[1.0, -2.0], [0.0, 3.0]]  # tracejit prints other fractions unlike torch
    ours = nn.Parameter(tj.tensor(values, dtype=getattr(tj, dtype)), requires_grad)
    theirs = torch.nn.Parameter(torch.tensor(values, dtype=getattr(torch, dtype)), requires_grad)
    assert repr(ours) == repr(theirs).replace("torch.", "tracejit.")


# --- registration -------------------------------------------------------------------------------

def test_setattr_registers_parameters_modules_and_buffers():
    net = make_net(tj)
    assert list(net._parameters) == ["scale"]
    assert list(net._modules) == ["conv", "bn", "body", "tied"]
    assert list(net._buffers) == ["step", "cache"]
    assert net.note == "not registered" and "note" in net.__dict__
    assert net.tied is net.body[0]


def test_reassigning_and_deleting_entries():
    net = make_net(tj)
    net.scale = None
    assert "scale" in net._parameters and net.scale is None
    net.step = tj.ones(1)
    assert net._buffers["step"].tolist() == [1.0]
    net.body = None
    assert net._modules["body"] is None
    del net.conv, net.step, net.note
    assert "conv" not in net._modules and "step" not in net._buffers
    assert not hasattr(net, "note")
    net.tied = nn.Parameter(tj.zeros(1))  # a parameter replaces a module of the same name
    assert "tied" in net._parameters and "tied" not in net._modules


@pytest.mark.parametrize("action", [
    lambda lib, m: setattr(m, "weight", 3),
    lambda lib, m: setattr(m, "sub", lib.nn.ReLU()) or setattr(m, "sub", 3),
    lambda lib, m: m.register_buffer("b", None) or setattr(m, "b", 3),
    lambda lib, m: m.register_buffer("a.b", None),
    lambda lib, m: m.register_buffer("", None),
    lambda lib, m: m.register_buffer("weight", None),
    lambda lib, m: m.register_buffer("x", [1.0]),
    lambda lib, m: m.register_parameter("x", 3),
    lambda lib, m: m.add_module("x", 3),
    lambda lib, m: m.add_module("a.b", lib.nn.ReLU()),
    lambda lib, m: m.missing,
])
def test_registration_errors_match_torch(action):
    ours = torch_error(lambda: action(tj, tj.nn.Sequential(tj.nn.Linear(2, 2))[0]))
    theirs = torch_error(lambda: action(torch, torch.nn.Sequential(torch.nn.Linear(2, 2))[0]))
    assert ours == theirs


def test_assigning_before_init_is_an_attribute_error():
    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tj.zeros(1))

    with pytest.raises(AttributeError, match=r"before Module\.__init__"):
        Early()


# --- walks --------------------------------------------------------------------------------------

@pytest.mark.parametrize("walk", [
    lambda m: [n for n, _ in m.named_parameters()],
    lambda m: [n for n, _ in m.named_parameters(prefix="model")],
    lambda m: [n for n, _ in m.named_parameters(recurse=False)],
    lambda m: [n for n, _ in m.named_parameters(remove_duplicate=False)],
    lambda m: [n for n, _ in m.named_buffers()],
    lambda m: [n for n, _ in m.named_buffers(prefix="p", recurse=True)],
    lambda m: [n for n, _ in m.named_modules()],
    lambda m: [n for n, _ in m.named_modules(prefix="root", remove_duplicate=False)],
    lambda m: [n for n, _ in m.named_children()],
    lambda m: [type(c).__name__ for c in m.children()],
    lambda m: [type(c).__name__ for c in m.modules()],
    lambda m: [tuple(p.shape) for p in m.parameters()],
    lambda m: [tuple(b.shape) for b in m.buffers()],
    lambda m: list(m.state_dict()),
    lambda m: list(m.body.state_dict()),
])
def test_walks_match_torch(walk):
    assert walk(make_net(tj)) == walk(make_net(torch))


def test_shared_parameters_are_yielded_once():
    net = make_net(tj)
    params = list(net.parameters())
    assert len(params) == len({id(p) for p in params})
    assert any(p is net.body[0].weight for p in params)


def test_state_dict_shares_memory_and_keep_vars_returns_parameters():
    net = make_net(tj)
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    sd["scale"].fill_(5.0)
    assert net.scale.tolist() == [5.0, 5.0]
    assert net.state_dict(keep_vars=True)["scale"] is net.scale
    assert sd["bn.num_batches_tracked"].dtype is tj.int64


# --- load_state_dict ----------------------------------------------------------------------------

@pytest.mark.parametrize("convert", [
    lambda v: v.detach().numpy(),
    lambda v: v.detach(),
    lambda v: tj.tensor(v.detach().numpy()),
])
def test_load_state_dict_copies_in_place(convert):
    ours, theirs = make_net(tj), make_net(torch)
    weight, mean = ours.body[0].weight, ours.bn.running_mean
    theirs.bn.running_mean.uniform_()
    theirs.bn.num_batches_tracked.fill_(7)
    result = ours.load_state_dict({k: convert(v) for k, v in theirs.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == repr(theirs.load_state_dict(theirs.state_dict()))
    assert weight is ours.body[0].weight and mean is ours.bn.running_mean
    for key, value in torch_state(theirs).items():
        np.testing.assert_array_equal(ours.state_dict()[key].detach().numpy(), value)
    assert ours.bn.num_batches_tracked.item() == 7


def test_state_dict_round_trip_between_tracejit_models():
    a, b = make_seq(tj), make_seq(tj)
    b.load_state_dict(a.state_dict())
    x = tj.randn(5, 4)
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())


def edit_missing(sd):
    del sd["0.bias"], sd["2.weight"]


def edit_unexpected(sd):
    sd["3.weight"] = sd["0.weight"]
    sd["extra"] = sd["0.weight"]
    sd["0.weight.x"] = sd["0.weight"]


def edit_both(sd):
    edit_missing(sd)
    edit_unexpected(sd)


def edit_shape(sd):
    sd["0.weight"] = sd["0.weight"][:, :3]


def edit_shape_and_missing(sd):
    edit_shape(sd)
    del sd["2.bias"]


@pytest.mark.parametrize("edit", [edit_missing, edit_unexpected, edit_both, edit_shape,
                                  edit_shape_and_missing])
def test_load_state_dict_errors_are_torchs(edit):
    theirs = make_seq(torch)
    sd = OrderedDict((k, v.detach()) for k, v in theirs.state_dict().items())
    edit(sd)
    expected = torch_error(lambda: theirs.load_state_dict(sd))
    ours = torch_error(lambda: make_seq(tj).load_state_dict(
        OrderedDict((k, v.detach().numpy()) for k, v in sd.items())))
    assert ours == expected.replace("torch.Size", "tracejit.Size")
    assert ours.startswith("Error(s) in loading state_dict for Sequential:\n\t")


@pytest.mark.parametrize("edit", [edit_missing, edit_unexpected, edit_both])
def test_load_state_dict_not_strict_returns_the_keys(edit):
    theirs = make_seq(torch)
    sd = OrderedDict((k, v.detach()) for k, v in theirs.state_dict().items())
    edit(sd)
    expected = theirs.load_state_dict(sd, strict=False)
    result = make_seq(tj).load_state_dict({k: v.detach().numpy() for k, v in sd.items()},
                                          strict=False)
    assert result.missing_keys == expected.missing_keys
    assert result.unexpected_keys == expected.unexpected_keys
    assert result == tuple(expected)


def test_load_state_dict_shape_mismatch_without_strict_still_raises():
    sd = make_seq(tj).state_dict()
    sd["2.bias"] = tj.zeros(4)
    with pytest.raises(RuntimeError, match=r"size mismatch for 2\.bias"):
        make_seq(tj).load_state_dict(sd, strict=False)


def test_load_state_dict_rejects_non_tensor_values():
    with pytest.raises(RuntimeError, match=r'While copying the parameter named "0.bias"'):
        make_seq(tj).load_state_dict({**make_seq(tj).state_dict(), "0.bias": "zeros"})
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        make_seq(tj).load_state_dict([1, 2])


# --- modes, conversion, hooks -------------------------------------------------------------------

def test_train_and_eval_propagate():
    net = make_net(tj)
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert net.train() is net and all(m.training for m in net.modules())
    net.body.train(False)
    assert net.training and not net.body[1].training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        net.train("no")


def test_to_dtype_keeps_parameter_objects_and_integer_buffers():
    net = make_net(tj)
    weight = net.body[0].weight
    assert net.to(tj.float64) is net
    assert weight is net.body[0].weight and weight.dtype is tj.float64
    assert all(p.dtype is tj.float64 for p in net.parameters())
    assert net.bn.running_var.dtype is tj.float64 and net.bn.num_batches_tracked.dtype is tj.int64
    assert net.float().bn.running_mean.dtype is tj.float32
    assert net.double().scale.dtype is tj.float64
    assert net.to(dtype=tj.float32).scale.dtype is tj.float32
    assert net.to("cpu") is net and net.cpu() is net
    assert net.to(tj.zeros(1, dtype=tj.float64)).scale.dtype is tj.float64


def test_to_errors():
    net = make_seq(tj)
    with pytest.raises(TypeError, match="only accepts floating point"):
        net.to(tj.int64)
    with pytest.raises(RuntimeError, match="CPU only"):
        net.cuda()
    with pytest.raises(RuntimeError, match="CPU only"):
        net.to("cuda")


def test_apply_zero_grad_requires_grad():
    net = make_net(tj)
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    theirs = []
    make_net(torch).apply(lambda m: theirs.append(type(m).__name__))
    assert seen == theirs
    net.zero_grad()
    assert net.requires_grad_(False) is net
    assert not any(p.requires_grad for p in net.parameters())


def test_forward_hooks():
    seq = make_seq(tj)
    calls = []
    plain_zeros, plain_ones = seq(tj.zeros(2, 4)).detach().numpy(), seq(tj.ones(2,
                                                                                4)).detach().numpy()
    pre = seq.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    post = seq.register_forward_hook(lambda m, args, out: calls.append(out.shape) or out + 1)
    np.testing.assert_array_equal(seq(tj.ones(2, 4)).detach().numpy(), plain_zeros + 1)
    assert calls == [tj.Size([2, 3])]
    pre.remove()
    post.remove()
    np.testing.assert_array_equal(seq(tj.ones(2, 4)).detach().numpy(), plain_ones)
    assert len(calls) == 1


def test_module_without_forward():
    with pytest.raises(NotImplementedError, match=r'Module \[Module\] is missing the required'):
        nn.Module()(1)


def test_dir_lists_registered_names():
    names = dir(make_net(tj))
    assert {"conv", "scale", "step", "cache", "note", "forward", "state_dict"} <= set(names)
    assert "0" not in dir(make_seq(tj))


def test_deepcopy_is_independent():
    net = make_seq(tj)
    clone = copy.deepcopy(net)
    with tj.no_grad():
        clone[0].weight.fill_(0.0)
    assert float(net[0].weight.abs().sum()) > 0
    assert isinstance(clone[0].weight, nn.Parameter)


def test_get_submodule():
    net = make_net(tj)
    assert net.get_submodule("body.2") is net.body[2]
    assert net.get_submodule("") is net
    with pytest.raises(AttributeError):
        net.get_submodule("body.9")


# --- repr ---------------------------------------------------------------------------------------

REPR_CASES = [
    make_seq,
    make_net,
    lambda lib: lib.nn.Sequential(OrderedDict(
        stem=lib.nn.Sequential(lib.nn.Conv2d(1, 6, 5), lib.nn.MaxPool2d(2)),
        head=lib.nn.ModuleList([lib.nn.Linear(3, 3), lib.nn.Linear(3, 3), lib.nn.Tanh()]),
    )),
    lambda lib: lib.nn.ModuleList([lib.nn.ReLU(), lib.nn.ReLU(), lib.nn.Linear(2, 2),
                                   lib.nn.ReLU()]),
    lambda lib: lib.nn.ModuleList(),
    lambda lib: lib.nn.Sequential(),
    lambda lib: lib.nn.ModuleDict({"act": lib.nn.GELU(approximate="tanh"),
                                   "drop": lib.nn.Dropout(0.25)}),
    lambda lib: lib.nn.Conv2d(3, 6, (5, 3), stride=2, padding=(1, 2), dilation=2, groups=3,
                              bias=False, padding_mode="reflect"),
    lambda lib: lib.nn.Conv2d(4, 4, 3, padding="same"),
    lambda lib: lib.nn.Conv2d(4, 4, 3, padding="valid"),
    lambda lib: lib.nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
    lambda lib: lib.nn.AvgPool2d((2, 3)),
    lambda lib: lib.nn.BatchNorm2d(5, momentum=None, affine=False),
    lambda lib: lib.nn.BatchNorm1d(5, eps=1e-3, track_running_stats=False),
    lambda lib: lib.nn.LayerNorm((4, 5), elementwise_affine=False),
    lambda lib: lib.nn.LayerNorm(6, eps=1e-6, bias=False),
    lambda lib: lib.nn.Embedding(10, 3, padding_idx=-1),
    lambda lib: lib.nn.Sequential(lib.nn.ReLU(inplace=True), lib.nn.SiLU(), lib.nn.Sigmoid(),
                                  lib.nn.Softmax(dim=1), lib.nn.LogSoftmax(-1),
                                  lib.nn.Flatten(), lib.nn.Identity(), lib.nn.LeakyReLU(0.2),
                                  lib.nn.GELU(), lib.nn.Unflatten(1, (2, 3))),
    lambda lib: lib.nn.Linear(4, 8, bias=False),
    lambda lib: lib.nn.MultiheadAttention(8, 2),
    lambda lib: lib.nn.BatchNorm2d(3, bias=False),
]


@pytest.mark.parametrize("make", REPR_CASES)
def test_repr_is_torchs(make):
    assert repr(make(tj)) == repr(make(torch))


def test_repr_example_from_the_docs():
    seq = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
    assert repr(seq) == ("Sequential(\n  (0): Linear(in_features=4, out_features=8, bias=True)\n"
                         "  (1): ReLU()\n)")


# --- containers ---------------------------------------------------------------------------------

def make_long_seq(lib):
    return lib.nn.Sequential(*(lib.nn.Linear(i + 1, i + 2) for i in range(5)))


@pytest.mark.parametrize("op", [
    lambda s: s[1],
    lambda s: s[-1],
    lambda s: s[1:4],
    lambda s: s[::-2],
    lambda s: s.append(s[0]),
    lambda s: s.insert(1, type(s[0])(9, 9)),
    lambda s: s.insert(-1, type(s[0])(9, 9)),
    lambda s: s.extend([s[0], s[1]]),
    lambda s: s + s[:2],
    lambda s: s.__delitem__(1) or s,
    lambda s: s.__delitem__(slice(0, 4, 2)) or s,
    lambda s: s.pop(2),
])
def test_sequential_operations_match_torch(op):
    def describe(m):
        return repr(m), [n for n, _ in m.named_modules()]

    assert describe(op(make_long_seq(tj))) == describe(op(make_long_seq(torch)))


def test_sequential_basics():
    seq = make_long_seq(tj)
    assert len(seq) == 5 and [m.in_features for m in seq] == [1, 2, 3, 4, 5]
    assert isinstance(seq[1:3], nn.Sequential)
    seq[0] = nn.ReLU()
    assert isinstance(seq[0], nn.ReLU)
    with pytest.raises(IndexError, match="index 5 is out of range"):
        seq[5]
    keyed = nn.Sequential(OrderedDict(a=nn.ReLU(), b=nn.Tanh()))
    assert list(keyed._modules) == ["a", "b"] and isinstance(keyed.b, nn.Tanh)


def test_sequential_forward_chains():
    seq = make_seq(tj)
    x = tj.randn(3, 4)
    expected = seq[2](seq[1](seq[0](x)))
    np.testing.assert_array_equal(seq(x).detach().numpy(), expected.detach().numpy())


@pytest.mark.parametrize("op", [
    lambda ml: ml[1:],
    lambda ml: ml.append(ml[0]),
    lambda ml: ml.extend([ml[0], ml[1]]),
    lambda ml: ml.__iadd__([ml[1]]),
    lambda ml: ml + ml,
    lambda ml: ml.insert(0, ml[2]) or ml,
    lambda ml: ml.insert(2, ml[0]) or ml,
    lambda ml: ml.__delitem__(0) or ml,
    lambda ml: ml.__delitem__(slice(1, None)) or ml,
    lambda ml: ml.pop(-1),
])
def test_module_list_operations_match_torch(op):
    def make(lib):
        return lib.nn.ModuleList([lib.nn.Linear(1, 2), lib.nn.ReLU(), lib.nn.Linear(2, 3)])

    def describe(m):
        return repr(m), [n for n, _ in m.named_modules()]

    assert describe(op(make(tj))) == describe(op(make(torch)))


def test_module_list_basics():
    ml = nn.ModuleList([nn.ReLU(), nn.Tanh()])
    ml += [nn.Sigmoid()]
    assert len(ml) == 3 and isinstance(ml[-1], nn.Sigmoid)
    assert [type(m).__name__ for m in ml] == ["ReLU", "Tanh", "Sigmoid"]
    ml[0] = nn.GELU()
    assert isinstance(ml[0], nn.GELU) and ml.insert(-1, nn.SiLU()) is None
    assert [type(m).__name__ for m in ml] == ["GELU", "Tanh", "SiLU", "Sigmoid"]
    with pytest.raises(IndexError):
        ml[4]
    with pytest.raises(TypeError, match=r"ModuleList\.extend should be called with an iterable"):
        ml.extend(3)


def test_module_dict_mapping_api():
    md = nn.ModuleDict({"a": nn.ReLU()})
    md.update([("b", nn.Tanh())])
    md["c"] = nn.Linear(2, 2)
    assert list(md) == ["a", "b", "c"] and list(md.keys()) == ["a", "b", "c"]
    assert "b" in md and len(md) == 3 and isinstance(md["c"], nn.Linear)
    assert [type(v).__name__ for v in md.values()] == ["ReLU", "Tanh", "Linear"]
    assert [k for k, _ in md.items()] == ["a", "b", "c"]
    assert [n for n, _ in md.named_parameters()] == ["c.weight", "c.bias"]
    assert isinstance(md.pop("a"), nn.ReLU) and "a" not in md
    del md["b"]
    assert list(md) == ["c"]
    md.clear()
    assert len(md) == 0
    with pytest.raises(ValueError, match="has length 3; 2 is required"):
        md.update([("a", nn.ReLU(), 3)])
