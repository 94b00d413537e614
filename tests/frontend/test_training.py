"""Training equivalence with torch 2.13: the MLP, LeNet-style CNN (with BatchNorm2d in training),
transformer encoder block and GRU-loop twins trained 50 steps on fixed synthetic data with
SGD (momentum), Adam and AdamW, each with a scheduler and gradient clipping; per-step losses,
gradient norms, learning rates and the final weights and buffers must match torch's. Also:
optimizer state moving between the twins mid-training, and Dropout's training behaviour."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from optim_twins import to_ours, to_torch
from test_nn_twins import make_block, make_mlp
from train_twins import make_gru, make_lenet

import tracejit as tj

STEPS = 50


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """torch's worker threads spin against the other processes on a small machine (seconds of
    a 50-step run); one thread keeps this file fast. Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- twins, data and optimizer configurations ----------------------------------------------------

def make_mlp_no_dropout(L):
    """test_nn_twins' MLP with its Dropout at p=0 (masks differ between libraries; Dropout's
    training behaviour is tested on its own below)."""
    model = make_mlp(L)
    model[4].p = 0.0
    return model


def classes(rng, shape, n=10):
    return rng.standard_normal(shape), rng.integers(0, n, shape[0])


def regression(rng, shape, target_shape):
    return rng.standard_normal(shape), rng.standard_normal(target_shape)


# name: (factory, data(rng) -> (x, target), max_norm). max_norm sits inside the range of the
# gradient norms seen over the 50 steps, so some steps are clipped and some are not.
TWINS = {
    "mlp": (make_mlp_no_dropout, lambda rng: classes(rng, (16, 16)), 0.4),
    "lenet_bn": (make_lenet, lambda rng: classes(rng, (8, 1, 16, 16)), 2.0),
    "block": (make_block, lambda rng: regression(rng, (4, 6, 32), (4, 6, 32)), 0.45),
    "gru": (make_gru, lambda rng: regression(rng, (5, 8, 6), (8, 3)), 0.78),
}

# Entries whose gradient is zero in exact arithmetic: the attention's key bias adds q . b_k to
# every score of a row, which softmax cancels. Their gradient is rounding noise (~1e-9), which
# Adam divides by its own root mean square and so turns into lr-sized steps in random
# directions; float32 can only bound their drift (the float64 test matches them to 1e-9).
NOISE_ONLY = {"block": {"attn.qkv.bias": slice(32, 64)}}


def decay(epoch):
    return 1.0 / (1.0 + 0.1 * epoch)


# name: (optimizer(L, params), scheduler(L, optimizer))
CONFIGS = {
    "sgd": (lambda L, p: L.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-4),
            lambda L, o: L.optim.lr_scheduler.StepLR(o, step_size=10, gamma=0.5)),
    "adam": (lambda L, p: L.optim.Adam(p, lr=2e-3),
             lambda L, o: L.optim.lr_scheduler.CosineAnnealingLR(o, T_max=STEPS, eta_min=1e-5)),
    "adamw_amsgrad": (lambda L, p: L.optim.AdamW(p, lr=2e-3, weight_decay=0.01, amsgrad=True),
                      lambda L, o: L.optim.lr_scheduler.LambdaLR(o, decay)),
    "sgd_nesterov": (lambda L, p: L.optim.SGD(p, lr=0.02, momentum=0.9, nesterov=True),
                     lambda L, o: L.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20)),
    "adamw": (lambda L, p: L.optim.AdamW(p, lr=2e-3, weight_decay=0.01),
              lambda L, o: L.optim.lr_scheduler.StepLR(o, step_size=15, gamma=0.3)),
}

CASES = [(twin, config) for twin in TWINS for config in ("sgd", "adam", "adamw_amsgrad")]
CASES += [("mlp", "sgd_nesterov"), ("gru", "adamw")]

# float32 tolerances. Each loss is a reduction over 10^3-10^4 products that torch (oneDNN/BLAS
# blocking) and numpy (pairwise sums) accumulate in different orders, so every step's loss and
# gradients differ by a few float32 ulps (~1e-7 relative); over 50 steps the two trajectories
# drift apart slowly (observed <= 3e-7 relative on the losses, ~6e-7 absolute on the weights).
# The worst case uses under half of the loss tolerance (LeNet-BN with SGD, whose loss falls to
# 4e-3 and so shows the absolute error) and an eighth of the weights'; other CPUs' BLAS kernels
# sum in yet other orders, so that margin is kept.
LOSS_TOL = {"float32": {"rtol": 2e-6, "atol": 1e-7}, "float64": {"rtol": 1e-9, "atol": 1e-12}}
WEIGHT_TOL = {"float32": {"rtol": 1e-5, "atol": 5e-6}, "float64": {"rtol": 1e-9, "atol": 1e-12}}


