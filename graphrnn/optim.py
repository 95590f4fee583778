"""Optimizers, gradient clipping and learning-rate schedules on named NumPy parameters.

The update rules are PyTorch's (``torch.optim.SGD``, ``Adam``, ``AdamW``), so the same
hyper-parameters mean the same thing; parameters are updated in place.  Optimizer state is
a dict of arrays by name (``state_dict()``), saved with checkpoints.
"""

from __future__ import annotations

import math
from typing import Dict, Mapping

import numpy as np

__all__ = ["SGD", "Adam", "AdamW", "clip_grad_norm", "clip_grad_value", "StepLR",
           "CosineLR", "Optimizer"]


def clip_grad_norm(grads: Mapping[str, np.ndarray], max_norm: float) -> float:
    """Scale all gradients together so their global L2 norm is at most ``max_norm``
    (in place); returns the norm before clipping."""
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for g in grads.values():
            g *= scale
    return total


def clip_grad_value(grads: Mapping[str, np.ndarray], clip: float) -> None:
    """Clip every gradient element into ``[-clip, clip]`` (in place)."""
    for g in grads.values():
        np.clip(g, -clip, clip, out=g)


class Optimizer:
    """Base: ``step(grads)`` updates ``params`` in place; ``lr`` may be changed by a schedule."""

    def __init__(self, params: Mapping[str, np.ndarray], lr: float):
        if lr <= 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        self.params: Dict[str, np.ndarray] = dict(params)
        self.lr = lr
        self.steps = 0
        self.state: Dict[str, np.ndarray] = {}

    def _check(self, grads):
        missing = [k for k in self.params if k not in grads]
        if missing:
            raise KeyError(f"{type(self).__name__}.step: no gradient for {missing}")

    def state_dict(self) -> Dict[str, np.ndarray]:
        """Optimizer state as arrays by name (``steps``, ``lr`` and the moment buffers)."""
        out = {f"state.{k}": v.copy() for k, v in self.state.items()}
        out["steps"] = np.array(self.steps)
        out["lr"] = np.array(self.lr)
        return out

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.steps, self.lr = int(state["steps"]), float(state["lr"])
        self.state = {k[6:]: np.array(v) for k, v in state.items() if k.startswith("state.")}


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""

    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__(params, lr)
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        """One update (PyTorch's rule: ``b = mu*b + g``; ``p -= lr*(g + mu*b if nesterov else b)``)."""
        self._check(grads)
        self.steps += 1
        for k, p in self.params.items():
            g = grads[k] + self.weight_decay * p if self.weight_decay else grads[k]
            if self.momentum:
                b = self.state.get(k)
                b = g.copy() if b is None else self.momentum * b + g
                self.state[k] = b
                g = g + self.momentum * b if self.nesterov else b
            p -= self.lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; ``weight_decay`` adds ``wd * p`` to the gradient."""

    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = tuple(betas), eps, weight_decay

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        """One update, as ``torch.optim.Adam`` (or ``AdamW`` for the decoupled subclass)."""
        self._check(grads)
        self.steps += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self.steps, 1 - b2 ** self.steps
        for k, p in self.params.items():
            g = grads[k]
            if self.weight_decay and self.decoupled:
                p *= 1 - self.lr * self.weight_decay
            elif self.weight_decay:
                g = g + self.weight_decay * p
            m = self.state.get(f"{k}.m")
            v = self.state.get(f"{k}.v")
            m = (1 - b1) * g if m is None else b1 * m + (1 - b1) * g
            v = (1 - b2) * g * g if v is None else b2 * v + (1 - b2) * g * g
            self.state[f"{k}.m"], self.state[f"{k}.v"] = m, v
            p -= (self.lr / c1) * m / (np.sqrt(v) / math.sqrt(c2) + self.eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (``p *= 1 - lr*wd`` before the Adam step)."""

    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)


class StepLR:
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        self.optimizer, self.step_size, self.gamma = optimizer, step_size, gamma
        self.base_lr, self.epoch = optimizer.lr, 0

    def step(self) -> float:
        """Advance one epoch; returns the new learning rate."""
        self.epoch += 1
        self.optimizer.lr = self.base_lr * self.gamma ** (self.epoch // self.step_size)
        return self.optimizer.lr


class CosineLR:
    """Cosine annealing from the initial rate to ``min_lr`` over ``t_max`` epochs."""

    def __init__(self, optimizer: Optimizer, t_max: int, min_lr: float = 0.0):
        self.optimizer, self.t_max, self.min_lr = optimizer, t_max, min_lr
        self.base_lr, self.epoch = optimizer.lr, 0

    def step(self) -> float:
        """Advance one epoch; returns the new learning rate."""
        self.epoch += 1
        frac = min(self.epoch, self.t_max) / self.t_max
        self.optimizer.lr = self.min_lr + (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * frac)) / 2
        return self.optimizer.lr
