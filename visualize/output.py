"""Diagrams as objects and files: :class:`Diagram` (a ``graphviz.Digraph`` that Jupyter shows
as SVG), written as SVG (needs Graphviz's ``dot``) or DOT source (needs nothing)."""

from __future__ import annotations

import os
import shutil

import graphviz


def dot_available() -> bool:
    """True when Graphviz's ``dot`` binary is on the PATH."""
    return shutil.which("dot") is not None


class Diagram(graphviz.Digraph):
    """A ``graphviz.Digraph`` that Jupyter shows as SVG, or, where Graphviz's ``dot`` is
    missing, as its DOT source with a line on how to install it (never an error)."""

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        """The SVG picture for Jupyter, or the DOT source as text without ``dot``."""
        if dot_available():
            return super()._repr_mimebundle_(include, exclude, **kwargs)
        return {"text/plain": "Graphviz's 'dot' is missing (apt-get install graphviz, or "
                              "brew install graphviz); the DOT source:\n" + self.source}


def write(diagram: graphviz.Digraph, path: str, format: str = "svg") -> str:
    """Write ``diagram`` to ``path`` as ``svg`` (rendered) or ``dot`` (source); returns the path."""
    if format not in ("svg", "dot"):
        raise ValueError(f"format must be 'svg' or 'dot', got {format!r}")
    path = os.fspath(path)
    if not path.endswith("." + format):
        path += "." + format
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if format == "dot":
        with open(path, "w") as f:
            f.write(diagram.source)
        return path
    if not dot_available():
        raise RuntimeError("writing SVG needs Graphviz's 'dot' binary: apt-get install graphviz "
                           "(or brew install graphviz); format='dot' writes the source instead")
    with open(path, "wb") as f:
        f.write(diagram.pipe(format="svg"))
    return path


def write_svg(diagram: graphviz.Digraph, path: str) -> str:
    """Render ``diagram`` to an SVG file at ``path``; returns the path."""
    return write(diagram, path, "svg")
