"""Elementwise fusion for kernel backends: groups of elementwise nodes become one kernel.

On the GPU every elementwise op is a kernel launch and a round trip through memory, so the
compiler groups connected elementwise nodes of one shape (an LSTM cell's gate math, the
chain of products in its backward step) and generates one CUDA kernel per group: its
inputs are read once, its intermediates live in registers, and every value the rest of the
program needs is written out (a group has as many outputs as it must).

- :func:`plan_fusion` picks the groups from a schedule and reorders the schedule so each
  group's members are consecutive (a group is emitted where its last member stood);
- :class:`FusedKernel` is one group as CUDA: ``in_params``/``out_params``/``operation`` for
  ``cupy.ElementwiseKernel`` (which broadcasts its inputs), a standalone ``source`` that
  ``nvcc`` compiles (with a host entry point, so the same code can be checked on a CPU),
  and :meth:`FusedKernel.evaluate`, the group run op by op with NumPy.

On NumPy, fusion means something else: chains run in place in one buffer (see
:mod:`graphrnn.compiler`); this module is used by backends that compile kernels.
"""

from __future__ import annotations

import heapq
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..core.ir import Node
from ..transforms.passes.rewrite import constant_value

__all__ = ["FusedKernel", "plan_fusion", "fusable", "C_TYPES", "kernels_source"]

#: NumPy dtype -> (CuPy parameter type, C++ type) for values a fused kernel handles.
C_TYPES = {"float32": ("float32", "float"), "float64": ("float64", "double"),
           "bool": ("bool", "bool"), "int32": ("int32", "int"),
           "int64": ("int64", "long long"), "int8": ("int8", "signed char"),
           "uint8": ("uint8", "unsigned char")}


def fusable(n: Node) -> bool:
    """True when ``n`` can be computed inside a fused kernel."""
    return (n.op.elementwise and n.op.cuda is not None and n.dtype.name in C_TYPES
            and all(a.dtype.name in C_TYPES for a in n.args))


def _literal(n: Node) -> Optional[str]:
    """C++ text for ``n`` when it is a known finite scalar (``0.5f``), else None."""
    v = constant_value(n)
    if v is None or v.ndim != 0:
        return None
    kind = n.dtype.kind
    if kind == "b":
        return "true" if bool(v) else "false"
    if kind in "iu":
        return f"{C_TYPES[n.dtype.name][1]}({int(v)})"
    x = float(v)
    if not math.isfinite(x):
        return None
    return f"{x!r}f" if n.dtype == np.float32 else f"{x!r}"


# ---------------------------------------------------------------------------- planning
#: How far (in scheduled nodes) a node may stand from a group and still join it.
WINDOW = 64


def plan_fusion(nodes: Sequence[Node], exclude=frozenset()) -> Tuple[List[Node], List[List[Node]]]:
    """Group fusable nodes and reorder ``nodes`` (a topological order) to keep groups together.

    A node joins the groups of its arguments (merging them) when it has their shape, stood
    near them in the schedule (within ``WINDOW`` nodes: a backward factor such as
    ``1 - tanh(c)**2`` fused into the forward kernel would be stored from the forward to the
    backward pass instead of computed where it is used) and nothing outside the merged group
    both needs a member and is needed by one (so it stays convex: one kernel runs it).
    Returns ``(order, groups)``: every group's members are consecutive in ``order``, in
    topological order; single nodes are groups of one.  Arguments outside ``nodes`` (a loop
    body reading an earlier step) count as computed before them; nodes in ``exclude`` stay
    unfused.
    """
    pos = {n: i for i, n in enumerate(nodes)}
    group_of: Dict[Node, int] = {}
    groups: List[List[Node]] = []
    for n in nodes:
        if not fusable(n) or n in exclude:
            continue
        joined = [n]
        cands = [g for g in dict.fromkeys(group_of[a] for a in n.args if a in group_of)
                 if groups[g][0].shape == n.shape and pos[n] - pos[groups[g][-1]] <= WINDOW]
        taken = []
        for g in sorted(cands, key=lambda g: -len(groups[g])):  # the biggest first
            trial = joined + groups[g]
            if _convex(trial, pos, group_of, groups):
                joined, taken = trial, taken + [g]
        gid = taken[0] if taken else len(groups)
        if not taken:
            groups.append([])
        for g in taken[1:]:
            groups[g] = []  # merged into gid
        joined.sort(key=pos.__getitem__)  # the schedule's order is a topological one
        groups[gid] = joined
        for m in joined:
            group_of[m] = gid
    groups = [g for g in groups if g]
    group_of = {m: i for i, g in enumerate(groups) for m in g}
    return _reorder(nodes, pos, group_of, groups), groups


