"""tracejit.nn layers and models against their torch twins, plus default-initialisation statistics.

Each model comes from one factory called with `lib` = tracejit or torch; torch's weights are
copied into the tracejit twin with load_state_dict, both run on the same input, and outputs
(and, for batch norm, running statistics) must agree to float tolerance.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import tracejit as tj
from tracejit import nn
from tracejit.nn import init

TOL = {"float32": {"rtol": 1e-5, "atol": 1e-5}, "float64": {"rtol": 1e-10, "atol": 1e-10}}


def randomize(module: torch.nn.Module) -> None:
    """Give every floating-point tensor of a torch module values in [0.5, 1.5)."""
    with torch.no_grad():
        for value in module.state_dict().values():
            if value.is_floating_point():
                value.copy_(torch.rand_like(value) + 0.5)


def twins(make, dtype: str = "float32", random_state: bool = False):
    """(ours, theirs): `make(tracejit)` holding a copy of `make(torch)`'s state."""
    torch.manual_seed(0)
    theirs = make(torch).to(getattr(torch, dtype))
    if random_state:
        randomize(theirs)
    ours = make(tj).to(getattr(tj, dtype))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def sample(*shape: int, dtype: str = "float32", seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def assert_close(ours, theirs, dtype: str) -> None:
    expected = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    assert ours.dtype is getattr(tj, dtype)
    assert tuple(ours.shape) == tuple(expected.shape)
    np.testing.assert_allclose(ours.detach().numpy(), expected, **TOL[dtype])


def check_twins(make, x: np.ndarray, dtype: str = "float32", random_state: bool = False):
    """Build both twins, run them on `x`, compare; returns the twins."""
    ours, theirs = twins(make, dtype, random_state)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x))
    assert_close(ours(tj.tensor(x)), expected, dtype)
    return ours, theirs


# --- single layers ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(dtype, bias):
    check_twins(lambda lib: lib.nn.Linear(6, 5, bias=bias), sample(3, 4, 6, dtype=dtype), dtype)


def test_linear_dtype_argument():
    layer = nn.Linear(3, 2, dtype=tj.float64)
    assert layer.weight.dtype is tj.float64 and layer.bias.dtype is tj.float64


