"""Gate fusion: matmuls sharing a left operand become one matmul against the concatenated
right operands, sliced back apart (``h @ W_i, h @ W_f, h @ W_g, h @ W_o`` -> one
``h @ [W_i | W_f | W_g | W_o]``), so a hand-declared LSTM runs like a fused one."""

from __future__ import annotations

from typing import Dict, List

from .. import ops as F
from ..ir import Graph, Node
from .deps import reaches
from .rewrite import rewrite_groups

__all__ = ["gate_fusion"]


def gate_fusion(graph: Graph):
    """Fuse matmuls with a shared left operand; ``(graph, matmuls fused)``."""
    pos = graph.ids()
    groups: Dict[Node, List[Node]] = {}
    for n in graph.nodes:
        if n.op.name == "matmul" and n.args[1].ndim == 2:
            groups.setdefault(n.args[0], []).append(n)
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
        operands = [left] + [m.args[1] for m in members]
        product = {}

        def fused_product(new_of, members=tuple(members), product=product):
            if "p" not in product:
                product["p"] = F.matmul(new_of(members[0].args[0]),
                                        F.concat([new_of(m.args[1]) for m in members], axis=-1))
            return product["p"]

        start = 0
        for j, m in enumerate(members):
            width = m.shape[-1]
            needs[m] = operands if j == 0 else [members[0]]
            build[m] = (lambda new_of, s=start, w=width, f=fused_product:
                        F.index(f(new_of), (Ellipsis, slice(s, s + w))))
            start += width
        fused += len(members)
    if not build:
        return graph, 0
    return rewrite_groups(graph, needs, build, "gate_fusion"), fused
