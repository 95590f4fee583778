"""Recurrence -> Graph: explicit unrolling for T steps, parameters shared across steps.

Each step substitutes the step's values for the placeholders of every equation, in an
order where same-step dependencies come first (a cycle with no delay is an algebraic
loop and is refused).  Subexpressions that read no variable (a bias broadcast, a
weight transpose) are built once and shared by every step.  Work is linear in T and
iterative throughout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, Optional

import networkx as nx

from ..core import ops as F
from ..core.ir import Graph, Node, dtype_name, gc_paused, pop_meta, push_meta, toposort
from ..core.pretty import format_expr
from .variables import VAR, RecurrenceError, Variable

if TYPE_CHECKING:  # annotations only: the recurrence module imports this one
    from .recurrence import Recurrence
from ..core.shapes import B, format_shape

__all__ = ["unroll"]


def _step_order(rec: "Recurrence") -> List[Variable]:
    """States and outputs ordered so that same-step (delay 0) uses come first."""
    deps = nx.DiGraph()
    eqs = [v for v in rec.variables.values() if v.kind != "input"]
    for v in eqs:
        if v.equation is None:
            raise RecurrenceError(f"{rec.name}: state {v.name!r} is never updated; "
                                  f"call rec.update({v.name}, ...)")
        deps.add_node(v.name)
        for n in toposort([v.equation]):
            if n.op is VAR and n.attr("delay") == 0 and n.attr("kind") != "input":
                deps.add_edge(n.attr("name"), v.name)
    try:
        cycle = nx.find_cycle(deps)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        needs = {v: u for u, v in cycle}  # v[t] is computed from u[t]
        names = list(rec.variables)
        first = min(needs, key=names.index)
        chain, v = [], first
        while True:
            chain.append(f"{v}[t] needs {needs[v]}[t]")
            v = needs[v]
            if v == first:
                break
        raise RecurrenceError(
            f"{rec.name}: algebraic loop among {', '.join(sorted(needs, key=names.index))}: "
            + ", ".join(chain) + f", all within one step; break it with a delayed value "
            f"such as {needs[first]}[t-1]")
    order = list(nx.lexicographical_topological_sort(
        deps, key=lambda name: list(rec.variables).index(name)))
    return [rec.variables[n] for n in order]


class _Template:
    """One equation, precompiled for substitution: its nodes in order, and which read variables."""

    def __init__(self, var: Variable):
        self.var = var
        self.origin = f"{var.ref()} = {format_expr(var.equation)}"
        self.order = toposort([var.equation])
        live = set()
        for n in self.order:
            if n.op is VAR or any(a in live for a in n.args):
                live.add(n)
        self.live = live

    def instantiate(self, lookup) -> Node:
        """The equation with every variable replaced by ``lookup(name, kind, delay)``."""
        new: Dict[Node, Node] = {}
        for n in self.order:
            if n not in self.live:
                continue  # reads no variable: shared across steps as it is
            if n.op is VAR:
                new[n] = lookup(n.attr("name"), n.attr("kind"), n.attr("delay"))
            else:
                args = tuple(new.get(a, a) for a in n.args)
                new[n] = Node(n.op, args, n.attrs, n.shape, n.dtype)
        return new[self.var.equation] if self.var.equation in new else self.var.equation


def _initial_values(rec: "Recurrence", var: Variable) -> Callable[[int], Node]:
    """A function ``j -> value`` of ``var`` ``j`` steps before the first (j = 0 is s[0])."""
    shape = var.shape
    if isinstance(var.init, Node):
        if var.init.shape != shape or var.init.dtype != var.dtype:
            raise RecurrenceError(f"{rec.name}: the initial value of {var.name!r} is "
                                  f"{var.init.label()}, expected {var.dtype}{shape}")
        return lambda j: var.init
    if var.init == "zeros":
        z = F.zeros(shape, var.dtype)
        return lambda j: z
    if var.init == "param":
        p = F.param(f"{var.name}0", var.size if var.depth == 1 else (var.depth,) + var.size,
                    var.dtype)
        rec.params.setdefault(p.attr("name"), p)
        if var.depth == 1:
            return lambda j: F.broadcast_to(p, shape)
        return lambda j: F.broadcast_to(p[j], shape)
    leaf = F.input(f"{var.name}0", shape if var.depth == 1 else (var.depth,) + shape, var.dtype)
    if var.depth == 1:
        return lambda j: leaf
    return lambda j: leaf[j]


#: the most nodes :func:`unroll` builds unless ``max_nodes`` says otherwise (each node takes
#: about 700 bytes, so this is about 1.4 GB)
MAX_NODES = 2_000_000
_NODE_BYTES = 700


def _check_size(rec: "Recurrence", templates: List["_Template"], steps: int, mask: bool,
                max_nodes: Optional[int]) -> None:
    """Refuse, before building anything, an unrolling of more than ``max_nodes`` nodes."""
    limit = MAX_NODES if max_nodes is None else max_nodes
    if not isinstance(limit, int) or limit < 1:
        raise RecurrenceError(f"{rec.name}: max_nodes must be an int >= 1, got {max_nodes!r}")
    per_step = sum(sum(1 for n in tpl.live if n.op is not VAR) + (4 if mask else 0)
                   for tpl in templates) + len(rec.inputs()) + (1 if mask else 0)
    total = steps * max(per_step, 1)
    if total > limit:
        raise RecurrenceError(
            f"{rec.name}: unrolling {steps:,} steps would build about {total:,} nodes "
            f"({per_step} per step, about {total * _NODE_BYTES / 1e9:.1f} GB), more than "
            f"max_nodes={limit:,}; a compiled program runs any T without unrolling it "
            f"(a model's own call, or gr.compile(lambda T: rec.unroll(T))), or pass a larger "
            f"max_nodes= to unroll anyway")


def _real_steps(x: Node, m: Node) -> Node:
    """``x`` ``(T, B, ...)`` with zeros at padded steps, selected with ``where``: NaN or inf
    there reaches no value and no gradient (``0 * NaN`` would, in a masked product)."""
    keep = F.reshape(m, m.shape + (1,) * (x.ndim - 2))
    return F.where(F.broadcast_to(keep, x.shape), x, 0)


def unroll(rec: "Recurrence", steps: int, reverse: bool = False, mask: bool = False,
           per_step: bool = False, sources: Optional[Mapping[str, Node]] = None,
           max_nodes: Optional[int] = None) -> Graph:
    """Unroll ``rec`` for ``steps`` steps into a Graph.

    Inputs: each input ``x`` as one ``(T, B, *size)`` graph input ``x``; ``<s>0`` for
    initial values given at call time; with ``mask=True`` a bool ``(T, B)`` input ``mask``
    (True = a real step).  Outputs: every output and state stacked in time order as
    ``(T, B, *size)`` under its name, each state's final value as ``<s>_final``, and with
    ``per_step=True`` each step's value as ``<y>@<t>`` (t = 1..T).

    ``sources`` binds inputs to existing ``(T, B, *size)`` nodes instead of graph inputs
    (a lower layer's output sequence feeding the next layer).

    Names are unique: a parameter or input node that shares a name with anything else in
    the graph (a variable, ``<s>0``, ``<s>_final``, ``mask``) is refused.  More than
    ``max_nodes`` nodes (default :data:`MAX_NODES`, estimated from the equations before
    anything is built) are refused too: compiled programs run any length without unrolling.

    ``reverse=True`` runs from step T down to 1 (the backward half of a bidirectional
    layer): ``s[t-1]`` then means the step processed before, ``t+1``.  With a mask, a
    padded step keeps the previous state (so ``<s>_final`` is the state at the sequence's
    last real step), and the stacked sequences are zeros there (as PyTorch pads packed
    sequences), so losses that use the same mask ignore them.  Inputs at padded steps are
    never read (replaced by zeros with ``where``): NaN or inf there changes nothing.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise RecurrenceError(f"{rec.name}: steps must be an int >= 1, got {steps!r}")
    with gc_paused():
        return _unroll(rec, steps, reverse, mask, per_step, sources, max_nodes)


def _unroll(rec, steps, reverse, mask, per_step, sources, max_nodes=None):
    order = _step_order(rec)
    templates = [_Template(v) for v in order]
    if mask and "mask" in rec.variables:
        raise RecurrenceError(f"{rec.name}: a variable is named 'mask', which unroll(mask=True) "
                              f"uses for the padding mask; rename it")
    rec.check_names(mask)
    _check_size(rec, templates, steps, mask, max_nodes)
    sources = dict(sources or {})
    xs = {}
    for v in rec.inputs():
        want = (steps, B) + v.size
        src = sources.pop(v.name, None)
        if src is None:
            src = F.input(v.name, want, v.dtype)
        elif src.shape != want or src.dtype != v.dtype:
            raise RecurrenceError(f"{rec.name}: the source for input {v.name!r} is {src.label()}, "
                                  f"expected {dtype_name(v.dtype)}{format_shape(want)}")
        xs[v.name] = src
    if sources:
        raise RecurrenceError(f"{rec.name}: sources name {sorted(sources)}, which are not inputs "
                              f"(inputs: {[v.name for v in rec.inputs()]})")
    m_in = F.input("mask", (steps, B), bool) if mask else None
    if mask:  # padded steps' inputs are never read, by values or by gradients
        xs = {name: _real_steps(x, m_in) for name, x in xs.items()}
    inits = {v.name: _initial_values(rec, v) for v in order}
    zeros = {v.name: F.zeros(v.shape, v.dtype) for v in rec.inputs()}

    # history[name][p - 1] is the variable's value at processing position p (1-based).
    history: Dict[str, List[Node]] = {v.name: [] for v in rec.variables.values()}
    shown: Dict[str, List[Node]] = {v.name: [] for v in order}  # what the graph outputs

    def time_of(p: int) -> int:
        return steps - p + 1 if reverse else p

    for p in range(1, steps + 1):
        tt = time_of(p)

        def lookup(name, kind, delay, p=p):
            q = p - delay
            if q >= 1:
                return history[name][q - 1]
            if kind == "input":
                return zeros[name]
            return inits[name](-q)

        push_meta({"step": tt, "origin": f"{rec.name} inputs"})
        try:
            for name, x in xs.items():
                history[name].append(x[tt - 1].tag(name=f"{name}@{tt}"))
            keep = m_in[tt - 1] if mask else None  # (B,) bool
        finally:
            pop_meta()
        for tpl in templates:
            v = tpl.var
            push_meta({"step": tt, "origin": tpl.origin})
            try:
                value = tpl.instantiate(lookup)
                if mask:
                    kept = F.reshape(keep, (B,) + (1,) * len(v.size))
                    held = F.where(kept, value, lookup(v.name, v.kind, 1))
                    out = F.where(kept, value, 0.0)
                else:
                    held = out = value
                held.tag(name=f"{v.name}@{tt}")
            finally:
                pop_meta()
            history[v.name].append(held)
            shown[v.name].append(out)

    declared = [v for v in rec.variables.values() if v.kind != "input"]
    outputs: Dict[str, Node] = {}
    for v in declared:
        seq = shown[v.name][::-1] if reverse else shown[v.name]
        outputs[v.name] = F.stack(seq, axis=0)
    for v in declared:
        if v.kind == "state":
            outputs[f"{v.name}_final"] = history[v.name][-1]
    if per_step:
        for v in declared:
            for p, node in enumerate(shown[v.name], start=1):
                outputs[f"{v.name}@{time_of(p)}"] = node
    return Graph(outputs, name=rec.name)
