"""Optimizers and gradient clipping on named NumPy parameters (the update rules of
:mod:`graphrnn.optim`, which also holds the learning-rate schedules)."""

from __future__ import annotations

import math
import numbers
from typing import Dict, Mapping, Tuple

import numpy as np

from ..models.module import StateDictError
from ..core.safeio import deferred_interrupt

__all__ = ["SGD", "Adam", "AdamW", "clip_grad_norm", "clip_grad_value", "Optimizer", "number"]


def number(owner: str, name: str, value, low=-math.inf, high=math.inf, low_open=False,
           high_open=False, integer=False):
    """``value`` as a finite ``float`` (an ``int`` with ``integer``) in the given range, or
    ``ValueError("<owner>: <name> must be ..., got <value>")``."""
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if ok:
        value = int(value) if integer else float(value)
        ok = (math.isfinite(value) and (value > low if low_open else value >= low)
              and (value < high if high_open else value <= high))
    if not ok:
        lo = "" if low == -math.inf else f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high == math.inf else f"{'<' if high_open else '<='} {high:g}"
        what = "an integer" if integer else "a finite number"
        rng = " and ".join(r for r in (lo, hi) if r)
        raise ValueError(f"{owner}: {name} must be {what}{' ' + rng if rng else ''}, "
                         f"got {value!r}")
    return value


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
    """Base: ``step(grads)`` updates ``params`` in place; ``lr`` may be changed by a schedule.

    Subclasses define ``_moments`` (the suffixes of their per-parameter state) and
    ``_update(grads, steps) -> (new params, new state)``, which must not change anything."""

    _moments: Tuple[str, ...] = ()

    def __init__(self, params: Mapping[str, np.ndarray], lr: float):
        owner = type(self).__name__
        if not isinstance(params, Mapping) or not params:
            raise ValueError(f"{owner}: params must be a non-empty mapping of name -> array "
                             f"(model.parameters()), got {type(params).__name__}")
        for k, p in params.items():
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f" or not p.flags.writeable:
                what = (("read-only " if not p.flags.writeable else "") + f"{p.dtype} array"
                        if isinstance(p, np.ndarray) else type(p).__name__)
                raise ValueError(f"{owner}: parameter {k!r} must be a writeable floating-point "
                                 f"array, got a {what}")
        self.params: Dict[str, np.ndarray] = dict(params)
        self._lr = number(owner, "lr", lr, low=0, low_open=True)
        self.steps = 0
        self.state: Dict[str, np.ndarray] = {}

    @property
    def lr(self) -> float:
        """The learning rate (a finite number >= 0; schedules change it)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = number(type(self).__name__, "lr", value, low=0)

    def _check(self, grads):
        owner = type(self).__name__
        if not isinstance(grads, Mapping):
            raise TypeError(f"{owner}.step: grads must be a mapping of name -> array, "
                            f"got {type(grads).__name__}")
        missing = [k for k in self.params if k not in grads]
        if missing:
            raise KeyError(f"{owner}.step: no gradient for {missing}")
        out = {k: np.asarray(grads[k]) for k in self.params}
        wrong = [f"{k}: expected {p.shape}, got {out[k].shape}" for k, p in self.params.items()
                 if out[k].shape != p.shape]
        if wrong:
            raise ValueError(f"{owner}.step: wrong gradient shape: " + "; ".join(wrong))
        return out

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        """One update, all or nothing: every new parameter and moment is computed first,
        then all are stored with Ctrl-C held back (a failure or an interrupt while
        computing leaves the parameters, the state and ``steps`` as they were)."""
        params, state = self._update(self._check(grads), self.steps + 1)
        with deferred_interrupt():
            for k, p in self.params.items():
                np.copyto(p, params[k])
            self.state = state
            self.steps += 1

    def _update(self, grads, steps):
        raise NotImplementedError

    def state_shapes(self) -> Dict[str, tuple]:
        """Every entry a state dict may hold, with its shape."""
        out = {"steps": (), "lr": ()}
        for k, p in self.params.items():
            out.update({f"state.{k}{m}": p.shape for m in self._moments})
        return out

    def state_dict(self) -> Dict[str, np.ndarray]:
        """Optimizer state as arrays by name (``steps``, ``lr`` and the moment buffers)."""
        out = {f"state.{k}": v.copy() for k, v in self.state.items()}
        out["steps"] = np.array(self.steps)
        out["lr"] = np.array(self.lr)
        return out

    def check_state_dict(self, state: Mapping[str, np.ndarray]):
        """``(steps, lr, moments)`` from a state dict, every entry checked (names, shapes,
        dtypes, values, and moments present exactly when ``steps > 0``); changes nothing.
        Raises :class:`StateDictError` naming every entry at fault."""
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state, Mapping):
            raise StateDictError(f"{owner}: expected a mapping of name -> array, "
                                 f"got {type(state).__name__}")
        shapes, problems, moments = self.state_shapes(), [], {}
        problems += [f"unexpected {k!r}" for k in state if k not in shapes]
        problems += [f"missing {k!r}" for k in ("steps", "lr") if k not in state]
        values = {}
        for k in state:
            if k not in shapes:
                continue
            try:
                v = np.asarray(state[k])
            except (TypeError, ValueError) as e:
                problems.append(f"{k}: not an array ({e})")
                continue
            if v.shape != shapes[k]:
                problems.append(f"{k}: expected shape {shapes[k]}, got {v.shape}")
            elif v.dtype.kind not in ("iu" if k == "steps" else "iuf"):
                problems.append(f"{k}: expected {'an integer' if k == 'steps' else 'real numbers'}"
                                f", got {v.dtype}")
            else:
                values[k] = v
        steps, lr = values.get("steps"), values.get("lr")
        if steps is not None and int(steps) < 0:
            problems.append(f"steps: must be >= 0, got {int(steps)}")
        if lr is not None and not (math.isfinite(float(lr)) and float(lr) >= 0):
            problems.append(f"lr: must be a finite number >= 0, got {float(lr)}")
        for k, p in self.params.items():
            for m in self._moments:
                name = f"state.{k}{m}"
                if name in values:
                    moments[f"{k}{m}"] = values[name].astype(p.dtype)
                    if m == ".v" and (moments[f"{k}{m}"] < 0).any():
                        problems.append(f"{name}: negative second moments")
        if steps is not None and self._moments and int(steps) >= 0:
            want = [f"state.{k}{m}" for k in self.params for m in self._moments]
            have = [k for k in want if k in state]
            if int(steps) > 0 and len(have) < len(want):
                problems.append(f"steps is {int(steps)} but moments are missing: "
                                f"{[k for k in want if k not in state]}")
            elif int(steps) == 0 and have:
                problems.append(f"steps is 0 but moments are present: {have}")
        if problems:
            raise StateDictError(f"{owner}: " + "; ".join(problems))
        return int(steps), float(lr), moments

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore what :meth:`state_dict` returned, all or nothing (checked first by
        :meth:`check_state_dict`)."""
        steps, lr, moments = self.check_state_dict(state)
        with deferred_interrupt():
            self.steps, self._lr, self.state = steps, lr, moments


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""

    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__(params, lr)
        self.momentum = number("SGD", "momentum", momentum, low=0)
        self.weight_decay = number("SGD", "weight_decay", weight_decay, low=0)
        if not isinstance(nesterov, bool):
            raise ValueError(f"SGD: nesterov must be True or False, got {nesterov!r}")
        if nesterov and self.momentum <= 0:
            raise ValueError(f"SGD: Nesterov momentum needs momentum > 0, got {momentum!r}")
        self.nesterov = nesterov
        self._moments = ("",) if self.momentum else ()

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        """One update (PyTorch's rule: ``b = mu*b + g``; ``p -= lr*(g + mu*b if nesterov else b)``)."""
        super().step(grads)

    def _update(self, grads, steps):
        params, state = {}, dict(self.state)
        for k, p in self.params.items():
            g = grads[k] + self.weight_decay * p if self.weight_decay else grads[k]
            if self.momentum:
                b = self.state.get(k)
                b = g.copy() if b is None else self.momentum * b + g
                state[k] = b
                g = g + self.momentum * b if self.nesterov else b
            params[k] = p - self.lr * g
        return params, state


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; ``weight_decay`` adds ``wd * p`` to the gradient."""

    decoupled = False
    _moments = (".m", ".v")

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, lr)
        owner = type(self).__name__
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{owner}: betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (number(owner, "betas[0]", betas[0], low=0, high=1, high_open=True),
                      number(owner, "betas[1]", betas[1], low=0, high=1, high_open=True))
        self.eps = number(owner, "eps", eps, low=0, low_open=True)
        self.weight_decay = number(owner, "weight_decay", weight_decay, low=0)

    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        """One update, as ``torch.optim.Adam`` (or ``AdamW`` for the decoupled subclass)."""
        super().step(grads)

    def _update(self, grads, steps):
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** steps, 1 - b2 ** steps
        params, state = {}, dict(self.state)
        for k, p in self.params.items():
            g = grads[k]
            if self.weight_decay and self.decoupled:
                p = p * (1 - self.lr * self.weight_decay)
            elif self.weight_decay:
                g = g + self.weight_decay * p
            m = self.state.get(f"{k}.m")
            v = self.state.get(f"{k}.v")
            m = (1 - b1) * g if m is None else b1 * m + (1 - b1) * g
            v = (1 - b2) * g * g if v is None else b2 * v + (1 - b2) * g * g
            state[f"{k}.m"], state[f"{k}.v"] = m, v
            params[k] = p - (self.lr / c1) * m / (np.sqrt(v) / math.sqrt(c2) + self.eps)
        return params, state


class AdamW(Adam):
    """Adam with decoupled weight decay (``p *= 1 - lr*wd`` before the Adam step)."""

    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)
