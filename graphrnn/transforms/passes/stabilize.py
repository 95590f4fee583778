"""The stabilize phase (O2): forms that underflow replaced by the stable ops that compute
what they mean.  Not bit-exact by nature: ``log(sigmoid(-800))`` is -inf,
``log_sigmoid(-800)`` is -800; elsewhere they agree within a few ulp, and NaN stays NaN.

``log(softmax(x))`` -> ``log_softmax(x)``, ``log(sigmoid(x))`` -> ``log_sigmoid(x)``, and in
their gradients ``(g / p) * p * x`` -> ``g * x`` and ``1 - sigmoid(x)`` -> ``sigmoid(-x)``
for a probability ``p`` whose log the graph takes: the gradient of ``log(p)`` met by the
gradient of ``p``, NaN (0 / 0) where ``p`` underflows.  Graphs that take no log of a
probability are left as they are.
"""

from __future__ import annotations

from ...core import ops as F
from ...core.ir import Graph
from ...core.ops import O
from .patterns import Pat, Rule, RuleContext, RuleSet
from .phases import Phase

__all__ = ["STABILIZE", "stabilize"]

_PROBABILITIES = frozenset([O.softmax, O.sigmoid])
_LOG = O.log


def _logged(graph: Graph, ctx: RuleContext) -> bool:
    """Gather ``ctx.logged``, the probabilities whose log the graph takes; False if none."""
    ctx.logged = {n.args[0] for n in graph.nodes
                  if n.op is _LOG and n.args[0].op in _PROBABILITIES}
    return bool(ctx.logged)


def _equal_shapes(n) -> bool:
    return n.args[0].shape == n.args[1].shape


G, P, X = Pat.var("g"), Pat.var("p"), Pat.var("x")
_GRAD_OF_LOG = Pat(O.div, args=(G, P))  # g / p, the gradient of log(p)

#: the stabilizing rules
RULES = RuleSet([
    Rule("log-of-softmax", Pat(O.log, args=(Pat(O.softmax, name="s", args=(X,)),)),
         lambda s, x: F.log_softmax(x, s.attr("axis")), doc="log(softmax(x)) -> log_softmax(x)"),
    Rule("log-of-sigmoid", Pat(O.log, args=(Pat(O.sigmoid, args=(X,)),)),
         lambda x: F.log_sigmoid(x), doc="log(sigmoid(x)) -> log_sigmoid(x)"),
    Rule("log-gradient-cancels", Pat(O.mul, args=(_GRAD_OF_LOG, P), commutative=True,
                                     where=_equal_shapes),
         lambda g, p, ctx: g if p in ctx.logged else None,
         doc="(g / p) * p -> g for a probability p whose log is taken"),
    Rule("log-gradient-cancels-in-product",
         Pat(O.mul, args=(_GRAD_OF_LOG, Pat(O.mul, args=(P, X), commutative=True)),
             commutative=True, where=_equal_shapes),
         lambda g, p, x, ctx: F.mul(g, x) if p in ctx.logged else None,
         doc="(g / p) * (p * x) -> g * x for a probability p whose log is taken"),
    Rule("one-minus-sigmoid",
         Pat(O.sub, args=(Pat.one(), Pat(O.sigmoid, name="p", args=(X,)))),
         lambda p, x, ctx: F.sigmoid(F.neg(x)) if p in ctx.logged else None,
         doc="1 - sigmoid(x) -> sigmoid(-x) for a sigmoid whose log is taken"),
])

#: the phase: the rules above, run where the graph takes the log of a probability
STABILIZE = Phase("stabilize", RULES, "log(softmax) -> log_softmax, log(sigmoid) -> "
                  "log_sigmoid, and the gradients they meet", prepare=_logged)


def stabilize(graph: Graph, fast_math: bool = False):
    """Run the stabilize phase (see the module docstring); ``(graph, rewrites)``."""
    return STABILIZE(graph, fast_math)
