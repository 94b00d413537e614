"""torch.nn.utils.rnn: PackedSequence, pack/pad helpers for variable-length batches.

A PackedSequence holds the time-major rows of every sequence still running at each step:
`data` is (sum(batch_sizes), *), `batch_sizes[t]` the number of sequences longer than t.
Lengths are Python-side data (as in torch, they live on the CPU), so packing is decided when
the program runs, and a trace bakes the packing of its example in.
"""

from __future__ import annotations

from collections import namedtuple
from itertools import pairwise

import numpy as np

from tracejit.creation import full, tensor
from tracejit.functions import cat, stack
from tracejit.ir import DType
from tracejit.tensor import Tensor

__all__ = ["PackedSequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence",
           "pad_sequence", "unpack_sequence", "unpad_sequence"]


class PackedSequence(namedtuple("PackedSequence",
                                ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """(data, batch_sizes, sorted_indices, unsorted_indices), as torch's; build it with
    pack_padded_sequence or pack_sequence."""

    __slots__ = ()

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs) -> PackedSequence:
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else type(self)(data, *self[1:])

    def float(self) -> PackedSequence:
        return self.to(DType.float32)

    def double(self) -> PackedSequence:
        return self.to(DType.float64)

    @property
    def is_cuda(self) -> bool:
        return False

    def is_pinned(self) -> bool:
        return False


def _lengths_list(lengths) -> list[int]:
    if isinstance(lengths, Tensor) or hasattr(lengths, "__array__"):
        return [int(v) for v in np.asarray(lengths).reshape(-1)]
    return [int(v) for v in lengths]


def _invert_permutation(perm: Tensor) -> Tensor:
    order = np.asarray(perm.numpy())
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    return tensor(inverse, dtype=DType.int64)


def _batch_sizes(lengths: list[int]) -> list[int]:
    return [sum(1 for n in lengths if n > t) for t in range(max(lengths))]


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded (T, B, *) batch (or (B, T, *)) of sequences with the given lengths."""
    values = _lengths_list(lengths)
    if any(n <= 0 for n in values):
        raise RuntimeError("Length of all samples has to be greater than 0, but found an "
                           "element in 'lengths' that is <= 0")
    sorted_indices = None
    if enforce_sorted:
        if any(a < b for a, b in pairwise(values)):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when "
                               "`enforce_sorted` is True. You can pass `enforce_sorted=False` "
                               "to pack_padded_sequence and/or pack_sequence to sidestep this "
                               "requirement if you do not need ONNX exportability.")
    else:
        order = sorted(range(len(values)), key=lambda i: -values[i])
        sorted_indices = tensor(order, dtype=DType.int64)
        values = [values[i] for i in order]
        input = input[sorted_indices] if batch_first else input[:, sorted_indices]
    if batch_first:
        input = input.transpose(0, 1)
    if values[0] > input.shape[0]:
        raise RuntimeError(f"Expected sequence length to be at most {input.shape[0]}, but got "
                           f"a sequence of length {values[0]}")
    sizes = _batch_sizes(values)
    data = cat([input[t, :b] for t, b in enumerate(sizes)], 0)
    return PackedSequence(data, tensor(sizes, dtype=DType.int64), sorted_indices)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """(padded (T, B, *) or (B, T, *), lengths as int64): the inverse of pack_padded_sequence."""
    data, sizes = sequence.data, [int(b) for b in sequence.batch_sizes.tolist()]
    steps, batch = len(sizes), sizes[0]
    if total_length is not None:
        if total_length < steps:
            raise ValueError("Expected total_length to be at least the length of the longest "
                             f"sequence in input, but got total_length={total_length} and max "
                             f"sequence length being {steps}")
        steps = total_length
    rows, offset = [], 0
    for b in sizes + [0] * (steps - len(sizes)):
        part = data[offset:offset + b]
        offset += b
        if b < batch:
            part = cat([part, full((batch - b, *data.shape[1:]), padding_value,
                                   dtype=data.dtype)], 0)
        rows.append(part)
    padded = stack(rows, 0)
    lengths = np.array([sum(1 for b in sizes if b > i) for i in range(batch)], dtype=np.int64)
    if sequence.unsorted_indices is not None:
        padded = padded[:, sequence.unsorted_indices]
        lengths = lengths[np.asarray(sequence.unsorted_indices.numpy())]
    return (padded.transpose(0, 1) if batch_first else padded), tensor(lengths)


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack variable-length (L_i, *) tensors into (max L, B, *) (or (B, max L, *)), padded."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got "
                         f"{padding_side}.")
    if isinstance(sequences, Tensor):
        sequences = sequences.unbind(0) if hasattr(sequences, "unbind") else list(sequences)
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for seq in sequences:
        missing = longest - seq.shape[0]
        if missing:
            fill = full((missing, *seq.shape[1:]), padding_value, dtype=seq.dtype)
            seq = cat([seq, fill] if padding_side == "right" else [fill, seq], 0)
        padded.append(seq)
    return stack(padded, 0 if batch_first else 1)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list:
    """The list of (L_i, *) sequences inside a padded batch."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[i, :n] for i, n in enumerate(_lengths_list(lengths))]


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of (L_i, *) tensors (longest first unless enforce_sorted=False)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The list of sequences inside a PackedSequence, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
