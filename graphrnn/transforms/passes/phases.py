"""Rule phases: a rule set run over a graph bottom-up, to a fixed point.

Every node is visited after its arguments, so when a rule looks at a node its arguments are
already in normal form.  A replacement is simplified again at once (its new nodes first,
then itself), so a rewrite that creates a new match (``-0.0 - (-x)`` -> ``-(-x)`` -> ``x``;
a stack of rows -> a slice of a concat -> the piece) is rewritten in the same run: one
sweep reaches the fixed point of rules that look at a node and its arguments.  A chain of
rewrites (a node rewritten, its replacement rewritten, ...) is at most ``max_rewrites``
long: a rule set that cycles (``a * b -> b * a``) stops there instead of looping, and the
report counts the nodes where it did (``capped``).
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, Dict, Optional, Tuple

from ...core.ir import Graph, Node
from ...core.shapes import ShapeError
from .patterns import RuleContext, RuleSet
from .rewrite import rebuild, same_meta

__all__ = ["Phase", "RuleCounts", "apply_rules", "MAX_REWRITES"]

#: The longest chain of rewrites at one place before a phase stops rewriting there.
MAX_REWRITES = 16


class RuleCounts(Counter):
    """How often each rule fired (by name); ``capped``: nodes where the chain of rewrites
    reached the bound (a rule set that cycles)."""

    capped = 0


def apply_rules(graph: Graph, rules: RuleSet, ctx: Optional[RuleContext] = None,
                max_rewrites: int = MAX_REWRITES) -> Tuple[Graph, RuleCounts]:
    """Rewrite ``graph`` with ``rules`` bottom-up to a fixed point (see the module docstring).

    Returns the new graph (``graph`` itself when no rule fired) and the per-rule counts."""
    ctx = ctx or RuleContext()
    counts = RuleCounts()
    memo: Dict[Node, Node] = {}  # node -> its normal form (normal forms map to themselves)
    first, candidates, fast = rules.first, rules.for_op, ctx.fast_math
    for n in graph.nodes:
        if n in memo:
            continue
        m = rebuild(n, tuple([memo[a] for a in n.args])) if n.args else n
        if m is not n and m in memo:
            memo[n] = memo[m]
            continue
        fired = first(m, ctx) if candidates(m.op, fast) else None
        if fired is None:  # the common case, without the work list
            memo[n] = memo[m] = m
            continue
        _settle(n, m, fired, memo, rules, ctx, counts, max_rewrites)
    if not counts:  # nothing fired: every node rebuilt as itself, the graph stands
        return graph, counts
    return Graph({k: memo[v] for k, v in graph.outputs.items()}, name=graph.name), counts


def _settle(n: Node, m: Node, fired, memo: Dict[Node, Node], rules: RuleSet,
            ctx: RuleContext, counts: RuleCounts, bound: int) -> None:
    """Record the normal form of ``n`` (rebuilt as ``m``, which ``fired`` rewrites): the
    replacement and every new node in it are normalized in turn, with an explicit work list
    of ``(node, depth, rebuilt, replacement)``: a node to visit when ``replacement`` is
    None, else one to finish once its replacement is normal.  ``depth`` is the length of
    the chain of rewrites that produced the node."""
    work: list = []
    _replace(n, m, fired, 0, memo, counts, work)
    while work:
        k, depth, m, r = work.pop()
        if r is not None:  # finish: k's replacement r is normal now
            final = memo[r]
            same_meta(final, m)
            memo[k] = memo[m] = final
            continue
        if k in memo:
            continue
        todo = [a for a in k.args if a not in memo]
        if todo:
            work.append((k, depth, None, None))
            work.extend((a, depth, None, None) for a in todo)
            continue
        m = rebuild(k, tuple([memo[a] for a in k.args])) if k.args else k
        if m is not k and m in memo:
            memo[k] = memo[m]
            continue
        fired = rules.first(m, ctx)
        if fired is not None and depth >= bound:
            counts.capped += 1
            fired = None
        if fired is None:
            memo[k] = memo[m] = m
            continue
        _replace(k, m, fired, depth, memo, counts, work)


def _replace(k: Node, m: Node, fired, depth: int, memo: Dict[Node, Node],
             counts: RuleCounts, work: list) -> None:
    """``k`` (rebuilt as ``m``) is rewritten by ``fired = (rule, r)``: finish at once when
    ``r`` is already normal, else normalize ``r`` one rewrite deeper first."""
    rule, r = fired
    if r.shape != m.shape or r.dtype != m.dtype:
        raise ShapeError(f"rule {rule.name}: rewrote {m.label()} into {r.label()}")
    counts[rule.name] += 1
    if r in memo:
        final = memo[r]
        same_meta(final, m)
        memo[k] = memo[m] = final
        return
    work.append((k, depth, m, r))
    work.append((r, depth + 1, None, None))


class Phase:
    """A named rule set run as one pass of the pipeline (bottom-up, to a fixed point).

    ``prepare(graph, ctx)``, when given, gathers facts the rules read from the whole graph
    (set on ``ctx``) and returns False when no rule can fire, to skip the sweep.  Call it
    like any pass, ``phase(graph, fast_math=False) -> (graph, rewrites)``; ``run`` returns
    the per-rule counts instead of their total.
    """

    def __init__(self, name: str, rules: RuleSet, doc: str = "",
                 prepare: Optional[Callable[[Graph, RuleContext], bool]] = None):
        self.name, self.rules, self.doc, self.prepare = name, rules, doc, prepare
        self.__doc__ = doc

    def run(self, graph: Graph, fast_math: bool = False,
            max_rewrites: int = MAX_REWRITES) -> Tuple[Graph, RuleCounts]:
        """``(graph, per-rule counts)`` after running the rules to a fixed point."""
        ctx = RuleContext(fast_math)
        if self.prepare is not None and self.prepare(graph, ctx) is False:
            return graph, RuleCounts()
        return apply_rules(graph, self.rules, ctx, max_rewrites)

    def __call__(self, graph: Graph, fast_math: bool = False) -> Tuple[Graph, int]:
        out, counts = self.run(graph, fast_math)
        return out, sum(counts.values())

    def __repr__(self):
        return f"<Phase {self.name}: {len(self.rules)} rules>"
