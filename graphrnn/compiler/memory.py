"""Memory planning: where every value of a lowered program lives.

- A computed value gets a buffer from a pool keyed by its symbolic shape and dtype; the
  buffer returns to the pool after the last use of everything that aliases it (views keep
  their base alive), so chains of elementwise ops run in place in one buffer.  A value read
  inside a loop but computed before it lives until the loop ends.
- The members of a ``stack`` (or first-axis ``concat``) in straight code are computed
  straight into slices of its buffer.
- A loop's role is stored as :mod:`.storage` decides (one buffer reused each iteration, a
  ring of the last few steps, or a stack of every step); a stacked role read as a run of
  steps (the stack of every ``h[t]``) is a view of its buffer, no copy.
- A peeled value that provides a role at its step is computed straight into that slot.

Shapes and step numbers are expressions of the symbols (``B``, ``T``); the plan is resolved
to arrays once per binding (:mod:`.runtime`).  What an op allows is read from its tables:
``op.numpy`` (written with ``out=`` into a planned buffer), ``op.inplace`` (arguments the
output may share), ``op.broadcasting``, ``op.view``, ``op.join``, ``op.source``.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

from .dims import evaluate
from .lower import Code, Instr, LoopCode
from .storage import PlanError, Storage, role_storage

__all__ = ["Plan", "plan_memory", "PlanError", "run_view"]


class Plan:
    """The memory plan: ``buffers`` (symbolic shape, dtype), ``fills`` (buffer -> value),
    per instruction ``out`` (("buf", b) / ("slot", box instr, index) / ("role",) / None),
    ``storage`` per role, ``elided`` broadcasts and container bookkeeping."""

    def __init__(self):
        self.buffers: List[Tuple[tuple, np.dtype]] = []
        self.fills: Dict[int, object] = {}
        self.out: Dict[int, tuple] = {}
        self.storage: Dict[int, Storage] = {}
        self.container: Dict[int, Tuple[int, int]] = {}   # member -> (box, index)
        self.box_buffer: Dict[int, int] = {}
        self.elided: set = set()
        self.copies: Dict[int, List[tuple]] = {}        # instr -> [(role, step)] to copy into
        self.fused_links = 0

    def memory_bytes(self, env: Mapping[str, int]) -> int:
        """Bytes of the planned buffers under ``env``."""
        return sum(int(np.prod([evaluate(d, env) for d in s])) * np.dtype(d).itemsize
                   for s, d in self.buffers)


def run_view(ins: Instr) -> bool:
    """A stack or first-axis concat of one run of a role's steps: a view of its storage."""
    return (_first_axis_join(ins) and len(ins.args) == 1 and ins.args[0][0] == "run")


def _first_axis_join(ins: Instr) -> bool:
    """A stack or concat along axis 0 (its members may live in slices of its buffer)."""
    return ins.op.join is not None and ins.attrs.get("axis") == 0


def _kind(ins: Instr) -> str:
    op = ins.op
    if op.source is not None:
        return "fill" if op.source == "fill" else "leaf"
    if op.view is not None or run_view(ins):
        return "view"
    return "out" if op.numpy is not None else "kernel"


def plan_memory(code: Code, env: Mapping[str, int], groups: Optional[dict] = None) -> Plan:
    """The plan of ``code``; ``env`` is a binding the program was built at (used to order
    step expressions); ``groups`` maps instruction ids in fused kernels to their group (a
    group runs as one call: its outputs get distinct buffers, its inner values none)."""
    plan = Plan()
    instrs = {i.id: i for i in code.instrs()}
    loops = {s.id: s for s in code.sequence if isinstance(s, LoopCode)}
    users: Dict[int, List[Instr]] = {i: [] for i in instrs}
    for ins in instrs.values():
        for a in ins.args:
            if a[0] == "v":
                users[a[1]].append(ins)
    outputs = {a[1] for a in code.outputs.values() if a[0] == "v"}
    kinds = {i: _kind(ins) for i, ins in instrs.items()}
    for i, ins in instrs.items():  # broadcasts left to the ufuncs that read them
        if ins.op.elidable and i not in outputs and users[i] and all(
                u.op.broadcasting for u in users[i]):
            plan.elided.add(i)
    _containers(code, plan, kinds, users)
    plan.storage.update(role_storage(code, env, loops))
    _assign(code, plan, kinds, users, outputs, loops, groups or {})
    return plan


