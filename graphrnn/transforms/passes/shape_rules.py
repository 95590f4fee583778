"""Shape rules of the canonicalize phase: composed transposes, reshapes and broadcasts;
zeros moved by a shape op; indexing a stack, a concat or a scattered gradient (the piece,
or zeros); stacks and concats of consecutive rows of one array as a view of it; and sums
of disjoint scattered pieces (the gradient of a stacked or split value) as one concat.

All exact (a scatter fills -0.0, the additive identity, and reductions start from +0.0, so
zeros carry their sign only where the op would give it); ``sum-of-rows`` is exact for
integers only (a reduction of rows of -0.0 gives +0.0), so floats need ``fast_math``.
"""

from __future__ import annotations

from typing import Optional

from ...core import ops as F
from ...core.ir import Node
from ...core.ops import O
from ...core.ops.shape_ops import python_key
from .patterns import Pat, Rule, RuleSet
from .rewrite import zero_sign
from .simplify import negative_sign, not_float, zeros_of

__all__ = ["SHAPES"]


def _moved_zeros(n: Node) -> Optional[Node]:
    """Zeros moved by a shape op keep their sign; a scatter fills -0.0 and reductions start
    from +0.0, so through those only the zero they produce anyway carries."""
    signs = [zero_sign(x) for x in n.args]
    if any(z is None for z in signs):
        return None
    negative = [negative_sign(z) for z in signs]
    if any(negative) and not all(negative):
        return None
    if n.op is O.unindex and n.dtype.kind == "f" and not negative[0]:
        return None  # +0.0 pieces in a -0.0 fill
    if n.op in (O.sum, O.sum_to_shape) and negative[0]:
        return None  # +0.0 when an axis is reduced, -0.0 when none is
    return zeros_of(n, -0.0 if negative[0] else 0.0)


def _single_axis(key):
    """(axis, entry) when ``key`` selects on exactly one axis, else None."""
    picked = [(i, k) for i, k in enumerate(key) if k[0] != "a"]
    return picked[0] if len(picked) == 1 else None


def _unit_piece(sel) -> bool:
    """A selection on one axis that is an index or a unit-step slice."""
    return sel is not None and not (sel[1][0] == "s" and sel[1][3] != 1)


def _scatter_sum(n: Node, ctx) -> Optional[Node]:
    """add_n of unindex pieces on one axis, disjoint: one concat (-0.0, the fill of unindex,
    fills the gaps: exact).  Other terms must be one at most (added once, in any order)
    unless ``fast_math`` (more would be summed in another order)."""
    pieces, rest = [], []
    for a in n.args:
        sel = _single_axis(a.attr("key")) if a.op is O.unindex else None
        if _unit_piece(sel):
            pieces.append((a, sel))
        else:
            rest.append(a)
    if len(pieces) < 2 or (len(rest) > 1 and not ctx.fast_math):
        return None
    shape, axis = pieces[0][0].shape, pieces[0][1][0]
    spans = []
    for a, (ax, k) in pieces:
        if a.shape != shape or ax != axis:
            return None
        start, stop = (k[1], k[1] + 1) if k[0] == "i" else (k[1], k[2])
        g = a.args[0]
        if k[0] == "i":  # re-insert the indexed axis
            g = F.reshape(g, g.shape[:axis] + (1,) + g.shape[axis:])
        spans.append((start, stop, g))
    spans.sort(key=lambda s: s[0])
    if any(spans[i][1] > spans[i + 1][0] for i in range(len(spans) - 1)):
        return None  # overlapping pieces: leave the sum alone
    parts, pos = [], 0
    for start, stop, g in spans:
        if start > pos:
            parts.append(F.full(shape[:axis] + (start - pos,) + shape[axis + 1:], -0.0, n.dtype))
        parts.append(g)
        pos = stop
    if pos < shape[axis]:
        parts.append(F.full(shape[:axis] + (shape[axis] - pos,) + shape[axis + 1:], -0.0, n.dtype))
    joined = F.concat(parts, axis=axis)
    return joined if not rest else F.add_n(rest + [joined])


