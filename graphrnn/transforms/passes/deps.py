"""Dependency questions passes ask before merging nodes (merging dependent nodes would
create a cycle)."""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Set

from ...core.ir import Graph, Node
from ...core.ops import O

__all__ = ["dependents_of", "reaches", "matmuls_sharing"]


def dependents_of(graph: Graph, members: Iterable[Node],
                  pos: Optional[Dict[Node, int]] = None) -> Set[Node]:
    """Every node of ``graph`` that is one of ``members`` or depends on one (one pass).

    With ``pos`` (``graph.ids()``) only the nodes from the first member to the last are
    looked at: all that the members' arguments can be, a short stretch of a long graph."""
    marked = set(members)
    nodes = graph.nodes
    if pos is not None and marked:
        at = [pos[m] for m in marked]
        nodes = nodes[min(at):max(at) + 1]
    for n in nodes:
        if n not in marked and any(a in marked for a in n.args):
            marked.add(n)
    return marked


def reaches(sources: Iterable[Node], targets: Set[Node], pos: Dict[Node, int]) -> bool:
    """True when any of ``sources`` depends on (or is) one of ``targets``.

    A backward search that never goes below the earliest target's topological position,
    so it stays local when the targets are close together.
    """
    if not targets:
        return False
    floor = min(pos[t] for t in targets)
    stack: List[Node] = [s for s in sources if pos.get(s, -1) >= floor]
    seen = set(stack)
    while stack:
        n = stack.pop()
        if n in targets:
            return True
        for a in n.args:
            if a not in seen and pos.get(a, -1) >= floor:
                seen.add(a)
                stack.append(a)
    return False


def matmuls_sharing(graph: Graph, side: int) -> Dict[Node, List[Node]]:
    """Matmuls against a 2-D right operand, grouped by their left (``side=0``) or right
    (``side=1``) operand, in graph order."""
    groups: Dict[Node, List[Node]] = {}
    matmul = O.matmul
    for n in graph.nodes:
        if n.op is matmul and n.args[1].ndim == 2:
            groups.setdefault(n.args[side], []).append(n)
    return groups
