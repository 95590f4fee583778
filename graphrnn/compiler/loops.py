"""Loop formation: an optimized graph of T steps rerolled into straight code and loops.

:mod:`.steps` gives every node a step and every stepped node a class.  Here:

1. **Loop classes** are classes present at three or more consecutive steps (one step is one
   iteration).  Their dependencies form a graph (an edge carries Δ, how many steps back the
   value is read); its strongly connected components are the recurrences, each running
   forward in time (Δ > 0) or backward (Δ < 0: the backward pass).
2. **Placement**: components and the remaining nodes (globals such as the batched input
   GEMM or the weight-gradient sums, and the steps that differ, such as the first one whose
   state is zero) are ordered; compatible components share a loop (a stacked layer fuses
   with the one below it); computations that are no recurrence of their own sink into the
   loop that reads them; the rest is straight code.
3. **Building** (:mod:`.rolled`): a loop runs over the iterations where all its classes are
   present; their nodes outside that range are *peeled* into straight code.

The result, :class:`.rolled.Rolled`, is plain data with concrete step numbers;
:mod:`.generalize` turns the numbers of several such programs into expressions of T.
"""

from __future__ import annotations

import heapq
from typing import Dict, List, Optional, Tuple

import networkx as nx

from ..core.ir import Graph, Node
from .building import build
from .rolled import MIN_RUN, RollError, Rolled
from .steps import StepInfo, analyze

__all__ = ["roll", "RollError"]


def roll(graph: Graph, record: Optional[dict] = None) -> Rolled:
    """``graph`` as straight code and loops (see the module docstring); RollError when the
    graph has no usable loop structure.  ``record`` is the metadata of the build that made
    it (:func:`graphrnn.core.ir.record_meta`)."""
    info = analyze(graph, record)
    if info.twins:
        raise RollError(f"{info.twins} nodes share a class with another node of their step")
    free = _free_views(info)
    loopc = {c: r for c, r in _intervals(info).items() if c not in free}
    if not loopc:
        raise RollError("no computation repeats over three consecutive steps")
    edges = _class_graph(info, loopc)
    cg = nx.DiGraph()
    cg.add_nodes_from(loopc)
    cg.add_edges_from(edges)
    comp_of: Dict[int, int] = {}
    comps: List[dict] = []
    acyclic = []
    for members in nx.strongly_connected_components(cg):
        deltas = {d for (a, c), ds in edges.items() if a in members and c in members for d in ds}
        signs = {d > 0 for d in deltas if d}
        if len(signs) > 1:
            raise RollError("a recurrence reads both earlier and later steps")
        if len(members) == 1 and not any((c, c) in edges for c in members):
            acyclic.extend(members)
            continue
        for c in members:
            comp_of[c] = len(comps)
        comps.append({"members": set(members), "direction": 1 if signs == {True} else -1,
                      "range": (max(loopc[c][0] for c in members),
                                min(loopc[c][1] for c in members)), "cyclic": True})
    for c in acyclic:  # placed like the others: into the first loop they fit after their inputs
        comp_of[c] = len(comps)
        comps.append({"members": {c}, "direction": 0, "range": loopc[c], "cyclic": False})
    return _place(graph, info, loopc, comps, comp_of, free)


def _intervals(info: StepInfo) -> Dict[int, Tuple[int, int]]:
    """Loop classes: class -> (first, last) step when present at MIN_RUN+ consecutive steps."""
    out = {}
    for c, at in info.inst.items():
        steps = sorted(at)
        if len(steps) >= MIN_RUN and steps[-1] - steps[0] + 1 == len(steps):
            out[c] = (steps[0], steps[-1])
    return out


def _class_graph(info: StepInfo, loopc: Dict[int, Tuple[int, int]]):
    """Edges between loop classes, from every node of theirs: (a, c) -> set of Δ."""
    edges: Dict[Tuple[int, int], set] = {}
    for c in loopc:
        for step, n in info.inst[c].items():
            for a in n.args:
                ca = info.cls.get(a)
                if ca in loopc:
                    edges.setdefault((ca, c), set()).add(step - info.tau[a])
    return edges


def _free_views(info: StepInfo) -> set:
    """Classes that are views of globals at a step (``mask[t - 1]`` reshaped, a slice of
    the batched input GEMM): every loop that reads one recomputes it, for free (not the
    identities that mark values for a transform, ``op.marker``)."""
    free = set()
    for c, key in enumerate(info.keys):
        op, refs = key[0], key[4]
        if op.view is not None and not op.marker and all(
                r[0] == "G" or (r[0] == "L" and r[1] in free) for r in refs):
            free.add(c)
    return free