def build(twin: str, dtype: str = "float32", seed: int = 0):
    """(ours, theirs, x, target): torch's model from a fixed seed, its state copied into ours,
    and the fixed synthetic batch as numpy arrays."""
    make, data, _ = TWINS[twin]
    torch.manual_seed(seed)
    theirs = make(torch).to(getattr(torch, dtype))
    ours = make(tj).to(getattr(tj, dtype))
    ours.load_state_dict({k: tj.tensor(v.detach().numpy().copy())
                          for k, v in theirs.state_dict().items()})
    x, target = data(np.random.default_rng(seed))
    x = x.astype(dtype)
    if target.dtype.kind == "f":
        target = target.astype(dtype)
    return ours, theirs, x, target


def loss_of(L, model, x, target):
    """Cross-entropy for the classifiers (integer targets), mean squared error otherwise."""
    F = L.nn.functional
    out = model(L.tensor(x))
    if target.dtype.kind == "i":
        return F.cross_entropy(out, L.tensor(target))
    return F.mse_loss(out, L.tensor(target))


def train(L, model, x, target, opt, sched, max_norm, steps):
    """`steps` training steps; per-step (loss, gradient norm before clipping, lr)."""
    record = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_of(L, model, x, target)
        loss.backward()
        norm = L.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        opt.step()
        if sched is not None:
            sched.step()
        record.append((loss.item(), norm.item(), opt.param_groups[0]["lr"]))
    return np.array(record)


def make_optimizer(L, model, config: str):
    opt = CONFIGS[config][0](L, model.parameters())
    return opt, CONFIGS[config][1](L, opt)


def assert_state_matches(ours, theirs, dtype: str, twin: str, drift: float = 0.0):
    """Every parameter and buffer of the twins agrees; NOISE_ONLY entries within `drift`."""
    state = ours.state_dict()
    assert list(state) == list(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        expected, got = value.detach().numpy(), state[key].numpy()
        assert got.dtype == expected.dtype, key
        noisy = NOISE_ONLY.get(twin, {}).get(key)
        if noisy is not None and dtype == "float32":
            np.testing.assert_allclose(got[noisy], expected[noisy], atol=drift, err_msg=key)
            got, expected = np.delete(got, noisy), np.delete(expected, noisy)
        np.testing.assert_allclose(got, expected, **WEIGHT_TOL[dtype], err_msg=key)


# --- training equivalence ------------------------------------------------------------------------

@pytest.mark.parametrize("twin", list(TWINS))
def test_first_step_gradients_match(twin):
    """The gradients of the first backward, parameter by parameter (where a training mismatch
    below starts, if it does), and the noise-only entries really are zero in torch too."""
    ours, theirs, x, target = build(twin)
    loss_of(torch, theirs, x, target).backward()
    loss_of(tj, ours, x, target).backward()
    grads = dict(ours.named_parameters())
    for name, param in theirs.named_parameters():
        expected, got = param.grad.numpy(), grads[name].grad.numpy()
        scale = np.abs(expected).max()
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * scale, err_msg=name)
        noisy = NOISE_ONLY.get(twin, {}).get(name)
        if noisy is not None:
            assert np.abs(expected[noisy]).max() < 1e-6 * scale, name


@pytest.mark.parametrize(("twin", "config"), CASES)
def test_training_matches_torch(twin, config):
    """50 steps: losses, gradient norms (clipping triggers on some steps, not all), learning
    rates, final weights and batch-norm buffers, and the trained models' eval outputs."""
    ours, theirs, x, target = build(twin)
    max_norm = TWINS[twin][2]
    runs = {}
    for L, model in ((torch, theirs), (tj, ours)):
        model.train()
        runs[L] = train(L, model, x, target, *make_optimizer(L, model, config), max_norm, STEPS)
    expected, got = runs[torch], runs[tj]
    np.testing.assert_allclose(got[:, 0], expected[:, 0], **LOSS_TOL["float32"])
    # a gradient's error is absolute at the scale of the first steps' gradients, so late small
    # norms carry it as a larger relative one
    np.testing.assert_allclose(got[:, 1], expected[:, 1], rtol=1e-5,
                               atol=1e-6 * expected[:, 1].max())
    np.testing.assert_allclose(got[:, 2], expected[:, 2], rtol=1e-12)
    clipped = int((expected[:, 1] > max_norm).sum())
    assert 0 < clipped < STEPS, f"clipping triggered on {clipped} of {STEPS} steps"
    assert expected[-1, 0] < expected[0, 0]  # it trains
    assert_state_matches(ours, theirs, "float32", twin, drift=4 * expected[:, 2].sum())
    theirs.eval()
    ours.eval()
    with torch.no_grad():
        want = theirs(torch.tensor(x)).numpy()
    with tj.no_grad():
        np.testing.assert_allclose(ours(tj.tensor(x)).numpy(), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("twin", "config"), [("block", "adam")])
def test_training_in_float64_is_exact(twin, config):
    """float64 leaves only rounding differences of ~1e-16 per operation: agreement to 1e-9
    after 50 steps shows the math (gradients, optimizer, scheduler, clipping) is the same, not
    only close. The block's Adam run includes the noise-only key bias."""
    ours, theirs, x, target = build(twin, "float64")
    max_norm = TWINS[twin][2]
    runs = {}
    for L, model in ((torch, theirs), (tj, ours)):
        runs[L] = train(L, model, x, target, *make_optimizer(L, model, config), max_norm, STEPS)
    np.testing.assert_allclose(runs[tj][:, :2], runs[torch][:, :2], **LOSS_TOL["float64"])
    assert (runs[torch][:, 1] > max_norm).any()
    assert_state_matches(ours, theirs, "float64", twin)


