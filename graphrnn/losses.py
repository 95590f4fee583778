"""Losses built from ops, so they differentiate (and optimize, and render) like the models.

Shapes follow the models: per-step outputs are time-major ``(T, B, ...)``; a classification
on the final step or a pooled output is ``(B, C)``.  ``mask`` (bool, the shape of the
per-element losses) drops padded steps; a reduction then averages over the real ones.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import ops as F
from .ir import Node
from .shapes import ShapeError, format_shape

__all__ = ["cross_entropy", "squared_error", "sequence_loss", "reduce_loss"]


def reduce_loss(per_element: Node, mask: Optional[Node] = None, reduction: str = "mean",
                weight: Optional[Node] = None) -> Node:
    """``"mean"`` (over unmasked elements, weighted when ``weight`` is given), ``"sum"`` or
    ``"none"`` of a tensor of per-element losses."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    w = weight
    if mask is not None:
        if mask.shape != per_element.shape or mask.dtype.kind != "b":
            raise ShapeError(f"loss mask must be bool {format_shape(per_element.shape)}, got "
                             f"{mask.label()}")
        m = F.cast(mask, per_element.dtype)
        w = m if w is None else w * m
    total = per_element if w is None else per_element * w
    if reduction == "none":
        return total
    if reduction == "sum":
        return F.sum(total)
    if w is None:
        return F.mean(total)
    return F.sum(total) / F.sum(w)


def cross_entropy(logits: Node, targets: Node, weight=None, mask: Optional[Node] = None,
                  reduction: str = "mean") -> Node:
    """Cross-entropy of integer ``targets`` under ``logits`` ``(..., C)``, computed stably
    (``-log_softmax`` picked by ``gather``).  ``weight`` (C,) weighs classes; with ``"mean"``
    the sum is divided by the total weight of the targets, as PyTorch does."""
    if targets.shape != logits.shape[:-1]:
        raise ShapeError(f"cross_entropy: targets {format_shape(targets.shape)} must match the "
                         f"logits {format_shape(logits.shape)} without their last axis")
    nll = -F.gather(F.log_softmax(logits, -1), targets)
    w = None
    if weight is not None:
        wn = weight if isinstance(weight, Node) else F.const(np.asarray(weight), logits.dtype)
        w = F.gather(F.broadcast_to(wn, logits.shape), targets)
    return reduce_loss(nll, mask, reduction, w)


def squared_error(pred: Node, target: Node, mask: Optional[Node] = None,
                  reduction: str = "mean") -> Node:
    """``(pred - target)^2``, reduced; a ``(T, B)`` mask covers ``(T, B, D)`` predictions."""
    if pred.shape != target.shape:
        raise ShapeError(f"squared_error: prediction {format_shape(pred.shape)} and target "
                         f"{format_shape(target.shape)} differ")
    err = F.square(pred - target)
    if mask is not None and mask.ndim < err.ndim:
        err = F.sum(err, axis=tuple(range(mask.ndim, err.ndim)))
    return reduce_loss(err, mask, reduction)


def sequence_loss(per_step: Node, mask: Optional[Node] = None, over_time: str = "sum") -> Node:
    """A ``(T, B)`` tensor of per-step losses as one number: summed over time (``"sum"``, the
    sequence-prediction loss: the mean over sequences of their summed losses) or averaged
    over every real step (``"mean"``).  Padded steps (``mask`` False) count for nothing."""
    if per_step.ndim != 2:
        raise ShapeError(f"sequence_loss: per-step losses must be (T, B), got "
                         f"{format_shape(per_step.shape)}")
    if over_time == "mean":
        return reduce_loss(per_step, mask, "mean")
    if over_time != "sum":
        raise ValueError(f"over_time must be 'sum' or 'mean', got {over_time!r}")
    total = reduce_loss(per_step, mask, "sum")
    return total / F.numel(per_step, axes=(1,))
