"""Class-index ops for classification: one-hot encoding and gathering one entry per row."""

from __future__ import annotations

import numpy as np

from ..ir import Node, dtype_name
from ..shapes import ShapeError, format_shape
from .elementwise import mul
from .registry import Op, apply, register
from .shape_ops import broadcast_to, reshape

__all__ = ["one_hot", "gather"]


def _check_index(opname, idx: Node):
    if idx.dtype.kind not in "iu":
        raise ShapeError(f"{opname}: indices must be integers, got "
                         f"{dtype_name(idx.dtype)}{format_shape(idx.shape)}")


def _one_hot_rule(idx, *, depth, dtype):
    _check_index("one_hot", idx)
    return idx.shape + (depth,), dtype


def _one_hot_kernel(xp, idx, *, depth, dtype):
    return (idx[..., None] == xp.arange(depth)).astype(dtype)


register(Op("one_hot", _one_hot_rule, _one_hot_kernel, None,
            doc="integer indices -> one-hot rows (not differentiable)"))


def one_hot(idx: Node, depth: int, dtype=None) -> Node:
    """One-hot rows of length ``depth`` for integer ``idx``; out-of-range indices give zeros."""
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ShapeError(f"one_hot: depth must be an int >= 1, got {depth!r}")
    return apply("one_hot", idx, depth=int(depth), dtype=np.dtype(dtype or "float32"))


def _gather_rule(x, idx):
    _check_index("gather", idx)
    if x.shape[:-1] != idx.shape:
        raise ShapeError(f"gather: indices {format_shape(idx.shape)} must match the leading "
                         f"dimensions of {format_shape(x.shape)}")
    return idx.shape, x.dtype


def _gather_kernel(xp, x, idx):
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= x.shape[-1]):
        bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
        raise IndexError(f"gather: index {bad} is out of range for {x.shape[-1]} classes")
    return xp.take_along_axis(x, idx[..., None], axis=-1)[..., 0]


def _gather_vjp(n, g):
    x, idx = n.args
    rows = broadcast_to(reshape(g, g.shape + (1,)), x.shape)
    return mul(rows, one_hot(idx, x.shape[-1], x.dtype)), None


register(Op("gather", _gather_rule, _gather_kernel, _gather_vjp,
            doc="x[..., idx]: one entry of the last axis per row"))


def gather(x: Node, idx: Node) -> Node:
    """Pick ``x[..., idx]`` per row (the target logit for cross-entropy)."""
    return apply("gather", x, idx)