def _unit_row(a: Node) -> Node:
    """``x[i]`` for ``reshape(x[i], (1, ...))`` (a row given back its unit first axis)."""
    if a.op is O.reshape and a.shape == (1,) + a.args[0].shape:
        return a.args[0]
    return a


def _rows_of(args, ordered: bool, unit: bool = False):
    """``(x, first, count)`` when ``args`` are the first-axis rows ``x[first]``,
    ``x[first+1]``, ... of one array (in that order when ``ordered``; each reshaped to a
    unit first axis when ``unit``), else None."""
    if unit:
        args = [_unit_row(a) for a in args]
    if any(a.op is not O.index for a in args):
        return None
    src = args[0].args[0]
    rows = []
    for a in args:
        key = a.attr("key")
        if a.args[0] is not src or key[0][0] != "i" or any(k[0] != "a" for k in key[1:]):
            return None
        rows.append(key[0][1])
    if not ordered:
        rows.sort()
    if rows != list(range(rows[0], rows[0] + len(rows))):
        return None
    return src, rows[0], len(rows)


def _rows_view(n: Node, ordered: bool, unit: bool = False) -> Optional[Node]:
    """The rows ``x[a:b+1]`` that ``n``'s arguments are (``x`` itself when whole), or None."""
    found = _rows_of(n.args, ordered, unit)
    if found is None:
        return None
    src, first, count = found
    return src if count == src.shape[0] else F.index(src, slice(first, first + count))


def _index_of_scatter(n: Node, src: Node) -> Optional[Node]:
    """One step of a scattered gradient: the piece (or a step of it), or unindex's -0.0."""
    sel, put = _single_axis(n.attr("key")), _single_axis(src.attr("key"))
    if sel is None or sel[1][0] != "i" or not _unit_piece(put) or put[0] != sel[0]:
        return None
    (axis, k), p = sel, put[1]
    start, stop = (p[1], p[1] + 1) if p[0] == "i" else p[1:3]
    if not start <= k[1] < stop:  # outside the piece: unindex's fill
        return zeros_of(n, -0.0)
    if p[0] == "i":
        return src.args[0]
    return F.index(src.args[0], (slice(None),) * axis + (k[1] - start,))


def _index_of_stack(n: Node, src: Node) -> Optional[Node]:
    sel = _single_axis(n.attr("key"))
    if sel is None or sel[1][0] != "i" or src.attr("axis") != sel[0]:
        return None
    return src.args[sel[1][1]]


def _stack_of_slices(n: Node) -> Optional[Node]:
    """``stack(x0[k], x1[k], ...)`` with one key ``k`` (no axis dropped) of values of one
    shape -> ``stack(x0, x1, ...)[:, k]``: a run of steps' gate slices read as a slice of
    the steps' stored activations, which need no copy."""
    args = n.args
    if n.attr("axis") != 0 or len(args) < 2 or any(a.op is not O.index for a in args):
        return None
    key = args[0].attr("key")
    if any(k[0] == "i" for k in key) or any(
            a.attr("key") != key or a.args[0].shape != args[0].args[0].shape for a in args):
        return None
    return F.index(F.stack([a.args[0] for a in args], axis=0),
                   (slice(None),) + python_key(key))


def _slice_of_concat(n: Node, src: Node) -> Optional[Node]:
    sel = _single_axis(n.attr("key"))
    if sel is None or src.attr("axis") != sel[0]:
        return None
    axis, k = sel
    if k[0] != "s" or k[3] != 1:
        return None
    pos = 0
    for piece in src.args:
        size = piece.shape[axis]
        if (k[1], k[2]) == (pos, pos + size):
            return piece
        if not isinstance(size, int):
            return None
        pos += size
    return None


def _zero_sign_of(x: Node) -> bool:
    return zero_sign(x) is not None


X = Pat.var("x")
_AXIS0 = {"axis": 0}
_SHAPE_OPS = (O.sum_to_shape, O.unindex, O.concat, O.transpose, O.reshape, O.sum)

