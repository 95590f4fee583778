"""Common subexpressions.  Hash-consing already makes equal structure one node; this pass
also puts the operands of commutative binary ops (add, mul) in a canonical order, so
``a + b`` and ``b + a`` become one node."""

from __future__ import annotations

from typing import Dict

from ..ir import Graph, Node
from .rewrite import rebuild, same_meta

__all__ = ["cse"]

_COMMUTATIVE = {"add", "mul", "logical_and", "logical_or", "equal", "not_equal"}


def cse(graph: Graph):
    """Canonical operand order for commutative ops; ``(graph, nodes merged)``."""
    new: Dict[Node, Node] = {}
    rank: Dict[Node, int] = {}
    before = len(graph.nodes)
    for n in graph.nodes:
        m = rebuild(n, tuple(new[a] for a in n.args))
        if m.op.name in _COMMUTATIVE:
            x, y = m.args
            if rank.get(y, -1) < rank.get(x, -1):
                m = same_meta(Node(m.op, (y, x), m.attrs, m.shape, m.dtype), m)
        rank.setdefault(m, len(rank))
        new[n] = m
    out = Graph({k: new[v] for k, v in graph.outputs.items()}, name=graph.name)
    return out, before - len(out.nodes)
