"""Matrix products: ``a @ b`` with row-vector layout (``h @ W``), batched over leading axes."""

from __future__ import annotations

from ..ir import Node
from ..shapes import ShapeError, format_shape
from .forms import infix
from .registry import Op, apply, register, same_dtype
from .shape_ops import reshape, swap_last

__all__ = ["matmul"]


def _matmul_rule(a, b):
    def fail(why):
        raise ShapeError(f"matmul: cannot multiply {format_shape(a.shape)} @ "
                         f"{format_shape(b.shape)}: {why}")

    if a.ndim < 2 or b.ndim < 2:
        fail("both operands need at least 2 dimensions (reshape a vector to (1, n) or (n, 1))")
    if a.shape[-1] != b.shape[-2]:
        fail(f"inner dimensions {a.shape[-1]!r} and {b.shape[-2]!r} differ")
    if b.ndim > 2 and a.shape[:-2] != b.shape[:-2]:
        fail("batched operands need equal leading dimensions")
    return a.shape[:-1] + (b.shape[-1],), same_dtype("matmul", a, b)


def _matmul_vjp(n, g):
    a, b = n.args
    ga = matmul(g, swap_last(b))
    if b.ndim > 2 or a.ndim == 2:
        gb = matmul(swap_last(a), g)
    else:  # a (..., M, K) against a shared (K, N): one GEMM over all leading rows
        gb = matmul(swap_last(reshape(a, (-1, a.shape[-1]))), reshape(g, (-1, g.shape[-1])))
    return ga, gb


def _matmul_numpy(e) -> str:
    """``np.matmul`` into the output; ``(..., M, K) @ (K, N)`` as one GEMM over all
    leading rows (both sides viewed as matrices)."""
    a, b = e.arg_shape(0), e.arg_shape(1)
    if len(a) > 2 and len(b) == 2:
        flat = e.flat(e.out, (-1, e.shape[-1]))
        return (f"np.matmul({e.args[0]}.reshape({e.sh((-1, a[-1]))}), {e.args[1]}, "
                f"out={flat}); {e.v} = {e.out}")
    return f"{e.v} = np.matmul({e.args[0]}, {e.args[1]}, out={e.out})"


register(Op("matmul", _matmul_rule, lambda xp, a, b: xp.matmul(a, b), _matmul_vjp,
            doc="matrix product over the last two axes", numpy=_matmul_numpy,
            printing=infix("@", 3)))


def matmul(a: Node, b: Node) -> Node:
    """``a @ b``: ``(..., M, K) @ (K, N)`` or batched ``(..., M, K) @ (..., K, N)``."""
    return apply("matmul", a, b)
