"""The machinery passes share: bottom-up rebuilding with a rule, and small node predicates."""

from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from ...core.ir import Graph, Node, meta_of
from ...core.ops.registry import Frozen, O
from ...core.shapes import ShapeError

__all__ = ["rewrite", "rewrite_groups", "plan_group", "constant_value", "is_zero", "is_one",
           "zero_sign", "rebuild", "same_meta"]


def rebuild(n: Node, args: Tuple[Node, ...]) -> Node:
    """``n`` with new arguments of the same shapes (metadata carried over)."""
    if args == n.args:
        return n
    return same_meta(Node(n.op, args, n.attrs, n.shape, n.dtype), n)


def same_meta(new: Node, old: Node) -> Node:
    """Give ``new`` the metadata of ``old`` where it has none."""
    return new.tag(**meta_of(old))


def rewrite(graph: Graph, rule: Callable[[Node], Optional[Node]], name: str = "") -> Tuple[Graph, int]:
    """Rebuild ``graph`` bottom-up; ``rule(node)`` (args already rewritten) returns a
    replacement of the same shape and dtype, or None.  Returns the new graph and the number
    of replacements."""
    new: Dict[Node, Node] = {}
    count = 0
    for n in graph.nodes:
        m = rebuild(n, tuple([new[a] for a in n.args])) if n.args else n
        r = rule(m)
        if r is not None and r is not m:
            if r.shape != m.shape or r.dtype != m.dtype:
                raise ShapeError(f"pass {name}: rewrote {m.label()} into {r.label()}")
            m = same_meta(r, m)
            count += 1
        new[n] = m
    if not count:  # no replacement: every node rebuilt as itself, the graph stands
        return graph, 0
    return Graph({k: new[v] for k, v in graph.outputs.items()}, name=graph.name), count


_VIEWS = frozenset([O.broadcast_to, O.reshape, O.transpose])
_CONST, _FILL = O.const, O.fill


def _leaf_value(n: Node):
    """The value of a const or fill node as an array (a fill's as a scalar), else None."""
    op = n.op
    if op is _CONST:
        v = n.attr("value")
        return v.array if isinstance(v, Frozen) else np.asarray(v, dtype=n.dtype)
    if op is _FILL:
        return np.asarray(n.attr("value"), dtype=n.dtype)
    return None


def constant_value(n: Node):
    """The value of ``n`` as a NumPy array when it is a known constant (any shape), else None.

    A fill of symbolic shape is known as a scalar (it broadcasts); so is a scalar constant
    seen through broadcasts, reshapes and transposes (followed iteratively)."""
    if n.op not in _VIEWS:
        return _leaf_value(n)
    while n.op in _VIEWS and n.args:
        n = n.args[0]
    v = _leaf_value(n)
    return None if v is None or v.ndim else v


def _elements(n: Node):
    """The known elements of ``n`` or None: a constant seen through broadcasts, reshapes and
    transposes, which move and repeat elements but make none (``x * 1`` stays visible when
    the ones were folded into a small array, then broadcast).  A scalar constant or a fill
    comes back as a NumPy scalar of its dtype, an array constant as its array."""
    while n.op in _VIEWS and n.args:
        n = n.args[0]
    op = n.op
    if op is _CONST:
        v = n.attr("value")
        if isinstance(v, Frozen):
            return v.array
    elif op is _FILL:
        v = n.attr("value")
    else:
        return None
    return n.dtype.type(v)  # the value the node holds (1e-50 is 0 in float32)


def _all_equal(n: Node, x: float) -> bool:
    v = _elements(n)
    if v is None:
        return False
    if isinstance(v, np.ndarray):
        return v.size > 0 and bool(np.all(v == x))
    return bool(v == x)


def is_zero(n: Node) -> bool:
    """True when every element of ``n`` is known to be 0."""
    return _all_equal(n, 0.0)


def is_one(n: Node) -> bool:
    """True when every element of ``n`` is known to be 1."""
    return _all_equal(n, 1.0)


def zero_sign(n: Node):
    """``0.0`` or ``-0.0`` when every element of ``n`` is known to be that zero (integer
    zeros count as ``0.0``), else None: IEEE rewrites must tell them apart (``x + 0.0`` turns
    ``-0.0`` into ``0.0``; ``x + -0.0`` is ``x`` for every ``x``)."""
    v = _elements(n)
    if v is None:
        return None
    if not isinstance(v, np.ndarray):  # a scalar: no NumPy reductions
        if v != 0:
            return None
        if v.dtype.kind != "f":
            return 0.0
        return -0.0 if math.copysign(1.0, float(v)) < 0 else 0.0
    if v.size == 0 or not bool(np.all(v == 0)):
        return None
    if v.dtype.kind != "f":
        return 0.0
    negative = np.signbit(v)
    if negative.all():
        return -0.0
    return 0.0 if not negative.any() else None


def plan_group(needs: Dict[Node, list], build: Dict[Node, Callable], members: List[Node],
               operands: List[Node], make_product: Callable[[Callable[[Node], Node]], Node],
               piece: Callable[[Node, int], Node]) -> None:
    """Plan replacing ``members`` by pieces of one product, for :func:`rewrite_groups`.

    The product is built once, by ``make_product(new_of)`` from the rewritten ``operands``;
    member ``i`` becomes ``piece(product, i)``.  Only the first member waits on every
    operand and the others wait on it, so planning stays linear in the group's size.
    """
    cache: Dict[str, Node] = {}

    def product(new_of):
        if "p" not in cache:
            cache["p"] = make_product(new_of)
        return cache["p"]

    for i, m in enumerate(members):
        needs[m] = list(operands) if i == 0 else [members[0]]
        build[m] = lambda new_of, i=i: piece(product(new_of), i)


def rewrite_groups(graph: Graph, needs: Dict[Node, list],
                   build: Dict[Node, Callable[[Callable[[Node], Node]], Node]],
                   name: str = "") -> Graph:
    """Replace planned nodes whose replacement reads other old nodes (a fused group).

    ``needs[old]`` lists the old nodes the replacement of ``old`` reads besides its own
    arguments; ``build[old](new_of)`` makes the replacement, with ``new_of(x)`` the
    rewritten version of an old node ``x``.  Nodes are rewritten in an order where every
    need comes first (iterative post-order), so the groups must not depend on themselves.
    """
    new: Dict[Node, Node] = {}

    def prereqs(n: Node):
        return list(n.args) + list(needs.get(n, ()))

    for root in list(graph.outputs.values()):
        stack = [(root, 0, prereqs(root))]
        while stack:
            n, i, reqs = stack[-1]
            if n in new:
                stack.pop()
                continue
            while i < len(reqs) and reqs[i] in new:
                i += 1
            if i < len(reqs):
                stack[-1] = (n, i + 1, reqs)
                stack.append((reqs[i], 0, prereqs(reqs[i])))
                continue
            stack.pop()
            if n in build:
                r = build[n](new.__getitem__)
                if r.shape != n.shape or r.dtype != n.dtype:
                    raise ShapeError(f"pass {name}: rewrote {n.label()} into {r.label()}")
                new[n] = same_meta(r, n)
            else:
                new[n] = rebuild(n, tuple(new[a] for a in n.args))
    return Graph({k: new[v] for k, v in graph.outputs.items()}, name=graph.name)
