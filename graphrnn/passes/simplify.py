"""Algebraic simplification: identities (x+0, x*1, x*0, --x), products with a zero
initial state, composed transposes and reshapes, indexing a stack or a concat, one step of
a scattered gradient (the piece, or zeros), stacks and concats of consecutive steps of one
array as a view of it (their sum as one reduction), sums of disjoint scattered pieces (the
gradient of a stacked or split value) into one concat, log(softmax) into log_softmax, and
stop_gradient as the identity it is at run time."""

from __future__ import annotations

from typing import List, Optional

from .. import ops as F
from ..ir import Graph, Node
from .rewrite import is_one, is_zero, rewrite

__all__ = ["simplify"]


def _zeros(n: Node) -> Node:
    return F.zeros(n.shape, n.dtype)


def _single_axis(key):
    """(axis, entry) when ``key`` selects on exactly one axis, else None."""
    picked = [(i, k) for i, k in enumerate(key) if k[0] != "a"]
    return picked[0] if len(picked) == 1 else None


def _scatter_sum(n: Node) -> Optional[Node]:
    """add_n of unindex pieces on one axis, disjoint: one concat (zeros fill the gaps)."""
    pieces, rest = [], []
    for a in n.args:
        sel = _single_axis(a.attr("key")) if a.op.name == "unindex" else None
        if sel is None or (sel[1][0] == "s" and sel[1][3] != 1):
            rest.append(a)
        else:
            pieces.append((a, sel))
    if len(pieces) < 2:
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
            parts.append(F.zeros(shape[:axis] + (start - pos,) + shape[axis + 1:], n.dtype))
        parts.append(g)
        pos = stop
    if pos < shape[axis]:
        parts.append(F.zeros(shape[:axis] + (shape[axis] - pos,) + shape[axis + 1:], n.dtype))
    joined = F.concat(parts, axis=axis)
    return joined if not rest else F.add_n(rest + [joined])


def _rows_of(args, ordered: bool):
    """``(x, first, count)`` when ``args`` are the first-axis rows ``x[first]``,
    ``x[first+1]``, ... of one array (in that order when ``ordered``), else None."""
    if any(a.op.name != "index" for a in args):
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


def _rows_view(src: Node, first: int, count: int) -> Node:
    return src if count == src.shape[0] else F.index(src, slice(first, first + count))


def _stack_of_slices(n: Node) -> Optional[Node]:
    """stack(x[a], x[a+1], ..., x[b]) along axis 0 is the view x[a:b+1] (x itself if whole);
    concat(x[a], ..., x[b]) along axis 0 (a weight gradient's stacked operand) is that view
    with its first two axes merged; add_n of those rows is one sum over the view."""
    if n.op.name != "add_n" and n.attr("axis") != 0:
        return None
    found = _rows_of(n.args, ordered=n.op.name != "add_n")
    if found is None:
        return None
    rows = _rows_view(*found)
    if n.op.name == "concat":
        return F.reshape(rows, n.shape)
    return F.sum(rows, axis=0) if n.op.name == "add_n" else rows


def _index(n: Node) -> Optional[Node]:
    src, key = n.args[0], n.attr("key")
    if is_zero(src):
        return _zeros(n)
    sel = _single_axis(key)
    if sel is None:
        return None
    axis, k = sel
    if src.op.name == "stack" and src.attr("axis") == axis and k[0] == "i":
        return src.args[k[1]]
    if src.op.name == "unindex" and k[0] == "i":  # one step of a scattered gradient
        put = _single_axis(src.attr("key"))
        if put is None or put[0] != axis or (put[1][0] == "s" and put[1][3] != 1):
            return None
        start, stop = (put[1][1], put[1][1] + 1) if put[1][0] == "i" else put[1][1:3]
        if not start <= k[1] < stop:
            return _zeros(n)
        if put[1][0] == "i":
            return src.args[0]
        return F.index(src.args[0], (slice(None),) * axis + (k[1] - start,))
    if src.op.name == "concat" and src.attr("axis") == axis and k[0] == "s" and k[3] == 1:
        pos = 0
        for piece in src.args:
            size = piece.shape[axis]
            if (k[1], k[2]) == (pos, pos + size):
                return piece
            if not isinstance(size, int):
                return None
            pos += size
    return None


def _rule(n: Node) -> Optional[Node]:
    op, a = n.op.name, n.args
    if op in ("add", "sub"):
        if is_zero(a[1]):
            return a[0]
        if is_zero(a[0]):
            return a[1] if op == "add" else F.neg(a[1])
    elif op == "mul":
        if is_zero(a[0]) or is_zero(a[1]):
            return _zeros(n)
        if is_one(a[1]):
            return a[0]
        if is_one(a[0]):
            return a[1]
    elif op == "div":
        if is_one(a[1]):
            return a[0]
        if is_zero(a[0]):
            return _zeros(n)
    elif op == "neg":
        if a[0].op.name == "neg":
            return a[0].args[0]
        if is_zero(a[0]):
            return _zeros(n)
    elif op == "matmul":
        if is_zero(a[0]) or is_zero(a[1]):
            return _zeros(n)
    elif op == "add_n":
        terms: List[Node] = [t for t in a if not is_zero(t)]
        if not terms:
            return _zeros(n)
        if len(terms) < len(a):
            return F.add_n(terms)
        return _scatter_sum(n) or _stack_of_slices(n)
    elif op == "transpose" and a[0].op.name == "transpose":
        inner, outer = a[0].attr("axes"), n.attr("axes")
        return F.transpose(a[0].args[0], tuple(inner[i] for i in outer))
    elif op == "reshape" and a[0].op.name == "reshape":
        return F.reshape(a[0].args[0], n.shape)
    elif op == "broadcast_to":
        if a[0].op.name == "broadcast_to":
            return F.broadcast_to(a[0].args[0], n.shape)
        if is_zero(a[0]):
            return _zeros(n)
    elif op == "index":
        return _index(n)
    elif op in ("stack", "concat") and a[0].op.name == "index":
        return _stack_of_slices(n)
    elif op in ("where",) and a[1] is a[2]:
        return a[1]
    elif op == "stop_gradient":
        return a[0]
    elif op == "log" and a[0].op.name == "softmax":
        return F.log_softmax(a[0].args[0], a[0].attr("axis"))
    if op in ("sum_to_shape", "unindex", "concat", "transpose", "reshape", "sum"):
        if is_zero(a[0]) and all(is_zero(x) for x in a):
            return _zeros(n)
    return None


def simplify(graph: Graph):
    """Algebraic simplification (see the module docstring); ``(graph, rewrites)``."""
    return rewrite(graph, _rule, "simplify")