#: exact shape rules (``sum-of-rows`` needs ``fast_math`` for floats).
SHAPES = RuleSet([
    Rule("transpose-of-transpose", Pat(O.transpose, name="n", args=(Pat(O.transpose, name="t"),)),
         lambda n, t: F.transpose(t.args[0], tuple(t.attr("axes")[i] for i in n.attr("axes"))),
         doc="transpose(transpose(x)) -> one transpose (the identity dropped)"),
    Rule("reshape-of-reshape", Pat(O.reshape, name="n", args=(Pat(O.reshape, args=(X,)),)),
         lambda n, x: F.reshape(x, n.shape), doc="reshape(reshape(x)) -> one reshape"),
    Rule("broadcast-of-broadcast",
         Pat(O.broadcast_to, name="n", args=(Pat(O.broadcast_to, args=(X,)),)),
         lambda n, x: F.broadcast_to(x, n.shape), doc="broadcast of a broadcast -> one"),
    Rule("broadcast-of-zeros", Pat(O.broadcast_to, name="n", args=(Pat.var("z", _zero_sign_of),)),
         lambda n, z: zeros_of(n, zero_sign(z)), doc="broadcast of zeros -> zeros (a fill)"),
    Rule("index-of-zeros", Pat(O.index, name="n", args=(Pat.var("z", _zero_sign_of),)),
         lambda n, z: zeros_of(n, zero_sign(z)), doc="zeros[key] -> zeros"),
    Rule("index-of-stack", Pat(O.index, name="n", args=(Pat(O.stack, name="src"),)),
         _index_of_stack, doc="stack(x0, x1, ...)[i] -> xi"),
    Rule("index-of-scatter", Pat(O.index, name="n", args=(Pat(O.unindex, name="src"),)),
         _index_of_scatter,
         doc="one step of a scattered gradient -> the piece there, or zeros"),
    Rule("slice-of-concat", Pat(O.index, name="n", args=(Pat(O.concat, name="src"),)),
         _slice_of_concat, doc="concat(a, b, ...)[the span of b] -> b"),
    Rule("stack-of-rows", Pat(O.stack, name="n", attrs=_AXIS0),
         lambda n: _rows_view(n, ordered=True),
         doc="stack(x[a], ..., x[b]) -> the view x[a:b+1] (x itself when whole)"),
    Rule("stack-of-slices", Pat(O.stack, name="n"), _stack_of_slices,
         doc="stack(x0[k], x1[k], ...) -> stack(x0, x1, ...)[:, k] (views of stored steps)"),
    Rule("stack-of-one", Pat(O.stack, name="n"),
         lambda n: F.reshape(n.args[0], n.shape) if len(n.args) == 1 else None,
         doc="stack(x) -> x with a unit axis (a view: a one-step state, no copy)"),
    Rule("concat-of-rows", Pat(O.concat, name="n", attrs=_AXIS0),
         lambda n: (lambda v: None if v is None else F.reshape(v, n.shape))(
             _rows_view(n, ordered=True)),
         doc="concat(x[a], ..., x[b]) -> the view x[a:b+1], first two axes merged"),
    Rule("concat-of-unit-rows", Pat(O.concat, name="n", attrs=_AXIS0),
         lambda n: _rows_view(n, ordered=True, unit=True),
         doc="concat(x[a][None], ..., x[b][None]) -> the view x[a:b+1]"),
    Rule("scatter-sum", Pat(O.add_n, name="n"), _scatter_sum,
         doc="add_n of disjoint scattered pieces -> one concat (-0.0 in the gaps)"),
    Rule("sum-of-rows", Pat(O.add_n, name="n"),
         lambda n: (lambda v: None if v is None else F.sum(v, axis=0))(
             _rows_view(n, ordered=False)), fast_math=True, exact_if=not_float,
         doc="add_n(x[a], ..., x[b]) -> sum(x[a:b+1], 0) (rows of -0.0 would give +0.0)"),
    Rule("zeros-through-shape-op", Pat(_SHAPE_OPS, name="n"), _moved_zeros,
         doc="a shape op or reduction of zeros -> zeros (of the sign it gives)"),
])
