"""tracejit.optim.lr_scheduler and tracejit.optim.swa_utils against torch 2.13: twin
optimizers stepped together, the learning rates (and momenta) compared exactly after every
scheduler step; weight averaging compared on twin modules.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from optim_twins import assert_lrs_equal, make_params, scheduled_twins, to_ours

import tracejit as tj

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


@pytest.mark.parametrize("opt_name, opt_kwargs", [("SGD", None), ("Adam", {"lr": 0.1})])
@pytest.mark.parametrize("name, kwargs", SCHEDULES)
def test_schedulers_match_torch_step_by_step(name, kwargs, opt_name, opt_kwargs):
    topt, oopt = scheduled_twins(opt_name, opt_kwargs)
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
    topt, oopt = scheduled_twins()
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
            topt, oopt = scheduled_twins()
            tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
            osched = getattr(tj.optim.lr_scheduler, name)(oopt, **kwargs)
            for epoch in (3, 9, 4.5 if "Warm" in name else 4, 17):
                tsched.step(epoch)
                osched.step(epoch)
                assert_lrs_equal(tsched, osched, topt, oopt)


def test_chained_scheduler_matches_torch():
    topt, oopt = scheduled_twins()
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
        topt, oopt = scheduled_twins()
        tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
        osched = tj.optim.lr_scheduler.ReduceLROnPlateau(oopt, **kwargs)
        for loss in losses:
            tsched.step(loss)
            osched.step(tj.tensor(loss))
            assert_lrs_equal(tsched, osched, topt, oopt)
            assert osched.num_bad_epochs == tsched.num_bad_epochs


def test_scheduler_state_dict_round_trips_with_torch():
    topt, oopt = scheduled_twins()
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
    topt, oopt = scheduled_twins()
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


def test_tensor_learning_rate_is_filled_in_place():
    """A tensor lr stays the same tensor: the scheduler fills it, as torch's does."""
    results = []
    for lib in (torch, tj):
        params = [lib.nn.Parameter(lib.ones(2))]
        opt = lib.optim.SGD(params, lr=lib.tensor(0.1), momentum=0.9)
        lr = opt.param_groups[0]["lr"]
        sched = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5)
        lrs = []
        for _ in range(6):
            params[0].grad = lib.ones(2)
            opt.step()
            sched.step()
            assert opt.param_groups[0]["lr"] is lr and isinstance(sched.get_last_lr()[0],
                                                                   lib.Tensor)
            lrs.append(lr.item())
        results.append((lrs, params[0].detach().numpy()))
    assert results[1][0] == results[0][0]
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-6)


def test_a_group_added_after_the_scheduler_is_an_error_as_in_torch():
    errors = []
    for lib, params in zip((torch, tj), make_params()):
        opt = lib.optim.SGD(params[:1], lr=0.1)
        sched = lib.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 0.5)
        opt.add_param_group({"params": params[1:]})
        opt.step()
        with pytest.raises(ValueError) as error:
            sched.step()
        errors.append(str(error.value))
    assert errors[1] == errors[0]
