"""Ops that move data without arithmetic: reshape, broadcast and its adjoint, transpose,
indexing (basic slices, along any axis, including time) and its adjoint (concat, stack and
split are in :mod:`.joins`)."""

from __future__ import annotations

from ..ir import Node
from ..shapes import ShapeError, Sym, as_shape, format_shape, size_of
from .forms import ATOM, atom, transparent
from .registry import Op, apply, norm_axis, register

__all__ = ["reshape", "broadcast_to", "sum_to_shape", "transpose", "swap_last", "index"]


# ---------------------------------------------------------------- reshape
def _reshape_rule(x, *, shape):
    if size_of(x.shape) != size_of(shape):
        raise ShapeError(f"reshape: cannot reshape {format_shape(x.shape)} into "
                         f"{format_shape(shape)} (element counts differ)")
    return shape, x.dtype


register(Op("reshape", _reshape_rule, lambda xp, x, *, shape: xp.reshape(x, shape),
            lambda node, g: (reshape(g, node.args[0].shape),), wants_shape=True,
            doc="Same elements, new shape (row-major).",
            view=lambda e: f"{e.args[0]}.reshape({e.sh(e.shape)})", view_copies="strided"))


def _infer_minus_one(x: Node, shape):
    """Replace one -1 in ``shape`` by what the element count of ``x`` requires."""
    holes = [i for i, d in enumerate(shape) if isinstance(d, int) and d == -1]
    if not holes:
        return as_shape(shape)
    if len(holes) > 1:
        raise ShapeError(f"reshape: at most one -1 allowed, got {tuple(shape)!r}")
    rest = as_shape([d for d in shape if not (isinstance(d, int) and d == -1)])
    (px, sx), (pr, sr) = size_of(x.shape), size_of(rest)
    left = {k: v - sr.get(k, 0) for k, v in sx.items()}
    bad = any(v < 0 for v in left.values()) or any(k not in sx for k in sr)
    live = [k for k, v in left.items() if v > 0]
    if bad or pr == 0 or px % pr or len(live) > 1 or (live and left[live[0]] > 1):
        raise ShapeError(f"reshape: cannot reshape {format_shape(x.shape)} into {tuple(shape)!r}")
    fill = Sym(live[0], px // pr) if live else px // pr
    out = list(shape)
    out[holes[0]] = fill
    return as_shape(out)


def reshape(x: Node, shape) -> Node:
    """``x`` with a new shape; one ``-1`` is inferred (``(T, B, D) -> (-1, D)`` gives ``(T*B, D)``)."""
    shape = _infer_minus_one(x, tuple(shape) if not isinstance(shape, int) else (shape,))
    if shape == x.shape:
        return x
    return apply("reshape", x, shape=shape)


# ---------------------------------------------------------------- broadcast / sum_to_shape
def _broadcastable(src, dst) -> bool:
    """True when shape ``src`` broadcasts to ``dst`` (numpy's rule)."""
    return len(dst) >= len(src) and all(
        d == 1 or d == s for d, s in zip(src, dst[len(dst) - len(src):]))


def _broadcast_rule(x, *, shape):
    if not _broadcastable(x.shape, shape):
        raise ShapeError(f"broadcast_to: cannot broadcast {format_shape(x.shape)} "
                         f"to {format_shape(shape)}")
    return shape, x.dtype


def _sum_to_rule(g, *, shape):
    if not _broadcastable(shape, g.shape):
        raise ShapeError(f"sum_to_shape: cannot sum {format_shape(g.shape)} down to "
                         f"{format_shape(shape)}")
    return shape, g.dtype


def _summed_axes(gshape, shape):
    """The axes of ``gshape`` that summing down to ``shape`` removes (kept as size 1)."""
    lead = len(gshape) - len(shape)
    return tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and gshape[lead + i] != 1)


def _sum_to_kernel(xp, g, *, shape):
    axes = _summed_axes(g.shape, shape)
    out = g.sum(axis=axes, keepdims=True) if axes else g
    return out.reshape(shape)


def _sum_to_numpy(e) -> str:
    """One reduction into the output viewed with the summed axes kept."""
    g, shape = e.arg_shape(0), e.shape
    kept = e.flat(e.out, (1,) * (len(g) - len(shape)) + tuple(shape))
    fn = "add.reduce" if e.ufunc_reduce else "sum"
    return (f"np.{fn}({e.args[0]}, axis={_summed_axes(g, shape)!r}, keepdims=True, "
            f"out={kept}); {e.v} = {e.out}")


