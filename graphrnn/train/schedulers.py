"""Learning-rate schedules: ``StepLR`` and ``CosineLR`` (also importable from
:mod:`graphrnn.optim`), with state dicts so a resumed run continues the schedule."""

from __future__ import annotations

import math
from typing import Dict, List, Mapping

from ..models.module import StateDictError
from .optimizers import Optimizer, number
from ..core.safeio import deferred_interrupt

__all__ = ["Scheduler", "StepLR", "CosineLR"]


class Scheduler:
    """Base of the learning-rate schedules: ``step()`` once per epoch sets ``optimizer.lr``
    to ``rate(epoch)``; ``state_dict()`` (the epoch count and the initial rate) is saved
    with checkpoints, so a resumed run continues the schedule."""

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"{type(self).__name__}: optimizer must be an Optimizer, "
                             f"got {type(optimizer).__name__}")
        self.optimizer, self.base_lr, self.epoch = optimizer, optimizer.lr, 0

    def rate(self, epoch: int) -> float:
        """The learning rate after ``epoch`` epochs."""
        raise NotImplementedError

    def step(self) -> float:
        """Advance one epoch; returns the new learning rate."""
        lr = self.rate(self.epoch + 1)
        with deferred_interrupt():
            self.optimizer.lr = lr
            self.epoch += 1
        return lr

    def state_dict(self) -> Dict[str, object]:
        """``{"type", "epoch", "base_lr"}`` (JSON-ready)."""
        return {"type": type(self).__name__, "epoch": self.epoch, "base_lr": self.base_lr}

    def check_state_dict(self, state) -> List[str]:
        """The problems of a state dict (empty when it can be loaded); changes nothing."""
        if not isinstance(state, Mapping):
            return [f"expected a mapping, got {type(state).__name__}"]
        problems = [f"unexpected {k!r}" for k in state if k not in ("type", "epoch", "base_lr")]
        if state.get("type") != type(self).__name__:
            problems.append(f"type: expected {type(self).__name__!r}, got {state.get('type')!r}")
        for k, kw in (("epoch", {"integer": True, "low": 0}), ("base_lr", {"low": 0})):
            try:
                number("", k, state.get(k), **kw)
            except ValueError as e:
                problems.append(str(e)[2:])
        return problems

    def load_state_dict(self, state: Mapping) -> None:
        """Restore what :meth:`state_dict` returned (checked first: :class:`StateDictError`)."""
        problems = self.check_state_dict(state)
        if problems:
            raise StateDictError(f"{type(self).__name__}.load_state_dict: " + "; ".join(problems))
        self.epoch, self.base_lr = int(state["epoch"]), float(state["base_lr"])


class StepLR(Scheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        super().__init__(optimizer)
        self.step_size = number("StepLR", "step_size", step_size, low=1, integer=True)
        self.gamma = number("StepLR", "gamma", gamma, low=0, low_open=True)

    def rate(self, epoch: int) -> float:
        """``base_lr * gamma ** (epoch // step_size)``."""
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineLR(Scheduler):
    """Cosine annealing from the initial rate to ``min_lr`` over ``t_max`` epochs."""

    def __init__(self, optimizer: Optimizer, t_max: int, min_lr: float = 0.0):
        super().__init__(optimizer)
        self.t_max = number("CosineLR", "t_max", t_max, low=1, integer=True)
        self.min_lr = number("CosineLR", "min_lr", min_lr, low=0, high=optimizer.lr)

    def rate(self, epoch: int) -> float:
        """``min_lr + (base_lr - min_lr) * (1 + cos(pi * min(epoch, t_max) / t_max)) / 2``."""
        frac = min(epoch, self.t_max) / self.t_max
        return self.min_lr + (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * frac)) / 2
