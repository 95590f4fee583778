"""Graph -> Program: optimize, linearize, plan memory, generate Python source, compile once.

A :class:`Program` is the graph as straight-line Python over the backend's array functions,
writing into preallocated buffers (``out=``) so a call allocates next to nothing:

- every computed value gets a buffer from a pool keyed by its (symbolic) shape and dtype;
  a buffer returns to the pool after the last use of every value that aliases it (views
  keep their base alive), so chains of elementwise ops (a cell's gate math) run in place in
  one buffer: NumPy's form of elementwise fusion;
- the steps of a ``stack`` (and of a ``concat`` along the first axis) are computed straight
  into slices of the stacked buffer, so stacking per-step states costs nothing;
- views (indexing, reshapes, transposes, broadcasts) are never copied.

Buffers are planned per binding of the symbolic sizes (per batch size) and cached; the
generated source is the same for every batch size and is shown by ``program.source``.

Backends that compile kernels (CuPy) get fused elementwise groups instead of in-place
chains: each group is one generated kernel (:mod:`graphrnn.fusion`), called from the
program as ``E[k](inputs..., outputs...)``; ``program.cuda_source`` shows their CUDA.
"""

from __future__ import annotations

import builtins
import re
import time
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

from .backends import Backend, get_backend
from .evaluate import EvaluationError, bind_values
from .fusion import FusedKernel, kernels_source, plan_fusion
from .ir import Graph, Node, compact_intern, gc_paused
from .ops.shape_ops import IndexKey
from .passes import optimize
from .shapes import resolve

__all__ = ["compile", "Program"]

_UFUNC = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide",
          "neg": "negative", "exp": "exp", "log": "log", "tanh": "tanh", "square": "square",
          "sqrt": "sqrt", "greater": "greater", "less": "less", "greater_equal": "greater_equal",
          "less_equal": "less_equal", "equal": "equal", "not_equal": "not_equal",
          "logical_not": "logical_not", "logical_and": "logical_and", "logical_or": "logical_or"}
_VIEWS = {"index", "reshape", "transpose", "broadcast_to", "stop_gradient", "recompute"}
_OUT_OPS = set(_UFUNC) | {"relu", "sigmoid", "pow", "matmul", "add_n", "where", "cast", "sum",
                          "max", "sum_to_shape", "stack", "concat", "unindex"}
# ops whose emitted code broadcasts its arguments itself (NumPy ufunc semantics)
_BROADCASTING = set(_UFUNC) | {"relu", "sigmoid", "pow", "add_n", "where"}
# output may share memory with these argument positions (multi-step emissions)
_INPLACE = {"add_n": (0, 1), "where": (2,), "sigmoid": (0,), "relu": (0,), "pow": (0,)}


def _py(v) -> str:
    """A Python literal for a simple attribute value."""
    return repr(tuple(v)) if isinstance(v, tuple) else repr(v)


def _key_literal(key) -> str:
    """Python subscript text for a normalized index key (``[0, :, ::-1]``)."""
    return repr(IndexKey(key))


def schedule(graph: Graph) -> List[Node]:
    """A topological order that keeps values alive briefly: depth-first from the outputs,
    visiting the deepest argument first, so a long chain (the backward pass through time) is
    computed before the short side computations that feed each of its steps (a recomputed
    activation is produced right before its use, not all at the start)."""
    depth: Dict[Node, int] = {}
    for n in graph.nodes:
        depth[n] = 1 + max((depth[a] for a in n.args), default=0)
    order: List[Node] = []
    done = set()
    for root in graph.outputs.values():
        if root in done:
            continue
        stack = [(root, sorted(set(root.args), key=lambda a: -depth[a]), 0)]
        while stack:
            n, kids, i = stack[-1]
            if i < len(kids):
                stack[-1] = (n, kids, i + 1)
                k = kids[i]
                if k not in done:
                    done.add(k)
                    stack.append((k, sorted(set(k.args), key=lambda a: -depth[a]), 0))
                continue
            stack.pop()
            if n not in done or n is root:
                done.add(n)
            order.append(n)
    return list(dict.fromkeys(order))


