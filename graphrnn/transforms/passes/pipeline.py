"""The ordered pass registry, the rule phases and the named optimization levels.

Two kinds of pass share one registry: rule phases (:class:`~.phases.Phase`: named rewrite
rules, data, run bottom-up to a fixed point) and global passes (functions that look at the
whole graph: time batching of matmuls and of elementwise work, gate fusion, hoisting, stack
views, CSE).  A level is a fixed order of them; the report counts what each pass did and,
for a rule phase, each rule.

Every pass keeps IEEE semantics: NaN stays NaN, infinities stay infinite, and the clean-up
passes (all of O1) give the same bits as the graph as written, the sign of zero included.
O2's fusions regroup sums of the same terms (one GEMM over all steps instead of a sum of T
products) and ``batch_elementwise`` regroups products (``(r * a) * b`` as ``r * (a * b)``),
which may change rounding (and whether an intermediate product overflows), and
``stabilize`` replaces forms that underflow by their stable ops.  ``fast_math=True`` adds
rewrites exact for finite values only (``x*0 -> 0``, products with a zero state dropped,
``(a + b) @ W`` for ``a @ W + b @ W``): the rules flagged ``fast_math`` and the fast
variants of the fusions."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Dict, List, Mapping, NamedTuple, Tuple

from ...core.ir import Graph, gc_paused
from .batch_elementwise import batch_elementwise
from .batch_time import batch_time
from .constant_fold import FOLD
from .cse import cse
from .gate_fusion import gate_fusion
from .hoist import hoist_invariants
from .phases import Phase
from .shape_rules import SHAPES
from .simplify import ALGEBRA
from .slice_fusion import slice_fusion
from .stabilize import STABILIZE
from .stack_views import stack_views
from .sum_rules import SUM_OF_PRODUCTS, WEIGHT_GRADIENTS

__all__ = ["PASSES", "LEVELS", "PHASES", "optimize", "PassReport", "PassRun", "CALL_BOUND"]

#: IEEE-exact algebra, shape rules and constant folding, to a fixed point together.
CANONICALIZE = Phase("canonicalize", ALGEBRA + SHAPES + FOLD,
                     "IEEE-exact identities, zero initial states, stack/slice/scatter views, "
                     "constants folded")

#: name -> rule phase, in pipeline order.
PHASES: Dict[str, Phase] = {"stabilize": STABILIZE, "canonicalize": CANONICALIZE,
                            "weight_gradients": WEIGHT_GRADIENTS,
                            "sum_of_products": SUM_OF_PRODUCTS}

#: name -> (pass, one-line description); the registry, in pipeline order.
PASSES: Dict[str, Tuple[Callable[[Graph], Tuple[Graph, int]], str]] = {
    "stabilize": (STABILIZE, STABILIZE.doc),
    "canonicalize": (CANONICALIZE, CANONICALIZE.doc),
    "cse": (cse, "commutative twins (b + a next to a + b) merged; hash-consing does the rest"),
    "weight_gradients": (WEIGHT_GRADIENTS, WEIGHT_GRADIENTS.doc),
    "gate_fusion": (gate_fusion, "matmuls sharing a left operand -> one matmul"),
    "batch_time": (batch_time, "independent matmuls sharing a weight -> one GEMM over steps"),
    "sum_of_products": (SUM_OF_PRODUCTS, SUM_OF_PRODUCTS.doc),
    "hoist_invariants": (hoist_invariants, "step-invariant terms (biases) added once to batched GEMMs"),
    "batch_elementwise": (batch_elementwise, "independent elementwise nodes of different steps "
                          "-> one op over the stacked steps"),
    "slice_fusion": (slice_fusion, "one elementwise call over slices of one value (gates)"),
    "stack_views": (stack_views, "concats (and stacks) of stacked steps as views; their sums "
                                 "as one reduction"),
}

_CLEAN = ["canonicalize", "cse"]
#: O2's stages, in their fixed order
_O2 = (["stabilize"]                                  # stable forms of log(probability)
       + _CLEAN                                        # canonicalize (and CSE)
       + ["weight_gradients", "gate_fusion"]           # fuse: weight gradients, gates
       + ["batch_time", "sum_of_products", "gate_fusion", "hoist_invariants"]  # batch over time
       + ["batch_elementwise"]                         # elementwise work over steps
       + ["slice_fusion"]                              # one call over the gates' slices
       + ["stack_views"]                               # stacked steps as views
       + _CLEAN)                                       # canonicalize what the fusions built
#: level -> the passes it runs, in order
LEVELS: Dict[str, List[str]] = {"O0": [], "O1": _CLEAN, "O2": _O2}


class PassRun(NamedTuple):
    """One pass run: nodes before and after, rewrites, seconds, and for a rule phase the
    count of each rule that fired (``rules``) and of nodes where rewriting hit the bound."""
    name: str
    before: int
    after: int
    rewrites: int
    secs: float
    rules: Mapping[str, int] = MappingProxyType({})
    capped: int = 0


@dataclass
class PassReport:
    """What the pipeline did: one :class:`PassRun` per pass run, in order; ``rules`` totals
    the rule counts of every phase run, by rule name.  A compiled program's report also
    lists its ``loops``: per loop of the generated code, its direction in time and the
    array-library calls one iteration (one time step) makes."""
    rows: List[PassRun] = field(default_factory=list)
    loops: List[tuple] = field(default_factory=list)

    def __str__(self):
        lines = [f"{'pass':<16} {'nodes before':>12} {'after':>8} {'rewrites':>9} {'ms':>8}"]
        for r in self.rows:
            lines.append(f"{r.name:<16} {r.before:>12} {r.after:>8} {r.rewrites:>9} "
                         f"{r.secs * 1e3:>8.1f}")
            for rule, count in sorted(r.rules.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"  {rule:<36} {count:>9}")
            if r.capped:
                lines.append(f"  (rewriting stopped at the bound at {r.capped} nodes)")
        for k, loop in enumerate(self.loops):
            lines.append(f"loop {k + 1} ({loop.direction}, range({loop.range})): "
                         f"{loop.calls} calls per step")
        return "\n".join(lines)

    @property
    def calls_per_step(self) -> List[int]:
        """Array-library calls per iteration of each loop of the compiled program."""
        return [loop.calls for loop in self.loops]

    @property
    def rules(self) -> Dict[str, int]:
        """How often each rule fired over all phase runs, by rule name."""
        total: Counter = Counter()
        for r in self.rows:
            total.update(r.rules)
        return dict(total)

    @property
    def total_seconds(self) -> float:
        """The time all passes took."""
        return sum(r.secs for r in self.rows)


#: passes that only pay where every op is a call of its own (NumPy): a backend fusing each
#: step's elementwise work into one kernel skips them (batching factors over steps adds
#: launches and memory there, and a cover of the gates' slices has another shape than the
#: rest of the cell, which would split the cell's one kernel)
CALL_BOUND = ("batch_elementwise", "slice_fusion")


def optimize(graph: Graph, level: str = "O2", passes: List[str] = None, report: bool = False,
             max_rounds: int = 1, fast_math: bool = False, fused_kernels: bool = False):
    """Run the passes of ``level`` (or the named ``passes``) on ``graph``.

    Rule phases run bottom-up to a fixed point (a replacement is simplified again at once);
    ``max_rounds`` > 1 repeats each run of clean-up passes (canonicalize, CSE) while
    anything changes, for what CSE's merges open up.  ``fast_math=True`` lets the
    passes assume finite values (see the module docstring); ``fused_kernels=True`` (a
    backend compiling elementwise kernels) leaves out the level's :data:`CALL_BOUND`
    passes.  Returns the optimized Graph, or ``(graph, PassReport)`` with ``report=True``.
    """
    with gc_paused():
        return _optimize(graph, level, passes, report, max_rounds, bool(fast_math),
                         fused_kernels)


def _optimize(graph, level, passes, report, max_rounds, fast_math, fused_kernels):
    if passes is None:
        if level not in LEVELS:
            raise ValueError(f"unknown optimization level {level!r}; choose {list(LEVELS)}")
        names = [n for n in LEVELS[level] if not (fused_kernels and n in CALL_BOUND)]
    else:
        unknown = [p for p in passes if p not in PASSES]
        if unknown:
            raise ValueError(f"unknown passes {unknown}; available: {list(PASSES)}")
        names = list(passes)
    rep = PassReport()

    def run(name, g):
        t0 = time.perf_counter()
        fn = PASSES[name][0]
        if isinstance(fn, Phase):
            out, rules = fn.run(g, fast_math=fast_math)
            count, capped = sum(rules.values()), rules.capped
        else:
            out, count = fn(g)
            rules, capped = {}, 0
        rep.rows.append(PassRun(name, len(g), len(out), count, time.perf_counter() - t0,
                                dict(rules), capped))
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
