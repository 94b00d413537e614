"""tracejit.optim against torch 2.13: the same gradients (set by hand, fresh each step, or from
backward()) go to twin parameters, and after every step the parameters and the optimizer state
must agree; state dicts move between the twins mid-training; errors match torch's.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import math
import pickle

import numpy as np
import pytest
import torch
from optim_twins import (
    RTOL,
    assert_same,
    make_params,
    set_grads,
    to_ours,
    to_torch,
    train,
)

import tracejit as tj

# --- updates against torch ------------------------------------------------------------------------

SGD_OPTIONS = [
    {}, {"lr": 0.1}, {"lr": 0.1, "momentum": 0.9}, {"lr": 0.1, "momentum": 0.9, "dampening": 0.3},
    {"lr": 0.05, "momentum": 0.8, "nesterov": True}, {"lr": 0.1, "weight_decay": 0.01},
    {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1, "maximize": True},
    {"lr": 0.1, "momentum": 0.5, "nesterov": True, "weight_decay": 0.05, "maximize": True},
]
ADAM_OPTIONS = [
    {}, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6}, {"lr": 0.01, "weight_decay": 0.1},
    {"lr": 0.01, "amsgrad": True}, {"lr": 0.01, "maximize": True},
    {"lr": 0.02, "weight_decay": 0.05, "amsgrad": True, "maximize": True},
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kwargs", SGD_OPTIONS)
def test_sgd_matches_torch(kwargs, dtype):
    train("SGD", kwargs, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("kwargs", ADAM_OPTIONS)
def test_adam_and_adamw_match_torch(name, kwargs, dtype):
    train(name, kwargs, dtype, steps=20)


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", {"momentum": 0.9}), ("Adam", {}), ("AdamW", {"amsgrad": True}),
    ("RMSprop", {"momentum": 0.5}), ("Adagrad", {"lr_decay": 0.1}),
])
def test_tensor_learning_rate(name, kwargs):
    """A 1-element tensor lr works as in torch (its float32 rounding aside)."""
    theirs, ours = make_params()
    topt = getattr(torch.optim, name)(theirs, lr=torch.tensor(0.01), **kwargs)
    oopt = getattr(tj.optim, name)(ours, lr=tj.tensor(0.01), **kwargs)
    rng = np.random.default_rng(7)
    for _ in range(5):
        set_grads(theirs, ours, rng)
        topt.step()
        oopt.step()
    for t, o in zip(theirs, ours):
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-5)
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        getattr(tj.optim, name)(ours, lr=tj.ones(2))


def test_tensor_betas_stay_tensors_in_the_groups():
    theirs, ours = make_params()
    topt = torch.optim.Adam(theirs, lr=0.1, betas=(torch.tensor([0.8]), torch.tensor(0.99)))
    oopt = tj.optim.Adam(ours, lr=0.1, betas=(tj.tensor([0.8]), tj.tensor(0.99)))
    assert [b.shape for b in oopt.param_groups[0]["betas"]] == [(), ()]
    rng = np.random.default_rng(2)
    for _ in range(5):
        set_grads(theirs, ours, rng)
        topt.step()
        oopt.step()
    for t, o in zip(theirs, ours):  # torch computes the bias corrections in float32
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="betas must be either both floats or both Tensors"):
        tj.optim.Adam(ours, betas=(tj.tensor(0.9), 0.99))


@pytest.mark.parametrize("name, kwargs", [("Adam", {"lr": 0.01}),
                                          ("AdamW", {"lr": 0.01, "amsgrad": True}),
                                          ("Adam", {"lr": 0.01, "weight_decay": 0.1})])
def test_adam_capturable_path(name, kwargs):
    """capturable=True (torch's path without .item(): bias corrections as tensors) agrees with
    torch's default path to float32 rounding, and the update traces into a graph that replays
    like eager when the parameter and its state are inputs."""
    theirs, ours = make_params()
    topt = getattr(torch.optim, name)(theirs, **kwargs)
    oopt = getattr(tj.optim, name)(ours, capturable=True, **kwargs)
    rng = np.random.default_rng(4)
    for _ in range(8):
        set_grads(theirs, ours, rng)
        topt.step()
        oopt.step()
    for t, o in zip(theirs, ours):
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
    from tracejit.optim.adam import _adam_update

    group = oopt.param_groups[0]

    def update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step):
        param.grad = grad
        _adam_update({"exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq,
                      "max_exp_avg_sq": max_exp_avg_sq, "step": step}, param, group)
        return param

    def fresh():
        return (tj.ones(3), tj.tensor([0.5, -1.0, 2.0]), tj.zeros(3), tj.zeros(3), tj.zeros(3),
                tj.tensor(0.0))

    traced, eager = fresh(), fresh()
    graph = tj.trace(update, fresh())
    for _ in range(3):
        graph(*traced)
        update(*eager)
    for a, b in zip(traced, eager):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.1, "amsgrad": True, "weight_decay": 0.1}), ("AdamW", {"lr": 0.1}),
    ("RMSprop", {"lr": 0.1, "momentum": 0.5, "centered": True}), ("RMSprop", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1}), ("Adadelta", {"lr": 0.5}), ("Adamax", {"lr": 0.1}),
    ("NAdam", {"lr": 0.1}), ("RAdam", {"lr": 0.1}), ("Rprop", {"lr": 0.1}),
])
def test_differentiable_step_gives_torchs_meta_gradient(name, kwargs):
    """differentiable=True: the step runs with grad enabled on a non-leaf copy of w, and the
    gradient flows back through the update to w (torch's tensor path, clones included)."""
    out = []
    for lib in (torch, tj):
        w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        p = w.clone()
        opt = getattr(lib.optim, name)([p], differentiable=True, **kwargs)
        p.grad = (p * p).detach()
        opt.step()
        (p ** 2).sum().backward()
        out.append((p.detach().numpy(), w.grad.numpy()))
    np.testing.assert_allclose(out[1][0], out[0][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[1][1], out[0][1], rtol=1e-5, atol=1e-6)


def test_adam_decoupled_weight_decay_is_adamw():
    train("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True})


@pytest.mark.parametrize("kwargs", [
    {}, {"lr": 0.01, "momentum": 0.9}, {"lr": 0.01, "centered": True},
    {"lr": 0.01, "alpha": 0.9, "weight_decay": 0.1, "momentum": 0.5, "centered": True,
     "maximize": True},
])
def test_rmsprop_matches_torch(kwargs):
    train("RMSprop", kwargs)
    train("RMSprop", kwargs, "float64")


@pytest.mark.parametrize("kwargs", [
    {}, {"lr": 0.1, "lr_decay": 0.01}, {"lr": 0.1, "initial_accumulator_value": 0.5},
    {"lr": 0.1, "weight_decay": 0.1, "eps": 1e-6, "maximize": True},
])
def test_adagrad_matches_torch(kwargs):
    train("Adagrad", kwargs)
    train("Adagrad", kwargs, "float64")


@pytest.mark.parametrize("name, kwargs", [
    ("Adadelta", {}), ("Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.1,
                                    "maximize": True}),
    ("Adamax", {}), ("Adamax", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("NAdam", {}), ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "momentum_decay": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True,
               "maximize": True}),
    ("RAdam", {}), ("RAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("Adafactor", {}), ("Adafactor", {"lr": 0.05, "beta2_decay": -0.5, "eps": (1e-6, 1e-2),
                                      "d": 2.0, "weight_decay": 0.1, "maximize": True}),
    ("Rprop", {}), ("Rprop", {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.1),
                              "maximize": True}),
    ("ASGD", {}), ("ASGD", {"lr": 0.05, "lambd": 0.01, "alpha": 0.5, "t0": 4,
                            "weight_decay": 0.1}),
])
def test_other_adaptive_optimizers_match_torch(name, kwargs):
    train(name, kwargs, steps=15)
    train(name, kwargs, "float64", steps=15)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_matches_torch(line_search_fn):
    """Same losses, iterates and evaluation counts as torch's (float64: its tolerance tests
    decide the same way)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((6, 3)), rng.standard_normal(6)
    runs = []
    for lib in (torch, tj):
        w, c = lib.nn.Parameter(lib.zeros(3).double()), lib.nn.Parameter(lib.ones(2).double())
        opt = lib.optim.LBFGS([w, c], lr=0.5, max_iter=7, history_size=3,
                              line_search_fn=line_search_fn)
        at, bt = lib.tensor(a), lib.tensor(b)

        def closure(lib=lib, opt=opt, w=w, c=c, at=at, bt=bt):
            opt.zero_grad()
            loss = ((at @ w - bt) ** 2).sum() + (c ** 4).sum() + (w * c.sum()).pow(2).sum()
            loss.backward()
            return loss

        losses = [opt.step(closure).item() for _ in range(4)]
        state = opt.state[w]
        runs.append((losses, w.detach().numpy(), c.detach().numpy(), state["func_evals"],
                     state["n_iter"], len(state["old_dirs"])))
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-12)
    np.testing.assert_allclose(runs[1][1], runs[0][1], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(runs[1][2], runs[0][2], rtol=1e-10, atol=1e-12)
    assert runs[1][3:] == runs[0][3:]


def test_lbfgs_errors_match_torch():
    theirs, ours = make_params()
    for lib, params in ((torch, theirs), (tj, ours)):
        with pytest.raises(ValueError, match="doesn't support per-parameter options"):
            lib.optim.LBFGS([{"params": params[:1]}, {"params": params[1:]}])
        opt = lib.optim.LBFGS(params, line_search_fn="backtracking")
        for p in params:
            p.grad = lib.ones(p.shape)
        with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
            opt.step(lambda: 1.0)


def test_adafactor_factors_batched_matrices_like_torch():
    train("Adafactor", {"lr": 0.02}, shapes=[(2, 3, 4), (4, 1), (3,)], steps=10)
    train("Adafactor", {"lr": 0.02}, "float64", shapes=[(2, 3, 4), (4, 1), (3,)], steps=10)


OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam",
              "RAdam", "Adafactor", "Rprop", "ASGD", "LBFGS"]


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_signature_and_defaults_match_torch(name):
    ours, theirs = getattr(tj.optim, name), getattr(torch.optim, name)
    ours_sig, theirs_sig = inspect.signature(ours), inspect.signature(theirs)
    assert [(p.name, p.kind, p.default) for p in ours_sig.parameters.values()] == [
        (p.name, p.kind, p.default) for p in theirs_sig.parameters.values()]
    t_params, o_params = make_params()
    assert ours(o_params).defaults == theirs(t_params).defaults


def test_param_groups_and_params_without_grad():
    """Per-group options override the defaults; a parameter whose .grad is None is skipped and
    gets no state."""
    def groups(params):
        return [{"params": params[:1], "lr": 0.1}, {"params": params[1:], "momentum": 0.5}]
    for name, kwargs in (("SGD", {"lr": 0.01, "momentum": 0.9}), ("Adam", {"lr": 0.01})):
        theirs, ours, _, oopt = train(name, kwargs, groups=groups, skip=(2,))
        assert ours[2] not in oopt.state and len(oopt.state) == 2
        assert oopt.param_groups[0]["lr"] == 0.1 and oopt.param_groups[1]["lr"] == 0.01
        np.testing.assert_array_equal(ours[2].detach().numpy(), theirs[2].detach().numpy())


def test_add_param_group_mid_training():
    theirs, ours = make_params()
    topt = torch.optim.SGD(theirs[:2], lr=0.1, momentum=0.9)
    oopt = tj.optim.SGD(ours[:2], lr=0.1, momentum=0.9)
    rng = np.random.default_rng(3)
    for step in range(6):
        if step == 3:
            topt.add_param_group({"params": theirs[2], "lr": 0.5})
            oopt.add_param_group({"params": ours[2], "lr": 0.5})
        set_grads(theirs, ours, rng)
        topt.step()
        oopt.step()
        assert_same(theirs, ours, topt, oopt, RTOL["float32"])


@pytest.mark.parametrize("lib", [torch, tj], ids=["torch", "tracejit"])
def test_step_hooks_like_torch(lib):
    """Global hooks wrap per-optimizer ones; hooks see (optimizer, args with the optimizer
    first, kwargs) and a pre hook may replace the arguments."""
    opt = lib.optim.SGD(make_params()[lib is tj], lr=0.1)
    module = importlib.import_module(f"{lib.__name__}.optim.optimizer")
    calls = []
    handles = [
        module.register_optimizer_step_pre_hook(
            lambda o, args, kwargs: calls.append(("global pre", args[0] is o, len(args)))),
        module.register_optimizer_step_post_hook(
            lambda o, args, kwargs: calls.append(("global post", kwargs))),
        opt.register_step_pre_hook(lambda o, args, kwargs: (args, {"closure": lambda: 7})),
        opt.register_step_post_hook(lambda o, args, kwargs: calls.append(("post", kwargs))),
    ]
    try:
        assert opt.step() == 7
    finally:
        for handle in handles:
            handle.remove()
    assert [c[0] for c in calls] == ["global pre", "post", "global post"]
    assert calls[0][1:] == (True, 1) and "closure" in calls[1][1]
    opt.register_step_pre_hook(lambda o, args, kwargs: 3)
    with pytest.raises(RuntimeError, match=r"must return None or a tuple of \(new_args"):
        opt.step()


def test_zero_grad_both_ways():
    _, ours = make_params()
    opt = tj.optim.SGD(ours, lr=0.1)
    for p in ours:
        p.grad = tj.ones(p.shape)
    grads = [p.grad for p in ours]
    opt.zero_grad(set_to_none=False)
    for p, g in zip(ours, grads):
        assert p.grad is g
        np.testing.assert_array_equal(g.numpy(), np.zeros(tuple(p.shape), np.float32))
    opt.zero_grad()
    assert all(p.grad is None for p in ours)
    before = [p.detach().numpy().copy() for p in ours]
    opt.step()  # no gradients: nothing moves
    for p, b in zip(ours, before):
        np.testing.assert_array_equal(p.detach().numpy(), b)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
def test_zero_grad_in_place_detaches_a_gradient_with_a_graph():
    for lib in (torch, tj):
        p = lib.nn.Parameter(lib.tensor([1.0, 2.0]))
        (p ** 3).sum().backward(create_graph=True)
        grad = p.grad
        assert grad.grad_fn is not None
        lib.optim.SGD([p], lr=0.1).zero_grad(set_to_none=False)
        assert p.grad is grad and grad.grad_fn is None and not grad.requires_grad
        assert grad.tolist() == [0.0, 0.0]


def test_step_with_closure_and_hooks():
    _, ours = make_params()
    opt = tj.optim.SGD(ours, lr=0.1)
    seen = []

    def closure():
        seen.append(tj.is_grad_enabled())
        for p in ours:
            p.grad = tj.ones(p.shape)
        return 1.5

    calls = []
    pre = opt.register_step_pre_hook(lambda o, args, kwargs: calls.append("pre"))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append("post"))
    with tj.no_grad():
        assert opt.step(closure) == 1.5
    assert seen == [True] and calls == ["pre", "post"]
    np.testing.assert_allclose(ours[1].detach().numpy(),
                               make_params()[1][1].detach().numpy() - 0.1, rtol=1e-6)
    pre.remove()
    opt.step()
    assert calls == ["pre", "post", "post"]


@pytest.mark.parametrize("name, kwargs, schedule", [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}, ("StepLR", {"step_size": 5})),
    ("AdamW", {"lr": 0.01}, ("OneCycleLR", {"max_lr": 0.05, "total_steps": 15})),
])
def test_mlp_trains_like_torch_with_backward(name, kwargs, schedule):
    """Real gradients from backward(), clipping and a scheduler: per-step losses and final
    weights match torch's."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 4)), rng.standard_normal((8, 2))
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    ours = tj.nn.Sequential(tj.nn.Linear(4, 16), tj.nn.Tanh(), tj.nn.Linear(16, 2))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    runs = []
    for lib, model in ((torch, theirs), (tj, ours)):
        opt = getattr(lib.optim, name)(model.parameters(), **kwargs)
        sched = getattr(lib.optim.lr_scheduler, schedule[0])(opt, **schedule[1])
        losses = []
        for _ in range(15):
            opt.zero_grad()
            loss = lib.nn.functional.mse_loss(model(lib.tensor(x).float()),
                                              lib.tensor(y).float())
            loss.backward()
            lib.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
            sched.step()
            losses.append(loss.item())
        runs.append(losses)
    np.testing.assert_allclose(runs[1], runs[0], rtol=1e-5)
    for t, o in zip(theirs.parameters(), ours.parameters()):
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, kwargs", [("SGD", {"lr": 0.1, "momentum": 0.9}),
                                          ("Adam", {"lr": 0.05, "amsgrad": True})])
