"""The front end's symbols: the time index ``t``, recurrence variables (placeholder nodes of
the ``var`` op) and the error a malformed recurrence raises.

``h[t-1]`` works through the time index: indexing a node with a :class:`TimeIndex` calls
its ``select`` (see :mod:`graphrnn.core.expr`), which asks the variable's recurrence for the
placeholder ``k`` steps back.  Recurrences register here (weakly) so a placeholder can find
its recurrence from the id in its attributes.
"""

from __future__ import annotations

import itertools
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, Optional, Tuple, Union

import numpy as np

from ..core.ir import Node
from ..core.ops.registry import Op
from ..core.shapes import B

if TYPE_CHECKING:  # annotations only: the recurrence module imports this one
    from .recurrence import Recurrence

__all__ = ["RecurrenceError", "TimeIndex", "t", "at_time", "VAR", "Variable", "register"]


class RecurrenceError(ValueError):
    """A recurrence is ill-formed; the message names the variable or equation at fault."""


class TimeIndex:
    """The time symbol ``t``: ``h[t]`` is the current value, ``h[t-2]`` two steps back."""

    __slots__ = ("offset",)

    def __init__(self, offset: int = 0):
        self.offset = offset

    def __sub__(self, k: int) -> "TimeIndex":
        return TimeIndex(self.offset - int(k))

    def __add__(self, k: int) -> "TimeIndex":
        return TimeIndex(self.offset + int(k))

    def select(self, node: Node) -> Node:
        """``node[self]``: the recurrence variable ``node`` at this time offset."""
        if node.op is not VAR:
            raise TypeError(f"only recurrence variables are indexed by time, not {node!r}")
        return at_time(node, self)

    def __repr__(self):
        return "t" if self.offset == 0 else f"t{self.offset:+d}"


#: The time index used in equations: ``h[t-1]``, ``x[t]``.
t = TimeIndex(0)

_uid = itertools.count(1)
_LIVE: "weakref.WeakValueDictionary[int, Recurrence]" = weakref.WeakValueDictionary()


def register(rec: "Recurrence") -> int:
    """A fresh id for ``rec``, under which its variables' placeholders find it (weakly)."""
    uid = next(_uid)
    _LIVE[uid] = rec
    return uid


def at_time(node: Node, time: TimeIndex) -> Node:
    """``node[t-k]`` for a recurrence variable ``node`` (what ``h[t-1]`` calls)."""
    rec = _LIVE.get(node.attr("rec"))
    if rec is None:
        raise RecurrenceError(f"{node.name}: its recurrence no longer exists")
    var = rec.variables[node.attr("name")]
    return rec._at(var, node.attr("delay") - time.offset)


def _var_rule(*, rec, kind, name, delay, shape, dtype):
    return shape, dtype


def _var_kernel(xp, **attrs):
    raise RuntimeError(f"recurrence variable {attrs['name']!r} was not unrolled")


#: Placeholder op for recurrence variables (not in the op registry: it never reaches a kernel).
VAR = Op("var", _var_rule, _var_kernel, doc="a recurrence variable at a delay (placeholder)")


@dataclass
class Variable:
    """What a recurrence knows about one named sequence (input, state or output)."""
    kind: str                  # "input" | "state" | "output"
    name: str
    size: Tuple[int, ...]      # feature shape; the value at a step is (B, *size)
    dtype: np.dtype
    init: Union[str, Node] = "zeros"
    depth: Optional[int] = None   # initial values provided (None: any, for zeros)
    equation: Optional[Node] = None
    nodes: Dict[int, Node] = field(default_factory=dict)  # delay -> placeholder

    @property
    def shape(self):
        return (B,) + self.size

    def ref(self, delay: int = 0) -> str:
        return f"{self.name}[t]" if delay == 0 else f"{self.name}[t-{delay}]"




Node.prev = property(lambda self: self[t - 1], doc="a recurrence variable's previous value, "
                                                    "x[t-1]")
