"""DenseNet for CIFAR (concatenating dense units, dropout).

Program: pytorchcv/models/densenet_cifar.py
Upstream: https://github.com/osmr/pytorchcv (models of osmr/imgclsmob)
Package: pytorchcv==0.0.74 on PyPI (licence: MIT, Copyright (c) 2018-2026 Oleg Sémery).
The program is not copied here: it is imported unchanged from the installed package, its
torch imports made with this file's `__import__` (see tests/models/installed.py).
"""

from installed import load_program

program = load_program(__import__, "pytorchcv", "0.0.74", "pytorchcv.models.densenet_cifar")
