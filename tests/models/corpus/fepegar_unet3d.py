"""U-Net, 3-D (Conv3d, InstanceNorm3d, trilinear up-sampling).

Program: unet/unet.py (with unet/encoding.py, decoding.py, conv.py)
Upstream: https://github.com/fepegar/unet
Package: unet==0.8.1 on PyPI (licence: MIT, Copyright (c) Fernando Perez-Garcia).
The program is not copied here: it is imported unchanged from the installed package, its
torch imports made with this file's `__import__` (see tests/models/installed.py).
"""

from installed import load_program

program = load_program(__import__, "unet", "0.8.1", "unet")