def _broadcast_view(e) -> str:
    if e.elided:
        return f"{e.args[0]}  # broadcast by its ufunc users"
    return f"np.broadcast_to({e.args[0]}, {e.sh(e.shape)})"


register(Op("broadcast_to", _broadcast_rule,
            lambda xp, x, *, shape: xp.broadcast_to(x, shape),
            lambda node, g: (sum_to_shape(g, node.args[0].shape),), wants_shape=True,
            doc="Repeat size-1 and missing leading axes up to a shape.",
            view=_broadcast_view, elidable=True, printing=transparent))
register(Op("sum_to_shape", _sum_to_rule, _sum_to_kernel,
            lambda node, g: (broadcast_to(g, node.args[0].shape),), wants_shape=True,
            doc="The adjoint of broadcast_to: sum the broadcast axes away.",
            numpy=_sum_to_numpy))


def broadcast_to(x: Node, shape) -> Node:
    """``x`` repeated along size-1 / missing leading axes to ``shape``."""
    shape = as_shape(shape)
    return x if shape == x.shape else apply("broadcast_to", x, shape=shape)


def sum_to_shape(x: Node, shape) -> Node:
    """Sum ``x`` down to ``shape`` (the adjoint of :func:`broadcast_to`)."""
    shape = as_shape(shape)
    return x if shape == x.shape else apply("sum_to_shape", x, shape=shape)


# ---------------------------------------------------------------- transpose
def _transpose_rule(x, *, axes):
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"transpose: axes {axes} are not a permutation of "
                         f"{x.ndim} dimensions of {format_shape(x.shape)}")
    return tuple(x.shape[a] for a in axes), x.dtype


