"""Losses built from ops, so they differentiate (and optimize, and render) like the models.

Shapes follow the models: per-step outputs are time-major ``(T, B, ...)``; a classification
on the final step or a pooled output is ``(B, C)``.  ``mask`` (bool, the shape of the
per-element losses) drops padded steps; a reduction then averages over the real ones.

Masked entries are never read: the losses select (``where``) their inputs before computing,
so NaN, inf or an out-of-range class id at a padded step changes neither the loss nor any
gradient (a product with a 0/1 mask would: ``0 * NaN`` is NaN).  A mean over no entries
(every entry masked, or a total weight of 0) is 0, with zero gradients, not 0 / 0; PyTorch
gives NaN there.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..core import ops as F
from ..core.ir import Node
from ..core.shapes import ShapeError, format_shape

__all__ = ["cross_entropy", "squared_error", "sequence_loss", "reduce_loss"]


def reduce_loss(per_element: Node, mask: Optional[Node] = None, reduction: str = "mean",
                weight: Optional[Node] = None) -> Node:
    """``"mean"`` (over unmasked elements, weighted when ``weight`` is given), ``"sum"`` or
    ``"none"`` of a tensor of per-element losses."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    w = weight
    total = per_element if w is None else per_element * w
    if mask is not None:
        _check_mask(mask, per_element.shape, "loss")
        total = F.where(mask, total, 0.0)  # selected: a NaN where masked never reaches the sum
        w = F.cast(mask, per_element.dtype) if w is None else F.where(mask, w, 0.0)
    if reduction == "none":
        return total
    if reduction == "sum":
        return F.sum(total)
    if w is None:
        return F.mean(total)
    count = F.sum(w)
    # nothing counted (all masked, or weights summing to 0): 0 / 1, not 0 / 0
    return F.sum(total) / F.where(F.equal(count, 0.0), 1.0, count)


def _check_mask(mask: Node, shape, what: str) -> None:
    if not isinstance(mask, Node) or mask.dtype.kind != "b" or mask.shape != tuple(shape):
        got = mask.label() if isinstance(mask, Node) else type(mask).__name__
        raise ShapeError(f"{what} mask must be bool {format_shape(shape)}, got {got}")


def _masked(x: Node, mask: Optional[Node]) -> Node:
    """``x`` with masked entries replaced by zeros (a leading-axes mask covers the rest)."""
    if mask is None:
        return x
    m = F.reshape(mask, mask.shape + (1,) * (x.ndim - mask.ndim))
    return F.where(F.broadcast_to(m, x.shape), x, 0)


def cross_entropy(logits: Node, targets: Node, weight=None, mask: Optional[Node] = None,
                  reduction: str = "mean") -> Node:
    """Cross-entropy of integer ``targets`` under ``logits`` ``(..., C)``, computed stably
    (``-log_softmax`` picked by ``gather``).  ``weight`` (C,) weighs classes; with ``"mean"``
    the sum is divided by the total weight of the targets, as PyTorch does."""
    if targets.shape != logits.shape[:-1]:
        raise ShapeError(f"cross_entropy: targets {format_shape(targets.shape)} must match the "
                         f"logits {format_shape(logits.shape)} without their last axis")
    if targets.dtype.kind not in "iu":
        raise ShapeError(f"cross_entropy: targets must be integer class ids, got {targets.label()}")
    if mask is not None:  # padded steps never read: any logits and class ids may be there
        _check_mask(mask, targets.shape, "cross_entropy")
        logits, targets = _masked(logits, mask), _masked(targets, mask)
    nll = -F.gather(F.log_softmax(logits, -1), targets)
    w = None
    if weight is not None:
        wn = weight if isinstance(weight, Node) else _class_weights(weight, logits)
        w = F.gather(F.broadcast_to(wn, logits.shape), targets)
    return reduce_loss(nll, mask, reduction, w)


def _class_weights(weight, logits: Node) -> Node:
    """Constant class weights, checked: one finite, non-negative entry per class."""
    w = np.asarray(weight, dtype=float)
    classes = logits.shape[-1]
    if w.shape != (classes,):
        raise ShapeError(f"cross_entropy: weight {format_shape(w.shape)} must have one entry per "
                         f"class ({classes})")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"cross_entropy: class weights must be finite and >= 0, got {w}")
    return F.const(w, logits.dtype)


def squared_error(pred: Node, target: Node, mask: Optional[Node] = None,
                  reduction: str = "mean") -> Node:
    """``(pred - target)^2``, reduced; a ``(T, B)`` mask covers ``(T, B, D)`` predictions."""
    if pred.shape != target.shape:
        raise ShapeError(f"squared_error: prediction {format_shape(pred.shape)} and target "
                         f"{format_shape(target.shape)} differ")
    if mask is not None:
        if mask.ndim > pred.ndim:
            _check_mask(mask, pred.shape, "squared_error")
        _check_mask(mask, pred.shape[:mask.ndim], "squared_error")
        pred, target = _masked(pred, mask), _masked(target, mask)
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
