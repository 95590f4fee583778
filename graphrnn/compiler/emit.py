"""Writing one instruction as Python over the array module, from its op's table: a view's
expression (``op.view``), or the statement computing it into its planned buffer
(``op.numpy``: a ufunc name, a template or a callable given an :class:`Emission`).  Only
what belongs to the compiler is decided here: stacks and concats whose members were
computed in their slots, or that are one run of a role's steps, are no computation."""

from __future__ import annotations

from ..core.ops.shape_ops import format_key
from .dims import as_poly, render as expr
from .lower import Instr

__all__ = ["Emission", "OpText", "key_text"]


def key_text(key) -> str:
    """Python subscript text for a symbolic index key (``[t - 1, :, ::-1]``); whole axes at
    the end are left out (``[t - 1]``, not ``[t - 1, :, :]``: the same view, and an integer
    index is several times cheaper than a tuple of slices)."""
    while len(key) > 1 and key[-1][0] == "a":
        key = key[:-1]
    return format_key(key, expr)


class Emission:
    """What an op's NumPy entry (``op.numpy``, ``op.view``) writes one instruction from.

    ``v`` names the result, ``args`` are the arguments' texts, ``out`` the planned output
    (a buffer, a planned view or a role slot; None for views), ``attrs`` the attributes
    (time indices resolved), ``shape`` the result's symbolic shape, ``dtype`` its dtype,
    ``ufunc_reduce`` whether reductions may use ``np.<ufunc>.reduce`` (NumPy; CuPy has
    reduction functions instead) and ``elided`` whether this view is left to users that
    broadcast (see ``op.elidable``)."""

    __slots__ = ("v", "args", "out", "attrs", "shape", "dtype", "ufunc_reduce", "elided",
                 "_ins", "_writer")

    def __init__(self, writer, ins: Instr, v: str, args, out):
        self.v, self.args, self.out, self.attrs = v, list(args), out, ins.attrs
        self.shape, self.dtype, self.ufunc_reduce = ins.shape, ins.node.dtype, writer.ufunc_reduce
        self.elided = ins.id in writer.plan.elided
        self._ins, self._writer = ins, writer

    def sh(self, shape) -> str:
        """The program's text for a symbolic shape (an entry of its shape table)."""
        return self._writer.shape(shape)

    def key(self, key) -> str:
        """Subscript text for an index key (``[t - 1, :]``)."""
        return key_text(key)

    def is_run(self, i: int) -> bool:
        """True when argument ``i`` is a run of a role's steps: one array, stacked on a new
        first axis."""
        return self._ins.args[i][0] == "run"

    def arg_shape(self, i: int) -> tuple:
        """The symbolic shape of argument ``i`` (a run's with its leading steps axis)."""
        return self._writer.arg_shape(self._ins.args[i])

    def flat(self, out: str, shape) -> str:
        """``out`` viewed with ``shape`` (``-1`` allowed), as text."""
        return self._writer.flat_view(out, shape)


class OpText:
    """The emission of one instruction from its op's table; mixed into the renderer, which
    provides ``plan``, ``instrs``, ``code``, ``shape()``, ``flat_view()`` and
    ``ufunc_reduce``."""

    def view_expr(self, ins: Instr, args) -> str:
        """The expression of a view instruction (an op's ``view``, or a join of one run)."""
        op, a = ins.op, args[0]
        if op.view is None:  # a stack / first-axis concat of one run: its storage
            if op.join == "new":
                return f"{a}  # the steps, stored in place"
            return f"{a}.reshape({self.shape(ins.shape)})  # the steps, stored in place"
        return op.view(Emission(self, ins, f"v{ins.id}", args, None))

    def op_text(self, ins: Instr, v, args, out) -> str:
        """The statement computing ``ins`` into ``out``, naming the result ``v``."""
        op = ins.op
        if op.join and self.placed(ins):
            return f"{v} = {out}  # its steps were computed in place"
        if isinstance(op.numpy, str):
            if "{" not in op.numpy:
                return f"{v} = np.{op.numpy}({', '.join(args)}, out={out})"
            return op.numpy.format(*args, v=v, out=out, **ins.attrs)
        return op.numpy(Emission(self, ins, v, args, out))

    def placed(self, ins: Instr) -> bool:
        """True when every argument of the join ``ins`` was computed in its slot."""
        box = [a[0] == "v" and self.plan.container.get(a[1], (None,))[0] == ins.id
               for a in ins.args]
        return bool(box) and all(box)

    def arg_shape(self, a) -> tuple:
        """The symbolic shape of reference ``a`` (a run's with its leading steps axis)."""
        if a[0] == "v":
            return self.instrs[a[1]].shape
        role = next(r for r in self.code.roles if r.id == a[1])
        if a[0] == "role":
            return role.shape
        n = as_poly(a[3]) - a[2]
        return (n,) + tuple(role.shape)  # sign irrelevant for ranks
