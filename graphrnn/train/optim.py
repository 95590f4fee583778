"""Optimizers, gradient clipping and learning-rate schedules on named NumPy parameters.

The update rules are PyTorch's (``torch.optim.SGD``, ``Adam``, ``AdamW``), so the same
hyper-parameters mean the same thing; parameters are updated in place.  Optimizer state is
a dict of arrays by name (``state_dict()``), saved with checkpoints.

Every setting is checked when the object is built (``ValueError`` naming the setting and
its value); a step is all or nothing (every new value is computed before any is stored,
and Ctrl-C is held back while they are); ``load_state_dict`` checks names, shapes, dtypes
and step counts before changing anything (:class:`~graphrnn.models.StateDictError`).
"""

from .optimizers import SGD, Adam, AdamW, Optimizer, clip_grad_norm, clip_grad_value
from .schedulers import CosineLR, Scheduler, StepLR

__all__ = ["SGD", "Adam", "AdamW", "clip_grad_norm", "clip_grad_value", "StepLR",
           "CosineLR", "Optimizer", "Scheduler"]
