"""Twin parameters and optimizers for the tracejit.optim tests: the same starting values and
hand-set gradients for torch and tracejit, and comparisons of parameters, optimizer state and
learning rates."""

from __future__ import annotations

import numpy as np
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


def train(name, kwargs, dtype="float32", steps=12, skip=(), groups=None, seed=1,
          shapes=SHAPES):
    """Run both twins `steps` steps with the same fresh gradients, comparing after each."""
    theirs, ours = make_params(dtype, shapes)
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


def scheduled_twins(opt_name="SGD", opt_kwargs=None):
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
