"""Lowering: a rolled program (:mod:`.loops`) as a structured instruction list.

An :class:`Instr` computes one value: its node (op, dtype, origin: what errors name), its
arguments as references, its symbolic shape and attributes (time indices resolved to
expressions of the step, ``t - 1`` in a loop body), the step it belongs to, and the role it
fills when it is a loop body's value.  References are:

- ``("v", id)``: the value of instruction ``id`` (straight code, or earlier in this body);
- ``("role", r, step)``: role ``r``'s value at ``step`` (an expression; ``t - 1`` reads the
  previous iteration);
- ``("run", r, first, last)``: role ``r``'s values at steps ``first..last`` as one array
  (stacked along a new first axis, in that order).

A :class:`LoopCode` holds the body of one loop over ``t``.  Nothing here decides where a
value lives; :mod:`.memory` does, and :mod:`.render` writes the source.
"""

from __future__ import annotations

from typing import Dict, List, Union

from .dims import Poly, as_poly
from .rolled import Item, Rolled

__all__ = ["Instr", "LoopCode", "Code", "Role", "lower", "T_VAR"]

#: the loop variable: the time step of the current iteration
T_VAR = "t"


class Instr:
    """One value of the program (see the module docstring)."""

    __slots__ = ("id", "node", "args", "shape", "attrs", "step", "role", "provides", "loop")

    def __init__(self, id, node, args, shape, attrs, step=None, role=None, loop=None):
        self.id, self.node, self.args, self.shape = id, node, tuple(args), tuple(shape)
        self.attrs, self.step, self.role, self.loop = dict(attrs), step, role, loop
        self.provides: List[tuple] = []

    @property
    def op(self):
        """The node's :class:`~graphrnn.core.ops.Op` (its tables say how to emit it)."""
        return self.node.op

    def __repr__(self):
        return f"<Instr v{self.id} = {self.op.name} {self.args}>"


class LoopCode:
    """``for t in first..last`` (``direction`` -1: downwards) over ``body``."""

    __slots__ = ("id", "first", "last", "direction", "body")

    def __init__(self, id, first, last, direction, body):
        self.id, self.first, self.last, self.direction, self.body = (id, first, last,
                                                                    direction, body)

    @property
    def start(self):
        return self.first if self.direction > 0 else self.last

    @property
    def stop(self):
        return self.last if self.direction > 0 else self.first


class Role:
    """A loop's per-step value: its loop, the body instruction computing it, shape, dtype."""

    __slots__ = ("id", "loop", "instr", "shape", "dtype", "node")

    def __init__(self, id, loop, instr):
        self.id, self.loop, self.instr = id, loop, instr
        self.shape, self.dtype, self.node = instr.shape, instr.node.dtype, instr.node


class Code:
    """The lowered program: ``sequence`` of :class:`Instr` and :class:`LoopCode`, its
    ``roles``, ``outputs`` (name -> reference) and the graph it came from."""

    def __init__(self, graph, sequence, roles, outputs, symbols=()):
        self.graph, self.sequence, self.roles, self.outputs = graph, sequence, roles, outputs
        self.symbols = tuple(symbols)   # the length symbols (e.g. ("T",)) of a generic program

    def instrs(self):
        """Every instruction, bodies included, in program order."""
        for s in self.sequence:
            if isinstance(s, LoopCode):
                yield from s.body
            else:
                yield s


def _key(key, step) -> tuple:
    """A (possibly relative) index key with time entries as expressions of ``step``."""
    out = []
    for k in key:
        if k[0] == "ti":
            out.append(("i", as_poly(step) + k[1]))
        elif k[0] == "ts":
            out.append(("s", as_poly(step) + k[1], None if k[2] is None else as_poly(step) + k[2],
                        k[3]))
        else:
            out.append(k)
    return tuple(out)


def _attrs(attrs, step) -> dict:
    return {k: (_key(v, step) if k == "key" else v) for k, v in attrs}


def lower(rolled: Rolled, symbols=()) -> Code:
    """The instruction list of ``rolled`` (see the module docstring)."""
    seq: List[Union[Instr, LoopCode]] = []
    next_id = 1 + max((s.id for s in rolled.sequence if isinstance(s, Item)), default=-1)
    role_objs: Dict[int, Role] = {}
    for s in rolled.sequence:
        if isinstance(s, Item):
            ins = Instr(s.id, s.node, [_ref(a) for a in s.args], s.shape,
                        _attrs(s.attrs, s.tau), s.tau)
            ins.provides = list(s.provides)
            seq.append(ins)
            continue
        body: List[Instr] = []
        t = Poly.sym(T_VAR)
        this: Dict[int, Instr] = {}  # role -> its value in this iteration, once computed
        for op in s.body:
            step = t - op.shift
            args = []
            for a in op.args:
                if a[0] == "l":
                    args.append(("v", body[a[1]].id))
                elif a[0] == "r" and a[2] == 0 and a[1] in this:
                    args.append(("v", this[a[1]].id))  # this iteration's value
                elif a[0] == "r":
                    args.append(("role", a[1], step - a[2]))
                else:
                    args.append(_ref(a))
            ins = Instr(next_id, op.node, args, op.shape, _attrs(op.attrs, step), step,
                        op.role, s.id)
            next_id += 1
            body.append(ins)
            if op.role is not None:
                this[op.role] = ins
                role_objs[op.role] = Role(op.role, s.id, ins)
        seq.append(LoopCode(s.id, s.first, s.last, s.direction, body))
    outputs = {k: _ref(v) for k, v in rolled.outputs.items()}
    return Code(rolled.graph, seq, [role_objs[r] for r in sorted(role_objs)], outputs, symbols)


def _ref(a):
    if a[0] == "r":
        return ("role", a[1], a[2])
    return a
