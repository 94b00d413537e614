"""Twin models for the training-equivalence tests that test_nn_twins.py does not already have:
each `make_*(L)` builds the model from library L (tracejit or torch), so one definition serves
both sides."""

from __future__ import annotations


def make_lenet(L, batch_norm: bool = True, classes: int = 10):
    """LeNet-style CNN on 1x16x16 images (test_nn_twins' LeNet-5 at 28x28 costs ~0.2 s a
    training step here), with BatchNorm2d after each convolution by default; those
    convolutions have no bias, which the batch norm's mean would cancel (its gradient is
    rounding noise, which Adam then scales up to full-size steps in random directions)."""
    nn = L.nn

    def conv(cin, cout, **kwargs):
        if not batch_norm:
            return [nn.Conv2d(cin, cout, 5, **kwargs)]
        return [nn.Conv2d(cin, cout, 5, bias=False, **kwargs), nn.BatchNorm2d(cout)]

    return nn.Sequential(
        *conv(1, 6, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        *conv(6, 16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, classes))


def make_gru(L, d_in: int = 6, d: int = 12, out: int = 3):
    """A hand-written GRU cell applied over the time steps of a (time, batch, d_in) sequence in
    a Python loop (script_models.GRULoop's cell, for both libraries), then a linear head."""
    nn = L.nn

    class Cell(nn.Module):
        def __init__(self):
            super().__init__()
            self.ih = nn.Linear(d_in, 3 * d)
            self.hh = nn.Linear(d, 3 * d)

        def forward(self, x, h):
            i_r, i_z, i_n = self.ih(x).chunk(3, dim=-1)
            h_r, h_z, h_n = self.hh(h).chunk(3, dim=-1)
            r = L.sigmoid(i_r + h_r)
            z = L.sigmoid(i_z + h_z)
            n = L.tanh(i_n + r * h_n)
            return (1 - z) * n + z * h

    class GRULoop(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = Cell()
            self.head = nn.Linear(d, out)

        def forward(self, xs):
            h = L.zeros(xs.shape[1], d, dtype=xs.dtype)
            for t in range(xs.shape[0]):
                h = self.cell(xs[t], h)
            return self.head(h)

    return GRULoop()
