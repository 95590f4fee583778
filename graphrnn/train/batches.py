"""``fit``'s data: sequences batched time-major, padded per batch with a mask of real steps,
and cut into the shards of data-parallel training."""

from __future__ import annotations

from typing import Optional, Sequence

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
    """The data as time-major batches: inputs, targets (per step or per sequence), mask."""

    def __init__(self, inputs, targets):
        self.variable = isinstance(inputs, (list, tuple))
        self.inputs = list(inputs) if self.variable else np.asarray(inputs)
        self.targets = list(targets) if isinstance(targets, (list, tuple)) else np.asarray(targets)
        self.n = len(self.inputs)
        if len(self.targets) != self.n:
            raise ValueError(f"fit: {self.n} input sequences but {len(self.targets)} targets")
        self.lengths = np.array([len(x) for x in self.inputs], dtype=np.int64)
        # per-step targets have one entry per input step
        self.per_step = all(np.ndim(t) >= 1 and len(t) == n
                            for t, n in zip(self.targets, self.lengths))

    def steps(self, idx) -> int:
        """The padded length of the batch ``idx``."""
        return int(self.lengths[idx].max())

    def batch(self, idx, steps: Optional[int] = None):
        """``(x, y, mask)`` of the sequences ``idx``, padded to ``steps`` (default: the
        longest of them); ``mask`` is None for equal-length array data."""
        xs = [self.inputs[i] for i in idx]
        ys = [self.targets[i] for i in idx]
        if self.variable:
            x, mask = pad_batch(xs, steps=steps)
        else:
            x = np.stack(xs, axis=1)
            mask = None
        if self.per_step:
            y = pad_batch(ys, steps=steps)[0] if self.variable else np.stack(ys, axis=1)
        else:
            y = np.stack([np.asarray(t) for t in ys])
        return x, y, mask

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
