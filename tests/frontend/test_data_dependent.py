"""Data-dependent (`?`) sizes under trace: slices, integer indices and reshapes of a tensor
after nonzero or a boolean mask are sized on each call (never the example's length), compared
with torch on inputs whose selected counts differ (0 included); what would bake the example's
size is refused with a TraceError."""

import numpy as np
import pytest
import torch

import tracejit as tj

EXAMPLE = np.array([[1.0, -1.0, 2.0], [0.0, 3.0, -4.0]], np.float32)  # 3 positive entries
OTHERS = [
    np.ones((2, 3), np.float32),  # 6
    -np.ones((2, 3), np.float32),  # 0
    np.array([[5.0, -1.0, -1.0], [-1.0, -1.0, -1.0]], np.float32),  # 1
    np.array([[1.0, 2.0, -1.0], [3.0, -1.0, 4.0]], np.float32),  # 4
    np.zeros((2, 3), np.float32),  # 0, for nonzero() too
]

CASES = {
    "nonzero_column": lambda x: x.nonzero()[:, 1],
    "nonzero_function": lambda x: torch_or_tj(x).nonzero(x > 0)[..., 0],
    "mask_from_1": lambda x: x[x > 0][1:],
    "mask_step_2": lambda x: x[x > 0][::2],
    "mask_drop_last": lambda x: x[x > 0][:-1],
    "mask_first_2": lambda x: x[x > 0][:2],
    "mask_last_2": lambda x: x[x > 0][-2:],
    "nonzero_row_0": lambda x: x.nonzero()[0],
    "nonzero_row_-1": lambda x: x.nonzero()[-1],
    "nonzero_rows_cols": lambda x: x.nonzero()[1:, :1],
    "reshape_-1": lambda x: x[x > 0].reshape(-1, 1),
    "view_-1": lambda x: x[x > 0].view(-1),
    "flatten": lambda x: x.nonzero().flatten(),
    "reshape_-1_2_1": lambda x: x.nonzero().reshape(-1, 2, 1)[:, 1],
    "view_1_-1_1_2": lambda x: x.nonzero().view(1, -1, 1, 2).flatten(1),
    "transpose_row": lambda x: x.nonzero().T[1],
    "unsqueeze": lambda x: x[x > 0].unsqueeze(0),
    "squeeze": lambda x: x[x > 0].unsqueeze(-1).squeeze(-1) * 2,
    "expand": lambda x: x[x > 0].unsqueeze(1).expand(-1, 4),
    "repeat": lambda x: x[x > 0].repeat(2),
    "sum": lambda x: x[x > 0].sum(),
}


def torch_or_tj(x):
    return torch if isinstance(x, torch.Tensor) else tj


def _torch(fn, data):
    try:
        return fn(torch.tensor(data)).detach().numpy()
    except IndexError:
        return IndexError


