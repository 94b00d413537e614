"""`tracejit.nn.parameter`: where torch.nn.parameter's names live (`from torch.nn.parameter
import Parameter`)."""

from tracejit.nn.module import Parameter

__all__ = ["Parameter"]
