"""tracejit.nn's RNN, LSTM, GRU, their cells and nn.utils.rnn against torch twins.

Each twin is built with the same arguments in both libraries; torch's weights are copied in
with load_state_dict (so parameter names and shapes must be torch's), both run on the same
input and every output (sequence, h_n, c_n) must agree to float tolerance.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import tracejit as tj
from tracejit import nn
from tracejit.nn.utils import rnn as rnn_utils

TOL = {"float32": {"rtol": 1e-5, "atol": 1e-5}, "float64": {"rtol": 1e-10, "atol": 1e-10}}


def twins(name: str, *args, dtype: str = "float32", **kwargs):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, name)(*args, **kwargs).to(getattr(torch, dtype))
    ours = getattr(nn, name)(*args, **kwargs).to(getattr(tj, dtype))
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def sample(*shape: int, dtype: str = "float32", seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def flat(result) -> list:
    """(out, h) or (out, (h, c)) as [out, h(, c)]."""
    out, hidden = result
    return [out, *(hidden if isinstance(hidden, tuple) else (hidden,))]


def assert_same(ours, theirs, dtype: str = "float32") -> None:
    ours, theirs = flat(ours), flat(theirs)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        expected = b.detach().numpy()
        assert tuple(a.shape) == expected.shape
        np.testing.assert_allclose(a.detach().numpy(), expected, **TOL[dtype])


def run_both(ours, theirs, x: np.ndarray, hx=None):
    if hx is None:
        return ours(tj.tensor(x)), theirs(torch.from_numpy(x))
    if isinstance(hx, tuple):
        return (ours(tj.tensor(x), tuple(tj.tensor(h) for h in hx)),
                theirs(torch.from_numpy(x), tuple(torch.from_numpy(h) for h in hx)))
    return ours(tj.tensor(x), tj.tensor(hx)), theirs(torch.from_numpy(x), torch.from_numpy(hx))


CONFIGS = [
    {},
    {"num_layers": 2},
    {"bidirectional": True},
    {"num_layers": 3, "bidirectional": True, "batch_first": True},
    {"bias": False, "batch_first": True},
]


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(c) or "default")
def test_layers_match_torch(name, config):
    ours, theirs = twins(name, 3, 5, **config)
    x = sample(4, 2, 3) if not config.get("batch_first") else sample(2, 4, 3)
    assert_same(*run_both(ours, theirs, x))
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU"])
def test_float64_and_unbatched_input(name):
    ours, theirs = twins(name, 3, 4, num_layers=2, bidirectional=True, dtype="float64")
    assert_same(*run_both(ours, theirs, sample(5, 3, dtype="float64")), "float64")
    assert_same(*run_both(ours, theirs, sample(5, 2, 3, dtype="float64")), "float64")


def test_relu_rnn_and_initial_state():
    ours, theirs = twins("RNN", 3, 4, num_layers=2, nonlinearity="relu")
    assert_same(*run_both(ours, theirs, sample(6, 2, 3), hx=sample(2, 2, 4, seed=1)))
    ours, theirs = twins("GRU", 3, 4, bidirectional=True)
    assert_same(*run_both(ours, theirs, sample(6, 2, 3), hx=sample(2, 2, 4, seed=1)))
    # unbatched input takes an unbatched state
    assert_same(*run_both(ours, theirs, sample(6, 3), hx=sample(2, 4, seed=1)))


def test_lstm_initial_state_and_projection():
    ours, theirs = twins("LSTM", 3, 6, num_layers=2, bidirectional=True, proj_size=2)
    assert "weight_hr_l1_reverse" in ours.state_dict()
    hx = (sample(4, 3, 2, seed=1), sample(4, 3, 6, seed=2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: projections are not supported with oneDNN
        assert_same(*run_both(ours, theirs, sample(5, 3, 3), hx=hx))


def test_dropout_between_layers_in_train_mode():
    """p=1 zeroes the second layer's input: deterministic, so torch must agree exactly; the
    last layer's output is never dropped."""
    ours, theirs = twins("LSTM", 3, 4, num_layers=2, dropout=1.0)
    ours.train(), theirs.train()
    x = sample(5, 2, 3)
    assert_same(*run_both(ours, theirs, x))
    ours.eval(), theirs.eval()
    assert_same(*run_both(ours, theirs, x))
    ours.train()
    ours.dropout = 0.5
    first, second = ours(tj.tensor(x))[0], ours(tj.tensor(x))[0]
    assert not np.allclose(first.detach().numpy(), second.detach().numpy())  # fresh masks each call


