"""Algebraic simplification: identities (x + -0.0, x - 0.0, x*1, x/1, --x), products with
a zero initial state, composed transposes and reshapes, indexing a stack or a concat, one
step of a scattered gradient (the piece, or zeros), stacks and concats of consecutive steps
of one array as a view of it, sums of disjoint scattered pieces (the gradient of a stacked or
split value) into one concat, and stop_gradient as the identity it is at run time.

Every rewrite is IEEE-exact: the result has the same bits for every input, infinities, NaN and
the sign of zero included. So ``x * 0`` stays (it is NaN for an infinite ``x``), ``x + 0.0``
stays (it turns -0.0 into 0.0) and a product with a zero initial state becomes ``sum(W - W)``
broadcast (``0 @ W`` is NaN in the columns of W that hold an inf or a NaN). ``fast_math=True``
adds the rules that hold for finite values only: ``x*0 -> 0``, ``0/x -> 0``, ``x + 0 -> x``
for either zero, ``0 @ W -> 0``, sums of rows as one reduction. (``log(softmax)`` and
``log(sigmoid)`` become their stable ops in :mod:`.stabilize`, at O2.)"""

from __future__ import annotations

import math
from typing import List, Optional

from ...core import ops as F
from ...core.ir import Graph, Node
from .rewrite import is_one, is_zero, rewrite, zero_sign

__all__ = ["simplify", "is_zero_product"]


def _zeros(n: Node, sign: float = 0.0) -> Node:
    """Zeros of ``n``'s shape and dtype; ``sign`` -0.0 for negative zeros."""
    return F.full(n.shape, sign, n.dtype)


def _negative(z) -> bool:
    return z is not None and math.copysign(1.0, z) < 0


def _drops_from_sum(x: Node, fast: bool) -> bool:
    """``x`` leaves every sum unchanged: -0.0 (x + -0.0 is x), an integer 0, or with
    ``fast`` any zero."""
    z = zero_sign(x)
    return z is not None and (fast or _negative(z) or x.dtype.kind != "f")


def _zero_product(n: Node, fast: bool) -> Optional[Node]:
    """``0 @ w`` has equal rows (``w @ 0`` equal columns): +0.0, or NaN where w's column
    (row) holds an inf or a NaN, as the GEMM gives it.  That is ``sum(w - w)`` over the
    contracted axis (``x - x`` is +0.0 for finite x, NaN otherwise), broadcast: no GEMM at
    all.  Zeros when ``fast`` or for integers."""
    a, b = n.args
    if fast or n.dtype.kind != "f" or (is_zero(a) and is_zero(b)):
        return _zeros(n)
    other, axis = (b, -2) if is_zero(a) else (a, -1)
    return F.broadcast_to(F.sum(F.sub(other, other), axis=axis, keepdims=True), n.shape)


def is_zero_product(t: Node) -> bool:
    """True for what :func:`_zero_product` builds (a product with a zero initial state)."""
    while t.op.name == "broadcast_to":
        t = t.args[0]
    return (t.op.name == "sum" and t.args[0].op.name == "sub"
            and t.args[0].args[0] is t.args[0].args[1])


def _moved_zeros(n: Node) -> Optional[Node]:
    """Zeros moved by a shape op keep their sign; a scatter fills -0.0 and reductions start
    from +0.0, so through those only the zero they produce anyway carries."""
    signs = [zero_sign(x) for x in n.args]
    if any(z is None for z in signs):
        return None
    negative = [_negative(z) for z in signs]
    if any(negative) and not all(negative):
        return None
    if n.op.name == "unindex" and n.dtype.kind == "f" and not negative[0]:
        return None  # +0.0 pieces in a -0.0 fill
    if n.op.name in ("sum", "sum_to_shape") and negative[0]:
        return None  # +0.0 when an axis is reduced, -0.0 when none is
    return _zeros(n, -0.0 if negative[0] else 0.0)


def _single_axis(key):
    """(axis, entry) when ``key`` selects on exactly one axis, else None."""
    picked = [(i, k) for i, k in enumerate(key) if k[0] != "a"]
    return picked[0] if len(picked) == 1 else None


