"""torch.nn's recurrent layers: RNN, LSTM, GRU and their cells, with torch's parameters.

Parameter names, shapes, order and initialisation are torch's (`weight_ih_l0`,
`bias_hh_l1_reverse`, `weight_hr_l0` with proj_size), so a torch twin's state_dict loads.
A forward is a Python loop over time steps built from dispatched ops: the input projection of
all steps is one matmul, then each step adds the hidden projection. Tracing unrolls the loop.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

from tracejit.creation import empty, zeros
from tracejit.functions import cat, stack
from tracejit.ir import DType
from tracejit.nn import functional as F
from tracejit.nn import init
from tracejit.nn.module import Module, Parameter
from tracejit.nn.utils.rnn import PackedSequence
from tracejit.tensor import Tensor, check_device

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNBase", "RNNCell", "RNNCellBase"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


# --- one step of each cell (batched: x (B, gates*H) pre-projected, h (B, H)) -------------------

def _rnn_step(activation):
    def step(gi: Tensor, state, w_hh, b_hh, w_hr=None):
        return activation(gi + F.linear(state, w_hh, b_hh))
    return step


def _lstm_step(gi: Tensor, state, w_hh, b_hh, w_hr=None):
    h, c = state
    i, f, g, o = (gi + F.linear(h, w_hh, b_hh)).chunk(4, 1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    h = o.sigmoid() * c.tanh()
    return (h if w_hr is None else F.linear(h, w_hr)), c


def _gru_step(gi: Tensor, h, w_hh, b_hh, w_hr=None):
    i_r, i_z, i_n = gi.chunk(3, 1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, 1)
    r, z = (i_r + h_r).sigmoid(), (i_z + h_z).sigmoid()
    n = (i_n + r * h_n).tanh()
    return (1 - z) * n + z * h


_STEPS = {"LSTM": _lstm_step, "GRU": _gru_step, "RNN_TANH": _rnn_step(Tensor.tanh),
          "RNN_RELU": _rnn_step(Tensor.relu)}


# --- state as a tensor or an (h, c) pair --------------------------------------------------------

def _map(fn, state):
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


def _zip_cat(states, dim: int):
    if isinstance(states[0], tuple):
        return tuple(cat([s[k] for s in states], dim) for k in range(len(states[0])))
    return cat(states, dim)


def _output(state):
    return state[0] if isinstance(state, tuple) else state


def _check_rnn_args(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                    proj_size) -> None:
    if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
            or not 0 <= dropout <= 1):
        raise ValueError("dropout should be a number in range [0, 1] representing the "
                         "probability of an element being zeroed")
    if dropout > 0 and num_layers == 1:
        warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                      "non-zero dropout expects num_layers greater than 1, but got "
                      f"dropout={dropout} and num_layers={num_layers}", stacklevel=4)
    for name, value in (("bias", bias), ("batch_first", batch_first)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} should be of type bool, got: {type(value).__name__}")
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(value, int):
            raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
        if value <= 0:
            raise ValueError(f"{name} must be greater than zero")
    if num_layers <= 0:
        raise ValueError("num_layers must be greater than zero")
    if proj_size < 0:
        raise ValueError("proj_size should be a positive integer or zero to disable projections")
    if proj_size >= hidden_size:
        raise ValueError("proj_size has to be smaller than hidden_size")


class RNNBase(Module):
    """The multi-layer, optionally bidirectional recurrent layer behind RNN, LSTM and GRU."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype: DType | None = None):
        super().__init__()
        check_device(device)
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        _check_rnn_args(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                        proj_size)
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional = float(dropout), bidirectional
        self.proj_size = proj_size
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        gate_size, real_hidden = _GATES[mode] * hidden_size, proj_size or hidden_size
        directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            for direction in range(directions):
                layer_input = input_size if layer == 0 else real_hidden * directions
                shapes = [("weight_ih", (gate_size, layer_input)),
                          ("weight_hh", (gate_size, real_hidden))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size > 0:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                names = [name + suffix for name, _ in shapes]
                for name, (_, shape) in zip(names, shapes):
                    setattr(self, name, Parameter(empty(*shape, dtype=dtype)))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """A no-op: weights are never packed into one cuDNN buffer here."""

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # --- forward ------------------------------------------------------------------------------
    def forward(self, input, hx=None) -> tuple[Any, Any]:
        """(output, h_n) or, for LSTM, (output, (h_n, c_n)), with torch's shapes."""
        packed = isinstance(input, PackedSequence)
        if packed:
            input, batch_sizes, sorted_indices, unsorted_indices = input
            sizes = [int(b) for b in batch_sizes.tolist()]
            batch, batched = sizes[0], True
        else:
            batch_sizes = sorted_indices = unsorted_indices = sizes = None
            batched = self._check_input_rank(input)
            if not batched:
                input = input.unsqueeze(1)
            elif self.batch_first:
                input = input.transpose(0, 1)
            batch = input.shape[1]
        self._check_input(input, packed)
        hx = self._initial_state(hx, input, batch, batched)
        if sorted_indices is not None:
            hx = _map(lambda h: h[:, sorted_indices], hx)
        output, hidden = self._run(input, hx, sizes)
        if unsorted_indices is not None:
            hidden = _map(lambda h: h[:, unsorted_indices], hidden)
        if packed:
            output = PackedSequence(output, batch_sizes, sorted_indices, unsorted_indices)
        elif not batched:
            output, hidden = output.squeeze(1), _map(lambda h: h.squeeze(1), hidden)
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, hidden

    def _check_input_rank(self, input: Tensor) -> bool:
        if input.dim() not in (2, 3):
            name = self.mode.split("_")[0]
            tail = " tensor" if name == "RNN" else ""
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D"
                             f"{tail} instead")
        return input.dim() == 3

    def _check_input(self, input: Tensor, packed: bool) -> None:
        expected = 2 if packed else 3
        if input.dim() != expected:
            raise RuntimeError(f"input must have {expected} dimensions, got {input.dim()}")
        if input.shape[-1] != self.input_size:
            raise RuntimeError("input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {input.shape[-1]}")
        if input.dtype != self._flat_weights[0].dtype:
            weight = self._flat_weights[0].dtype
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype "
                             f"({weight}). Convert input: input.to({weight}), or convert "
                             f"model: model.to({input.dtype})")

    def _state_shapes(self, batch: int) -> list[tuple[int, int, int]]:
        layers = self.num_layers * (2 if self.bidirectional else 1)
        shapes = [(layers, batch, self.proj_size or self.hidden_size)]
        return shapes + ([(layers, batch, self.hidden_size)] if self.mode == "LSTM" else [])

    def _initial_state(self, hx, input: Tensor, batch: int, batched: bool):
        shapes = self._state_shapes(batch)
        if hx is None:
            states = [zeros(*shape, dtype=input.dtype) for shape in shapes]
            return tuple(states) if self.mode == "LSTM" else states[0]
        states = list(hx) if self.mode == "LSTM" else [hx]
        self._check_state_rank(states, batched)
        if not batched:
            states = [h.unsqueeze(1) for h in states]
        for k, (state, shape) in enumerate(zip(states, shapes)):
            if tuple(state.shape) != shape:
                what = f"hidden[{k}] size" if self.mode == "LSTM" else "hidden size"
                raise RuntimeError(f"Expected {what} {shape}, got {list(state.shape)}")
        return tuple(states) if self.mode == "LSTM" else states[0]

    def _check_state_rank(self, states: list, batched: bool) -> None:
        rank, kind = (3, "batched 3-D") if batched else (2, "unbatched 2-D")
        if all(h.dim() == rank for h in states):
            return
        if self.mode == "LSTM":
            dims = ", ".join(f"{h.dim()}-D" for h in states)
            raise RuntimeError(f"For {kind} input, hx and cx should also be {rank}-D but got "
                               f"({dims}) tensors")
        raise RuntimeError(f"For {kind} input, hx should also be {rank}-D but got "
                           f"{states[0].dim()}-D tensor")

    def _run(self, input: Tensor, hx, sizes):
        """All layers over time-major `input` (or packed rows when `sizes` is given)."""
        directions = 2 if self.bidirectional else 1
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                k = layer * directions + direction
                state = _map(lambda h, k=k: h[k], hx)
                weights = self.all_weights[k]
                out, state = self._run_direction(input, state, weights, direction == 1, sizes)
                outputs.append(out)
                finals.append(state)
            input = outputs[0] if directions == 1 else cat(outputs, -1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                input = F.dropout(input, self.dropout, training=True)
        if isinstance(finals[0], tuple):
            return input, tuple(stack([s[i] for s in finals], 0) for i in range(2))
        return input, stack(finals, 0)

    def _run_direction(self, input: Tensor, state, weights: list, reverse: bool, sizes):
        w_ih, w_hh = weights[0], weights[1]
        b_ih, b_hh = (weights[2], weights[3]) if self.bias else (None, None)
        w_hr = weights[-1] if self.proj_size > 0 else None
        projected = F.linear(input, w_ih, b_ih)
        step = _STEPS[self.mode]
        if sizes is None:
            order = range(input.shape[0] - 1, -1, -1) if reverse else range(input.shape[0])
            outs = {}
            for t in order:
                state = step(projected[t], state, w_hh, b_hh, w_hr)
                outs[t] = _output(state)
            return stack([outs[t] for t in sorted(outs)], 0), state
        return _run_packed(step, projected, state, (w_hh, b_hh, w_hr), sizes, reverse)


def _run_packed(step, projected: Tensor, state, weights, sizes: list[int], reverse: bool):
    """One direction over packed rows: step t runs the first sizes[t] sequences."""
    offsets = [sum(sizes[:t]) for t in range(len(sizes))]
    outs = {}
    if not reverse:
        for t, b in enumerate(sizes):
            active = _map(lambda h, b=b: h[:b], state)
            new = step(projected[offsets[t]:offsets[t] + b], active, *weights)
            outs[t] = _output(new)
            state = _zip_cat([new, _map(lambda h, b=b: h[b:], state)], 0) \
                if b < sizes[0] else new
    else:
        initial, current = state, 0
        for t in range(len(sizes) - 1, -1, -1):
            b = sizes[t]
            if b > current:  # sequences whose last step is t join with their initial state
                joining = _map(lambda h, lo=current, hi=b: h[lo:hi], initial)
                state = joining if current == 0 else _zip_cat([state, joining], 0)
                current = b
            state = step(projected[offsets[t]:offsets[t] + b], state, *weights)
            outs[t] = _output(state)
    return cat([outs[t] for t in range(len(sizes))], 0), state


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None,
                 dtype: DType | None = None, proj_size: int = 0):
        if proj_size:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                             "'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__(f"RNN_{nonlinearity.upper()}", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, 0, device, dtype)


