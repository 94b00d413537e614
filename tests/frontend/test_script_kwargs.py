"""Script: a function's **kwargs is a new dict on each call, so the scripted code may change
it (perceiver's PreNorm does kwargs.update(context=...)), compared with eager and torch."""

import numpy as np
import torch

import tracejit as tj

RNG = np.random.default_rng(0)
X, C = (RNG.standard_normal((2, 3, 4)).astype(np.float32) for _ in range(2))


def _modules(nn):
    class PreNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm, self.norm_context = nn.LayerNorm(4), nn.LayerNorm(4)

        def forward(self, x, **kwargs):
            kwargs.update(context=self.norm_context(kwargs["context"]))
            kwargs["scale"] = 2.0
            return self.fn(self.norm(x), **kwargs)

        def fn(self, x, context, scale):
            return x * scale + context

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.pre = PreNorm()

        def forward(self, x, c):
            return self.pre(x, context=c)

    return Outer()


def test_scripted_code_may_update_its_own_kwargs():
    want = _modules(torch.nn)(torch.tensor(X), torch.tensor(C)).detach().numpy()
    model = _modules(tj.nn)
    eager = model(tj.tensor(X), tj.tensor(C)).detach().numpy()
    scripted = tj.script(model)
    np.testing.assert_allclose(eager, want, rtol=1e-5, atol=1e-6)
    for _ in range(2):  # the dict is the call's own each time
        np.testing.assert_allclose(scripted(tj.tensor(X), tj.tensor(C)).detach().numpy(), want,
                                   rtol=1e-5, atol=1e-6)
