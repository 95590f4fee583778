"""The ordered pass registry and the named optimization levels.

Every pass keeps IEEE semantics: NaN stays NaN, infinities stay infinite, and the clean-up
passes (all of O1) give the same bits as the graph as written, the sign of zero included.
O2's fusions regroup sums of the same terms (one GEMM over all steps instead of a sum of T
products), which may change rounding, and ``stabilize`` replaces forms that underflow by
their stable ops.  ``fast_math=True`` adds rewrites exact for finite values only (``x*0 ->
0``, products with a zero state dropped, ``(a + b) @ W`` for ``a @ W + b @ W``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Tuple

from ...core.ir import Graph, gc_paused
from .batch_time import batch_time, sum_of_products, weight_gradients
from .constant_fold import constant_fold
from .cse import cse
from .gate_fusion import gate_fusion
from .hoist import hoist_invariants
from .simplify import simplify
from .stabilize import stabilize
from .stack_views import stack_views

__all__ = ["PASSES", "LEVELS", "optimize", "PassReport"]

#: name -> (pass, one-line description); the registry, in pipeline order.
PASSES: Dict[str, Tuple[Callable[[Graph], Tuple[Graph, int]], str]] = {
    "simplify": (simplify, "IEEE-exact identities, zero initial states, stack/slice/scatter"),
    "constant_fold": (constant_fold, "constant subexpressions to constants"),
    "cse": (cse, "commutative twins (b + a next to a + b) merged; hash-consing does the rest"),
    "weight_gradients": (weight_gradients, "sum over steps of a.T @ g -> one GEMM (and bias sums)"),
    "gate_fusion": (gate_fusion, "matmuls sharing a left operand -> one matmul"),
    "batch_time": (batch_time, "independent matmuls sharing a weight -> one GEMM over steps"),
    "sum_of_products": (sum_of_products, "sums of matmuls / reductions -> one GEMM / reduction"),
    "hoist_invariants": (hoist_invariants, "step-invariant terms (biases) added once to batched GEMMs"),
    "stack_views": (stack_views, "concats of stacked steps as views; their sums as one reduction"),
    "stabilize": (stabilize, "log(softmax) -> log_softmax, log(sigmoid) -> log_sigmoid"),
}
#: passes that take ``fast_math`` (rewrites exact for finite values only)
FAST_MATH = {"simplify", "weight_gradients", "sum_of_products"}

_CLEAN = ["simplify", "constant_fold", "cse"]
#: level -> the passes it runs, in order (clean-up runs to a fixed point around fusions).
LEVELS: Dict[str, List[str]] = {
    "O0": [],
    "O1": _CLEAN,
    "O2": ["stabilize"] + _CLEAN + ["weight_gradients", "gate_fusion", "batch_time",
                                    "sum_of_products", "gate_fusion", "hoist_invariants",
                                    "stack_views"] + _CLEAN,
}


@dataclass
class PassReport:
    """What the pipeline did: one row per pass run (name, nodes before/after, rewrites, secs)."""
    rows: List[Tuple[str, int, int, int, float]] = field(default_factory=list)

    def __str__(self):
        lines = [f"{'pass':<16} {'nodes before':>12} {'after':>8} {'rewrites':>9} {'ms':>8}"]
        for name, before, after, count, secs in self.rows:
            lines.append(f"{name:<16} {before:>12} {after:>8} {count:>9} {secs * 1e3:>8.1f}")
        return "\n".join(lines)

    @property
    def total_seconds(self) -> float:
        return sum(r[4] for r in self.rows)


def optimize(graph: Graph, level: str = "O2", passes: List[str] = None, report: bool = False,
             max_rounds: int = 1, fast_math: bool = False):
    """Run the passes of ``level`` (or the named ``passes``) on ``graph``.

    Clean-up passes run bottom-up, which reaches a fixed point for local rules in one round;
    ``max_rounds`` > 1 repeats them while anything changes.  ``fast_math=True`` lets the
    passes assume finite values (see the module docstring).  Returns the optimized Graph,
    or ``(graph, PassReport)`` with ``report=True``.
    """
    with gc_paused():
        return _optimize(graph, level, passes, report, max_rounds, bool(fast_math))


def _optimize(graph, level, passes, report, max_rounds, fast_math):
    if passes is None:
        if level not in LEVELS:
            raise ValueError(f"unknown optimization level {level!r}; choose {list(LEVELS)}")
        names = LEVELS[level]
    else:
        unknown = [p for p in passes if p not in PASSES]
        if unknown:
            raise ValueError(f"unknown passes {unknown}; available: {list(PASSES)}")
        names = list(passes)
    rep = PassReport()

    def run(name, g):
        t0 = time.perf_counter()
        fn = PASSES[name][0]
        out, count = fn(g, fast_math=True) if fast_math and name in FAST_MATH else fn(g)
        rep.rows.append((name, len(g), len(out), count, time.perf_counter() - t0))
        return out, count

    i = 0
    while i < len(names):
        if names[i] in _CLEAN:  # a run of clean-up passes: repeat to a fixed point
            j = i
            while j < len(names) and names[j] in _CLEAN:
                j += 1
            for _ in range(max_rounds):
                changed = 0
                for name in names[i:j]:
                    graph, count = run(name, graph)
                    changed += count
                if not changed:
                    break
            i = j
        else:
            graph, _ = run(names[i], graph)
            i += 1
    return (graph, rep) if report else graph
