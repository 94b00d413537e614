"""EfficientNet of lukemelas/EfficientNet-PyTorch (static same padding, swish, SE).

Program: efficientnet_pytorch/model.py
Upstream: https://github.com/lukemelas/EfficientNet-PyTorch
Package: efficientnet-pytorch==0.7.1 on PyPI (licence: Apache-2.0, Copyright Luke Melas-Kyriazi).
The program is not copied here: it is imported unchanged from the installed package, its
torch imports made with this file's `__import__` (see tests/models/installed.py).
"""

from installed import load_program

program = load_program(__import__, "efficientnet-pytorch", "0.7.1", "efficientnet_pytorch.model")
