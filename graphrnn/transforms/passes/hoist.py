"""Loop-invariant terms hoisted into batched projections.

After batching across time, a step's pre-activation reads ``M[t] + b_ih + b_hh + h @ W``,
where ``M`` is the one GEMM over all steps and the biases read no step.  The invariant terms
are added to ``M`` once, for all steps (``M + b_ih + b_hh``), and each step reads
``M'[t] + h @ W``: two additions per step fewer, as a hand-written cell would do it.
"""

from __future__ import annotations

from typing import Dict, List

from ...core import ops as F
from ...core.ir import Graph, Node
from ...core.ops import O
from .rewrite import rewrite_groups
from .simplify import is_zero_product

__all__ = ["hoist_invariants"]


def _reads_data(graph: Graph) -> set:
    """Nodes that depend on an input or on a state of some step (``h@3``, as unrolling names
    it): their value may differ between steps.  A system without inputs has only states."""
    out = set()
    leaf = O.input
    for n in graph.nodes:
        if (n.op is leaf or (n.name and "@" in n.name)
                or any(a in out for a in n.args)):
            out.add(n)
    return out


def hoist_invariants(graph: Graph):
    """Add step-invariant terms of per-step sums to the batched tensor they index."""
    data = _reads_data(graph)
    pos = graph.ids()
    # roots: sums not feeding another sum of the same shape (inner sums are flattened into
    # their root; one also used elsewhere is rebuilt there from the same hoisted tensor)
    sums = (O.add, O.add_n)
    inner_of_add = set()
    for n in graph.nodes:
        if n.op in sums:
            inner_of_add.update(a for a in n.args if a.op in sums and a.shape == n.shape)
    needs: Dict[Node, list] = {}
    build: Dict[Node, object] = {}
    for root in graph.nodes:
        if root.op not in sums or root in inner_of_add or root.ndim < 1:
            continue
        terms: List[Node] = []
        stack = [root]
        while stack and len(terms) <= 32:  # the leaves of the add tree under root
            m = stack.pop()
            if m is root or (m.op in sums and m.shape == root.shape):
                stack.extend(reversed(m.args))
            else:
                terms.append(m)
        if stack:
            continue  # a very wide sum: leave it
        sliced = [t for t in terms if t.op is O.index and t.attr("key")[0][0] == "i"
                  and all(k[0] == "a" for k in t.attr("key")[1:])]
        if len(sliced) != 1:
            continue
        x = sliced[0]
        # a product with a zero initial state (see simplify) belongs to the first step only
        fixed = [t for t in terms if t is not x and t not in data
                 and t.op is not O.const and t.op is not O.fill and not is_zero_product(t)]
        if not fixed:
            continue
        rest = [t for t in terms if t is not x and t not in fixed]
        # in graph order, so every step (and every recomputed copy) builds the same sum
        lifted = sorted((t.args[0] if t.op is O.broadcast_to else t for t in fixed),
                        key=pos.__getitem__)
        big, step = x.args[0], x.attr("key")[0][1]
        needs[root] = [big] + lifted + rest

        def make(new_of, big=big, lifted=lifted, step=step, rest=rest):
            shifted = F.add_n([new_of(big)] + [F.broadcast_to(new_of(t), big.shape)
                                               for t in lifted])
            return F.add_n([F.index(shifted, step)] + [new_of(r) for r in rest])
        build[root] = make
    if not build:
        return graph, 0
    return rewrite_groups(graph, needs, build, "hoist_invariants"), len(build)
