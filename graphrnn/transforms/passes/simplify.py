"""Algebraic rules of the canonicalize phase: identities (``x + -0.0``, ``x - 0.0``, ``x*1``,
``x/1``, ``--x``), sums with zero terms, products with a zero initial state, ``where`` with
equal branches, and ``stop_gradient`` as the identity it is at run time.

Every rule not marked ``fast_math`` is IEEE-exact: the result has the same bits for every
input, infinities, NaN and the sign of zero included.  So ``x * 0`` stays (it is NaN for an
infinite ``x``), ``x + 0.0`` stays (it turns -0.0 into 0.0) and a product with a zero
initial state becomes ``sum(W - W)`` broadcast (``0 @ W`` is NaN in the columns of W that
hold an inf or a NaN).  The ``fast_math`` rules hold for finite values only: ``x*0 -> 0``,
``0/x -> 0``, ``x + 0 -> x`` for either zero, ``0 @ W -> 0``.
"""

from __future__ import annotations

import math
from typing import List, Optional

from ...core import ops as F
from ...core.ir import Node
from ...core.ops import O
from .patterns import ANY, Pat, Rule, RuleSet
from .rewrite import is_zero, zero_sign

__all__ = ["ALGEBRA", "is_zero_product", "zeros_of", "negative_sign", "not_float"]


def zeros_of(n: Node, sign: float = 0.0) -> Node:
    """Zeros of ``n``'s shape and dtype; ``sign`` -0.0 for negative zeros."""
    return F.full(n.shape, sign, n.dtype)


def negative_sign(z) -> bool:
    """True when the number ``z`` (a known zero's value, say) has its sign bit set."""
    return z is not None and math.copysign(1.0, z) < 0


def not_float(n: Node) -> bool:
    """True for a node of a non-float dtype (where fast-math rules are exact)."""
    return n.dtype.kind != "f"


def additive_identity(x: Node) -> bool:
    """``x`` is known to be -0.0 (``y + -0.0`` is ``y`` for every ``y``) or an integer 0."""
    z = zero_sign(x)
    return z is not None and (negative_sign(z) or x.dtype.kind != "f")


def _positive_zero(x: Node) -> bool:
    z = zero_sign(x)
    return z is not None and not negative_sign(z)


def _zero_product(n: Node) -> Node:
    """``0 @ w`` has equal rows (``w @ 0`` equal columns): +0.0, or NaN where w's column
    (row) holds an inf or a NaN, as the GEMM gives it.  That is ``sum(w - w)`` over the
    contracted axis (``x - x`` is +0.0 for finite x, NaN otherwise), broadcast: no GEMM at
    all.  Zeros for integers or when both sides are zero."""
    a, b = n.args
    if n.dtype.kind != "f" or (is_zero(a) and is_zero(b)):
        return zeros_of(n)
    other, axis = (b, -2) if is_zero(a) else (a, -1)
    return F.broadcast_to(F.sum(F.sub(other, other), axis=axis, keepdims=True), n.shape)


def is_zero_product(t: Node) -> bool:
    """True for what the ``zero-state-product`` rule builds (a product with a zero initial
    state)."""
    while t.op is O.broadcast_to:
        t = t.args[0]
    return (t.op is O.sum and t.args[0].op is O.sub
            and t.args[0].args[0] is t.args[0].args[1])


def _sum_of_zeros(n: Node) -> Node:
    """-0.0 only when every term is."""
    signs = [zero_sign(t) for t in n.args]
    return zeros_of(n, -0.0 if all(map(negative_sign, signs)) else 0.0)


def _drop_terms(n: Node, drop) -> Optional[Node]:
    terms: List[Node] = [t for t in n.args if not drop(t)]
    return F.add_n(terms) if terms and len(terms) < len(n.args) else None


def _zero_arg(n: Node) -> bool:
    return is_zero(n.args[0]) or is_zero(n.args[1])


X = Pat.var("x")
_ID = Pat(where=additive_identity)

