"""Loop formation: an optimized graph of T steps rerolled into straight code and loops.

:mod:`.steps` gives every node a step and every stepped node a class.  Here:

1. **Loop classes** are classes present at three or more consecutive steps.  Their
   dependencies form a graph of classes (an edge carries Δ, how many steps back the value is
   read); its strongly connected components are the recurrences, each running forward in
   time (Δ > 0) or backward (Δ < 0: the backward pass).
2. **Placement**: components, the classes that feed from them and the remaining nodes
   (globals such as the batched input GEMM or the weight-gradient sums, and the steps that
   differ, such as the first step whose state is zero) are ordered; compatible components
   share a loop (a stacked layer fuses with the one below it), the rest is straight code.
3. **Ranges and peeling**: a loop runs over the steps where all its classes are present; a
   class's nodes outside that range are *peeled*: computed as straight code before or after.
4. **Roles**: each class of a loop is a *role*, a value per step.  A loop body reads roles
   Δ steps back or of an earlier loop; straight code reads a role at one step, or a *run*
   of steps at once (the stack of every ``h[t]``, the concat of every gate gradient).  A
   peeled node read where a role is expected *provides* the role at its step (the first
   step's state is where the loop's ``h[t - 1]`` starts).

The result, :class:`Rolled`, is plain data with concrete step numbers; :mod:`.generalize`
turns the step numbers of several such programs into expressions of T.
"""

from __future__ import annotations

import heapq
from typing import Dict, List, Optional, Tuple

import networkx as nx

from ..ir import Graph, Node
from .steps import StepInfo, analyze, relative_attrs

__all__ = ["Rolled", "Loop", "Item", "BodyOp", "roll", "RollError", "straight"]

MIN_RUN = 3  # consecutive steps a class needs to be a loop class
VIEWS = ("index", "reshape", "transpose", "broadcast_to")
AGGREGATES = ("stack", "concat", "add_n")  # ops whose arguments may be a run of steps


class RollError(Exception):
    """The graph has no loop structure this pass can use (the program stays straight-line)."""


class Item:
    """A straight-code node: ``args`` are ("v", item) / ("r", role, step) / ("run", role,
    first, last) references; ``provides`` lists the (role, step) slots it fills; ``shape``
    and ``attrs`` are the node's, with time indices relative to ``tau`` (see
    :func:`relative_attrs`)."""

    __slots__ = ("id", "node", "tau", "args", "provides", "shape", "attrs")

    def __init__(self, id, node, tau, args, attrs=None):
        self.id, self.node, self.tau, self.args, self.provides = id, node, tau, args, []
        self.shape = node.shape
        self.attrs = node.attrs if attrs is None else attrs

    def __repr__(self):
        return f"<Item {self.id} {self.node.op.name} t={self.tau}>"


class BodyOp:
    """One node of a loop body: the role it computes (None for a view recomputed in this
    loop), its node at the representative step, its arguments as ("v", item) /
    ("r", role, delta) / ("l", body position) references, and ``shift``: it computes the
    value of step ``t - shift`` (a view of an earlier step's input slice)."""

    __slots__ = ("role", "node", "args", "shift", "shape", "attrs")

    def __init__(self, role, node, args, attrs, shift=0):
        self.role, self.node, self.args, self.shift = role, node, args, shift
        self.shape, self.attrs = node.shape, attrs


class Loop:
    """Steps ``first..last`` (time), run in ``direction`` (+1 forward in time, -1 backward)."""

    __slots__ = ("id", "first", "last", "direction", "body", "rep_step")

    def __init__(self, id, first, last, direction, body, rep_step):
        self.id, self.first, self.last = id, first, last
        self.direction, self.body, self.rep_step = direction, body, rep_step


class Rolled:
    """A program as a sequence of :class:`Item` and :class:`Loop`; ``roles[r]`` is the loop
    of role ``r``; ``outputs`` maps output names to references."""

    def __init__(self, graph: Graph, sequence, roles, outputs):
        self.graph, self.sequence, self.roles, self.outputs = graph, sequence, roles, outputs

    @property
    def loops(self) -> List[Loop]:
        return [s for s in self.sequence if isinstance(s, Loop)]


def straight(graph: Graph, order: List[Node]) -> Rolled:
    """``graph`` as straight code in ``order`` (no loops)."""
    ids: Dict[Node, Item] = {}
    seq = []
    for n in order:
        item = Item(len(seq), n, n.step, tuple(("v", ids[a].id) for a in n.args))
        ids[n] = item
        seq.append(item)
    return Rolled(graph, seq, {}, {k: ("v", ids[v].id) for k, v in graph.outputs.items()})


# ---------------------------------------------------------------------------- analysis
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


def roll(graph: Graph, record: Optional[dict] = None) -> Rolled:
    """``graph`` as straight code and loops (see the module docstring); RollError when the
    graph has no usable loop structure.  ``record`` is the metadata of the build that made
    it (:func:`graphrnn.ir.record_meta`)."""
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


