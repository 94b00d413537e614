"""A graph file of a train-mode BatchNorm updates its own running statistics when called, as
the traced module does, compared with torch's BatchNorm2d; two loads do not share state."""

import numpy as np
import pytest
import torch

import tracejit as tj

RNG = np.random.default_rng(0)
BATCHES = [RNG.standard_normal((4, 3, 5, 5)).astype(np.float32) * s + s for s in (1.0, 2.0)]


def _saved_bn(tmp_path):
    model = tj.nn.BatchNorm2d(3).train()
    path = tmp_path / "bn.pt"
    tj.save(tj.trace(model, tj.tensor(BATCHES[0])), path)
    return path


def _state(loaded) -> dict:
    return {n: t.numpy() for n, t in zip(loaded.manifest["state"], loaded.state)}


@pytest.mark.parametrize("backend", ["llvm", "eager"])
def test_loaded_train_batchnorm_updates_running_stats_like_torch(tmp_path, backend):
    loaded = tj.load(_saved_bn(tmp_path), backend=backend)
    oracle = torch.nn.BatchNorm2d(3).train()
    for x in BATCHES:
        got = loaded(tj.tensor(x)).numpy()
        want = oracle(torch.tensor(x)).detach().numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    state = _state(loaded)
    names = {n.rsplit(".", 1)[-1]: n for n in state}
    np.testing.assert_allclose(state[names["running_mean"]], oracle.running_mean.numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state[names["running_var"]], oracle.running_var.numpy(),
                               rtol=1e-5, atol=1e-6)
    assert int(state[names["num_batches_tracked"]]) == int(oracle.num_batches_tracked) == 2


def test_two_loads_of_one_file_keep_their_own_state(tmp_path):
    path = _saved_bn(tmp_path)
    first, second = tj.load(path), tj.load(path)
    first(tj.tensor(BATCHES[1]))
    moved = _state(first)
    untouched = _state(second)
    mean = next(n for n in moved if n.endswith("running_mean"))
    assert np.abs(moved[mean]).max() > 0.1
    np.testing.assert_array_equal(untouched[mean], torch.nn.BatchNorm2d(3).running_mean.numpy())
    again = _state(tj.load(path))  # the file itself is unchanged
    np.testing.assert_array_equal(again[mean], untouched[mean])
