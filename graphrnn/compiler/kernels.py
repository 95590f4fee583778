"""Fused elementwise groups of a lowered program, for backends that compile kernels.

Each straight-code stretch between loops and each loop body is planned on its own by
:func:`.fusion.plan_fusion` (a loop body's group is one kernel that every iteration calls);
the instructions are reordered so each group's members are consecutive.
"""

from __future__ import annotations

from typing import Dict, List

from .fusion import plan_fusion
from .lower import Code, Instr, LoopCode

__all__ = ["Group", "fuse"]


class Group:
    """A fused group: member instruction ids in order; ``outputs`` are those read outside."""

    __slots__ = ("members", "outputs", "last")

    def __init__(self, members: List[int], outputs: List[int]):
        self.members, self.outputs, self.last = members, outputs, members[-1]

    def is_output(self, i: int) -> bool:
        return i in self.outputs


def fuse(code: Code) -> Dict[int, Group]:
    """Plan fused groups in every stretch of ``code`` (reordering it); instr id -> its group."""
    needed = _read_outside(code)
    groups: Dict[int, Group] = {}
    seq, stretch = [], []

    def flush():
        if stretch:
            seq.extend(_fuse_stretch(stretch, needed, groups))
            stretch.clear()

    for s in code.sequence:
        if isinstance(s, LoopCode):
            flush()
            s.body = _fuse_stretch(s.body, needed, groups)
            seq.append(s)
        else:
            stretch.append(s)
    flush()
    code.sequence = seq
    return groups


def _read_outside(code: Code) -> Dict[int, set]:
    """Per value, the instructions reading it (outputs, and the values of roles that other
    steps or loops read, count as outside; a role only its own iteration reads lives in
    the kernel's registers)."""
    refs = [a for ins in code.instrs() for a in ins.args] + list(code.outputs.values())
    read_roles = {a[1] for a in refs if a[0] in ("role", "run")}
    readers: Dict[int, set] = {}
    for ins in code.instrs():
        for a in ins.args:
            if a[0] == "v":
                readers.setdefault(a[1], set()).add(ins.id)
        if ins.role in read_roles or ins.provides:
            readers.setdefault(ins.id, set()).add(-1)  # a role slot others read
    for a in code.outputs.values():
        if a[0] == "v":
            readers.setdefault(a[1], set()).add(-1)
    return readers


def _fuse_stretch(instrs: List[Instr], readers, groups) -> List[Instr]:
    by_node = {ins.node: ins for ins in instrs}
    if len(by_node) != len(instrs):
        return instrs  # one node computed twice in a stretch: leave it unfused
    runs = {ins.node for ins in instrs if any(a[0] == "run" for a in ins.args)}
    order, planned = plan_fusion([ins.node for ins in instrs], exclude=runs)
    for g in planned:
        if len(g) < 1:
            continue
        ids = [by_node[n].id for n in g]
        inside = set(ids)
        outs = [i for i in ids if readers.get(i, set()) - inside]
        group = Group(ids, outs)
        for i in ids:
            groups[i] = group
    return [by_node[n] for n in order]
