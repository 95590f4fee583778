"""Stabilization (O2): forms that underflow replaced by the stable ops that compute what they
mean.  Not bit-exact by nature: ``log(sigmoid(-800))`` is -inf, ``log_sigmoid(-800)`` is
-800; elsewhere they agree within a few ulp, and NaN stays NaN."""

from __future__ import annotations

from typing import Optional

from ...core import ops as F
from ...core.ir import Graph, Node
from .rewrite import is_one, rewrite

__all__ = ["stabilize"]

_PROBABILITIES = ("softmax", "sigmoid")


def _cancelled(n: Node, logged) -> Optional[Node]:
    """``(g / p) * p -> g`` and ``(g / p) * (p * x) -> g * x`` for a probability ``p`` whose
    log the graph takes: the gradient of ``log(p)`` met by the gradient of ``p``, NaN (0 / 0)
    where ``p`` underflows."""
    for q, other in ((n.args[0], n.args[1]), (n.args[1], n.args[0])):
        if q.op.name != "div" or q.args[1] not in logged:
            continue
        p, g = q.args[1], q.args[0]
        if other is p:
            return g
        if other.op.name == "mul" and p in other.args:
            rest = other.args[1] if other.args[0] is p else other.args[0]
            return F.mul(g, rest)
    return None


def stabilize(graph: Graph):
    """``log(softmax(x))`` -> ``log_softmax(x)``, ``log(sigmoid(x))`` -> ``log_sigmoid(x)``,
    and in their gradients ``(g / p) * p * x`` -> ``g * x`` and ``1 - sigmoid(x)`` ->
    ``sigmoid(-x)``: the value the formula means
    where the original underflows (``log(sigmoid(-800))`` is -inf and its gradient NaN;
    ``log_sigmoid(-800)`` is -800, its gradient 1), within a few ulp elsewhere.  Graphs that
    take no log of a probability are left as they are; ``(graph, rewrites)``."""
    logged = {n.args[0] for n in graph.nodes
              if n.op.name == "log" and n.args[0].op.name in _PROBABILITIES}
    if not logged:
        return graph, 0

    def rule(n: Node) -> Optional[Node]:
        op, a = n.op.name, n.args
        if op == "log" and a[0].op.name == "softmax":
            return F.log_softmax(a[0].args[0], a[0].attr("axis"))
        if op == "log" and a[0].op.name == "sigmoid":
            return F.log_sigmoid(a[0].args[0])
        if op == "mul" and a[0].shape == a[1].shape:
            return _cancelled(n, logged)
        if op == "sub" and a[1] in logged and a[1].op.name == "sigmoid" and is_one(a[0]):
            return F.sigmoid(F.neg(a[1].args[0]))  # 1 - sigmoid(x) cancels for large x
        return None

    return rewrite(graph, rule, "stabilize")