@pytest.mark.parametrize("backend", ["llvm", "eager"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_traced_sizes_follow_the_data(name, backend):
    fn = CASES[name]
    traced = tj.trace(fn, tj.tensor(EXAMPLE), backend=backend)
    for data in [EXAMPLE, *OTHERS]:
        want = _torch(fn, data)
        if want is IndexError:  # nonzero()[0] with nothing selected: torch's IndexError
            with pytest.raises(IndexError, match="out of bounds"):
                traced(tj.tensor(data))
            continue
        got = traced(tj.tensor(data)).detach().numpy()
        assert got.shape == want.shape, (name, data)
        np.testing.assert_array_equal(got, want)


def test_saved_and_loaded_graph_sizes_follow_the_data(tmp_path):
    def fn(x):
        kept = x[x > 0]
        return (kept[1:] * 2, x.nonzero()[:, 1], kept.reshape(-1, 1),
                kept.unsqueeze(1).expand(-1, 2), x.nonzero()[-1])

    path = tmp_path / "dd.pt"
    tj.save(tj.trace(fn, tj.tensor(EXAMPLE)), path)
    for backend in ("llvm", "eager"):
        loaded = tj.load(path, backend=backend)
        for data in OTHERS[:4]:
            for got, want in zip(loaded(tj.tensor(data)), fn(torch.tensor(data))):
                assert tuple(got.shape) == tuple(want.shape)
                np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
        with pytest.raises(IndexError, match="out of bounds"):  # nonzero()[-1] of nothing
            loaded(tj.tensor(np.zeros((2, 3), np.float32)))


def test_recorded_slice_is_open():
    traced = tj.trace(lambda x: x.nonzero()[:, 1], tj.tensor(EXAMPLE))
    text = str(traced.graph)
    assert "stops = [3" not in text and "int64[3]" not in text, text


def test_a_reshape_to_fixed_sizes_of_a_data_dependent_dim_is_guarded():
    """reshape(2, 5) of nonzero's rows: no one dim can take the `?` size, so the trace keeps
    the example's sizes behind a guard; another count captures again and raises torch's error
    where the reshape does not fit (it was refused at trace time)."""
    fn = lambda T, x: T.nonzero(x).reshape(2, 5)  # noqa: E731
    traced = tj.trace(lambda x: fn(tj, x), tj.tensor(EXAMPLE))
    for data in (EXAMPLE, *OTHERS):
        try:
            want = fn(torch, torch.tensor(data))
        except RuntimeError:
            with pytest.raises(RuntimeError, match="invalid for input of size"):
                traced(tj.tensor(data))
            continue
        np.testing.assert_array_equal(traced(tj.tensor(data)).detach().numpy(),
                                      want.detach().numpy())


def test_expanding_a_data_dependent_dim_of_size_1_follows_the_data():
    """A `?` dim expanded to 4 is 4 on every call where it is 1 or 4; torch raises otherwise
    (FINDINGS.md F14: the example's size is never kept)."""
    traced = tj.trace(lambda x: x[x > 0].expand(4), tj.tensor(OTHERS[2]))
    for data in (OTHERS[2], EXAMPLE, np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)):
        try:
            want = torch.tensor(data)[torch.tensor(data) > 0].expand(4)
        except RuntimeError:
            with pytest.raises(RuntimeError, match="expanded size"):
                traced(tj.tensor(data))
            continue
        np.testing.assert_array_equal(traced(tj.tensor(data)).detach().numpy(),
                                      want.detach().numpy())


@pytest.mark.parametrize("backend", ["llvm", "eager"])
@pytest.mark.parametrize("name", ["narrow", "topk"])
def test_fixed_lengths_of_a_data_dependent_dim_are_checked_each_call(name, backend):
    """narrow(0, 1, 2) and topk(2) keep their length; with too few rows torch raises, and so
    does the traced graph (never a shorter or padded result)."""
    def fn(x):
        kept = x[x > 0]
        return kept.narrow(0, 1, 2) if name == "narrow" else kept.topk(2).values

    traced = tj.trace(fn, tj.tensor(EXAMPLE), backend=backend)
    for data in OTHERS:
        try:
            want = fn(torch.tensor(data)).detach().numpy()
        except (IndexError, RuntimeError):
            with pytest.raises((IndexError, RuntimeError)):
                traced(tj.tensor(data))
            continue
        np.testing.assert_array_equal(traced(tj.tensor(data)).detach().numpy(), want)


def test_writes_through_an_open_slice_reach_the_base():
    def fn(x):
        kept = x[x > 0] * 1
        kept[1:] = 0.0
        kept[-1] += 7.0  # with nothing selected: torch's IndexError, on each call
        return kept

    traced = tj.trace(fn, tj.tensor(EXAMPLE))
    for data in OTHERS:
        if _torch(fn, data) is IndexError:
            with pytest.raises(IndexError, match="out of bounds for dimension 0 with size 0"):
                traced(tj.tensor(data))
            continue
        np.testing.assert_array_equal(traced(tj.tensor(data)).detach().numpy(),
                                      fn(torch.tensor(data)).detach().numpy())


def test_writes_through_a_row_or_narrow_of_a_data_dependent_dim_reach_the_base():
    """x[i] and narrow() are views in torch: a write through them changes the base, under
    trace too (the index op copies, so the write is replayed into the base)."""
    def fn(x):
        rows = x.nonzero() * 1
        last = rows[-1]
        last[0] = 9
        first = rows.narrow(0, 0, 1)
        first += 100
        return rows, last, first

    traced = tj.trace(fn, tj.tensor(EXAMPLE))
    for data in [EXAMPLE, *OTHERS]:
        if _torch(lambda x: fn(x)[0], data) is IndexError:
            with pytest.raises(IndexError, match="out of bounds"):
                traced(tj.tensor(data))
            continue
        for got, want in zip(traced(tj.tensor(data)), fn(torch.tensor(data))):
            np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())


def test_constant_pad_of_a_data_dependent_dim_follows_the_data():
    def f(x):
        return tj.nn.functional.pad(x[x > 0], (1, 2), value=7.0)

    traced = tj.trace(f, tj.tensor([1.0, -1.0, 2.0]))
    for data in ([1.0, -1.0, 2.0], [3.0, 4.0, 5.0, -1.0], [-1.0]):
        x = tj.tensor(data)
        want = torch.nn.functional.pad(torch.tensor(data)[torch.tensor(data) > 0], (1, 2),
                                       value=7.0)
        np.testing.assert_array_equal(traced(x).detach().numpy(), want.detach().numpy())


def test_reflect_pad_of_a_data_dependent_dim_is_refused_clearly():
    def f(x):
        return tj.nn.functional.pad(x[x > 0].reshape(1, 1, -1), (1, 1), mode="reflect")

    with pytest.raises(RuntimeError, match="mode='reflect' needs dimension 2's size, which "
                                           "depends on the data"):
        tj.trace(f, tj.tensor([1.0, -1.0, 2.0, 3.0]))
