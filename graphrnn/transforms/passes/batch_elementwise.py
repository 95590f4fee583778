"""Batching elementwise work across time (a global pass): the same elementwise node at
consecutive steps (``1 - tanh(c[t])**2`` for every t), when no member depends on another,
becomes one op over the stacked arguments (a leading time axis), indexed back per step.

The backward pass of a recurrence computes many such factors from forward values only
(``tanh' = 1 - tanh**2``, ``sigmoid' = s * (1 - s)``); batched, they run once before the
backward loop, as a hand-written BPTT computes them, instead of once per step.  An argument
shared by every member (a constant, a parameter) is broadcast against the stack.  First,
:func:`expose_factors` regroups ``(dh * a) * b`` as ``dh * (a * b)`` where only ``dh``
reads later steps, so that ``a * b`` is such a factor too (this may change rounding: O2).

A group is batched only when its stacks cost no copy: every stacked argument is a row of an
array (``x[t]`` of an input or of a batched product: the stack is a view of it), a member of
another batched group, or a computed value the compiler can store per step in place; and
one at least is a row, a member, or a value stored per step anyway (a forward value the
backward pass reads, or a step of an output), so that batching does not store values per
step only for itself.  Values that checkpointing recomputes are never stacked.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Set

from ...core import ops as F
from ...core.ir import Graph, Node, meta_of
from ...core.ops import O, apply
from .deps import dependents_of
from .rewrite import plan_group, rewrite_groups

__all__ = ["batch_elementwise", "expose_factors"]

#: how deep the signature that tells "the same node at another step" looks at most
_DEPTH = 6
_ROW, _MEMBER, _STORED, _PLACED, _RECOMPUTED = "row", "member", "stored", "placed", "again"


def batch_elementwise(graph: Graph):
    """Independent same-shaped elementwise nodes of different steps -> one op over their
    stacked arguments, after :func:`expose_factors`; ``(graph, rewrites)``."""
    graph, exposed = expose_factors(graph)
    graph, batched = _batch(graph)
    return graph, exposed + batched


def expose_factors(graph: Graph):
    """``(r * a) * b`` -> ``r * (a * b)`` where ``r`` reads a later step than the product
    and ``a``, ``b`` do not (``(dh * tanh(c)) * o * (1 - o)`` in an LSTM's backward step):
    ``a * b`` reads forward values only, so it can be batched over time.  Only where
    ``r * a`` has no other user; ``(graph, products regrouped)``."""
    steps = {n: meta_of(n)["step"] for n in graph.nodes}
    later, users = _latest_step(graph, steps), graph.users()
    mul = O.mul
    needs: Dict[Node, list] = {}
    build: Dict[Node, object] = {}
    for n in graph.nodes:
        s = steps[n]
        if n.op is not mul or s is None or n.args[0] is n.args[1]:
            continue
        for x, b in (n.args, n.args[::-1]):
            if x.op is not mul or len(users[x]) != 1 or later[b] > s:
                continue
            found = [(r, a) for r, a in (x.args, x.args[::-1]) if later[r] > s >= later[a]]
            if found:
                r, a = found[0]
                needs[n] = [r, a, b]
                build[n] = lambda new_of, r=r, a=a, b=b, s=s: F.mul(
                    new_of(r), F.mul(new_of(a), new_of(b)).tag(step=s))
                break
    if not build:
        return graph, 0
    return rewrite_groups(graph, needs, build, "expose_factors"), len(build)


def _batch(graph: Graph):
    """The batching itself (see the module docstring); ``(graph, nodes batched)``."""
    steps = {n: meta_of(n)["step"] for n in graph.nodes}
    groups = _candidates(graph, steps)
    if not groups:
        return graph, 0
    pos = graph.ids()
    groups = [g for g in (_independent(graph, pos, g, steps) for g in groups) if g]
    groups.sort(key=lambda g: min(pos[m] for m in g))
    stored = _stored(graph, steps, _latest_step(graph, steps), graph.users())
    banned: Set[int] = set()
    while True:
        chosen = {gi: groups[gi] for gi in _choose(groups, steps, stored, banned)}
        cyclic = _cyclic(graph, chosen) if chosen else set()
        if not cyclic:
            break
        banned |= cyclic
    if not chosen:
        return graph, 0
    needs: Dict[Node, list] = {}
    build: Dict[Node, object] = {}
    for members in chosen.values():
        _plan(needs, build, members)
    return (rewrite_groups(graph, needs, build, "batch_elementwise"),
            sum(map(len, chosen.values())))


def _batchable(n: Node) -> bool:
    """An elementwise node that computes something (no view, marker or leaf)."""
    op = n.op
    return bool(op.elementwise and n.args and op.view is None and not op.marker)


def _candidates(graph: Graph, steps) -> List[List[Node]]:
    """Elementwise nodes grouped by what they compute, whatever their step: by their op and
    their arguments' ops, looked at deeper where that puts two nodes of one step together;
    groups of two or more distinct steps, members in time order."""
    memo: Dict[tuple, object] = {}
    todo = [[n for n in graph.nodes if steps[n] is not None and _batchable(n)]]
    out = []
    for depth in range(1, _DEPTH + 1):
        ambiguous = []
        for nodes in todo:
            by_key: Dict[tuple, List[Node]] = {}
            for n in nodes:
                key = (n.op, _attrs_key(n.attrs), n.dtype.str, n.shape,
                       tuple(_signature(a, depth - 1, steps, memo) for a in n.args))
                by_key.setdefault(key, []).append(n)
            for members in by_key.values():
                at = {steps[m] for m in members}
                if len(at) == len(members):
                    if len(members) >= 2:
                        out.append(sorted(members, key=steps.__getitem__))
                elif len(at) >= 2:
                    ambiguous.append(members)
        todo = ambiguous
    return out


def _attrs_key(attrs) -> tuple:
    """Attributes as a hashable key."""
    return tuple((k, repr(v)) for k, v in attrs)


def _signature(n: Node, depth: int, steps, memo) -> object:
    """What ``n`` is, up to its step: a leaf or a value of no step is itself; a stepped node
    its op, attributes and shape and, ``depth`` levels deep, its arguments'; the time index
    of a row of a global array (``x[t]``) is left out."""
    if not n.args or steps[n] is None and not _is_row(n, steps):
        return n
    k = (n, depth)
    if k in memo:
        return memo[k]
    attrs = n.attrs
    if _is_row(n, steps):
        attrs = (("key", n.attr("key")[1:]),)
    if depth == 0:
        sig = (n.op, n.shape)
    else:
        sig = (n.op, _attrs_key(attrs), n.dtype.str, n.shape,
               tuple(_signature(a, depth - 1, steps, memo) for a in n.args))
    memo[k] = sig
    return sig


def _is_row(n: Node, steps) -> bool:
    """``x[k]`` (or ``x[k, :, ...]``) of an array of no step: a row whose stack is a view."""
    if n.op is not O.index or steps[n.args[0]] is not None:
        return False
    key = n.attr("key")
    return key[0][0] == "i" and all(k[0] == "a" for k in key[1:])


def _independent(graph: Graph, pos, members: List[Node], steps) -> Optional[List[Node]]:
    """The members whose arguments depend on no member (a recurrence's are dropped), the
    longest run of them at consecutive steps: row ``i`` of the batched op is then step
    ``first + i`` at every step, so the steps stay alike (one loop body)."""
    depends = dependents_of(graph, members, pos)
    free = [m for m in members if not any(a in depends for a in m.args)]
    runs: List[List[Node]] = []
    for m in free:
        if runs and steps[runs[-1][-1]] + 1 == steps[m]:
            runs[-1].append(m)
        else:
            runs.append([m])
    best = max(runs, key=len, default=[])
    return best if len(best) >= 2 else None


def _latest_step(graph: Graph, steps) -> Dict[Node, int]:
    """The latest step each node depends on (-1 for none): a node that reads a later step
    than its own belongs to a backward pass, and the values it reads are stored per step.
    A view's step does not count: ``x[t]`` of an input, or a weight's transpose first built
    at some step, is no step's work."""
    later: Dict[Node, int] = {}
    for n in graph.nodes:
        m = -1
        for a in n.args:
            if later[a] > m:
                m = later[a]
        s = steps[n]
        if s is not None and s > m and n.args and n.op.view is None:
            m = s
        later[n] = m
    return later


def _stored(graph: Graph, steps, later, users) -> Dict[Node, str]:
    """What stacking each computed value costs: ``_STORED`` for the values stored per step
    whether batched or not (joined into a whole-sequence value, such as an output, or read
    by the backward pass: by a node that reads a later step than its own, directly or
    through nodes of their step that no later step reads, work that sinks into the
    backward loop), ``_RECOMPUTED`` for values checkpointing recomputes
    so as not to store them (never stacked); the others are absent (``_PLACED``)."""
    ahead: Dict[Node, int] = {}  # the latest step of computed work that reads the node
    late: Set[Node] = set()      # the node is, or feeds at its step, backward work
    for n in reversed(graph.nodes):
        m, s = -1, steps[n]
        for u in users[n]:
            su = steps[u] if u.op.view is None and steps[u] is not None else -1
            m = max(m, ahead[u], su)
        ahead[n] = m
        if s is not None and (later[n] > s or any(
                u in late and steps[u] == s and ahead[u] <= s for u in users[n])):
            late.add(n)
    out = {n: _STORED for n in graph.nodes if steps[n] is not None and any(
        u in late or (u.op.join is not None and steps[u] is None) for u in users[n])}
    out.update((n, _RECOMPUTED) for n in
               dependents_of(graph, [n for n in graph.nodes if n.op is O.recompute]))
    return out


def _choose(groups: List[List[Node]], steps, stored, banned: Set[int]) -> List[int]:
    """The groups to batch, decided in graph order (a group whose arguments are another
    group's members after it): those whose every stack is free (see the module docstring)."""
    member_of: Dict[Node, tuple] = {}
    chosen = []
    for gi, members in enumerate(groups):
        if gi in banned:
            continue
        kinds = [_stack_kind(col, steps, stored, member_of)
                 for col in _columns(members) if col is not None]
        if None in kinds or all(k is _PLACED for k in kinds):
            continue
        for i, m in enumerate(members):
            member_of[m] = (gi, i)
        chosen.append(gi)
    return chosen


def _cyclic(graph: Graph, groups: Dict[int, List[Node]]) -> Set[int]:
    """The groups that batched together would make a cycle (each group as one node: the
    ones a topological walk of that graph never reaches; rare, as each group alone is
    independent)."""
    rep: Dict[Node, object] = {}
    for gi, members in groups.items():
        for m in members:
            rep[m] = ("g", gi)
    deps: Dict[object, Set[object]] = {}
    for n in graph.nodes:
        r = rep.get(n, n)
        deps.setdefault(r, set()).update(rep.get(a, a) for a in n.args)
    waiting = {r: len(ds) for r, ds in deps.items()}
    readers: Dict[object, List[object]] = {}
    for r, ds in deps.items():
        for d in ds:
            readers.setdefault(d, []).append(r)
    ready = [r for r, c in waiting.items() if c == 0]
    while ready:
        r = ready.pop()
        for u in readers.get(r, ()):
            waiting[u] -= 1
            if waiting[u] == 0:
                ready.append(u)
    return {r[1] for r, c in waiting.items() if c and isinstance(r, tuple)}


def _columns(members: List[Node]) -> List[Optional[tuple]]:
    """Per argument position, the members' arguments, or None when all read one node."""
    cols = []
    for i in range(len(members[0].args)):
        col = tuple(m.args[i] for m in members)
        cols.append(None if all(a is col[0] for a in col) else col)
    return cols


def _stack_kind(col, steps, stored, member_of) -> Optional[str]:
    """How the stack of ``col`` comes: rows of one array, one batched group's members in
    order, values of consecutive steps computed in place (already stored per step, or
    not); None: a copy."""
    if all(_is_row(a, steps) for a in col):
        src, rest = col[0].args[0], col[0].attr("key")[1:]
        rows = [a.attr("key")[0][1] for a in col]
        if any(a.args[0] is not src or a.attr("key")[1:] != rest for a in col):
            return None
        return _ROW if rows == list(range(rows[0], rows[0] + len(rows))) else None
    if any(a in member_of for a in col):
        at = [member_of.get(a) for a in col]
        if None in at or len({g for g, _ in at}) > 1:
            return None
        idx = [i for _, i in at]
        return _MEMBER if idx == list(range(idx[0], idx[0] + len(idx))) else None
    where = [stored.get(a, _PLACED) for a in col]
    if _RECOMPUTED in where or not all(_placeable(a, steps) for a in col):
        return None
    at = [steps[a] for a in col]  # one value per step, the same steps back from each member
    if at != list(range(at[0], at[0] + len(at))):
        return None
    return _STORED if _STORED in where else _PLACED


def _placeable(n: Node, steps) -> bool:
    """A stepped value written into a planned buffer, so it can be written into a stack."""
    op = n.op
    return bool(n.args and steps[n] is not None and op.view is None and op.numpy is not None
                and op.join is None and op.source is None)


def _plan(needs, build, members: List[Node]) -> None:
    """Plan the group as one op over its stacked arguments, member ``i`` its row ``i``."""
    k, first = len(members), members[0]
    cols = _columns(members)
    shape = (k,) + tuple(first.shape)
    operands = list(dict.fromkeys(a for m in members for a in m.args))

    def product(new_of, ms=tuple(members), cols=tuple(cols)):
        """The op over the stacked (or broadcast, when shared) rewritten arguments."""
        args = [F.broadcast_to(new_of(ms[0].args[i]), shape) if col is None
                else F.stack([new_of(a) for a in col], axis=0) for i, col in enumerate(cols)]
        return apply(first.op, *args, **dict(first.attrs))
    plan_group(needs, build, members, operands, product, F.index)
