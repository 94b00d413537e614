"""RCAN super-resolution (channel attention, residual groups, PixelShuffle).

Program: torchsr/models/rcan.py
Upstream: https://github.com/Coloquinte/torchSR
Package: torchsr==1.0.4 on PyPI (licence: MIT, Copyright (c) Gabriel Gouvine).
The program is not copied here: it is imported unchanged from the installed package, its
torch imports made with this file's `__import__` (see tests/models/installed.py).
"""

from installed import load_program

program = load_program(__import__, "torchsr", "1.0.4", "_installed_torchsr_rcan",
                       "torchsr/models/rcan.py")
