"""Shapes with an optional symbolic batch axis.

A dimension is either a concrete ``int`` or a :class:`Sym`, a symbolic size
``coeff * name`` that is unknown until call time (``B``, or ``T*B`` after
time steps are flattened into the batch).  Everything else is concrete.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Tuple, Union

__all__ = ["Sym", "Dim", "Shape", "B", "as_shape", "format_shape", "resolve", "bind",
           "is_concrete", "size_of", "ShapeError"]


class ShapeError(ValueError):
    """A shape or dtype rule was violated; the message names the op and the shapes."""


class Sym:
    """A symbolic dimension ``coeff * name`` (e.g. ``B`` or ``5*B``)."""

    __slots__ = ("name", "coeff")

    def __init__(self, name: str, coeff: int = 1):
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"symbolic dimension name must be an identifier, got {name!r}")
        if not isinstance(coeff, int) or coeff < 1:
            raise ValueError(f"symbolic dimension coefficient must be a positive int, got {coeff!r}")
        self.name, self.coeff = name, coeff

    def __mul__(self, k):
        if isinstance(k, int) and not isinstance(k, bool) and k >= 1:
            return Sym(self.name, self.coeff * k)
        return NotImplemented

    __rmul__ = __mul__

    def __eq__(self, other):
        return isinstance(other, Sym) and self.name == other.name and self.coeff == other.coeff

    def __hash__(self):
        return hash(("Sym", self.name, self.coeff))

    def __repr__(self):
        return self.name if self.coeff == 1 else f"{self.coeff}*{self.name}"


Dim = Union[int, Sym]
Shape = Tuple[Dim, ...]

#: The conventional symbolic batch dimension.
B = Sym("B")


def as_shape(shape) -> Shape:
    """Normalize ``shape`` (an int, a tuple of ints / Syms / names) to a tuple of dims."""
    if isinstance(shape, (int, Sym, str)) and not isinstance(shape, bool):
        shape = (shape,)
    out = []
    for d in shape:
        if isinstance(d, str):
            d = Sym(d)
        elif isinstance(d, bool) or not isinstance(d, (int, Sym)):
            try:
                d = int(d)  # numpy integers
            except (TypeError, ValueError):
                raise ShapeError(f"bad dimension {d!r} in shape {tuple(shape)!r}") from None
        if isinstance(d, int) and d < 0:
            raise ShapeError(f"negative dimension {d} in shape {tuple(shape)!r}")
        out.append(d)
    return tuple(out)


def format_shape(shape: Shape) -> str:
    """``(B, 3)`` style text for a shape."""
    return "(" + ", ".join(repr(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def is_concrete(shape: Shape) -> bool:
    """True when no dimension is symbolic."""
    return all(isinstance(d, int) for d in shape)


def size_of(shape: Shape):
    """``(concrete product, {symbol: count})`` describing the number of elements."""
    prod, syms = 1, {}
    for d in shape:
        if isinstance(d, Sym):
            prod *= d.coeff
            syms[d.name] = syms.get(d.name, 0) + 1
        else:
            prod *= d
    return prod, syms


def resolve(shape: Shape, env: Mapping[str, int]) -> Tuple[int, ...]:
    """Concrete shape of ``shape`` under the bindings ``env`` (symbol name -> size)."""
    out = []
    for d in shape:
        if isinstance(d, Sym):
            try:
                out.append(d.coeff * env[d.name])
            except KeyError:
                raise ShapeError(f"symbolic dimension {d.name} is not bound; "
                                 f"pass it with dims={{'{d.name}': n}}") from None
        else:
            out.append(d)
    return tuple(out)


def bind(declared: Shape, actual: Iterable[int], env: dict, what: str) -> None:
    """Match a concrete ``actual`` shape against ``declared``, adding symbol sizes to ``env``.

    Raises :class:`ShapeError` naming ``what`` and both shapes on any mismatch.
    """
    actual = tuple(int(a) for a in actual)

    def fail(detail):
        raise ShapeError(f"{what}: expected shape {format_shape(declared)}, got "
                         f"{format_shape(actual)}: {detail}")

    if len(actual) != len(declared):
        fail(f"expected {len(declared)} dimensions, got {len(actual)}")
    for axis, (d, a) in enumerate(zip(declared, actual)):
        if isinstance(d, int):
            if d != a:
                fail(f"dimension {axis} is {a}, expected {d}")
            continue
        if a % d.coeff:
            fail(f"dimension {axis} is {a}, not a multiple of {d.coeff} for {d!r}")
        size = a // d.coeff
        have = env.get(d.name)
        if have is None:
            env[d.name] = size
        elif have != size:
            fail(f"dimension {axis} gives {d.name}={size}, but {d.name}={have} "
                 f"was already bound (by dims= or an earlier input)")
