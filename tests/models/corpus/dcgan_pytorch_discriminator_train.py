# Corpus program of tracejit's real-model tests (tests/models/runner.py), imported unchanged
# from its installed PyPI package by tests/models/installed.py: no upstream code is copied
# into this repository.
# Source: https://github.com/Lornatang/DCGAN-PyTorch (PyPI release dcgan-pytorch==0.2.0)
# Repository: Lornatang/DCGAN-PyTorch
# Path: dcgan_pytorch/model.py (class Discriminator; with dcgan_pytorch/utils.py)
# Commit: none recorded; the PyPI release dcgan-pytorch==0.2.0 pins the file
# Licence: Apache-2.0, Copyright Lorna
"""DCGAN discriminator in train mode, as a GAN step runs it (BatchNorm on batch statistics)."""

from installed import load_program

program = load_program(__import__, "dcgan-pytorch", "0.2.0", "dcgan_pytorch.model")
