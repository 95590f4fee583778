"""Training: losses, optimizers and schedulers, ``fit`` with its batches and checkpoints,
and data-parallel communicators."""

from .fit import (CheckpointError, NonFiniteLossError, fit, load_checkpoint, pad_batch,
                  save_checkpoint)

__all__ = ["fit", "pad_batch", "save_checkpoint", "load_checkpoint", "CheckpointError",
           "NonFiniteLossError"]
