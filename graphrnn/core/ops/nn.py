"""Class-index ops: one-hot encoding, gathering one entry per row (the target logit for
cross-entropy) and taking rows of a table (an embedding lookup)."""

from __future__ import annotations

import numpy as np

from ..ir import Node, dtype_name
from ..shapes import ShapeError, format_shape
from .elementwise import mul
from .linalg import matmul
from .registry import O, Op, apply, register
from .shape_ops import broadcast_to, reshape

__all__ = ["one_hot", "gather", "take"]


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


def _take_rule(table, idx):
    _check_index("take", idx)
    if table.ndim != 2:
        raise ShapeError(f"take: the table must be 2-D (rows, width), got "
                         f"{format_shape(table.shape)}")
    return idx.shape + table.shape[1:], table.dtype


def _take_kernel(xp, table, idx):
    """``table[idx]``, every id checked: NumPy checks the upper bound as it gathers
    (``ndarray.take``), so only negative ids (which would count from the end) are looked
    for first (one id, as generation feeds, read as a Python int); other array modules
    (which wrap or clip) are checked both ways."""
    if xp is np:
        size = idx.size
        if idx.dtype.kind == "u" or (idx.item() >= 0 if size == 1 else
                                     not size or np.minimum.reduce(idx, axis=None) >= 0):
            try:
                return table.take(idx, 0)
            except IndexError:
                pass
    elif not idx.size or (int(idx.min()) >= 0 and int(idx.max()) < table.shape[0]):
        return table[idx]
    low, high = int(idx.min()), int(idx.max())
    bad = low if low < 0 else high
    raise IndexError(f"take: index {bad} is out of range for {table.shape[0]} rows")


def _take_vjp(n, g):
    """The table's gradient as the product ``one_hot(idx) @ table`` has it: one GEMM of the
    one-hot rows against ``g`` (the same sums, in the same order)."""
    table, idx = n.args
    product = matmul(one_hot(idx, table.shape[0], table.dtype), table)
    return O.matmul.vjp(product, g)[1], None


register(Op("take", _take_rule, _take_kernel, _take_vjp,
            doc="table[idx]: rows of a 2-D table for integer ids of any shape (an embedding)"))


def take(table: Node, idx: Node) -> Node:
    """Rows ``table[idx]`` of a 2-D ``table`` for integer ``idx`` (of any shape):
    ``idx.shape + (width,)``; an id outside the rows raises ``IndexError`` when run."""
    return apply("take", table, idx)
