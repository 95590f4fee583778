"""The graph IR: immutable, hash-consed nodes and the ``Graph`` that names them.

A :class:`Node` is a value: an op, its argument nodes, attributes, a shape and a
dtype.  Nodes are *hash-consed*: building the same structure twice returns the
same object, so structural equality is identity, hashing is O(1), and common
subexpressions are shared as they are built.  Metadata (a readable name, the
time step, the equation a node came from) rides along but is not part of the
node's identity: the first construction's metadata is kept.

Every traversal here is iterative, so graphs of any depth are safe.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
import weakref
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .shapes import Shape, format_shape

__all__ = ["Node", "Graph", "toposort", "meta_scope", "push_meta", "pop_meta", "dtype_name",
           "gc_paused", "record_meta", "meta_of"]

_INTERN: "weakref.WeakValueDictionary[tuple, Node]" = weakref.WeakValueDictionary()


class _Build(threading.local):
    """What graph building reads per thread: the metadata stack and the record of the
    build in progress (see :func:`record_meta`).  Two threads building graphs at once
    never tag each other's nodes."""

    def __init__(self):
        self.meta: List[dict] = [{}]
        self.record: Optional[Dict["Node", dict]] = None


_BUILD = _Build()

_DTYPE_SHORT = {"float16": "f16", "float32": "f32", "float64": "f64", "int32": "i32",
                "int64": "i64", "bool": "bool", "int8": "i8", "uint8": "u8"}


def dtype_name(dtype) -> str:
    """Short dtype text (``f32``, ``f64``, ``i64``, ``bool``)."""
    return _DTYPE_SHORT.get(np.dtype(dtype).name, np.dtype(dtype).name)


def _attr_key(value):
    """A hashable key for an attribute value that tells 0.0 from -0.0 and 1 from 1.0."""
    t = type(value)
    if t is int or t is str:  # the common case (axes, index keys): no isinstance checks
        return (t, value)
    if isinstance(value, float):
        return (float, value.hex())
    if isinstance(value, tuple):
        return tuple([_attr_key(v) for v in value])
    return (t, value)


@contextlib.contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector while building many nodes.

    Nodes form no reference cycles, so the collector finds nothing in them; pausing it
    keeps graph building linear instead of rescanning every live node again and again."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def compact_intern() -> None:
    """Shrink the hash-consing table to the nodes still alive.

    A dict keeps the size it grew to; after a long unrolling has been compiled and dropped,
    the table would keep megabytes of empty slots (about 100 bytes per node ever alive)."""
    global _INTERN
    if sys.getsizeof(_INTERN.data) > 256 * (len(_INTERN.data) + 4096):
        try:
            _INTERN = weakref.WeakValueDictionary(_INTERN)
        except RuntimeError:  # another thread is building nodes: compact another time
            pass


def push_meta(meta: dict) -> None:
    """Start attaching ``meta`` to new nodes (the fast form of :func:`meta_scope`)."""
    stack = _BUILD.meta
    stack.append({**stack[-1], **meta})


def pop_meta() -> None:
    """Undo the last :func:`push_meta`."""
    _BUILD.meta.pop()


@contextlib.contextmanager
def record_meta():
    """Record, for every node built or tagged inside the block, the metadata this build gives
    it (``{"step", "origin", "name"}``), even when hash-consing returns a node that an
    earlier build created (and tagged) first.  Yields the record (node -> dict): what the
    compiler reads steps from, so a program does not depend on what was built before."""
    outer = _BUILD.record
    _BUILD.record = record = {}
    try:
        yield record
    finally:
        _BUILD.record = outer


def meta_of(node: "Node") -> dict:
    """``{"step", "origin", "name"}`` of ``node`` as the build being recorded gave it (see
    :func:`record_meta`), else the node's own: what passes and differentiation copy from."""
    record = _BUILD.record
    if record is not None:
        rec = record.get(node)
        if rec is not None:
            return rec
    return {"step": node.step, "origin": node.origin, "name": node.name}


@contextlib.contextmanager
def meta_scope(**meta):
    """Attach metadata (``step=``, ``origin=``, ...) to every node first built inside the block."""
    push_meta(meta)
    try:
        yield
    finally:
        pop_meta()