def _convex(members: List[Node], pos: Dict[Node, int], group_of: Dict[Node, int],
            groups: List[List[Node]]) -> bool:
    """True when nothing outside ``members`` both needs a member and is needed by one, so one
    kernel can run them all.  Other groups count as the single kernels they will be: reaching
    one member of a group reaches what any of its members reads."""
    inside = set(members)
    floor = min(pos[m] for m in members)
    stack = [a for m in members for a in m.args if a not in inside and a.args]
    seen = set(stack)
    expanded = set()
    while stack:
        x = stack.pop()
        if x in inside:
            return False
        nxt = list(x.args)
        g = group_of.get(x)
        if g is not None and g not in expanded and not inside.issuperset(groups[g]):
            expanded.add(g)
            nxt += [a for m in groups[g] for a in m.args]
        for a in nxt:
            # below the floor only a group reaching above it can lead back (a node's
            # arguments come before it in the schedule)
            if a not in seen and (pos.get(a, -1) >= floor or (
                    a in group_of and pos[groups[group_of[a]][-1]] >= floor)):
                seen.add(a)
                stack.append(a)
    return True


def _reorder(nodes, pos, group_of, groups) -> List[Node]:
    """A topological order of the groups (and other nodes), each placed as late as its
    last member was: Kahn's algorithm on the condensed graph, earliest original place first."""
    unit = {n: ("g", group_of[n]) if n in group_of else ("n", pos[n]) for n in nodes}
    key: Dict[tuple, int] = {}
    for n in nodes:
        u = unit[n]
        key[u] = max(key.get(u, -1), pos[n])
    preds: Dict[tuple, set] = {u: set() for u in key}
    succs: Dict[tuple, list] = {u: [] for u in key}
    for n in nodes:
        u = unit[n]
        for a in n.args:
            v = unit.get(a)  # None: computed outside these nodes
            if v is not None and v != u and v not in preds[u]:
                preds[u].add(v)
                succs[v].append(u)
    missing = {u: len(p) for u, p in preds.items()}
    heap = [(key[u], u) for u, k in missing.items() if k == 0]
    heapq.heapify(heap)
    order: List[Node] = []
    while heap:
        _, u = heapq.heappop(heap)
        order.extend(groups[u[1]] if u[0] == "g" else [nodes[u[1]]])
        for v in succs[u]:
            missing[v] -= 1
            if missing[v] == 0:
                heapq.heappush(heap, (key[v], v))
    if len(order) != len(nodes):  # pragma: no cover - plan_fusion keeps groups convex
        raise RuntimeError("fusion made a cycle")
    return order


