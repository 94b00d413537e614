# Corpus program of tracejit's real-model tests (tests/models/runner.py), imported unchanged
# from its installed PyPI package by tests/models/installed.py: no upstream code is copied
# into this repository.
# Source: https://github.com/lukemelas/EfficientNet-PyTorch
# (PyPI release efficientnet-pytorch==0.7.1)
# Repository: lukemelas/EfficientNet-PyTorch
# Path: efficientnet_pytorch/model.py
# Commit: none recorded; the PyPI release efficientnet-pytorch==0.7.1 pins the file
# Licence: Apache-2.0, Copyright Luke Melas-Kyriazi
"""EfficientNet of lukemelas/EfficientNet-PyTorch (static same padding, swish, SE)."""

from installed import load_program

program = load_program(__import__, "efficientnet-pytorch", "0.7.1", "efficientnet_pytorch.model")