class _Lowering:
    """Turns an optimized graph into source lines plus a symbolic buffer plan."""

    def __init__(self, graph: Graph, fuse: bool = False, ufunc_reduce: bool = True):
        self.graph = graph
        self.nodes = schedule(graph)
        self.ufunc_reduce = ufunc_reduce
        self.group_of: Dict[Node, List[Node]] = {}
        self.fused: List[FusedKernel] = []
        self._kernel_ids: Dict[tuple, int] = {}
        if fuse:
            self.nodes, groups = plan_fusion(self.nodes)
            for g in groups:
                for m in g:
                    self.group_of[m] = g
        self.order = self.nodes
        self.pos = {n: i for i, n in enumerate(self.nodes)}
        self.lines: List[str] = []
        self.buffers: List[Tuple[tuple, np.dtype]] = []     # symbolic shape, dtype
        self.views: List[Tuple[str, tuple]] = []            # ("slot"|"reshape", data)
        self.shapes: List[tuple] = []                       # symbolic shapes used in code
        self.kernels: List[object] = []
        self.attrs: List[dict] = []
        self.consts: List[object] = []
        self.fills: List[int] = []                          # buffers holding fills
        self.fill_values: Dict[int, object] = {}
        self.box_sizes: List[tuple] = []                    # first-axis sizes per concat
        self._box_sizes: Dict[Node, int] = {}
        self.fused_chains = 0
        self._plan()
        self._emit()
        # the analysis is only needed while emitting: let it go
        del self.graph, self.pos, self.users, self.root, self.last, self.container, self.outputs
        del self._box_sizes, self.group_of, self._kernel_ids

    # ------------------------------------------------------------ analysis
    def _plan(self):
        nodes, pos = self.nodes, self.pos
        users: Dict[Node, List[Node]] = {n: [] for n in nodes}
        for n in nodes:
            for a in dict.fromkeys(n.args):
                users[a].append(n)
        self.users = users
        # members computed straight into a stack / first-axis concat
        self.container: Dict[Node, Tuple[Node, int]] = {}
        boxes = [n for n in nodes if n.op.name in ("stack", "concat") and n.attr("axis") == 0]
        for n in sorted(boxes, key=lambda b: -len(b.args)):  # the biggest saves the most
            if len(set(n.args)) != len(n.args):
                continue
            # members write into slots; a first-axis container is not itself a member
            if all(a.op.name in _OUT_OPS and a not in self.container and a.args
                   and not (a.op.name in ("stack", "concat") and a.attr("axis") == 0)
                   for a in n.args):
                for i, a in enumerate(n.args):
                    self.container[a] = (n, i)
        # alias roots: views share their argument's storage; members share the container's
        root: Dict[Node, Node] = {}
        for n in nodes:
            if n.op.name in _VIEWS:
                root[n] = root[n.args[0]]
            elif n in self.container:
                root[n] = self.container[n][0]
            else:
                root[n] = n
        for n in nodes:  # containers are their own roots even if listed after members
            if n.op.name in ("stack", "concat") and any(self.container.get(a, (None,))[0] is n
                                                       for a in n.args):
                root[n] = n
        self.root = root
        outputs = set(self.graph.outputs.values())
        self.outputs = outputs
        end = len(nodes)
        last: Dict[Node, int] = {}
        for n in nodes:
            r = root[n]
            mine = end if n in outputs else max((pos[u] for u in users[n]), default=pos[n])
            last[r] = max(last.get(r, -1), mine)
        self.last = last

    # ------------------------------------------------------------ emission
    def _shape(self, shape) -> str:
        self.shapes.append(tuple(shape))
        return f"S[{len(self.shapes) - 1}]"

    def _view(self, kind: str, data: tuple) -> str:
        self.views.append((kind, data))
        return f"V[{len(self.views) - 1}]"

    def _emit(self):
        pool: Dict[Tuple[tuple, str], List[int]] = {}
        owner: Dict[Node, int] = {}          # root node -> buffer id
        release_at: Dict[int, List[Node]] = {}
        for r, i in self.last.items():
            release_at.setdefault(i, []).append(r)
        name = {n: f"v{i}" for n, i in self.pos.items()}
        ln = self.lines

        def alloc(n: Node) -> int:
            key = (n.shape, n.dtype.str)
            free = pool.get(key)
            if free:
                return free.pop()
            self.buffers.append((n.shape, n.dtype))
            return len(self.buffers) - 1

        def release(roots):
            for r in roots:
                b = owner.pop(r, None)
                if b is not None and b not in self.fills:
                    pool.setdefault((self.buffers[b][0], self.buffers[b][1].str), []).append(b)

        chain_prev = None
        pending: List[Node] = []  # releases held until a fused group has run
        for i, n in enumerate(self.nodes):
            group = self.group_of.get(n)
            if group is not None:
                pending.extend(release_at.get(i, ()))
                if n is group[-1]:
                    self._emit_group(group, name, owner, alloc)
                    release(pending)
                    pending = []
                continue
            op, v = n.op.name, name[n]
            args = [name[a] for a in n.args]
            if op == "input":
                ln.append(f"{v} = I[{n.attr('name')!r}]")
                continue
            if op == "param":
                ln.append(f"{v} = P[{n.attr('name')!r}]")
                continue
            if op == "const":
                value = n.op.kernel(np, **dict(n.attrs))
                self.consts.append(value)
                ln.append(f"{v} = C[{len(self.consts) - 1}]")
                continue
            if op == "fill":
                b = len(self.buffers)
                self.buffers.append((n.shape, n.dtype))
                self.fills.append(b)
                self.fill_values[b] = n.attr("value")
                ln.append(f"{v} = B[{b}]")
                continue
            if op in _VIEWS:
                a = args[0]
                if op == "index":
                    ln.append(f"{v} = {a}{_key_literal(n.attr('key'))}")
                elif op == "reshape":
                    ln.append(f"{v} = {a}.reshape({self._shape(n.shape)})")
                elif op == "transpose":
                    ln.append(f"{v} = {a}.transpose({_py(n.attr('axes'))})")
                elif op == "broadcast_to" and n not in self.outputs and all(
                        u.op.name in _BROADCASTING for u in self.users[n]):
                    ln.append(f"{v} = {a}  # broadcast by its ufunc users")
                elif op == "broadcast_to":
                    ln.append(f"{v} = np.broadcast_to({a}, {self._shape(n.shape)})")
                else:
                    ln.append(f"{v} = {a}")
                continue
            if op not in _OUT_OPS:  # generic kernel: allocates its result
                self.kernels.append(n.op.kernel)
                kw = dict(n.attrs)
                call = f"K[{len(self.kernels) - 1}](np, {', '.join(args)}, **A[{len(self.attrs)}]"
                if n.op.wants_shape:
                    call += f", shape={self._shape(n.shape)}"
                self.attrs.append(kw)
                ln.append(f"{v} = {call})")
                release(release_at.get(i, ()))
                continue
            # ---- ops that write into a buffer
            if n in self.container:
                out = self._slot_of(n, owner, alloc)
            else:
                inplace = _INPLACE.get(op, tuple(range(len(n.args))) if op in _UFUNC else ())
                # storage read by a later step of a multi-step emission must not be overwritten
                later = {self.root[a] for k, a in enumerate(n.args) if k not in inplace}
                dying = [a for k, a in enumerate(n.args) if k in inplace and a not in later
                         and self.root[a] is a and self.last.get(a) == i and a in owner]
                release(dying)  # an argument dying here may lend its buffer to the result
                if n.op.name in ("stack", "concat") and n in owner:
                    out = f"B[{owner[n]}]"
                else:
                    owner[n] = alloc(n)
                    out = f"B[{owner[n]}]"
            # chains of elementwise ops sharing a buffer: note them in the source
            if n.op.elementwise and chain_prev is not None and chain_prev in n.args \
                    and len(self.users[chain_prev]) == 1:
                self.fused_chains += 1
            chain_prev = n if n.op.elementwise else None
            self._emit_op(n, op, v, args, out)
            release(release_at.get(i, ()))
        outs = ", ".join(name[n] for n in self.graph.outputs.values())
        ln.append(f"return ({outs},)")

    def _emit_op(self, n: Node, op: str, v: str, args: List[str], out: str):
        ln = self.lines
        if op in _UFUNC:
            ln.append(f"{v} = np.{_UFUNC[op]}({', '.join(args)}, out={out})")
        elif op == "relu":
            ln.append(f"{v} = np.maximum({args[0]}, 0, out={out})")
        elif op == "sigmoid":  # 1/(1+e^-x) = (1 + tanh(x/2)) / 2: stable, in place
            ln.append(f"{v} = np.multiply({args[0]}, 0.5, out={out}); np.tanh({v}, out={v}); "
                      f"np.multiply({v}, 0.5, out={v}); np.add({v}, 0.5, out={v})")
        elif op == "pow":
            ln.append(f"{v} = np.power({args[0]}, {n.attr('exponent')!r}, out={out})")
        elif op == "add_n":
            ln.append(f"{v} = np.add({args[0]}, {args[1]}, out={out})"
                      + "".join(f"; np.add({v}, {a}, out={v})" for a in args[2:]))
        elif op == "where":
            ln.append(f"{v} = {out}; np.copyto({v}, {args[2]}); "
                      f"np.copyto({v}, {args[1]}, where={args[0]})")
        elif op == "cast":
            ln.append(f"{v} = {out}; np.copyto({v}, {args[0]}, casting='unsafe')")
        elif op == "matmul":
            a, b = n.args
            if a.ndim > 2 and b.ndim == 2:  # one GEMM over all leading rows
                k, m = a.shape[-1], n.shape[-1]
                flat = self._view_of(out, (-1, m))
                ln.append(f"np.matmul({args[0]}.reshape({self._shape((-1, k))}), {args[1]}, "
                          f"out={flat}); {v} = {out}")
            else:
                ln.append(f"{v} = np.matmul({args[0]}, {args[1]}, out={out})")
        elif op in ("sum", "max"):
            if self.ufunc_reduce:  # NumPy: the ufunc's reduce skips a wrapper
                fn = "add.reduce" if op == "sum" else "maximum.reduce"
            else:  # CuPy: its reduction kernels
                fn = "sum" if op == "sum" else "amax"
            ln.append(f"{v} = np.{fn}({args[0]}, axis={_py(n.attr('axes'))}, "
                      f"keepdims={n.attr('keepdims')}, out={out})")
        elif op == "sum_to_shape":
            g, shape = n.args[0], n.shape
            lead = g.ndim - len(shape)
            axes = tuple(range(lead)) + tuple(lead + j for j, d in enumerate(shape)
                                              if d == 1 and g.shape[lead + j] != 1)
            kept = self._view_of(out, (1,) * lead + tuple(shape))
            fn = "add.reduce" if self.ufunc_reduce else "sum"
            ln.append(f"np.{fn}({args[0]}, axis={axes!r}, keepdims=True, out={kept}); "
                      f"{v} = {out}")
        elif op in ("stack", "concat"):
            placed = [self.container.get(a, (None,))[0] is n for a in n.args]
            if all(placed):
                ln.append(f"{v} = {out}  # its steps were computed in place")
            else:
                fn = "stack" if op == "stack" else "concatenate"
                ln.append(f"{v} = np.{fn}(({', '.join(args)},), axis={n.attr('axis')}, out={out})")
        elif op == "unindex":
            ln.append(f"{v} = {out}; {v}.fill(0); {v}{_key_literal(n.attr('key'))} = {args[0]}")
        else:  # pragma: no cover - every _OUT_OPS entry is handled above
            raise NotImplementedError(op)

    def _slot_of(self, n: Node, owner, alloc) -> str:
        """The planned view of ``n``'s slot in its stack / first-axis concat (``V[k]``)."""
        box, idx = self.container[n]
        if box not in owner:
            owner[box] = alloc(box)
        # a slot is described by sizes, not nodes, so a Program holds no graph
        sizes = None
        if box.op.name == "concat":
            if box not in self._box_sizes:
                self.box_sizes.append(tuple(a.shape[0] for a in box.args))
                self._box_sizes[box] = len(self.box_sizes) - 1
            sizes = self._box_sizes[box]
        return self._view("slot", (owner[box], sizes, idx))

    def _emit_group(self, group: List[Node], name: Dict[Node, str], owner, alloc):
        """One fused kernel for ``group``: its outputs get buffers (or stack slots) first,
        so no output shares memory with an input the kernel still reads."""
        members = set(group)
        needed = {m for m in group if m in self.outputs
                  or any(u not in members for u in self.users[m])}
        kernel = FusedKernel(f"grnn_k{len(self.fused)}", group, needed)
        # every step of a recurrence fuses into the same code: one kernel serves them all
        text = (kernel.in_params, kernel.out_params, kernel.operation)
        k = self._kernel_ids.get(text)
        if k is None:
            k = self._kernel_ids[text] = len(self.fused)
            self.fused.append(kernel)
        outs = []
        for m in kernel.outputs:
            if m in self.container:
                outs.append(f"{name[m]} = {self._slot_of(m, owner, alloc)}")
            else:
                owner[m] = alloc(m)
                outs.append(f"{name[m]} = B[{owner[m]}]")
        call = ", ".join([name[a] for a in kernel.inputs] + [name[m] for m in kernel.outputs])
        ops = " ".join(m.op.name for m in group)
        self.lines.append("; ".join(outs + [f"E[{k}]({call})"])
                          + f"  # fused: {ops}")

    def _view_of(self, out: str, shape) -> str:
        """A planned reshaped view of the buffer or slot ``out`` (``B[k]`` or ``V[j]``)."""
        table, index = out[0], int(out[2:-1])
        return self._view("reshape", (table, index, tuple(shape)))


