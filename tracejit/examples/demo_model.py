"""The model `tracejit demo` runs: a small MLP-mixer-style classifier written exactly as it
would be with torch (change `tracejit` to `torch` and it runs there too)."""

import tracejit as torch
import tracejit.nn.functional as F
from tracejit import nn


class Block(nn.Module):
    """Pre-norm residual MLP block, as in a transformer: x + W2 gelu(W1 norm(x))."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x) -> torch.Tensor:
        h = F.gelu(self.fc1(self.norm(x)), approximate="tanh")
        return x + self.fc2(h)


class Classifier(nn.Module):
    """A stack of blocks and a softmax head."""

    def __init__(self, dim: int = 256, hidden: int = 1024, classes: int = 10, depth: int = 2):
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim, hidden) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return torch.softmax(self.head(self.norm(x)), dim=-1)
