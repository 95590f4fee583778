"""Reverse-mode differentiation as a graph-to-graph transform (backpropagation, BPTT).

Walking the forward graph in reverse topological order, each node's adjoint is the
sum of the contributions it received, one ``add_n`` node for all of them (so a
parameter shared over T steps gets one T-term sum that passes can see whole), and
the op's VJP turns it into contributions for its arguments.  The result is made
of ordinary nodes: it can be evaluated, optimized, rendered and differentiated again.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Union

from ..core import ops as F
from ..core.ir import Graph, Node, gc_paused, meta_of, pop_meta, push_meta, toposort
from ..core.shapes import ShapeError, format_shape

__all__ = ["grad", "vjp", "grad_graph", "adjoints"]


def _depends_on(order: List[Node], targets) -> set:
    """The nodes of ``order`` (topological) that depend on any of ``targets``."""
    live = set(targets)
    for n in order:
        if n not in live and any(a in live for a in n.args):
            live.add(n)
    return live


def adjoints(outputs: Sequence[Node], cotangents: Sequence[Node],
             wrt: Optional[Sequence[Node]] = None) -> Dict[Node, Node]:
    """The adjoint node of every forward node on a path from ``wrt`` to ``outputs``.

    ``adjoint[n]`` is ``sum_k cotangent_k . d output_k / d n``, one ``add_n`` over all of
    ``n``'s contributions.  ``wrt=None`` keeps every node the outputs depend on (for
    inspecting gradient flow); otherwise only paths from ``wrt`` are differentiated.
    """
    with gc_paused():
        return _adjoints(list(outputs), list(cotangents), wrt)


def _adjoints(outputs, cotangents, wrt):
    for y, c in zip(outputs, cotangents):
        if c.shape != y.shape or c.dtype != y.dtype:
            raise ShapeError(f"vjp: cotangent {c.label()} does not match output {y.label()}")
    order = toposort(outputs)
    live = set(order) if wrt is None else _depends_on(order, wrt)
    pending: Dict[Node, List[Node]] = {}
    for y, c in zip(outputs, cotangents):
        pending.setdefault(y, []).append(c)
    adjoint: Dict[Node, Node] = {}
    for n in reversed(order):
        terms = pending.pop(n, None)
        if terms is None or n not in live:
            continue
        push_meta({"step": meta_of(n)["step"], "origin": "adjoint"})
        try:
            g = F.add_n(terms)
            adjoint[n] = g
            if not n.args or n.op.vjp is None:
                continue  # leaves, and integer/bool valued ops: nothing flows further
            grads = n.op.vjp(n, g)
        finally:
            pop_meta()
        for a, ga in zip(n.args, grads):
            if ga is None or a not in live:
                continue
            if ga.shape != a.shape:
                raise ShapeError(f"internal: vjp of {n.op.name} gave {format_shape(ga.shape)} "
                                 f"for an argument of shape {format_shape(a.shape)}")
            pending.setdefault(a, []).append(ga)
    return adjoint


def vjp(outputs: Sequence[Node], cotangents: Sequence[Node], wrt: Sequence[Node]) -> List[Node]:
    """Vector-Jacobian products: ``sum_k cotangent_k . d output_k / d w`` for each ``w`` in ``wrt``.

    A ``w`` that no output depends on gets zeros of its shape.
    """
    wrt = list(wrt)
    adjoint = adjoints(outputs, cotangents, wrt)
    return [adjoint.get(w) or F.zeros_like(w) for w in wrt]


def grad(output: Node, wrt: Union[Node, Sequence[Node]]):
    """Gradient(s) of a scalar ``output`` node with respect to ``wrt`` (a node or a list)."""
    if output.shape != ():
        raise ShapeError(f"grad: the output must be a scalar, got {output.label()}; "
                         f"reduce it first (e.g. .sum()) or use vjp() with a cotangent")
    if output.dtype.kind != "f":
        raise ShapeError(f"grad: the output must be floating point, got {output.label()}")
    single = isinstance(wrt, Node)
    result = vjp([output], [F.ones_like(output)], [wrt] if single else list(wrt))
    return result[0] if single else result


def grad_graph(graph: Graph, wrt: Optional[Sequence[Union[str, Node]]] = None,
               loss: Optional[str] = None) -> Graph:
    """A new Graph computing ``graph``'s outputs and ``d loss / d w`` for each ``w``.

    ``loss`` names a scalar output (default: the only output, or the one called ``loss``);
    ``wrt`` lists parameter / input names or nodes (default: every parameter).  Gradient
    outputs are named ``"d<loss>/d<name>"``, e.g. ``"dloss/dW"``.
    """
    if loss is None:
        if len(graph.outputs) == 1:
            loss = next(iter(graph.outputs))
        elif "loss" in graph.outputs:
            loss = "loss"
        else:
            raise ValueError(f"grad: graph {graph.name!r} has outputs {list(graph.outputs)}; "
                             f"say which is the loss with loss=...")
    if loss not in graph.outputs:
        raise KeyError(f"grad: graph {graph.name!r} has no output {loss!r} "
                       f"(outputs: {list(graph.outputs)})")
    leaves = {**graph.inputs, **graph.params}
    targets: Dict[str, Node] = {}
    for w in (list(graph.params) if wrt is None else wrt):
        if isinstance(w, Node):
            targets[w.attr("name") if w.is_leaf and w.attr("name") else f"%{len(targets)}"] = w
        elif w in leaves:
            targets[w] = leaves[w]
        else:
            raise KeyError(f"grad: {w!r} is not an input or parameter of graph {graph.name!r} "
                           f"(inputs: {list(graph.inputs)}, params: {list(graph.params)})")
    grads = grad(graph.outputs[loss], list(targets.values()))
    outputs = dict(graph.outputs)
    taken = [f"d{loss}/d{name}" for name in targets if f"d{loss}/d{name}" in outputs]
    if taken:
        raise ValueError(f"grad: graph {graph.name!r} already has output(s) {taken}: the "
                         f"gradient outputs would replace them; rename those outputs")
    for name, gnode in zip(targets, grads):
        outputs[f"d{loss}/d{name}"] = gnode
    return Graph(outputs, name=f"grad({graph.name})")
