"""tracejit.utils.data against torch.utils.data (the oracle): the same batch structure, shapes,
dtypes and values without shuffling; the same elements overall with it (the order comes from
numpy's generator, so it differs from torch's)."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import torch
import torch.utils.data as TD

import tracejit as tj
import tracejit.utils.data as D


def same(got, want) -> None:
    """Same nested structure; tensors with the same dtype, shape and values."""
    if isinstance(want, torch.Tensor):
        assert isinstance(got, tj.Tensor), type(got)
        assert got.dtype.value == str(want.dtype).removeprefix("torch.")
        assert tuple(got.shape) == tuple(want.shape)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    elif isinstance(want, dict):
        assert type(got) is type(want) and got.keys() == want.keys()
        for k in want:
            same(got[k], want[k])
    elif isinstance(want, (tuple, list)):
        assert type(got) is type(want) and len(got) == len(want), (type(got), type(want))
        for g, w in zip(got, want):
            same(g, w)
    else:
        assert got == want


def tensors(n=10):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64)
    return (tj.tensor(x), tj.tensor(y)), (torch.tensor(x), torch.tensor(y))


Point = collections.namedtuple("Point", ["x", "label"])


class Samples:
    """A map-style dataset of mixed samples, written once and run by both libraries."""

    def __init__(self, lib, n=7):
        self.lib, self.n = lib, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        image = self.lib.full((2, 2), float(i))
        return {"image": image, "label": i, "weight": i / 2, "name": f"s{i}",
                "array": np.full(3, i, np.int32), "pair": (i, self.lib.tensor([i, -i])),
                "point": Point(np.float32(i), [i, i + 1]), "flag": i % 2 == 0}


@pytest.mark.parametrize(("batch_size", "drop_last"), [(1, False), (3, False), (3, True),
                                                         (10, False), (4, True)])
def test_tensor_dataset_batches_like_torch(batch_size, drop_last):
    ours, theirs = tensors()
    got = list(D.DataLoader(D.TensorDataset(*ours), batch_size=batch_size, drop_last=drop_last))
    want = list(TD.DataLoader(TD.TensorDataset(*theirs), batch_size=batch_size,
                              drop_last=drop_last))
    same(got, want)
    assert len(D.DataLoader(D.TensorDataset(*ours), batch_size=batch_size,
                            drop_last=drop_last)) == len(want)


def test_default_collate_of_mixed_samples_matches_torch():
    got = list(D.DataLoader(Samples(tj), batch_size=3, num_workers=2))
    want = list(TD.DataLoader(Samples(torch), batch_size=3))
    same(got, want)


def test_default_collate_and_convert_directly():
    for batch in ([1.5, 2.5], [1, 2], [True, False], [np.float32(1), np.float32(2)],
                  [np.zeros((2, 3), np.float64)] * 2, [(1, 2.0), (3, 4.0)], ["a", "b"]):
        same(D.default_collate(batch), TD.default_collate(batch))
    same(D.default_convert((np.ones(2), {"a": np.zeros(1)})),
         TD.default_convert((np.ones(2), {"a": np.zeros(1)})))
    with pytest.raises(RuntimeError, match="equal size"):
        D.default_collate([[1, 2], [3]])


def test_shuffle_visits_every_element_once_and_is_seeded():
    ours, theirs = tensors(23)
    dataset = D.TensorDataset(*ours)
    tj.manual_seed(3)
    first = [b[1] for b in D.DataLoader(dataset, batch_size=5, shuffle=True)]
    want = [b[1] for b in TD.DataLoader(TD.TensorDataset(*theirs), batch_size=5, shuffle=True)]
    assert [tuple(b.shape) for b in first] == [tuple(b.shape) for b in want]
    assert sorted(tj.cat(first).tolist()) == sorted(torch.cat(want).tolist())
    assert tj.cat(first).tolist() != list(range(23))
    tj.manual_seed(3)
    again = [b[1] for b in D.DataLoader(dataset, batch_size=5, shuffle=True)]
    assert tj.cat(again).tolist() == tj.cat(first).tolist()
    g = tj.Generator().manual_seed(1)
    one = tj.cat([b[1] for b in D.DataLoader(dataset, batch_size=5, shuffle=True, generator=g)])
    g.manual_seed(1)
    two = tj.cat([b[1] for b in D.DataLoader(dataset, batch_size=5, shuffle=True, generator=g)])
    assert one.tolist() == two.tolist()


def test_samplers_like_torch():
    data = list(range(10))
    assert list(D.SequentialSampler(data)) == list(TD.SequentialSampler(data))
    assert sorted(D.RandomSampler(data)) == sorted(TD.RandomSampler(data))
    assert len(list(D.RandomSampler(data, num_samples=25))) == 25
    assert sorted(D.RandomSampler(data, num_samples=25))[:3] == [0, 0, 0]
    assert set(D.RandomSampler(data, replacement=True, num_samples=50)) <= set(data)
    assert sorted(D.SubsetRandomSampler([2, 5, 7])) == [2, 5, 7]
    for drop_last in (False, True):
        ours = D.BatchSampler(D.SequentialSampler(data), 4, drop_last)
        theirs = TD.BatchSampler(TD.SequentialSampler(data), 4, drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
    weighted = list(D.WeightedRandomSampler([0, 0, 1, 0], 8))
    assert weighted == [2] * 8
    with pytest.raises(ValueError):
        D.BatchSampler(data, 0, False)


def test_sampler_and_batch_sampler_options_like_torch():
    ours, theirs = tensors()
    got = list(D.DataLoader(D.TensorDataset(*ours), sampler=[9, 0, 4], batch_size=2))
    want = list(TD.DataLoader(TD.TensorDataset(*theirs), sampler=[9, 0, 4], batch_size=2))
    same(got, want)
    batches = [[1, 2], [0], [7, 8, 9]]
    got = list(D.DataLoader(D.TensorDataset(*ours), batch_sampler=batches))
    want = list(TD.DataLoader(TD.TensorDataset(*theirs), batch_sampler=batches))
    same(got, want)
    same(list(D.DataLoader(D.TensorDataset(*ours), batch_size=None))[:2],
         list(TD.DataLoader(TD.TensorDataset(*theirs), batch_size=None))[:2])
    got = list(D.DataLoader(D.TensorDataset(*ours), batch_size=4, collate_fn=lambda b: len(b)))
    assert got == [4, 4, 2]
    for kwargs in ({"batch_sampler": batches, "batch_size": 2}, {"sampler": [0], "shuffle": True},
                   {"batch_size": None, "drop_last": True}):
        with pytest.raises(ValueError):
            TD.DataLoader(TD.TensorDataset(*theirs), **kwargs)
        with pytest.raises(ValueError):
            D.DataLoader(D.TensorDataset(*ours), **kwargs)


def test_iterable_dataset_like_torch():
    def stream(lib):
        class Stream(lib.IterableDataset):
            def __iter__(self):
                return iter(range(7))

            def __len__(self):
                return 7
        return Stream()

    for batch_size, drop_last in ((3, False), (3, True), (None, False)):
        got = list(D.DataLoader(stream(D), batch_size=batch_size, drop_last=drop_last))
        want = list(TD.DataLoader(stream(TD), batch_size=batch_size, drop_last=drop_last))
        same(got, want)
        assert len(D.DataLoader(stream(D), batch_size=batch_size, drop_last=drop_last)) == \
            len(TD.DataLoader(stream(TD), batch_size=batch_size, drop_last=drop_last))
    with pytest.raises(ValueError, match="shuffle"):
        D.DataLoader(stream(D), shuffle=True)
    assert list(stream(D) + stream(D)) == list(range(7)) * 2


def test_subset_concat_and_random_split_like_torch():
    ours, theirs = tensors()
    a, ta = D.TensorDataset(*ours), TD.TensorDataset(*theirs)
    same(D.Subset(a, [3, 1])[1], TD.Subset(ta, [3, 1])[1])
    both, tboth = D.ConcatDataset([a, D.Subset(a, [0, 1])]), TD.ConcatDataset(
        [ta, TD.Subset(ta, [0, 1])])
    assert len(both) == len(tboth) == 12
    for i in (0, 9, 10, 11, -1, -12):
        same(both[i], tboth[i])
    assert len(a + a) == 20
    for lengths in ([3, 7], [0.5, 0.3, 0.2], [0.34, 0.33, 0.33]):
        parts = D.random_split(a, lengths, generator=tj.Generator().manual_seed(0))
        want = TD.random_split(ta, lengths)
        assert [len(p) for p in parts] == [len(p) for p in want]
        seen = sorted(i for p in parts for i in p.indices)
        assert seen == list(range(10))
    with pytest.raises(ValueError, match="Sum of input lengths"):
        D.random_split(a, [3, 3])
    with pytest.raises(AssertionError, match="Size mismatch"):
        D.TensorDataset(tj.ones(3), tj.ones(4))


def test_stack_dataset_like_torch():
    ours, theirs = tensors(4)
    same(D.StackDataset(*ours)[2], TD.StackDataset(*theirs)[2])
    same(D.StackDataset(x=ours[0], y=ours[1])[1], TD.StackDataset(x=theirs[0], y=theirs[1])[1])
    assert len(D.StackDataset(*ours)) == len(TD.StackDataset(*theirs)) == 4
    same(list(D.DataLoader(D.StackDataset(x=ours[0], y=ours[1]), batch_size=3)),
         list(TD.DataLoader(TD.StackDataset(x=theirs[0], y=theirs[1]), batch_size=3)))
    with pytest.raises(ValueError, match="Size mismatch"):
        D.StackDataset(ours[0], ours[1][:2])
