"""The op registry: one :class:`Op` per operation, holding every interpretation of it.

An op is a table entry per interpretation (in the spirit of JAX's autodidax rule tables):
its shape/dtype rule, its reference kernel, its VJP, its NumPy emission for compiled code,
its CUDA scalar expression for fused kernels and its printing form.  Everything else (the
evaluator, the compiler, the printer, the diagrams) reads these tables and knows no op by
name.

``apply("tanh", x)`` checks the arguments with the op's shape rule and returns the
(hash-consed) node.  Kernels are written against an array module ``xp`` (numpy or
cupy) and called as ``kernel(xp, *arrays, **attrs)`` (plus ``shape=`` the resolved
output shape for ops that declare ``wants_shape``).  VJPs build graph nodes, so
gradients are graphs and can be differentiated again.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, Tuple, Union

import numpy as np

from ..ir import Node, dtype_name
from ..shapes import ShapeError, format_shape

__all__ = ["Op", "OPS", "O", "register", "unregister", "apply", "Frozen", "check_float",
           "same_dtype"]

#: the ways a leaf gets its value (:attr:`Op.source`)
SOURCES = ("input", "param", "const", "fill")


class Op:
    """An operation: its table entry for every interpretation.

    - ``shape_rule(*args, **attrs) -> (shape, dtype)`` checks a use and gives the result type;
    - ``kernel(xp, *arrays, **attrs)`` computes it (the reference evaluator, and compiled
      code for ops without a NumPy emission);
    - ``vjp(node, g)`` returns one gradient node (or ``None``) per argument;
    - ``numpy``: how compiled NumPy/CuPy code computes it into a planned buffer: a ufunc
      name (``"subtract"`` writes ``v = np.subtract(a, b, out=out)``), a format template
      (``"{v} = np.maximum({0}, 0, out={out})"``: ``{0}``... the arguments, ``{v}`` the
      result, ``{out}`` its buffer, attributes by name) or a callable given the compiler's
      emission context (see :class:`graphrnn.compiler.emit.Emission`) returning the text;
      ``None``: compiled code calls the kernel (which allocates its result);
    - ``inplace``: the argument positions the output buffer may share (the emission reads
      each element before it writes it): ``True`` for all, the default of a ufunc name;
    - ``broadcasting``: the NumPy emission broadcasts its arguments itself (NumPy ufunc
      semantics), the default of a ufunc name;
    - ``view(e) -> str``: the result is a view of argument 0 (no buffer, never copied); the
      expression text from the emission context; ``view_copies`` says when NumPy would
      make a copy of that expression instead: ``"scalar"`` when the result has no axes
      (indexing every axis), ``"strided"`` when argument 0 is not C-contiguous (reshape);
      None: never;
    - ``cuda``: the scalar C++ expression for fused GPU kernels of an ``elementwise`` op:
      ``{0}``, ``{1}``... name the arguments, ``{T}`` the result's C type and ``{attr}`` an
      attribute (``"tanh({0})"``); one without placeholders is an n-ary infix operator
      (``add_n``'s ``"+"``); a callable ``(node, args, ctype) -> str`` writes it itself;
    - ``printing(node, args) -> (text, precedence)`` for :func:`graphrnn.core.pretty.format_expr`
      (``args`` are the arguments' ``(text, precedence)``; returning None, or no entry,
      prints ``name(args...)``); see :mod:`.forms`.

    Flags that group ops: ``elementwise`` (each output element depends only on the same
    element of each equally shaped argument: fusable), ``wants_shape`` (the kernel is given
    the resolved output shape), and ``source``, ``join``, ``aggregate``, ``subscript``,
    ``marker``, ``elidable`` (explained where they are set, below).
    """

    __slots__ = ("name", "shape_rule", "kernel", "vjp", "elementwise", "wants_shape", "doc",
                 "cuda", "numpy", "inplace", "broadcasting", "view", "printing", "source",
                 "join", "aggregate", "subscript", "marker", "elidable", "view_copies")

    def __init__(self, name: str, shape_rule: Callable, kernel: Callable,
                 vjp: Optional[Callable] = None, *, elementwise: bool = False,
                 wants_shape: bool = False, doc: str = "",
                 cuda: Union[str, Callable, None] = None,
                 numpy: Union[str, Callable, None] = None,
                 inplace: Union[bool, Tuple[int, ...], None] = None,
                 broadcasting: Optional[bool] = None, view: Optional[Callable] = None,
                 printing: Optional[Callable] = None, source: Optional[str] = None,
                 join: Optional[str] = None, aggregate: bool = False,
                 subscript: Optional[str] = None, marker: bool = False,
                 elidable: bool = False, view_copies: Optional[str] = None):
        self.name, self.shape_rule, self.kernel, self.vjp = name, shape_rule, kernel, vjp
        self.elementwise, self.wants_shape, self.doc = elementwise, wants_shape, doc
        self.cuda, self.numpy, self.view, self.printing = cuda, numpy, view, printing
        ufunc = isinstance(numpy, str) and "{" not in numpy
        if ufunc and not isinstance(getattr(np, numpy, None), np.ufunc):
            raise ValueError(f"op {name!r}: numpy={numpy!r} names no NumPy ufunc")
        #: argument positions the output may overwrite (True: every argument)
        self.inplace = (True if ufunc else ()) if inplace is None else inplace
        #: the NumPy emission broadcasts its arguments itself
        self.broadcasting = ufunc if broadcasting is None else broadcasting
        if source is not None and source not in SOURCES:
            raise ValueError(f"op {name!r}: source must be one of {SOURCES}, got {source!r}")
        if join not in (None, "new", "existing"):
            raise ValueError(f"op {name!r}: join must be 'new' or 'existing', got {join!r}")
        if subscript not in (None, "read", "write"):
            raise ValueError(f"op {name!r}: subscript must be 'read' or 'write', got "
                             f"{subscript!r}")
        #: a leaf's value: "input"/"param" (given by name at call time), "const" (its
        #: attributes), "fill" (one value, in an array allocated per binding); None: computed
        self.source = source
        #: joins its arguments along an axis: "new" (stack: argument k is slice k of the
        #: result), "existing" (concat: consecutive slabs); members may be computed in place
        self.join = join
        #: gathers many equally shaped values (stack, concat, add_n): when they are a
        #: loop's values at consecutive steps, the compiler passes them as one run
        self.aggregate = aggregate
        #: has a ``key`` index attribute whose axis 0 may be a time step: "read" (the result
        #: is ``args[0][key]``) or "write" (the result's ``[key]`` holds ``args[0]``)
        self.subscript = subscript
        #: an identity that marks its argument for a transform (truncated BPTT,
        #: checkpointing): a plain alias when run, but no free view for loop formation
        self.marker = marker
        #: a view the compiler may leave out when every user's emission is ``broadcasting``
        self.elidable = elidable
        if view_copies not in (None, "scalar", "strided"):
            raise ValueError(f"op {name!r}: view_copies must be None, 'scalar' or 'strided', "
                             f"got {view_copies!r}")
        #: when the view expression copies instead (see ``view`` above)
        self.view_copies = view_copies

    @property
    def differentiable(self) -> bool:
        """True when the op has a VJP."""
        return self.vjp is not None

    @property
    def bound(self) -> bool:
        """A leaf whose value the caller gives by name (an input or a parameter)."""
        return self.source in ("input", "param")

    def __repr__(self):
        return f"<Op {self.name}>"


OPS: Dict[str, Op] = {}


class _ByName:
    """The registered ops as attributes: ``O.tanh is OPS["tanh"]``.  Code outside ``ops/``
    names an op this way and compares ops by identity (``node.op is O.add``), so a typo
    fails loudly instead of comparing unequal.  :func:`register` sets each op as an
    attribute, so a lookup is a plain attribute read (hot loops may use it freely)."""

    def __getattr__(self, name: str) -> Op:  # only for names that are not registered
        raise AttributeError(f"no op named {name!r} is registered")

    def __dir__(self):
        return sorted(OPS)


#: every registered op, by attribute (see :class:`_ByName`)
O = _ByName()


def register(op: Op) -> Op:
    """Add ``op`` to the registry (names are unique)."""
    if op.name in OPS:
        raise ValueError(f"op {op.name!r} is already registered")
    OPS[op.name] = op
    setattr(O, op.name, op)
    return op


def unregister(op) -> None:
    """Remove ``op`` (an Op or its name) from the registry: a test's own op, registered for
    the test only.  Nodes already built with it keep working."""
    name = op if isinstance(op, str) else op.name
    if name not in OPS or not isinstance(op, str) and OPS[name] is not op:
        raise KeyError(f"op {name!r} is not registered")
    del OPS[name]
    delattr(O, name)


def apply(op, *args: Node, **attrs) -> Node:
    """Build the node ``op(*args, **attrs)`` after checking the op's shape rule."""
    if isinstance(op, str):
        op = OPS[op]
    for i, a in enumerate(args):
        if not isinstance(a, Node):
            raise TypeError(f"{op.name}: argument {i} must be a Node, got {type(a).__name__}")
    shape, dtype = op.shape_rule(*args, **attrs)
    return Node(op, args, tuple(sorted(attrs.items())), tuple(shape), dtype)


class Frozen:
    """A read-only array usable as a hashable node attribute (for constants)."""

    __slots__ = ("array", "_hash")

    def __init__(self, value):
        a = np.array(value, copy=True)
        a.setflags(write=False)
        self.array = a
        self._hash = hash((a.shape, a.dtype.str, a.tobytes()))

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return (isinstance(other, Frozen) and self.array.shape == other.array.shape
                and self.array.dtype == other.array.dtype
                and self.array.tobytes() == other.array.tobytes())

    def summary(self) -> str:
        a = self.array
        if a.size <= 6:
            return np.array2string(a, separator=",").replace("\n", "")
        return f"array<{dtype_name(a.dtype)}{format_shape(a.shape)}>"

    __repr__ = summary


def check_float(opname: str, x: Node) -> None:
    """Raise unless ``x`` has a floating dtype."""
    if x.dtype.kind != "f":
        raise ShapeError(f"{opname}: expects a floating-point argument, got "
                         f"{dtype_name(x.dtype)}{format_shape(x.shape)}")


def same_dtype(opname: str, *xs: Node):
    """The common dtype of ``xs``; raises naming the op when they differ."""
    dts = {x.dtype for x in xs}
    if len(dts) > 1:
        shown = " and ".join(f"{dtype_name(x.dtype)}{format_shape(x.shape)}" for x in xs)
        raise ShapeError(f"{opname}: dtypes differ: {shown} (cast explicitly with astype)")
    return xs[0].dtype


def same_shape(opname: str, *xs: Node):
    """The common shape of ``xs``; raises naming the op and all shapes when they differ."""
    if any(x.shape != xs[0].shape for x in xs):
        shown = ", ".join(format_shape(x.shape) for x in xs)
        raise ShapeError(f"{opname}: arguments must have equal shapes, got {shown}")
    return xs[0].shape


def norm_axis(opname: str, axis: int, ndim: int) -> int:
    """``axis`` as a non-negative int, or a ShapeError naming the op."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise ShapeError(f"{opname}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{opname}: axis {axis} is out of range for {ndim} dimensions")
    return int(axis) % ndim

