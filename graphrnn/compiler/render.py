"""Rendering: a lowered, planned program as Python source over the backend's array module.

The source is a function ``program(I, P, BUF, V, SH, AT, Z)``: ``I``/``P`` the inputs and
parameters, ``BUF`` the planned buffers, ``V`` the planned views (slots of stacks, role slots
at a fixed step, runs of steps), ``SH`` the symbolic shapes and ``AT`` the kernels'
attributes resolved, ``Z`` the symbol sizes (``T = Z['T']``).  Straight code is one line
per value; a loop is a ``for t in range(...)`` whose body reads earlier steps' role values
straight from their slots (``BUF[3][t - 2]``).
Each line remembers the instruction it computes, so errors name the node and, in a loop,
the step.  Nothing here looks at rendered text again.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np

from .dims import as_poly, render as expr
from .lower import Code, Instr, LoopCode, T_VAR
from .emit import OpText, key_text
from .fusion import FusedKernel
from .memory import Plan, run_view

__all__ = ["Rendered", "render_program", "key_text"]


class Rendered:
    """Source lines (``lines``: (indent, text, instr or None)) and the tables they use."""

    def __init__(self):
        self.lines: List[Tuple[int, str, Optional[Instr]]] = []
        self.shapes: List[tuple] = []
        self.views: List[tuple] = []
        self.kernels: List[object] = []
        self.attrs: List[dict] = []
        self.consts: List[object] = []
        self.box_sizes: List[tuple] = []
        self.slot_lists: List[int] = []      # buffers whose slots loops read as list items
        self.fused_kernels: List[object] = []
        self.symbols: Tuple[str, ...] = ()
        self.defs: Dict[int, int] = {}      # value id -> line index that defines it
        self.uses: Dict[int, List[int]] = {}  # line index -> value ids it reads
        self.output_ids: List[int] = []


class _Writer(OpText):
    def __init__(self, code: Code, plan: Plan, fuse_groups, ufunc_reduce: bool):
        self.code, self.plan, self.r = code, plan, Rendered()
        self.ufunc_reduce = ufunc_reduce
        self.groups = fuse_groups or {}
        self.instrs = {i.id: i for i in code.instrs()}
        self.role_instr = {r.id: r.instr for r in code.roles}
        self.indent = 1
        self.slot_views: Dict[tuple, str] = {}
        #: values of straight code that are a planned buffer or view (``BUF[2]``, ``V[5]``)
        #: for the whole call: views of them are made with the plan; ``dense``: those of
        #: them known C-contiguous (a whole buffer, a reshape of one)
        self.fixed: Dict[int, str] = {}
        self.dense: set = set()
        self.kernel_ids: Dict[tuple, int] = {}
        self._box_sizes: Dict[int, int] = {}

    # -------------------------------------------------------------- tables
    def shape(self, shape) -> str:
        self.r.shapes.append(tuple(shape))
        return f"SH[{len(self.r.shapes) - 1}]"

    def view(self, desc) -> str:
        if desc in self.slot_views:
            return self.slot_views[desc]
        self.r.views.append(desc)
        text = f"V[{len(self.r.views) - 1}]"
        self.slot_views[desc] = text
        return text

    def emit(self, text: str, ins: Optional[Instr] = None, uses=()) -> None:
        self.r.lines.append((self.indent, text, ins))
        if ins is not None:
            idx = len(self.r.lines) - 1
            self.r.defs.setdefault(ins.id, idx)
            self.r.uses[idx] = list(uses)

    # -------------------------------------------------------------- references
    def role_slot(self, role: int, step) -> str:
        """The slot of ``role`` at ``step``: inline in a loop body (``BUF[3][t - 1]``), a
        planned view in straight code."""
        st = self.plan.storage[role]
        if st.kind == "alias":  # the view of the viewed role's slot
            return self.view_expr(self.role_instr[role], [self.role_slot(st.of, step)])
        step = as_poly(step)
        if T_VAR in step.symbols:
            if st.kind == "ring":
                return f"BUF[{self.slots(st.buffer)}][({expr(step)}) % {st.size}]"
            return f"BUF[{self.slots(st.buffer)}][{expr(st.slot(step))}]"
        return self.view(("at", st.buffer, st.slot(step), st.size if st.kind == "ring" else None))

    def slots(self, buffer: int) -> int:
        """Where a loop finds ``buffer``'s slots: a list of one view per slot, made with the
        plan and kept after the buffers in ``BUF`` (a list item costs a fraction of
        indexing the array at every step)."""
        if buffer not in self.r.slot_lists:
            self.r.slot_lists.append(buffer)
        return len(self.plan.buffers) + self.r.slot_lists.index(buffer)

    def run_view(self, role: int, first, last) -> str:
        st = self.plan.storage[role]
        return self.view(("run", st.buffer, st.slot(first), st.slot(last)))

    def arg(self, a) -> str:
        if a[0] == "v":
            return f"v{a[1]}"
        if a[0] == "role":
            return self.role_slot(a[1], a[2])
        return self.run_view(a[1], a[2], a[3])

    def out_of(self, ins: Instr) -> Optional[str]:
        o = self.plan.out.get(ins.id)
        if o is None:
            return None
        if o[0] == "buf":
            return f"BUF[{o[1]}]"
        if o[0] == "slot":
            box, idx = o[1], o[2]
            return self.view(("slot", self.plan.box_buffer[box], self._sizes(box), idx))
        if ins.loop is not None:
            return self.role_slot(ins.role, ins.step)
        role, step = ins.provides[0]
        return self.role_slot(role, step)

    def _sizes(self, box: int):
        ins = self.instrs[box]
        if ins.op.join != "existing":  # a stack's members are its slices [k]
            return None
        if box not in self._box_sizes:
            self.r.box_sizes.append(tuple(self.instrs[a[1]].shape[0] for a in ins.args))
            self._box_sizes[box] = len(self.r.box_sizes) - 1
        return self._box_sizes[box]

    def flat_view(self, out: str, shape) -> str:
        """``out`` (a buffer, planned view or inline slot) reshaped to ``shape``."""
        ref = _table_ref(out)
        if ref is not None:
            return self.view(("reshape", *ref, tuple(shape)))
        return f"{out}.reshape({self.shape(shape)})"

    # -------------------------------------------------------------- program
    def write(self) -> Rendered:
        r = self.r
        symbols = sorted(self.code.symbols)
        r.symbols = tuple(symbols)
        for s in self.code.sequence:
            if isinstance(s, LoopCode):
                self.loop(s)
            else:
                self.instr(s)
        outs = ", ".join(self.arg(a) for a in self.code.outputs.values())
        r.output_ids = [a[1] for a in self.code.outputs.values() if a[0] == "v"]
        self.emit(f"return ({outs},)")
        return r

    def loop(self, loop: LoopCode) -> None:
        d = loop.direction
        start, stop = as_poly(loop.start), as_poly(loop.stop) + d
        step = "" if d == 1 else ", -1"
        self.emit(f"for {T_VAR} in range({expr(start)}, {expr(stop)}{step}):")
        self.indent += 1
        for ins in loop.body:
            self.instr(ins)
        self.indent -= 1

    def instr(self, ins: Instr) -> None:
        group = self.groups.get(ins.id)
        if group is not None:
            if ins.id == group.last:
                self.fused(group)
            return
        source, v = ins.op.source, f"v{ins.id}"
        uses = [a[1] for a in ins.args if a[0] == "v"]
        args = [self.arg(a) for a in ins.args]
        if source == "input":
            self.emit(f"{v} = I[{ins.node.attr('name')!r}]", ins)
        elif source == "param":
            self.emit(f"{v} = P[{ins.node.attr('name')!r}]", ins)
        elif source == "const":
            self.r.consts.append(ins.op.kernel(np, **dict(ins.node.attrs)))
            self.emit(f"{v} = C[{len(self.r.consts) - 1}]", ins)
        elif source == "fill":
            self.emit(f"{v} = BUF[{self.plan.out[ins.id][1]}]", ins)
            if self.indent == 1:
                self.fixed[ins.id] = f"BUF[{self.plan.out[ins.id][1]}]"
                self.dense.add(ins.id)
        elif ins.op.view is not None or run_view(ins):
            base = self.fixed.get(uses[0]) if len(ins.args) == 1 and uses else None
            if base is not None and self.indent == 1 and self._aliases(ins, uses[0]):
                # a view of a planned array: made with the plan
                table, index = _table_ref(base)
                planned = self.view(("expr", table, index, self.view_expr(ins, ["x"])))
                self.fixed[ins.id] = planned
                if ins.op.view_copies == "strided":  # a reshape of a dense array
                    self.dense.add(ins.id)
                self.emit(f"{v} = {planned}", ins, uses)
            else:
                self.emit(f"{v} = {self.view_expr(ins, args)}", ins, uses)
        elif ins.id not in self.plan.out:  # a generic kernel: allocates its result
            self.kernel(ins, v, args, uses)
        else:
            out = self.out_of(ins)
            if out.startswith("BUF[") and out.count("[") > 1:  # a role slot in a loop body
                self.emit(f"{v} = {out}", ins)
                out = v
            text = self.op_text(ins, v, args, out)
            self.emit(text, ins, uses)
            self._note_fixed(ins.id, v, out, text)
        for role, step in self.plan.copies.get(ins.id, ()):
            self.emit(f"np.copyto({self.role_slot(role, step)}, {v})", ins, [ins.id])

    def _aliases(self, ins: Instr, base: int) -> bool:
        """Whether NumPy certainly makes ``ins``'s view expression a view of the value
        ``base``, not a copy (a copy made with the plan would be read at every call)."""
        copies = ins.op.view_copies
        return (copies is None or (copies == "scalar" and len(ins.shape) > 0)
                or (copies == "strided" and base in self.dense))

    def _note_fixed(self, vid: int, v: str, out: str, text: str) -> None:
        """Remember ``v`` as the planned array ``out`` when the line ``text`` (straight code)
        certainly leaves it so: ``v = out; ...``, ``...; v = out`` or ``v = np.f(..., out=out)``
        (a ufunc returns its ``out``)."""
        ref = _table_ref(out)
        if self.indent != 1 or ref is None:
            return
        head = f"{v} = {out}"
        code = text.split("  #")[0]
        if (code == head or code.startswith(head + ";") or code.endswith("; " + head)
                or (code.startswith(f"{v} = np.") and code.endswith(f"out={out})")
                    and ";" not in code)):
            self.fixed[vid] = out
            if ref[0] == "BUF":  # a whole buffer
                self.dense.add(vid)

    def kernel(self, ins: Instr, v, args, uses) -> None:
        self.r.kernels.append(ins.node.op.kernel)
        call = f"K[{len(self.r.kernels) - 1}](xp, {', '.join(args)}, **AT[{len(self.r.attrs)}]"
        if ins.node.op.wants_shape:
            call += f", shape={self.shape(ins.shape)}"
        self.r.attrs.append(dict(ins.attrs))
        self.emit(f"{v} = {call})", ins, uses)

    def fused(self, group) -> None:
        """One fused kernel call for ``group``: outputs bound to their buffers or slots
        first, then ``E[k](inputs..., outputs...)``; groups that fuse to the same code
        (every step of a loop, every layer) share one kernel."""
        members = [self.instrs[i] for i in group.members]
        needed = {self.instrs[i].node for i in group.outputs}
        kernel = FusedKernel(f"grnn_k{len(self.r.fused_kernels)}", [m.node for m in members],
                             needed)
        text = (kernel.in_params, kernel.out_params, kernel.operation)
        k = self.kernel_ids.get(text)
        if k is None:
            k = self.kernel_ids[text] = len(self.r.fused_kernels)
            self.r.fused_kernels.append(kernel)
        ref_of = {}
        for m in members:
            for node, ref in zip(m.node.args, m.args):
                ref_of.setdefault(node, ref)
        by_node = {m.node: m for m in members}
        outs = []
        for o in kernel.outputs:
            ins = by_node[o]
            out = self.out_of(ins)
            outs.append(f"v{ins.id} = {out}")
            self._note_fixed(ins.id, f"v{ins.id}", out, outs[-1])
        call = ", ".join([self.arg(ref_of[n]) for n in kernel.inputs]
                         + [f"v{by_node[o].id}" for o in kernel.outputs])
        uses = [r[1] for r in ref_of.values() if r[0] == "v" and r[1] not in group.members]
        ops = " ".join(m.op.name for m in members)
        self.emit("; ".join(outs + [f"E[{k}]({call})"]) + f"  # fused: {ops}", members[-1], uses)
        for m in members:
            self.r.defs.setdefault(m.id, len(self.r.lines) - 1)
            for role, step in self.plan.copies.get(m.id, ()):
                self.emit(f"np.copyto({self.role_slot(role, step)}, v{m.id})", m, [m.id])


def _table_ref(text: str) -> Optional[Tuple[str, int]]:
    """``("BUF", 2)`` for ``"BUF[2]"`` and ``("V", 5)`` for ``"V[5]"``: a planned array
    itself; None for anything else (a slot in a loop body, ``BUF[3][t - 1]``, a variable)."""
    for table in ("BUF", "V"):
        if text.startswith(table + "[") and text.endswith("]") and text.count("[") == 1:
            return table, int(text[len(table) + 1:-1])
    return None


def render_program(code: Code, plan: Plan, fuse_groups=None, ufunc_reduce=True) -> Rendered:
    """The source lines and tables of ``code`` under ``plan``."""
    return _Writer(code, plan, fuse_groups, ufunc_reduce).write()
