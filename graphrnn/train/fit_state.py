"""``fit``'s settings checks, its non-finite loss error, and its resumable state: the
position in the data, the partial epoch loss, the early-stopping state and the states
carried by truncated BPTT, as written to and read from checkpoints."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Dict, List, Optional

import numpy as np

from .checkpoint import CheckpointError, is_int, read_checkpoint, save_checkpoint
from .optimizers import Optimizer, number
from .schedulers import Scheduler

__all__ = ["NonFiniteLossError", "check_settings", "FitState", "RESERVED"]

#: history keys ``fit`` writes itself (a metric may not take one of them)
RESERVED = ("loss", "grad_norm", "epoch_loss", "val_loss", "lr", "stopped_early", "skipped")


class NonFiniteLossError(FloatingPointError):
    """``fit`` met a non-finite loss or gradient norm (with ``on_nonfinite="raise"``).

    The step was not applied: the parameters and optimizer are as they were before it.
    Attributes: ``epoch`` and ``step`` (1-based; ``step`` counts every step of the run),
    ``loss``, ``grad_norm`` and ``history`` (every completed step)."""

    def __init__(self, message, epoch, step, loss, grad_norm, history):
        super().__init__(message)
        self.epoch, self.step, self.loss, self.grad_norm = epoch, step, loss, grad_norm
        self.history = history


def check_settings(data, loss, optimizer, epochs, batch_size, validation, metrics, clip_norm,
                   clip_value, scheduler, early_stopping, checkpoint_every, checkpoint_path,
                   resume, tbptt, on_nonfinite) -> None:
    """Refuse a bad ``fit`` setting before anything runs: ``ValueError`` naming the setting
    and the value."""
    number("fit", "epochs", epochs, low=0, integer=True)
    number("fit", "batch_size", batch_size, low=1, integer=True)
    for name, value in (("tbptt", tbptt), ("early_stopping", early_stopping),
                        ("checkpoint_every", checkpoint_every)):
        if value is not None:
            number("fit", name, value, low=1, integer=True)
    for name, value in (("clip_norm", clip_norm), ("clip_value", clip_value)):
        if value is not None:
            number("fit", name, value, low=0, low_open=True)
    if checkpoint_every is not None and not checkpoint_path:
        raise ValueError(f"fit: checkpoint_every={checkpoint_every!r} needs checkpoint_path")
    for name, value in (("checkpoint_path", checkpoint_path), ("resume", resume)):
        if value is not None and not isinstance(value, (str, bytes)) \
                and not hasattr(value, "__fspath__"):
            raise ValueError(f"fit: {name} must be a path, got {value!r}")
    if on_nonfinite not in ("raise", "skip"):
        raise ValueError(f"fit: on_nonfinite must be 'raise' or 'skip', got {on_nonfinite!r}")
    if not callable(loss):
        raise ValueError(f"fit: loss must be a function (outputs, target, mask) -> node, "
                         f"got {loss!r}")
    if not isinstance(optimizer, Optimizer):
        raise ValueError(f"fit: optimizer must be a graphrnn.optim Optimizer, got {optimizer!r}")
    if scheduler is not None and (not isinstance(scheduler, Scheduler)
                                  or scheduler.optimizer is not optimizer):
        raise ValueError(f"fit: scheduler must be a Scheduler built on this optimizer, "
                         f"got {scheduler!r}")
    if metrics is not None:
        if not isinstance(metrics, Mapping):
            raise ValueError(f"fit: metrics must be a mapping name -> function, got {metrics!r}")
        for name, fn in metrics.items():
            if name in RESERVED or not isinstance(name, str) or not callable(fn):
                raise ValueError(f"fit: metric {name!r} must be a function under a name not in "
                                 f"{list(RESERVED)}, got {fn!r}")
        if validation is None:
            raise ValueError(f"fit: metrics {list(metrics)} need validation data")
    for name, pair in (("data", data), ("validation", validation)):
        if pair is not None and (not isinstance(pair, (tuple, list)) or len(pair) != 2):
            raise ValueError(f"fit: {name} must be a pair (inputs, targets), got "
                             f"{type(pair).__name__}")


def _real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _int(v, low=0):
    return is_int(v) and v >= low


class FitState:
    """Where a ``fit`` run stands.  With the model, optimizer, scheduler and RNG this is
    everything a resumed run needs to continue bit for bit: ``epoch`` (0-based, the one in
    progress), ``lo`` (the first sequence of the next batch in the epoch's order), ``chunk``
    (the next truncated-BPTT chunk of that batch, with the ``carry`` states), the partial
    epoch loss (``loss_sum`` / ``weight``), early stopping (``best``, ``waited``,
    ``stopped``, ``best_params``), the RNG state the epoch's order was drawn from
    (``epoch_rng``) and the ``history``."""

    def __init__(self, history: Dict[str, List[float]], epoch_rng: dict):
        self.history, self.epoch_rng = history, epoch_rng
        self.epoch = self.lo = self.chunk = 0
        self.loss_sum = self.weight = 0.0
        self.carry: Optional[Dict[str, np.ndarray]] = None
        self.best, self.waited, self.stopped = math.inf, 0, False
        self.best_params: Optional[Dict[str, np.ndarray]] = None

    def save(self, path, model, optimizer, scheduler, settings: dict) -> str:
        """Write a checkpoint from which ``fit(resume=path)`` continues from here."""
        arrays = {f"best.{k}": v for k, v in (self.best_params or {}).items()}
        if self.chunk and self.carry is not None:
            arrays.update({f"carry.{k}": v for k, v in self.carry.items()})
        state = {"lo": self.lo, "chunk": self.chunk, "loss_sum": self.loss_sum,
                 "weight": self.weight, "best": self.best, "waited": self.waited,
                 "stopped": self.stopped, "has_best": self.best_params is not None,
                 "settings": settings}
        return save_checkpoint(path, model, optimizer, self.epoch, self.epoch_rng, self.history,
                               scheduler, state, arrays)

    @classmethod
    def resume(cls, path, model, optimizer, rng, scheduler, settings: dict,
               history: Dict[str, List[float]], carry_shapes) -> "FitState":
        """Read a checkpoint, check it against this run, then load it (all or nothing:
        :class:`CheckpointError` before anything changes) and return the state it holds.
        ``carry_shapes`` (with truncated BPTT): the model's carried states and their shapes,
        ``None`` for the batch (``model.state_shapes(None)``).

        A checkpoint taken inside an epoch (on Ctrl-C) continues only with the same data
        size, ``batch_size``, ``tbptt`` and ``shuffle``."""
        params = model.parameters()
        shapes = {f"best.{k}": v.shape for k, v in params.items()}
        if carry_shapes is not None:
            shapes.update({f"carry.{s}0": shape for s, shape in carry_shapes.items()})
        ck = read_checkpoint(path, model, optimizer, rng, scheduler, shapes)
        fit = ck.fit if ck.fit is not None else {}
        st = cls(history, ck.rng)
        problems = []
        for k, ok in (("lo", _int), ("chunk", _int), ("waited", _int), ("loss_sum", _real),
                      ("weight", _real), ("best", _real),
                      ("stopped", lambda v: isinstance(v, bool)),
                      ("has_best", lambda v: isinstance(v, bool))):
            if k in fit and not ok(fit[k]):
                problems.append(f"fit[{k!r}] is malformed: {fit[k]!r}")
            elif k in fit and k != "has_best":
                setattr(st, k, fit[k])
        unexpected = set(fit) - {"lo", "chunk", "waited", "loss_sum", "weight", "best",
                                 "stopped", "has_best", "settings"}
        problems += [f"unexpected fit[{k!r}]" for k in sorted(unexpected)]
        if (st.lo or st.chunk) and not problems:
            theirs = fit.get("settings")
            theirs = theirs if isinstance(theirs, dict) else {}
            problems += [f"taken inside an epoch with {k}={theirs.get(k)!r}, resumed with "
                         f"{k}={v!r}" for k, v in settings.items() if theirs.get(k) != v]
            if not problems and st.lo > settings["n"]:
                problems.append(f"fit['lo'] {st.lo} is past the {settings['n']} sequences")
        best = {k[5:]: v for k, v in ck.fit_arrays.items() if k.startswith("best.")}
        if fit.get("has_best") and len(best) != len(params):
            problems.append(f"best parameters missing: {sorted(set(params) - set(best))}")
        carry = {k[6:]: v for k, v in ck.fit_arrays.items() if k.startswith("carry.")}
        if st.chunk and not problems:
            batch = min(settings["batch_size"], settings["n"] - st.lo)
            want = {f"{s}0" for s in model.state_names}
            if set(carry) != want or any(np.ndim(v) < 2 or v.shape[1] != batch
                                         for v in carry.values()):
                problems.append(f"carried states {sorted(carry)} do not match chunk "
                                f"{st.chunk} of a batch of {batch}")
        for name, arrays in (("best", best), ("carry", carry)):
            odd = [k for k, v in arrays.items() if np.asarray(v).dtype.kind not in "biuf"]
            if odd:
                problems.append(f"{name} arrays {odd} do not hold real numbers")
        if problems:
            raise CheckpointError(f"checkpoint {ck.path!r} does not match this training run: "
                                  + "; ".join(problems))
        # converted before anything changes: the load stays all or nothing
        best_params = {k: np.array(v, dtype=params[k].dtype) for k, v in best.items()} \
            if fit.get("has_best") else None
        carried = {k: np.array(v, dtype=model.dtype) for k, v in carry.items()} \
            if st.chunk else None
        ck.apply(model, optimizer, rng, scheduler)
        st.epoch = ck.epoch
        st.history = {k: list(v) for k, v in ck.history.items()}
        for k, v in history.items():
            st.history.setdefault(k, list(v))
        st.best_params, st.carry = best_params, carried
        return st
