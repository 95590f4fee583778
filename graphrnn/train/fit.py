"""Training: ``fit`` (batching, padding and masks, clipping, validation, early stopping,
checkpoints and bit-identical resume, truncated BPTT); checkpoints live in
:mod:`graphrnn.train.checkpoint` and are importable from here.

A model for ``fit`` follows the model protocol (:class:`graphrnn.models.Module`):
``graph(*lengths, initial_states=False, mask=False)`` over its ``sequence_inputs``
(time-major), with an output ``output`` and, for truncated BPTT, its carried states'
``<s>0`` inputs and ``<s>_n`` outputs (``state_shapes``).  Every model of the zoo does:
the recurrent layers, ``Elman``, ``Jordan``, ``Autonomous``, ``Readout``,
``LanguageModel`` and ``Seq2Seq``.  The loss is written with nodes:
``loss(outputs, target, mask) -> scalar node``.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, List, Mapping, Optional

import numpy as np

from ..core import ops as F
from ..transforms.autodiff import grad_graph
from .batches import Batches, pad_batch
from .checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from .distributed import (GradientAverager, abort_on_error, broadcast_parameters,
                          check_same_data, resolve, shard)
from .fit_state import FitState, NonFiniteLossError, check_settings
from ..core.ir import Graph, Node
from ..models.keys import function_key
from .optim import Optimizer, clip_grad_norm, clip_grad_value
from ..core.safeio import deferred_interrupt
from ..core.shapes import B

#: where the loss rides along with the gradients in the one allreduce of a step
_LOSS = "\0loss"

__all__ = ["fit", "save_checkpoint", "load_checkpoint", "read_checkpoint", "CheckpointError",
           "NonFiniteLossError", "pad_batch"]


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
        tbptt: Optional[int] = None, progress: bool = True,
        on_nonfinite: str = "raise", distributed=None,
        normalizer: str = "auto") -> Dict[str, List[float]]:
    """Train ``model`` on ``data = (inputs, targets)``; returns the history.

    ``inputs`` is an array ``(N, T, ...)`` or a list of ``(T_i, ...)`` sequences (padded per
    batch, with a mask); ``targets`` per sequence ``(N, ...)`` or per step (one per input
    step).  A model of several sequence inputs takes a dict of them by name (a
    ``Seq2Seq``: ``{"src": ..., "tgt_in": ...}``; only the one its outputs run along may
    vary in length); one that reads none (``Autonomous``) takes ``None``, and its per-step
    targets give the number of steps.  ``loss(outputs, target, mask)`` builds the scalar
    loss from the model's output nodes, the target node (time-major when per step) and the
    mask node (or None).
    ``metrics`` are ``name -> fn(output, target, mask) -> float`` on NumPy arrays, computed
    on ``validation = (inputs, targets)`` each epoch with the validation loss.

    Gradients are clipped by global norm (``clip_norm``) or value; ``scheduler.step()`` runs
    each epoch; ``early_stopping=p`` stops after ``p`` epochs without a better validation (or
    training) loss and restores the best parameters; ``checkpoint_every=n`` writes
    ``checkpoint_path`` every n epochs (and when stopping early), and ``resume=path``
    continues from one, bit for bit (parameters, optimizer, scheduler, early stopping, RNG,
    history and position are all saved).  ``tbptt=k`` trains on k-step chunks, carrying the
    states and cutting the gradient.

    A non-finite loss or gradient norm raises :class:`NonFiniteLossError` (epoch, step,
    value) before the update (``on_nonfinite="raise"``), or skips the update and records the
    step's index in ``history["skipped"]`` (``"skip"``; skipped steps leave ``epoch_loss``).
    Ctrl-C never leaves half a step: the ``KeyboardInterrupt`` carries ``.history`` (every
    completed step) and, with ``checkpoint_path``, ``.checkpoint``: a checkpoint of the
    last completed step, written before re-raising, from which ``resume`` continues bit
    for bit.  Every setting is checked first (``ValueError`` naming it).

    Data parallel (``docs/scaling.md``): started by ``mpiexec`` with several ranks, or given
    ``distributed=`` a :mod:`graphrnn.distributed` communicator, every rank trains on its
    shard of each global batch; gradients are all-reduced once per step and every rank
    applies the same update (rank 0's initial parameters are broadcast first).  The result
    equals one process on the same global batches up to summation order when ``normalizer``
    says what the loss divides by (``"steps"``: unmasked steps, ``"sequences"``: the batch,
    ``"none"``: a sum; ``"auto"``: steps for padded per-step targets, else sequences: every
    built-in loss's mean).  Rank 0 alone shows progress and writes checkpoints.
    ``distributed=False`` stays in one process.

    History: ``loss`` and ``grad_norm`` per step (chunk, with ``tbptt``); ``epoch_loss``
    (the mean of the epoch's batch losses weighted by sequences, a batch's chunks weighted
    by their real steps), ``val_loss``, each metric and ``lr`` per epoch.
    """
    check_settings(data, loss, optimizer, epochs, batch_size, validation, metrics, clip_norm,
                   clip_value, scheduler, early_stopping, checkpoint_every, checkpoint_path,
                   resume, tbptt, on_nonfinite)
    primary = _primary(model)
    for name, pair in (("data", data), ("validation", validation)):
        if pair is not None:
            _check_inputs(model, pair[0], name)
    batches = Batches(*data, primary=primary)
    val = Batches(*validation, primary=primary) if validation is not None else None
    for name, split in (("data", batches), ("validation", val)):
        if split is not None and split.n == 0:
            raise ValueError(f"fit: {name} holds no sequences")
    rng = np.random.default_rng(seed)
    params = model.parameters()
    if set(params) != set(optimizer.params) or any(params[k] is not optimizer.params[k]
                                                     for k in params):
        raise ValueError("fit: the optimizer must be built on model.parameters()")
    if tbptt is not None:
        _check_tbptt(model, batches)
    comm = resolve(distributed)
    if normalizer not in ("auto", "steps", "sequences", "none"):
        raise ValueError(f"fit: normalizer must be 'auto', 'steps', 'sequences' or 'none', "
                         f"got {normalizer!r}")
    averager = GradientAverager(comm) if comm.size > 1 else None
    history: Dict[str, List[float]] = {"loss": [], "grad_norm": [], "epoch_loss": [],
                                       "val_loss": [], "lr": []}
    for name in metrics or {}:
        history[name] = []
    settings = {"n": batches.n, "batch_size": int(batch_size), "tbptt": tbptt,
                "shuffle": bool(shuffle)}
    check_same_data(comm, batches.n, batch_size)  # else the ranks' collectives would differ
    with abort_on_error(comm):  # one rank failing to read the checkpoint stops them all
        if resume is not None:
            carry = None if tbptt is None else model.state_shapes(None)
            st = FitState.resume(resume, model, optimizer, rng, scheduler, settings, history,
                                 carry)
            st.stopped = st.stopped and early_stopping is not None  # without it: train on
        else:
            st = FitState(history, rng.bit_generator.state)
        broadcast_parameters(params, comm)  # every rank starts from rank 0's parameters

    def program(target_shape, target_dtype, masked, carry, train):
        """The model's program for this kind of batch (kept on the model: a second ``fit``
        compiles nothing); one program for every sequence length."""
        key = ("fit", function_key(loss), target_shape, np.dtype(target_dtype).str, masked,
               carry, train)

        graph_of = model.graph_fn(initial_states=carry, mask=masked)
        along = model.lengths[-1]  # the length symbol the outputs (and targets) run along

        def build(**lengths):
            g = graph_of(**lengths)
            shape = ((lengths[along], B) if batches.per_step else (B,)) + target_shape
            target = F.input("target", shape, target_dtype)
            mask = g.inputs.get("mask") if masked else None
            value = loss(dict(g.outputs), target, mask)
            if not isinstance(value, Node) or value.shape != ():
                raise ValueError(f"fit: loss must return a scalar node, got {value!r}")
            if "loss" in g.outputs:
                raise ValueError(f"fit: the model has an output named 'loss', which fit's "
                                 f"loss would replace; rename it (outputs: {list(g.outputs)})")
            graph = Graph({"loss": value, **g.outputs}, name="train" if train else "eval")
            if train:  # adds "dloss/d<name>" for every parameter the graph reads
                graph = grad_graph(graph, [k for k in params if k in g.params], loss="loss")
            return graph
        build.__signature__ = graph_of.__signature__
        return model.program(key, build)

    def run(x, y, mask, train, states=None):
        tshape = y.shape[(2 if batches.per_step else 1):]
        prog = program(tshape, y.dtype, mask is not None, states is not None, train)
        feeds = {**x, "target": y}
        if mask is not None:
            feeds["mask"] = mask
        if states is not None:
            feeds.update(states)
        names = prog.param_names
        out = prog(feeds, params if names is None else {k: params[k] for k in names},
                   copy=False)
        if prog.backend.xp is not np:  # device arrays (NumPy and native hand back NumPy)
            out = {k: prog.backend.to_numpy(v) for k, v in out.items()}
        return out

    def evaluate(split: Batches):
        """Validation loss and metrics; with several ranks each evaluates its shard of every
        batch and the sums are reduced (weighted by each shard's share)."""
        total, sums, batches_seen = 0.0, dict.fromkeys(metrics or {}, 0.0), 0
        for lo in range(0, split.n, batch_size):
            idx = np.arange(lo, min(lo + batch_size, split.n))
            local, batches_seen = shard(idx, comm), batches_seen + 1
            if not len(local):
                continue
            steps = split.steps(idx)
            x, y, mask = split.batch(local, steps)
            out = run(x, y, mask, train=False)
            total += float(out["loss"]) * len(idx) * split.share(local, idx, 0, steps,
                                                                 normalizer)
            for name, fn in (metrics or {}).items():
                sums[name] += fn(np.array(out["output"]), y, mask) * len(local) / len(idx)
        total, *values = comm.allreduce_scalars([total, *sums.values()])
        result = {"val_loss": total / split.n}
        result.update({k: v / batches_seen for k, v in zip(sums, values)})
        return result

    def train_batch(idx):
        """Every remaining chunk of one batch; each step is committed whole (Ctrl-C held
        back) together with the history and the position."""
        local, steps = shard(idx, comm), batches.steps(idx)  # every rank: the same steps
        x, y, mask = batches.batch(local, steps) if len(local) else (None, None, None)
        chunks = [(0, steps)] if tbptt is None else [
            (s, min(s + tbptt, steps)) for s in range(0, steps, tbptt)]
        total = batches.real(idx, 0, steps)
        if st.chunk == 0:  # the first chunk starts from the model's own initial states
            st.carry = None
        for a, b in chunks[st.chunk:]:
            if len(local):
                out = run({k: v[a:b] for k, v in x.items()} if tbptt is not None else x,
                          y[a:b] if batches.per_step else y,
                          None if mask is None else mask[a:b], True, st.carry)
                grads = {k: np.array(out[f"dloss/d{k}"]) if f"dloss/d{k}" in out
                         else np.zeros_like(v) for k, v in params.items()}
                value = float(out["loss"])
                carry = None if tbptt is None else {
                    f"{s}0": np.array(out[f"{s}_n"]) for s in model.state_names}
            else:  # fewer sequences than ranks: this rank adds nothing
                grads = {k: np.zeros_like(v) for k, v in params.items()}
                value, carry = 0.0, st.carry
            if averager is not None:  # the global batch's gradient and loss, on every rank
                grads[_LOSS] = np.array([value], dtype=model.dtype)
                averager.average(grads, batches.share(local, idx, a, b, normalizer))
                value = float(grads.pop(_LOSS)[0])
            norm = clip_grad_norm(grads, clip_norm if clip_norm else math.inf)
            if clip_value is not None:
                clip_grad_value(grads, clip_value)
            weight = len(idx) * batches.real(idx, a, b) / total
            finite = math.isfinite(value) and math.isfinite(norm)
            if not finite and on_nonfinite == "raise":
                step = len(st.history["loss"]) + 1
                where = f"batch {st.lo // batch_size + 1}" + (
                    f", chunk {st.chunk + 1}" if tbptt is not None else "")
                raise NonFiniteLossError(
                    f"fit: non-finite loss {value} (gradient norm {norm}) at epoch "
                    f"{st.epoch + 1}, step {step} ({where}); the step was not applied "
                    f"(on_nonfinite='skip' skips such steps)",
                    st.epoch + 1, step, value, norm, st.history)
            with deferred_interrupt():
                if finite:
                    optimizer.step(grads)
                    st.loss_sum, st.weight = st.loss_sum + value * weight, st.weight + weight
                else:
                    st.history.setdefault("skipped", []).append(len(st.history["loss"]))
                st.history["loss"].append(value)
                st.history["grad_norm"].append(norm)
                st.carry, st.chunk = carry, st.chunk + 1
                if st.chunk == len(chunks):
                    st.chunk, st.lo, st.carry = 0, st.lo + batch_size, None

    def end_epoch(results):
        """The epoch's history, schedule and early stopping, committed whole."""
        h = st.history
        with deferred_interrupt():
            h["epoch_loss"].append(st.loss_sum / st.weight if st.weight else math.nan)
            h["lr"].append(optimizer.lr)
            for k, v in results.items():
                h[k].append(v)
            watched = results.get("val_loss", h["epoch_loss"][-1])
            if scheduler is not None:
                scheduler.step()
            if early_stopping is not None:
                if watched < st.best:
                    st.best, st.best_params, st.waited = watched, model.state_dict(), 0
                else:
                    st.waited += 1
                    if st.waited >= early_stopping:
                        st.stopped = True
                        if st.best_params is not None:
                            model.load_state_dict(st.best_params)
                        h["stopped_early"] = [st.epoch + 1]
            st.epoch, st.lo, st.chunk, st.loss_sum, st.weight = st.epoch + 1, 0, 0, 0.0, 0.0
            st.epoch_rng = rng.bit_generator.state

    root, bar = comm.is_root, None  # rank 0 alone shows progress and writes checkpoints
    # a rank that fails alone stops them all (none waits forever); a non-finite loss is seen
    # by every rank at once (it is reduced first) and is raised as it is
    with abort_on_error(comm, collective=(NonFiniteLossError,)):
        try:
            while st.epoch < epochs and not st.stopped:
                order = rng.permutation(batches.n) if shuffle else np.arange(batches.n)
                bar = _tqdm(batches.n, f"epoch {st.epoch + 1}/{epochs}", progress and root)
                if bar is not None and st.lo:
                    bar.update(min(st.lo, batches.n))
                while st.lo < batches.n:
                    idx = order[st.lo:st.lo + batch_size]
                    train_batch(idx)
                    if bar is not None:
                        bar.update(len(idx))
                        bar.set_postfix(loss=f"{st.history['loss'][-1]:.4g}")
                end_epoch(evaluate(val) if val is not None else {})
                if bar is not None:
                    bar.close()
                    bar = None
                if checkpoint_every and root and (st.epoch % checkpoint_every == 0
                                                  or st.stopped):
                    st.save(checkpoint_path, model, optimizer, scheduler, settings)
        except KeyboardInterrupt as e:
            e.history = st.history
            if checkpoint_path and root and (comm.size == 1 or not st.chunk):
                # (several ranks: a chunk's carried states live on every rank, so only a
                # batch boundary can be resumed from)
                e.checkpoint = st.save(checkpoint_path, model, optimizer, scheduler, settings)
            raise
        finally:
            if bar is not None:
                bar.close()
        if comm.size > 1 and checkpoint_path:
            comm.barrier()  # rank 0's checkpoint is on disk before any rank goes on
    return st.history


def _primary(model) -> Optional[str]:
    """The sequence input ``model``'s outputs run along (None: it reads no sequence)."""
    along = model.lengths[-1]
    return next((k for k, v in model.sequence_inputs.items() if v == along), None)


def _check_inputs(model, inputs, split: str) -> None:
    """Refuse ``inputs`` that do not name the model's sequence inputs."""
    want, name = list(model.sequence_inputs), type(model).__name__
    if isinstance(inputs, Mapping):
        if set(inputs) != set(want):
            raise ValueError(f"fit: {split} names the inputs {sorted(inputs)}; {name} reads "
                             f"{sorted(want)}")
    elif inputs is None and want:
        raise ValueError(f"fit: {split} has no inputs; {name} reads {want}")
    elif inputs is not None and len(want) != 1:
        raise ValueError(f"fit: {name} reads " + (
            f"the sequences {want}: give {split}'s inputs as a dict of them" if want else
            f"no input sequence: give {split} as (None, targets)"))


def _check_tbptt(model, batches: Batches) -> None:
    """Refuse truncated BPTT where chunks cannot carry the states."""
    if not batches.per_step:
        raise ValueError("fit: truncated BPTT needs per-step targets")
    name = type(model).__name__
    if not model.causal:
        raise ValueError(f"fit: truncated BPTT needs a causal model; {name} reads later steps "
                         f"(bidirectional), which a chunk does not have")
    if not model.state_names:
        raise ValueError(f"fit: truncated BPTT carries states from chunk to chunk; {name} "
                         f"carries none")
    if len(batches.inputs) > 1:
        raise ValueError(f"fit: truncated BPTT cuts the sequence the outputs run along; "
                         f"{name} reads {len(batches.inputs)} sequences")