def test_dropout_on_one_layer_warns_like_torch():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.GRU(2, 3, dropout=0.2)


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_torch(name):
    ours, theirs = twins(name, 3, 4)
    x = sample(2, 3)
    for batched in (True, False):
        xs = x if batched else x[0]
        out_o, out_t = ours(tj.tensor(xs)), theirs(torch.from_numpy(xs))
        pairs = zip(out_o, out_t) if name == "LSTMCell" else [(out_o, out_t)]
        for a, b in pairs:
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **TOL["float32"])
    h = sample(2, 4, seed=3)
    state = (h, sample(2, 4, seed=4)) if name == "LSTMCell" else h
    if name == "LSTMCell":
        out_o = ours(tj.tensor(x), tuple(tj.tensor(s) for s in state))
        out_t = theirs(torch.from_numpy(x), tuple(torch.from_numpy(s) for s in state))
        pairs = list(zip(out_o, out_t))
    else:
        pairs = [(ours(tj.tensor(x), tj.tensor(h)), theirs(torch.from_numpy(x),
                                                          torch.from_numpy(h)))]
    for a, b in pairs:
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **TOL["float32"])


def test_relu_cell_without_bias():
    ours, theirs = twins("RNNCell", 3, 4, bias=False, nonlinearity="relu")
    assert repr(ours) == repr(theirs)
    x = sample(2, 3)
    np.testing.assert_allclose(ours(tj.tensor(x)).detach().numpy(),
                               theirs(torch.from_numpy(x)).detach().numpy(), **TOL["float32"])


def test_default_init_is_torch_uniform():
    hidden = 16
    for module in (nn.LSTM(8, hidden, num_layers=2), nn.GRUCell(8, hidden)):
        bound = 1 / math.sqrt(hidden)
        values = np.concatenate([p.detach().numpy().ravel() for p in module.parameters()])
        assert values.min() >= -bound and values.max() <= bound
        assert abs(values.mean()) < 0.05 * bound * 10 and values.std() > 0.5 * bound


def test_all_weights_and_flatten_parameters():
    ours, theirs = twins("GRU", 3, 4, num_layers=2, bidirectional=True)
    ours.flatten_parameters()
    assert [[tuple(p.shape) for p in group] for group in ours.all_weights] == \
        [[tuple(p.shape) for p in group] for group in theirs.all_weights]
    assert ours.all_weights[3][0] is ours.weight_ih_l1_reverse


@pytest.mark.parametrize("make, call", [
    (lambda lib: lib.nn.LSTM(3, 4), lambda lib, m: m(lib.zeros(2, 3, 3, 1))),
    (lambda lib: lib.nn.LSTM(3, 4), lambda lib, m: m(lib.zeros(2, 3, 5))),
    (lambda lib: lib.nn.GRU(3, 4), lambda lib, m: m(lib.zeros(2, 3, 3), lib.zeros(1, 2, 4))),
    (lambda lib: lib.nn.GRU(3, 4), lambda lib, m: m(lib.zeros(2, 3, 3), lib.zeros(2, 4))),
    (lambda lib: lib.nn.RNN(3, 4), lambda lib, m: m(lib.zeros(2, 3), lib.zeros(1, 1, 4))),
    (lambda lib: lib.nn.LSTM(3, 4), lambda lib, m: m(lib.zeros(2, 3, 3),
                                                     (lib.zeros(1, 3, 4), lib.zeros(1, 2, 4)))),
    (lambda lib: lib.nn.GRUCell(3, 4), lambda lib, m: m(lib.zeros(1, 2, 3))),
    (lambda lib: lib.nn.LSTM(3, 4, proj_size=4), None),
    (lambda lib: lib.nn.GRU(3, 4, proj_size=2), None),
    (lambda lib: lib.nn.RNN(3, 4, nonlinearity="gelu"), None),
    (lambda lib: lib.nn.LSTM(3, 0), None),
    (lambda lib: lib.nn.LSTM(3, 4, dropout=2), None),
    (lambda lib: lib.nn.LSTM(3, 4.0), None),
])
def test_errors_match_torch(make, call):
    def outcome(lib):
        try:
            module = make(lib)
            if call is not None:
                call(lib, module)
        except Exception as exc:
            return type(exc), str(exc)
        return None, None

    theirs, ours = outcome(torch), outcome(tj)
    assert theirs[0] is not None
    assert ours[0] is theirs[0]
    assert ours[1] == theirs[1]