CONV_CASES = [
    (3, 6, 5, {}),
    (3, 4, 3, {"stride": 2, "padding": 1}),
    (4, 6, (3, 2), {"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2)}),
    (4, 8, 3, {"groups": 2, "bias": False}),
    (4, 4, 3, {"groups": 4, "padding": 2, "dilation": 2}),
    (3, 5, 3, {"padding": "same"}),
    (3, 5, 4, {"padding": "same"}),
    (3, 5, (2, 3), {"padding": "same", "dilation": (1, 2)}),
    (3, 5, 3, {"padding": "valid"}),
    (3, 4, 3, {"padding": 1, "padding_mode": "reflect"}),
    (3, 4, 3, {"padding": (2, 1), "padding_mode": "replicate", "stride": 2}),
    (3, 4, 3, {"padding": 2, "padding_mode": "circular"}),
    (3, 4, 4, {"padding": "same", "padding_mode": "reflect"}),
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize(("cin", "cout", "k", "kwargs"), CONV_CASES)
def test_conv2d(cin, cout, k, kwargs):
    check_twins(lambda lib: lib.nn.Conv2d(cin, cout, k, **kwargs), sample(2, cin, 9, 8))


@pytest.mark.parametrize(("cin", "cout", "k", "kwargs"), [CONV_CASES[2], CONV_CASES[6]])
def test_conv2d_float64(cin, cout, k, kwargs):
    x = sample(2, cin, 7, 9, dtype="float64")
    check_twins(lambda lib: lib.nn.Conv2d(cin, cout, k, **kwargs), x, "float64")


@pytest.mark.parametrize("kwargs", [
    {"groups": 0}, {"groups": 2, "in_channels": 3}, {"padding": "full"},
    {"padding": "same", "stride": 2}, {"padding_mode": "mirror"},
])
def test_conv2d_argument_errors_match_torch(kwargs):
    args = {"in_channels": 4, "out_channels": 4, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError) as theirs:
        torch.nn.Conv2d(**args)
    with pytest.raises(ValueError) as ours:
        nn.Conv2d(**args)
    assert sorted_sets(str(ours.value)) == sorted_sets(str(theirs.value))


def sorted_sets(message: str) -> str:
    """The message with each printed set's items sorted (set order varies between processes)."""
    return re.sub(r"\{([^}]*)\}", lambda m: "{" + ", ".join(sorted(m[1].split(", "))) + "}",
                  message)


@pytest.mark.parametrize(("args", "kwargs"), [
    ((2,), {}),
    ((3,), {"stride": 2, "padding": 1}),
    ((3,), {"stride": 1, "dilation": 2}),
    ((3,), {"stride": 2, "ceil_mode": True}),
    (((2, 3),), {"stride": (1, 2)}),
])
def test_max_pool2d(args, kwargs):
    check_twins(lambda lib: lib.nn.MaxPool2d(*args, **kwargs), sample(2, 3, 9, 10))


@pytest.mark.parametrize(("args", "kwargs"), [
    ((2,), {}),
    ((3, 2, 1), {}),
    ((3, 2, 1), {"count_include_pad": False}),
    ((3, 2), {"ceil_mode": True}),
    ((3, 2, 1), {"ceil_mode": True, "count_include_pad": False}),
    ((2,), {"divisor_override": 3}),
])
def test_avg_pool2d(args, kwargs):
    check_twins(lambda lib: lib.nn.AvgPool2d(*args, **kwargs), sample(2, 3, 9, 10))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kwargs", [{}, {"affine": False}, {"eps": 1e-2}])
def test_batch_norm2d_eval(dtype, kwargs):
    ours, theirs = twins(lambda lib: lib.nn.BatchNorm2d(4, **kwargs).eval(), dtype, True)
    x = sample(3, 4, 5, 6, dtype=dtype)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x))
    assert_close(ours(tj.tensor(x)), expected, dtype)
    assert ours.num_batches_tracked.item() == 0


def run_training_steps(ours, theirs, shape, dtype, steps=3):
    """Forward both twins in training mode on fresh batches; compare outputs and state."""
    for step in range(steps):
        x = sample(*shape, dtype=dtype, seed=step) * (step + 1) + step
        with torch.no_grad():
            expected = theirs(torch.from_numpy(x))
        assert_close(ours(tj.tensor(x)), expected, dtype)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].detach().numpy(),
                                   value.detach().numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kwargs", [
    {}, {"momentum": None}, {"momentum": 0.5, "affine": False},
    {"track_running_stats": False},
])
def test_batch_norm2d_train(dtype, kwargs):
    ours, theirs = twins(lambda lib: lib.nn.BatchNorm2d(4, **kwargs), dtype, True)
    run_training_steps(ours, theirs, (5, 4, 3, 2), dtype)
    if kwargs.get("track_running_stats", True):
        assert ours.num_batches_tracked.item() == 3
    ours.eval()
    theirs.eval()
    x = sample(2, 4, 3, 3, dtype=dtype, seed=9)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x))
    assert_close(ours(tj.tensor(x)), expected, dtype)


@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5)])
def test_batch_norm1d_train(shape):
    ours, theirs = twins(lambda lib: lib.nn.BatchNorm1d(4, momentum=None), "float32", True)
    run_training_steps(ours, theirs, shape, "float32", steps=2)


def test_batch_norm_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        nn.BatchNorm2d(3)(tj.zeros(2, 3, 4))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("args", "kwargs", "x_shape"), [
    ((8,), {}, (2, 5, 8)),
    (((4, 5),), {}, (3, 4, 5)),
    ((5,), {"elementwise_affine": False}, (2, 5)),
    ((6,), {"bias": False, "eps": 1e-3}, (2, 3, 6)),
])
def test_layer_norm(dtype, args, kwargs, x_shape):
    x = sample(*x_shape, dtype=dtype) * 3 + 1
    check_twins(lambda lib: lib.nn.LayerNorm(*args, **kwargs), x, dtype, random_state=True)


@pytest.mark.parametrize("padding_idx", [None, 0, -2])
def test_embedding(padding_idx):
    ours, theirs = twins(lambda lib: lib.nn.Embedding(10, 4, padding_idx=padding_idx))
    idx = np.random.default_rng(0).integers(0, 10, size=(3, 7))
    assert_close(ours(tj.tensor(idx)), theirs(torch.from_numpy(idx)), "float32")