#: IEEE-exact algebra, and (flagged ``fast_math``) identities for finite values only.
ALGEBRA = RuleSet([
    Rule("add-zero", Pat(O.add, args=(X, Pat.zero()), commutative=True), lambda x: x,
         fast_math=True, doc="x + 0 -> x (either zero; turns -0.0 + 0.0 into -0.0)"),
    Rule("add-negative-zero", Pat(O.add, args=(X, _ID), commutative=True), lambda x: x,
         doc="x + -0.0 -> x (or an integer 0): -0.0 is the additive identity"),
    Rule("sub-zero", Pat(O.sub, args=(X, Pat(where=_positive_zero))), lambda x: x,
         doc="x - 0.0 -> x"),
    Rule("sub-negative-zero", Pat(O.sub, args=(X, Pat.zero())), lambda x: x, fast_math=True,
         doc="x - -0.0 -> x (turns -0.0 into 0.0 without fast_math)"),
    Rule("sub-from-zero", Pat(O.sub, args=(Pat.zero(), X)), lambda x: F.neg(x), fast_math=True,
         doc="0.0 - x -> -x"),
    Rule("sub-from-negative-zero", Pat(O.sub, args=(_ID, X)), lambda x: F.neg(x),
         doc="-0.0 - x -> -x (or an integer 0)"),
    Rule("mul-by-one", Pat(O.mul, args=(X, Pat.one()), commutative=True), lambda x: x,
         doc="x * 1 -> x"),
    Rule("mul-by-zero", Pat(O.mul, name="n", where=_zero_arg), zeros_of, fast_math=True,
         exact_if=not_float, doc="x * 0 -> 0 (NaN for an infinite x; exact for integers)"),
    Rule("div-by-one", Pat(O.div, args=(X, Pat.one())), lambda x: x, doc="x / 1 -> x"),
    Rule("zero-div", Pat(O.div, name="n", args=(Pat.zero(), ANY)), zeros_of, fast_math=True,
         doc="0 / x -> 0 (NaN for x = 0 or a NaN x)"),
    Rule("double-negation", Pat(O.neg, args=(Pat(O.neg, args=(X,)),)), lambda x: x,
         doc="-(-x) -> x"),
    Rule("neg-of-zero", Pat(O.neg, name="n", args=(Pat.var("z", where=is_zero),)),
         lambda n, z: zeros_of(n, -zero_sign(z)) if zero_sign(z) is not None else None,
         doc="-(0.0) -> -0.0 and -(-0.0) -> 0.0"),
    Rule("matmul-by-zero", Pat(O.matmul, name="n", where=_zero_arg), zeros_of, fast_math=True,
         doc="0 @ W -> 0 (NaN where W holds an inf or a NaN)"),
    Rule("zero-state-product", Pat(O.matmul, name="n", where=_zero_arg), _zero_product,
         doc="0 @ W -> sum(W - W) broadcast: the product with a zero initial state, NaN "
             "where W holds an inf or a NaN, without a GEMM"),
    Rule("sum-of-zeros", Pat(O.add_n, name="n",
                             where=lambda n: all(zero_sign(t) is not None for t in n.args)),
         _sum_of_zeros, doc="add_n of zeros -> zeros (-0.0 only when every term is)"),
    Rule("sum-drop-zero", Pat(O.add_n, name="n"), lambda n: _drop_terms(n, is_zero),
         fast_math=True, doc="add_n(x, 0, ...) -> add_n(x, ...)"),
    Rule("sum-drop-negative-zero", Pat(O.add_n, name="n"),
         lambda n: _drop_terms(n, additive_identity),
         doc="add_n(x, -0.0, ...) -> add_n(x, ...) (or an integer 0)"),
    Rule("where-same-branches", Pat(O.where, args=(ANY, X, X)), lambda x: x,
         doc="where(c, x, x) -> x"),
    Rule("drop-stop-gradient", Pat(O.stop_gradient, args=(X,)), lambda x: x,
         doc="stop_gradient(x) -> x: the identity once the graph is differentiated"),
])
