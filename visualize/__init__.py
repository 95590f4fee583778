"""Rendering of graphrnn graphs as Graphviz diagrams (SVG).

The engine never imports this package; it reads a :class:`graphrnn.Graph` and returns
``graphviz.Digraph`` objects.  Writing SVG needs Graphviz's ``dot`` binary.
"""

from .dag import dag, dot_available, write_svg

__all__ = ["dag", "write_svg", "dot_available"]
