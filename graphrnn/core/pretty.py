"""Expressions as text, the way they are written: ``tanh(h[t-1] @ W + x[t] @ U + b)``.

Each op prints by its own form (``op.printing``, see :mod:`graphrnn.core.ops.forms`);
an op without one prints as a call, ``name(args)``, and a leaf by its name."""

from __future__ import annotations

from .ir import Node, toposort
from .ops.forms import ATOM

__all__ = ["format_expr"]


def format_expr(root: Node, max_len: int = 200) -> str:
    """Infix text for the expression ``root`` (broadcasts are implicit, as in the source).

    Leaves print by name (``W``), recurrence variables as ``h[t-1]``, constants by value.
    Iterative, so deep expressions are fine; text longer than ``max_len`` is shortened.
    """
    shown = {}  # node -> (text, precedence)
    for n in toposort([root]):
        args = [shown[a] for a in n.args]
        form = n.op.printing
        out = form(n, args) if form is not None else None
        if out is None:
            out = (f"{n.op.name}({', '.join(t for t, _ in args)})" if n.args
                   else n.name or n.op.name), ATOM
        shown[n] = out
    s = shown[root][0]
    return s if len(s) <= max_len else s[: max_len - 3] + "..."
