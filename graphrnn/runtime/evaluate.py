"""The reference executor: runs a Graph node by node with each op's kernel.

An :class:`Evaluator` plans once (order, argument slots, last uses, static
attributes) and then each call only binds inputs, runs kernels and frees values
after their last use.  It is the semantics the optimizing compiler must match.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional, Sequence, Union

from ..core.ir import Graph, Node
from ..core.shapes import ShapeError, is_concrete, resolve
from .anomaly import AnomalyError, anomaly_enabled, describe_bad
from .backends import get_backend
from .binding import EvaluationError, InputError, bind_values

__all__ = ["Evaluator", "evaluate", "bind_values", "InputError", "EvaluationError", "find_anomaly",
           "check_outputs"]  # the binding's names too: they are where users look for them


class Evaluator:
    """Runs ``graph`` on a backend: ``Evaluator(graph)(inputs={...}, params={...})`` -> dict."""

    def __init__(self, graph: Graph, backend="numpy"):
        self.graph = graph
        self.backend = get_backend(backend)
        nodes = graph.nodes
        pos = {n: i for i, n in enumerate(nodes)}
        last_use = {}
        for i, n in enumerate(nodes):
            for a in n.args:
                last_use[pos[a]] = i
        keep = {pos[n] for n in graph.outputs.values()}
        frees: List[List[int]] = [[] for _ in nodes]
        for j, i in last_use.items():
            if j not in keep:
                frees[i].append(j)
        self._leaves = []  # (slot, kind, name, node)
        self._steps = []   # (slot, kernel, arg slots, static kwargs, symbolic shape or None, frees)
        for i, n in enumerate(nodes):
            if n.op.bound:
                self._leaves.append((i, n.op.source, n.attr("name"), n))
                continue
            kwargs = dict(n.attrs)
            sym_shape = None
            if n.op.wants_shape:
                if is_concrete(n.shape):
                    kwargs["shape"] = n.shape
                else:
                    sym_shape = n.shape
            self._steps.append((i, n.op.kernel, tuple(pos[a] for a in n.args), kwargs,
                                sym_shape, tuple(frees[i])))
        self._out = [(k, pos[n]) for k, n in graph.outputs.items()]
        self._n = len(nodes)

    def __call__(self, inputs: Optional[Mapping] = None, params: Optional[Mapping] = None,
                 dims: Optional[Mapping[str, int]] = None) -> Dict[str, object]:
        """Run the graph; ``dims`` binds symbolic sizes no input determines (``{"B": 4}``)."""
        values: List[object] = [None] * self._n
        given, env = bind_values(self.graph, self.backend, inputs, params, dims)
        for i, _, name, _ in self._leaves:
            values[i] = given[name]
        xp = self.backend.xp
        try:
            for i, kernel, args, kwargs, sym_shape, frees in self._steps:
                if sym_shape is not None:
                    kwargs = {**kwargs, "shape": resolve(sym_shape, env)}
                values[i] = kernel(xp, *[values[a] for a in args], **kwargs)
                for j in frees:
                    values[j] = None
        except ShapeError:
            raise
        except Exception as e:
            node = self.graph.nodes[i]
            where = f" at t={node.step}" if node.step is not None else ""
            origin = f" (from {node.origin})" if node.origin else ""
            raise EvaluationError(f"evaluating %{i} = {node.label()}{where}{origin}: "
                                  f"{type(e).__name__}: {e}") from e
        out = {k: values[i] for k, i in self._out}
        if anomaly_enabled():
            check_outputs(out, xp, lambda: self.graph, inputs, params, dims, self.backend,
                          f"evaluating graph {self.graph.name!r}")
        return out

    def trace(self, inputs: Optional[Mapping] = None, params: Optional[Mapping] = None,
              dims: Optional[Mapping[str, int]] = None):
        """Run the graph, yielding ``(node, value)`` for every node in order (leaves first):
        what anomaly mode walks to find the first non-finite value."""
        given, env = bind_values(self.graph, self.backend, inputs, params, dims)
        values: List[object] = [None] * self._n
        nodes = self.graph.nodes
        for i, _, name, node in self._leaves:
            values[i] = given[name]
            yield node, values[i]
        xp = self.backend.xp
        for i, kernel, args, kwargs, sym_shape, _ in self._steps:
            if sym_shape is not None:
                kwargs = {**kwargs, "shape": resolve(sym_shape, env)}
            values[i] = kernel(xp, *[values[a] for a in args], **kwargs)
            yield nodes[i], values[i]


def evaluate(target: Union[Graph, Node, Sequence[Node]], inputs: Optional[Mapping] = None,
             params: Optional[Mapping] = None, dims: Optional[Mapping[str, int]] = None,
             backend="numpy"):
    """Evaluate a Graph (returns a dict of outputs), a Node (its array) or a list of nodes."""
    if isinstance(target, Graph):
        return Evaluator(target, backend)(inputs, params, dims)
    single = isinstance(target, Node)
    graph = Graph([target] if single else list(target))
    out = list(Evaluator(graph, backend)(inputs, params, dims).values())
    return out[0] if single else out


def find_anomaly(graph, inputs: Optional[Mapping] = None, params: Optional[Mapping] = None,
                 dims: Optional[Mapping[str, int]] = None, backend="numpy",
                 output: Optional[str] = None) -> Optional[str]:
    """Run ``graph`` node by node and follow a non-finite ``output`` (default: the first such
    output) back through its arguments to the node that produced the non-finite value from
    finite arguments (or the leaf that held it); describe it, or return None when every
    output is finite.  Values a ``where`` discarded are never blamed: the walk only goes
    through arguments that are themselves not finite."""
    evaluator = Evaluator(graph, backend)
    xp = evaluator.backend.xp
    values = dict(evaluator.trace(inputs, params, dims))
    names = [output] if output is not None else list(graph.outputs)
    start = next((graph.outputs[n] for n in names
                  if describe_bad(values[graph.outputs[n]], xp)), None)
    if start is None:
        return None
    node = start
    while True:
        worse = next((a for a in node.args if describe_bad(values[a], xp)), None)
        if worse is None:
            break
        node = worse
    bad = describe_bad(values[node], xp)
    if node.op.bound:
        return f"{node.op.source} {node.attr('name')!r} holds them: {bad}"
    where = f" at t={node.step}" if node.step is not None else ""
    origin = f" (from {node.origin})" if node.origin else ""
    return f"{node.label()}{where}{origin} produced them from finite arguments: {bad}"


def check_outputs(outs: Mapping, xp, graph: Callable[[], object], inputs, params, dims,
                  backend, what: str) -> None:
    """Raise :class:`AnomalyError` when an output is not finite, naming the first node that
    produced a non-finite value in ``graph()`` (the graph the outputs came from)."""
    for name, value in outs.items():
        bad = describe_bad(value, xp)
        if bad is None:
            continue
        try:
            g = graph()
            if g is None:
                raise LookupError("the program keeps no graph (compiled with keep_graph=False)")
            culprit = find_anomaly(g, inputs, params, dims, backend, output=name)
        except Exception as e:  # noqa: BLE001 - the report must not hide the anomaly
            culprit = f"(could not trace the graph: {type(e).__name__}: {e})"
        raise AnomalyError(f"{what}: output {name!r} is not finite ({bad}); first non-finite "
                           f"value: {culprit or 'none when evaluated op by op'}")