class LSTM(RNNBase):
    """Long short-term memory, gates (i, f, g, o); `proj_size` > 0 projects h to that size."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype: DType | None = None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit, gates (r, z, n) as in torch."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype: DType | None = None,
                 proj_size: int = 0):
        if proj_size:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, 0, device, dtype)


# --- cells -----------------------------------------------------------------------------------

class RNNCellBase(Module):
    """One step of a recurrent layer: weight_ih, weight_hh, bias_ih, bias_hh."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device=None, dtype: DType | None = None):
        super().__init__()
        check_device(device)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        rows = num_chunks * hidden_size
        self.weight_ih = Parameter(empty(rows, input_size, dtype=dtype))
        self.weight_hh = Parameter(empty(rows, hidden_size, dtype=dtype))
        for name in ("bias_ih", "bias_hh"):
            self.register_parameter(name, Parameter(empty(rows, dtype=dtype)) if bias else None)
        self.reset_parameters()

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _batched(self, input: Tensor, states: list, names: list[str]) -> bool:
        cell = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(f"{cell}: Expected input to be 1D or 2D, got {input.dim()}D "
                             "instead")
        for state, name in zip(states, names):
            if state is not None and state.dim() not in (1, 2):
                raise ValueError(f"{cell}: Expected {name} to be 1D or 2D, got {state.dim()}D "
                                 "instead")
        return input.dim() == 2

    def _cell(self, mode: str, input: Tensor, states: list):
        batched = self._batched(input, states, self._state_names)
        if not batched:
            input = input.unsqueeze(0)
        batch = input.shape[0]
        states = [zeros(batch, self.hidden_size, dtype=input.dtype) if s is None
                  else (s if batched else s.unsqueeze(0)) for s in states]
        gi = F.linear(input, self.weight_ih, self.bias_ih)
        state = tuple(states) if mode == "LSTM" else states[0]
        new = _STEPS[mode](gi, state, self.weight_hh, self.bias_hh)
        return new if batched else _map(lambda h: h.squeeze(0), new)


class RNNCell(RNNCellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu)."""

    _state_names = ["hidden"]

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype: DType | None = None):
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        return self._cell(f"RNN_{self.nonlinearity.upper()}", input, [hx])


class LSTMCell(RNNCellBase):
    """One LSTM step: returns (h', c')."""

    _state_names = ["hx[0]", "hx[1]"]

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype: DType | None = None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx=None) -> tuple[Any, Any]:
        return self._cell("LSTM", input, [None, None] if hx is None else list(hx))


class GRUCell(RNNCellBase):
    """One GRU step: returns h'."""

    _state_names = ["hidden"]

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype: DType | None = None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._cell("GRU", input, [hx])
