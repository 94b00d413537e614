# Corpus program of tracejit's real-model tests (tests/models/runner.py), imported unchanged
# from its installed PyPI package by tests/models/installed.py: no upstream code is copied
# into this repository.
# Source: https://github.com/osmr/pytorchcv (PyPI release pytorchcv==0.0.74)
# Repository: osmr/pytorchcv
# Path: pytorchcv/models/sknet.py
# Commit: none recorded; the PyPI release pytorchcv==0.0.74 pins the file
# Licence: MIT, Copyright (c) 2018-2026 Oleg Sémery
"""SKNet (selective kernels: grouped convolutions, softmax over branches)."""

from installed import load_program

program = load_program(__import__, "pytorchcv", "0.0.74", "pytorchcv.models.sknet")