class Node:
    """An immutable, hash-consed value in the graph.

    Build nodes with the op functions (``graphrnn.tanh(x)``, ``x @ W``), not directly.
    """

    __slots__ = ("op", "args", "attrs", "shape", "dtype", "name", "step", "origin",
                 "_key", "__weakref__")

    def __new__(cls, op, args: Tuple["Node", ...], attrs: Tuple[Tuple[str, object], ...],
                shape: Shape, dtype):
        if not isinstance(dtype, np.dtype):
            dtype = np.dtype(dtype)
        key = (op, tuple(map(id, args)),
               tuple([(k, _attr_key(v)) for k, v in attrs]) if attrs else (), shape, dtype.str)
        node = _INTERN.get(key)
        build = _BUILD
        meta, record = build.meta[-1], build.record
        if node is not None:
            if record is not None and node not in record:
                record[node] = {"step": meta.get("step"), "origin": meta.get("origin"),
                                 "name": meta.get("name")}
            return node
        node = object.__new__(cls)
        if record is not None:
            record[node] = {"step": meta.get("step"), "origin": meta.get("origin"),
                            "name": meta.get("name")}
        _set_op(node, op)
        _set_args(node, tuple(args))
        _set_attrs(node, tuple(attrs))
        _set_shape(node, shape)
        _set_dtype(node, dtype)
        _set_name(node, meta.get("name"))
        _set_step(node, meta.get("step"))
        _set_origin(node, meta.get("origin"))
        _set_key(node, key)
        _INTERN[key] = node
        return node

    @classmethod
    def existing(cls, op, args: Tuple["Node", ...], attrs, shape: Shape, dtype) -> Optional["Node"]:
        """The node with this structure if one is alive, else None (nothing is built)."""
        key = (op, tuple(map(id, args)), tuple([(k, _attr_key(v)) for k, v in attrs]),
               shape, np.dtype(dtype).str)
        node = _INTERN.get(key)
        record = _BUILD.record
        if node is not None and record is not None and node not in record:
            meta = _BUILD.meta[-1]  # found for this build: recorded as if built now
            record[node] = {"step": meta.get("step"), "origin": meta.get("origin"),
                             "name": meta.get("name")}
        return node

    def __setattr__(self, name, value):
        raise AttributeError(f"Node is immutable (tried to set {name!r}); use tag() for metadata")

    # Equality and hashing are identity (hash-consing makes them structural); see ``equal``
    # for the elementwise comparison.
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def tag(self, name: Optional[str] = None, step: Optional[int] = None,
            origin: Optional[str] = None) -> "Node":
        """Fill in metadata fields that are still empty; returns ``self``."""
        for setter, slot, value in ((_set_name, "name", name), (_set_step, "step", step),
                                    (_set_origin, "origin", origin)):
            if value is not None and getattr(self, slot) is None:
                setter(self, value)
        record = _BUILD.record
        if record is not None:
            rec = record.setdefault(self, {"step": None, "origin": None, "name": None})
            for slot, value in (("name", name), ("step", step), ("origin", origin)):
                if value is not None and rec[slot] is None:
                    rec[slot] = value
        return self

    def attr(self, key, default=None):
        """The value of attribute ``key``."""
        for k, v in self.attrs:
            if k == key:
                return v
        return default

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_leaf(self) -> bool:
        return not self.args

    def label(self) -> str:
        """Short text: ``op name : f64(B, 3)``."""
        nm = self.attr("name") if self.op.bound else self.name
        head = f"{self.op.name} {nm}" if nm else self.op.name
        return f"{head} : {dtype_name(self.dtype)}{format_shape(self.shape)}"

    def __repr__(self):
        return f"<Node {self.label()}>"

    def __bool__(self):
        return True

    # Operator overloading lives in graphrnn.core.expr (installed onto Node there).


(_set_op, _set_args, _set_attrs, _set_shape, _set_dtype, _set_name, _set_step, _set_origin,
 _set_key) = (Node.__dict__[s].__set__ for s in (
    "op", "args", "attrs", "shape", "dtype", "name", "step", "origin", "_key"))


def toposort(roots: Iterable[Node]) -> List[Node]:
    """All nodes reachable from ``roots`` in a deterministic topological order (iterative DFS)."""
    order: List[Node] = []
    state: Dict[Node, int] = {}  # 1 = on stack, 2 = done
    for root in roots:
        if root in state:
            continue
        stack = [(root, 0)]
        state[root] = 1
        while stack:
            node, i = stack[-1]
            if i < len(node.args):
                stack[-1] = (node, i + 1)
                child = node.args[i]
                if child not in state:
                    state[child] = 1
                    stack.append((child, 0))
            else:
                stack.pop()
                state[node] = 2
                order.append(node)
    return order