ACTIVATIONS = [
    lambda lib: lib.nn.ReLU(),
    lambda lib: lib.nn.GELU(),
    lambda lib: lib.nn.GELU(approximate="tanh"),
    lambda lib: lib.nn.SiLU(),
    lambda lib: lib.nn.Sigmoid(),
    lambda lib: lib.nn.Tanh(),
    lambda lib: lib.nn.Softmax(dim=1),
    lambda lib: lib.nn.LogSoftmax(dim=-1),
    lambda lib: lib.nn.LeakyReLU(0.2),
    lambda lib: lib.nn.Flatten(),
    lambda lib: lib.nn.Flatten(0, 1),
    lambda lib: lib.nn.Unflatten(1, (2, 3)),
    lambda lib: lib.nn.Identity(3, unused=True),
    lambda lib: lib.nn.Dropout(0.3).eval(),
]


@pytest.mark.parametrize("make", ACTIVATIONS)
def test_stateless_layers(make):
    check_twins(make, sample(4, 6, 5) * 3)


def test_dropout_in_training():
    tj.manual_seed(3)
    x = tj.ones(200, 500)
    out = nn.Dropout(0.3)(x).detach().numpy()
    kept = out != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(out[kept], 1 / 0.7, rtol=1e-6)
    np.testing.assert_array_equal(nn.Dropout(0.3).eval()(x).detach().numpy(), x.detach().numpy())
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        nn.Dropout(1.5)


# --- models -------------------------------------------------------------------------------------

