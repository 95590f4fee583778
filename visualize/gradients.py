"""Gradient flow: the unrolled graph with every edge coloured by the norm of the gradient
flowing back along it, so vanishing and exploding gradients show at a glance."""

from __future__ import annotations

import math
from typing import Dict, Mapping, Optional

import graphviz
import numpy as np

import graphrnn as gr
from graphrnn.transforms.autodiff import adjoints
from graphrnn.core.ir import Graph

from .style import CLUSTER, NONFINITE, ZERO, scale_colour, text
from .unrolled import draw_graph

__all__ = ["gradient_flow", "gradient_norms", "state_gradient_norms", "state_gradient_map"]


def _adjoint_values(graph: Graph, values: Mapping, loss: Optional[str],
                    dims: Optional[Mapping[str, int]]) -> Dict:
    """``{node: d loss / d node}`` (NumPy arrays) for every node the loss depends on."""
    if loss is None:
        if len(graph.outputs) != 1:
            raise ValueError(f"gradient_flow: graph {graph.name!r} has outputs "
                             f"{list(graph.outputs)}; name the scalar loss with loss=...")
        loss = next(iter(graph.outputs))
    y = graph.outputs[loss]
    if y.shape != ():
        raise ValueError(f"gradient_flow: output {loss!r} must be a scalar, got {y.label()}")
    adj = adjoints([y], [gr.ones_like(y)])
    keys = list(adj)
    g = Graph({f"a{i}": adj[n] for i, n in enumerate(keys)}, name="adjoints")
    inputs = {k: v for k, v in values.items() if k in g.inputs}
    params = {k: v for k, v in values.items() if k in g.params}
    out = gr.evaluate(g, inputs, params, dims)
    return {n: np.asarray(out[f"a{i}"], dtype=np.float64) for i, n in enumerate(keys)}


def gradient_norms(graph: Graph, values: Mapping, loss: Optional[str] = None,
                   dims: Optional[Mapping[str, int]] = None):
    """``{node: ||d loss / d node||}`` for every node the loss depends on."""
    return {n: float(np.linalg.norm(a)) for n, a in _adjoint_values(graph, values, loss,
                                                                     dims).items()}


def state_gradient_norms(graph: Graph, values: Mapping, state: str = "h",
                         loss: Optional[str] = None,
                         dims: Optional[Mapping[str, int]] = None) -> Dict[int, float]:
    """``{t: ||d loss / d state[t]||}`` for an unrolled recurrence (its ``state@t`` values):
    how much gradient reaches back to each step."""
    norms = gradient_norms(graph, values, loss, dims)
    return {n.step: v for n, v in norms.items() if n.step is not None
            and n.name == f"{state}@{n.step}"}


def state_gradient_map(graph: Graph, values: Mapping, state: str = "h",
                       loss: Optional[str] = None,
                       dims: Optional[Mapping[str, int]] = None) -> np.ndarray:
    """``||d loss / d state[t][:, i]||`` over the batch, as an array ``(units, steps)`` (a row
    per unit, a column per step, in order): the picture :func:`visualize.heatmap` draws."""
    by_step = {n.step: a for n, a in _adjoint_values(graph, values, loss, dims).items()
               if n.step is not None and n.name == f"{state}@{n.step}"}
    if not by_step:
        raise ValueError(f"state_gradient_map: the loss depends on no step of state {state!r}")
    steps = sorted(by_step)
    rows = [np.linalg.norm(by_step[t].reshape(-1, by_step[t].shape[-1]), axis=0)
            for t in steps]
    return np.stack(rows, axis=1)


def gradient_flow(graph: Graph, values: Mapping, loss: Optional[str] = None,
                  max_steps: Optional[int] = 6, dims: Optional[Mapping[str, int]] = None,
                  share_params: bool = True) -> graphviz.Digraph:
    """The unrolled ``graph`` with each edge ``a -> n`` coloured (and thickened) by
    ``||d loss / d a||`` on a log scale, arrows pointing the way gradients flow, each node
    labelled with its gradient norm, and a legend with the scale.

    ``values`` holds every input and parameter by name; ``loss`` names a scalar output.
    Infinite and NaN gradients (an explosion) are drawn in styles of their own
    (``visualize.style.NONFINITE``), outside the scale, each with a legend entry.
    """
    norms = gradient_norms(graph, values, loss, dims)
    logs = [math.log10(v) for v in norms.values() if 0 < v < math.inf]
    lo, hi = (min(logs), max(logs)) if logs else (0.0, 0.0)
    span = max(hi - lo, 1e-12)

    def kind(v):
        return "nan" if v != v else "inf" if v == math.inf else None

    def edge_style(a, n):
        v = norms.get(a, 0.0)
        tip = {"dir": "back", "tooltip": text(f"|dL/d{a.name or a.op.name}| = {v:.3g}")}
        if kind(v):
            return {**NONFINITE[kind(v)], **tip}
        width = 0.8 + 3.0 * ((math.log10(v) - lo) / span if v > 0 else 0.0)
        return {"color": ZERO if v <= 0 else scale_colour((math.log10(v) - lo) / span),
                "penwidth": f"{width:.2f}", **tip}

    def extra_label(n):
        return f"|grad| {norms[n]:.2e}" if n in norms and n.args else ""

    outputs = {}
    for k, n in graph.outputs.items():
        outputs.setdefault(n, k)
    dot = draw_graph(graph.nodes, outputs, f"gradients({graph.name})", max_steps, share_params,
                     edge_style=edge_style, extra_label=extra_label)
    legend = graphviz.Digraph("cluster_legend", graph_attr={**CLUSTER, "label": "|dL/dx| (log)"})
    for i in range(5):
        v = 10 ** (lo + span * i / 4)
        legend.node(f"legend{i}", f"{v:.1e}", shape="box", style="filled",
                    fillcolor=scale_colour(i / 4))
    for i in range(4):
        legend.edge(f"legend{i}", f"legend{i + 1}", style="invis")
    found = {kind(v) for v in norms.values()} - {None}
    for k in sorted(found):  # non-finite gradients, outside the scale
        style = NONFINITE[k]
        legend.node(f"legend_{k}_a", "", shape="point", width="0.05")
        legend.node(f"legend_{k}_b", "", shape="point", width="0.05")
        legend.edge(f"legend_{k}_a", f"legend_{k}_b", label=f"|dL/dx| = {k}", **style)
    dot.subgraph(legend)
    return dot
