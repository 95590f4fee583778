"""Colours and shapes for every diagram, in one place (documented in the README too).

Nodes, by role:
- input: light-blue ellipse;  state / output variable (folded view): green / violet ellipse
- param: gold box (drawn once and shared, unless asked to repeat it per step)
- const / fill: small grey note;  initial value (zeros, h0): grey ellipse
- op: white rounded box;  adjoint op (backward pass): pale-red rounded box
- graph output: double border;  elided steps: a dotted "..." box;  collapsed cell: blue box
Edges: data flow solid grey; delay (s[t-k]) dashed red with the delay as label and a dot at the
tail; gradient flow coloured from blue (small norm) through yellow to red (large norm), an
infinite gradient bold magenta and a NaN gradient bold black and dotted, each with its legend.
Passes diff: removed nodes red and dashed, new nodes green and bold.

Every label goes through :func:`text`, so any name (``<lambda>``, quotes, backslashes,
newlines, braces) is drawn as written; node ids are private to each diagram.
"""

import graphviz

#: the most time steps a diagram draws (``max_steps=None`` draws every step): beyond it the
#: middle must be elided (``max_steps=k``); Graphviz lays out a few thousand nodes at most
MAX_DRAWN_STEPS = 200

ROLE = {
    "input": {"shape": "ellipse", "style": "filled", "fillcolor": "#cfe8ff"},
    "state": {"shape": "ellipse", "style": "filled", "fillcolor": "#c7ecc5"},
    "output": {"shape": "ellipse", "style": "filled", "fillcolor": "#e3d3f5"},
    "param": {"shape": "box", "style": "filled", "fillcolor": "#ffd966"},
    "const": {"shape": "note", "style": "filled", "fillcolor": "#eeeeee", "fontsize": "9"},
    "init": {"shape": "ellipse", "style": "filled", "fillcolor": "#e6e6e6"},
    "op": {"shape": "box", "style": "rounded,filled", "fillcolor": "#ffffff"},
    "adjoint": {"shape": "box", "style": "rounded,filled", "fillcolor": "#fde0dc"},
    "ellipsis": {"shape": "box", "style": "dotted", "fontsize": "14"},
    "cell": {"shape": "box3d", "style": "filled", "fillcolor": "#dbe9f6"},
}
GRAPH_OUTPUT = {"peripheries": "2"}
REMOVED = {"color": "#d7191c", "fontcolor": "#d7191c", "style": "dashed,rounded"}
ADDED = {"color": "#1a9641", "fontcolor": "#1a9641", "penwidth": "2"}

EDGE = {"color": "#555555"}
DELAY_EDGE = {"style": "dashed", "color": "#d7191c", "fontcolor": "#d7191c", "penwidth": "1.6",
              "arrowtail": "dot", "dir": "both"}
DEFINES_EDGE = {"color": "#1a9641", "penwidth": "1.4"}

GRAPH = {"rankdir": "LR", "fontname": "Helvetica", "fontsize": "10", "newrank": "true"}
NODE = {"fontname": "Helvetica", "fontsize": "10"}
CLUSTER = {"style": "rounded,dashed", "color": "#999999", "fontname": "Helvetica"}

# gradient-norm colour scale: small (blue) -> medium (yellow) -> large (red)
SCALE = ["#2c7bb6", "#abd9e9", "#ffffbf", "#fdae61", "#d7191c"]
ZERO = "#bbbbbb"
#: gradients that are not finite: what an exploding gradient ends as
NONFINITE = {"inf": {"color": "#e7298a", "penwidth": "4.5", "style": "bold"},
             "nan": {"color": "#000000", "penwidth": "4.5", "style": "dotted"}}


def text(s) -> str:
    """``s`` as a literal Graphviz label: never HTML (``<...>``), no escape sequences
    (backslashes are doubled), no entities (``&`` escaped), control characters shown as
    escapes; a newline starts a new line."""
    s = "".join(ch if ch == "\n" or ch.isprintable() else repr(ch)[1:-1] for ch in str(s))
    s = s.replace("\\", "\\\\").replace("&", "&amp;").replace("\n", "\\n")
    return graphviz.nohtml(s)


def role_of(node) -> str:
    """The style role of a graph node."""
    source = node.op.source  # how a leaf gets its value (None: computed)
    if source in ("input", "param"):
        return source
    if source in ("const", "fill"):
        return "const"
    return "adjoint" if node.origin == "adjoint" else "op"


def scale_colour(fraction: float) -> str:
    """The colour at ``fraction`` (0..1) of the gradient-norm scale (linear in RGB)."""
    fraction = 0.0 if fraction != fraction else fraction  # NaN: the low end
    fraction = min(max(fraction, 0.0), 1.0) * (len(SCALE) - 1)
    i = min(int(fraction), len(SCALE) - 2)
    a, b = SCALE[i], SCALE[i + 1]
    f = fraction - i
    rgb = [round(int(a[k:k + 2], 16) * (1 - f) + int(b[k:k + 2], 16) * f) for k in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in rgb)
