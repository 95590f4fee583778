"""Elementwise ops: arithmetic, activations, comparisons, where, cast, add_n.

Binary ops broadcast like NumPy with one extra guard: the result must have the
shape of one of the operands.  ``(B,) + (B, 1)`` (which NumPy silently turns into
``(B, B)``) is rejected; an outer combination must be asked for with
:func:`broadcast_to`.  Broadcasts are explicit ``broadcast_to`` nodes, so each
elementwise kernel sees equally shaped arrays and each gradient is summed back
by ``sum_to_shape``.  Python scalars take the dtype of the node they meet.
"""

from __future__ import annotations

from numbers import Number

import numpy as np

from ..ir import Node, dtype_name
from ..shapes import ShapeError, format_shape
from .forms import atom, infix, nary, prefix
from .registry import Op, apply, check_float, register, same_dtype, same_shape
from .shape_ops import broadcast_to
from .source import const, zeros_like

__all__ = ["add", "sub", "mul", "div", "neg", "exp", "log", "tanh", "relu",
           "square", "sqrt", "pow", "where", "greater", "less", "greater_equal", "less_equal",
           "equal", "not_equal", "logical_not", "logical_and", "logical_or", "cast",
           "stop_gradient", "add_n", "broadcast_shapes", "lift", "recompute"]


def broadcast_shapes(opname: str, *shapes):
    """NumPy broadcasting, restricted so the result equals one operand's shape."""
    nd = max(len(s) for s in shapes)
    padded = [(1,) * (nd - len(s)) + tuple(s) for s in shapes]
    out = []
    for axis in range(nd):
        dims = {p[axis] for p in padded} - {1}
        if len(dims) > 1:
            raise ShapeError(f"{opname}: shapes " + " and ".join(map(format_shape, shapes))
                             + f" do not broadcast (axis {axis - nd} differs)")
        out.append(dims.pop() if dims else 1)
    out = tuple(out)
    if not any(tuple(s) == out for s in shapes):
        raise ShapeError(
            f"{opname}: broadcasting " + " and ".join(map(format_shape, shapes))
            + f" would give {format_shape(out)}, larger than every operand; this is usually a "
            "missing reshape. Use broadcast_to() to make an outer combination explicit.")
    return out


def lift(value, like: Node, opname: str) -> Node:
    """A Python number as a scalar constant of ``like``'s dtype; a Node unchanged."""
    if isinstance(value, Node):
        return value
    if isinstance(value, (bool, np.bool_)) and like.dtype.kind != "b":
        raise ShapeError(f"{opname}: a bool cannot combine with {dtype_name(like.dtype)}")
    if isinstance(value, (Number, np.number)):
        if like.dtype.kind in "iu" and not float(value).is_integer():
            raise ShapeError(f"{opname}: {value!r} would be truncated to the integer dtype "
                             f"{dtype_name(like.dtype)}")
        return const(value, like.dtype)
    raise TypeError(f"{opname}: cannot use {type(value).__name__} as an operand; "
                    "wrap arrays with const() or declare them as inputs")


def _prepare(opname, *xs, check_dtype=True):
    nodes = [x for x in xs if isinstance(x, Node)]
    if not nodes:
        raise TypeError(f"{opname}: at least one operand must be a Node")
    xs = [x if x.__class__ is Node else lift(x, nodes[0], opname) for x in xs]
    if check_dtype:
        same_dtype(opname, *xs)
    shape = xs[0].shape
    if any(x.shape != shape for x in xs):
        shape = broadcast_shapes(opname, *(x.shape for x in xs))
        xs = [broadcast_to(x, shape) for x in xs]
    return xs


def _ew_rule(opname, out_dtype=None, floats=False):
    def rule(*xs):
        same_shape(opname, *xs)
        dt = same_dtype(opname, *xs)
        if floats:
            check_float(opname, xs[0])
        return xs[0].shape, (np.dtype(out_dtype) if out_dtype else dt)
    return rule


def unary_op(name, kernel, vjp, doc, floats=True, **table):
    """Register an elementwise op of one argument (``table``: its other interpretations,
    see :class:`Op`) and return its builder."""
    op = register(Op(name, _ew_rule(name, floats=floats), kernel, vjp, elementwise=True, doc=doc,
                     **table))

    def build(x: Node) -> Node:
        return apply(op, x)
    build.__name__ = name
    build.__doc__ = doc
    return build


