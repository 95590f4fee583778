"""Graph-to-graph optimization passes and the pipeline that orders them.

Each pass is a pure function ``Graph -> (Graph, rewrites)``: a rule phase (named rewrite
rules as data, see :mod:`.patterns` and :mod:`.phases`) or a global pass.
``optimize(graph, "O2")`` runs a named level and can report what each pass (and each
rule) changed.  Optimize the graph you will
run, after differentiating it (``stop_gradient`` is dropped as the identity it is then).
Dead code needs no pass: a Graph is exactly what its outputs reach.
"""

from .checkpoint import checkpoint
from .patterns import Pat, Rule, RuleSet
from .phases import Phase
from .pipeline import LEVELS, PASSES, PHASES, PassReport, PassRun, optimize

__all__ = ["optimize", "checkpoint", "PASSES", "LEVELS", "PHASES", "PassReport", "PassRun",
           "Pat", "Rule", "RuleSet", "Phase"]
