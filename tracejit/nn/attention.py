"""torch.nn.MultiheadAttention: same parameters, state_dict keys, masks and outputs.

Masks follow torch: a bool `attn_mask` or `key_padding_mask` marks positions that may NOT be
attended (True = masked); float masks are added to the attention scores.
"""

from __future__ import annotations

import math

from tracejit.creation import empty, zeros
from tracejit.ir import DType
from tracejit.nn import functional as F
from tracejit.nn import init
from tracejit.nn.layers import Linear
from tracejit.nn.module import Module, Parameter
from tracejit.tensor import Tensor, check_device

__all__ = ["MultiheadAttention", "NonDynamicallyQuantizableLinear"]


class NonDynamicallyQuantizableLinear(Linear):
    """MultiheadAttention's output projection; a Linear under torch's name for it."""


class MultiheadAttention(Module):
    """Multi-head attention over (L, N, E) inputs, or (N, L, E) with batch_first=True."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False, device=None, dtype: DType | None = None):
        super().__init__()
        check_device(device)
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim="
                             f"{embed_dim} and num_heads={num_heads} instead")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention(add_bias_kv=True or add_zero_attn="
                                      "True) is not supported yet; leave them False")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.batch_first, self.head_dim = batch_first, embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        self._register_projections(bias, dtype)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias, dtype=dtype)
        self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _register_projections(self, bias: bool, dtype) -> None:
        """in_proj_weight (3E, E), or q/k/v_proj_weight when kdim or vdim differ; in_proj_bias."""
        e, names = self.embed_dim, ("q_proj_weight", "k_proj_weight", "v_proj_weight")
        if self._qkv_same_embed_dim:
            self.register_parameter("in_proj_weight", Parameter(empty(3 * e, e, dtype=dtype)))
            for name in names:
                self.register_parameter(name, None)
        else:
            for name, cols in zip(names, (e, self.kdim, self.vdim)):
                self.register_parameter(name, Parameter(empty(e, cols, dtype=dtype)))
            self.register_parameter("in_proj_weight", None)
        in_bias = Parameter(empty(3 * e, dtype=dtype)) if bias else None
        self.register_parameter("in_proj_bias", in_bias)

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for weight in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask=None,
                need_weights: bool = True, attn_mask=None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        """(attn_output, attn_weights or None), like torch's."""
        if is_causal and attn_mask is None:
            raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use "
                               "the Transformer module method `generate_square_subsequent_mask` "
                               "to create this mask.")
        batched = query.dim() == 3
        if not batched:  # (L, E): a batch of one
            query, key, value = (t.unsqueeze(1) for t in (query, key, value))
            key_padding_mask = None if key_padding_mask is None else key_padding_mask[None]
        elif self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        out, weights = self._attend(query, key, value, key_padding_mask, attn_mask)
        if weights is not None and average_attn_weights:
            weights = weights.mean(1)
        weights = weights if need_weights else None
        if not batched:
            return out.squeeze(1), None if weights is None else weights.squeeze(0)
        return (out.transpose(0, 1) if self.batch_first else out), weights

    def _project(self, query: Tensor, key: Tensor, value: Tensor):
        if self._qkv_same_embed_dim:
            weights = self.in_proj_weight.chunk(3)
        else:
            weights = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        biases = (None,) * 3 if self.in_proj_bias is None else self.in_proj_bias.chunk(3)
        return [F.linear(x, w, b) for x, w, b in zip((query, key, value), weights, biases)]

    def _attend(self, query, key, value, key_padding_mask, attn_mask):
        """Attention in (L, N, E) layout; weights as (N, heads, L, S)."""
        (tgt, n, e), src, h = query.shape, key.shape[0], self.num_heads
        q, k, v = self._project(query, key, value)
        q, k, v = (x.reshape(x.shape[0], n * h, self.head_dim).transpose(0, 1) for x in (q, k, v))
        scores = (q * math.sqrt(1.0 / self.head_dim)) @ k.transpose(-2, -1)
        mask = _combined_mask(attn_mask, key_padding_mask, n, h, scores.dtype)
        weights = F.softmax(scores if mask is None else scores + mask, dim=-1)
        if self.training and self.dropout > 0:
            weights = F.dropout(weights, p=self.dropout)
        out = (weights @ v).transpose(0, 1).reshape(tgt * n, e)
        out = self.out_proj(out).reshape(tgt, n, e)
        return out, weights.reshape(n, h, tgt, src)


def _additive(mask: Tensor | None, dtype: DType) -> Tensor | None:
    """A float mask to add to scores: -inf where a bool mask is True."""
    if mask is None or mask.dtype is not DType.bool:
        return mask
    return zeros(*mask.shape, dtype=dtype).masked_fill(mask, float("-inf"))


def _combined_mask(attn_mask, key_padding_mask, n: int, h: int, dtype: DType):
    """attn_mask ((L, S) or (N*heads, L, S)) plus key_padding_mask (N, S), as (N*heads, L, S)."""
    mask = _additive(attn_mask, dtype)
    padding = _additive(key_padding_mask, dtype)
    if padding is not None:
        src = padding.shape[-1]
        padding = padding.reshape(n, 1, 1, src).expand(n, h, 1, src).reshape(n * h, 1, src)
        mask = padding if mask is None else mask + padding
    return mask
