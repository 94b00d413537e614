"""tracejit.nn.utils, tracejit.nn.init's additions and Module's state-loading protocol, against
torch (values where they are deterministic, distributions and structure where they are drawn).
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch

import tracejit as tj
from tracejit import nn
from tracejit.nn import init

# torch's own note that nn.utils.weight_norm has a parametrizations successor
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.nn.utils.weight_norm.*:FutureWarning")


def sample(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def load_from(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


# --- weight_norm --------------------------------------------------------------------------------

@pytest.mark.parametrize("make, dim, shape", [
    (lambda lib: lib.nn.Linear(3, 4), 0, (2, 3)),
    (lambda lib: lib.nn.Linear(3, 4), None, (2, 3)),
    (lambda lib: lib.nn.Linear(3, 4), 1, (2, 3)),
    (lambda lib: lib.nn.Conv2d(2, 3, 3), 0, (1, 2, 5, 5)),
    (lambda lib: lib.nn.Conv2d(2, 3, 3), 2, (1, 2, 5, 5)),
])
def test_weight_norm_matches_torch(make, dim, shape):
    torch.manual_seed(0)
    theirs = torch.nn.utils.weight_norm(make(torch), dim=dim)
    ours = nn.utils.weight_norm(make(tj), dim=dim)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    with torch.no_grad():
        theirs.weight_g.mul_(1.5)  # g no longer equals ||v||: the hook must recompute
    load_from(ours, theirs)
    x = sample(*shape)
    expected = theirs(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours(tj.tensor(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    nn.utils.remove_weight_norm(ours)
    torch.nn.utils.remove_weight_norm(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    np.testing.assert_allclose(ours(tj.tensor(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_weight_norm_errors_and_trace():
    for lib in (torch, tj):
        layer = lib.nn.utils.weight_norm(lib.nn.Linear(2, 2))
        with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks"):
            lib.nn.utils.weight_norm(layer)
        with pytest.raises(ValueError, match="weight_norm of 'weight' not found in Linear"):
            lib.nn.utils.remove_weight_norm(lib.nn.Linear(2, 2))
    layer = nn.utils.weight_norm(nn.Linear(3, 2))
    x = tj.tensor(sample(4, 3))
    traced = tj.trace(layer, x)
    with tj.no_grad():
        layer.weight_g.mul_(2.0)  # a parameter change reaches the traced graph
    np.testing.assert_allclose(traced(x).detach().numpy(), layer(x).detach().numpy(), rtol=1e-6,
                               atol=1e-6)


# --- parametrize and parametrizations.weight_norm ----------------------------------------------

@pytest.mark.parametrize("dim", [0, None, 1])
def test_parametrized_weight_norm_matches_torch(dim):
    torch.manual_seed(0)
    theirs = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(3, 4), dim=dim)
    ours = nn.utils.parametrizations.weight_norm(nn.Linear(3, 4), dim=dim)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)
    with torch.no_grad():
        theirs.parametrizations.weight.original0.mul_(1.3)
    load_from(ours, theirs)
    x = sample(2, 3)
    expected = theirs(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours(tj.tensor(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    traced = tj.trace(ours, tj.tensor(x))
    np.testing.assert_allclose(traced(tj.tensor(x)).detach().numpy(), expected, rtol=1e-5,
                               atol=1e-6)
    nn.utils.parametrize.remove_parametrizations(ours, "weight")
    torch.nn.utils.parametrize.remove_parametrizations(theirs, "weight")
    assert type(ours) is nn.Linear and list(ours.state_dict()) == list(theirs.state_dict())
    np.testing.assert_allclose(ours(tj.tensor(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_old_weight_norm_checkpoints_load_into_the_parametrization():
    old = torch.nn.utils.weight_norm(torch.nn.Linear(3, 4))
    ours = nn.utils.parametrizations.weight_norm(nn.Linear(3, 4))
    result = ours.load_state_dict({k: v.detach().numpy() for k, v in old.state_dict().items()})
    assert not result.missing_keys and not result.unexpected_keys
    np.testing.assert_allclose(ours.weight.detach().numpy(), old.weight.detach().numpy(), rtol=1e-6)


class _Symmetric(nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).transpose(-1, -2)

    def right_inverse(self, a):
        return a.triu()


def test_custom_parametrization_read_and_assign():
    layer = nn.utils.parametrize.register_parametrization(nn.Linear(3, 3), "weight",
                                                          _Symmetric())
    assert nn.utils.parametrize.is_parametrized(layer, "weight")
    assert list(layer.state_dict()) == ["bias", "parametrizations.weight.original"]
    weight = layer.weight.detach().numpy()
    np.testing.assert_array_equal(weight, weight.T)
    target = np.arange(9, dtype=np.float32).reshape(3, 3)
    layer.weight = tj.tensor(target + target.T)  # assignment goes through right_inverse
    np.testing.assert_array_equal(layer.weight.detach().numpy(), target + target.T)
    assert nn.utils.parametrize.type_before_parametrizations(layer) is nn.Linear
    for lib in (torch, tj):
        with pytest.raises(ValueError, match="does not have a parameter, a buffer"):
            lib.nn.utils.parametrize.register_parametrization(lib.nn.Linear(2, 2), "w",
                                                              lib.nn.Identity())


# --- spectral_norm ------------------------------------------------------------------------------

@pytest.mark.parametrize("make, shape", [
    (lambda lib: lib.nn.Linear(5, 4), (2, 5)),
    (lambda lib: lib.nn.Conv2d(2, 3, 3), (1, 2, 5, 5)),
])
def test_spectral_norm_matches_torch(make, shape):
    """Same u, v and weights: each training call's power iteration must move u and v as
    torch's does; eval mode leaves them."""
    torch.manual_seed(0)
    theirs = torch.nn.utils.spectral_norm(make(torch), n_power_iterations=2)
    ours = nn.utils.spectral_norm(make(tj), n_power_iterations=2)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    load_from(ours, theirs)
    x = sample(*shape)
    for training in (True, True, False):
        ours.train(training), theirs.train(training)
        expected = theirs(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(ours(tj.tensor(x)).detach().numpy(), expected, rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(ours.weight_u.detach().numpy(),
                                   theirs.weight_u.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
    nn.utils.remove_spectral_norm(ours)
    torch.nn.utils.remove_spectral_norm(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    np.testing.assert_allclose(ours.weight.detach().numpy(), theirs.weight.detach().numpy(),
                               rtol=1e-5,
                               atol=1e-6)


def test_spectral_norm_under_trace_updates_its_buffers():
    model = nn.utils.spectral_norm(nn.Linear(4, 3))
    twin = copy.deepcopy(model)
    x = tj.tensor(sample(2, 4))
    traced = tj.trace(model, x)
    for _ in range(2):
        np.testing.assert_allclose(traced(x).detach().numpy(), twin(x).detach().numpy(),
                                   rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(model.weight_u.detach().numpy(),
                                   twin.weight_u.detach().numpy(), rtol=1e-6)
    for lib in (torch, tj):
        with pytest.raises(RuntimeError, match="Cannot register two spectral_norm hooks"):
            lib.nn.utils.spectral_norm(lib.nn.utils.spectral_norm(lib.nn.Linear(2, 2)))
        with pytest.raises(ValueError, match="Expected n_power_iterations to be positive"):
            lib.nn.utils.spectral_norm(lib.nn.Linear(2, 2), n_power_iterations=0)


# --- parameters and vectors, gradient clipping --------------------------------------------------

def test_parameters_to_vector_round_trip():
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    vec = nn.utils.parameters_to_vector(model.parameters())
    assert tuple(vec.shape) == (11,)
    expected = np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])
    np.testing.assert_array_equal(vec.detach().numpy(), expected)
    nn.utils.vector_to_parameters(tj.arange(11).float(), model.parameters())
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(model[1].bias.detach().numpy(), [10])
    for lib in (torch, tj):
        with pytest.raises(TypeError, match=r"expected torch\.Tensor, but got"):
            lib.nn.utils.vector_to_parameters([1.0], lib.nn.Linear(1, 1).parameters())


class _WithGrad:
    """A parameter stand-in holding a gradient (autograd is not in tracejit yet)."""

    def __init__(self, grad):
        self.grad = grad


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    grads = [sample(3, 2, seed=1), sample(4, seed=2)]
    params = [torch.nn.Parameter(torch.zeros(g.shape)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = torch.from_numpy(g.copy())
    expected = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)
    ours = [_WithGrad(tj.tensor(g.copy())) for g in grads] + [_WithGrad(None)]
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    np.testing.assert_allclose(total.detach().numpy(), expected.detach().numpy(), rtol=1e-6)
    for o, p in zip(ours, params):
        np.testing.assert_allclose(o.grad.detach().numpy(), p.grad.detach().numpy(), rtol=1e-6,
                                   atol=1e-7)


def test_clipping_without_gradients_and_by_value():
    for lib in (torch, tj):
        total = lib.nn.utils.clip_grad_norm_(lib.nn.Linear(2, 2).parameters(), 1.0)
        assert float(total) == 0.0 and tuple(total.shape) == ()
    grad = sample(5)
    ours = _WithGrad(tj.tensor(grad.copy()))
    nn.utils.clip_grad_value_([ours], 0.3)
    np.testing.assert_array_equal(ours.grad.detach().numpy(), np.clip(grad, -0.3, 0.3))
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([_WithGrad(tj.tensor([math.inf]))], 1.0,
                                 error_if_nonfinite=True)


# --- init -----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, gain", [((6, 4), 1.0), ((3, 8), 2.0), ((4, 2, 3), 0.5)])
def test_orthogonal_(shape, gain):
    weight = init.orthogonal_(nn.Parameter(tj.empty(*shape)), gain=gain)
    assert isinstance(weight, nn.Parameter)
    flat = weight.detach().numpy().reshape(shape[0], -1).astype(np.float64) / gain
    rows, cols = flat.shape
    gram = flat.T @ flat if rows >= cols else flat @ flat.T
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-5)


def test_dirac_and_eye_match_torch_exactly():
    for shape, groups in (((4, 4, 3, 3), 1), ((6, 2, 3), 2), ((2, 3, 1, 3, 3), 1)):
        ours = init.dirac_(tj.empty(*shape), groups)
        theirs = torch.nn.init.dirac_(torch.empty(*shape), groups)
        np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy())
    np.testing.assert_array_equal(init.eye_(tj.empty(3, 5)).detach().numpy(),
                                  torch.nn.init.eye_(torch.empty(3, 5)).detach().numpy())


def test_sparse_zeroes_a_fraction_of_each_column():
    weight = init.sparse_(tj.empty(10, 6), sparsity=0.3, std=0.5)
    values = weight.detach().numpy()
    assert ((values == 0).sum(axis=0) >= 3).all()
    assert 0.1 < values[values != 0].std() < 2.0


@pytest.mark.parametrize("fn, args, expected_std", [
    (init.xavier_uniform_, {}, math.sqrt(2 / (300 + 200))),
    (init.xavier_normal_, {"gain": 2.0}, 2 * math.sqrt(2 / (300 + 200))),
    (init.kaiming_uniform_, {"mode": "fan_out", "nonlinearity": "relu"}, math.sqrt(2 / 200)),
    (init.kaiming_normal_, {"a": 0.2}, math.sqrt(2 / (1 + 0.04)) / math.sqrt(300)),
    (init.kaiming_normal_, {"nonlinearity": "tanh"}, 5 / 3 / math.sqrt(300)),
    (init.trunc_normal_, {"std": 0.02}, 0.02),
])
def test_initializer_distributions(fn, args, expected_std):
    values = fn(tj.empty(200, 300), **args).detach().numpy()
    assert abs(values.std() - expected_std) < 0.05 * expected_std
    assert abs(values.mean()) < 0.05 * expected_std


@pytest.mark.parametrize("nonlinearity, param", [
    ("linear", None), ("conv_transpose3d", None), ("sigmoid", None), ("tanh", None),
    ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.3), ("leaky_relu", 2), ("selu", None),
])
def test_calculate_gain_matches_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == \
        torch.nn.init.calculate_gain(nonlinearity, param)


@pytest.mark.parametrize("call", [
    lambda lib: lib.nn.init.uniform_(lib.empty(2, 2), 1.0, 0.0),
    lambda lib: lib.nn.init.normal_(lib.empty(2, 2), 0.0, -1.0),
    lambda lib: lib.nn.init.trunc_normal_(lib.empty(3), a=2.0, b=1.0),
    lambda lib: lib.nn.init.orthogonal_(lib.empty(3)),
    lambda lib: lib.nn.init.sparse_(lib.empty(2, 2, 2), 0.1),
    lambda lib: lib.nn.init.dirac_(lib.empty(3, 3)),
    lambda lib: lib.nn.init.dirac_(lib.empty(3, 2, 3), 2),
    lambda lib: lib.nn.init.eye_(lib.empty(2, 2, 2)),
    lambda lib: lib.nn.init.xavier_uniform_(lib.empty(4)),
    lambda lib: lib.nn.init.kaiming_normal_(lib.empty(2, 2), mode="fan_avg"),
    lambda lib: lib.nn.init.calculate_gain("swish"),
    lambda lib: lib.nn.init.calculate_gain("leaky_relu", True),
])
def test_init_errors_match_torch(call):
    with pytest.raises(Exception) as theirs:
        call(torch)
    with pytest.raises(type(theirs.value)) as ours:
        call(tj)
    assert str(ours.value) == str(theirs.value)


def test_deprecated_names_warn_and_work():
    with pytest.warns(FutureWarning, match="nn.init.normal` is now deprecated"):
        values = init.normal(tj.empty(100), 3.0, 0.1).detach().numpy()
    assert abs(values.mean() - 3.0) < 0.1


# --- Module: torch's state-loading protocol ------------------------------------------------------

class _Renamed(nn.Linear):
    """Library-style override: accepts an old checkpoint key 'w' for 'weight'."""

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        self.seen_version = local_metadata.get("version")
        if prefix + "w" in state_dict:
            state_dict[prefix + "weight"] = state_dict.pop(prefix + "w")
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


def test_load_from_state_dict_override_with_torchs_signature():
    model = nn.Sequential(nn.Linear(2, 2), _Renamed(2, 3))
    state = OrderedDict([("0.weight", np.ones((2, 2), np.float32)),
                         ("0.bias", np.zeros(2, np.float32)),
                         ("1.w", np.full((3, 2), 2.0, np.float32)),
                         ("1.bias", np.zeros(3, np.float32))])
    state._metadata = {"1": {"version": 7}}
    result = model.load_state_dict(state)
    assert not result.missing_keys and not result.unexpected_keys
    np.testing.assert_array_equal(model[1].weight.detach().numpy(), np.full((3, 2), 2.0))
    assert model[1].seen_version == 7
    assert "1.w" in state  # the caller's dict is not changed


def test_torch_state_dict_with_metadata_loads_and_ours_carries_it():
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.LayerNorm(3))
    ours = nn.Sequential(nn.Linear(2, 3), nn.LayerNorm(3))
    ours.load_state_dict(theirs.state_dict())
    np.testing.assert_array_equal(ours[0].weight.detach().numpy(),
                                  theirs[0].weight.detach().numpy())
    assert set(ours.state_dict()._metadata) == set(theirs.state_dict()._metadata)


