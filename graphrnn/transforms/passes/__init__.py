"""Graph-to-graph optimization passes and the pipeline that orders them.

Each pass is a pure function ``Graph -> (Graph, rewrites)``.  ``optimize(graph, "O2")``
runs a named level and can report what each pass changed.  Optimize the graph you will
run, after differentiating it (``stop_gradient`` is dropped as the identity it is then).
Dead code needs no pass: a Graph is exactly what its outputs reach.
"""

from .checkpoint import checkpoint
from .pipeline import LEVELS, PASSES, PassReport, optimize

__all__ = ["optimize", "checkpoint", "PASSES", "LEVELS", "PassReport"]