def _binary(name, kernel, vjp, doc, **table):
    op = register(Op(name, _ew_rule(name), kernel, vjp, elementwise=True, doc=doc, **table))

    def build(a, b) -> Node:
        return apply(op, *_prepare(name, a, b))
    build.__name__ = name
    build.__doc__ = doc
    return build


# ---------------------------------------------------------------- arithmetic
add = _binary("add", lambda xp, a, b: a + b, lambda n, g: (g, g), "a + b", cuda="{0} + {1}",
              numpy="add", printing=infix("+", 1, associative=True))
sub = _binary("sub", lambda xp, a, b: a - b, lambda n, g: (g, neg(g)), "a - b", cuda="{0} - {1}",
              numpy="subtract", printing=infix("-", 1))
mul = _binary("mul", lambda xp, a, b: a * b,
              lambda n, g: (mul(g, n.args[1]), mul(g, n.args[0])), "a * b", cuda="{0} * {1}",
              numpy="multiply", printing=infix("*", 2, associative=True))
div = _binary("div", lambda xp, a, b: a / b,
              lambda n, g: (div(g, n.args[1]), neg(mul(g, div(n, n.args[1])))), "a / b",
              cuda="{0} / {1}", numpy="divide", printing=infix("/", 2))
neg = unary_op("neg", lambda xp, x: -x, lambda n, g: (neg(g),), "-x", floats=False,
             cuda="-({0})",  # parenthesized: a literal -2.0 must not become --2.0
             numpy="negative", printing=prefix("-", 4))

# ---------------------------------------------------------------- activations / math
exp = unary_op("exp", lambda xp, x: xp.exp(x), lambda n, g: (mul(g, n),), "e ** x", cuda="exp({0})",
             numpy="exp")
log = unary_op("log", lambda xp, x: xp.log(x), lambda n, g: (div(g, n.args[0]),), "natural log",
             cuda="log({0})", numpy="log")
tanh = unary_op("tanh", lambda xp, x: xp.tanh(x),
              lambda n, g: (mul(g, sub(1.0, square(n))),), "hyperbolic tangent", cuda="tanh({0})",
              numpy="tanh")


relu = unary_op("relu", lambda xp, x: xp.maximum(x, 0),
              lambda n, g: (where(greater(n.args[0], 0.0), g, zeros_like(g)),), "max(x, 0)",
              cuda="({0} < {T}(0) ? {T}(0) : {0})",  # NaN stays NaN, as in NumPy
              numpy="{v} = np.maximum({0}, 0, out={out})", inplace=(0,), broadcasting=True)
square = unary_op("square", lambda xp, x: x * x,
                lambda n, g: (mul(g, mul(n.args[0], 2.0)),), "x * x", cuda="{0} * {0}",
                numpy="square")
sqrt = unary_op("sqrt", lambda xp, x: xp.sqrt(x),
              lambda n, g: (div(g, mul(n, 2.0)),), "square root", cuda="sqrt({0})", numpy="sqrt")


def _pow_rule(x, *, exponent):
    check_float("pow", x)
    return x.shape, x.dtype


def _pow_vjp(n, g):
    c = n.attr("exponent")
    if c == 0.0:  # x ** 0 is constant: its gradient is 0 everywhere (0 * x ** -1 is NaN at 0)
        return (zeros_like(g),)
    return (mul(g, mul(pow(n.args[0], c - 1), c)),)


def _pow_printing(node, args):
    return f"{atom(args[0])} ** {node.attr('exponent'):g}", 5


register(Op("pow", _pow_rule, lambda xp, x, *, exponent: x ** exponent, _pow_vjp,
            elementwise=True, doc="x ** p for a constant p", cuda="pow({0}, {T}({exponent!r}))",
            numpy="{v} = np.power({0}, {exponent!r}, out={out})", inplace=(0,),
            broadcasting=True, printing=_pow_printing))


