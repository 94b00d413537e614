"""`tracejit.backends`: torch.backends' switches that model code sets or reads
(`torch.backends.cudnn.benchmark = True`, `torch.backends.mps.is_available()`). They are
accepted and have no effect: tracejit has no cuDNN, MPS or CUDA."""

from tracejit.backends import cuda, cudnn, mps

__all__ = ["cuda", "cudnn", "mps"]