def _free_views(info: StepInfo) -> set:
    """Classes that are views of globals at a step (``mask[t - 1]`` reshaped, a slice of
    the batched input GEMM): every loop that reads one recomputes it, for free."""
    free = set()
    for c, key in enumerate(info.keys):
        op, refs = key[0], key[4]
        if op in VIEWS and all(r[0] == "G" or (r[0] == "L" and r[1] in free) for r in refs):
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
    return _build(graph, info, loopc, comps, unit, order, seg, loops, free)


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


# ---------------------------------------------------------------------------- building
def _build(graph, info, loopc, comps, unit, order, seg, loops, free) -> Rolled:
    tau, cls, inst = info.tau, info.cls, info.inst
    pos = graph.ids()
    # ---- loops: members, range, representative step
    loop_of: Dict[int, int] = {}      # class -> loop segment
    ranges: Dict[int, Tuple[int, int]] = {}
    for s, loop in loops.items():
        members = [c for u in loop["units"] for c in comps[u[1]]["members"]]
        lo, hi = loop["range"]
        if hi - lo + 1 < MIN_RUN - 1:
            raise RollError(f"a loop would run {hi - lo + 1} steps only")
        for c in members:
            if not loopc[c][0] <= lo <= hi <= loopc[c][1]:
                raise RollError("a class is missing from some steps of its loop")
            loop_of[c] = s
        ranges[s] = (lo, hi)

    def loop_seg(n) -> Optional[int]:
        s = loop_of.get(cls.get(n))
        if s is not None and ranges[s][0] <= tau[n] <= ranges[s][1]:
            return s
        return None

    # ---- roles: the classes of each loop; values read where a role's step is outside its
    # loop must be straight code (a dry run of the bodies finds them)
    role_of: Dict[int, int] = {}
    roles: List[int] = []             # role -> loop id
    loop_ids = {s: k for k, s in enumerate(sorted(loops))}
    seg_of_loop = {k: s for s, k in loop_ids.items()}
    for s in sorted(loops):
        lo, hi = ranges[s]
        rep = (lo + hi) // 2
        for c in sorted((c for c, ls in loop_of.items() if ls == s),
                        key=lambda c: pos[inst[c][rep]]):
            role_of[c] = len(roles)
            roles.append(loop_ids[s])
    loop_providers: Dict[Tuple[int, int], Node] = {}
    for s in sorted(loops):
        _body(s, loop_ids[s], ranges[s], loops[s]["direction"] or 1, loop_of, info, role_of,
              _AnyItem(), loop_seg, lambda role, step, node: loop_providers.setdefault(
                  (role, step), node), pos, free)
    needed = set(loop_providers.values())
    # ---- straight nodes: as late as their users allow (short lives), in graph order
    users: Dict[Node, List[Node]] = {n: [] for n in graph.nodes}
    for n in graph.nodes:
        for a in dict.fromkeys(n.args):
            users[a].append(n)
    last_seg = max(loops) + 1
    place: Dict[Node, int] = {}
    inlined = set()  # views of a step recomputed by the loops that read them, nowhere else
    for n in reversed(graph.nodes):
        s = loop_seg(n)
        if s is not None:
            place[n] = s
            continue
        if cls.get(n) in free and n not in needed and users[n] and all(
                u in inlined or loop_seg(u) is not None for u in users[n]):
            inlined.add(n)  # its place: the first loop that reads it
            place[n] = min(place[u] for u in users[n])
            continue
        place[n] = min([place[u] - (place[u] % 2) for u in users[n]], default=last_seg)
    for n in graph.nodes:  # every argument must come first
        if n in inlined:
            continue
        for a in n.args:
            if a in inlined:
                continue
            if place[a] > place[n] or (place[a] == place[n] and place[n] % 2 == 0
                                       and pos[a] > pos[n]):
                raise RollError("a loop reads a value computed after it")
    # ---- roles and items
    items: Dict[Node, Item] = {}
    sequence = []
    straight_nodes = sorted((n for n in graph.nodes if loop_seg(n) is None
                             and n not in inlined), key=lambda n: (place[n], pos[n]))
    by_seg: Dict[int, List[Node]] = {}
    for n in straight_nodes:
        by_seg.setdefault(place[n], []).append(n)
    providers: Dict[Tuple[int, int], Node] = {}

    def provide(role: int, step: int, node: Node) -> None:
        lo, hi = ranges[seg_of_loop[roles[role]]]
        if lo <= step <= hi:
            raise RollError("a loop reads another value where its own role's step is")
        have = providers.setdefault((role, step), node)
        if have is not node:
            raise RollError("two values provide one step of a role")

    def can_provide(role: int, step: int, node: Node) -> bool:
        """An aggregate's neighbour of a run provides the role's step unless the loops
        already read another value there."""
        have = providers.get((role, step), loop_providers.get((role, step)))
        return have is None or have is node

    def ref(a: Node):
        s = loop_seg(a)
        if s is None:
            return ("v", items[a].id)
        return ("r", role_of[cls[a]], tau[a])

    for s in range(0, last_seg + 1):
        if s % 2 == 0:
            for n in by_seg.get(s, ()):
                args = _aggregate_args(n, ref, loop_seg, tau, role_of, cls, provide,
                                       can_provide) \
                    if len(n.args) > 1 and n.op.name in AGGREGATES else tuple(
                        ref(a) for a in n.args)
                item = items[n] = Item(len(sequence), n, tau[n], args, relative_attrs(n, tau))
                sequence.append(item)
        elif s in loops:
            sequence.append(_body(s, loop_ids[s], ranges[s], loops[s]["direction"] or 1,
                                  loop_of, info, role_of, items, loop_seg, provide, pos, free))
    for (role, step), node in providers.items():
        if node in items:
            items[node].provides.append((role, step))
        else:
            raise RollError("a role is provided by a value that is not straight code")
    outputs = {k: ref(v) for k, v in graph.outputs.items()}
    return Rolled(graph, sequence, roles, outputs)


