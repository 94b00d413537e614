"""tracejit.optim and tracejit.optim.lr_scheduler against torch 2.13: the same gradients (set by
hand, fresh each step) go to twin parameters, and after every step the parameters, the optimizer
state and the learning rates must agree; state dicts move between the twins mid-training.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import math
import pickle
import warnings

import numpy as np
import pytest
import torch

import tracejit as tj

SHAPES = [(3, 4), (5,), ()]
RTOL = {"float32": 2e-6, "float64": 1e-12}


# --- twins ----------------------------------------------------------------------------------------

def make_params(dtype="float32", shapes=SHAPES, seed=0):
    """The same starting values as torch parameters and as ours."""
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(rng.standard_normal(s), dtype=dtype) for s in shapes]
    theirs = [torch.nn.Parameter(torch.tensor(a)) for a in arrays]
    ours = [tj.nn.Parameter(tj.tensor(a)) for a in arrays]
    return theirs, ours


def set_grads(theirs, ours, rng, skip=()):
    for i, (t, o) in enumerate(zip(theirs, ours)):
        if i in skip:
            continue
        g = np.asarray(rng.standard_normal(tuple(t.shape)), dtype=str(t.dtype)[6:])
        t.grad = torch.tensor(g)
        o.grad = tj.tensor(g)


def to_ours(obj):
    """A torch state dict with every tensor converted to a tracejit tensor."""
    if isinstance(obj, torch.Tensor):
        return tj.tensor(obj.detach().numpy().copy())
    if isinstance(obj, dict):
        return {k: to_ours(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_ours(v) for v in obj)
    return obj


def to_torch(obj):
    if isinstance(obj, tj.Tensor):
        return torch.tensor(obj.detach().numpy().copy())
    if isinstance(obj, dict):
        return {k: to_torch(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_torch(v) for v in obj)
    return obj


def assert_same(theirs, ours, topt, oopt, rtol):
    """Parameters, per-parameter state (keys, dtypes, values) and groups agree."""
    for t, o in zip(theirs, ours):
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=rtol)
        tstate, ostate = topt.state.get(t, {}), oopt.state.get(o, {})
        assert set(ostate) == set(tstate)
        for key, value in tstate.items():
            if isinstance(value, torch.Tensor):
                assert str(ostate[key].dtype)[9:] == str(value.dtype)[6:], key
                assert tuple(ostate[key].shape) == tuple(value.shape), key
                np.testing.assert_allclose(ostate[key].numpy(), value.numpy(), rtol=rtol,
                                           atol=rtol, err_msg=key)
            else:
                assert ostate[key] == value, key
    for tg, og in zip(topt.param_groups, oopt.param_groups):
        assert {k: v for k, v in og.items() if k != "params"} == {
            k: v for k, v in tg.items() if k != "params"}


def train(name, kwargs, dtype="float32", steps=12, skip=(), groups=None, seed=1):
    """Run both twins `steps` steps with the same fresh gradients, comparing after each."""
    theirs, ours = make_params(dtype)
    tparams, oparams = (theirs, ours) if groups is None else (groups(theirs), groups(ours))
    topt = getattr(torch.optim, name)(tparams, **kwargs)
    oopt = getattr(tj.optim, name)(oparams, **kwargs)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        set_grads(theirs, ours, rng, skip)
        topt.step()
        oopt.step()
        assert_same(theirs, ours, topt, oopt, RTOL[dtype])
    return theirs, ours, topt, oopt


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


OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam",
              "RAdam", "Rprop", "ASGD", "LBFGS"]


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
    set_grads(*make_params(), np.random.default_rng(0))  # torch side unused
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


# --- learning-rate schedulers ---------------------------------------------------------------------

def _warmup(epoch):
    return min(1.0, (epoch + 1) / 5) * 0.95 ** epoch


SCHEDULES = [
    ("StepLR", {"step_size": 7, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [3, 8, 8, 20], "gamma": 0.3}),
    ("ExponentialLR", {"gamma": 0.93}),
    ("CosineAnnealingLR", {"T_max": 10}),
    ("CosineAnnealingLR", {"T_max": 13, "eta_min": 1e-3}),
    ("LambdaLR", {"lr_lambda": _warmup}),
    ("MultiplicativeLR", {"lr_lambda": lambda epoch: 0.97}),
    ("LinearLR", {"start_factor": 0.25, "total_iters": 8}),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.1, "total_iters": 20}),
    ("ConstantLR", {"factor": 0.5, "total_iters": 4}),
    ("PolynomialLR", {"total_iters": 25, "power": 2.0}),
    ("CosineAnnealingWarmRestarts", {"T_0": 4, "T_mult": 2, "eta_min": 1e-4}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4}),
    ("CyclicLR", {"base_lr": [0.01, 0.02], "max_lr": 0.3, "step_size_up": 3,
                  "step_size_down": 5, "mode": "triangular2"}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 6, "mode": "exp_range",
                  "gamma": 0.97, "base_momentum": 0.7}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 5,
                  "scale_fn": lambda x: 0.9 ** x, "scale_mode": "iterations"}),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": 40}),
    ("OneCycleLR", {"max_lr": [0.5, 0.2], "total_steps": 40, "three_phase": True,
                    "anneal_strategy": "linear"}),
]


def _scheduled_twins(opt_name="SGD", opt_kwargs=None):
    opt_kwargs = {"lr": 0.1, "momentum": 0.9} if opt_kwargs is None else opt_kwargs
    theirs, ours = make_params()
    topt = getattr(torch.optim, opt_name)(
        [{"params": theirs[:2]}, {"params": theirs[2:], "lr": 0.03}], **opt_kwargs)
    oopt = getattr(tj.optim, opt_name)(
        [{"params": ours[:2]}, {"params": ours[2:], "lr": 0.03}], **opt_kwargs)
    return topt, oopt


def assert_lrs_equal(tsched, osched, topt, oopt):
    assert osched.get_last_lr() == tsched.get_last_lr()
    for key in ("lr", "momentum", "betas", "initial_lr"):
        assert [g.get(key) for g in oopt.param_groups] == [g.get(key) for g in topt.param_groups]


@pytest.mark.parametrize("opt_name, opt_kwargs", [("SGD", None), ("Adam", {"lr": 0.1})])
@pytest.mark.parametrize("name, kwargs", SCHEDULES)
def test_schedulers_match_torch_step_by_step(name, kwargs, opt_name, opt_kwargs):
    topt, oopt = _scheduled_twins(opt_name, opt_kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    osched = getattr(tj.optim.lr_scheduler, name)(oopt, **kwargs)
    assert_lrs_equal(tsched, osched, topt, oopt)
    for _ in range(35 if name != "OneCycleLR" else 40):
        topt.step()
        oopt.step()
        tsched.step()
        osched.step()
        assert osched.last_epoch == tsched.last_epoch
        assert_lrs_equal(tsched, osched, topt, oopt)


def test_sequential_lr_and_closed_form_epochs():
    topt, oopt = _scheduled_twins()
    scheds = []
    for lib, opt in ((torch, topt), (tj, oopt)):
        s = lib.optim.lr_scheduler
        warm = s.LinearLR(opt, start_factor=0.1, total_iters=5)
        scheds.append(s.SequentialLR(opt, [warm, s.CosineAnnealingLR(opt, T_max=20)], [5]))
    for _ in range(30):
        topt.step()
        oopt.step()
        for s in scheds:
            s.step()
        assert_lrs_equal(*scheds, topt, oopt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, kwargs in [*SCHEDULES[:4], SCHEDULES[11]]:
            topt, oopt = _scheduled_twins()
            tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
            osched = getattr(tj.optim.lr_scheduler, name)(oopt, **kwargs)
            for epoch in (3, 9, 4.5 if "Warm" in name else 4, 17):
                tsched.step(epoch)
                osched.step(epoch)
                assert_lrs_equal(tsched, osched, topt, oopt)


def test_chained_scheduler_matches_torch():
    topt, oopt = _scheduled_twins()
    scheds = []
    for lib, opt in ((torch, topt), (tj, oopt)):
        s = lib.optim.lr_scheduler
        scheds.append(s.ChainedScheduler([s.ConstantLR(opt, factor=0.5, total_iters=4),
                                          s.ExponentialLR(opt, gamma=0.9)]))
    assert_lrs_equal(*scheds, topt, oopt)
    for _ in range(12):
        topt.step()
        oopt.step()
        for s in scheds:
            s.step()
        assert_lrs_equal(*scheds, topt, oopt)
    assert [sd["last_epoch"] for sd in scheds[1].state_dict()["_schedulers"]] == [12, 12]


def test_reduce_lr_on_plateau_matches_torch():
    losses = [1.0, 0.9, 0.91, 0.92, 0.905, 0.93, 0.95, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    for kwargs in ({"patience": 2, "factor": 0.5}, {"mode": "max", "patience": 1,
                                                    "cooldown": 2, "min_lr": [0.02, 0.001]},
                   {"threshold_mode": "abs", "threshold": 0.05, "patience": 0}):
        topt, oopt = _scheduled_twins()
        tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
        osched = tj.optim.lr_scheduler.ReduceLROnPlateau(oopt, **kwargs)
        for loss in losses:
            tsched.step(loss)
            osched.step(tj.tensor(loss))
            assert_lrs_equal(tsched, osched, topt, oopt)
            assert osched.num_bad_epochs == tsched.num_bad_epochs


def test_scheduler_state_dict_round_trips_with_torch():
    topt, oopt = _scheduled_twins()
    tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=12, eta_min=0.001)
    osched = tj.optim.lr_scheduler.CosineAnnealingLR(oopt, T_max=12, eta_min=0.001)
    for _ in range(5):
        topt.step()
        tsched.step()
    assert set(osched.state_dict()) == set(tsched.state_dict())
    oopt.load_state_dict(to_ours(topt.state_dict()))
    osched.load_state_dict(tsched.state_dict())
    for _ in range(10):
        topt.step()
        oopt.step()
        tsched.step()
        osched.step()
        assert_lrs_equal(tsched, osched, topt, oopt)
    # resuming with last_epoch needs initial_lr in the groups, as in torch
    fresh = tj.optim.SGD(make_params()[1], lr=0.1)
    with pytest.raises(KeyError, match="param 'initial_lr' is not specified"):
        tj.optim.lr_scheduler.StepLR(fresh, 3, last_epoch=4)
    resumed = tj.optim.lr_scheduler.StepLR(oopt, 3, last_epoch=14)
    assert resumed.last_epoch == 15


def test_lambda_lr_state_dict_keeps_callable_objects_state():
    class Factor:
        def __init__(self):
            self.scale = 0.5

        def __call__(self, epoch):
            return self.scale ** epoch

    for lib, params in zip((torch, tj), make_params()):
        opt = lib.optim.SGD(params, lr=1.0)
        sched = lib.optim.lr_scheduler.LambdaLR(opt, Factor())
        sd = sched.state_dict()
        assert sd["lr_lambdas"] == [{"scale": 0.5}]
        sd["lr_lambdas"] = [{"scale": 0.25}]
        sched.load_state_dict(sd)
        opt.step()
        sched.step()
        assert sched.get_last_lr() == [0.25]


def test_scheduler_warnings_and_errors_match_torch():
    for lib, params in zip((torch, tj), make_params()):
        opt = lib.optim.SGD(params, lr=0.1)
        sched = lib.optim.lr_scheduler.StepLR(opt, 2)
        with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
            sched.step()
        with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
            sched.get_lr()
        with pytest.raises(TypeError, match="list is not an Optimizer"):
            lib.optim.lr_scheduler.StepLR([], 2)
        with pytest.raises(ValueError, match="Expected 1 lr_lambdas, but got 2"):
            lib.optim.lr_scheduler.LambdaLR(opt, [lambda e: 1.0] * 2)
        with pytest.raises(ValueError, match="You must define either total_steps"):
            lib.optim.lr_scheduler.OneCycleLR(opt, 0.1)
        one_cycle = lib.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=2)
        opt.step()
        one_cycle.step()
        one_cycle.step()
        with pytest.raises(ValueError, match="Tried to step 3 times"):
            one_cycle.step()


# --- swa_utils ------------------------------------------------------------------------------------

def _twin_models():
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    ours = tj.nn.Sequential(tj.nn.Linear(3, 4), tj.nn.BatchNorm1d(4))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return theirs, ours


def _assert_states_equal(theirs, ours, rtol=1e-6):
    tstate, ostate = theirs.state_dict(), ours.state_dict()
    assert list(ostate) == list(tstate)
    for key, value in tstate.items():
        np.testing.assert_allclose(ostate[key].detach().numpy(), value.detach().numpy(),
                                   rtol=rtol, atol=1e-7, err_msg=key)


@pytest.mark.parametrize("averaging", ["swa", "ema", "ema_multi_buffers", "swa_multi",
                                       "swa_buffers"])
def test_averaged_model_matches_torch(averaging):
    theirs, ours = _twin_models()
    averaged = []
    for lib, model in ((torch, theirs), (tj, ours)):
        swa = lib.optim.swa_utils
        kwargs = {"ema": {"avg_fn": swa.get_ema_avg_fn(0.9)},
                  "ema_multi_buffers": {"multi_avg_fn": swa.get_ema_multi_avg_fn(0.8),
                                        "use_buffers": True},
                  "swa_multi": {"multi_avg_fn": swa.get_swa_multi_avg_fn()},
                  "swa_buffers": {"use_buffers": True}}.get(averaging, {})
        averaged.append(swa.AveragedModel(model, **kwargs))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 3)).astype("float32")
    for _ in range(4):
        new = {k: rng.standard_normal(tuple(v.shape)).astype("float32")
               if v.is_floating_point() else np.array(rng.integers(0, 50))
               for k, v in theirs.state_dict().items()}
        theirs.load_state_dict({k: torch.tensor(v) for k, v in new.items()})
        ours.load_state_dict(new)
        averaged[0].update_parameters(theirs)
        averaged[1].update_parameters(ours)
        _assert_states_equal(*averaged)
    assert averaged[1].n_averaged.item() == 4 and averaged[1].n_averaged.dtype == tj.int64
    for model in averaged:
        model.eval()
    np.testing.assert_allclose(averaged[1](tj.tensor(x)).detach().numpy(),
                               averaged[0](torch.tensor(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-6)


def test_update_bn_matches_torch():
    theirs, ours = _twin_models()
    rng = np.random.default_rng(4)
    batches = [rng.standard_normal((6, 3)).astype("float32") * (i + 1) for i in range(3)]
    theirs.eval()
    ours.eval()
    torch.optim.swa_utils.update_bn([(torch.tensor(b), 0) for b in batches], theirs)
    tj.optim.swa_utils.update_bn([(tj.tensor(b), 0) for b in batches], ours)
    _assert_states_equal(theirs, ours, rtol=1e-5)
    assert not ours.training and ours[1].momentum == theirs[1].momentum


@pytest.mark.parametrize("kwargs", [{"swa_lr": 0.05, "anneal_epochs": 5},
                                    {"swa_lr": [0.01, 0.2], "anneal_epochs": 3,
                                     "anneal_strategy": "linear"},
                                    {"swa_lr": 0.02, "anneal_epochs": 0}])
def test_swalr_matches_torch(kwargs):
    topt, oopt = _scheduled_twins()
    tsched = torch.optim.swa_utils.SWALR(topt, **kwargs)
    osched = tj.optim.swa_utils.SWALR(oopt, **kwargs)
    assert_lrs_equal(tsched, osched, topt, oopt)
    for _ in range(12):
        topt.step()
        oopt.step()
        tsched.step()
        osched.step()
        assert_lrs_equal(tsched, osched, topt, oopt)
    with pytest.raises(ValueError, match="anneal_epochs must be equal or greater than 0"):
        tj.optim.swa_utils.SWALR(oopt, 0.1, anneal_epochs=-1)
