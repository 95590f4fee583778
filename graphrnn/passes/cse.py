"""Common subexpressions.  Hash-consing already makes equal structure one node; this pass
also merges commutative twins: ``b + a`` becomes the ``a + b`` that already exists."""

from __future__ import annotations

from typing import Dict

from ..ir import Graph, Node
from .rewrite import rebuild

__all__ = ["cse"]

_COMMUTATIVE = {"add", "mul", "logical_and", "logical_or", "equal", "not_equal"}


def cse(graph: Graph):
    """Merge ``b + a`` into an existing ``a + b`` (commutative ops); ``(graph, nodes merged)``."""
    new: Dict[Node, Node] = {}
    kept = set()  # nodes of the result so far: a twin is merged into an earlier one only
    merged = 0
    for n in graph.nodes:
        m = rebuild(n, tuple(new[a] for a in n.args))
        if m.op.name in _COMMUTATIVE and m.args[0] is not m.args[1]:
            twin = Node.existing(m.op, m.args[::-1], m.attrs, m.shape, m.dtype)
            if twin is not None and twin in kept:
                m = twin
                merged += 1
        new[n] = m
        kept.add(m)
    if not merged:
        return graph, 0
    return Graph({k: new[v] for k, v in graph.outputs.items()}, name=graph.name), merged