#: Lines per generated function: Python's compiler needs memory superlinear in a function's
#: size, so long programs are split into parts that hand values over through a dict.
PART_LINES = 1500
_DEF = re.compile(r"(?:^|; )(v\d+) = ")
_USE = re.compile(r"\bv(\d+)\b")


def _assemble(lines: List[str], header: str, scope: dict, name: str):
    """Compile ``lines`` into ``scope["program"]``; returns the full source and, per part, the
    line offset of its body in that source (for error messages)."""
    chunks = [lines[i:i + PART_LINES] for i in range(0, len(lines), PART_LINES)] or [[]]
    if len(chunks) == 1:
        text = "def program(I, P, B, V, S):\n" + header + "\n" + "".join(
            "    " + ln + "\n" for ln in lines)
        exec(builtins.compile(text, f"<graphrnn program {name} #0>", "exec"), scope)
        return text, [0]
    defined_in: Dict[int, int] = {}
    for k, chunk in enumerate(chunks):
        for ln in chunk:
            for m in _DEF.finditer(ln):
                defined_in.setdefault(int(m.group(1)[1:]), k)
    later_use: Dict[int, int] = {}
    for k, chunk in enumerate(chunks):
        for ln in chunk:
            for m in _USE.finditer(ln):
                later_use[int(m.group(1))] = max(later_use.get(int(m.group(1)), -1), k)
    handed: Dict[int, List[int]] = {}  # chunk -> values it defines for later chunks
    for v, d in sorted(defined_in.items()):
        if later_use.get(v, d) > d:
            handed.setdefault(d, []).append(v)
    driver = ["def program(I, P, B, V, S):", header, "    R = {}"]
    driver += [f"    {'return ' if k == len(chunks) - 1 else ''}part{k}(I, P, B, V, S, R)"
               for k in range(len(chunks))]
    texts, offsets = ["\n".join(driver) + "\n"], []
    exec(builtins.compile(texts[0], f"<graphrnn program {name} driver>", "exec"), scope)
    total = texts[0].count("\n")
    for k, chunk in enumerate(chunks):
        uses = sorted({int(m.group(1)) for ln in chunk for m in _USE.finditer(ln)})
        loads = [f"    v{v} = R[{v}]" for v in uses if defined_in.get(v, k) < k]
        stores = [f"    R[{v}] = v{v}" for v in handed.get(k, ())]
        body = [f"def part{k}(I, P, B, V, S, R):"] + loads + ["    " + ln for ln in chunk] + stores
        text = "\n".join(body) + "\n"
        offsets.append(total)
        exec(builtins.compile(text, f"<graphrnn program {name} #{k}>", "exec"), scope)
        texts.append(text)
        total += text.count("\n")
    return "".join(texts), offsets


