"""Symbolic recurrences: a model declared as a dynamical system, the way it is written.

::

    from graphrnn import Recurrence, t, tanh
    rec = Recurrence("elman", dtype="float64")
    x = rec.input("x", 1)                      # x[t]
    h = rec.state("h", 3)                      # h[t]; h[t-1] (or h.prev) is the previous value
    W, U, b = rec.param("W", (3, 3)), rec.param("U", (1, 3)), rec.param("b", (3,))
    V, c = rec.param("V", (3, 1)), rec.param("c", (1,))
    rec.update(h, tanh(h[t-1] @ W + x[t] @ U + b))
    rec.output("y", h @ V + c)
    graph = rec.unroll(steps=5)

Inputs, states and outputs are *variables*: placeholder nodes of shape ``(B, *size)``
standing for their value at step ``t`` (``h`` or ``h[t]``) or ``k`` steps earlier
(``h[t-k]``).  Equations are ordinary expressions over them, so shapes are checked as
they are written.  :mod:`graphrnn.frontend.unroll` turns the recurrence into a Graph.
"""

from __future__ import annotations

import itertools
from typing import Dict, List, Optional, Union

import numpy as np

from ..core import ops as F
from ..core.ir import Node, dtype_name, toposort
from ..core.ops.registry import apply
from ..core.pretty import format_expr
from ..core.shapes import B, as_shape, format_shape
from .names import check_leaf_names, generated_names
from .unroll import unroll as _unroll
from .variables import VAR, RecurrenceError, TimeIndex, Variable, at_time, register, t

__all__ = ["Recurrence", "RecurrenceError", "TimeIndex", "t", "Variable", "at_time"]


_INITS = ("zeros", "param", "input")