def test_a_failed_capture_of_step_leaves_the_state_untouched(name, kwargs):
    """tracejit.compile traces a training step, and the trace stops at the parameter update (an
    in-place write to a closure tensor); state the attempt made from traced values must not
    survive into the eager rerun."""
    theirs, ours = make_params()
    topt = getattr(torch.optim, name)(theirs, **kwargs)
    oopt = getattr(tj.optim, name)(ours, **kwargs)
    rng = np.random.default_rng(9)
    for attempt in range(3):
        set_grads(theirs, ours, rng)
        before = {id(p): dict(s) for p, s in oopt.state.items()}
        with pytest.raises(tj.TraceError, match="in-place write"):
            tj.trace(lambda x: oopt.step() or x, (tj.zeros(1),))
        assert {id(p): dict(s) for p, s in oopt.state.items()} == before, attempt
        topt.step()
        oopt.step()
        assert_same(theirs, ours, topt, oopt, RTOL["float32"])


# --- state dicts ----------------------------------------------------------------------------------

def test_state_dict_layout_is_torchs():
    def groups(params):
        return [{"params": params[:2]}, {"params": params[2:], "lr": 0.1}]
    _, _, topt, oopt = train("Adam", {"amsgrad": True}, groups=groups, steps=3)
    tsd, osd = topt.state_dict(), oopt.state_dict()
    assert [g["params"] for g in osd["param_groups"]] == [[0, 1], [2]]
    assert osd["param_groups"] == tsd["param_groups"]
    assert list(osd["state"]) == list(tsd["state"]) == [0, 1, 2]
    step = osd["state"][0]["step"]
    assert isinstance(step, tj.Tensor) and step.dtype == tj.float32 and step.shape == ()
    assert step.item() == 3.0
    assert list(osd["state"][0]) == list(tsd["state"][0])


