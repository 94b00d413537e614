"""einops on tracejit tensors (eager, trace, script) and einops' torch layers inside tracejit
containers. The oracle is einops itself on numpy arrays and torch tensors.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import tracejit as tj
from tracejit import nn

einops = pytest.importorskip("einops")  # in the test extra; a bare checkout may lack it
from einops import pack, rearrange, reduce, repeat, unpack  # noqa: E402
from einops.layers.torch import Rearrange, Reduce  # noqa: E402


def sample(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


CASES = [
    (rearrange, ("b c h w -> b (h w) c",), {}),
    (rearrange, ("b c (h p) w -> b h p c w",), {"p": 2}),
    (rearrange, ("b c h w -> (b c) h w",), {}),
    (reduce, ("b c h w -> b c", "mean"), {}),
    (reduce, ("b c (h p1) (w p2) -> b c h w", "max"), {"p1": 2, "p2": 2}),
    (reduce, ("b c h w -> c", "min"), {}),
    (reduce, ("b c h w -> b h", "sum"), {}),
    (reduce, ("b c h w -> b w", "prod"), {}),
    (repeat, ("b c h w -> b c h w r",), {"r": 3}),
    (repeat, ("b c h w -> b (c r) h w",), {"r": 2}),
    (repeat, ("b c h w -> b c h w",), {}),
]


@pytest.mark.parametrize("fn, args, lengths", CASES,
                         ids=[f"{c[0].__name__}:{c[1][0]}" for c in CASES])
def test_operations_match_numpy(fn, args, lengths):
    x = sample(2, 3, 4, 6)
    ours = fn(tj.tensor(x), *args, **lengths)
    assert isinstance(ours, tj.Tensor)
    np.testing.assert_allclose(ours.detach().numpy(), fn(x, *args, **lengths), rtol=1e-6, atol=1e-6)


def test_pack_unpack_and_einsum():
    a, b = sample(2, 3, 4), sample(2, 5)
    packed, shapes = pack([tj.tensor(a), tj.tensor(b)], "b *")
    expected, _ = pack([a, b], "b *")
    np.testing.assert_array_equal(packed.detach().numpy(), expected)
    back = unpack(packed, shapes, "b *")
    np.testing.assert_array_equal(back[0].detach().numpy(), a)
    np.testing.assert_array_equal(back[1].detach().numpy(), b)
    x, y = sample(2, 3, 4), sample(2, 3, 5, seed=1)
    ours = einops.einsum(tj.tensor(x), tj.tensor(y), "b c d, b c e -> d e")
    np.testing.assert_allclose(ours.detach().numpy(), np.einsum("bcd,bce->de", x, y), rtol=1e-5,
                               atol=1e-5)


def test_einops_errors_are_einops_errors():
    with pytest.raises(einops.EinopsError):
        rearrange(tj.zeros(2, 3), "a b c -> a b c")


def _block(x):
    y = rearrange(x, "b c (h p) w -> b (h w) (p c)", p=2)
    return repeat(reduce(y, "b n d -> b d", "mean"), "b d -> b k d", k=2)


def test_trace_and_script_give_eager_results():
    x = tj.tensor(sample(2, 3, 4, 6))
    eager = _block(x)
    np.testing.assert_allclose(eager.detach().numpy(), _block(x.detach().numpy()), rtol=1e-6,
                               atol=1e-6)
    traced = tj.trace(_block, x)
    np.testing.assert_allclose(traced(x).detach().numpy(), eager.detach().numpy(), rtol=1e-6,
                               atol=1e-6)
    other = tj.tensor(sample(2, 3, 4, 6, seed=5))
    np.testing.assert_allclose(traced(other).detach().numpy(), _block(other).detach().numpy(),
                               rtol=1e-6,
                               atol=1e-6)
    scripted = tj.script(_block)
    np.testing.assert_allclose(scripted(x).detach().numpy(), eager.detach().numpy(), rtol=1e-6,
                               atol=1e-6)


def build(lib):
    """A ViT-style patch embedding and pooling head, einops layers between lib's layers."""
    return lib.nn.Sequential(
        Rearrange("b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=2, p2=2),
        lib.nn.Linear(12, 8),
        lib.nn.LayerNorm(8),
        Reduce("b n d -> b d", "mean"),
        lib.nn.Linear(8, 3),
    )


def test_einops_layers_in_a_sequential_match_torch():
    torch.manual_seed(0)
    theirs, ours = build(torch), build(tj)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    ours.load_state_dict(theirs.state_dict())
    x = sample(2, 3, 4, 8)
    expected = theirs(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours(tj.tensor(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    ours.eval().to(tj.float64)  # walks skip the torch modules' insides
    assert ours[1].weight.dtype is tj.float64
    traced = tj.trace(ours, tj.tensor(x).double())
    np.testing.assert_allclose(traced(tj.tensor(x).double()).detach().numpy(), expected, rtol=1e-5,
                               atol=1e-6)


def test_containers_accept_torch_modules_only():
    layer = Rearrange("a b -> b a")
    holder = nn.Module()
    holder.swap = layer  # attribute assignment registers it, as in torch
    assert dict(holder.named_children()) == {"swap": layer}
    assert list(nn.ModuleList([layer])) == [layer]
    assert nn.ModuleDict({"r": layer})["r"] is layer
    assert [name for name, _ in nn.Sequential(layer).named_modules()] == ["", "0"]
    with pytest.raises(TypeError, match="is not a Module subclass"):
        nn.Sequential(lambda x: x)


def test_backend_registers_without_importing_einops_first():
    code = ("import sys, tracejit as tj; assert 'einops' not in sys.modules; "
            "import einops; x = tj.arange(6).reshape(2, 3); "
            "print(einops.rearrange(x, 'a b -> b a').tolist())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[[0, 3], [1, 4], [2, 5]]"
