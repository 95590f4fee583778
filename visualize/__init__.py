"""Diagrams of graphrnn recurrences and graphs, as ``graphviz.Digraph`` objects (a
:class:`Diagram`) and SVG files.

The engine never imports this package.  Plots (line plots, heat maps, piano rolls, training
curves) are drawn by matplotlib, the ``[plots]`` extra, and return the file's path as a
:class:`PlotFile`.  In Jupyter diagrams and plots show as SVG pictures.  Colours and shapes
are documented in :mod:`visualize.style`.  Writing SVG needs Graphviz's ``dot`` binary
(``write(..., "dot")`` writes the source without it).
"""

from .diff import passes_diff
from .folded import folded
from .gradients import gradient_flow, gradient_norms, state_gradient_map, state_gradient_norms
from .output import Diagram, dot_available, write, write_svg
from .plot import PlotFile, heatmap, history, line_plot, piano_roll
from .unrolled import unrolled

__all__ = ["folded", "unrolled", "gradient_flow", "gradient_norms", "state_gradient_norms",
           "state_gradient_map", "passes_diff", "write", "write_svg", "dot_available",
           "line_plot", "heatmap", "piano_roll", "history", "Diagram", "PlotFile"]
