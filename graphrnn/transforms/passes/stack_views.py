"""Stacked values reused instead of copied.

- A first-axis concat of consecutive members of a stack (``concat(h[1], ..., h[T-1])`` for a
  weight gradient, while ``stack(h[1..T])`` is the output), or of another first-axis concat
  of equal blocks, becomes a reshaped slice of it: a view, no copy.  So does a stack of
  consecutive members of a longer stack (two batched groups over different steps).
- A sum of the same terms that a first-axis concat already gathers (a bias gradient beside
  the weight gradient's concat) becomes one reduction of that concat.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

from ...core import ops as F
from ...core.ir import Graph, Node
from ...core.ops import O
from .rewrite import rewrite

__all__ = ["stack_views"]

_STACK, _CONCAT = O.stack, O.concat


def stack_views(graph: Graph):
    """Concats of stacked steps as views; sums of concatenated terms as reductions."""
    member: Dict[Node, Tuple[Node, int]] = {}
    longest: Dict[Node, Tuple[Node, int]] = {}  # the longest stack of each member
    gathered: Dict[frozenset, Node] = {}
    for n in graph.nodes:
        if n.op is _STACK and n.attr("axis") == 0:
            for i, a in enumerate(n.args):
                member.setdefault(a, (n, i))
                if a not in longest or len(longest[a][0].args) < len(n.args):
                    longest[a] = (n, i)
        if n.op is _CONCAT and n.attr("axis") == 0 and len(set(a.shape for a in n.args)) == 1:
            for i, a in enumerate(n.args):  # equal blocks: a concat is a reshaped stack
                member.setdefault(a, (n, i))
        if n.op is _CONCAT and n.attr("axis") == 0 and len(set(n.args)) == len(n.args):
            gathered.setdefault(frozenset(n.args), n)

    def rule(n: Node) -> Optional[Node]:
        if n.op is _STACK and n.attr("axis") == 0 and n.args[0] in longest:
            box, first = longest[n.args[0]]
            if box is n or any(longest.get(a) != (box, first + k) for k, a in enumerate(n.args)):
                return None
            return F.index(box, slice(first, first + len(n.args)))
        if n.op is _CONCAT and n.attr("axis") == 0 and n.args[0] in member:
            box, first = member[n.args[0]]
            for k, a in enumerate(n.args):
                if member.get(a) != (box, first + k):
                    return None
            if box is n:
                return None
            if box.op is O.concat:  # (k*B, ...) -> (k, B, ...) blocks
                block = box.args[0].shape
                box = F.reshape(box, (len(box.args),) + tuple(block))
            rows = F.index(box, slice(first, first + len(n.args)))
            return F.reshape(rows, (-1,) + tuple(box.shape[2:]))
        if n.op is O.sum_to_shape and n.args[0].op is O.add_n:
            terms = n.args[0].args
            box = gathered.get(frozenset(terms)) if len(set(terms)) == len(terms) else None
            if box is not None and box.ndim == n.args[0].ndim:
                return F.sum_to_shape(box, n.shape)
        return None

    return rewrite(graph, rule, "stack_views")
