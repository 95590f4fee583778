"""Building a rolled program (:mod:`.rolled`) from a placement (:mod:`.loops`): which
classes are the roles of each loop, each loop's body and what it reads, the straight code
between loops (placed as late as its users allow), and the peeled values that provide a
role at their step.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from ..core.ir import Node
from .order import canonical_order
from .rolled import MIN_RUN, BodyOp, Item, Loop, Rolled, RollError
from .steps import relative_attrs

__all__ = ["build"]


def build(graph, info, loopc, comps, loops, free) -> Rolled:
    """The rolled program of a placement: ``loops`` maps each odd segment to its loop
    (``units``, ``range`` of steps, ``direction``); everything else is straight code,
    placed as late as its users allow."""
    return _Builder(graph, info, loopc, comps, loops, free).run()


class _Builder:
    def __init__(self, graph, info, loopc, comps, loops, free):
        self.graph, self.info, self.free, self.loops = graph, info, free, loops
        self.pos = graph.ids()
        self.loop_of: Dict[int, int] = {}   # class -> loop segment
        self.ranges: Dict[int, Tuple[int, int]] = {}
        for s, loop in loops.items():
            lo, hi = loop["range"]
            if hi - lo + 1 < MIN_RUN - 1:
                raise RollError(f"a loop would run {hi - lo + 1} steps only")
            for u in loop["units"]:
                for c in comps[u[1]]["members"]:
                    if not loopc[c][0] <= lo <= hi <= loopc[c][1]:
                        raise RollError("a class is missing from some steps of its loop")
                    self.loop_of[c] = s
            self.ranges[s] = (lo, hi)
        # roles: the classes of each loop
        self.role_of: Dict[int, int] = {}
        self.roles: List[int] = []          # role -> loop id
        self.loop_ids = {s: k for k, s in enumerate(sorted(loops))}
        self.seg_of_loop = {k: s for s, k in self.loop_ids.items()}
        for s in sorted(loops):
            lo, hi = self.ranges[s]
            rep = (lo + hi) // 2
            for c in self.class_order(s, rep):
                self.role_of[c] = len(self.roles)
                self.roles.append(self.loop_ids[s])

    def class_order(self, s: int, rep: int) -> List[int]:
        """The classes of loop ``s`` in body order: the same-step arguments of each (also
        through the views recomputed in the body) first, then by what they compute, as
        :meth:`in_step_order` does for straight code."""
        inst, cls, tau = self.info.inst, self.info.cls, self.info.tau
        nodes = sorted((inst[c][rep] for c, ls in self.loop_of.items() if ls == s),
                       key=self.pos.__getitem__)
        inside = set(nodes)

        def same_step(n):
            out, todo = [], list(n.args)
            while todo:
                a = todo.pop()
                if a in inside:
                    out.append(a)
                elif cls.get(a) in self.free and tau[a] == tau[n]:
                    todo.extend(a.args)
            return out
        return [cls[n] for n in canonical_order(nodes, same_step, tau)]

    def view_of_roles(self, c, i, a, delta, lo, hi) -> bool:
        """True when argument ``i`` of class ``c`` is, at every step of this loop, the view
        ``a`` (a slice of another loop's value, such as one gate of the activations) of
        values that loop stores: this loop recomputes the view from them instead of the
        other loop storing the view too (with a copy)."""
        info = self.info
        tau, cls, inst = info.tau, info.cls, info.inst
        if a.op.view is None or a.op.marker or not any(tau[b] is not None for b in a.args):
            return False
        for step in range(lo, hi + 1):
            x = inst[c][step].args[i]
            if cls.get(x) != cls[a] or tau[x] != step - delta or self.loop_seg(x) is None:
                return False
            for b, y in zip(a.args, x.args):
                if tau[b] is None:
                    if y is not b:
                        return False
                elif (cls.get(y) != cls[b] or tau[y] != tau[x] or cls[b] in self.free
                      or self.loop_seg(y) is None or self.role_of.get(cls[b]) is None):
                    return False
        return True

    # -------------------------------------------------------------- where nodes are
    def loop_seg(self, n) -> Optional[int]:
        """The loop segment computing ``n``, or None when it is straight code."""
        s = self.loop_of.get(self.info.cls.get(n))
        if s is not None and self.ranges[s][0] <= self.info.tau[n] <= self.ranges[s][1]:
            return s
        return None

    def run(self) -> Rolled:
        graph, info = self.graph, self.info
        # values read where a role's step is outside its loop must be straight code
        self.loop_providers: Dict[Tuple[int, int], Node] = {}
        for s in sorted(self.loops):
            self.body(s, _AnyItem(), lambda role, step, node: self.loop_providers.setdefault(
                (role, step), node))
        place, inlined = self.placement(set(self.loop_providers.values()))
        self.items: Dict[Node, Item] = {}
        self.providers: Dict[Tuple[int, int], Node] = {}
        sequence = []
        by_seg: Dict[int, List[Node]] = {}
        for n in graph.nodes:
            if self.loop_seg(n) is None and n not in inlined:
                by_seg.setdefault(place[n], []).append(n)
        by_seg = {s: self.in_step_order(ns) for s, ns in by_seg.items()}
        for s in range(0, max(self.loops) + 2):
            if s % 2 == 0:
                for n in by_seg.get(s, ()):
                    args = self.aggregate_args(n) if len(n.args) > 1 and \
                        n.op.aggregate else tuple(self.ref(a) for a in n.args)
                    item = self.items[n] = Item(len(sequence), n, info.tau[n], args,
                                                relative_attrs(n, info.tau))
                    sequence.append(item)
            elif s in self.loops:
                sequence.append(self.body(s, self.items, self.provide))
        for (role, step), node in self.providers.items():
            if node not in self.items:
                raise RollError("a role is provided by a value that is not straight code")
            self.items[node].provides.append((role, step))
        outputs = {k: self.ref(v) for k, v in graph.outputs.items()}
        return Rolled(graph, sequence, self.roles, outputs)

    def in_step_order(self, nodes: List[Node]) -> List[Node]:
        """A segment's straight code in dependency order, earliest step first among the
        ready nodes, then by what they compute.  The graph's own order of independent nodes
        can depend on the length (two interleaved chains of ``s[t-2]``, visited from
        whichever holds step T); this order does not, so every sample lists the same code."""
        return canonical_order(nodes, lambda n: n.args, self.info.tau, step_first=True)

    def placement(self, needed):
        """Straight nodes as late as their users allow (short lives); views of a step that
        only loops read are recomputed there (``inlined``)."""
        graph, cls = self.graph, self.info.cls
        users = graph.users()
        last_seg = max(self.loops) + 1
        place: Dict[Node, int] = {}
        inlined = set()
        for n in reversed(graph.nodes):
            s = self.loop_seg(n)
            if s is not None:
                place[n] = s
                continue
            if cls.get(n) in self.free and n not in needed and users[n] and all(
                    u in inlined or self.loop_seg(u) is not None for u in users[n]):
                inlined.add(n)  # its place: the first loop that reads it
                place[n] = min(place[u] for u in users[n])
                continue
            place[n] = min([place[u] - (place[u] % 2) for u in users[n]], default=last_seg)
        for n in graph.nodes:  # every argument must come first
            if n in inlined:
                continue
            for a in n.args:
                if a not in inlined and (place[a] > place[n] or (
                        place[a] == place[n] and place[n] % 2 == 0
                        and self.pos[a] > self.pos[n])):
                    raise RollError("a loop reads a value computed after it")
        return place, inlined

    # -------------------------------------------------------------- references
    def provide(self, role: int, step: int, node: Node) -> None:
        lo, hi = self.ranges[self.seg_of_loop[self.roles[role]]]
        if lo <= step <= hi:
            raise RollError("a loop reads another value where its own role's step is")
        have = self.providers.setdefault((role, step), node)
        if have is not node:
            raise RollError("two values provide one step of a role")

    def can_provide(self, role: int, step: int, node: Node) -> bool:
        """An aggregate's neighbour of a run provides the role's step unless the loops
        already read another value there."""
        have = self.providers.get((role, step), self.loop_providers.get((role, step)))
        return have is None or have is node

    def ref(self, a: Node):
        if self.loop_seg(a) is None:
            return ("v", self.items[a].id)
        return ("r", self.role_of[self.info.cls[a]], self.info.tau[a])

    # -------------------------------------------------------------- loops
    def body(self, s, items, provide) -> Loop:
        """The loop at segment ``s``: body ops in an order where same-step arguments come
        first; the views of a step it reads are recomputed in it (shifted when read Δ steps
        back)."""
        info = self.info
        tau, cls = info.tau, info.cls
        lo, hi = self.ranges[s]
        rep = (lo + hi) // 2
        direction = self.loops[s]["direction"] or 1
        order = self.class_order(s, rep)
        body: List[BodyOp] = []
        views: Dict[Tuple[int, int], int] = {}

        def view(a: Node, shift: int):
            key = (cls[a], shift)
            if key not in views:
                args = tuple(("v", items[x].id) if tau[x] is None else
                             view(x, shift) if cls[x] in self.free else
                             ("r", self.role_of[cls[x]], 0) for x in a.args)
                views[key] = len(body)
                body.append(BodyOp(None, a, args, relative_attrs(a, tau), shift))
            return ("l", views[key])

        for c in order:
            n = info.inst[c][rep]
            args = tuple(self.body_arg(c, i, n, a, lo, hi, items, provide, view, direction, s)
                         for i, a in enumerate(n.args))
            body.append(BodyOp(self.role_of[c], n, args, relative_attrs(n, tau)))
        return Loop(self.loop_ids[s], lo, hi, direction, body)

    def body_arg(self, c, i, n, a, lo, hi, items, provide, view, direction, s):
        """Argument ``i`` of class ``c`` (node ``n`` at the representative step), checked
        against every step of the loop."""
        info = self.info
        tau, cls, inst = info.tau, info.cls, info.inst
        delta = None if tau[a] is None else tau[n] - tau[a]
        if tau[a] is not None and self.loop_seg(a) is None and cls.get(a) not in self.free:
            for step in range(lo, hi + 1):  # read Δ steps back from before the loop here:
                x = inst[c][step].args[i]   # a step whose read lands in a loop says which
                if tau[x] is not None and self.loop_seg(x) is not None:
                    a, delta = x, step - tau[x]
                    break
        if tau[a] is None or (self.loop_seg(a) is None and cls.get(a) not in self.free):
            for step in range(lo, hi + 1):  # the same straight value in every step
                if inst[c][step].args[i] is not a:
                    raise RollError("a loop body reads a different straight value per step")
            return ("v", items[a].id)
        if cls[a] in self.free:
            for step in range(lo, hi + 1):
                if inst[cls[a]].get(step - delta) is not inst[c][step].args[i]:
                    raise RollError("a loop body reads different views in different steps")
            return view(a, delta)
        if self.loop_seg(a) not in (None, s) and self.view_of_roles(c, i, a, delta, lo, hi):
            return view(a, delta)
        role = self.role_of.get(cls[a])
        if role is None:
            raise RollError("a loop body reads a value no loop computes in every step")
        if self.roles[role] == self.loop_ids[s] and delta * direction < 0:
            raise RollError("a loop body reads a later iteration")
        for step in range(lo, hi + 1):
            x, want = inst[c][step].args[i], step - delta
            if self.loop_seg(x) is not None and cls[x] == cls[a] and tau[x] == want:
                continue
            if self.loop_seg(x) is None and (tau[x] is None or tau[x] == want):
                provide(role, want, x)
                continue
            raise RollError("a loop body reads different values in different steps")
        return ("r", role, delta)

    # -------------------------------------------------------------- aggregates
    def aggregate_args(self, n):
        """Arguments of a straight stack, concat or sum, with consecutive steps of one role as
        a run ("run", role, first, last); a peeled neighbour at the right step provides the
        role there."""
        tau, cls = self.info.tau, self.info.cls
        raw = [(self.role_of[cls[a]], tau[a]) if self.loop_seg(a) is not None else None
               for a in n.args]
        out = []
        i = 0
        while i < len(raw):
            if raw[i] is None:
                out.append(self.ref(n.args[i]))
                i += 1
                continue
            role, first = raw[i]
            j, step = i + 1, 0
            while j < len(raw) and raw[j] is not None and raw[j][0] == role and (
                    step == 0 and abs(raw[j][1] - first) == 1
                    or step and raw[j][1] == raw[j - 1][1] + step):
                step = raw[j][1] - raw[j - 1][1]
                j += 1
            if j - i < 2:
                out.append(("r", role, first))
                i += 1
                continue
            last = raw[j - 1][1]
            while i > 0 and raw[i - 1] is None and tau[n.args[i - 1]] == first - step and \
                    self.can_provide(role, first - step, n.args[i - 1]):
                self.provide(role, first - step, n.args[i - 1])
                out.pop()
                first -= step
                i -= 1
            while j < len(raw) and raw[j] is None and tau[n.args[j]] == last + step and \
                    self.can_provide(role, last + step, n.args[j]):
                self.provide(role, last + step, n.args[j])
                last += step
                j += 1
            out.append(("run", role, first, last))
            i = j
        return tuple(out)


class _AnyItem:
    """Stands in for the items table in a dry run of the bodies."""

    id = -1

    def __getitem__(self, node):
        return self