def pow(x: Node, exponent) -> Node:
    """``x ** p`` for a constant, finite exponent ``p`` (``x ** 2`` builds ``square``)."""
    if isinstance(exponent, Node):
        raise TypeError("pow: the exponent must be a number; use exp(b * log(a)) for a tensor one")
    if isinstance(exponent, (bool, np.bool_)) or not isinstance(exponent, (Number, np.number)):
        raise TypeError(f"pow: the exponent must be a number, got {type(exponent).__name__}")
    exponent = float(exponent)
    if not np.isfinite(exponent):
        raise ValueError(f"pow: the exponent must be finite, got {exponent!r}")
    if exponent == 1.0:
        return x
    if exponent == 2.0:
        return square(x)
    return apply("pow", x, exponent=exponent)


# ---------------------------------------------------------------- comparisons and logic
def _compare(name, kernel, symbol):
    op = register(Op(name, _ew_rule(name, out_dtype=bool), kernel, None, elementwise=True,
                     doc=f"elementwise {name}, a bool mask (not differentiable)",
                     cuda="{0} " + symbol + " {1}", numpy=name))

    def build(a, b) -> Node:
        return apply(op, *_prepare(name, a, b))
    build.__name__ = name
    build.__doc__ = f"Elementwise ``{name}`` as a bool mask."
    return build


greater = _compare("greater", lambda xp, a, b: a > b, ">")
less = _compare("less", lambda xp, a, b: a < b, "<")
greater_equal = _compare("greater_equal", lambda xp, a, b: a >= b, ">=")
less_equal = _compare("less_equal", lambda xp, a, b: a <= b, "<=")
equal = _compare("equal", lambda xp, a, b: a == b, "==")
not_equal = _compare("not_equal", lambda xp, a, b: a != b, "!=")


def _bool_rule(name):
    def rule(*xs):
        same_shape(name, *xs)
        if any(x.dtype.kind != "b" for x in xs):
            raise ShapeError(f"{name}: expects bool masks, got "
                             + ", ".join(dtype_name(x.dtype) for x in xs))
        return xs[0].shape, np.dtype(bool)
    return rule


register(Op("logical_not", _bool_rule("logical_not"), lambda xp, a: ~a, elementwise=True,
            doc="elementwise not of a bool mask", cuda="!{0}", numpy="logical_not"))
register(Op("logical_and", _bool_rule("logical_and"), lambda xp, a, b: a & b, elementwise=True,
            doc="elementwise and of bool masks", cuda="{0} && {1}", numpy="logical_and"))
register(Op("logical_or", _bool_rule("logical_or"), lambda xp, a, b: a | b, elementwise=True,
            doc="elementwise or of bool masks", cuda="{0} || {1}", numpy="logical_or"))


def logical_not(a: Node) -> Node:
    """``~mask``."""
    return apply("logical_not", a)


def logical_and(a, b) -> Node:
    """``mask_a & mask_b``."""
    return apply("logical_and", *_prepare("logical_and", a, b))


def logical_or(a, b) -> Node:
    """``mask_a | mask_b``."""
    return apply("logical_or", *_prepare("logical_or", a, b))


# ---------------------------------------------------------------- where, cast, stop_gradient
def _where_rule(c, a, b):
    same_shape("where", c, a, b)
    if c.dtype.kind != "b":
        raise ShapeError(f"where: the condition must be a bool mask, got {dtype_name(c.dtype)}")
    return a.shape, same_dtype("where", a, b)


def _where_vjp(n, g):
    c = n.args[0]
    z = zeros_like(g)
    return None, where(c, g, z), where(c, z, g)


register(Op("where", _where_rule, lambda xp, c, a, b: xp.where(c, a, b), _where_vjp,
            elementwise=True, doc="select a where the mask is true, else b",
            cuda="({0} ? {1} : {2})",
            numpy="{v} = {out}; np.copyto({v}, {2}); np.copyto({v}, {1}, where={0})",
            inplace=(2,), broadcasting=True))


def where(cond: Node, a, b) -> Node:
    """``a`` where ``cond`` (a bool mask) holds, else ``b``; broadcasts like the binary ops."""
    if not isinstance(cond, Node):
        raise TypeError("where: the condition must be a bool Node")
    like = a if isinstance(a, Node) else b
    if not isinstance(like, Node):
        raise TypeError("where: a or b must be a Node")
    a, b = lift(a, like, "where"), lift(b, like, "where")
    same_dtype("where", a, b)
    shape = broadcast_shapes("where", cond.shape, a.shape, b.shape)
    return apply("where", *(broadcast_to(v, shape) for v in (cond, a, b)))


