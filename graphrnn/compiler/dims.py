"""Symbolic sizes and indices of generic programs: integer polynomials over named symbols.

A graph's shapes are concrete except for the batch ``B`` (a :class:`~graphrnn.core.shapes.Sym`).
A program generic in the sequence length also has sizes such as ``T``, ``T - 1``, ``T*B``
or ``(T - 1)*B``, indices such as ``x[t - 1]`` (``t`` the loop variable) and loop bounds
such as ``range(2, T)``.  :class:`Poly` is one such expression: a sum of integer multiples
of products of symbols.  It evaluates under bindings, renders as Python, and is what
:func:`fit` returns when it finds how a number depends on the sequence lengths.
"""

from __future__ import annotations

from typing import Dict, Iterable, Mapping, Sequence, Tuple, Union

from ..core.shapes import Sym

__all__ = ["Poly", "as_poly", "evaluate", "fit", "render", "dim_of"]

Monomial = Tuple[str, ...]


class Poly:
    """``sum(coeff * product(symbols))``: ``Poly.sym("T") - 1``, ``Poly.sym("T") * B``."""

    __slots__ = ("terms", "_hash")

    def __init__(self, terms: Mapping[Monomial, int] = ()):
        items = dict(terms)
        self.terms: Tuple[Tuple[Monomial, int], ...] = tuple(sorted(
            (tuple(sorted(m)), int(c)) for m, c in items.items() if c))
        self._hash = hash(self.terms)

    @staticmethod
    def sym(name: str, coeff: int = 1) -> "Poly":
        return Poly({(name,): coeff})

    @staticmethod
    def const(value: int) -> "Poly":
        return Poly({(): int(value)})

    # -------------------------------------------------------------- algebra
    def __add__(self, other):
        other = as_poly(other)
        acc: Dict[Monomial, int] = dict(self.terms)
        for m, c in other.terms:
            acc[m] = acc.get(m, 0) + c
        return Poly(acc)

    __radd__ = __add__

    def __neg__(self):
        return Poly({m: -c for m, c in self.terms})

    def __sub__(self, other):
        return self + (-as_poly(other))

    def __rsub__(self, other):
        return as_poly(other) - self

    def __mul__(self, other):
        other = as_poly(other)
        acc: Dict[Monomial, int] = {}
        for m1, c1 in self.terms:
            for m2, c2 in other.terms:
                m = tuple(sorted(m1 + m2))
                acc[m] = acc.get(m, 0) + c1 * c2
        return Poly(acc)

    __rmul__ = __mul__

    def __eq__(self, other):
        if isinstance(other, (int, Sym, Poly)):
            return self.terms == as_poly(other).terms
        return NotImplemented

    def __hash__(self):
        return self._hash

    # -------------------------------------------------------------- queries
    @property
    def symbols(self) -> set:
        return {s for m, _ in self.terms for s in m}

    @property
    def is_const(self) -> bool:
        return all(not m for m, _ in self.terms)

    @property
    def constant(self) -> int:
        return dict(self.terms).get((), 0)

    def coeff(self, monomial: Monomial) -> int:
        return dict(self.terms).get(tuple(sorted(monomial)), 0)

    def __call__(self, env: Mapping[str, int]) -> int:
        """The value under ``env`` (symbol -> int)."""
        total = 0
        for m, c in self.terms:
            v = c
            for s in m:
                v *= env[s]
            total += v
        return total

    def subs(self, env: Mapping[str, "Poly"]) -> "Poly":
        """Symbols replaced by expressions (``{"t": t0 + 1}``)."""
        out = Poly()
        for m, c in self.terms:
            v = Poly.const(c)
            for s in m:
                v = v * (as_poly(env[s]) if s in env else Poly.sym(s))
            out = out + v
        return out

    def __repr__(self):
        return render(self)


def as_poly(value) -> Poly:
    """``value`` (an int, a :class:`Sym` such as ``3*B``, or a Poly) as a Poly."""
    if isinstance(value, Poly):
        return value
    if isinstance(value, Sym):
        return Poly.sym(value.name, value.coeff)
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"not a size: {value!r}")
    return Poly.const(int(value))


def dim_of(value: Poly):
    """The plainest form of a size: an int when constant, a Sym when ``k*name``."""
    if value.is_const:
        return value.constant
    if len(value.terms) == 1 and len(value.terms[0][0]) == 1 and value.terms[0][1] > 0:
        (name,), coeff = value.terms[0]
        return Sym(name, coeff)
    return value


def evaluate(value, env: Mapping[str, int]) -> int:
    """An int, Sym or Poly evaluated under ``env``."""
    if isinstance(value, Poly):
        return value(env)
    if isinstance(value, Sym):
        return value.coeff * env[value.name]
    return int(value)


def render(value) -> str:
    """Python text for an int, Sym or Poly (``T - 1``, ``2*T*B``)."""
    p = as_poly(value)
    if not p.terms:
        return "0"
    parts = []
    for m, c in sorted(p.terms, key=lambda mc: (-len(mc[0]), mc[0])):
        if not m:
            body = str(abs(c))
        else:
            body = "*".join(m) if abs(c) == 1 else f"{abs(c)}*" + "*".join(m)
        parts.append(("-" if c < 0 else "+", body))
    text = ("-" if parts[0][0] == "-" else "") + parts[0][1]
    for sign, body in parts[1:]:
        text += f" {sign} {body}"
    return text


def fit(values: Sequence[int], points: Sequence[Mapping[str, int]],
        names: Iterable[str]) -> Union[Poly, None]:
    """The affine expression ``c0 + sum_i c_i * name_i`` through ``(point, value)`` pairs, or
    None when no such expression gives every value.

    ``points[0]`` is the base; for each name one of the other points must differ from it in
    that name alone (the slope is read there); every point is then checked."""
    names = list(names)
    base, v0 = points[0], values[0]
    expr = Poly.const(v0)
    for name in names:
        for p, v in zip(points[1:], values[1:]):
            step = p[name] - base[name]
            if step and all(p[o] == base[o] for o in names if o != name):
                slope, rem = divmod(v - v0, step)
                if rem:
                    return None
                expr = expr + Poly.sym(name, slope) - slope * base[name]
                break
        else:
            raise ValueError(f"fit: no sample differs from the base in {name!r} alone")
    if any(expr(p) != v for p, v in zip(points, values)):
        return None
    return expr
