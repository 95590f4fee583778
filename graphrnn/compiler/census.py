"""How many array-library calls a compiled program makes per time step.

Where arrays are small, a step costs what its calls cost (about a microsecond each on
NumPy), so the count per loop iteration is the figure the compiler's passes work to lower.
It is read from the generated source: every call of the array module (``np.add(...)``), of
an op's own kernel (``K[i](...)``) and of a fused kernel (``E[i](...)``) in a loop body.
"""

from __future__ import annotations

import re
from typing import List, NamedTuple

__all__ = ["LoopCalls", "calls_per_step"]

_CALL = re.compile(r"\bnp\.[A-Za-z_][\w.]*\(|\b[KE]\[\d+\]\(")
_LOOP = re.compile(r"^(\s*)for t in range\((.*)\):\s*$")


class LoopCalls(NamedTuple):
    """One loop of a program: ``direction`` ("forward" in time or "backward"), its ``range``
    as written, and ``calls`` per iteration."""
    direction: str
    range: str
    calls: int


def calls_per_step(source: str) -> List[LoopCalls]:
    """The loops of generated ``source``, in order, with the calls one iteration makes."""
    out: List[LoopCalls] = []
    lines = source.splitlines()
    i = 0
    while i < len(lines):
        m = _LOOP.match(lines[i])
        i += 1
        if not m:
            continue
        indent, calls = len(m.group(1)), 0
        while i < len(lines) and (not lines[i].strip()
                                  or len(lines[i]) - len(lines[i].lstrip()) > indent):
            calls += len(_CALL.findall(lines[i]))
            i += 1
        backward = re.search(r",\s*-1\s*$", m.group(2)) is not None
        out.append(LoopCalls("backward" if backward else "forward", m.group(2), calls))
    return out