class _Signature:
    """The name, inputs and parameters of a graph: what calls are checked against."""

    def __init__(self, graph: Graph):
        self.name, self.inputs, self.params = graph.name, dict(graph.inputs), dict(graph.params)


class Program:
    """A compiled graph: ``program(inputs, params)`` -> dict of output arrays.

    ``program.source`` is the generated Python; ``program.report`` what the passes did;
    ``program.graph`` the optimized graph.  Results are fresh arrays unless ``copy=False``,
    which returns views of the program's buffers, valid until its next call.

    ``cuda_graph=True`` (CuPy) captures the whole call as a CUDA graph on the first call per
    batch size and replays it afterwards: inputs and parameters are copied into arrays the
    program owns, and no Python runs per kernel.
    """

    def __init__(self, graph: Graph, level: str = "O2", backend="numpy", keep_graph: bool = True,
                 cuda_graph: bool = False):
        t0 = time.perf_counter()
        self.cuda_graph = cuda_graph
        self._replays: Dict[tuple, tuple] = {}
        # what a call is checked against: the graph as written (its leaves, not its nodes)
        self.source_graph = _Signature(graph)
        self.backend = get_backend(backend)
        if cuda_graph and type(self.backend).capture is Backend.capture:
            raise ValueError(f"cuda_graph=True needs a backend that captures CUDA graphs "
                             f"(backend='cupy'), not {self.backend.name!r}")
        self.graph, self.report = optimize(graph, level, report=True)
        with gc_paused():
            low = _Lowering(self.graph, fuse=self.backend.fuses_elementwise,
                            ufunc_reduce=self.backend.ufunc_reduce)
        self._low = low
        #: the fused elementwise kernels (on backends that compile kernels), in call order
        self.kernels: List[FusedKernel] = low.fused
        fused = (f"{len(low.fused)} fused kernel{'' if len(low.fused) == 1 else 's'}"
                 if self.backend.fuses_elementwise
                 else f"{low.fused_chains} fused elementwise links")
        header = (f"    # {self.graph.name}: {len(self.graph)} nodes, {len(low.buffers)} buffers, "
                  + fused)
        # constants live where the program runs (CuPy refuses host arrays as operands)
        consts = [self.backend.asarray(c) for c in low.consts]
        scope = {"np": self.backend.xp, "K": low.kernels, "A": low.attrs, "C": consts,
                 "E": self.backend.make_kernels(low.fused) if low.fused else []}
        self.source, self._parts = _assemble(low.lines, header, scope, self.graph.name)
        self._fn = scope["program"]
        del low.lines  # the source says it all; the list of lines would double it
        self._names = list(self.graph.outputs)
        self._plans: Dict[tuple, tuple] = {}
        self._order = low.nodes if keep_graph else None
        del low.nodes, low.order
        if not keep_graph:  # long unrollings: keep only what calls need
            self.graph = _Signature(self.graph)
            for k in self.kernels:
                k.drop_nodes()
        self.compile_seconds = time.perf_counter() - t0

    def _plan(self, env: Dict[str, int]):
        key = tuple(sorted(env.items()))
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        xp, low = self.backend.xp, self._low
        compact_intern()  # the graph that was compiled is usually gone by the first call
        bufs = [xp.empty(resolve(shape, env), dtype=dtype) for shape, dtype in low.buffers]
        for b, value in low.fill_values.items():
            bufs[b].fill(value)
        shapes = [resolve(s, env) for s in low.shapes]
        views: List[object] = []
        starts: Dict[int, List[int]] = {}  # row offsets of each concat's members
        for kind, data in low.views:
            if kind == "slot":
                b, sizes, idx = data
                views.append(self._slot(bufs[b], sizes, idx, env, starts, low.box_sizes))
            else:
                table, index, shape = data
                base = bufs[index] if table == "B" else views[index]
                dims_ = [d for d in shape if d != -1]
                views.append(base.reshape((-1,) * (len(shape) - len(dims_))
                                          + resolve(tuple(dims_), env)))
        plan = self._plans[key] = (bufs, views, shapes)
        return plan

    @staticmethod
    def _slot(base, box: Optional[int], idx: int, env, starts: Dict[int, List[int]],
              box_sizes: List[tuple]):
        """Member ``idx`` of a stack (``base[idx]``) or of first-axis concat ``box`` (its rows)."""
        if box is None:
            return base[idx]
        offsets = starts.get(box)
        if offsets is None:  # prefix sums once per concat, not once per member
            offsets = [0]
            for d in box_sizes[box]:
                offsets.append(offsets[-1] + resolve((d,), env)[0])
            starts[box] = offsets
        return base[offsets[idx]:offsets[idx + 1]]

    def __call__(self, inputs: Optional[Mapping] = None, params: Optional[Mapping] = None,
                 dims: Optional[Mapping[str, int]] = None, copy: bool = True) -> Dict[str, object]:
        """Run the program; inputs and parameters are checked like :func:`graphrnn.evaluate`."""
        # checked against the graph as written: passes may drop leaves (a weight that only
        # multiplies a zero initial state), but the call signature stays the same
        values, env = bind_values(self.source_graph, self.backend, inputs, params, dims)
        bufs, views, shapes = self._plan(env)
        try:
            if self.cuda_graph:
                outs = self._replay(env, values, bufs, views, shapes)
            else:
                outs = self._fn(values, values, bufs, views, shapes)
        except Exception as e:
            raise EvaluationError(f"program {self.graph.name!r}, {self._where(e)}: "
                                  f"{type(e).__name__}: {e}") from e
        if copy:
            outs = [o.copy() for o in outs]
        return dict(zip(self._names, outs))

    def _replay(self, env, values, bufs, views, shapes):
        """One call as a replay of the captured graph for this binding (captured first)."""
        key = tuple(sorted(env.items()))
        if key not in self._replays:
            staged = {k: v.copy() for k, v in values.items()}  # the addresses the graph reads
            launch, outs = self.backend.capture(
                lambda: self._fn(staged, staged, bufs, views, shapes))
            self._replays[key] = (staged, launch, outs)
        else:
            staged, launch, outs = self._replays[key]
            for k, v in values.items():
                self.backend.xp.copyto(staged[k], v)
        launch()
        return outs

    def _where(self, e: BaseException) -> str:
        """The generated line (and the node it computes) where ``e`` was raised."""
        tb, line = e.__traceback__, None
        while tb is not None:
            name = tb.tb_frame.f_code.co_filename
            if name.startswith("<graphrnn program") and "#" in name:  # "... NAME #k>"
                line = self._parts[int(name.rsplit("#", 1)[1][:-1])] + tb.tb_lineno
            tb = tb.tb_next
        if line is None:
            return "before its first line"
        text = self.source.splitlines()[line - 1].strip()
        var = text.split(" = ")[0].strip()
        nodes = self._order
        node = nodes[int(var[1:])] if nodes is not None and var[1:].isdigit() else None
        where = f"line {line}: {text}"
        if node is not None:
            where += f"  [{node.label()}" + (f", t={node.step}" if node.step is not None else "") \
                + (f", from {node.origin}" if node.origin else "") + "]"
        return where

    @property
    def cuda_source(self) -> str:
        """The CUDA source of the program's fused kernels ("" on backends that do not fuse)."""
        return kernels_source(self.kernels) if self.kernels else ""

    def memory_bytes(self, dims: Mapping[str, int]) -> int:
        """Bytes of planned buffers for the given symbolic sizes (e.g. ``{"B": 32}``)."""
        return sum(int(np.prod(resolve(s, dims))) * np.dtype(d).itemsize
                   for s, d in self._low.buffers)


def compile(graph: Graph, level: str = "O2", backend="numpy", keep_graph: bool = True,
            cuda_graph: bool = False) -> Program:
    """Optimize ``graph`` at ``level`` (``O0``/``O1``/``O2``) and compile it to a Program for
    ``backend`` (``"numpy"``, ``"cupy"``, ``"auto"``, ``"cuda-host"``).

    ``keep_graph=False`` drops the optimized graph once compiled (``program.graph`` then only
    names the leaves), which saves memory on long unrollings.  ``cuda_graph=True`` replays
    each call as a captured CUDA graph (CuPy only)."""
    return Program(graph, level, backend, keep_graph, cuda_graph)