@pytest.mark.parametrize("name", ["Adam", "NAdam", "ASGD", "Adagrad"])
def test_state_scalars_follow_a_float64_default_dtype(name):
    """torch keeps `step` (and NAdam's mu_product, ASGD's eta and mu) in float64 while that is
    the default dtype, float32 otherwise."""
    try:
        torch.set_default_dtype(torch.float64)
        tj.set_default_dtype(tj.float64)
        _, _, topt, oopt = train(name, {}, "float64", steps=2)
    finally:
        torch.set_default_dtype(torch.float32)
        tj.set_default_dtype(tj.float32)
    for tstate, ostate in zip(topt.state.values(), oopt.state.values()):
        assert {k: str(v.dtype)[9:] for k, v in ostate.items() if v.ndim == 0} == {
            k: str(v.dtype)[6:] for k, v in tstate.items() if v.ndim == 0}


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"lr": 0.1}),
    ("NAdam", {"lr": 0.01}),
    ("ASGD", {"t0": 2}),
])
@pytest.mark.parametrize("direction", ["torch->tracejit", "tracejit->torch"])
def test_state_dict_moves_between_twins_mid_training(name, kwargs, direction):
    """Train one side 4 steps, load its state into a fresh optimizer on the other side, then
    both continue identically."""
    theirs, ours = make_params()
    topt = getattr(torch.optim, name)(theirs, **kwargs)
    oopt = getattr(tj.optim, name)(ours, **kwargs)
    rng = np.random.default_rng(5)
    source_is_torch = direction == "torch->tracejit"
    for _ in range(4):
        set_grads(theirs, ours, rng)
        (topt if source_is_torch else oopt).step()
    if source_is_torch:
        for t, o in zip(theirs, ours):
            o.data = tj.tensor(t.detach().numpy().copy())
        oopt = getattr(tj.optim, name)(ours, lr=123.0)  # its options come from the state dict
        oopt.load_state_dict(to_ours(topt.state_dict()))
    else:
        with torch.no_grad():
            for t, o in zip(theirs, ours):
                t.copy_(torch.tensor(o.detach().numpy()))
        topt = getattr(torch.optim, name)(theirs, lr=123.0)
        topt.load_state_dict(to_torch(oopt.state_dict()))
    assert_same(theirs, ours, topt, oopt, RTOL["float32"])
    for _ in range(4):
        set_grads(theirs, ours, rng)
        topt.step()
        oopt.step()
        assert_same(theirs, ours, topt, oopt, RTOL["float32"])


