# Corpus program of tracejit's real-model tests (tests/models/runner.py), imported unchanged
# from its installed PyPI package by tests/models/installed.py: no upstream code is copied
# into this repository.
# Source: https://github.com/fepegar/unet (PyPI release unet==0.8.1)
# Repository: fepegar/unet
# Path: unet/unet.py (with unet/encoding.py, decoding.py, conv.py)
# Commit: none recorded; the PyPI release unet==0.8.1 pins the file
# Licence: MIT, Copyright (c) 2019 Fernando Perez-Garcia
"""U-Net, 3-D (Conv3d, InstanceNorm3d, trilinear up-sampling)."""

from installed import load_program

program = load_program(__import__, "unet", "0.8.1", "unet")
