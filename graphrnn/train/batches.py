"""``fit``'s data: sequences batched time-major, padded per batch with a mask of real steps,
and cut into the shards of data-parallel training."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

__all__ = ["pad_batch", "Batches"]


def pad_batch(seqs: Sequence[np.ndarray], dtype=None, steps: Optional[int] = None):
    """Variable-length sequences ``(T_i, ...)`` as one time-major ``(T, B, ...)`` array padded
    with zeros (to ``steps`` when given, else the longest), and the ``(T, B)`` bool mask of
    real steps."""
    steps = max(len(s) for s in seqs) if steps is None else steps
    first = np.asarray(seqs[0])
    out = np.zeros((steps, len(seqs)) + first.shape[1:], dtype=dtype or first.dtype)
    mask = np.zeros((steps, len(seqs)), dtype=bool)
    for b, s in enumerate(seqs):
        out[:len(s), b] = s
        mask[:len(s), b] = True
    return out, mask


class Batches:
    """The data as time-major batches: the model's sequence inputs, targets (per step or per
    sequence) and the mask.

    ``inputs`` maps each sequence input's name to an ``(N, T, ...)`` array or a list of
    ``(T_i, ...)`` sequences; ``primary`` names the one the outputs, per-step targets and the
    mask run along (a list of it is padded per batch, with a mask).  Other inputs (a
    seq2seq's source) are stacked as they are, so their sequences must share one length.
    With no inputs at all (an autonomous system) the targets, per step, give the lengths."""

    def __init__(self, inputs, targets, primary: Optional[str] = "input"):
        if not isinstance(inputs, Mapping):
            inputs = {} if inputs is None else {primary: inputs}
        self.primary = primary if primary in inputs else None
        self.targets = list(targets) if isinstance(targets, (list, tuple)) else np.asarray(targets)
        self.n = len(self.targets)
        self.inputs = {}
        for name, data in inputs.items():
            data = list(data) if isinstance(data, (list, tuple)) else np.asarray(data)
            if len(data) != self.n:
                raise ValueError(f"fit: {len(data)} {name!r} sequences but {self.n} targets"
                                 if name != "input" else
                                 f"fit: {len(data)} input sequences but {self.n} targets")
            if name != self.primary and isinstance(data, list):
                if len({np.shape(d) for d in data}) > 1:
                    raise ValueError(f"fit: the {name!r} sequences differ in shape; only "
                                     f"{self.primary!r}, which the outputs run along, may vary "
                                     f"in length (padded, with a mask)")
                data = np.stack([np.asarray(d) for d in data]) if data else np.zeros((0,))
            self.inputs[name] = data
        if self.primary is None and not all(np.ndim(t) >= 1 for t in self.targets):
            raise ValueError("fit: a model that reads no input sequence takes per-step targets "
                             "(their length is the number of steps to run)")
        along = self.inputs[self.primary] if self.primary is not None else self.targets
        self.variable = isinstance(along, list)
        self.lengths = np.array([len(x) for x in along], dtype=np.int64)
        # per-step targets have one entry per input step
        self.per_step = all(np.ndim(t) >= 1 and len(t) == n
                            for t, n in zip(self.targets, self.lengths))

    def steps(self, idx) -> int:
        """The padded length of the batch ``idx``."""
        return int(self.lengths[idx].max())

    def batch(self, idx, steps: Optional[int] = None):
        """``(feeds, y, mask)`` of the sequences ``idx``, time-major, padded to ``steps``
        (default: the longest of them); ``mask`` is None for equal-length array data."""
        ys = [self.targets[i] for i in idx]
        feeds, mask = {}, None
        for name, data in self.inputs.items():
            xs = [data[i] for i in idx]
            if name == self.primary and self.variable:
                feeds[name], mask = pad_batch(xs, steps=steps)
            else:
                feeds[name] = np.stack(xs, axis=1)
        if self.per_step and self.variable:
            y, along = pad_batch(ys, steps=steps)
            mask = along if self.primary is None else mask
        elif self.per_step:
            y = np.stack(ys, axis=1)
        else:
            y = np.stack([np.asarray(t) for t in ys])
        return feeds, y, mask

    def real(self, idx, a: int, b: int) -> float:
        """Real (unpadded) steps of the sequences ``idx`` in steps ``a .. b - 1``."""
        return float(np.clip(self.lengths[idx] - a, 0, b - a).sum())

    def share(self, local, idx, a: int, b: int, normalizer: str = "auto") -> float:
        """The part of batch ``idx``'s loss normalizer that the shard ``local`` holds, in
        chunk ``a .. b - 1``: what a rank's loss and gradients are weighted by before they
        are summed over ranks.  ``normalizer`` says what the loss divides by: ``"steps"``
        (unmasked steps: a masked mean), ``"sequences"`` (a mean over the batch), ``"none"``
        (a sum: every rank's part counts whole); ``"auto"`` is ``"steps"`` for per-step
        targets with padding and ``"sequences"`` otherwise."""
        if normalizer == "none":
            return 1.0
        if normalizer == "steps" or normalizer == "auto" and self.per_step and self.variable:
            total = self.real(idx, a, b)
            return self.real(local, a, b) / total if total else 0.0
        return len(local) / len(idx)
