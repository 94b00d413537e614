"""`tracejit.utils.data`: torch.utils.data's datasets, samplers and DataLoader.

Loading runs in the calling process: `num_workers` is accepted and ignored (no worker
processes), and `pin_memory` has nothing to pin. Shuffling draws from `generator=` (a
tracejit.Generator) or from the global generator that `tracejit.manual_seed` seeds, so it is
reproducible, but the orders differ from torch's for the same seed.
"""

from tracejit.utils.data.dataloader import (
    DataLoader,
    default_collate,
    default_convert,
    get_worker_info,
)
from tracejit.utils.data.dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    TensorDataset,
    random_split,
)
from tracejit.utils.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "IterableDataset",
    "RandomSampler", "Sampler", "SequentialSampler", "StackDataset", "Subset",
    "SubsetRandomSampler", "TensorDataset", "WeightedRandomSampler", "default_collate",
    "default_convert", "get_worker_info", "random_split",
]
