"""Generalization: rolled programs built at a few sequence lengths become one program whose
sizes, indices and loop bounds are expressions of the length (compile once, run any T).

A model is unrolled, differentiated, optimized and rolled (:mod:`.loops`) at a base length
K and at K + 1 (per length symbol), and once more at K + 2 to check.  Each rolled program
is read as a *skeleton* (ops, dtypes, which value each argument is, roles, loops) and the
list of its numbers (shapes, index keys, steps, loop bounds).  The skeletons must be equal;
each number must be an affine function of the lengths through all samples
(:func:`.dims.fit`): ``8, 9, 10`` at ``T = 8, 9, 10`` is ``T``; ``7, 8, 9`` is ``T - 1``;
``3, 3, 3`` stays ``3``.  The base program with every number replaced by its expression is
the generic program.  Anything else raises :class:`GeneralizeError` (the caller then
compiles one program per length).
"""

from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Sequence, Tuple

import numpy as np

from ..core.shapes import Sym
from .dims import Poly, fit
from .rolled import BodyOp, Item, Loop, Rolled

__all__ = ["GeneralizeError", "generalize", "skeleton"]


class GeneralizeError(Exception):
    """The programs built at different lengths do not differ by affine functions of them."""


class _Slot:
    """A placeholder for a number in a skeleton."""

    __slots__ = ()

    def __repr__(self):
        return "#"


SLOT = _Slot()


class _Walk:
    """One pass over a rolled program: numbers go through ``visit`` (recorded or replaced),
    everything else into the skeleton; ``rebuild`` makes the new program."""

    def __init__(self, visit: Callable[[int], object]):
        self.visit = visit
        self.skeleton: List[object] = []

    def num(self, v):
        self.skeleton.append(SLOT)
        return self.visit(v)

    def value(self, v):
        """An attribute value: numbers visited, structure kept (tuples walked)."""
        if isinstance(v, bool) or v is None:
            self.skeleton.append(v)
            return v
        if isinstance(v, (int, np.integer)):
            return self.num(int(v))
        if isinstance(v, Sym):
            self.skeleton.append(("Sym", v.name))
            c = self.num(v.coeff)
            return Poly.sym(v.name) * c if isinstance(c, Poly) else Sym(v.name, c)
        if isinstance(v, tuple):
            self.skeleton.append(("(", type(v).__name__, len(v)))
            return type(v)(self.value(x) for x in v) if type(v) is tuple else \
                type(v)([self.value(x) for x in v])
        self.skeleton.append(("=", v))
        return v

    def node(self, n):
        """What of a representative node must agree across samples (its op and dtype; a
        leaf's name)."""
        sig = (n.op.name, n.dtype.str)
        if not n.args:
            sig += tuple((k, v) for k, v in n.attrs if k in ("name", "value"))
        self.skeleton.append(sig)

    def ref(self, a):
        """A straight-code reference: value ids are structure, steps are numbers."""
        if a[0] in ("v", "l"):
            self.skeleton.append(a)
            return a
        self.skeleton.append(a[:2])
        if a[0] == "r":
            return ("r", a[1], self.value(a[2]))
        return ("run", a[1], self.value(a[2]), self.value(a[3]))

    def item(self, it: Item) -> Item:
        self.skeleton.append(("item", it.id))
        self.node(it.node)
        new = Item(it.id, it.node, self.value(it.tau), tuple(self.ref(a) for a in it.args),
                   self.value(it.attrs))
        new.shape = self.value(tuple(it.shape))
        self.skeleton.append(("provides", len(it.provides)))
        new.provides = [(r, self.value(s)) for r, s in it.provides]
        for r, _ in it.provides:
            self.skeleton.append(r)
        return new

    def body(self, op: BodyOp) -> BodyOp:
        self.skeleton.append(("body", op.role, op.shift))
        self.node(op.node)
        self.skeleton.append(op.args)  # body references are all structure (Δ included)
        new = BodyOp(op.role, op.node, op.args, self.value(op.attrs), op.shift)
        new.shape = self.value(tuple(op.shape))
        return new

    def rolled(self, r: Rolled) -> Rolled:
        seq = []
        for s in r.sequence:
            if isinstance(s, Item):
                seq.append(self.item(s))
            else:
                self.skeleton.append(("loop", s.id, s.direction, len(s.body)))
                first, last = self.num(s.first), self.num(s.last)
                body = [self.body(op) for op in s.body]
                seq.append(Loop(s.id, first, last, s.direction, body))
        self.skeleton.append(("roles", tuple(r.roles)))
        outputs = {}
        for k, a in r.outputs.items():
            self.skeleton.append(("out", k))
            outputs[k] = self.ref(a)
        return Rolled(r.graph, seq, list(r.roles), outputs)


def skeleton(rolled: Rolled) -> Tuple[list, List[int]]:
    """The skeleton of ``rolled`` and its numbers, in order."""
    numbers: List[int] = []

    def record(v):
        numbers.append(v)
        return v

    w = _Walk(record)
    w.rolled(rolled)
    return w.skeleton, numbers


def generalize(samples: Sequence[Rolled], points: Sequence[Mapping[str, int]],
               names: Sequence[str]) -> Rolled:
    """The program of ``samples[0]`` with every number an expression of ``names`` that
    gives the numbers of every sample at its point (``points[i]`` for ``samples[i]``)."""
    shapes = [skeleton(s) for s in samples]
    base_skel, base_nums = shapes[0]
    for skel, nums in shapes[1:]:
        if skel != base_skel or len(nums) != len(base_nums):
            raise GeneralizeError("the programs built at different lengths differ in structure"
                                  + _first_difference(base_skel, skel))
    fitted: List[object] = []
    cache: Dict[tuple, object] = {}
    for k in range(len(base_nums)):
        values = tuple(nums[k] for _, nums in shapes)
        expr = cache.get(values)
        if expr is None:
            expr = fit(values, points, names)
            if expr is None:
                raise GeneralizeError(f"a number of the program is {list(values)} at lengths "
                                      f"{[dict(p) for p in points]}: not affine in them")
            cache[values] = expr
        fitted.append(expr if not expr.is_const else expr.constant)
    it = iter(fitted)
    return _Walk(lambda v: next(it)).rolled(samples[0])


def _first_difference(a: list, b: list) -> str:
    for k, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f" (at entry {k}: {x!r} vs {y!r})"
    return f" (lengths {len(a)} and {len(b)})"