def test_load_state_dict_casts_state_to_the_parameter_dtype_except_step():
    _, _, _, oopt = train("Adam", {}, steps=2)
    target = tj.optim.Adam(make_params("float64")[1])
    target.load_state_dict(oopt.state_dict())
    state = next(iter(target.state.values()))
    assert state["exp_avg"].dtype == tj.float64 and state["step"].dtype == tj.float32


@pytest.mark.parametrize("lib", [torch, tj], ids=["torch", "tracejit"])
def test_state_dict_hooks_like_torch(lib):
    opt = lib.optim.SGD(make_params()[lib is tj], lr=0.1)
    calls = []
    opt.register_state_dict_pre_hook(lambda o: calls.append("pre"))
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": 1})
    handle = opt.register_state_dict_post_hook(lambda o, sd: calls.append("first"),
                                               prepend=True)
    sd = opt.state_dict()
    assert sd["extra"] == 1 and calls == ["pre", "first"]
    handle.remove()

    def halve_lr(o, sd):
        sd["param_groups"] = [{**g, "lr": g["lr"] / 2} for g in sd["param_groups"]]

    opt.register_load_state_dict_pre_hook(halve_lr)
    opt.register_load_state_dict_post_hook(lambda o: calls.append("loaded"))
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.05 and sd["param_groups"][0]["lr"] == 0.1
    assert calls == ["pre", "first", "loaded"]


