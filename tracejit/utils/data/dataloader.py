"""DataLoader and the collate functions that turn lists of samples into batches."""

from __future__ import annotations

import collections.abc
import re
from typing import Any

import numpy as np

from tracejit.utils.data.dataset import IterableDataset
from tracejit.utils.data.sampler import BatchSampler, RandomSampler, SequentialSampler

_STRINGLIKE = re.compile(r"[SaUO]")


def _tensor_types():
    from tracejit.tensor import Tensor

    return Tensor


def default_collate(batch) -> Any:
    """Stack a list of samples into a batch, like torch's: tensors, numpy arrays and numbers
    stack into tensors; dicts, tuples, lists and namedtuples are collated field by field;
    strings stay lists."""
    import tracejit

    elem = batch[0]
    if isinstance(elem, _tensor_types()):
        return tracejit.stack(list(batch), 0)
    if isinstance(elem, (np.ndarray, np.generic)) and not _STRINGLIKE.search(elem.dtype.str):
        if isinstance(elem, np.ndarray) and elem.ndim:
            return default_collate([tracejit.as_tensor(b) for b in batch])
        return tracejit.as_tensor(np.asarray(batch))
    if isinstance(elem, float):
        return tracejit.tensor(batch, dtype=tracejit.float64)
    if isinstance(elem, int):  # bool too: tensor() gives bool for bools, int64 for ints
        return tracejit.tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        fields = {key: default_collate([d[key] for d in batch]) for key in elem}
        return _same_type(elem, fields)
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(e) != len(elem) for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        collated = [default_collate(list(s)) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return collated  # torch returns a list for tuples too
        return _same_type(elem, collated)
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, "
                    f"dicts or lists; found {type(elem)}")


def _same_type(elem, collated):
    try:
        return type(elem)(collated)
    except TypeError:  # a container type that cannot be built from its items
        return dict(collated) if isinstance(collated, dict) else list(collated)


def default_convert(data) -> Any:
    """Turn numpy arrays (also inside dicts, tuples and lists) into tensors; the collate
    function when batch_size is None."""
    import tracejit

    if isinstance(data, np.ndarray) and not _STRINGLIKE.search(data.dtype.str):
        return tracejit.as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return _same_type(data, {k: default_convert(v) for k, v in data.items()})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _same_type(data, [default_convert(d) for d in data])
    return data


def get_worker_info() -> None:
    """None: data loading runs in the main process."""
    return None


class DataLoader:
    """Iterate a dataset in batches: sampling (sequential, shuffled or any sampler), batching
    and collating, in the calling process (`num_workers` is accepted and ignored)."""

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler=None, batch_sampler=None, num_workers: int = 0, collate_fn=None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 "
                             "to disable multiprocessing.")
        self.dataset = dataset
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.generator = generator
        self.drop_last = drop_last
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            _check_iterable_options(shuffle, sampler, batch_sampler)
        elif batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle \
                else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        auto = batch_sampler is not None or (self._iterable and batch_size is not None)
        self.collate_fn = collate_fn or (default_collate if auto else default_convert)

    def __iter__(self):
        if self._iterable:
            return self._iter_stream()
        if self.batch_sampler is not None:
            return (self.collate_fn(self._fetch(indices)) for indices in self.batch_sampler)
        return (self.collate_fn(self.dataset[i]) for i in self.sampler)

    def _fetch(self, indices):
        getitems = getattr(self.dataset, "__getitems__", None)
        return getitems(indices) if getitems else [self.dataset[i] for i in indices]

    def _iter_stream(self):
        if self.batch_size is None:
            yield from (self.collate_fn(sample) for sample in self.dataset)
            return
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)


def _check_iterable_options(shuffle, sampler, batch_sampler) -> None:
    for name, value in (("shuffle", shuffle), ("sampler", sampler),
                        ("batch_sampler", batch_sampler)):
        if value not in (None, False):
            raise ValueError(f"DataLoader with IterableDataset: expected unspecified {name} "
                             f"option, but got {name}={value}")