# ---------------------------------------------------------------------------- kernels
class FusedKernel:
    """One fused group as a CUDA elementwise kernel.

    ``inputs`` are the outside nodes it reads (in argument order), ``outputs`` the members
    the rest of the program needs; ``steps`` the computation, one member per step."""

    def __init__(self, name: str, members: Sequence[Node], needed: set):
        self.name = name
        inside = {m: i for i, m in enumerate(members)}
        self.inputs: List[Node] = []
        self.outputs: List[Node] = [m for m in members if m in needed]
        index: Dict[Node, int] = {}
        self.steps: List[tuple] = []  # (op, refs, attrs) refs: ("in", i) ("t", j) ("lit", value)
        lines: List[str] = []
        for j, m in enumerate(members):
            refs, texts = [], []
            for a in m.args:
                if a in inside:
                    refs.append(("t", inside[a]))
                    texts.append(f"t{inside[a]}")
                    continue
                lit = _literal(a)
                if lit is not None:
                    refs.append(("lit", np.asarray(constant_value(a), dtype=a.dtype)))
                    texts.append(lit)
                    continue
                if a not in index:
                    index[a] = len(self.inputs)
                    self.inputs.append(a)
                refs.append(("in", index[a]))
                texts.append(f"x{index[a]}")
            self.steps.append((m.op, refs, dict(m.attrs)))
            ctype = C_TYPES[m.dtype.name][1]
            lines.append(f"const {ctype} t{j} = {_expression(m, texts, ctype)};")
        self._out_steps = [inside[o] for o in self.outputs]  # the step computing each output
        lines += [f"y{k} = t{j};" for k, j in enumerate(self._out_steps)]
        self._members = len(members)
        self.operation = "\n".join(lines)
        self.in_params = ", ".join(f"{C_TYPES[a.dtype.name][0]} x{i}"
                                   for i, a in enumerate(self.inputs))
        self.out_params = ", ".join(f"{C_TYPES[o.dtype.name][0]} y{k}"
                                    for k, o in enumerate(self.outputs))
        self.input_dtypes = [a.dtype for a in self.inputs]
        self.output_dtypes = [o.dtype for o in self.outputs]
        #: the C++ type of each argument, inputs then outputs (what host loops cast to)
        self.c_types = [C_TYPES[d.name][1] for d in self.input_dtypes + self.output_dtypes]

    def __repr__(self):
        return (f"<FusedKernel {self.name}: {self._members} ops, {len(self.input_dtypes)} "
                f"inputs, {len(self.output_dtypes)} outputs>")

    def drop_nodes(self) -> None:
        """Forget the graph nodes (what a program that dropped its graph keeps is the code)."""
        self.inputs = self.outputs = None

    @property
    def source(self) -> str:
        """Standalone CUDA C++ for this kernel: a ``__host__ __device__`` body, a
        ``__global__`` kernel over contiguous arrays and an ``extern "C"`` host loop."""
        ins, outs = self.input_dtypes, self.output_dtypes
        params = [f"const {C_TYPES[d.name][1]} x{i}" for i, d in enumerate(ins)]
        params += [f"{C_TYPES[d.name][1]} &y{k}" for k, d in enumerate(outs)]
        ptrs = [f"const {C_TYPES[d.name][1]} *x{i}" for i, d in enumerate(ins)]
        ptrs += [f"{C_TYPES[d.name][1]} *y{k}" for k, d in enumerate(outs)]
        call = ", ".join([f"x{i}[i]" for i in range(len(ins))]
                         + [f"y{k}[i]" for k in range(len(outs))])
        body = "\n".join("    " + ln for ln in self.operation.splitlines())
        return (f"GRNN_HD inline void {self.name}_body({', '.join(params)}) {{\n"
                f"{body}\n}}\n"
                f"#ifdef __CUDACC__\n"
                f"__global__ void {self.name}({', '.join(ptrs)}, long long n) {{\n"
                f"    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;\n"
                f"    if (i < n) {self.name}_body({call});\n}}\n"
                f"#endif\n"
                f"extern \"C\" void {self.name}_host({', '.join(ptrs)}, long long n) {{\n"
                f"    for (long long i = 0; i < n; ++i) {self.name}_body({call});\n}}\n")

    def evaluate(self, xp, *inputs, shape=None):
        """The group run op by op with the ops' own kernels (a reference for the CUDA code);
        inputs are broadcast to ``shape`` (by default, to one another) like the kernel's."""
        if shape is None:
            shape = np.broadcast_shapes(*(np.shape(a) for a in inputs))
        inputs = [xp.broadcast_to(a, shape) for a in inputs]
        temps: List[object] = []
        for op, refs, attrs in self.steps:
            args = [inputs[r[1]] if r[0] == "in" else temps[r[1]] if r[0] == "t"
                    else xp.asarray(r[1]) for r in refs]
            temps.append(op.kernel(xp, *args, **attrs))
        return [xp.broadcast_to(xp.asarray(temps[j], dtype=d), shape)
                for j, d in zip(self._out_steps, self.output_dtypes)]


def _expression(n: Node, args: List[str], ctype: str) -> str:
    """The C++ expression computing ``n`` from argument texts, from its op's ``cuda`` entry:
    a template (placeholders: the arguments, the attributes, ``{T}`` the C++ type), an n-ary
    infix operator (no placeholders: ``add_n``'s ``"+"``) or a callable writing it."""
    cuda = n.op.cuda
    if callable(cuda):
        return cuda(n, args, ctype)
    if "{" not in cuda:
        return f" {cuda} ".join(args)
    return cuda.format(*args, T=ctype, **dict(n.attrs))


_PRELUDE = """// generated by graphrnn: fused elementwise kernels
#ifdef __CUDACC__
#define GRNN_HD __host__ __device__
#else  // a host-only compiler: the same bodies, run by the host loops, always inlined into
       // them (a loop calling a body it did not inline does not run in SIMD lanes)
#define GRNN_HD __attribute__((always_inline))
#include <cmath>
using std::exp; using std::log; using std::log1p; using std::tanh; using std::sqrt; using std::pow;
#endif
"""


def kernels_source(kernels: Sequence[FusedKernel]) -> str:
    """One CUDA translation unit holding every kernel (what ``nvcc`` is given to check)."""
    return _PRELUDE + "\n".join(k.source for k in kernels)