def test_deepcopy_and_pickle_keep_training():
    """The copies keep the optimizer's link to its (copied) parameters and its state."""
    theirs, ours, topt, oopt = train("Adam", {"lr": 0.01, "amsgrad": True}, steps=3)
    rng = np.random.default_rng(8)
    for params, opt in (pickle.loads(pickle.dumps((ours, oopt))), copy.deepcopy((ours, oopt))):
        assert params[0] is not ours[0] and opt.param_groups[0]["params"][0] is params[0]
        theirs_now, topt_now = copy.deepcopy((theirs, topt))
        for _ in range(3):
            set_grads(theirs_now, params, rng)
            topt_now.step()
            opt.step()
        assert_same(theirs_now, params, topt_now, opt, RTOL["float32"])


def _to_numpy(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().numpy()
    if isinstance(obj, dict):
        return {k: _to_numpy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_numpy(v) for v in obj)
    return obj


def test_torch_checkpoint_through_tracejit_save_and_load(tmp_path):
    """docs/training.md's recipe: a torch state dict as numpy, tracejit.save, tracejit.load
    (numpy arrays back), load_state_dict, and training goes on as torch's."""
    theirs, ours = make_params()
    topt = torch.optim.AdamW(theirs, lr=0.05, amsgrad=True)
    rng = np.random.default_rng(11)
    for _ in range(3):
        set_grads(theirs, ours, rng)
        topt.step()
    tj.save({"optimizer": _to_numpy(topt.state_dict())}, tmp_path / "ckpt.tj")
    for t, o in zip(theirs, ours):
        o.data = tj.tensor(t.detach().numpy().copy())
    oopt = tj.optim.AdamW(ours)
    oopt.load_state_dict(tj.load(tmp_path / "ckpt.tj")["optimizer"])
    for _ in range(3):
        set_grads(theirs, ours, rng)
        topt.step()
        oopt.step()
        assert_same(theirs, ours, topt, oopt, RTOL["float32"])


def test_swap_in_optimizer_params_and_state_like_torch():
    """A step inside the block moves the swapped-in tensors with the swapped-in state; the live
    parameters, groups and state are back afterwards."""
    runs = []
    for lib, (live, other) in ((torch, (make_params()[0], make_params(seed=5)[0])),
                               (tj, (make_params()[1], make_params(seed=5)[1]))):
        opt = lib.optim.Adam(live, lr=0.1)
        donor = lib.optim.Adam(other, lr=0.05)
        rng = np.random.default_rng(6)
        for params, optimizer in ((live, opt), (other, donor)):
            for p in params:
                p.grad = lib.tensor(rng.standard_normal(tuple(p.shape)).astype("float32"))
            optimizer.step()
        live_state = {k: v.clone() for k, v in opt.state[live[0]].items()}
        with lib.optim.swap_in_optimizer_params_and_state(
                opt, {str(i): p for i, p in enumerate(other)}, donor.state_dict()):
            group = opt.param_groups[0]
            assert group["lr"] == 0.05 and group["params"][0] is other[0]
            opt.step()
        assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["params"][0] is live[0]
        assert set(opt.state) == set(live) and opt.state[live[0]]["step"].item() == 1.0
        np.testing.assert_array_equal(opt.state[live[0]]["exp_avg"].numpy(),
                                      live_state["exp_avg"].numpy())
        runs.append([p.detach().numpy() for p in other])
        with pytest.raises(RuntimeError, match="requires initialized optimizer state"), \
                lib.optim.swap_in_optimizer_params_and_state(lib.optim.SGD(live), {},
                                                             donor.state_dict()):
            pass
    for a, b in zip(*runs):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)


