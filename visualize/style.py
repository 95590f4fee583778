"""Colours and shapes for every diagram, in one place.

- input: light-blue ellipse         - param: gold box (drawn once, shared)
- const / fill: small grey note     - op: white rounded box (adjoint ops: pale red)
- output: double border             - time steps: one cluster per step, labelled t=k
"""

ROLE = {
    "input": {"shape": "ellipse", "style": "filled", "fillcolor": "#cfe8ff"},
    "param": {"shape": "box", "style": "filled", "fillcolor": "#ffd966"},
    "const": {"shape": "note", "style": "filled", "fillcolor": "#eeeeee", "fontsize": "9"},
    "op": {"shape": "box", "style": "rounded,filled", "fillcolor": "#ffffff"},
    "adjoint": {"shape": "box", "style": "rounded,filled", "fillcolor": "#fde0dc"},
}
OUTPUT = {"peripheries": "2"}
GRAPH = {"rankdir": "LR", "fontname": "Helvetica", "fontsize": "10"}
NODE = {"fontname": "Helvetica", "fontsize": "10"}
CLUSTER = {"style": "rounded,dashed", "color": "#999999"}


def role_of(node) -> str:
    """The style role of a graph node."""
    if node.op.name in ("input", "param"):
        return node.op.name
    if node.op.name in ("const", "fill"):
        return "const"
    return "adjoint" if node.origin == "adjoint" or (node.origin or "").startswith("vjp") else "op"
