"""Checkpoints: every piece of training state in one ``.npz`` file (no pickle), written
atomically and read all or nothing.

A checkpoint holds the parameters (``param.<name>``), the optimizer state
(``optim.<name>``), ``fit``'s own arrays (``fit.<name>``: the best parameters of early
stopping, the states carried by truncated BPTT) and a JSON ``meta`` member: the epoch, the
history, the RNG state, the optimizer's type, the scheduler's state and ``fit``'s position.
:func:`read_checkpoint` checks all of it against the model, optimizer, scheduler and RNG,
from the members' headers before their data, and raises :class:`CheckpointError` before
anything changes.
"""

from __future__ import annotations

import json
import numbers
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional

import numpy as np

from ..models.module import StateDictError
from ..core.safeio import NpzReader, deferred_interrupt, write_npz

__all__ = ["CheckpointError", "Checkpoint", "save_checkpoint", "read_checkpoint",
           "load_checkpoint"]

#: the version written; files of a later version are refused
FORMAT = 2
#: the largest ``meta`` member read (bytes): the history of many millions of steps
META_LIMIT = 1 << 30


class CheckpointError(StateDictError):
    """A checkpoint file is unreadable or malformed, or does not match the model, optimizer,
    scheduler, RNG or ``fit`` settings; raised before anything was changed.  A subclass of
    :class:`~graphrnn.models.StateDictError` (itself a ``ValueError``): one error type for
    every bad file or state."""


def save_checkpoint(path: str, model, optimizer=None, epoch: int = 0,
                    rng: Optional[np.random.Generator] = None,
                    history: Optional[Mapping] = None, scheduler=None,
                    fit_state: Optional[Mapping] = None,
                    fit_arrays: Optional[Mapping[str, np.ndarray]] = None) -> str:
    """Write parameters, optimizer state, epoch, RNG state (of a ``Generator``, or such a
    state dict), history and scheduler state (and ``fit``'s own state and arrays) to
    ``path`` (``.npz`` appended); returns the path.

    The write is atomic (a unique temporary file, fsynced, renamed into place): a crash, a
    ``kill -9`` or a concurrent writer leaves the old checkpoint or a complete new one."""
    arrays = {f"param.{k}": v for k, v in model.state_dict().items()}
    if optimizer is not None:
        arrays.update({f"optim.{k}": v for k, v in optimizer.state_dict().items()})
    arrays.update({f"fit.{k}": np.asarray(v) for k, v in (fit_arrays or {}).items()})
    meta = {"format": FORMAT, "epoch": int(epoch), "history": dict(history or {}),
            "rng": rng.bit_generator.state if isinstance(rng, np.random.Generator) else rng,
            "optimizer": type(optimizer).__name__ if optimizer is not None else None,
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "fit": dict(fit_state) if fit_state is not None else None}
    arrays["meta"] = np.array(json.dumps(meta, default=float))
    return write_npz(path, arrays)


@dataclass
class Checkpoint:
    """A checkpoint read and checked by :func:`read_checkpoint`; :meth:`apply` loads it."""
    path: str
    epoch: int
    history: Dict[str, list]
    fit: Optional[dict]
    fit_arrays: Dict[str, np.ndarray]
    params: Dict[str, np.ndarray] = field(repr=False)
    optim: Optional[tuple] = field(repr=False)
    rng: Optional[dict] = field(repr=False)
    scheduler: Optional[dict] = field(repr=False)

    def apply(self, model, optimizer=None, rng=None, scheduler=None) -> None:
        """Load everything into the objects it was checked against (Ctrl-C held back)."""
        with deferred_interrupt():
            model.load_state_dict(self.params)
            if optimizer is not None:
                optimizer.steps, optimizer.lr, optimizer.state = self.optim
            if scheduler is not None:
                scheduler.load_state_dict(self.scheduler)
            if rng is not None:
                rng.bit_generator.state = self.rng


def _bad(path, what, problems):
    return CheckpointError(f"checkpoint {path!r} {what}: " + "; ".join(problems))


def _fits(shape, want):
    """``shape`` matches ``want`` (``None`` in ``want``: any size)."""
    return len(shape) == len(want) and all(w is None or w == d for d, w in zip(shape, want))


def is_int(v) -> bool:
    """An integer read from JSON metadata (``True``/``False`` are not)."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_meta(meta) -> list:
    """The problems of a checkpoint's metadata (empty when it is well formed)."""
    if not isinstance(meta, dict):
        return [f"meta must be a JSON object, got {type(meta).__name__}"]
    known = {"format", "epoch", "history", "rng", "optimizer", "scheduler", "fit"}
    problems = [f"unexpected meta[{k!r}]" for k in meta if k not in known]
    fmt = meta.get("format", 1)
    if not is_int(fmt) or not 1 <= fmt <= FORMAT:
        problems.append(f"meta['format'] must be 1..{FORMAT}, got {fmt!r}")
    if not is_int(meta.get("epoch")) or meta["epoch"] < 0:
        problems.append(f"meta['epoch'] must be an integer >= 0, got {meta.get('epoch')!r}")
    history = meta.get("history")
    if not isinstance(history, dict):
        problems.append(f"meta['history'] must be an object, got {type(history).__name__}")
    else:
        for k, v in history.items():
            if not isinstance(v, list) or not all(
                    isinstance(x, numbers.Real) and not isinstance(x, bool) for x in v):
                problems.append(f"meta['history'][{k!r}] must be a list of numbers")
    for k, kind in (("rng", dict), ("scheduler", dict), ("fit", dict), ("optimizer", str)):
        if meta.get(k) is not None and not isinstance(meta[k], kind):
            problems.append(f"meta[{k!r}] must be {kind.__name__} or null, "
                            f"got {type(meta[k]).__name__}")
    return problems