# --- nn.utils.rnn ----------------------------------------------------------------------------

def test_pad_sequence_matches_torch():
    seqs = [sample(n, 3, seed=n) for n in (4, 2, 3)]
    for kwargs in ({}, {"batch_first": True, "padding_value": -1.0},
                   {"padding_side": "left"}):
        ours = rnn_utils.pad_sequence([tj.tensor(s) for s in seqs], **kwargs)
        theirs = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(s) for s in seqs], **kwargs)
        np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy())


@pytest.mark.parametrize("enforce_sorted, lengths", [(True, [5, 3, 2]), (False, [2, 5, 3])])
@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_packed_sequences_through_a_layer(name, enforce_sorted, lengths):
    ours, theirs = twins(name, 3, 4, num_layers=2, bidirectional=True, batch_first=True)
    x = sample(3, 5, 3)
    packed_o = rnn_utils.pack_padded_sequence(tj.tensor(x), lengths, batch_first=True,
                                              enforce_sorted=enforce_sorted)
    packed_t = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(x), lengths,
                                                       batch_first=True,
                                                       enforce_sorted=enforce_sorted)
    np.testing.assert_array_equal(packed_o.data.detach().numpy(), packed_t.data.detach().numpy())
    assert packed_o.batch_sizes.tolist() == packed_t.batch_sizes.tolist()
    out_o, hidden_o = ours(packed_o)
    out_t, hidden_t = theirs(packed_t)
    assert isinstance(out_o, rnn_utils.PackedSequence)
    padded_o, len_o = rnn_utils.pad_packed_sequence(out_o, batch_first=True, total_length=6)
    padded_t, len_t = torch.nn.utils.rnn.pad_packed_sequence(out_t, batch_first=True,
                                                             total_length=6)
    assert_same((padded_o, hidden_o), (padded_t, hidden_t))
    assert len_o.tolist() == len_t.tolist()


def test_pack_sequence_round_trip_and_errors():
    seqs = [tj.tensor(sample(n, 2, seed=n)) for n in (2, 4, 1)]
    packed = rnn_utils.pack_sequence(seqs, enforce_sorted=False)
    back = rnn_utils.unpack_sequence(packed)
    for a, b in zip(back, seqs):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    for lib in (torch, tj):
        utils = lib.nn.utils.rnn
        with pytest.raises(RuntimeError, match="sorted in decreasing order"):
            utils.pack_padded_sequence(lib.zeros(3, 2, 1), [1, 3])
        with pytest.raises(ValueError, match="total_length"):
            utils.pad_packed_sequence(utils.pack_padded_sequence(lib.zeros(3, 2, 1), [3, 1]),
                                      total_length=2)


def test_trace_of_an_lstm_gives_eager_result():
    model = nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True).eval()
    x = tj.tensor(sample(2, 6, 3))
    traced = tj.trace(model, x)
    eager = flat(model(x))
    for a, b in zip(flat(traced(x)), eager):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
    other = tj.tensor(sample(2, 6, 3, seed=7))
    for a, b in zip(flat(traced(other)), flat(model(other))):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_script_of_a_gru_model_gives_eager_result():
    model = nn.GRU(3, 4, num_layers=2, batch_first=True)
    x = tj.tensor(sample(2, 5, 3))
    scripted = tj.script(model)
    for a, b in zip(flat(scripted(x)), flat(model(x))):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)

