"""Building a generic program from samples: the builder is unrolled, optimized and rolled at a
few lengths, and :mod:`.generalize` turns them into one program of symbolic length.

Each symbol at its first length and the two after it; with two symbols one more sample
moves both at once, to check that they do not interact.  The first lengths are
:data:`SPREAD` apart (``S = base``, ``T = base + 8``), so that in every sample the steps
of one symbol near its end (``S``, ``T - 1``, ``T - 2``) compare the same way with the
other's: straight code is listed in step order, and an encoder's last step equal to a
decoder's next-to-last one (or two equally long halves, alike in shape) would list it in
another order than the other samples.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Sequence

from ..core.ir import Graph, record_meta
from ..transforms.passes import optimize
from ..core.shapes import Sym
from .dims import fit
from .generalize import GeneralizeError, generalize
from .loops import roll
from .lower import lower
from .program import Compiled

__all__ = ["Sampled", "compile_sampled", "Leaf", "Signature", "length_axes", "known_leaves",
           "sample_points"]

#: how far apart the symbols' first sampled lengths are: more than the 2 each one moves
#: plus the few steps peeled at either end of a loop
SPREAD = 8


class Leaf:
    """A declared input or parameter of a generic program (what calls are checked against)."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, dtype


class Signature:
    """The leaves of a generic program, their length-dependent sizes as symbols."""

    def __init__(self, name, inputs, params):
        self.name, self.inputs, self.params = name, inputs, params


class Sampled:
    """The generic program: ``compiled`` code valid for lengths at least ``min_length``, the
    ``signature`` calls are checked against, and the optimized ``graph`` and pass
    ``report`` of its base sample."""

    def __init__(self, compiled, min_length, signature, axes, graph, report):
        self.compiled, self.min_length, self.signature = compiled, min_length, signature
        self.length_axes, self.graph, self.report = axes, graph, report


def sample_points(names: Sequence[str], base: int) -> List[Dict[str, int]]:
    """The lengths the builder is sampled at (see the module docstring)."""
    points = [{n: base + SPREAD * i for i, n in enumerate(names)}]
    for step in (1, 2):
        for n in names:
            points.append({**points[0], n: points[0][n] + step})
    if len(names) > 1:
        points.append({n: v + 1 for n, v in points[0].items()})
    return points


def compile_sampled(build: Callable[..., Graph], names: Sequence[str], level: str, backend,
                    base: int, name=None, fast_math: bool = False) -> Sampled:
    """The generic program sampled from ``base`` (RollError / GeneralizeError / PlanError
    when the samples do not roll into one program)."""
    points = sample_points(names, base)
    graphs, rolled, first = [], [], None
    for p in points:
        with record_meta() as record:  # steps as this build gives them, whatever came before
            g = build(**p)
            opt, report = optimize(g, level, report=True, fast_math=fast_math,
                                   fuses_elementwise=backend.fuses_elementwise)
        if first is None:
            first = (opt, report)
        graphs.append(g)
        rolled.append(roll(opt, record))
    generic = generalize(rolled, points, names)
    signature = signature_of(graphs, points, names)
    code = lower(generic, names)
    compiled = Compiled(code, backend, points[0], name or first[0].name)
    # valid from the largest first length on (every symbol was sampled at or below it)
    return Sampled(compiled, max(points[0].values()), signature,
                   length_axes(graphs, points, names), *first)


def signature_of(graphs: Sequence[Graph], points, names) -> Signature:
    """The leaves of the graphs as written, their length-dependent sizes as symbols."""
    base = graphs[0]
    tables = []
    for kind in ("inputs", "params"):
        table = {}
        for leaf_name, node in getattr(base, kind).items():
            shapes = [getattr(g, kind)[leaf_name].shape for g in graphs]
            dims = []
            for axis, d in enumerate(node.shape):
                if isinstance(d, Sym):
                    dims.append(d)
                    continue
                sizes = [s[axis] for s in shapes]
                expr = fit(sizes, points, names)
                if expr is None or not (expr.is_const or (len(expr.terms) == 1
                                                          and len(expr.terms[0][0]) == 1)):
                    raise GeneralizeError(f"{kind[:-1]} {leaf_name!r}: size {sizes} is not a "
                                          f"multiple of one length")
                if expr.is_const:
                    dims.append(expr.constant)
                else:
                    (sym,), coeff = expr.terms[0]
                    dims.append(Sym(sym, coeff))
            table[leaf_name] = Leaf(tuple(dims), node.dtype)
        tables.append(table)
    return Signature(base.name, *tables)


def length_axes(graphs: Sequence[Graph], points, names) -> Dict[str, Dict[int, tuple]]:
    """Per input, the axes whose size is ``coeff * length`` (read to find a call's lengths)."""
    out: Dict[str, Dict[int, tuple]] = {}
    for leaf_name, node in graphs[0].inputs.items():
        for axis, d in enumerate(node.shape):
            if isinstance(d, Sym):
                continue
            sizes = [g.inputs[leaf_name].shape[axis] if leaf_name in g.inputs else None
                     for g in graphs]
            if None in sizes:
                continue
            expr = fit(sizes, points[:len(graphs)], names)
            if expr is not None and len(expr.terms) == 1 and len(expr.terms[0][0]) == 1:
                (sym,), coeff = expr.terms[0]
                if coeff > 0:
                    out.setdefault(leaf_name, {})[axis] = (sym, coeff)
    return out


def known_leaves(build, names) -> tuple:
    """``(inputs, params, length axes)`` of a builder sampled at two lengths, for calls
    that compile one program per length; None when the builder cannot be sampled."""
    points = sample_points(names, 8)[:1 + len(names)]
    try:
        graphs = [build(**p) for p in points]
    except Exception:  # noqa: BLE001 - any failure: lengths come from the inputs' first axes
        return None
    return set(graphs[0].inputs), set(graphs[0].params), length_axes(graphs, points, names)