def make_mlp(lib):
    nn_ = lib.nn
    return nn_.Sequential(nn_.Linear(16, 32), nn_.ReLU(), nn_.Linear(32, 32), nn_.GELU(),
                          nn_.Dropout(0.1), nn_.Linear(32, 10), nn_.LogSoftmax(dim=1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mlp(dtype):
    ours, _ = check_twins(lambda lib: make_mlp(lib).eval(), sample(8, 16, dtype=dtype), dtype)
    assert not ours[4].training


def make_lenet(lib):
    """LeNet-5: conv-relu-pool twice, flatten, three linear layers."""
    F = lib.nn.functional

    class LeNet(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = lib.nn.Conv2d(1, 6, 5, padding=2)
            self.conv2 = lib.nn.Conv2d(6, 16, 5)
            self.pool = lib.nn.MaxPool2d(2)
            self.flatten = lib.nn.Flatten()
            self.fc = lib.nn.ModuleList([lib.nn.Linear(400, 120), lib.nn.Linear(120, 84),
                                         lib.nn.Linear(84, 10)])

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = self.flatten(x)
            for layer in self.fc[:-1]:
                x = F.relu(layer(x))
            return self.fc[-1](x)

    return LeNet()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lenet(dtype):
    ours, theirs = check_twins(make_lenet, sample(4, 1, 28, 28, dtype=dtype), dtype)
    assert list(ours.state_dict()) == list(theirs.state_dict())


def make_block(lib, dim=32, heads=4, hidden=64, use_sdpa=False, causal=False):
    """A pre-LN transformer encoder block with hand-written multi-head self-attention."""
    nn_, F = lib.nn, lib.nn.functional

    class SelfAttention(nn_.Module):
        def __init__(self):
            super().__init__()
            self.heads = heads
            self.qkv = nn_.Linear(dim, 3 * dim)
            self.proj = nn_.Linear(dim, dim)

        def forward(self, x):
            b, t, c = x.shape
            qkv = self.qkv(x).reshape(b, t, 3, self.heads, c // self.heads)
            q, k, v = qkv.permute(2, 0, 3, 1, 4)
            if use_sdpa:
                out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            else:
                scores = q @ k.transpose(-2, -1) / math.sqrt(c // self.heads)
                if causal:
                    mask = lib.ones(t, t, dtype=lib.bool).triu(1)
                    scores = scores.masked_fill(mask, float("-inf"))
                out = F.softmax(scores, dim=-1) @ v
            return self.proj(out.transpose(1, 2).reshape(b, t, c))

    class Block(nn_.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = nn_.LayerNorm(dim)
            self.attn = SelfAttention()
            self.ln2 = nn_.LayerNorm(dim)
            self.mlp = nn_.Sequential(nn_.Linear(dim, hidden), nn_.GELU(),
                                      nn_.Linear(hidden, dim))

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    return Block()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("use_sdpa", "causal"), [(False, False), (False, True), (True, False),
                                                  (True, True)])
def test_transformer_block(dtype, use_sdpa, causal):
    def make(lib):
        return lib.nn.Sequential(*(make_block(lib, use_sdpa=use_sdpa, causal=causal)
                                   for _ in range(2)))

    ours, theirs = check_twins(make, sample(2, 7, 32, dtype=dtype), dtype, random_state=False)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


def attention_masks(lib, spec: str, n: int, tgt: int, src: int):
    """Named masks for the MultiheadAttention twins, as `lib` tensors."""
    rng = np.random.default_rng(4)
    masks = {
        "causal": np.triu(np.ones((tgt, src), dtype=bool), 1),
        "float": rng.standard_normal((tgt, src)).astype("float32"),
        "padding": np.arange(src)[None, :] >= np.array([src, src - 2, src - 3])[:n, None],
    }
    return lib.tensor(masks[spec])


@pytest.mark.parametrize(("ctor", "call"), [
    ({}, {}),
    ({"batch_first": True}, {"average_attn_weights": False}),
    ({"kdim": 6, "vdim": 5}, {}),
    ({"bias": False}, {"need_weights": False}),
    ({}, {"attn_mask": "causal", "key_padding_mask": "padding"}),
    ({"batch_first": True}, {"attn_mask": "float"}),
    ({}, {"attn_mask": "causal", "is_causal": True, "need_weights": False}),
])
def test_multihead_attention(ctor, call):
    tgt, src, n = 5, 6, 3
    ours, theirs = twins(lambda lib: lib.nn.MultiheadAttention(8, 2, **ctor), random_state=True)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    first = (n, tgt) if ctor.get("batch_first") else (tgt, n)
    second = (n, src) if ctor.get("batch_first") else (src, n)
    inputs = [sample(*first, 8, seed=1), sample(*second, ctor.get("kdim", 8), seed=2),
              sample(*second, ctor.get("vdim", 8), seed=3)]

    def run(lib, module):
        kwargs = {k: attention_masks(lib, v, n, tgt, src) if isinstance(v, str) else v
                  for k, v in call.items()}
        return module(*(lib.tensor(x) for x in inputs), **kwargs)

    (out, weights), (expected, expected_weights) = run(tj, ours), run(torch, theirs)
    assert_close(out, expected, "float32")
    if expected_weights is None:
        assert weights is None
    else:
        assert_close(weights, expected_weights, "float32")


def test_multihead_attention_unbatched():
    ours, theirs = twins(lambda lib: lib.nn.MultiheadAttention(4, 2), random_state=True)
    x = sample(5, 4)
    out, weights = ours(*[tj.tensor(x)] * 3)
    expected, expected_weights = theirs(*[torch.from_numpy(x)] * 3)
    assert_close(out, expected, "float32")
    assert_close(weights, expected_weights, "float32")


# --- default initialisation ---------------------------------------------------------------------

def torch_bound(weight: torch.Tensor) -> float:
    """torch's kaiming_uniform_(a=sqrt(5)) bound for a Linear or Conv weight."""
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(weight)
    gain = torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5))
    return math.sqrt(3.0) * gain / math.sqrt(fan_in)


def check_uniform(values: np.ndarray, bound: float, reference: np.ndarray, rel: float):
    """Samples inside [-bound, bound], spread to its edges, with U(-b, b)'s and torch's std."""
    assert np.abs(values).max() <= bound * (1 + 1e-6)
    assert np.abs(values).max() > bound * 0.95
    assert values.std() == pytest.approx(bound / math.sqrt(3), rel=rel)
    assert values.std() == pytest.approx(reference.std(), rel=2 * rel)
    assert abs(values.mean()) < 5 * bound / math.sqrt(3 * values.size)


@pytest.mark.parametrize("make", [
    lambda lib: lib.nn.Linear(400, 300),
    lambda lib: lib.nn.Conv2d(16, 64, 3),
    lambda lib: lib.nn.Conv2d(8, 96, (3, 5), groups=2),
])
def test_default_init_of_weights_and_biases(make):
    tj.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = make(tj), make(torch)
    bound = torch_bound(theirs.weight)
    check_uniform(ours.weight.detach().numpy(), bound, theirs.weight.detach().numpy(), rel=0.03)
    check_uniform(ours.bias.detach().numpy(), bound, theirs.bias.detach().numpy(), rel=0.2)


def test_default_init_of_embedding_and_norms():
    tj.manual_seed(1)
    emb = nn.Embedding(1000, 64, padding_idx=3).weight.detach().numpy()
    assert emb.mean() == pytest.approx(0, abs=0.02)
    assert emb.std() == pytest.approx(1, rel=0.02)
    assert not emb[3].any() and emb[4].all()
    bn, ln = nn.BatchNorm2d(5), nn.LayerNorm((2, 3))
    for ours, theirs in [(bn, torch.nn.BatchNorm2d(5)), (ln, torch.nn.LayerNorm((2, 3)))]:
        for key, value in theirs.state_dict().items():
            np.testing.assert_array_equal(ours.state_dict()[key].detach().numpy(),
                                          value.detach().numpy())


def test_init_is_reproducible_under_manual_seed():
    tj.manual_seed(5)
    a = nn.Linear(4, 3).weight.detach().numpy().copy()
    tj.manual_seed(5)
    b = nn.Linear(4, 3).weight.detach().numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, nn.Linear(4, 3).weight.detach().numpy())


def init_twins(shape, fill_ours, fill_theirs):
    """Fill a tracejit and a torch tensor of `shape` with matching initializers."""
    tj.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = tj.zeros(*shape), torch.zeros(*shape)
    assert fill_ours(ours) is ours
    fill_theirs(theirs)
    return ours.detach().numpy(), theirs.detach().numpy()


@pytest.mark.parametrize(("name", "kwargs"), [
    ("uniform_", {"a": -2.0, "b": 3.0}),
    ("normal_", {"mean": 1.5, "std": 0.5}),
    ("xavier_uniform_", {"gain": 2.0}),
    ("xavier_normal_", {}),
    ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal_", {"a": 0.1}),
    ("trunc_normal_", {"mean": 0.5, "std": 2.0, "a": -1.0, "b": 3.0}),
])
def test_init_functions_match_torch_in_distribution(name, kwargs):
    ours, theirs = init_twins((300, 200), lambda t: getattr(init, name)(t, **kwargs),
                              lambda t: getattr(torch.nn.init, name)(t, **kwargs))
    assert ours.mean() == pytest.approx(theirs.mean(), abs=0.02 * float(theirs.std()))
    assert ours.std() == pytest.approx(theirs.std(), rel=0.02)
    assert ours.min() >= theirs.min() - 0.25 * theirs.std()
    assert ours.max() <= theirs.max() + 0.25 * theirs.std()
    if name in ("uniform_", "trunc_normal_"):
        low, high = kwargs["a"], kwargs["b"]
        assert low <= ours.min() and ours.max() <= high


@pytest.mark.parametrize(("name", "args"), [("constant_", (0.25,)), ("ones_", ()),
                                            ("zeros_", ()), ("eye_", ())])
def test_deterministic_init_functions(name, args):
    ours, theirs = init_twins((3, 5), lambda t: getattr(init, name)(t, *args),
                              lambda t: getattr(torch.nn.init, name)(t, *args))
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("nonlinearity", ["linear", "conv2d", "sigmoid", "tanh", "relu",
                                          "leaky_relu", "selu"])
@pytest.mark.parametrize("param", [None, 0.2])
def test_calculate_gain(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-15)


@pytest.mark.parametrize("shape", [(3, 4), (5, 6, 7), (2, 3, 4, 5), (4,)])
def test_fan_in_and_fan_out(shape):
    try:
        expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))
    except ValueError as e:
        with pytest.raises(ValueError, match=str(e)):
            init._calculate_fan_in_and_fan_out(tj.zeros(*shape))
        return
    assert init._calculate_fan_in_and_fan_out(tj.zeros(*shape)) == expected


def test_init_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity gelu"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        init.eye_(tj.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="Mode fan_mid not supported"):
        init.kaiming_uniform_(tj.zeros(2, 2), mode="fan_mid")
