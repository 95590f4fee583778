"""Training: ``fit`` (batching, padding and masks, clipping, validation, early stopping,
checkpoints and bit-identical resume, truncated BPTT) and ``.npz`` checkpoints.

A model for ``fit`` is a module with ``graph(steps, initial_states=False, mask=False)``
whose input is ``input`` (time-major) and whose outputs include ``output``: every recurrent
model, :class:`~graphrnn.models.Readout` and :class:`~graphrnn.models.LanguageModel`.
The loss is written with nodes: ``loss(outputs, target, mask) -> scalar node``.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from . import ops as F
from .autodiff import grad_graph
from .ir import Graph, Node
from .models.keys import function_key
from .optim import Optimizer, clip_grad_norm, clip_grad_value
from .shapes import B

__all__ = ["fit", "save_checkpoint", "load_checkpoint", "CheckpointError", "pad_batch"]


class CheckpointError(ValueError):
    """A checkpoint file is unreadable or does not match the model or optimizer."""


# ------------------------------------------------------------ data
def pad_batch(seqs: Sequence[np.ndarray], dtype=None):
    """Variable-length sequences ``(T_i, ...)`` as one time-major ``(T, B, ...)`` array padded
    with zeros, and the ``(T, B)`` bool mask of real steps."""
    steps = max(len(s) for s in seqs)
    first = np.asarray(seqs[0])
    out = np.zeros((steps, len(seqs)) + first.shape[1:], dtype=dtype or first.dtype)
    mask = np.zeros((steps, len(seqs)), dtype=bool)
    for b, s in enumerate(seqs):
        out[:len(s), b] = s
        mask[:len(s), b] = True
    return out, mask


class _Batches:
    """The data as time-major batches: inputs, targets (per step or per sequence), mask."""

    def __init__(self, inputs, targets):
        self.variable = isinstance(inputs, (list, tuple))
        self.inputs = list(inputs) if self.variable else np.asarray(inputs)
        self.targets = list(targets) if isinstance(targets, (list, tuple)) else np.asarray(targets)
        self.n = len(self.inputs)
        if len(self.targets) != self.n:
            raise ValueError(f"fit: {self.n} input sequences but {len(self.targets)} targets")
        lens = [len(x) for x in self.inputs]
        # per-step targets have one entry per input step
        self.per_step = all(np.ndim(t) >= 1 and len(t) == n for t, n in zip(self.targets, lens))

    def batch(self, idx):
        xs = [self.inputs[i] for i in idx]
        ys = [self.targets[i] for i in idx]
        if self.variable:
            x, mask = pad_batch(xs)
        else:
            x = np.stack(xs, axis=1)
            mask = None
        if self.per_step:
            y = pad_batch(ys)[0] if self.variable else np.stack(ys, axis=1)
        else:
            y = np.stack([np.asarray(t) for t in ys])
        return x, y, mask


# ------------------------------------------------------------ checkpoints
def save_checkpoint(path: str, model, optimizer: Optional[Optimizer] = None, epoch: int = 0,
                    rng: Optional[np.random.Generator] = None,
                    history: Optional[Mapping] = None) -> str:
    """Write parameters, optimizer state, epoch, RNG state and history to ``.npz`` (no pickle).

    The file is written next to ``path`` and renamed into place, so a crash leaves either the
    old checkpoint or the new one, never half of one."""
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    arrays = {f"param.{k}": v for k, v in model.state_dict().items()}
    if optimizer is not None:
        arrays.update({f"optim.{k}": v for k, v in optimizer.state_dict().items()})
    meta = {"epoch": int(epoch), "history": history or {},
            "rng": rng.bit_generator.state if rng is not None else None}
    arrays["meta"] = np.array(json.dumps(meta, default=float))
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str, model, optimizer: Optional[Optimizer] = None,
                    rng: Optional[np.random.Generator] = None) -> dict:
    """Restore what :func:`save_checkpoint` wrote; returns ``{"epoch", "history"}``.

    Everything is read and checked (names, shapes) before anything changes: a truncated or
    corrupted file raises :class:`CheckpointError` and leaves the model as it was."""
    try:
        with np.load(os.fspath(path), allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"cannot read checkpoint {path!r}: {type(e).__name__}: {e}") from None
    params = {k[6:]: v for k, v in arrays.items() if k.startswith("param.")}
    own = model.state_dict()
    problems = sorted(set(own) ^ set(params)) + [
        f"{k} {v.shape} != {own[k].shape}" for k, v in params.items() if k in own and v.shape != own[k].shape]
    if problems:
        raise CheckpointError(f"checkpoint {path!r} does not match the model: {problems}")
    optim = {k[6:]: v for k, v in arrays.items() if k.startswith("optim.")}
    if optimizer is not None:
        want = {f"{k}.m" for k in optimizer.params} | {f"{k}.v" for k in optimizer.params} | set(optimizer.params)
        stray = [k[6:] for k in optim if k.startswith("state.") and k[6:] not in want]
        if "steps" not in optim or stray:
            raise CheckpointError(f"checkpoint {path!r} has no matching optimizer state "
                                  f"({'missing steps' if 'steps' not in optim else stray})")
    model.load_state_dict(params)
    if optimizer is not None:
        optimizer.load_state_dict(optim)
    if rng is not None and meta.get("rng") is not None:
        rng.bit_generator.state = meta["rng"]
    return {"epoch": meta["epoch"], "history": meta["history"]}


# ------------------------------------------------------------ fit
def _tqdm(total, desc, enabled):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is optional: train without a bar
        return None
    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)


def fit(model, data, loss: Callable[[Dict[str, Node], Node, Optional[Node]], Node],
        optimizer: Optimizer, epochs: int = 1, batch_size: int = 32, shuffle: bool = True,
        seed: int = 0, validation=None,
        metrics: Optional[Mapping[str, Callable]] = None, clip_norm: Optional[float] = None,
        clip_value: Optional[float] = None, scheduler=None,
        early_stopping: Optional[int] = None, checkpoint_every: Optional[int] = None,
        checkpoint_path: Optional[str] = None, resume: Optional[str] = None,
        tbptt: Optional[int] = None, progress: bool = True) -> Dict[str, List[float]]:
    """Train ``model`` on ``data = (inputs, targets)``; returns the history.

    ``inputs`` is an array ``(N, T, ...)`` or a list of ``(T_i, ...)`` sequences (padded per
    batch, with a mask); ``targets`` per sequence ``(N, ...)`` or per step (one per input
    step).  ``loss(outputs, target, mask)`` builds the scalar loss from the model's output
    nodes, the target node (time-major when per step) and the mask node (or None).
    ``metrics`` are ``name -> fn(output, target, mask) -> float`` on NumPy arrays, computed
    on ``validation = (inputs, targets)`` each epoch with the validation loss.

    Gradients are clipped by global norm (``clip_norm``) or value; ``scheduler.step()`` runs
    each epoch; ``early_stopping=p`` stops after ``p`` epochs without a better validation (or
    training) loss and restores the best parameters; ``checkpoint_every=n`` writes
    ``checkpoint_path`` every n epochs, and ``resume=path`` continues from one, bit for bit.
    ``tbptt=k`` trains on k-step chunks, carrying the states and cutting the gradient.

    History: ``loss`` and ``grad_norm`` per step; ``epoch_loss``, ``val_loss``, each metric
    and ``lr`` per epoch.
    """
    batches = _Batches(*data)
    val = _Batches(*validation) if validation is not None else None
    rng = np.random.default_rng(seed)
    params = model.parameters()
    if set(params) != set(optimizer.params) or any(params[k] is not optimizer.params[k]
                                                     for k in params):
        raise ValueError("fit: the optimizer must be built on model.parameters()")
    history: Dict[str, List[float]] = {"loss": [], "grad_norm": [], "epoch_loss": [],
                                       "val_loss": [], "lr": []}
    for name in metrics or {}:
        history[name] = []
    start = 0
    if resume is not None:
        info = load_checkpoint(resume, model, optimizer, rng)
        start, history = info["epoch"], {k: list(v) for k, v in info["history"].items()}
    if tbptt is not None and not batches.per_step:
        raise ValueError("fit: truncated BPTT needs per-step targets")
    def program(target_shape, target_dtype, masked, carry, train):
        """The model's program for this kind of batch (kept on the model: a second ``fit``
        compiles nothing); one program for every sequence length."""
        key = ("fit", function_key(loss), target_shape, np.dtype(target_dtype).str, masked,
               carry, train)

        def build(T):
            g = model.graph(T, initial_states=carry, mask=masked)
            shape = ((T, B) if batches.per_step else (B,)) + target_shape
            target = F.input("target", shape, target_dtype)
            mask = g.inputs.get("mask") if masked else None
            value = loss(dict(g.outputs), target, mask)
            if not isinstance(value, Node) or value.shape != ():
                raise ValueError(f"fit: loss must return a scalar node, got {value!r}")
            graph = Graph({"loss": value, **g.outputs}, name="train" if train else "eval")
            if train:  # adds "dloss/d<name>" for every parameter
                graph = grad_graph(graph, list(params), loss="loss")
            return graph
        return model.program(key, build)

    def run(x, y, mask, train, states=None):
        tshape = y.shape[(2 if batches.per_step else 1):]
        prog = program(tshape, y.dtype, mask is not None, states is not None, train)
        feeds = {"input": x, "target": y}
        if mask is not None:
            feeds["mask"] = mask
        if states is not None:
            feeds.update(states)
        names = prog.param_names
        out = prog(feeds, params if names is None else {k: params[k] for k in names},
                   copy=False)
        if prog.backend.name != "numpy":
            out = {k: prog.backend.to_numpy(v) for k, v in out.items()}
        return out

    def evaluate(split: _Batches):
        total, count, outs, ys, masks = 0.0, 0, [], [], []
        for lo in range(0, split.n, batch_size):
            x, y, mask = split.batch(range(lo, min(lo + batch_size, split.n)))
            out = run(x, y, mask, train=False)
            n = x.shape[1]
            total, count = total + float(out["loss"]) * n, count + n
            outs.append(np.array(out["output"]))
            ys.append(y)
            masks.append(mask)
        result = {"val_loss": total / count}
        for name, fn in (metrics or {}).items():
            result[name] = float(np.mean([fn(o, t, m) for o, t, m in zip(outs, ys, masks)]))
        return result

    best, best_params, waited = math.inf, None, 0
    for epoch in range(start, epochs):
        order = rng.permutation(batches.n) if shuffle else np.arange(batches.n)
        bar = _tqdm(batches.n, f"epoch {epoch + 1}/{epochs}", progress)
        epoch_total = 0.0
        for lo in range(0, batches.n, batch_size):
            idx = order[lo:lo + batch_size]
            x, y, mask = batches.batch(idx)
            chunks = [(0, x.shape[0])] if tbptt is None else [
                (s, min(s + tbptt, x.shape[0])) for s in range(0, x.shape[0], tbptt)]
            states = None
            if tbptt is not None:
                shape = _state_shape(model, x.shape[1])
                states = {f"{s}0": np.zeros(shape, model.dtype) for s in model.state_names}
            for a, b in chunks:
                out = run(x[a:b], y[a:b] if batches.per_step else y,
                          None if mask is None else mask[a:b], True, states)
                grads = {k: np.array(out[f"dloss/d{k}"]) for k in params}
                norm = clip_grad_norm(grads, clip_norm if clip_norm else math.inf)
                if clip_value is not None:
                    clip_grad_value(grads, clip_value)
                optimizer.step(grads)
                if states is not None:  # carry the state, cut the gradient
                    states = {f"{s}0": np.array(out[f"{s}_n"]) for s in model.state_names}
                history["loss"].append(float(out["loss"]))
                history["grad_norm"].append(norm)
            epoch_total += history["loss"][-1] * len(idx)
            if bar is not None:
                bar.update(len(idx))
                bar.set_postfix(loss=f"{history['loss'][-1]:.4g}")
        if bar is not None:
            bar.close()
        history["epoch_loss"].append(epoch_total / batches.n)
        history["lr"].append(optimizer.lr)
        watched = history["epoch_loss"][-1]
        if val is not None:
            res = evaluate(val)
            for k, v in res.items():
                history[k].append(v)
            watched = res["val_loss"]
        if scheduler is not None:
            scheduler.step()
        if checkpoint_every and (epoch + 1) % checkpoint_every == 0:
            if not checkpoint_path:
                raise ValueError("fit: checkpoint_every needs checkpoint_path")
            save_checkpoint(checkpoint_path, model, optimizer, epoch + 1, rng, history)
        if early_stopping is not None:
            if watched < best:
                best, best_params, waited = watched, model.state_dict(), 0
            else:
                waited += 1
                if waited >= early_stopping:
                    model.load_state_dict(best_params)
                    history["stopped_early"] = [epoch + 1]
                    break
    return history


def _state_shape(model, batch: int):
    """``(layers * directions, B, H)``: the shape of a model's carried states."""
    rnn = getattr(model, "rnn", model)
    return (rnn.num_layers * rnn.num_directions, batch, rnn.hidden_size)