class Recurrence:
    """A recurrence ``s[t] = f(s[t-1], x[t]; θ)``, ``y[t] = g(s[t]; φ)`` to declare and unroll."""

    def __init__(self, name: str = "recurrence", dtype=None):
        self.name = name
        self.dtype = np.dtype(dtype or F.DEFAULT_DTYPE)
        self.uid = register(self)
        self.variables: Dict[str, Variable] = {}
        self.params: Dict[str, Node] = {}
        #: every name the recurrence declares or generates -> what has it
        self._names: Dict[str, str] = {}

    # ------------------------------------------------------------ declarations
    def _declare(self, kind, name, size, dtype, init="zeros", depth=None) -> Node:
        if not isinstance(name, str) or not name.isidentifier():
            raise RecurrenceError(f"{self.name}: {kind} name must be an identifier, got {name!r}")
        size = as_shape(() if size is None else size)
        if any(not isinstance(d, int) for d in size):
            raise RecurrenceError(f"{self.name}: {kind} {name!r} size must be concrete, got "
                                  f"{format_shape(size)} (the batch axis is implicit)")
        var = Variable(kind, name, size, np.dtype(dtype or self.dtype), init, depth)
        names = {name: f"{kind} {name!r}", **generated_names(var)}
        for n, what in names.items():
            self._claim(n, what, declared=n == name)
        self._names.update(names)
        self.variables[name] = var
        return self._at(var, 0)

    def _claim(self, name: str, what: str, declared: bool = True) -> None:
        """Refuse ``name`` (for ``what``) when a declared or generated name already has it."""
        owner = self._names.get(name)
        if owner is None:
            return
        if declared and (name in self.variables or name in self.params):
            raise RecurrenceError(f"{self.name}: the name {name!r} is already declared "
                                  f"({owner})")
        raise RecurrenceError(f"{self.name}: name collision: {what} and {owner} would both be "
                              f"named {name!r} in the unrolled graph; rename one")

    def input(self, name: str, size=(), dtype=None) -> Node:
        """Declare an input sequence ``x[t]`` of feature shape ``size``; returns ``x[t]``.

        It is given at call time as a ``(T, B, *size)`` array named ``name``.
        """
        return self._declare("input", name, size, dtype)

    def state(self, name: str, size, init: Union[str, Node] = "zeros", depth: int = 1,
              dtype=None) -> Node:
        """Declare a state ``s[t]``; returns ``s[t]`` (``s[t-k]`` reaches back ``k`` steps).

        ``init`` gives the values before the first step: ``"zeros"`` (any depth),
        ``"param"`` (learned, a parameter ``<name>0`` of shape ``(depth, *size)``, or
        ``size`` when depth is 1), ``"input"`` (given at call time as ``<name>0``, shape
        ``(B, *size)`` or ``(depth, B, *size)``), or a Node of shape ``(B, *size)`` (e.g.
        an encoder's final state).  ``depth`` is how many initial values exist.
        """
        return self._declare("state", name, size, dtype, *self._check_init(name, init, depth))

    def output(self, name: str, expr: Node, init: Union[str, Node] = "zeros",
               depth: int = 1) -> Node:
        """Declare an output ``y[t] = expr``; returns ``y[t]`` (``y[t-1]`` feeds back, Jordan-style).

        ``init`` and ``depth`` give ``y``'s values before the first step, as for states.
        """
        expr = self._rhs(name, expr)
        if not expr.shape or expr.shape[0] != B:
            raise RecurrenceError(f"{self.name}: output {name} = {format_expr(expr)} has shape "
                                  f"{format_shape(expr.shape)}; its first axis must be the batch B")
        node = self._declare("output", name, expr.shape[1:], expr.dtype,
                             *self._check_init(name, init, depth))
        self.variables[name].equation = expr
        return node

    def param(self, name: str, shape, dtype=None) -> Node:
        """Declare a parameter (shared by every step); returns its node."""
        if not isinstance(name, str) or not name:
            raise RecurrenceError(f"{self.name}: param name must be a non-empty string, got "
                                  f"{name!r}")
        self._claim(name, f"param {name!r}")
        node = F.param(name, shape, dtype or self.dtype)
        self.params[name] = node
        self._names[name] = f"param {name!r}"
        return node

    def update(self, state: Union[Node, str], expr: Node) -> None:
        """Give the state's equation ``s[t] = expr``."""
        var = self._lookup(state, "update")
        if var.kind != "state":
            raise RecurrenceError(f"{self.name}: update() takes a state; {var.name!r} is an "
                                  f"{var.kind}")
        if var.equation is not None:
            raise RecurrenceError(f"{self.name}: state {var.name!r} is already updated by "
                                  f"{var.ref()} = {format_expr(var.equation)}")
        expr = self._rhs(var.name, expr)
        if expr.shape != var.shape or expr.dtype != var.dtype:
            raise RecurrenceError(
                f"{self.name}: equation {var.ref()} = {format_expr(expr)}: the right-hand side is "
                f"{dtype_name(expr.dtype)}{format_shape(expr.shape)}, but state {var.name!r} is "
                f"{dtype_name(var.dtype)}{format_shape(var.shape)}")
        var.equation = expr

    # ------------------------------------------------------------ helpers
    def _check_init(self, name, init, depth):
        if isinstance(init, Node):
            return init, 1
        if init not in _INITS:
            raise RecurrenceError(f"{self.name}: init of {name!r} must be one of {_INITS} or a "
                                  f"Node, got {init!r}")
        if not isinstance(depth, int) or depth < 1:
            raise RecurrenceError(f"{self.name}: depth of {name!r} must be an int >= 1")
        return init, (None if init == "zeros" else depth)

    def _lookup(self, ref, what) -> Variable:
        if isinstance(ref, str):
            if ref not in self.variables:
                raise RecurrenceError(f"{self.name}: {what}() names {ref!r}, which is not declared "
                                      f"(declared: {sorted(self.variables)})")
            return self.variables[ref]
        if not (isinstance(ref, Node) and ref.op is VAR and ref.attr("rec") == self.uid):
            raise RecurrenceError(f"{self.name}: {what}() takes a variable of this recurrence, "
                                  f"got {ref!r}")
        if ref.attr("delay") != 0:
            raise RecurrenceError(f"{self.name}: {what}() takes {ref.attr('name')}[t], "
                                  f"not a delayed value")
        return self.variables[ref.attr("name")]

    def _rhs(self, name, expr) -> Node:
        if not isinstance(expr, Node):
            raise RecurrenceError(f"{self.name}: the equation for {name!r} must be an expression "
                                  f"(a Node), got {type(expr).__name__}")
        for n in toposort([expr]):
            if n.op is VAR and n.attr("rec") != self.uid:
                raise RecurrenceError(
                    f"{self.name}: the equation for {name!r} uses {n.name}, a variable of another "
                    f"recurrence; declare it in {self.name!r}")
            if n.op.source == "input":
                raise RecurrenceError(
                    f"{self.name}: the equation for {name!r} uses the graph input "
                    f"{n.attr('name')!r}, which is not declared in this recurrence; declare "
                    f"per-step inputs with rec.input()")
        return expr

    def _at(self, var: Variable, delay: int) -> Node:
        if delay < 0:
            raise RecurrenceError(f"{self.name}: {var.name}[t+{-delay}] looks into the future; "
                                  f"a recurrence may only use t and earlier steps")
        if var.depth is not None and delay > var.depth:
            raise RecurrenceError(
                f"{self.name}: {var.ref(delay)} needs {delay} initial values, but {var.kind} "
                f"{var.name!r} provides {var.depth} (init={var.init!r}); declare depth={delay}")
        node = var.nodes.get(delay)
        if node is None:
            node = apply(VAR, rec=self.uid, kind=var.kind, name=var.name, delay=delay,
                         shape=var.shape, dtype=var.dtype).tag(name=var.ref(delay))
            var.nodes[delay] = node
        return node

    # ------------------------------------------------------------ views
    def inputs(self) -> List[Variable]:
        """Declared inputs, in order."""
        return [v for v in self.variables.values() if v.kind == "input"]

    def states(self) -> List[Variable]:
        """Declared states, in order."""
        return [v for v in self.variables.values() if v.kind == "state"]

    def outputs(self) -> List[Variable]:
        """Declared outputs, in order."""
        return [v for v in self.variables.values() if v.kind == "output"]

    def describe(self) -> str:
        """The recurrence as equations, one line per variable."""
        lines = [f"recurrence {self.name}"]
        for v in self.variables.values():
            sig = f"{dtype_name(v.dtype)}{format_shape(v.shape)}"
            if v.kind == "input":
                lines.append(f"  input  {v.ref()} : {sig}")
                continue
            rhs = format_expr(v.equation) if v.equation is not None else "<no equation>"
            init = v.init if isinstance(v.init, str) else "given node"
            lines.append(f"  {v.kind:<6} {v.ref()} = {rhs} : {sig}   (init {init})")
        if self.params:
            lines.append("  params " + ", ".join(
                f"{k}{format_shape(p.shape)}" for k, p in self.params.items()))
        return "\n".join(lines)

    __str__ = describe

    def __repr__(self):
        return f"<Recurrence {self.name}: {', '.join(self.variables)}>"

    def folded(self):
        """The folded recurrence as a ``networkx.MultiDiGraph``.

        One node per variable (``kind`` input/state/output) and parameter, keyed by its name,
        and per operation, keyed by an int (so no name can collide with an operation); an
        edge per use, with ``delay`` (0 for same-step use).  Delay edges (``delay > 0``,
        ``kind="delay"``) run from a variable to where its past value is used, so the loop
        through time is a cycle; ``kind="defines"`` edges run from an equation to its variable.
        """
        import networkx as nx

        self.check_names()
        g = nx.MultiDiGraph(name=self.name)
        for v in self.variables.values():
            g.add_node(v.name, kind=v.kind, label=v.ref(), shape=v.shape, dtype=dtype_name(v.dtype))
        ids: Dict[Node, Union[str, int]] = {}
        roots = [v.equation for v in self.variables.values() if v.equation is not None]
        op_ids = itertools.count()
        for n in toposort(roots):
            if n.op is VAR:
                ids[n] = n.attr("name")
                continue
            if n.op.source == "param":
                key = n.attr("name")
                g.add_node(key, kind="param", label=key, shape=n.shape, dtype=dtype_name(n.dtype))
            else:
                key = next(op_ids)
                g.add_node(key, kind="op", op=n.op.name, label=n.op.name, shape=n.shape,
                           dtype=dtype_name(n.dtype))
            ids[n] = key
            for pos, a in enumerate(n.args):
                delay = a.attr("delay") if a.op is VAR else 0
                g.add_edge(ids[a], key, index=pos, delay=delay,
                           kind="delay" if delay else "data",
                           label=a.name if a.op is VAR else "")
        for v in self.variables.values():
            if v.equation is not None:
                g.add_edge(ids[v.equation], v.name, index=0, delay=0, kind="defines", label="")
        return g

    def check_names(self, mask: bool = False) -> None:
        """Refuse, naming both, a parameter or input node in an equation or an initial value
        whose name something else in the unrolled graph has (see
        :func:`graphrnn.frontend.names.check_leaf_names`); ``mask`` reserves ``mask``."""
        check_leaf_names(self, mask)

    def unroll(self, steps: int, reverse: bool = False, mask: bool = False,
               per_step: bool = False, sources=None, max_nodes: Optional[int] = None):
        """The explicit Graph for ``steps`` steps (see :func:`graphrnn.frontend.unroll.unroll`)."""
        return _unroll(self, steps, reverse=reverse, mask=mask, per_step=per_step,
                      sources=sources, max_nodes=max_nodes)
