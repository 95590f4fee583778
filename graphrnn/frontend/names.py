"""Names in an unrolled recurrence: every input, parameter and output has its own.

Unrolling generates names from the declared ones (``h_final``, ``h0``, ``mask``); a declared
name, or a parameter or input node used in an equation, that equals one of them would make
two things one value (an output replaced, a parameter shared).  :class:`Recurrence` refuses
such names when they are declared; :func:`check_leaf_names` refuses them, at unroll, among
the leaves the equations and initial values use.
"""

from __future__ import annotations

from typing import Dict

from ..core.ir import Node, dtype_name, toposort
from ..core.shapes import format_shape
from .variables import RecurrenceError

__all__ = ["generated_names", "check_leaf_names"]


def generated_names(var) -> Dict[str, str]:
    """The names unrolling gives a variable's derived values, each with what it is:
    ``<s>_final`` (a state's final value, a graph output) and ``<v>0`` (a learned initial
    value, a parameter, or one given at call time, an input)."""
    out = {}
    if var.kind == "state":
        out[f"{var.name}_final"] = f"the final value of state {var.name!r}"
    if isinstance(var.init, str) and var.init in ("param", "input"):
        what = "learned initial value" if var.init == "param" else "initial-value input"
        out[f"{var.name}0"] = f"the {what} of {var.kind} {var.name!r} (init={var.init!r})"
    return out


def check_leaf_names(rec, mask: bool = False) -> None:
    """Refuse a parameter or input node, used in an equation or an initial value of ``rec``,
    whose name something else in the unrolled graph has (a variable, a generated name such
    as ``h0`` or ``h_final``, the ``mask`` input when ``mask``, another leaf): the two would
    silently become one value.  Raises ``RecurrenceError`` naming both."""
    taken = dict(rec._names)
    if mask:
        if "mask" in taken:
            raise RecurrenceError(f"{rec.name}: name collision: {taken['mask']} and the "
                                  f"padding-mask input of unroll(mask=True) would both be "
                                  f"named 'mask'; rename it")
        taken["mask"] = "the padding-mask input of unroll(mask=True)"
    seen: Dict[str, Node] = {}
    uses = [(root, f"the {part} of {v.kind} {v.name!r}") for v in rec.variables.values()
            for root, part in ((v.equation, "equation"), (v.init, "initial value"))
            if isinstance(root, Node)]
    for root, where in uses:
        for n in toposort([root]):
            if not n.op.bound:
                continue
            name = n.attr("name")
            if seen.setdefault(name, n) is not n:
                raise RecurrenceError(
                    f"{rec.name}: two different leaves are named {name!r}: "
                    f"{seen[name].label()} and {n.label()} (in {where}); rename one")
            if rec.params.get(name) is n:
                continue
            owner = taken.get(name)
            if owner is not None:
                raise RecurrenceError(
                    f"{rec.name}: name collision: {n.op.source} {name!r} "
                    f"{dtype_name(n.dtype)}{format_shape(n.shape)}, used in {where}, and "
                    f"{owner} would both be named {name!r} in the unrolled graph; rename one")
