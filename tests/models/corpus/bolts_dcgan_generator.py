"""DCGAN generator (ConvTranspose2d, BatchNorm, Tanh).

Program: pl_bolts/models/gans/dcgan/components.py
Upstream: https://github.com/Lightning-AI/lightning-bolts
Package: lightning-bolts==0.7.0 on PyPI (licence: Apache-2.0, Copyright The Lightning AI team).
The program is not copied here: it is imported unchanged from the installed package, its
torch imports made with this file's `__import__` (see tests/models/installed.py).
"""

from installed import load_program

program = load_program(__import__, "lightning-bolts", "0.7.0", "_installed_bolts_dcgan",
                       "pl_bolts/models/gans/dcgan/components.py")