def _containers(code: Code, plan: Plan, kinds, users) -> None:
    """Straight-code members computed straight into their stack / first-axis concat."""
    boxes = [s for s in code.sequence if isinstance(s, Instr) and _first_axis_join(s)
             and all(a[0] == "v" for a in s.args)]
    taken = plan.container
    for box in sorted(boxes, key=lambda b: -len(b.args)):  # the biggest saves the most
        ids = [a[1] for a in box.args]
        if len(set(ids)) != len(ids):
            continue
        members = [code_instr for code_instr in (_find(code, i) for i in ids)]
        if all(kinds[m.id] == "out" and m.id not in taken and m.args and m.loop is None
               and not m.provides and not _first_axis_join(m) for m in members):
            for k, m in enumerate(members):
                taken[m.id] = (box.id, k)


def _find(code: Code, i: int) -> Instr:
    if not hasattr(code, "_by_id"):
        code._by_id = {ins.id: ins for ins in code.instrs()}
    return code._by_id[i]


def _assign(code: Code, plan: Plan, kinds, users, outputs, loops, groups) -> None:
    """Positions, last uses, and the pool walk that gives every value its buffer."""
    fused = {i: ("out" if g.is_output(i) else "inner") for i, g in groups.items()}
    # ---- positions
    pos: Dict[int, int] = {}
    loop_end: Dict[int, int] = {}
    loop_start: Dict[int, int] = {}
    p = 0
    for s in code.sequence:
        if isinstance(s, LoopCode):
            loop_start[s.id] = p
            p += 1
            for ins in s.body:
                pos[ins.id] = p
                p += 1
            loop_end[s.id] = p
            p += 1
        else:
            pos[s.id] = p
            p += 1
    end = p
    for i, g in groups.items():  # a group runs where its last member stands
        pos[i] = pos[g.last]
    instrs = {i.id: i for i in code.instrs()}
    # ---- alias roots
    root: Dict[int, object] = {}
    boxes = {box for box, _ in plan.container.values()}
    for ins in code.instrs():
        if ins.id in boxes:  # a box whose members fill it
            root[ins.id] = ("box", ins.id)
        elif ins.id in plan.container:
            root[ins.id] = ("box", plan.container[ins.id][0])
        elif kinds[ins.id] == "view":
            a = ins.args[0]
            root[ins.id] = root[a[1]] if a[0] == "v" else ("role", a[1])
        elif ins.role is not None and plan.storage[ins.role].owns_buffer and (
                kinds[ins.id] == "out" or fused.get(ins.id) == "out"):
            root[ins.id] = ("role", ins.role)
        elif _provides_in_place(ins, kinds, plan):
            root[ins.id] = ("role", ins.provides[0][0])
        else:
            root[ins.id] = ins.id
    # ---- last uses (a value read in a loop it was not computed in lives to the loop's end)
    last: Dict[object, int] = {}

    def use(r, at):
        if isinstance(r, tuple) and r[0] == "role" and plan.storage[r[1]].kind == "alias":
            r = ("role", plan.storage[r[1]].of)  # an alias's slots are its viewed role's
        last[r] = max(last.get(r, -1), at)

    for ins in code.instrs():
        at = pos[ins.id]
        use(root[ins.id], at)
        for a in ins.args:
            if a[0] == "v":
                src = instrs[a[1]]
                reach = at if (ins.loop is None or src.loop == ins.loop) else loop_end[ins.loop]
                use(root[a[1]], reach)
            else:
                use(("role", a[1]), at if ins.loop is None else loop_end[ins.loop])
        for r, _ in ins.provides:
            use(("role", r), at)
    for role in code.roles:
        use(("role", role.id), loop_end[role.loop])
    for a in code.outputs.values():
        use(root[a[1]] if a[0] == "v" else ("role", a[1]), end)
    release_at: Dict[int, List[object]] = {}
    for r, at in last.items():
        release_at.setdefault(at, []).append(r)
    # ---- the pool walk
    pool: Dict[Tuple[tuple, str], List[int]] = {}
    owner: Dict[object, int] = {}

    def alloc(shape, dtype) -> int:
        free = pool.get((tuple(shape), np.dtype(dtype).str))
        if free:
            return free.pop()
        plan.buffers.append((tuple(shape), np.dtype(dtype)))
        return len(plan.buffers) - 1

    def release(roots):
        for r in roots:
            b = owner.pop(r, None)
            if b is not None and b not in plan.fills:
                shape, dtype = plan.buffers[b]
                pool.setdefault((shape, dtype.str), []).append(b)

    def role_buffer(r):
        key = ("role", r)
        if key not in owner:
            st, role = plan.storage[r], code.roles[r] if code.roles[r].id == r else None
            role = role or next(x for x in code.roles if x.id == r)
            if st.owns_buffer:
                owner[key] = st.buffer = alloc((st.size,) + tuple(role.shape), role.dtype)

    def walk(ins: Instr):
        group = groups.get(ins.id)
        if group is not None:
            if ins.id == group.last:  # the kernel's outputs, all at once, then releases
                for m in group.members:
                    place(instrs[m], in_place=False)
                release(release_at.get(pos[ins.id], ()))
            return
        place(ins, in_place=True)
        release(release_at.get(pos[ins.id], ()))

    def place(ins: Instr, in_place: bool):
        at = pos[ins.id]
        for r, _ in ins.provides:
            role_buffer(r)
        k = kinds[ins.id]
        if ins.id in fused and fused[ins.id] != "out":
            pass  # computed inside a fused kernel, no buffer of its own
        elif k == "fill":
            b = len(plan.buffers)
            plan.buffers.append((tuple(ins.shape), ins.node.dtype))
            plan.fills[b] = ins.node.attr("value")
            owner[root[ins.id]] = b
            plan.out[ins.id] = ("buf", b)
        elif k == "out" or (ins.id in fused and fused[ins.id] == "out"):
            r = root[ins.id]
            if ins.id in plan.container:
                box = plan.container[ins.id][0]
                if ("box", box) not in owner:
                    owner[("box", box)] = alloc(instrs[box].shape, instrs[box].node.dtype)
                    plan.box_buffer[box] = owner[("box", box)]
                plan.out[ins.id] = ("slot",) + plan.container[ins.id]
            elif isinstance(r, tuple) and r[0] == "role":
                role_buffer(r[1])
                plan.out[ins.id] = ("role",)
            elif isinstance(r, tuple) and r[0] == "box":
                if r not in owner:
                    owner[r] = alloc(ins.shape, ins.node.dtype)
                    plan.box_buffer[r[1]] = owner[r]
                plan.out[ins.id] = ("buf", plan.box_buffer[r[1]])
            else:
                if in_place:
                    _in_place_release(ins, at, root, last, owner, release)
                owner[r] = alloc(ins.shape, ins.node.dtype)
                plan.out[ins.id] = ("buf", owner[r])
        copies = [(r, s) for r, s in ins.provides if not _provides_in_place(ins, kinds, plan)]
        if ins.role is not None and plan.storage[ins.role].owns_buffer and \
                root[ins.id] != ("role", ins.role):
            copies.append((ins.role, ins.step))  # a view or a kernel's result: copied in
        if copies:
            plan.copies[ins.id] = copies

    for s in code.sequence:
        if isinstance(s, LoopCode):
            for role in code.roles:
                if role.loop == s.id:
                    role_buffer(role.id)
            release(release_at.get(loop_start[s.id], ()))
            for ins in s.body:
                walk(ins)
            release(release_at.get(loop_end[s.id], ()))
        else:
            walk(s)


def _provides_in_place(ins: Instr, kinds, plan: Plan) -> bool:
    """A peeled value computed straight into the one role slot it provides (a stacked role's:
    a ring's slot is overwritten by later steps while the value may still be read)."""
    return (len(ins.provides) == 1 and kinds[ins.id] == "out" and ins.id not in plan.container
            and ins.op.join is None
            and plan.storage[ins.provides[0][0]].kind == "stack")


def _in_place_release(ins: Instr, at, root, last, owner, release) -> None:
    """Let the result take the buffer of an argument that dies here (elementwise reuse)."""
    if any(a[0] == "run" for a in ins.args):
        return  # a run is reduced into the output first: no argument may share it
    allowed = ins.op.inplace
    shares = [allowed is True or k in allowed for k in range(len(ins.args))]
    later = {root[a[1]] for k, a in enumerate(ins.args) if a[0] == "v" and not shares[k]}
    dying = [root[a[1]] for k, a in enumerate(ins.args)
             if a[0] == "v" and shares[k] and root[a[1]] == a[1]
             and root[a[1]] not in later and last.get(root[a[1]]) == at and root[a[1]] in owner]
    release(dying)
