"""The folded recurrence: variables, parameters and operations once, with delay edges
(``s[t-k]``) drawn dashed and labelled, so the loop through time shows as a cycle."""

from __future__ import annotations

import graphviz

from graphrnn.frontend.recurrence import Recurrence

from .output import Diagram
from .style import CLUSTER, DEFINES_EDGE, DELAY_EDGE, EDGE, GRAPH, NODE, ROLE, text

__all__ = ["folded"]


def _wrap(text: str, width: int = 48, lines: int = 3) -> str:
    """``text`` broken at spaces into at most ``lines`` lines of about ``width`` characters."""
    out, line = [], ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    out.append(line)
    if len(out) > lines:
        out = out[:lines]
        out[-1] += " ..."
    return "\n".join(out)


def folded(rec: Recurrence, equations: bool = True, shapes: bool = True) -> graphviz.Digraph:
    """``rec`` as a diagram: inputs, states, outputs and parameters styled by role; each
    delay edge dashed, red, labelled ``t-k``; ``equations`` puts each equation in its
    variable's label.

    Variables keep their names (identifiers) as node ids; parameters and operations get
    private ones (``param#<i>``, ``op#<i>``), so no name can merge two nodes; every label is
    drawn as written."""
    fold = rec.folded()
    dot = Diagram(text(rec.name), graph_attr={
        **GRAPH, "label": text(f"recurrence {rec.name}"), "labelloc": "t"}, node_attr=NODE)
    ids, params = {}, 0
    for key, data in fold.nodes(data=True):
        if data["kind"] == "op":
            ids[key] = f"op#{key}"
        elif data["kind"] == "param":
            ids[key], params = f"param#{params}", params + 1
        else:
            ids[key] = key
    eqs = {}
    if equations:
        for line in rec.describe().splitlines()[1:]:
            parts = line.split()
            if parts and parts[0] in ("state", "output"):
                eqs[parts[1].split("[")[0]] = line.split(" ", 3)[-1].strip().split(" : ")[0]
    for key, data in fold.nodes(data=True):
        kind = data["kind"]
        shape = f"\n{data['dtype']}{data['shape']}" if shapes else ""
        if kind in ("input", "state", "output"):
            label = _wrap(eqs.get(key, data["label"])) + shape
        elif kind == "param":
            label = key + shape
        else:
            label = data["label"] + shape
        dot.node(ids[key], text(label), **ROLE[kind if kind in ROLE else "op"])
    for u, v, data in fold.edges(data=True):
        if data["kind"] == "delay":
            dot.edge(ids[u], ids[v], label=text(f"t-{data['delay']}"), **DELAY_EDGE)
        elif data["kind"] == "defines":
            dot.edge(ids[u], ids[v], **DEFINES_EDGE)
        else:
            dot.edge(ids[u], ids[v], **EDGE)
    legend = graphviz.Digraph("cluster_legend", graph_attr={**CLUSTER, "label": "legend"})
    legend.node("legend#delay_a", "s[t-k]", shape="plaintext")
    legend.node("legend#delay_b", "use", shape="plaintext")
    legend.edge("legend#delay_a", "legend#delay_b", label="delay k", **DELAY_EDGE)
    dot.subgraph(legend)
    return dot
