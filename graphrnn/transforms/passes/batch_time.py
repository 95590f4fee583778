"""Batching across time (a global pass): matmuls against the same right operand whose left
operands do not depend on one another (``x[t] @ U`` for every t) become one GEMM over the
stacked left operands, indexed back per step.  With ``x[t]`` slices of one input, the
stack is the input itself.  (Sums of products as one GEMM are rules: :mod:`.sum_rules`.)
"""

from __future__ import annotations

from typing import Dict, List

from ...core import ops as F
from ...core.ir import Graph, Node, meta_of
from ...core.ops import O
from .deps import dependents_of, matmuls_sharing
from .rewrite import plan_group, rewrite_groups

__all__ = ["batch_time", "step_of"]


def batch_time(graph: Graph):
    """One GEMM for independent matmuls sharing a right operand; ``(graph, matmuls batched)``."""
    groups = matmuls_sharing(graph, 1)
    needs: Dict[Node, list] = {}
    build: Dict[Node, object] = {}
    batched = 0
    for right, members in groups.items():
        if len(members) < 2:
            continue
        depends = dependents_of(graph, members)
        free = [m for m in members if m.args[0] not in depends]
        by_shape: Dict[tuple, List[Node]] = {}
        for m in free:
            by_shape.setdefault(m.args[0].shape, []).append(m)
        for same in by_shape.values():
            if len(same) < 2:
                continue
            # in time order: slices of one sequence stack back into it (no copy), and the
            # batched product's rows follow time whichever way the graph was built
            same.sort(key=lambda m: _time_of(m.args[0]))
            plan_group(needs, build, same, [right] + [m.args[0] for m in same],
                       lambda new_of, ms=tuple(same), w=right: F.matmul(
                           F.stack([new_of(m.args[0]) for m in ms], axis=0), new_of(w)),
                       F.index)
            batched += len(same)
    if not build:
        return graph, 0
    return rewrite_groups(graph, needs, build, "batch_time"), batched


def step_of(n: Node) -> int:
    """The time step a (possibly transposed) operand belongs to; -1 when unknown.  A
    transpose is looked through: it is built where it is used (the backward step that
    reads ``h[t-1].T`` tags it ``t``), its operand where the value is computed."""
    if n.op is O.transpose and meta_of(n.args[0])["step"] is not None:
        n = n.args[0]
    step = meta_of(n)["step"]
    return -1 if step is None else step


def _time_of(n: Node) -> tuple:
    """Sort key in time: the step, or for a slice ``x[k]`` of a sequence its index ``k``."""
    key = n.attr("key") if n.op is O.index else None
    sliced = key[0][1] if key and key[0][0] == "i" else -1
    return (step_of(n), sliced)
