"""The MLP, LeNet and transformer-block twins scripted instead of traced: equal to eager
execution of the same tracejit module (bit for bit through the interpreter, within float
rounding compiled) and to their PyTorch twins within test_nn_twins' tolerances."""

from __future__ import annotations

import numpy as np
import pytest
from test_nn_twins import sample, twins
from test_trace_twins import MODELS, assert_bits, assert_torch_close

import tracejit as tj


@pytest.mark.parametrize("backend", ["eager", "llvm"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("model", list(MODELS))
def test_scripted_twins(model, dtype, backend):
    make, shape, other_shape = MODELS[model]
    ours, theirs = twins(make, dtype)
    scripted = tj.script(ours, backend=backend)
    for s in (shape, other_shape):
        x = sample(*s, dtype=dtype)
        out = scripted(tj.tensor(x))
        assert_bits(out, ours(tj.tensor(x)), backend)
        assert_torch_close(out, theirs, x, dtype)
    assert len(scripted.graphs) == 2
    assert scripted.graph.inputs[0].type.shape == other_shape
    np.testing.assert_equal(len(scripted.graph.inputs), 1 + len(ours.state_dict()))