def read_checkpoint(path: str, model, optimizer=None, rng=None, scheduler=None,
                    fit_shapes: Optional[Mapping[str, tuple]] = None) -> Checkpoint:
    """Read ``path`` and check it against the given objects; changes nothing.

    Checked, each naming the culprit in a :class:`CheckpointError`: the file (a readable
    archive of plain arrays, each member holding the data its header declares), the
    parameters and optimizer entries (names, shapes and dtypes from the headers, before any
    data is read; then values and step counts), the metadata (types of every field), the
    optimizer's type, the scheduler's state, the RNG state and ``fit``'s arrays
    (``fit_shapes``: name -> expected shape, ``None`` for any size; other ``fit.*`` members
    are not read)."""
    own = model.parameters()
    with NpzReader(path, CheckpointError, "checkpoint") as f:
        path = f.path
        heads = f.headers
        mine = {k[6:]: v for k, v in heads.items() if k.startswith("param.")}
        problems = [f"missing {k!r}" for k in own if k not in mine]
        problems += [f"unexpected {k!r}" for k in mine if k not in own]
        problems += [f"{k}: expected {own[k].shape} numbers, got {s} {d}"
                     for k, (s, d) in mine.items()
                     if k in own and (s != own[k].shape or d.kind not in "biuf")]
        if problems:
            raise _bad(path, "does not match the model", problems)
        if optimizer is not None:
            shapes = optimizer.state_shapes()
            theirs = {k[6:]: v for k, v in heads.items() if k.startswith("optim.")}
            problems = [f"unexpected {k!r}" for k in theirs if k not in shapes]
            problems += [f"{k}: expected shape {shapes[k]}, got {s}"
                         for k, (s, _) in theirs.items() if k in shapes and s != shapes[k]]
            if problems:
                raise _bad(path, f"does not match the optimizer ({type(optimizer).__name__})",
                           problems)
        want_fit = {k: s for k, s in (fit_shapes or {}).items() if f"fit.{k}" in heads}
        problems = [f"fit.{k}: expected shape {s}, got {heads[f'fit.{k}'][0]}"
                    for k, s in want_fit.items() if not _fits(heads[f"fit.{k}"][0], s)]
        if problems:
            raise _bad(path, "does not match this training run", problems)
        shape, dtype = heads.get("meta", (None, None))
        if shape != () or dtype.kind != "U" or dtype.itemsize > META_LIMIT:
            raise _bad(path, "has no readable metadata",
                       [f"meta: expected a text scalar of at most {META_LIMIT} bytes, got "
                        + ("no member" if shape is None else f"{shape} {dtype}")])
        params = {k: f.read(f"param.{k}") for k in own}
        optim = {k[6:]: f.read(k) for k in heads if k.startswith("optim.")} \
            if optimizer is not None else None
        fit_arrays = {k: f.read(f"fit.{k}") for k in want_fit}
        text = str(f.read("meta"))
    try:
        meta = json.loads(text)
    except ValueError as e:
        raise _bad(path, "has bad metadata", [f"meta is not JSON ({e})"]) from None
    problems = _check_meta(meta)
    if problems:
        raise _bad(path, "has bad metadata", problems)
    try:
        params = model.check_state_dict(params)
    except StateDictError as e:
        raise _bad(path, "does not match the model", [str(e)]) from None
    if optimizer is not None:
        kind = meta.get("optimizer")
        if kind is not None and kind != type(optimizer).__name__:
            raise _bad(path, "does not match the optimizer",
                       [f"written by {kind}, loading into {type(optimizer).__name__}"])
        try:
            optim = optimizer.check_state_dict(optim)
        except StateDictError as e:
            raise _bad(path, f"does not match the optimizer ({type(optimizer).__name__})",
                       [str(e)]) from None
    if scheduler is not None:
        state = meta.get("scheduler")
        problems = (["no scheduler state in the checkpoint"] if state is None
                    else scheduler.check_state_dict(state))
        if problems:
            raise _bad(path, f"does not match the scheduler ({type(scheduler).__name__})",
                       problems)
    if rng is not None:
        if meta.get("rng") is None:
            raise _bad(path, "does not match the RNG", ["no RNG state in the checkpoint"])
        try:
            type(rng.bit_generator)().state = meta["rng"]
        except (TypeError, ValueError, KeyError) as e:
            raise _bad(path, "does not match the RNG",
                       [f"bad {type(rng.bit_generator).__name__} state ({e})"]) from None
    return Checkpoint(path, meta["epoch"], meta["history"], meta.get("fit"), fit_arrays,
                      params, optim, meta.get("rng"), meta.get("scheduler"))


def load_checkpoint(path: str, model, optimizer=None, rng: Optional[np.random.Generator] = None,
                    scheduler=None) -> dict:
    """Restore what :func:`save_checkpoint` wrote; returns ``{"epoch", "history"}``.

    All or nothing: everything is read and checked first (:func:`read_checkpoint`), so a
    truncated, corrupted, crafted or mismatched file raises :class:`CheckpointError` and
    leaves the model, optimizer, scheduler and RNG as they were."""
    ck = read_checkpoint(path, model, optimizer, rng, scheduler)
    ck.apply(model, optimizer, rng, scheduler)
    return {"epoch": ck.epoch, "history": ck.history}
