# Corpus program of tracejit's real-model tests (tests/models/runner.py), imported unchanged
# from its installed PyPI package by tests/models/installed.py: no upstream code is copied
# into this repository.
# Source: https://github.com/Coloquinte/torchSR (PyPI release torchsr==1.0.4)
# Repository: Coloquinte/torchSR
# Path: torchsr/models/rdn.py
# Commit: none recorded; the PyPI release torchsr==1.0.4 pins the file
# Licence: MIT, Copyright (c) 2021 Gabriel Gouvine, (c) 2018 Sanghyun Son (EDSR),
# (c) 2018 Namhyuk Ahn (CARN)
"""RDN super-resolution (residual dense blocks, global feature fusion, PixelShuffle)."""

from installed import load_program

program = load_program(__import__, "torchsr", "1.0.4", "_installed_torchsr_rdn",
                       "torchsr/models/rdn.py")