def test_load_state_dict_errors_match_torch():
    for lib in (torch, tj):
        params = make_params()[0 if lib is torch else 1]
        opt = lib.optim.SGD(params, lr=0.1)
        sd = lib.optim.SGD([{"params": params[:1]}, {"params": params[1:]}], lr=0.1).state_dict()
        with pytest.raises(ValueError, match="different number of parameter groups"):
            opt.load_state_dict(sd)
        other = lib.optim.SGD(params[:2], lr=0.1).state_dict()
        with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
            opt.load_state_dict(other)


# --- errors ---------------------------------------------------------------------------------------

BAD_ARGUMENTS = [
    ("SGD", {"lr": -1}), ("SGD", {"momentum": -0.5}), ("SGD", {"weight_decay": -1e-3}),
    ("SGD", {"nesterov": True}), ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}),
    ("SGD", {"fused": True, "differentiable": True}), ("SGD", {"fused": True, "foreach": True}),
    ("Adam", {"lr": -0.5}), ("Adam", {"eps": -1.0}), ("Adam", {"betas": (1.0, 0.999)}),
    ("Adam", {"betas": (0.9, -0.1)}), ("Adam", {"weight_decay": -1}),
    ("Adam", {"betas": (0.9, 0)}), ("AdamW", {"lr": -1}), ("AdamW", {"betas": (0.5, 1.5)}),
    ("RMSprop", {"alpha": -1}), ("RMSprop", {"eps": -1}), ("RMSprop", {"momentum": -1}),
    ("Adagrad", {"lr_decay": -1}), ("Adagrad", {"initial_accumulator_value": -1}),
    ("Adagrad", {"eps": -1}), ("Adadelta", {"rho": 1.5}), ("Adadelta", {"eps": -1}),
    ("Adamax", {"betas": (0.9, 1.0)}), ("NAdam", {"momentum_decay": -1}),
    ("RAdam", {"weight_decay": -1}), ("Rprop", {"etas": (0.5, 1.0)}), ("ASGD", {"lr": -2}),
    ("Adafactor", {"beta2_decay": 0.5}), ("Adafactor", {"d": 0.5}),
    ("Adafactor", {"eps": (-1.0, 1e-3)}),
]