def _place(graph, info, loopc, comps, comp_of, free) -> Rolled:
    """Assign components to loops and everything else to straight code between them."""
    tau, cls = info.tau, info.cls
    pos = graph.ids()

    def in_comp(n) -> Optional[int]:
        c = cls.get(n)
        k = comp_of.get(c)
        if k is None:
            return None
        lo, hi = comps[k]["range"]
        return k if lo <= tau[n] <= hi else None

    # ---- the condensed graph: components and straight nodes, by their first graph position
    unit: Dict[Node, tuple] = {}
    for n in graph.nodes:
        k = in_comp(n)
        unit[n] = ("c", k) if k is not None else ("n", pos[n])
    first: Dict[tuple, int] = {}
    for n in graph.nodes:
        first.setdefault(unit[n], pos[n])
    preds: Dict[tuple, Dict[tuple, set]] = {u: {} for u in first}
    for n in graph.nodes:
        u = unit[n]
        for a in n.args:
            v = unit[a]
            if v != u:
                preds[u].setdefault(v, set()).add(
                    tau[n] - tau[a] if (u[0] == v[0] == "c") else None)
    # ---- Kahn's algorithm, earliest graph position first; segments: even = straight code,
    # odd = loop; a component joins the first compatible loop after its predecessors
    succs: Dict[tuple, list] = {u: [] for u in first}
    missing = {u: len(p) for u, p in preds.items()}
    for u, p in preds.items():
        for v in p:
            succs[v].append(u)
    heap = [(first[u], u) for u, m in missing.items() if m == 0]
    heapq.heapify(heap)
    seg: Dict[tuple, int] = {}
    loops: Dict[int, dict] = {}  # segment -> {"direction", "range", "units"}
    order: List[tuple] = []
    while heap:
        _, u = heapq.heappop(heap)
        order.append(u)
        if u[0] == "n":
            seg[u] = max([seg[v] + (seg[v] % 2) for v in preds[u]], default=0)
        else:
            seg[u] = _join_loop(u, comps[u[1]], preds[u], seg, loops, loopc, comps)
        for w in succs[u]:
            missing[w] -= 1
            if missing[w] == 0:
                heapq.heappush(heap, (first[w], w))
    if len(order) != len(first):
        stuck = [u for u in first if u not in seg]
        raise RollError("straight code and loops depend on each other in a cycle: "
                        + ", ".join(f"{u}" for u in stuck[:6]))
    _sink(graph, unit, tau, order, preds, succs, seg, loops, comps)
    return build(graph, info, loopc, comps, loops, free)


def _sink(graph, unit, tau, order, preds, succs, seg, loops, comps) -> None:
    """Move each computation that is no recurrence of its own (a gate's derivative
    ``s * (1 - s)``) from the loop that first could run it to the loop that reads it: it is
    then computed where it is used, from values stored anyway, instead of being stored from
    the forward loop to the backward one."""
    straight_reads: Dict[tuple, List[int]] = {}  # steps of a unit that straight code reads
    for n in graph.nodes:
        if unit[n][0] == "n":
            for a in n.args:
                if unit[a][0] == "c":
                    straight_reads.setdefault(unit[a], []).append(tau[a])
    for u in reversed(order):
        if u[0] != "c" or comps[u[1]]["cyclic"]:
            continue
        here = seg[u]
        readers = [w for w in succs[u] if seg[w] % 2]
        if not readers:
            continue
        target = min(seg[w] for w in readers)
        if target <= here:
            continue
        loop, rng = loops[target], comps[u[1]]["range"]
        lo, hi = loop["range"]
        if not rng[0] <= lo <= hi <= rng[1] or any(
                lo <= step <= hi for step in straight_reads.get(u, ())):
            continue  # straight code reads a step it would compute only in the target loop
        inside = [preds[u][v] for v in preds[u] if seg[v] == target]
        outside = [preds[w][u] for w in readers if seg[w] == target]
        if any(seg[v] > target for v in preds[u]) or _direction(
                loop["direction"], 0, inside + outside) != loop["direction"]:
            continue
        loops[here]["units"].remove(u)
        loop["units"].append(u)
        seg[u] = target
    for s in [s for s, loop in loops.items() if not loop["units"]]:
        del loops[s]


def _join_loop(u, comp, preds, seg, loops, loopc, comps) -> int:
    """The loop segment for component ``u``: the first loop after its predecessors whose
    direction and range agree with it (a new loop when none does)."""
    lb = 1
    for v, deltas in preds.items():
        s = seg[v]
        if s % 2 == 0:
            lb = max(lb, s + 1)
        elif _direction(loops[s]["direction"], comp["direction"], [deltas]) is None:
            lb = max(lb, s + 2)
        else:
            lb = max(lb, s)
    s = lb
    while True:
        loop = loops.get(s)
        same = [ds for v, ds in preds.items() if seg[v] == s]
        if loop is None:
            d = _direction(0, comp["direction"], same)
            loops[s] = {"direction": d or 0, "range": comp["range"], "units": [u]}
            return s
        d = _direction(loop["direction"], comp["direction"], same)
        lo = max(loop["range"][0], comp["range"][0])
        hi = min(loop["range"][1], comp["range"][1])
        if d is not None and hi - lo + 2 >= MIN_RUN:
            loop["direction"], loop["range"] = d, (lo, hi)
            loop["units"].append(u)
            return s
        s += 2


def _direction(loop_dir: int, comp_dir: int, deltas_list) -> Optional[int]:
    """The direction a loop must run in for a component of ``comp_dir`` reading values
    Δ steps back (``deltas_list``) from it, or None when no direction works (0: either)."""
    if loop_dir and comp_dir and loop_dir != comp_dir:
        return None
    d = loop_dir or comp_dir
    for deltas in deltas_list:
        for x in deltas:
            if x is None:
                return None  # through straight code: must be a later loop
            if x:
                if d == 0:
                    d = 1 if x > 0 else -1
                elif (x > 0) != (d > 0):
                    return None
    return d


