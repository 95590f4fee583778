"""A Graph as a Graphviz DAG: nodes styled by role, time steps as clusters."""

from __future__ import annotations

import os
import shutil
from typing import Optional

import graphviz

from graphrnn.ir import Graph, dtype_name
from graphrnn.shapes import format_shape

from .style import CLUSTER, GRAPH, NODE, OUTPUT, ROLE, role_of


def dot_available() -> bool:
    """True when Graphviz's ``dot`` binary is on the PATH."""
    return shutil.which("dot") is not None


def _label(node) -> str:
    shape = f"{dtype_name(node.dtype)}{format_shape(node.shape)}"
    if node.op.name in ("input", "param"):
        return f"{node.attr('name')}\n{shape}"
    if node.op.name == "const":
        return repr(node.attr("value"))
    head = node.op.name + (f" [{node.name}]" if node.name else "")
    return f"{head}\n{shape}"


def dag(graph: Graph, max_nodes: int = 2000, cluster_steps: bool = True) -> graphviz.Digraph:
    """``graph`` as a ``graphviz.Digraph``: one node per value, one edge per argument.

    Nodes carrying a time step are grouped in a cluster per step.  Graphs larger than
    ``max_nodes`` are refused (elide or collapse them first) rather than drawn unreadably.
    """
    if len(graph) > max_nodes:
        raise ValueError(f"dag: graph {graph.name!r} has {len(graph)} nodes (> max_nodes="
                         f"{max_nodes}); render fewer steps")
    ids = graph.ids()
    outputs = {n: k for k, n in graph.outputs.items()}
    dot = graphviz.Digraph(graph.name, graph_attr=GRAPH, node_attr=NODE)
    clusters = {}
    for n, i in ids.items():
        attrs = dict(ROLE[role_of(n)])
        label = _label(n)
        if n in outputs:
            attrs.update(OUTPUT)
            label = f"{outputs[n]} =\n{label}"
        target = dot
        if cluster_steps and n.step is not None and not n.is_leaf:
            if n.step not in clusters:
                clusters[n.step] = graphviz.Digraph(f"cluster_t{n.step}",
                                                    graph_attr={**CLUSTER, "label": f"t={n.step}"})
            target = clusters[n.step]
        target.node(f"n{i}", label, **attrs)
    for step in sorted(clusters):
        dot.subgraph(clusters[step])
    for n, i in ids.items():
        for pos, a in enumerate(n.args):
            dot.edge(f"n{ids[a]}", f"n{i}", **({"taillabel": str(pos), "fontsize": "7"}
                                                if len(n.args) > 1 and n.op.name in
                                                ("sub", "div", "matmul", "where") else {}))
    return dot


def write_svg(diagram: graphviz.Digraph, path: str) -> str:
    """Render ``diagram`` to ``path`` (``.svg`` is added when missing); returns the SVG path."""
    base = path[:-4] if path.endswith(".svg") else path
    os.makedirs(os.path.dirname(base) or ".", exist_ok=True)
    return diagram.render(base, format="svg", cleanup=True)