def raised(make):
    try:
        make()
    except Exception as error:  # whatever each library raises, compared
        return type(error), str(error)
    return None


@pytest.mark.parametrize("name, kwargs", BAD_ARGUMENTS)
def test_bad_arguments_raise_like_torch(name, kwargs):
    theirs, ours = make_params()
    expected = raised(lambda: getattr(torch.optim, name)(theirs, **kwargs))
    assert expected is not None
    assert raised(lambda: getattr(tj.optim, name)(ours, **kwargs)) == expected


@pytest.mark.parametrize("params", [
    lambda lib, ps: ps[0],  # a single tensor
    lambda lib, ps: [],
    lambda lib, ps: [{"params": set(ps)}],
    lambda lib, ps: [ps[0], 3],
    lambda lib, ps: [{"params": ps[:1]}, {"params": ps[:2]}],  # one parameter in two groups
    lambda lib, ps: [("w", ps[0]), ps[1]],  # names missing for some
])
def test_bad_params_raise_like_torch(params):
    theirs, ours = make_params()
    expected = raised(lambda: torch.optim.SGD(params(torch, theirs), lr=0.1))
    assert expected is not None
    assert raised(lambda: tj.optim.SGD(params(tj, ours), lr=0.1)) == expected


def test_add_param_group_errors_and_named_params():
    for lib, params in zip((torch, tj), make_params()):
        opt = lib.optim.SGD([("a", params[0]), ("b", params[1])], lr=0.1)
        assert opt.param_groups[0]["param_names"] == ["a", "b"]
        with pytest.raises(TypeError, match="param_group must be a dict"):
            opt.add_param_group([params[2]])
        with pytest.raises(ValueError, match="cannot add param group without names"):
            opt.add_param_group({"params": [params[2]]})


