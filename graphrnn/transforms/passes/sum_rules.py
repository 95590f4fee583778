"""Sums of products as one GEMM, as rules (the weight_gradients and sum_of_products phases).

A sum of matmuls ``sum_i a_i @ b_i`` is one matmul of the concatenations,
``[a_1 | ... | a_k] @ [b_1; ...; b_k]``; with ``fast_math``, ``(sum_i a_i) @ b`` when every
term has the same right operand (not IEEE-exact: ``1 @ inf + 0 @ inf`` is NaN and
``(1 + 0) @ inf`` is inf; without it such sums stay, as a concat of k copies of ``b`` would
be k times the work).  The T-term gradient of a shared weight, ``sum_t h[t-1].T @ g[t]``,
becomes one ``(H, T*B) @ (T*B, G)`` GEMM; the bias gradient's T reductions become one.
``weight_gradients`` runs first and takes only the products ``a.T @ g`` (before gate fusion
splits them up); ``sum_of_products`` takes the rest after batching.
"""

from __future__ import annotations

from typing import List, Optional

from ...core import ops as F
from ...core.ir import Node
from ...core.ops import O
from .batch_time import step_of
from .patterns import Pat, Rule, RuleSet
from .phases import Phase

__all__ = ["WEIGHT_GRADIENTS", "SUM_OF_PRODUCTS"]

_MATMUL = O.matmul


def _products(n: Node, outer_only: bool):
    """Split the terms of an add / add_n into 2-D matmuls (only ``a.T @ g`` ones with
    ``outer_only``) and the rest."""
    prods, rest = [], []
    for a in n.args:
        (prods if a.op is _MATMUL and a.ndim == 2 and a.args[0].ndim == 2
         and a.args[1].ndim == 2 and (not outer_only or _is_outer(a)) else rest).append(a)
    return prods, rest

def _join_left(xs: List[Node]) -> Node:
    """concat along the last axis; concat of transposes as the transpose of a concat."""
    if all(x.op is O.transpose and x.attr("axes") == (1, 0) for x in xs):
        return F.swap_last(F.concat([x.args[0] for x in xs], axis=0))
    return F.concat(xs, axis=-1)


def _is_outer(p: Node) -> bool:
    """``a.T @ g``: a product that contracts over rows (batch and time), a weight gradient."""
    return p.args[0].op is O.transpose and p.args[0].attr("axes") == (1, 0)


def _time_order(p: Node) -> tuple:
    """Sort key of a product ``a @ g`` of step ``t``: the earlier of its operands' known steps
    (``h[t-1].T @ g[t]`` sorts by ``t - 1``, ``x[t].T @ g[t]`` by ``t``), so that a first
    step whose left operand comes from elsewhere (a decoder's ``h[0]`` is the encoder's last
    state, tagged with the encoder's last step) still sorts first."""
    left, right = step_of(p.args[0]), step_of(p.args[1])
    known = [s for s in (left, right) if s >= 0]
    return (min(known) if known else -1, left, right)


def _gemm(n: Node, outer_only: bool) -> Optional[Node]:
    """``sum_i a_i @ b_i`` -> one matmul of the concatenations (not when every term has
    the same right operand: that is the fast-math rule's)."""
    prods, rest = _products(n, outer_only)
    if len(prods) < 2 or _factor_shared(prods) is not None:
        return None
    # in time order, so stacked per-step values line up with their stack (see stack_views)
    # in time order, so stacked per-step values line up with their stack (see stack_views)
    prods.sort(key=_time_order)
    fused = F.matmul(_join_left([p.args[0] for p in prods]),
                     F.concat([p.args[1] for p in prods], axis=0))
    return fused if not rest else F.add_n(rest + [fused])


def _shared_right(n: Node, outer_only: bool) -> Optional[Node]:
    """``sum_i a_i @ b`` -> ``(sum_i a_i) @ b``: one small GEMM (distributing is not
    IEEE-exact)."""
    prods, rest = _products(n, outer_only)
    shared = _factor_shared(prods) if len(prods) >= 2 else None
    if shared is None:
        return None
    return shared if not rest else F.add_n(rest + [shared])


def _reductions(n: Node, outer_only: bool) -> Optional[Node]:
    """A sum of reductions as one, in a sum the GEMM rules leave (fewer than two products)."""
    if len(_products(n, outer_only)[0]) >= 2:
        return None
    return _sum_of_reductions(n)


def _factor_shared(prods: List[Node]) -> Optional[Node]:
    """``(a_1 + ... + a_k) @ b`` when every product has the same right operand ``b`` and
    equally shaped left operands (a concat of k copies of ``b`` would be k times the work)."""
    right, shape = prods[0].args[1], prods[0].args[0].shape
    if any(p.args[1] is not right or p.args[0].shape != shape for p in prods):
        return None
    return F.matmul(F.add_n([p.args[0] for p in prods]), right)


def _sum_of_reductions(n: Node) -> Optional[Node]:
    """add_n of sum_to_shape(g_i, S) over equally shaped g_i: one reduction of a concat."""
    red = [a for a in n.args if a.op is O.sum_to_shape and a.args[0].ndim >= 1]
    if len(red) < 2:
        return None
    shape, inner = red[0].shape, red[0].args[0].shape
    if any(r.shape != shape or r.args[0].shape != inner for r in red):
        return None
    rest = [a for a in n.args if a not in set(red)]
    red.sort(key=lambda r: step_of(r.args[0]))  # in time order, like the GEMM's rows
    joined = F.sum_to_shape(F.concat([r.args[0] for r in red], axis=0),
                            shape) if len(inner) > len(shape) else None
    if joined is None:
        return None
    return joined if not rest else F.add_n(rest + [joined])


_SUMS = (O.add, O.add_n)


def _rules(kind: str, outer_only: bool, reductions: str) -> RuleSet:
    return RuleSet([
        Rule(f"{kind}-gemm", Pat(_SUMS, name="n"), lambda n: _gemm(n, outer_only),
             doc="sum_i a_i @ b_i -> [a_1 | ... | a_k] @ [b_1; ...; b_k]"),
        Rule(f"{kind}-shared-right", Pat(_SUMS, name="n"), lambda n: _shared_right(n, outer_only),
             fast_math=True, doc="sum_i a_i @ b -> (sum_i a_i) @ b"),
        Rule(reductions, Pat(O.add_n, name="n"), lambda n: _reductions(n, outer_only),
             doc="add_n of sum_to_shape(g_i) -> one sum_to_shape of the concat"),
    ])


#: only the sums of ``a.T @ g`` (a shared weight's gradient over all steps) and of
#: reductions, as one GEMM / one reduction each; runs before gate fusion splits them up
WEIGHT_GRADIENTS = Phase("weight_gradients", _rules("weight-gradient", True,
                                                    "bias-gradient-reduction"),
                         "sum over steps of a.T @ g -> one GEMM (and bias sums)")
#: sums of matmuls as one matmul, sums of reductions as one
SUM_OF_PRODUCTS = Phase("sum_of_products", _rules("sum-of-products", False,
                                                  "sum-of-reductions"),
                        "sums of matmuls / reductions -> one GEMM / reduction")
