"""torch.backends.cudnn's flags (settable, no effect: tracejit has no cuDNN)."""

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    return False


def version() -> None:
    """None: cuDNN is not available."""
    return None
