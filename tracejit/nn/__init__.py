"""tracejit.nn: torch.nn's modules and functional API (work in progress)."""
