"""Before and after: the union of two graphs with removed and new nodes marked.

Nodes are hash-consed values, so a node present in both graphs is the same object: what a
pass kept is drawn plainly, what it removed is red and dashed, what it created is green."""

from __future__ import annotations

from typing import Optional

import graphviz

from graphrnn.core.ir import Graph, toposort

from .style import ADDED, CLUSTER, REMOVED
from .unrolled import draw_graph

__all__ = ["passes_diff"]


def passes_diff(before: Graph, after: Graph, max_steps: Optional[int] = 6) -> graphviz.Digraph:
    """``before`` and ``after`` drawn as one graph: removed nodes red/dashed, new ones green."""
    old, new = set(before.nodes), set(after.nodes)
    nodes = toposort(list(before.outputs.values()) + list(after.outputs.values()))
    outputs = {}
    for k, n in list(after.outputs.items()) + list(before.outputs.items()):
        outputs.setdefault(n, k)

    def node_style(n):
        if n not in new:
            return REMOVED
        if n not in old:
            return ADDED
        return {}

    def edge_style(a, n):
        if n not in new or a not in new:
            return {"color": REMOVED["color"], "style": "dashed"}
        if n not in old:
            return {"color": ADDED["color"]}
        return {}

    dot = draw_graph(nodes, outputs, f"diff({before.name}, {after.name})", max_steps,
                     node_style=node_style, edge_style=edge_style)
    removed, added = len(old - new), len(new - old)
    legend = graphviz.Digraph("cluster_legend", graph_attr={
        **CLUSTER, "label": f"{len(old)} -> {len(new)} nodes: {removed} removed, {added} new"})
    legend.node("legend_removed", "removed", shape="box", **REMOVED)
    legend.node("legend_added", "new", shape="box", **ADDED)
    dot.subgraph(legend)
    return dot
