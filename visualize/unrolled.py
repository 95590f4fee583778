"""Unrolled graphs: one cluster per time step, left to right, long unrollings elided.

The drawing core (:func:`draw_graph`) is shared by :func:`unrolled`, the gradient-flow view
and the passes diff, which only change how nodes and edges are styled.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence

import graphviz

from graphrnn.core.ir import Graph, Node, dtype_name
from graphrnn.core.shapes import format_shape

from .output import Diagram
from .style import (CLUSTER, EDGE, GRAPH, GRAPH_OUTPUT, MAX_DRAWN_STEPS, NODE, ROLE, role_of,
                    text)

__all__ = ["unrolled", "draw_graph", "node_label"]

ELLIPSIS = "elided"


def node_label(node: Node, equations: bool = False) -> str:
    """``op [name]`` and ``dtype(shape)``; leaves by name; the equation when asked and known."""
    shape = f"{dtype_name(node.dtype)}{format_shape(node.shape)}"
    op, source = node.op.name, node.op.source
    if source in ("input", "param"):
        return f"{node.attr('name')}\n{shape}"
    if source == "const":
        v = node.attr("value")
        return v.summary() if hasattr(v, "summary") else repr(v)
    if source == "fill":
        return f"{'zeros' if node.attr('value') == 0 else 'full ' + repr(node.attr('value'))}\n{shape}"
    head = f"{op} [{node.name}]" if node.name else op
    label = f"{head}\n{shape}"
    if equations and node.name and node.origin and node.origin != "adjoint":
        label += f"\n{node.origin}"
    return label


def _shown_steps(steps: List[int], max_steps: Optional[int], name: str = "graph"):
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int)
                                  or max_steps < 1):
        raise ValueError(f"diagram of {name!r}: max_steps must be an int >= 1 (or None for "
                         f"every step), got {max_steps!r}")
    drawn = len(steps) if max_steps is None else min(max_steps, len(steps))
    if drawn > MAX_DRAWN_STEPS:
        raise ValueError(f"diagram of {name!r}: drawing {drawn:,} of its {len(steps):,} time "
                         f"steps is more than the {MAX_DRAWN_STEPS} a diagram draws; pass "
                         f"max_steps=k (k <= {MAX_DRAWN_STEPS}) to draw the first and last "
                         f"steps around '...'")
    if max_steps is None or len(steps) <= max_steps:
        return set(steps), []
    head = (max_steps + 1) // 2
    tail = max_steps - head
    shown = steps[:head] + (steps[-tail:] if tail else [])
    return set(shown), [s for s in steps if s not in set(shown)]


def draw_graph(nodes: Sequence[Node], outputs: Dict[Node, str], name: str = "graph",
               max_steps: Optional[int] = 6, share_params: bool = True, collapse: bool = False,
               equations: bool = False,
               node_style: Optional[Callable[[Node], dict]] = None,
               edge_style: Optional[Callable[[Node, Node], dict]] = None,
               extra_label: Optional[Callable[[Node], str]] = None) -> graphviz.Digraph:
    """Draw ``nodes`` (topologically ordered) with step clusters, elision and styling hooks.

    ``node_style(n)`` and ``edge_style(arg, n)`` return extra Graphviz attributes;
    ``extra_label(n)`` adds a line to a node's label.  At most ``MAX_DRAWN_STEPS`` steps are
    drawn (:mod:`visualize.style`): more raise ``ValueError`` before any drawing.
    """
    ids = {n: i for i, n in enumerate(nodes)}
    # Parameters and what is computed from them alone (a transpose, a bias broadcast):
    # drawn once, or repeated in every step that uses them when share_params is False.
    # What is computed from constants alone (a broadcast 1.0) belongs to no step whatever
    # its tag says: hash-consing shares it with every graph that ever needed it, and the
    # tag is the step of the first of them.
    invariant, constant = set(), set()
    for n in nodes:
        if n.op.source in ("const", "fill") or (
                n.args and n not in outputs and all(a in constant for a in n.args)):
            constant.add(n)
        if n.op.source == "param" or n in constant or (
                n.args and n.step is None and n not in outputs
                and all(a in invariant for a in n.args)):
            invariant.add(n)
    step_of = {n: None if n in invariant else n.step for n in nodes}
    steps = sorted({s for s in step_of.values() if s is not None})
    shown, elided = _shown_steps(steps, max_steps, name)
    elided_set = set(elided)

    def is_leaf(n):
        return not n.args

    repeat = set() if share_params else invariant

    def key(n: Node, user_step=None) -> str:
        if not is_leaf(n) and step_of[n] in elided_set:
            return ELLIPSIS
        if collapse and not is_leaf(n) and step_of[n] is not None and n not in outputs:
            return f"cell{step_of[n]}"
        if n in repeat and user_step is not None:
            return f"n{ids[n]}_t{user_step}"
        return f"n{ids[n]}"

    dot = Diagram(text(name), graph_attr=GRAPH, node_attr=NODE)
    clusters: Dict[int, graphviz.Digraph] = {
        s: graphviz.Digraph(f"cluster_t{s}", graph_attr={**CLUSTER, "label": f"t={s}"})
        for s in sorted(shown)}
    sources = graphviz.Digraph("sources", graph_attr={"rank": "source"})
    drawn = set()

    def place(n: Node, k: str, where: graphviz.Digraph):
        if k in drawn:
            return
        drawn.add(k)
        attrs = dict(ROLE[role_of(n)])
        label = node_label(n, equations)
        if n in outputs:
            attrs.update(GRAPH_OUTPUT)
            label = f"{outputs[n]} =\n{label}"
        if extra_label is not None:
            extra = extra_label(n)
            if extra:
                label += f"\n{extra}"
        if node_style is not None:
            attrs.update(node_style(n))
        where.node(k, text(label), **attrs)

    cells: Dict[int, int] = {}
    for n in nodes:
        k = key(n)
        if k == ELLIPSIS:
            continue
        if k.startswith("cell"):
            cells[step_of[n]] = cells.get(step_of[n], 0) + 1
            continue
        if n in repeat:
            continue  # drawn where used: inside each step (or once, for elided steps)
        if is_leaf(n):
            place(n, k, sources if n.op.source == "input" else dot)
        elif step_of[n] is not None:
            place(n, k, clusters[step_of[n]])
        else:
            place(n, k, dot)
    for s, count in cells.items():
        clusters[s].node(f"cell{s}", text(f"cell t={s}\n{count} ops"), **ROLE["cell"])

    edges = {}
    # (node, step it is drawn for): the step's copy of a repeated node brings its own inputs
    work = [(n, step_of[n] if step_of[n] in shown else None) for n in nodes if n not in repeat]
    while work:
        n, step = work.pop()
        dst = key(n, step) if n in repeat else key(n)
        for a in n.args:
            src = key(a, step)
            if src == dst or (src, dst) in edges:
                continue
            if a in repeat and src not in drawn:
                place(a, src, clusters.get(step, dot) if step is not None else dot)
                work.append((a, step))
            attrs = dict(EDGE)
            if edge_style is not None:
                attrs.update(edge_style(a, n))
            edges[(src, dst)] = attrs
    # subgraphs are copied when attached, so attach them once every node is placed
    for s in sorted(clusters):
        dot.subgraph(clusters[s])
    dot.subgraph(sources)
    if elided:
        dot.node(ELLIPSIS, f"... {len(elided)} steps (t={elided[0]}..{elided[-1]}) ...",
                 **ROLE["ellipsis"])
    for (src, dst), attrs in edges.items():
        dot.edge(src, dst, **attrs)
    _order_steps(dot, nodes, step_of, key, sorted(shown), elided)
    return dot


def _order_steps(dot, nodes, step_of, key, shown, elided):
    """Invisible edges that put each step's cluster to the right of the previous one."""
    last, firsts = {}, {}
    for n in nodes:
        if step_of[n] is None or step_of[n] not in set(shown) or not n.args:
            continue
        k = key(n)
        last[step_of[n]] = k
        if not any(step_of[a] == step_of[n] and a.args for a in n.args):
            firsts.setdefault(step_of[n], []).append(k)
    prev = None
    for s in shown:
        anchor = prev
        if elided and prev is not None and elided[0] < s:
            dot.edge(prev, ELLIPSIS, style="invis")
            anchor, elided = ELLIPSIS, []
        if anchor is not None:
            for k in dict.fromkeys(firsts.get(s, [])):
                if k != anchor:
                    dot.edge(anchor, k, style="invis")
        prev = last.get(s, prev)


def unrolled(graph: Graph, max_steps: Optional[int] = 6, share_params: bool = True,
             collapse: bool = False, equations: bool = False) -> graphviz.Digraph:
    """The unrolled ``graph``: a cluster per time step, left to right.

    Parameters are drawn once with their fan-out (``share_params=False`` repeats them in
    each step); inputs sit at the left edge.  With more than ``max_steps`` steps, only the
    first and last ones are drawn around one ``...`` node (``None`` draws all, up to
    ``visualize.style.MAX_DRAWN_STEPS``).  Every label is drawn as written, whatever
    characters names hold.
    ``collapse=True`` draws each step's cell as one box; ``equations=True`` adds each named
    value's equation to its label.
    """
    outputs = {}
    for k, n in graph.outputs.items():
        outputs.setdefault(n, k)
    return draw_graph(graph.nodes, outputs, graph.name, max_steps, share_params, collapse,
                      equations)
