"""Canonical orders: straight code and loop bodies listed the same way at every unrolled
length.

The graph's own order of independent nodes can depend on the length: two interleaved chains
of ``s[t-2]`` are visited from whichever holds step T, so their order flips with the parity
of T, and so would the code built at each length.  Here nodes are listed in dependency
order, choosing among the ready ones by step, then by what they compute (op, attributes
with steps relative, their arguments a few levels deep; numbers compared as numbers, so
sizes in T keep their order at every T), then by graph order.
"""

from __future__ import annotations

import heapq
import re
from typing import Callable, Iterable, List

from ..core.ir import Node
from .rolled import RollError
from .steps import relative_attrs

__all__ = ["canonical_order", "describe"]


def describe(n: Node, tau, depth: int = 2) -> tuple:
    """What ``n`` computes, a few levels deep, with steps relative to its own: the same for
    the corresponding node of every step and every unrolled length."""
    if not n.args:
        return (n.op.name, str(n.attr("name")))
    here = (n.op.name, repr(relative_attrs(n, tau)))
    if depth == 0:
        return here
    return here + tuple((None if tau[a] is None or tau[n] is None else tau[n] - tau[a],
                         describe(a, tau, depth - 1)) for a in n.args)


def canonical_order(nodes: List[Node], deps: Callable[[Node], Iterable[Node]], tau,
                    step_first: bool = False) -> List[Node]:
    """``nodes`` in an order where ``deps(n)`` (those among ``nodes``) come before ``n``;
    among the ready ones the earliest step first (``step_first``), then by
    :func:`describe`, then their order in ``nodes``."""
    inside = set(nodes)
    position = {n: i for i, n in enumerate(nodes)}
    waiting, users = {}, {}
    for n in nodes:
        ds = {a for a in deps(n) if a in inside and a is not n}
        waiting[n] = len(ds)
        for a in ds:
            users.setdefault(a, []).append(n)

    def key(n):  # numbers compared as numbers: sizes in T keep their order at every T
        step = (-1 if tau[n] is None else tau[n]) if step_first else 0
        parts = re.split(r"(\d+)", repr(describe(n, tau)))
        return (step, [int(p) if i % 2 else p for i, p in enumerate(parts)], position[n])

    ready = [(key(n), position[n], n) for n in nodes if not waiting[n]]
    heapq.heapify(ready)
    out = []
    while ready:
        n = heapq.heappop(ready)[2]
        out.append(n)
        for u in users.get(n, ()):
            waiting[u] -= 1
            if not waiting[u]:
                heapq.heappush(ready, (key(u), position[u], u))
    if len(out) != len(nodes):
        raise RollError("a loop body's steps depend on each other in a cycle")
    return out