class Graph:
    """A DAG with named outputs; its inputs and parameters are the leaves it reaches.

    ``Graph({"y": y, "loss": loss})`` (or a list of nodes, named by position).
    Inputs and parameters are found by name in the nodes reachable from the outputs.
    """

    def __init__(self, outputs: Union[Mapping[str, Node], Sequence[Node], Node],
                 name: str = "graph"):
        if isinstance(outputs, Node):
            outputs = [outputs]
        if not isinstance(outputs, Mapping):
            outputs = {f"out{i}": n for i, n in enumerate(outputs)}
        for k, n in outputs.items():
            if not isinstance(n, Node):
                raise TypeError(f"graph output {k!r} must be a Node, got {type(n).__name__}")
        self.name = name
        self.outputs: Dict[str, Node] = dict(outputs)
        self.nodes: List[Node] = toposort(self.outputs.values())
        self.inputs: Dict[str, Node] = {}
        self.params: Dict[str, Node] = {}
        for n in self.nodes:
            table = {"input": self.inputs, "param": self.params}.get(n.op.source)
            if table is None:
                continue
            nm = n.attr("name")
            other = self.inputs.get(nm) or self.params.get(nm)
            if other is not None and other is not n:
                raise ValueError(
                    f"graph {name!r}: two different leaves are named {nm!r}: "
                    f"{other.label()} and {n.label()}")
            table[nm] = n

    def __len__(self):
        return len(self.nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __repr__(self):
        return (f"<Graph {self.name}: {len(self.nodes)} nodes, inputs {list(self.inputs)}, "
                f"params {list(self.params)}, outputs {list(self.outputs)}>")

    def ids(self) -> Dict[Node, int]:
        """Position of each node in the topological order."""
        return {n: i for i, n in enumerate(self.nodes)}

    def users(self) -> Dict[Node, List[Node]]:
        """The nodes reading each node, each once, in topological order."""
        out: Dict[Node, List[Node]] = {n: [] for n in self.nodes}
        for n in self.nodes:
            for a in dict.fromkeys(n.args):
                out[a].append(n)
        return out

    def op_counts(self) -> Dict[str, int]:
        """How many nodes of each op the graph holds."""
        counts: Dict[str, int] = {}
        for n in self.nodes:
            counts[n.op.name] = counts.get(n.op.name, 0) + 1
        return counts

    def dump(self, max_lines: Optional[int] = None) -> str:
        """A readable listing, one line per node, like a jaxpr::

            %2 = matmul %0 %1 : f64(B, 3)    # h@1
        """
        ids = self.ids()
        sig = lambda n: f"{dtype_name(n.dtype)}{format_shape(n.shape)}"
        head = [f"graph {self.name}(" + ", ".join(
            f"{k}: {sig(n)}" for k, n in {**self.inputs, **self.params}.items()) + ")"]
        body = []
        for n in self.nodes:
            if n.op.bound:
                rhs = f"{n.op.source} {n.attr('name')}"
            else:
                shown = [(k, v) for k, v in n.attrs if not k.startswith("_")]
                attrs = "".join(f" {k}={_short(v)}" for k, v in shown)
                rhs = n.op.name + "".join(f" %{ids[a]}" for a in n.args) + attrs
            note = []
            if n.name and not n.op.bound:
                note.append(n.name)
            if n.step is not None:
                note.append(f"t={n.step}")
            if n.origin:
                note.append(n.origin)
            line = f"  %{ids[n]} = {rhs} : {sig(n)}"
            body.append(line + ("    # " + "  ".join(note) if note else ""))
        if max_lines is not None and len(body) > max_lines:
            k = max_lines // 2
            body = body[:k] + [f"  ... {len(body) - 2 * k} more nodes ..."] + body[-k:]
        tail = ["  return " + ", ".join(f"{k}=%{ids[n]}" for k, n in self.outputs.items())]
        return "\n".join(head + body + tail)

    __str__ = dump

    def to_networkx(self):
        """The graph as a ``networkx.MultiDiGraph``: node ids are topological positions,
        node attributes ``op, shape, dtype, name, step, origin, label``; an edge ``arg -> node``
        per argument, with ``index`` (argument position)."""
        import networkx as nx

        g = nx.MultiDiGraph(name=self.name)
        ids = self.ids()
        g.add_nodes_from(
            (i, {"op": n.op.name, "shape": n.shape, "dtype": dtype_name(n.dtype),
                 "name": n.attr("name") if n.is_leaf and n.attr("name") else n.name,
                 "step": n.step, "origin": n.origin, "label": n.label(), "node": n})
            for i, n in enumerate(self.nodes))
        g.add_edges_from((ids[a], i, {"index": pos}) for i, n in enumerate(self.nodes)
                         for pos, a in enumerate(n.args))
        g.graph["outputs"] = {k: ids[n] for k, n in self.outputs.items()}
        return g


def _short(v) -> str:
    if isinstance(v, np.dtype):
        return dtype_name(v)
    if hasattr(v, "summary"):
        return v.summary()
    return repr(v)
