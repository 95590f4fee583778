"""Gate fusion: matmuls sharing a left operand become one matmul against the concatenated
right operands, sliced back apart (``h @ W_i, h @ W_f, h @ W_g, h @ W_o`` -> one
``h @ [W_i | W_f | W_g | W_o]``), so a hand-declared LSTM runs like a fused one."""

from __future__ import annotations

from typing import Dict

from ...core import ops as F
from ...core.ir import Graph, Node
from .deps import reaches, matmuls_sharing
from .rewrite import plan_group, rewrite_groups

__all__ = ["gate_fusion"]


def _origin(n: Node, depth: int = 3) -> tuple:
    """What a right operand is made of, by leaf names (``W_f.T`` -> transpose of W_f), a
    few levels deep: the same at every step and every unrolled length."""
    if not n.args:
        return (str(n.attr("name")),)
    if depth == 0:
        return ("?",)
    return (n.op.name,) + tuple(_origin(a, depth - 1) for a in n.args)


def gate_fusion(graph: Graph):
    """Fuse matmuls with a shared left operand; ``(graph, matmuls fused)``."""
    pos = graph.ids()
    groups = matmuls_sharing(graph, 0)
    needs: Dict[Node, list] = {}
    build: Dict[Node, object] = {}
    fused = 0
    for left, members in groups.items():
        members = list(dict.fromkeys(members))
        if len(members) < 2 or len({m.args[1].dtype for m in members}) > 1:
            continue
        # a right operand computed from one of the products would make a cycle
        targets = set(members)
        members = [m for m in members if not reaches([m.args[1]], targets, pos)]
        if len(members) < 2:
            continue
        # in the order of the right operands, so every step (and every length) concatenates
        # the same weights the same way: the order a step's products were built in varies
        members.sort(key=lambda m: (_origin(m.args[1]), pos[m.args[1]], pos[m]))
        starts = [0]
        for m in members:
            starts.append(starts[-1] + m.shape[-1])
        plan_group(needs, build, members, [left] + [m.args[1] for m in members],
                   lambda new_of, ms=tuple(members): F.matmul(
                       new_of(ms[0].args[0]), F.concat([new_of(m.args[1]) for m in ms], axis=-1)),
                   lambda p, j, s=tuple(starts): F.index(p, (Ellipsis, slice(s[j], s[j + 1]))))
        fused += len(members)
    if not build:
        return graph, 0
    return rewrite_groups(graph, needs, build, "gate_fusion"), fused
