"""Gradient checkpointing: keep every k-th step's values, recompute the rest in the backward pass.

BPTT keeps every forward activation until the backward pass reads it, so memory grows with
T times the activations of a step.  ``checkpoint(graph, every=k)`` rewrites a gradient graph
so that the backward pass reads, for each step that is not a multiple of ``k``, a
recomputed copy of the forward values, built from the last checkpointed step's values
(marked with a ``recompute`` identity, so the copies are new nodes and not the originals).
The forward values of those steps then die as soon as the forward pass is done with them:
memory falls to about T/k + k steps' worth, for one extra forward pass of compute.

Run it on the graph from :func:`graphrnn.grad_graph` (it reads the ``step`` and ``origin``
metadata unrolling and differentiation leave), before optimizing.
"""

from __future__ import annotations

from typing import Dict

from ...core import ops as F
from ...core.ir import Graph, Node, gc_paused, meta_of
from ...core.ops import O
from .rewrite import rebuild

__all__ = ["checkpoint"]

_RECOMPUTE = O.recompute


def checkpoint(graph: Graph, every: int) -> Graph:
    """Recompute non-checkpoint steps' forward values in the backward pass (see module doc)."""
    if not isinstance(every, int) or every < 1:
        raise ValueError(f"checkpoint: every must be an int >= 1, got {every!r}")
    if every == 1:
        return graph
    with gc_paused():
        return _checkpoint(graph, every)


def _is_forward(n: Node) -> bool:
    return bool(n.args) and meta_of(n)["origin"] != "adjoint" and n.op is not _RECOMPUTE


def _checkpoint(graph: Graph, k: int) -> Graph:
    copies: Dict[Node, Node] = {}

    def copy_of(root: Node) -> Node:
        """The recomputed version of forward node ``root`` (iterative, memoized)."""
        stack = [root]
        while stack:
            n = stack[-1]
            if n in copies:
                stack.pop()
                continue
            step = meta_of(n)["step"]
            if not _is_forward(n) or step is None:
                copies[n] = n           # leaves and loop-invariant values are shared
                stack.pop()
                continue
            if step % k == 0:           # a checkpoint: kept, and recomputation starts here
                copies[n] = F.recompute(n)
                stack.pop()
                continue
            todo = [a for a in n.args if a not in copies]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            copies[n] = rebuild(n, tuple(copies[a] for a in n.args))
        return copies[root]

    new: Dict[Node, Node] = {}
    for n in graph.nodes:
        if n.args and meta_of(n)["origin"] == "adjoint":
            new[n] = rebuild(n, tuple(copy_of(a) if _is_forward(a) else new.get(a, a)
                                      for a in n.args))
        else:
            new[n] = rebuild(n, tuple(new.get(a, a) for a in n.args))
    return Graph({name: new[v] for name, v in graph.outputs.items()}, name=graph.name)
