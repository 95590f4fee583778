"""Pieces the ops' tables are written with: printing forms and in-place ufunc sequences.

A printing form is ``printing(node, args) -> (text, precedence)`` where ``args`` are the
arguments' ``(text, precedence)`` (see :func:`graphrnn.core.pretty.format_expr`).
Precedences: 1 sums, 2 products, 3 ``@``, 4 unary minus, 5 powers, :data:`ATOM` names,
calls and subscripts.

An in-place ufunc sequence is a tuple of ``(ufunc name, *arguments)`` calls that all write
one array: :func:`run_ufuncs` runs it (an op's kernel) and :func:`ufunc_text` writes it as
compiled NumPy code (the op's emission), so both interpretations make the same calls and
give the same bits.
"""

from __future__ import annotations

__all__ = ["ATOM", "atom", "infix", "nary", "prefix", "transparent", "leaf_name",
           "run_ufuncs", "ufunc_text"]

#: the precedence of names, calls and subscripts (never parenthesized)
ATOM = 9


def atom(arg, prec: int = ATOM) -> str:
    """An argument's text, parenthesized when it binds less tightly than ``prec``."""
    text, p = arg
    return text if p >= prec else f"({text})"


def infix(symbol: str, prec: int, associative: bool = False):
    """The form ``a <symbol> b``; a right operand of the same precedence is parenthesized
    unless the operator is associative (``a - (b - c)`` but ``a + b + c``)."""
    def form(node, args):
        (left, right) = args
        r = right[0] if right[1] > prec or (right[1] == prec and associative) \
            else f"({right[0]})"
        return f"{atom(left, prec)} {symbol} {r}", prec
    return form


def nary(symbol: str, prec: int):
    """The form ``a <symbol> b <symbol> c`` of an n-ary operator."""
    return lambda node, args: (f" {symbol} ".join(t for t, _ in args), prec)


def prefix(symbol: str, prec: int):
    """The form ``<symbol>a``."""
    return lambda node, args: (f"{symbol}{atom(args[0], prec)}", prec)


def transparent(node, args):
    """Printed as its argument (an implicit broadcast)."""
    return args[0]


def leaf_name(node, args):
    """A named leaf, by its name."""
    return node.attr("name"), ATOM


def run_ufuncs(xp, calls, out):
    """Run ``calls`` (``(ufunc name, *arguments)``), each with ``out=out``; returns ``out``."""
    for f, *args in calls:
        getattr(xp, f)(*args, out=out)
    return out


def ufunc_text(calls, v: str, out: str) -> str:
    """``calls`` as compiled code: the first writes ``out`` and names it ``v``, the others
    write ``v``; arguments are texts (values of the program) or numbers (written by repr)."""
    parts = []
    for k, (f, *args) in enumerate(calls):
        shown = ", ".join(a if isinstance(a, str) else repr(a) for a in args)
        parts.append(f"{v} = np.{f}({shown}, out={out})" if k == 0
                     else f"np.{f}({shown}, out={v})")
    return "; ".join(parts)