class _AnyItem:
    """Stands in for the items table in a dry run of :func:`_body`."""

    id = -1

    def __getitem__(self, node):
        return self


def _body(s, loop_id, rng, direction, loop_of, info, role_of, items, loop_seg, provide, pos,
          free):
    """The loop at segment ``s``: body ops in an order where same-step arguments come first;
    the views of a step it reads are recomputed in it (shifted when read Δ steps back)."""
    tau, cls, inst = info.tau, info.cls, info.inst
    lo, hi = rng
    rep = (lo + hi) // 2
    classes = [c for c, ls in loop_of.items() if ls == s]
    order = sorted(classes, key=lambda c: pos[inst[c][rep]])  # graph order is topological
    body: List[BodyOp] = []
    views: Dict[Tuple[int, int], int] = {}

    def view(a: Node, shift: int):
        key = (cls[a], shift)
        if key not in views:
            args = tuple(("v", items[b].id) if tau[b] is None else view(b, shift)
                         for b in a.args)
            views[key] = len(body)
            body.append(BodyOp(None, a, args, relative_attrs(a, tau), shift))
        return ("l", views[key])

    for c in order:
        n = inst[c][rep]
        args = []
        for i, a in enumerate(n.args):
            if tau[a] is None or (loop_seg(a) is None and cls.get(a) not in free):
                # the same straight value in every iteration
                for step in range(lo, hi + 1):
                    if inst[c][step].args[i] is not a:
                        raise RollError("a loop body reads a different straight value per step")
                args.append(("v", items[a].id))
                continue
            delta = rep - tau[a]
            if cls[a] in free:
                for step in range(lo, hi + 1):
                    if info.inst[cls[a]].get(step - delta) is not inst[c][step].args[i]:
                        raise RollError("a loop body reads different views in different steps")
                args.append(view(a, delta))
                continue
            role = role_of[cls[a]]
            if loop_of[cls[a]] == s and delta * direction < 0:
                raise RollError("a loop body reads a later iteration")
            for step in range(lo, hi + 1):
                b = inst[c][step].args[i]
                if loop_seg(b) is not None and cls[b] == cls[a] and tau[b] == step - delta:
                    continue
                if loop_seg(b) is None and (tau[b] is None or tau[b] == step - delta):
                    provide(role, step - delta, b)
                    continue
                raise RollError("a loop body reads different values in different steps")
            args.append(("r", role, delta))
        body.append(BodyOp(role_of[c], n, tuple(args), relative_attrs(n, tau)))
    return Loop(loop_id, lo, hi, direction, body, rep)


def _aggregate_args(n, ref, loop_seg, tau, role_of, cls, provide, can_provide):
    """Arguments of a straight node, with consecutive steps of one role as a run
    ("run", role, first, last); a peeled neighbour at the right step provides the role."""
    raw = []
    for a in n.args:
        s = loop_seg(a)
        raw.append((role_of[cls[a]], tau[a]) if s is not None else None)
    out = []
    i = 0
    while i < len(raw):
        if raw[i] is None:
            out.append(ref(n.args[i]))
            i += 1
            continue
        role, first = raw[i]
        j = i + 1
        step = 0
        while j < len(raw) and raw[j] is not None and raw[j][0] == role and (
                step == 0 and abs(raw[j][1] - first) == 1 or step and raw[j][1] == raw[j - 1][1] + step):
            step = raw[j][1] - raw[j - 1][1]
            j += 1
        if j - i < 2:
            out.append(("r", role, first))
            i += 1
            continue
        last = raw[j - 1][1]
        # peeled neighbours extend the run
        while i > 0 and raw[i - 1] is None and tau[n.args[i - 1]] == first - step and \
                can_provide(role, first - step, n.args[i - 1]):
            provide(role, first - step, n.args[i - 1])
            out.pop()
            first -= step
            i -= 1
        while j < len(raw) and raw[j] is None and tau[n.args[j]] == last + step and \
                can_provide(role, last + step, n.args[j]):
            provide(role, last + step, n.args[j])
            last += step
            j += 1
        out.append(("run", role, first, last))
        i = j
    return tuple(out)
