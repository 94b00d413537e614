"""tracejit.nn's Transformer family against torch twins with copied weights.

Both twins run in eval mode under no_grad (torch picks its fast paths from those, and its
nested-tensor path zeroes padded positions; tracejit copies that effect).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import tracejit as tj
from tracejit import nn

TOL = {"rtol": 1e-4, "atol": 1e-5}
pytestmark = [  # torch's notes about its own internals
    pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors:UserWarning"),
    pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask:UserWarning"),
]


def build(lib, kind: str, **kw):
    """`kind` of model from `lib` with d_model 8, 2 heads, feed-forward 16."""
    L = lib.nn
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # enable_nested_tensor's notes
        if kind == "encoder_layer":
            return L.TransformerEncoderLayer(8, 2, 16, **kw)
        if kind == "decoder_layer":
            return L.TransformerDecoderLayer(8, 2, 16, **kw)
        if kind == "encoder":
            return L.TransformerEncoder(L.TransformerEncoderLayer(8, 2, 16, **kw), 2,
                                        L.LayerNorm(8))
        if kind == "decoder":
            return L.TransformerDecoder(L.TransformerDecoderLayer(8, 2, 16, **kw), 2)
        return L.Transformer(8, 2, 2, 2, 16, **kw)


def twins(kind: str, dtype: str = "float32", **kw):
    torch.manual_seed(0)
    theirs = build(torch, kind, **kw).to(getattr(torch, dtype)).eval()
    ours = build(tj, kind, **kw).to(getattr(tj, dtype)).eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def sample(*shape: int, dtype: str = "float32", seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def compare(ours, theirs, *args, **kwargs):
    def lib_value(lib, v):
        return lib.tensor(v) if isinstance(v, np.ndarray) else v

    with torch.no_grad():
        expected = theirs(*(lib_value(torch, a) for a in args),
                          **{k: lib_value(torch, v) for k, v in kwargs.items()})
    with tj.no_grad():
        got = ours(*(lib_value(tj, a) for a in args),
                   **{k: lib_value(tj, v) for k, v in kwargs.items()})
    assert tuple(got.shape) == tuple(expected.shape)
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), **TOL)
    return got


OPTIONS = [
    {},
    {"batch_first": True},
    {"norm_first": True, "activation": "gelu"},
    {"bias": False, "layer_norm_eps": 1e-3},
]


def seq_batch(options, seq: int = 5, batch: int = 3, seed: int = 0):
    shape = (batch, seq, 8) if options.get("batch_first") else (seq, batch, 8)
    return sample(*shape, seed=seed)


def padding(options, seq: int = 5, batch: int = 3) -> np.ndarray:
    mask = np.zeros((batch, seq), dtype=bool)
    mask[0, -2:] = mask[2, -1] = True
    return mask


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "default")
def test_encoder_layer_and_stack(options):
    x, causal = seq_batch(options), torch.nn.Transformer.generate_square_subsequent_mask(5)
    for kind in ("encoder_layer", "encoder"):
        ours, theirs = twins(kind, **options)
        assert repr(ours) == repr(theirs)
        compare(ours, theirs, x)
        mask_name = "src_mask" if kind == "encoder_layer" else "mask"
        compare(ours, theirs, x, **{mask_name: causal.detach().numpy()})
        compare(ours, theirs, x, src_key_padding_mask=padding(options))
        compare(ours, theirs, x, **{mask_name: np.triu(np.ones((5, 5), bool), 1)})


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "default")
def test_decoder_layer_and_stack(options):
    tgt, memory = seq_batch(options, seq=4), seq_batch(options, seq=5, seed=1)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(4).detach().numpy()
    for kind in ("decoder_layer", "decoder"):
        ours, theirs = twins(kind, **options)
        compare(ours, theirs, tgt, memory)
        compare(ours, theirs, tgt, memory, tgt_mask=causal,
                memory_key_padding_mask=padding(options),
                tgt_key_padding_mask=padding(options, seq=4))
        compare(ours, theirs, tgt, memory, memory_mask=np.zeros((4, 5), np.float32))


@pytest.mark.parametrize("options", OPTIONS[:3], ids=lambda o: ",".join(o) or "default")
def test_full_transformer(options):
    ours, theirs = twins("transformer", **options)
    assert repr(ours) == repr(theirs)
    src, tgt = seq_batch(options, seq=5), seq_batch(options, seq=4, seed=2)
    causal = nn.Transformer.generate_square_subsequent_mask(4)
    compare(ours, theirs, src, tgt, tgt_mask=causal.detach().numpy(),
            src_key_padding_mask=padding(options))


def test_unbatched_float64_and_callable_activation():
    ours, theirs = twins("encoder_layer", dtype="float64",
                         activation=torch.nn.functional.gelu)
    ours.activation = tj.nn.functional.gelu
    compare(ours, theirs, sample(5, 8, dtype="float64"))


def test_generate_square_subsequent_mask():
    ours = nn.Transformer.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(ours.detach().numpy(),
                                  torch.nn.Transformer.generate_square_subsequent_mask(4).detach().numpy())
    assert ours.dtype is tj.float32


def test_nested_tensor_path_zeroes_padding_only_where_torch_does():
    """batch_first, eval and no_grad: padded positions come out as zeros (before the final
    norm); with grad enabled torch (and tracejit) keep the computed values."""
    options = {"batch_first": True}
    torch.manual_seed(0)
    ours, theirs = twins("encoder", **options)
    ours.norm = theirs.norm = None
    x, mask = seq_batch(options), padding(options)
    got = compare(ours, theirs, x, src_key_padding_mask=mask)
    assert np.all(got.detach().numpy()[mask] == 0)
    with_grad = ours(tj.tensor(x), src_key_padding_mask=tj.tensor(mask))
    assert not np.all(with_grad.detach().numpy()[mask] == 0)
    left_padded = mask[:, ::-1].copy()  # torch's mask check refuses it: no zeroing
    got = compare(ours, theirs, x, src_key_padding_mask=left_padded)
    assert not np.all(got.detach().numpy()[left_padded] == 0)


def test_train_mode_dropout_is_active():
    model = build(tj, "encoder_layer", dropout=0.5)
    x = tj.tensor(sample(5, 3, 8))
    a, b = model(x), model(x)
    assert not np.allclose(a.detach().numpy(), b.detach().numpy())
    model.eval()
    np.testing.assert_array_equal(model(x).detach().numpy(), model(x).detach().numpy())


@pytest.mark.parametrize("call", [
    lambda lib, m: m(lib.zeros(5, 3, 8), lib.zeros(4, 2, 8)),
    lambda lib, m: m(lib.zeros(5, 3, 8), lib.zeros(4, 3, 6)),
])
def test_transformer_argument_errors(call):
    for lib in (torch, tj):
        model = build(lib, "transformer")
        with pytest.raises(RuntimeError) as info:
            call(lib, model)
        if lib is torch:
            message = str(info.value)
        else:
            assert str(info.value) == message
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")


def test_trace_of_an_encoder_gives_eager_result():
    model = build(tj, "encoder", batch_first=True).eval()
    x = tj.tensor(seq_batch({"batch_first": True}))
    mask = nn.Transformer.generate_square_subsequent_mask(5)
    traced = tj.trace(model, x, mask)
    np.testing.assert_allclose(traced(x, mask).detach().numpy(), model(x, mask).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    other = tj.tensor(seq_batch({"batch_first": True}, seed=4))
    np.testing.assert_allclose(traced(other, mask).detach().numpy(), model(other,
                                                                           mask).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    scripted = tj.script(model)
    np.testing.assert_allclose(scripted(x, mask).detach().numpy(), model(x, mask).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
