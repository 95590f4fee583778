"""Horizontal fusion: one elementwise call over the slices of one value.

A gated cell applies the same op to several slices of one pre-activation: an LSTM takes
``sigmoid`` of its i, f and o gates, ``a[:, 0:H]``, ``a[:, H:2H]`` and ``a[:, 3H:4H]``.  Each
is a call of its own, and where arrays are small the calls are the cost.  Members that apply
the same op (same attributes, the same scalar operands) to slices of one node along one axis
become one call over the slice covering them all, ``sigmoid(a[:, 0:4H])``, and each member a
view of the result.  A cover may take in elements no member asked for (the g gate here) as
long as they are at most half of what the members take: the call computes a third more
elements at most and saves all but one of its calls.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from ...core import ops as F
from ...core.ir import Graph, Node
from ...core.ops import O
from ...core.ops.registry import apply
from .rewrite import plan_group, rewrite_groups

__all__ = ["slice_fusion", "MAX_WASTE"]

#: the elements a cover computes for no member, as a fraction of those the members need
MAX_WASTE = 0.5


def _sliced(n: Node) -> Optional[Tuple[Node, int, tuple, int, int]]:
    """``(base, axis, key, start, stop)`` when ``n`` is ``base[key]`` with a unit-step slice
    on exactly one axis (``key`` the rest, the sliced axis blanked), else None."""
    if n.op is not O.index:
        return None
    key = n.attr("key")
    axes = [i for i, k in enumerate(key) if k[0] != "a"]
    if len(axes) != 1:
        return None
    (axis,) = axes
    sel = key[axis]
    if sel[0] != "s" or sel[3] != 1 or not isinstance(sel[1], int) \
            or not isinstance(sel[2], int) or sel[2] < sel[1]:
        return None
    return n.args[0], axis, key[:axis] + (None,) + key[axis + 1:], sel[1], sel[2]


def _member(n: Node):
    """The group key and slice of an elementwise node whose operands are slices of the same
    range and axis (of one or several values) and scalars, or None."""
    if not n.op.elementwise or n.op.source is not None or n.ndim == 0:
        return None
    sliced, where = [], None
    for pos, a in enumerate(n.args):
        if _scalar(a) is not None:
            continue
        s = _sliced(a)
        if s is None or a.shape != n.shape:
            return None
        base, axis, rest, start, stop = s
        if where is not None and where != (axis, rest, start, stop):
            return None
        where = (axis, rest, start, stop)
        sliced.append((pos, base))
    if not sliced:
        return None
    axis, rest, start, stop = where
    taken = {pos for pos, _ in sliced}
    scalars = tuple((i,) + _scalar(a) for i, a in enumerate(n.args) if i not in taken)
    return (n.op, n.attrs, n.dtype, tuple(sliced), scalars, axis, rest), (start, stop)


def _scalar(a: Node):
    """``(value, broadcast)`` for a scalar operand (a 0-d node, or one broadcast to the
    member's shape), else None."""
    if a.ndim == 0:
        return a, False
    if a.op is O.broadcast_to and a.args[0].ndim == 0:
        return a.args[0], True
    return None


def _hashable(key) -> bool:
    try:
        hash(key)
    except TypeError:  # an attribute that cannot be a key: not a candidate
        return False
    return True


def _slice(x: Node, axis: int, start: int, stop: int) -> Node:
    """``x[..., start:stop, ...]`` on ``axis``; ``x`` itself when that is all of it."""
    if start == 0 and stop == x.shape[axis]:
        return x
    key = [slice(None)] * x.ndim
    key[axis] = slice(start, stop)
    return F.index(x, tuple(key))


def _fuse_once(graph: Graph):
    groups: Dict[tuple, List[Tuple[Node, int, int]]] = {}
    for n in graph.nodes:
        found = _member(n)
        if found is not None and _hashable(found[0]):
            key, (start, stop) = found
            groups.setdefault(key, []).append((n, start, stop))
    needs: Dict[Node, list] = {}
    build: Dict[Node, object] = {}
    fused = 0
    for (op, attrs, _, sliced, scalars, axis, _), members in groups.items():
        if len(members) < 2:
            continue
        first = min(s for _, s, _ in members)
        last = max(e for _, _, e in members)
        used = sum(e - s for _, s, e in members)
        if (last - first) - used > MAX_WASTE * used:
            continue
        nodes = [m for m, _, _ in members]
        rel = [(s - first, e - first) for _, s, e in members]

        def make(new_of, op=op, attrs=attrs, sliced=sliced, scalars=scalars, axis=axis,
                 first=first, last=last):
            args = {i: _slice(new_of(b), axis, first, last) for i, b in sliced}
            shape = next(iter(args.values())).shape
            for i, a, broadcast in scalars:
                args[i] = F.broadcast_to(new_of(a), shape) if broadcast else new_of(a)
            return apply(op, *(args[i] for i in range(len(args))), **dict(attrs))

        plan_group(needs, build, nodes, [b for _, b in sliced] + [a for _, a, _ in scalars],
                   make, lambda cover, i, rel=rel, axis=axis: _slice(cover, axis, *rel[i]))
        fused += len(nodes)
    if not build:
        return graph, 0
    return rewrite_groups(graph, needs, build, "slice_fusion"), fused


def slice_fusion(graph: Graph):
    """One call over the slices of one value (or of several, sliced alike), repeated while
    fusing opens more (a fused sum's slices feed the gates' activations); ``(graph,
    members fused)``."""
    total = 0
    for _ in range(8):
        graph, fused = _fuse_once(graph)
        total += fused
        if not fused:
            break
    return graph, total
