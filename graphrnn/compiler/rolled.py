"""Rolled programs: straight code and loops, as plain data (:mod:`.building` makes them from
a placement of :mod:`.loops`).

- An :class:`Item` is one node of straight code.  Its arguments are values of straight code
  (``("v", item)``), a role at one step (``("r", role, step)``) or a *run* of a role's steps
  (``("run", role, first, last)``, the argument list of a stack or a sum over time).
- A :class:`Loop` runs its body once per step ``t``.  A :class:`BodyOp` computes its role
  at step ``t`` (a view it recomputes: at ``t - shift``) and reads roles Δ steps back,
  straight values, or those views.
- A *role* is a class of a loop: a value per step, stored by :mod:`.memory`.  A peeled node
  read where a role is expected *provides* the role at its step.

Steps are concrete numbers here; :mod:`.generalize` makes them expressions of T.
"""

from __future__ import annotations

from typing import Dict, List

from ..core.ir import Graph, Node

__all__ = ["Rolled", "Loop", "Item", "BodyOp", "straight", "RollError", "MIN_RUN"]

MIN_RUN = 3  # consecutive steps a class needs to be a loop class


class RollError(Exception):
    """The graph has no loop structure this pass can use (the program stays straight-line)."""


class Item:
    """A straight-code node: ``args`` are ("v", item) / ("r", role, step) / ("run", role,
    first, last) references; ``provides`` lists the (role, step) slots it fills; ``shape``
    and ``attrs`` are the node's, with time indices relative to ``tau`` (see
    :func:`.steps.relative_attrs`)."""

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

    __slots__ = ("id", "first", "last", "direction", "body")

    def __init__(self, id, first, last, direction, body):
        self.id, self.first, self.last = id, first, last
        self.direction, self.body = direction, body


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