# --- optimizer state moving between the twins mid-training ---------------------------------------



@pytest.mark.parametrize("config", ["sgd", "adam", "adamw_amsgrad"])
@pytest.mark.parametrize("source", ["tracejit", "torch"])
def test_optimizer_state_moves_between_twins(config, source):
    """Train one side 10 steps; the other side loads its weights, optimizer and scheduler
    state dicts (converted tensor by tensor) into fresh objects made the usual checkpoint way;
    the next 5 steps then agree on both."""
    twin = "gru"
    ours, theirs, x, target = build(twin)
    max_norm = TWINS[twin][2]
    libs = {"tracejit": (tj, ours), "torch": (torch, theirs)}
    (L, model), (other, copy) = libs.pop(source), libs.popitem()[1]
    opt, sched = make_optimizer(L, model, config)
    train(L, model, x, target, opt, sched, max_norm, 10)
    convert = to_torch if other is torch else to_ours
    copy.load_state_dict(convert(model.state_dict()))
    copy_opt, copy_sched = make_optimizer(other, copy, config)
    copy_opt.load_state_dict(convert(opt.state_dict()))
    copy_sched.load_state_dict(convert(sched.state_dict()))
    assert copy_opt.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    before = copy_opt.state_dict()["state"][0]
    assert set(before) == set(opt.state_dict()["state"][0])
    tail = {L: train(L, model, x, target, opt, sched, max_norm, 5),
            other: train(other, copy, x, target, copy_opt, copy_sched, max_norm, 5)}
    np.testing.assert_allclose(tail[tj], tail[torch], rtol=1e-6, atol=1e-7)
    pairs = (ours, theirs) if source == "tracejit" else (copy, model)
    assert_state_matches(*pairs, "float32", twin)
    ours_opt, theirs_opt = (opt, copy_opt) if source == "tracejit" else (copy_opt, opt)
    for key, value in theirs_opt.state_dict()["state"].items():
        for name, tensor in value.items():
            np.testing.assert_allclose(ours_opt.state_dict()["state"][key][name].numpy(),
                                       tensor.numpy(), rtol=1e-5, atol=1e-7, err_msg=name)


# --- Dropout in training ------------------------------------------------------------------------

def train_mlp_with_dropout(seed: int, p: float, steps: int = 8, identity: bool = False):
    """Losses and final weights of test_nn_twins' MLP trained in tracejit with Dropout(p) (or
    an Identity in its place) after tj.manual_seed(seed)."""
    ours, _, x, target = build("mlp")
    ours[4].p = p
    if identity:
        ours[4] = tj.nn.Identity()
    tj.manual_seed(seed)
    opt = tj.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    losses = train(tj, ours, x, target, opt, None, 1e9, steps)[:, 0]
    return losses, {k: v.numpy() for k, v in ours.state_dict().items()}


def test_dropout_training_is_reproducible_under_a_seed():
    """Masks differ from torch's, so dropout is checked against itself: the same seed twice
    gives identical losses and weights, another seed different ones."""
    first, weights = train_mlp_with_dropout(7, 0.3)
    again, weights_again = train_mlp_with_dropout(7, 0.3)
    other, _ = train_mlp_with_dropout(8, 0.3)
    np.testing.assert_array_equal(again, first)
    for key, value in weights.items():
        np.testing.assert_array_equal(weights_again[key], value, err_msg=key)
    assert not np.array_equal(other, first)


def test_dropout_p0_trains_as_no_dropout():
    with_p0, weights = train_mlp_with_dropout(1, 0.0)
    without, weights_without = train_mlp_with_dropout(2, 0.0, identity=True)
    np.testing.assert_array_equal(with_p0, without)
    for key, value in weights.items():
        np.testing.assert_array_equal(weights_without[key], value, err_msg=key)


@pytest.mark.parametrize("p", [0.3, 0.75])
def test_dropout_gradient_is_the_scaled_mask(p):
    """d(sum(w * dropout(x)))/dx = w * mask / (1 - p), where mask is the output's nonzeros."""
    rng = np.random.default_rng(3)
    x_np = rng.uniform(0.5, 1.5, (64, 32)).astype("float32")
    w_np = rng.standard_normal((64, 32)).astype("float32")
    x = tj.tensor(x_np, requires_grad=True)
    tj.manual_seed(0)
    out = tj.nn.Dropout(p)(x)
    (out * tj.tensor(w_np)).sum().backward()
    kept = out.detach().numpy() != 0
    assert 0.05 < kept.mean() < 0.95
    np.testing.assert_allclose(out.detach().numpy(), np.where(kept, x_np / (1 - p), 0), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, w_np / (1 - p), 0), rtol=1e-6)