def _inverse(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def _transpose_printing(node, args):
    axes, nd = node.attr("axes"), node.ndim
    if axes[:-2] == tuple(range(nd - 2)) and axes[-2:] == (nd - 1, nd - 2):
        return f"{atom(args[0])}.T", ATOM
    return None  # printed as a call


register(Op("transpose", _transpose_rule, lambda xp, x, *, axes: xp.transpose(x, axes),
            lambda node, g: (transpose(g, _inverse(node.attr("axes"))),),
            doc="Permute axes.", printing=_transpose_printing,
            view=lambda e: f"{e.args[0]}.transpose({tuple(e.attrs['axes'])!r})"))


def transpose(x: Node, axes=None) -> Node:
    """Permute the axes of ``x`` (default: reverse them)."""
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(
        norm_axis("transpose", a, x.ndim) for a in axes)
    if axes == tuple(range(x.ndim)):
        return x
    return apply("transpose", x, axes=axes)


def swap_last(x: Node) -> Node:
    """Swap the last two axes (``x.T``; the matrix transpose, batched over leading axes)."""
    if x.ndim < 2:
        raise ShapeError(f"transpose: .T needs at least 2 dimensions, got {format_shape(x.shape)}")
    axes = list(range(x.ndim))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return transpose(x, axes)


# ---------------------------------------------------------------- indexing
def format_key(key, number=str) -> str:
    """A normalized index key as Python subscript text (``[t - 1, :, ::-1]``), its numbers
    written by ``number`` (the compiler's writes symbolic steps); a negative or absent stop
    means "to the end"."""
    parts = []
    for k in key:
        if k[0] == "a":
            parts.append(":")
        elif k[0] == "i":
            parts.append(number(k[1]))
        else:
            start, stop, step = k[1:]
            stop = "" if stop is None or (isinstance(stop, int) and stop < 0) else number(stop)
            parts.append(f"{number(start)}:{stop}" + (f":{step}" if step != 1 else ""))
    return "[" + ", ".join(parts) + "]"


class IndexKey(tuple):
    """A normalized index (see :func:`_normalize_key`) that prints like Python: ``[0, :, ::-1]``."""

    def __repr__(self):
        return format_key(self)


def _normalize_key(x: Node, key):
    """A per-axis tuple: ``("i", k)`` picks one index, ``("s", start, stop, step)`` slices,
    ``("a",)`` keeps the whole axis."""
    if not isinstance(key, tuple):
        key = (key,)
    if sum(k is Ellipsis for k in key) > 1:
        raise ShapeError("index: at most one ellipsis (...)")
    if Ellipsis in key:
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (x.ndim - len(key) + 1) + key[i + 1:]
    if len(key) > x.ndim:
        raise ShapeError(f"index: too many indices ({len(key)}) for {format_shape(x.shape)}")
    key = key + (slice(None),) * (x.ndim - len(key))
    out = []
    for axis, (k, d) in enumerate(zip(key, x.shape)):
        if isinstance(k, slice) and k == slice(None):
            out.append(("a",))
            continue
        if isinstance(d, Sym):
            raise ShapeError(f"index: axis {axis} of {format_shape(x.shape)} is the symbolic "
                             f"{d!r}; only ':' may index it")
        if isinstance(k, slice):
            start, stop, step = k.indices(d)
            out.append(("s", start, stop, step))
        elif isinstance(k, int) or hasattr(k, "__index__"):
            k = int(k)
            if not -d <= k < d:
                raise ShapeError(f"index: index {k} is out of range for axis {axis} "
                                 f"of size {d} in {format_shape(x.shape)}")
            out.append(("i", k % d))
        else:
            raise ShapeError(f"index: only ints, slices and ... are supported, got {k!r}")
    return IndexKey(out)


def python_key(key) -> tuple:
    """A normalized index key as the Python subscript NumPy takes (ints and slices)."""
    out = []
    for k in key:
        if k[0] == "a":
            out.append(slice(None))
        elif k[0] == "i":
            out.append(k[1])
        else:
            start, stop, step = k[1:]
            out.append(slice(start, stop if stop >= 0 else None, step))
    return tuple(out)


def _index_rule(x, *, key):
    shape = []
    for d, k in zip(x.shape, key):
        if k[0] == "a":
            shape.append(d)
        elif k[0] == "s":
            shape.append(len(range(*k[1:])))
    return tuple(shape), x.dtype


def _unindex_rule(g, *, key, shape):
    return shape, g.dtype


def _unindex_kernel(xp, g, *, key, shape):
    # -0.0 is IEEE's additive identity (x + -0.0 == x for every x, -0.0 included), so a sum
    # of scattered pieces equals the pieces joined (the simplify pass relies on it)
    out = xp.full(shape, -0.0 if g.dtype.kind == "f" else 0, dtype=g.dtype)
    out[python_key(key)] = g
    return out


def _unindex_numpy(e) -> str:
    """The output filled as the kernel fills it, then ``g`` placed at the key."""
    fill = "-0.0" if e.dtype.kind == "f" else "0"
    return f"{e.v} = {e.out}; {e.v}.fill({fill}); {e.v}{e.key(e.attrs['key'])} = {e.args[0]}"


register(Op("index", _index_rule, lambda xp, x, *, key: x[python_key(key)],
            lambda node, g: (apply("unindex", g, key=node.attr("key"),
                                   shape=node.args[0].shape),),
            doc="Basic indexing: ints and slices per axis.", subscript="read",
            view=lambda e: f"{e.args[0]}{e.key(e.attrs['key'])}", view_copies="scalar",
            printing=lambda node, args: (f"{atom(args[0])}{node.attr('key')!r}", ATOM)))
register(Op("unindex", _unindex_rule, _unindex_kernel,
            lambda node, g: (apply("index", g, key=node.attr("key")),), wants_shape=True,
            doc="The adjoint of index: place g into zeros (-0.0) of the source shape.",
            subscript="write", numpy=_unindex_numpy))


def index(x: Node, key) -> Node:
    """``x[key]`` with ints, slices (any step), ``...`` and ``None`` (a new axis of size 1,
    as NumPy's ``np.newaxis``), e.g. ``xs[t]``, ``h[:, 0:3]`` or ``v[None]``."""
    if isinstance(key, tuple) and any(k is None for k in key) or key is None:
        return _with_new_axes(x, key if isinstance(key, tuple) else (key,))
    key = _normalize_key(x, key)
    if all(k[0] == "a" for k in key):
        return x
    return apply("index", x, key=key)


def _with_new_axes(x: Node, key: tuple) -> Node:
    """``x[key]`` for a key with ``None`` entries: the index without them, then a reshape
    that inserts the unit axes (index keys stay one entry per axis of their argument, which
    the passes and the compiler rely on; reshape brings its own kernel and gradient)."""
    if sum(k is Ellipsis for k in key) > 1:
        raise ShapeError("index: at most one ellipsis (...)")
    named = sum(1 for k in key if k is not None and k is not Ellipsis)
    if Ellipsis in key:
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * max(x.ndim - named, 0) + key[i + 1:]
    y = index(x, tuple(k for k in key if k is not None))
    shape, pos = [], 0
    for k in key:
        if k is None:
            shape.append(1)
        elif isinstance(k, slice):
            shape.append(y.shape[pos])
            pos += 1
    return reshape(y, tuple(shape) + tuple(y.shape[pos:]))
