"""Which nodes belong to which time step, and which nodes of different steps are the same
computation (the first half of forming loops).

Every node that unrolling or differentiation builds carries the time step it belongs to
(``node.step``).  That metadata is a hint, not a fact: hash-consing keeps the step of the
first construction, so an invariant built inside step 4 (``1 - x`` has a ``1`` broadcast)
says 4 while every step uses it, and nodes that passes build (the pieces of a batched GEMM)
say nothing or something else.  :func:`time_coordinates` settles one step (or none) per
node, from the structure, with the named values of unrolling as anchors:

- an invariant (computed from parameters and constants only, not from an input or a
  state as unrolling names it, ``h@3``) belongs to no step, whatever its tag says;
- a node that reads no step's value belongs to the one step that uses it (a slice of a
  batched GEMM, of the loss gradient), or to none, whatever its tag says, unless it is a
  named state or input slice; a global that reads it, other than a gather of steps (a
  batched value reading rows of another), makes it global;
- a stack, concat or sum of values of more than half of all steps (four at least) gathers
  them over time: it belongs to no step, whatever its tag says;
- any other tagged node is at its tag; an untagged one belongs to the one step that uses
  it, or else to the one step whose values it reads;
- everything else (inputs, parameters, invariants, whole-sequence values such as stacks,
  batched GEMMs and the sums of weight gradients) belongs to no step: a *global*.

:func:`classify` then gives every stepped node a class: its op, attributes and shape, with
time indices written relative to its own step (``x[t - 1]``), and its arguments as classes
of the same step, globals by identity, or "the value Δ steps back" by its op only (so the
zero-state simplification of step 1 makes step 2 differ in a few classes only).  Steps
whose nodes fall into the same classes are iterations of one loop body.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Dict, List, Optional, Tuple

from ..core.ir import Graph, Node

__all__ = ["StepInfo", "time_coordinates", "classify", "analyze", "time_key_axes",
           "relative_attrs"]


class StepInfo:
    """The time step of every node (``tau``, None for globals), the class of every stepped
    node (``cls``) and, per class, its node at each step (``inst``)."""

    def __init__(self, graph: Graph, tau: Dict[Node, Optional[int]], cls: Dict[Node, int],
                 keys: List[tuple]):
        self.graph, self.tau, self.cls, self.keys = graph, tau, cls, keys
        self.inst: Dict[int, Dict[int, Node]] = defaultdict(dict)
        self.twins = 0
        for n, c in cls.items():
            if tau[n] in self.inst[c]:
                self.twins += 1
            self.inst[c][tau[n]] = n
        self.steps = sorted({tau[n] for n in cls})

    def bag(self, step: int) -> Counter:
        """The classes present at ``step``."""
        return Counter(c for c, at in self.inst.items() if step in at)


class _Meta:
    """A node's step and name: from a record of this build (:func:`graphrnn.core.ir.record_meta`)
    when there is one, else from the node."""

    def __init__(self, record: Optional[dict]):
        self.record = record or {}

    def step(self, n: Node) -> Optional[int]:
        r = self.record.get(n)
        return n.step if r is None else r["step"]

    def named(self, n: Node) -> bool:
        """A state, output or input slice as unrolling names it (``h@3``, ``x@1``)."""
        r = self.record.get(n)
        name = n.name if r is None else r["name"]
        return bool(name) and "@" in name


def time_coordinates(graph: Graph, record: Optional[dict] = None) -> Dict[Node, Optional[int]]:
    """One time step per node, or None for globals (see the module docstring); ``record``
    holds the metadata of the build that made ``graph`` (else the nodes' own is used)."""
    meta = _Meta(record)
    _named_step_value = meta.named
    nodes = graph.nodes
    users = graph.users()
    outputs = set(graph.outputs.values())
    # invariants: computed from parameters and constants only (no input, no step's value)
    data = set()
    for n in nodes:
        if (n.op.source == "input" or _named_step_value(n) or any(a in data for a in n.args)):
            data.add(n)
    tau: Dict[Node, Optional[int]] = {n: (meta.step(n) if n.args and n in data else None)
                                      for n in nodes}
    tagged = [t for t in tau.values() if t is not None]
    # a gather over time reads more than half of all steps (a recurrence's delays far fewer)
    gather = max(4, (max(tagged) - min(tagged) + 1) // 2 + 1) if tagged else 4
    for _ in range(4):
        before = dict(tau)
        for n in reversed(nodes):  # users first: what reads no step sinks to its user's
            if not n.args or n not in data:
                continue
            tag = meta.step(n)
            if _named_step_value(n) and tag is not None:
                tau[n] = tag
                continue
            arg_steps = {tau[a] for a in n.args} - {None}
            free = not arg_steps
            if _aggregate(n) and len(arg_steps) >= gather:
                tau[n] = None  # a stack, concat or sum over time, whatever its tag says
            elif free or tag is None:
                steps = {tau[u] for u in users[n]} - {None}
                if free and any(_global_reader(u, tau) for u in users[n]):
                    steps = set()  # a global reads it too (a batched value's rows): global
                if len(steps) == 1 and n not in outputs:
                    tau[n] = next(iter(steps))
                elif free:
                    tau[n] = None
            else:
                tau[n] = tag
        for n in nodes:  # arguments first: an untagged reader of one step's values
            if n.args and n in data and meta.step(n) is None and tau[n] is None \
                    and not _aggregate(n):
                arg_steps = {tau[a] for a in n.args} - {None}
                if len(arg_steps) == 1:
                    tau[n] = next(iter(arg_steps))
        if tau == before:
            break
    return tau


def _global_reader(u: Node, tau) -> bool:
    """A global that reads only globals and gathers no steps (a slice of a batched value
    that another batched value reads), as opposed to a stack or sum of steps."""
    return tau[u] is None and not _aggregate(u) and all(tau[a] is None for a in u.args)


def _aggregate(n: Node) -> bool:
    """A node that gathers values of many steps (a stack, concat or sum over time)."""
    return n.op.aggregate and len(n.args) > 1


def time_key_axes(n: Node, tau: Dict[Node, Optional[int]]) -> bool:
    """True when axis 0 of ``n``'s index key is a time index (``x[t - 1]``): an index into a
    global value, or the adjoint that scatters back into one, by a stepped node."""
    if n.op.subscript == "read":
        return tau[n.args[0]] is None
    return n.op.subscript == "write"


def _relative_key(key, offset: int):
    """An index key with its axis-0 entry written relative to ``offset``."""
    k0 = key[0]
    if k0[0] == "i":
        k0 = ("ti", k0[1] - offset)
    elif k0[0] == "s":
        k0 = ("ts", k0[1] - offset, k0[2] - offset if k0[2] >= 0 else None, k0[3])
    return (k0,) + tuple(key[1:])


def relative_attrs(n: Node, tau: Dict[Node, Optional[int]]) -> tuple:
    """``n``'s attributes, with a time index written relative to its step (``("ti", -1)``
    for ``x[t - 1]``)."""
    if tau[n] is None or not time_key_axes(n, tau):
        return n.attrs
    return tuple((k, _relative_key(v, tau[n]) if k == "key" else v) for k, v in n.attrs)


def classify(graph: Graph, tau: Dict[Node, Optional[int]], deep: frozenset = frozenset(),
             previous: Optional[Dict[Node, int]] = None) -> Tuple[Dict[Node, int], List[tuple]]:
    """Class ids of stepped nodes, and the class keys (see the module docstring).

    Nodes in ``deep`` describe a value Δ steps back by its class in ``previous`` (to tell
    twins apart), the others by its op and shape only."""
    table: Dict[tuple, int] = {}
    keys: List[tuple] = []
    cls: Dict[Node, int] = {}
    for n in graph.nodes:
        t = tau[n]
        if t is None:
            continue
        attrs = relative_attrs(n, tau)
        refs = []
        for a in n.args:
            ta = tau[a]
            if ta is None:
                refs.append(("G", id(a)))
            elif ta == t:
                refs.append(("L", cls[a]))
            elif n in deep and previous is not None and a in previous:
                refs.append(("C", t - ta, previous[a]))
            else:
                refs.append(("C", t - ta, a.op, a.shape, a.dtype.str))
        key = (n.op, n.dtype.str, n.shape, attrs, tuple(refs))
        c = table.get(key)
        if c is None:
            c = table[key] = len(keys)
            keys.append(key)
        cls[n] = c
    return cls, keys


def analyze(graph: Graph, record: Optional[dict] = None, rounds: int = 40) -> StepInfo:
    """Time coordinates and classes of ``graph``; twins (two nodes of one step in one class)
    are told apart by the classes of their carried arguments, round after round while that
    tells more of them apart (a recomputed copy k steps after its checkpoint differs from
    the original k steps back), for at most ``rounds`` rounds."""
    tau = time_coordinates(graph, record)
    cls, keys = classify(graph, tau)
    info = StepInfo(graph, tau, cls, keys)
    deep: set = set()
    for _ in range(rounds):
        if not info.twins:
            break
        before = info.twins
        seen: Dict[Tuple[int, int], Node] = {}
        for n, c in cls.items():
            other = seen.setdefault((c, tau[n]), n)
            if other is not n:
                deep.update((n, other))
        cls, keys = classify(graph, tau, frozenset(deep), cls)
        info = StepInfo(graph, tau, cls, keys)
        if info.twins >= before:
            break
    return info
