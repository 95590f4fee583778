"""Batching across time, and sums of products as one GEMM.

- ``batch_time``: matmuls against the same right operand whose left operands do not depend
  on one another (``x[t] @ U`` for every t) become one GEMM over the stacked left operands,
  indexed back per step.  With ``x[t]`` slices of one input, the stack is the input itself.
- ``sum_of_products``: a sum of matmuls ``sum_i a_i @ b_i`` is one matmul of the
  concatenations, ``[a_1 | ... | a_k] @ [b_1; ...; b_k]`` (with ``fast_math``,
  ``(sum_i a_i) @ b`` when every term has the same right operand: not IEEE-exact, as
  ``1 @ inf + 0 @ inf`` is NaN and ``(1 + 0) @ inf`` is inf; without it such sums stay).
  The T-term gradient of a shared weight, ``sum_t h[t-1].T @ g[t]``, becomes one
  ``(H, T*B) @ (T*B, G)`` GEMM; the bias gradient's T reductions become one.
"""

from __future__ import annotations

from typing import Dict, List, Optional

from ...core import ops as F
from ...core.ir import Graph, Node, meta_of
from .deps import dependents_of, matmuls_sharing
from .rewrite import plan_group, rewrite, rewrite_groups

__all__ = ["batch_time", "sum_of_products", "weight_gradients"]


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


def _products(n: Node):
    """Split the terms of an add / add_n into 2-D matmuls and the rest."""
    prods, rest = [], []
    for a in n.args:
        (prods if a.op.name == "matmul" and a.ndim == 2 and a.args[0].ndim == 2
         and a.args[1].ndim == 2 else rest).append(a)
    return prods, rest


def _step_of(n: Node) -> int:
    """The time step a (possibly transposed) operand belongs to; -1 when unknown.  A
    transpose is looked through: it is built where it is used (the backward step that
    reads ``h[t-1].T`` tags it ``t``), its operand where the value is computed."""
    if n.op.name == "transpose" and meta_of(n.args[0])["step"] is not None:
        n = n.args[0]
    step = meta_of(n)["step"]
    return -1 if step is None else step


def _time_of(n: Node) -> tuple:
    """Sort key in time: the step, or for a slice ``x[k]`` of a sequence its index ``k``."""
    key = n.attr("key") if n.op.name == "index" else None
    sliced = key[0][1] if key and key[0][0] == "i" else -1
    return (_step_of(n), sliced)


def _join_left(xs: List[Node]) -> Node:
    """concat along the last axis; concat of transposes as the transpose of a concat."""
    if all(x.op.name == "transpose" and x.attr("axes") == (1, 0) for x in xs):
        return F.swap_last(F.concat([x.args[0] for x in xs], axis=0))
    return F.concat(xs, axis=-1)


def _is_outer(p: Node) -> bool:
    """``a.T @ g``: a product that contracts over rows (batch and time), a weight gradient."""
    return p.args[0].op.name == "transpose" and p.args[0].attr("axes") == (1, 0)


def _sum_rule(n: Node, outer_only: bool = False, fast: bool = False) -> Optional[Node]:
    if n.op.name not in ("add_n", "add"):
        return None
    prods, rest = _products(n)
    if outer_only:
        rest = rest + [p for p in prods if not _is_outer(p)]
        prods = [p for p in prods if _is_outer(p)]
    if len(prods) < 2:
        if n.op.name == "add_n":
            return _sum_of_reductions(n)
        return None
    shared = _factor_shared(prods)
    if shared is not None:  # sum_i a_i @ b = (sum_i a_i) @ b: one small GEMM
        if not fast:  # distributing is not IEEE-exact
            return None
        return shared if not rest else F.add_n(rest + [shared])
    # in time order, so stacked per-step values line up with their stack (see stack_views)
    prods.sort(key=lambda p: _step_of(p.args[0]))
    fused = F.matmul(_join_left([p.args[0] for p in prods]),
                     F.concat([p.args[1] for p in prods], axis=0))
    return fused if not rest else F.add_n(rest + [fused])


def _factor_shared(prods: List[Node]) -> Optional[Node]:
    """``(a_1 + ... + a_k) @ b`` when every product has the same right operand ``b`` and
    equally shaped left operands (a concat of k copies of ``b`` would be k times the work)."""
    right, shape = prods[0].args[1], prods[0].args[0].shape
    if any(p.args[1] is not right or p.args[0].shape != shape for p in prods):
        return None
    return F.matmul(F.add_n([p.args[0] for p in prods]), right)


def _sum_of_reductions(n: Node) -> Optional[Node]:
    """add_n of sum_to_shape(g_i, S) over equally shaped g_i: one reduction of a concat."""
    red = [a for a in n.args if a.op.name == "sum_to_shape" and a.args[0].ndim >= 1]
    if len(red) < 2:
        return None
    shape, inner = red[0].shape, red[0].args[0].shape
    if any(r.shape != shape or r.args[0].shape != inner for r in red):
        return None
    rest = [a for a in n.args if a not in set(red)]
    joined = F.sum_to_shape(F.concat([r.args[0] for r in red], axis=0),
                            shape) if len(inner) > len(shape) else None
    if joined is None:
        return None
    return joined if not rest else F.add_n(rest + [joined])


def sum_of_products(graph: Graph, fast_math: bool = False):
    """Sums of matmuls as one matmul, sums of reductions as one; ``(graph, sums fused)``."""
    return rewrite(graph, lambda n: _sum_rule(n, fast=fast_math), "sum_of_products")


def weight_gradients(graph: Graph, fast_math: bool = False):
    """Only the sums of ``a.T @ g`` (a shared weight's gradient over all steps) and of
    reductions, as one GEMM / one reduction each; runs before gate fusion splits them up."""
    return rewrite(graph, lambda n: _sum_rule(n, outer_only=True, fast=fast_math),
                   "weight_gradients")