def _scatter_sum(n: Node, fast: bool) -> Optional[Node]:
    """add_n of unindex pieces on one axis, disjoint: one concat (-0.0, the fill of unindex,
    fills the gaps: exact).  Other terms must be one at most (added once, in any order)
    unless ``fast`` (more would be summed in another order)."""
    pieces, rest = [], []
    for a in n.args:
        sel = _single_axis(a.attr("key")) if a.op.name == "unindex" else None
        if sel is None or (sel[1][0] == "s" and sel[1][3] != 1):
            rest.append(a)
        else:
            pieces.append((a, sel))
    if len(pieces) < 2 or (len(rest) > 1 and not fast):
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


def _stack_of_slices(n: Node, fast: bool) -> Optional[Node]:
    """stack(x[a], x[a+1], ..., x[b]) along axis 0 is the view x[a:b+1] (x itself if whole);
    concat(x[a], ..., x[b]) along axis 0 (a weight gradient's stacked operand) is that view
    with its first two axes merged; with ``fast``, add_n of those rows is one sum over the
    view (a reduction starts from +0.0, so rows of -0.0 would sum to +0.0)."""
    if n.op.name == "add_n" and not fast and n.dtype.kind == "f":
        return None
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
    if zero_sign(src) is not None:
        return _zeros(n, zero_sign(src))
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
        if not start <= k[1] < stop:  # outside the piece: unindex's fill
            return _zeros(n, -0.0)
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


def _rule(n: Node, fast: bool) -> Optional[Node]:
    op, a = n.op.name, n.args
    if op == "add":
        if _drops_from_sum(a[1], fast):
            return a[0]
        if _drops_from_sum(a[0], fast):
            return a[1]
    elif op == "sub":
        z1, z0 = zero_sign(a[1]), zero_sign(a[0])
        if z1 is not None and (fast or not _negative(z1)):  # x - 0.0 is x
            return a[0]
        if z0 is not None and (fast or _negative(z0) or n.dtype.kind != "f"):  # -0.0 - x
            return F.neg(a[1])
    elif op == "mul":
        if is_one(a[1]):
            return a[0]
        if is_one(a[0]):
            return a[1]
        if (fast or n.dtype.kind != "f") and (is_zero(a[0]) or is_zero(a[1])):
            return _zeros(n)
    elif op == "div":
        if is_one(a[1]):
            return a[0]
        if fast and is_zero(a[0]):
            return _zeros(n)
    elif op == "neg":
        if a[0].op.name == "neg":
            return a[0].args[0]
        z = zero_sign(a[0])
        if z is not None:
            return _zeros(n, -z)
    elif op == "matmul":
        if is_zero(a[0]) or is_zero(a[1]):
            return _zero_product(n, fast)
    elif op == "add_n":
        signs = [zero_sign(t) for t in a]
        if all(z is not None for z in signs):  # -0.0 only when every term is
            return _zeros(n, -0.0 if all(map(_negative, signs)) else 0.0)
        terms: List[Node] = [t for t in a if not _drops_from_sum(t, fast)]
        if len(terms) < len(a):
            return F.add_n(terms)
        return _scatter_sum(n, fast) or _stack_of_slices(n, fast)
    elif op == "transpose" and a[0].op.name == "transpose":
        inner, outer = a[0].attr("axes"), n.attr("axes")
        return F.transpose(a[0].args[0], tuple(inner[i] for i in outer))
    elif op == "reshape" and a[0].op.name == "reshape":
        return F.reshape(a[0].args[0], n.shape)
    elif op == "broadcast_to":
        if a[0].op.name == "broadcast_to":
            return F.broadcast_to(a[0].args[0], n.shape)
        if zero_sign(a[0]) is not None:
            return _zeros(n, zero_sign(a[0]))
    elif op == "index":
        return _index(n)
    elif op in ("stack", "concat") and a[0].op.name == "index":
        return _stack_of_slices(n, fast)
    elif op in ("where",) and a[1] is a[2]:
        return a[1]
    elif op == "stop_gradient":
        return a[0]
    if op in ("sum_to_shape", "unindex", "concat", "transpose", "reshape", "sum"):
        return _moved_zeros(n)
    return None


def simplify(graph: Graph, fast_math: bool = False):
    """Algebraic simplification (see the module docstring); ``(graph, rewrites)``."""
    return rewrite(graph, lambda n: _rule(n, fast_math), "simplify")
