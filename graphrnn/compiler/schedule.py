"""The order of straight-line code: depth-first from the outputs, deepest argument first."""

from __future__ import annotations

from typing import Dict, List

from ..core.ir import Graph, Node

__all__ = ["schedule"]


def schedule(graph: Graph) -> List[Node]:
    """A topological order that keeps values alive briefly: depth-first from the outputs,
    visiting the deepest argument first (ties in argument order), so a long chain (the
    backward pass through time) is computed before the short side computations that feed
    each of its steps (a recomputed activation is produced right before its use)."""
    depth: Dict[Node, int] = {}
    for n in graph.nodes:
        depth[n] = 1 + max((depth[a] for a in n.args), default=0)

    def kids(n: Node) -> List[Node]:
        return sorted(dict.fromkeys(n.args), key=lambda a: -depth[a])

    order: List[Node] = []
    done = set()
    for root in graph.outputs.values():
        if root in done:
            continue
        done.add(root)
        stack = [(root, kids(root), 0)]
        while stack:
            n, ks, i = stack[-1]
            if i < len(ks):
                stack[-1] = (n, ks, i + 1)
                k = ks[i]
                if k not in done:
                    done.add(k)
                    stack.append((k, kids(k), 0))
                continue
            stack.pop()
            order.append(n)
    return order