def test_load_state_dict_hooks():
    calls = []
    model = nn.Sequential(nn.Linear(2, 2))
    model[0].register_load_state_dict_pre_hook(
        lambda module, state, prefix, *rest: calls.append(("pre", type(module).__name__,
                                                          prefix)))
    model[0]._register_load_state_dict_pre_hook(lambda state, prefix, *rest:
                                                calls.append(("pre-private", prefix)))
    handle = model.register_load_state_dict_post_hook(
        lambda module, keys: calls.append(("post", list(keys.unexpected_keys))))
    model.load_state_dict({**model.state_dict(), "extra": np.zeros(1)}, strict=False)
    assert calls == [("pre", "Linear", "0."), ("pre-private", "0."), ("post", ["extra"])]
    handle.remove()
    calls.clear()
    model.load_state_dict(model.state_dict())
    assert ("post", []) not in calls and len(calls) == 2


def test_forward_hooks_prepend_and_kwargs_like_torch():
    def record(lib):
        calls = []
        layer = lib.nn.Linear(2, 2)
        layer.register_forward_pre_hook(lambda m, a: calls.append("pre1"))
        layer.register_forward_pre_hook(lambda m, a: calls.append("pre0"), prepend=True)
        layer.register_forward_pre_hook(
            lambda m, a, k: (calls.append(("kw", sorted(k))), (a, k))[1], with_kwargs=True)
        layer.register_forward_hook(lambda m, a, k, out: calls.append(("post", sorted(k))),
                                    with_kwargs=True)
        layer(input=lib.zeros(1, 2))
        layer.register_forward_pre_hook(lambda m, a, k: 5, with_kwargs=True)
        with pytest.raises(RuntimeError, match="must return None or a tuple") as info:
            layer(lib.zeros(1, 2))
        return calls, str(info.value)

    assert record(tj) == record(torch)


def test_state_dict_hooks_like_torch():
    def record(lib):
        calls = []
        model = lib.nn.Sequential(lib.nn.Linear(2, 2))
        model[0].register_state_dict_pre_hook(lambda m, prefix, keep: calls.append(prefix))
        model._register_state_dict_hook(
            lambda m, state, prefix, meta: calls.append((list(state), meta["version"])))
        handle = model.register_state_dict_post_hook(
            lambda m, state, prefix, meta: calls.append(("post", prefix)))
        model.state_dict()
        handle.remove()
        model.state_dict()
        return calls

    assert record(tj) == record(torch)