def test_non_leaf_parameter_is_refused():
    for lib, params in zip((torch, tj), make_params()):
        non_leaf = params[0] * 2
        with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
            lib.optim.SGD([non_leaf], lr=0.1)


def test_repr_lists_each_group():
    theirs, ours = make_params()
    assert repr(tj.optim.SGD(ours, lr=0.1)) == repr(torch.optim.SGD(theirs, lr=0.1))


# --- gradient clipping with real .grad values ----------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_on_parameters(dtype, norm_type, max_norm):
    theirs, ours = make_params(dtype)
    set_grads(theirs, ours, np.random.default_rng(2), skip=(1,))
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    total = tj.nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    assert str(total.dtype)[9:] == str(expected.dtype)[6:]
    np.testing.assert_allclose(total.numpy(), expected.numpy(), rtol=RTOL[dtype])
    assert ours[1].grad is None
    for t, o in zip(theirs, ours):
        if t.grad is not None:
            np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=RTOL[dtype])


def test_clip_grad_norm_mixed_dtypes_and_empty_generator():
    theirs = [torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2).double())]
    ours = [tj.nn.Parameter(tj.zeros(3)), tj.nn.Parameter(tj.zeros(2).double())]
    set_grads(theirs, ours, np.random.default_rng(6))
    expected = torch.nn.utils.clip_grad_norm_(theirs, 0.3)
    total = tj.nn.utils.clip_grad_norm_(ours, 0.3)
    assert total.dtype == tj.float64 and expected.dtype == torch.float64
    np.testing.assert_allclose(total.numpy(), expected.numpy(), rtol=1e-6)
    for t, o in zip(theirs, ours):
        assert str(o.grad.dtype)[9:] == str(t.grad.dtype)[6:]
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-6)
    for lib in (torch, tj):
        with pytest.warns(UserWarning, match="empty generator"):
            lib.nn.utils.clip_grad_norm_((p for p in []), 1.0)


def test_clip_grad_value_on_parameters():
    theirs, ours = make_params()
    set_grads(theirs, ours, np.random.default_rng(4))
    torch.nn.utils.clip_grad_value_(theirs, 0.4)
    tj.nn.utils.clip_grad_value_(ours, 0.4)
    for t, o in zip(theirs, ours):
        np.testing.assert_array_equal(o.grad.numpy(), t.grad.numpy())
