"""Where a loop's roles live, decided from how they are read.

- ``local``: only the same iteration reads it: one buffer, reused every iteration;
- ``ring``: only the last ``d`` steps are read (the recurrence's ``h[t - 1]``, the final state
  after the loop): ``d + 1`` slots, slot ``step % (d + 1)``;
- ``stack``: anything else (the backward pass reading every forward step, a run of steps
  stacked as an output): one slot per step, slot ``step - base``, over every step read,
  computed or provided;
- ``alias``: a view of another role of its iteration (one gate's slice of the activations
  of all gates): no storage of its own, its slot is the view of the other role's slot,
  whose storage serves the reads of both.

Steps are expressions of the lengths; their order is taken at the binding the program was
built at and checked to hold for every larger length.
"""

from __future__ import annotations

from typing import Dict, List, Mapping

from .dims import Poly, as_poly
from .lower import Code, LoopCode

__all__ = ["Storage", "role_storage", "PlanError"]


class PlanError(Exception):
    """The roles' steps cannot be laid out (a generic program falls back to fixed lengths)."""


class Storage:
    """Where a role lives: ``kind`` local/ring/stack/alias, its buffer, ``size`` slots and,
    for a stack, ``base`` (the step of slot 0); for an alias, ``of``: the role it views."""

    __slots__ = ("kind", "buffer", "size", "base", "of")

    def __init__(self, kind, size=None, base=None, of=None):
        self.kind, self.size, self.base, self.buffer, self.of = kind, size, base, None, of

    @property
    def owns_buffer(self) -> bool:
        """True for a ring or a stack: slots of a buffer of its own (a local value lives in
        the pool's buffers, an alias in its viewed role's slots)."""
        return self.kind in ("ring", "stack")

    def slot(self, step):
        """The slot of ``step`` as an expression (ring: taken modulo at run time)."""
        if self.kind == "stack":
            return as_poly(step) - self.base
        return as_poly(step)


def _extreme(values, env, lowest: bool):
    """The least (``lowest``) or greatest of step expressions, for every size at least as
    large as in ``env`` (checked: the others stay on the same side as the sizes grow)."""
    values = [as_poly(v) for v in values]
    best = min(values, key=lambda v: v(env)) if lowest else max(values, key=lambda v: v(env))
    for v in values:
        diff = (v - best) if lowest else (best - v)
        if diff(env) < 0 or any(c < 0 for m, c in diff.terms if m):
            raise PlanError(f"cannot order steps {best} and {v} for every length")
    return best


def role_storage(code: Code, env: Mapping[str, int], loops) -> Dict[int, Storage]:
    """Local / ring / stack for every role of ``code``, from how it is read; ``env`` is a
    binding the program was built at (to order step expressions), ``loops`` its loops by id."""
    out: Dict[int, Storage] = {}
    reads: Dict[int, List[tuple]] = {r.id: [] for r in code.roles}
    for ins in code.instrs():
        for a in ins.args:
            if a[0] == "role":
                reads[a[1]].append(("loop", ins.loop, a[2]) if ins.loop is not None
                                   else ("at", a[2]))
            elif a[0] == "run":
                reads[a[1]].append(("run", a[2], a[3]))
    for a in code.outputs.values():
        if a[0] == "role":
            reads[a[1]].append(("at", a[2]))
        elif a[0] == "run":
            reads[a[1]].append(("run", a[2], a[3]))
    provided: Dict[int, List] = {r.id: [] for r in code.roles}
    for ins in code.instrs():
        for r, step in ins.provides:
            provided[r].append(step)
    for role, base in _aliases(code, reads, provided).items():
        out[role] = Storage("alias", of=base)
        reads[base] += reads[role]
    for role in code.roles:
        if role.id not in out:
            out[role.id] = _storage(reads[role.id], provided[role.id], loops[role.loop],
                                    loops, env)
    return out


def _aliases(code: Code, reads, provided) -> Dict[int, int]:
    """Roles that are a view (with no time index) of one other role of the same iteration,
    read only step by step and computed only by the loop: role -> the role it views."""
    role_of = {r.instr.id: r.id for r in code.roles}
    out = {}
    for role in code.roles:
        ins = role.instr
        vargs = [a for a in ins.args if a[0] != "v" or a[1] in role_of]
        if (ins.op.view is None or ins.op.marker or ins.op.elidable or len(ins.args) != 1 or len(vargs) != 1
                or vargs[0][0] != "v" or provided[role.id] or not reads[role.id]
                or any(rd[0] == "run" for rd in reads[role.id]) or _timed(ins.attrs)):
            continue
        base = role_of[vargs[0][1]]
        if base not in out:  # not a view of a view (its base would be resolved first)
            out[role.id] = base
    return out


def _timed(value) -> bool:
    """True when an attribute holds a step expression (``x[t - 1]``)."""
    if isinstance(value, Poly):
        return bool(value.symbols)
    if isinstance(value, dict):
        return any(_timed(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return any(_timed(v) for v in value)
    return False


def _storage(reads, provided, loop: LoopCode, loops, env) -> Storage:
    """The storage of one role (see :func:`_role_storage`)."""
    if not reads:
        return Storage("local")
    t = Poly.sym("t")
    depth, ring = 0, True  # a ring: the last few steps, if nothing reads further back
    for rd in reads:
        if rd[0] == "loop" and rd[1] == loop.id:
            back = (t - rd[2]) * loop.direction
        elif rd[0] == "at":
            back = (as_poly(loop.stop) - rd[1]) * loop.direction
        else:
            back = None
        if back is None or not back.is_const or back.constant < 0 or (
                rd[0] == "loop" and back.constant == 0):
            ring = False
        else:
            depth = max(depth, back.constant)
    if ring:
        return Storage("ring", size=depth + 1)
    steps = [loop.first, loop.last] + list(provided)
    for rd in reads:
        if rd[0] == "loop":
            other = loops[rd[1]]
            steps += [as_poly(rd[2]).subs({"t": other.first}),
                      as_poly(rd[2]).subs({"t": other.last})]
        elif rd[0] == "at":
            steps.append(rd[1])
        else:
            steps += [rd[1], rd[2]]
    base = _extreme(steps, env, lowest=True)
    top = _extreme(steps, env, lowest=False)
    return Storage("stack", size=as_poly(top) - base + 1, base=base)