def _cast_vjp(n, g):
    x = n.args[0]
    return (cast(g, x.dtype),) if x.dtype.kind == "f" and n.dtype.kind == "f" else (None,)


register(Op("cast", lambda x, *, dtype: (x.shape, dtype),
            lambda xp, x, *, dtype: x.astype(dtype), _cast_vjp, elementwise=True,
            doc="convert to another dtype", cuda="({T})({0})",
            numpy="{v} = {out}; np.copyto({v}, {0}, casting='unsafe')"))


def cast(x: Node, dtype) -> Node:
    """``x`` converted to ``dtype`` (the only way dtypes change)."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise ShapeError(f"cast: cannot convert {x.label()} to {dtype}; choose a bool, integer "
                         f"or floating dtype")
    return x if dtype == x.dtype else apply("cast", x, dtype=dtype)


def _alias(e) -> str:
    """The view of an identity: its argument itself."""
    return e.args[0]


register(Op("stop_gradient", lambda x: (x.shape, x.dtype), lambda xp, x: x,
            lambda n, g: (None,), elementwise=True,
            doc="identity forward, zero gradient (truncated BPTT)", view=_alias, marker=True))


def stop_gradient(x: Node) -> Node:
    """``x`` in the forward pass; no gradient flows through it."""
    return apply("stop_gradient", x)


# ---------------------------------------------------------------- n-ary sum
def _add_n_kernel(xp, *xs):
    out = xs[0] + xs[1] if len(xs) > 1 else xs[0].copy()
    for x in xs[2:]:
        out += x
    return out


def _add_n_numpy(e) -> str:
    """A run of steps reduced into the output first (from -0.0: the same bits as adding the
    terms one by one), any further run reduced and added (a small temporary: rare), then
    the other terms added in place."""
    runs = [x for i, x in enumerate(e.args) if e.is_run(i)]
    rest = [x for i, x in enumerate(e.args) if not e.is_run(i)]
    v = e.v
    if runs:
        start = ", initial=-0.0" if e.ufunc_reduce and e.dtype.kind == "f" else ""
        fn = "add.reduce" if e.ufunc_reduce else "sum"
        parts = [f"{v} = {e.out}", f"np.{fn}({runs[0]}, axis=0, out={v}{start})"]
        parts += [f"np.add({v}, np.{fn}({x}, axis=0{start}), out={v})" for x in runs[1:]]
        parts += [f"np.add({v}, {x}, out={v})" for x in rest]
        return "; ".join(parts)
    return (f"{v} = np.add({rest[0]}, {rest[1]}, out={e.out})"
            + "".join(f"; np.add({v}, {x}, out={v})" for x in rest[2:]))


register(Op("add_n", _ew_rule("add_n"), _add_n_kernel, lambda n, g: (g,) * len(n.args),
            elementwise=True, doc="the sum of n equally shaped terms (gradient accumulation)",
            cuda="+",  # no placeholders: an n-ary infix operator
            numpy=_add_n_numpy, inplace=(0, 1), broadcasting=True, aggregate=True,
            printing=nary("+", 1)))


def add_n(xs) -> Node:
    """The sum of equally shaped nodes, as one n-ary node."""
    xs = tuple(xs)
    if not xs:
        raise ShapeError("add_n: needs at least one term")
    return xs[0] if len(xs) == 1 else apply("add_n", *xs)


register(Op("recompute", lambda x: (x.shape, x.dtype), lambda xp, x: x,
            lambda n, g: (g,), elementwise=True,
            doc="identity marking a checkpointed value recomputation starts from", view=_alias,
            marker=True))


def recompute(x: Node) -> Node:
    """``x`` itself, marked as where a recomputation starts (checkpointing): nodes built
    from it are distinct from the originals, so they are recomputed, not shared.  The same
    in every segment, so the recomputation of each segment is the same code."""
    return apply("recompute", x)
