"""Common subexpressions.  Hash-consing already makes equal structure one node; this pass
also merges commutative twins: ``b + a`` becomes the ``a + b`` that already exists."""

from __future__ import annotations

from ...core.ir import Graph, Node
from ...core.ops import O
from .rewrite import rewrite

__all__ = ["cse"]

_COMMUTATIVE = frozenset([O.add, O.mul, O.logical_and, O.logical_or, O.equal, O.not_equal])


def cse(graph: Graph):
    """Merge ``b + a`` into an existing ``a + b`` (commutative ops); ``(graph, nodes merged)``."""
    kept = set()  # nodes of the result so far: a twin is merged into an earlier one only

    def rule(m: Node):
        twin = None
        if m.op in _COMMUTATIVE and m.args[0] is not m.args[1]:
            twin = Node.existing(m.op, m.args[::-1], m.attrs, m.shape, m.dtype)
            if twin not in kept:
                twin = None
        kept.add(twin or m)
        return twin

    return rewrite(graph, rule, "cse")
