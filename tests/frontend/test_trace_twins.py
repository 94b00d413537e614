"""Traced models against their eager selves and their PyTorch twins.

The MLP, LeNet and transformer-block twins of test_nn_twins.py, traced: a traced call must equal
eager execution of the same tracejit module bit for bit (both run the op table's numpy code) and
PyTorch within test_nn_twins' tolerances; a new batch size traces again; weights loaded with
load_state_dict are seen without a retrace, unless freeze=True baked them in.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from test_nn_twins import TOL, make_block, make_lenet, make_mlp, sample, twins

import tracejit as tj
from tracejit.ir import Op
from tracejit.ir.graph import ConstRef


def blocks(lib):
    return lib.nn.Sequential(make_block(lib), make_block(lib, causal=True, use_sdpa=True))


MODELS = {  # name -> (factory, example input shape, another batch size)
    "mlp": (lambda lib: make_mlp(lib).eval(), (8, 16), (3, 16)),
    "lenet": (make_lenet, (4, 1, 28, 28), (2, 1, 28, 28)),
    "block": (blocks, (2, 7, 32), (5, 7, 32)),
}


def assert_bits(ours: tj.Tensor, expected: tj.Tensor, backend: str = "eager") -> None:
    """Bit for bit through the interpreter; within 1e-5 (float32) / 1e-12 (float64) compiled,
    whose reductions sum in another order."""
    assert ours.dtype is expected.dtype and ours.shape == expected.shape
    if backend == "eager":
        assert ours.detach().numpy().tobytes() == expected.detach().numpy().tobytes()
    else:
        tol = 1e-5 if ours.dtype is tj.float32 else 1e-12
        np.testing.assert_allclose(ours.detach().numpy(), expected.detach().numpy(), rtol=tol,
                                   atol=tol)


def assert_torch_close(ours: tj.Tensor, theirs: torch.nn.Module, x: np.ndarray, dtype: str):
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).detach().numpy()
    assert ours.dtype is getattr(tj, dtype) and tuple(ours.shape) == expected.shape
    np.testing.assert_allclose(ours.detach().numpy(), expected, **TOL[dtype])


def retraces(caplog) -> int:
    return sum(r.name == "tracejit.recompiles" for r in caplog.records)


def perturbed(theirs: torch.nn.Module, seed: int = 1) -> dict[str, torch.Tensor]:
    """theirs' state with every floating-point entry nudged by a random amount."""
    gen = torch.Generator().manual_seed(seed)
    return {k: v + 0.05 * torch.randn(v.shape, generator=gen, dtype=v.dtype)
            if v.is_floating_point() else v for k, v in theirs.state_dict().items()}


@pytest.mark.parametrize("backend", ["eager", "llvm"])
@pytest.mark.parametrize("freeze", [False, True], ids=["inputs", "frozen"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("model", list(MODELS))
def test_traced_twins(model, dtype, freeze, backend, caplog):
    caplog.set_level(logging.INFO, logger="tracejit.recompiles")
    make, shape, other_shape = MODELS[model]
    ours, theirs = twins(make, dtype)
    x = sample(*shape, dtype=dtype)
    traced = tj.trace(ours, tj.tensor(x), freeze=freeze, backend=backend)
    graph = traced.graph
    n_state = len(ours.state_dict())
    assert len(graph.inputs) == 1 + (0 if freeze else n_state)
    consts = [op.attrs["value"] for op in graph.walk() if op.op is Op.CONSTANT]
    assert sum(isinstance(c, ConstRef) for c in consts) == (n_state if freeze else 0)

    out = traced(tj.tensor(x))
    assert_bits(out, ours(tj.tensor(x)), backend)
    assert_torch_close(out, theirs, x, dtype)

    x2 = sample(*other_shape, dtype=dtype, seed=1)  # another batch size: a second trace
    out2 = traced(tj.tensor(x2))
    assert_bits(out2, ours(tj.tensor(x2)), backend)
    assert_torch_close(out2, theirs, x2, dtype)
    assert len(traced.graphs) == 2 and retraces(caplog) == 1

    state = perturbed(theirs)  # new weights, loaded in place
    theirs.load_state_dict(state)
    ours.load_state_dict({k: v.detach().numpy() for k, v in state.items()})
    updated = traced(tj.tensor(x))
    if freeze:
        assert_bits(updated, out, backend)  # baked in: the old weights still answer
    else:
        assert_bits(updated, ours(tj.tensor(x)), backend)
        assert_torch_close(updated, theirs, x, dtype)
        assert not np.array_equal(updated.detach().numpy(), out.detach().numpy())
    assert len(traced.graphs) == 2 and retraces(caplog) == 1
