"""Expressions as text, the way they are written: ``tanh(h[t-1] @ W + x[t] @ U + b)``."""

from __future__ import annotations

from .ir import Node, toposort

__all__ = ["format_expr"]

_INFIX = {"add": (" + ", 1), "sub": (" - ", 1), "mul": (" * ", 2), "div": (" / ", 2),
          "matmul": (" @ ", 3)}
_TRANSPARENT = {"broadcast_to"}


def format_expr(root: Node, max_len: int = 200) -> str:
    """Infix text for the expression ``root`` (broadcasts are implicit, as in the source).

    Leaves print by name (``W``), recurrence variables as ``h[t-1]``, constants by value.
    Iterative, so deep expressions are fine; text longer than ``max_len`` is shortened.
    """
    text = {}
    prec = {}
    for n in toposort([root]):
        op = n.op.name
        if not n.args:
            if op in ("input", "param"):
                s = n.attr("name")
            elif op == "const":
                v = n.attr("value")
                s = repr(v) if not hasattr(v, "summary") else v.summary()
            elif op == "fill":
                s = f"full({n.attr('value')!r})"
            else:
                s = n.name or op
            text[n], prec[n] = s, 9
            continue
        args = [text[a] for a in n.args]
        if op in _TRANSPARENT:
            text[n], prec[n] = args[0], prec[n.args[0]]
            continue
        if op == "add_n":
            text[n], prec[n] = " + ".join(args), 1
            continue
        if op in _INFIX:
            sym, p = _INFIX[op]
            left = args[0] if prec[n.args[0]] >= p else f"({args[0]})"
            # right operand: same precedence needs brackets for the non-associative ops
            rp = prec[n.args[1]]
            right = args[1] if rp > p or (rp == p and op in ("add", "mul")) else f"({args[1]})"
            text[n], prec[n] = f"{left}{sym}{right}", p
        elif op == "neg":
            a = args[0] if prec[n.args[0]] >= 4 else f"({args[0]})"
            text[n], prec[n] = f"-{a}", 4
        elif op == "index":
            a = args[0] if prec[n.args[0]] >= 9 else f"({args[0]})"
            text[n], prec[n] = f"{a}{n.attr('key')!r}", 9
        elif op == "transpose" and n.attr("axes")[:-2] == tuple(range(n.ndim - 2)) \
                and n.attr("axes")[-2:] == (n.ndim - 1, n.ndim - 2):
            a = args[0] if prec[n.args[0]] >= 9 else f"({args[0]})"
            text[n], prec[n] = f"{a}.T", 9
        elif op == "pow":
            a = args[0] if prec[n.args[0]] >= 9 else f"({args[0]})"
            text[n], prec[n] = f"{a} ** {n.attr('exponent'):g}", 5
        else:
            text[n], prec[n] = f"{op}({', '.join(args)})", 9
    s = text[root]
    return s if len(s) <= max_len else s[: max_len - 3] + "..."
