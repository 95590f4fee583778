"""``GenericProgram``: one compiled program for every sequence length.

``gr.compile(lambda T: graph_of(T))`` unrolls the model at a few lengths, rolls each into
loops and generalizes them (:mod:`.generalize`): the result runs any ``T`` at least
``min_length`` with the same code (``for t in range(2, T + 1): ...``), its plans made per
binding of ``B`` and ``T``.  Shorter sequences, whose peeled first and last steps overlap,
run programs compiled for their exact length on first use (small, and cached).  When a
model's steps do not repeat in a way rolling can use, every length gets its own program,
and ``program.generic`` says so.
"""

from __future__ import annotations

import inspect
import time
from collections import OrderedDict
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from ..backends import Backend, get_backend
from ..evaluate import InputError, bind_values
from ..ir import Graph, compact_intern, gc_paused, record_meta
from ..passes import optimize
from ..shapes import ShapeError, Sym
from .dims import Poly, fit
from .fusion import kernels_source
from .generalize import GeneralizeError, generalize
from .loops import RollError, roll
from .lower import T_VAR, lower
from .memory import PlanError
from .program import Compiled, Program
from .runtime import PlanCache, run

__all__ = ["GenericProgram", "length_symbols"]

#: base lengths tried in turn: the first at which the samples roll and generalize is used
BASES = (8, 12)
#: names a length symbol may not take: the batch, and the generated code's own
RESERVED = frozenset({"B", T_VAR, "I", "P", "V", "SH", "AT", "Z", "R", "C", "K", "E"})


def length_symbols(build: Callable) -> List[str]:
    """The length symbols of a builder: its parameter names (``lambda T: ...`` -> ``["T"]``)."""
    names = list(inspect.signature(build).parameters)
    if not names:
        raise ValueError("compile: a graph builder takes the sequence length(s), e.g. "
                         "lambda T: model.graph(T)")
    for n in names:
        if not n.isidentifier() or n in RESERVED or not n[0].isupper():
            raise ValueError(f"compile: length symbol {n!r} must be a capitalized name other "
                             f"than B (the batch) and {', '.join(sorted(RESERVED - {'B'}))} "
                             f"(names in the generated code), e.g. T or S")
    return names


class _Leaf:
    """A declared input or parameter of a generic program (what calls are checked against)."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, dtype


class _GenericSignature:
    def __init__(self, name, inputs, params):
        self.name, self.inputs, self.params = name, inputs, params


def _signature(graphs: Sequence[Graph], points, names) -> _GenericSignature:
    """The leaves of the graphs as written, their length-dependent sizes as symbols."""
    base = graphs[0]
    tables = []
    for kind in ("inputs", "params"):
        table = {}
        for name, node in getattr(base, kind).items():
            shapes = [getattr(g, kind)[name].shape for g in graphs]
            dims = []
            for axis, d in enumerate(node.shape):
                if isinstance(d, Sym):
                    dims.append(d)
                    continue
                expr = fit([s[axis] for s in shapes], points, names)
                if expr is None or not (expr.is_const or (len(expr.terms) == 1
                                                          and len(expr.terms[0][0]) == 1)):
                    raise GeneralizeError(f"{kind[:-1]} {name!r}: size {[s[axis] for s in shapes]}"
                                          f" is not a multiple of one length")
                if expr.is_const:
                    dims.append(expr.constant)
                else:
                    (sym,), coeff = expr.terms[0]
                    dims.append(Sym(sym, coeff))
            table[name] = _Leaf(tuple(dims), node.dtype)
        tables.append(table)
    return _GenericSignature(base.name, *tables)


def _length_axes(graphs: Sequence[Graph], points, names) -> Dict[str, Dict[int, tuple]]:
    """Per input, the axes whose size is ``coeff * length`` (read to find a call's lengths)."""
    out: Dict[str, Dict[int, tuple]] = {}
    for name, node in graphs[0].inputs.items():
        for axis, d in enumerate(node.shape):
            if isinstance(d, Sym):
                continue
            sizes = [g.inputs[name].shape[axis] if name in g.inputs else None for g in graphs]
            if None in sizes:
                continue
            expr = fit(sizes, points[:len(graphs)], names)
            if expr is not None and len(expr.terms) == 1 and len(expr.terms[0][0]) == 1:
                (sym,), coeff = expr.terms[0]
                if coeff > 0:
                    out.setdefault(name, {})[axis] = (sym, coeff)
    return out


class GenericProgram:
    """A program for every sequence length (see the module docstring).

    ``program(inputs, params, dims=None, copy=True)`` like :class:`Program`; the lengths are
    read off the inputs' shapes (or given in ``dims``).  ``source`` is the generic code,
    ``min_length`` the shortest length it runs (shorter ones compile their own),
    ``generic`` whether one program serves all lengths, ``report`` what the passes did at
    the base length, ``graph`` the optimized graph at that length.
    """

    plan_cache = 8          # plans (buffers per binding) kept
    specialized_cache = 8   # programs for single lengths kept

    def __init__(self, build: Callable[..., Graph], level: str = "O2", backend="numpy",
                 cuda_graph: bool = False, name: Optional[str] = None):
        t0 = time.perf_counter()
        self.build, self.level = build, level
        self.names = length_symbols(build)
        self.backend = get_backend(backend)
        if cuda_graph and type(self.backend).capture is Backend.capture:
            raise ValueError(f"cuda_graph=True needs a backend that captures CUDA graphs "
                             f"(backend='cupy'), not {self.backend.name!r}")
        self.cuda_graph = cuda_graph
        self._specialized: "OrderedDict[tuple, Program]" = OrderedDict()
        self._plans = PlanCache(self.plan_cache)
        self._replays: Dict[tuple, tuple] = {}
        self.generic, self.why_not = False, None
        with gc_paused():
            for base in BASES:
                try:
                    self._compile_generic(base, name)
                    self.generic = True
                    break
                except (RollError, GeneralizeError, PlanError) as e:
                    self.why_not = (self.why_not + "; " if self.why_not else "") + \
                        f"at length {base}: {type(e).__name__}: {e}"
                except Exception as e:  # the builder fails at some lengths: build per call
                    self.why_not = f"building at length {base} failed: {type(e).__name__}: {e}"
                    break
        if not self.generic:  # one program per length, like an unrolled graph
            self.signature, self.graph, self.report = None, None, None
            self.source, self.kernels, self.min_length, self._compiled = None, [], None, None
            try:
                points = [{n: BASES[0] for n in self.names}] + [
                    {**{m: BASES[0] for m in self.names}, n: BASES[0] + 1} for n in self.names]
                graphs = [build(**p) for p in points]
                self._known = (set(graphs[0].inputs), set(graphs[0].params))
                self._length_axes = _length_axes(graphs, points, self.names)
                self.graph, self.report = optimize(graphs[0], level, report=True)
            except Exception:  # the length is read off the inputs' first axis
                self._known, self._length_axes = (set(), set()), None
            self.source, self.kernels, self.min_length = None, [], None
            self._compiled = None
        self.compile_seconds = time.perf_counter() - t0

    def _compile_generic(self, base: int, name) -> None:
        names = self.names
        points = [{n: base for n in names}]
        for n in names:
            points.append({**points[0], n: base + 1})
        for n in names:
            points.append({**points[0], n: base + 2})
        if len(names) > 1:
            points.append({n: base + 1 for n in names})
        graphs, rolled = [], []
        for k, p in enumerate(points):
            with record_meta() as record:  # steps as this build gives them, whatever came before
                g = self.build(**p)
                opt, report = optimize(g, self.level, report=True)
            if k == 0:
                self.graph, self.report = opt, report
            graphs.append(g)
            rolled.append(roll(opt, record))
        generic = generalize(rolled, points, names)
        self.signature = _signature(graphs, points, names)
        self._known = (set(self.signature.inputs), set(self.signature.params))
        self._length_axes = _length_axes(graphs, points, names)
        code = lower(generic, names)
        self._compiled = Compiled(code, self.backend, points[0], name or self.graph.name)
        self.kernels = self._compiled.kernels
        self.source = self._compiled.function.source
        self.min_length = base

    # -------------------------------------------------------------- calls
    @property
    def loops(self) -> int:
        """How many loops the generic code has."""
        return self._compiled.loops if self._compiled else 0

    def __call__(self, inputs: Optional[Mapping] = None, params: Optional[Mapping] = None,
                 dims: Optional[Mapping[str, int]] = None, copy: bool = True) -> Dict[str, object]:
        """Run on ``inputs`` and ``params`` (checked against the declared leaves, the lengths
        bound from the inputs' shapes or from ``dims``)."""
        lengths = self._lengths(inputs, dims)
        if self.generic and all(lengths.get(n, self.min_length) >= self.min_length
                                for n in self.names):
            values, env = bind_values(self.signature, self.backend, inputs, params, dims)
            missing = [n for n in self.names if n not in env]
            if missing:
                raise ShapeError(f"program {self.signature.name!r}: no input gives the length "
                                 f"{missing[0]}; pass it with dims={{'{missing[0]}': n}}")
            return self._run(values, env, copy)
        missing = [n for n in self.names if n not in lengths]
        if missing:
            raise ShapeError(f"program {self.graph.name!r}: no input gives the length "
                             f"{missing[0]}; pass it with dims={{'{missing[0]}': n}}")
        program = self.specialized(**lengths)
        # a short unrolling may not reach every input or parameter (a delay longer than
        # it): values the longer ones need are accepted and left unused
        sig = program.source_graph
        if params is not None:
            params = {k: v for k, v in params.items()
                      if k in sig.params or k not in (self._known[1] or sig.params)}
        if inputs is not None:
            inputs = {k: v for k, v in inputs.items()
                      if k in sig.inputs or k not in (self._known[0] or sig.inputs)}
        return program(inputs, params, dims, copy)

    def _run(self, values, env, copy):
        key = tuple(sorted(env.items()))
        plan = self._plans.get(key)
        if plan is None:
            compact_intern()
            plan = self._compiled.make_plan(env)
            self._plans.put(key, plan)
        if self.cuda_graph:
            outs = self._replay(key, values, plan)
        else:
            outs = run(self._compiled.function, plan, values, self.graph.name)
        if copy:
            outs = [o.copy() for o in outs]
        return dict(zip(self._compiled.names, outs))

    def _replay(self, key, values, plan):
        if key not in self._replays:
            staged = {k: v.copy() for k, v in values.items()}
            launch, outs = self.backend.capture(
                lambda: run(self._compiled.function, plan, staged, self.graph.name))
            self._replays[key] = (staged, launch, outs)
        else:
            staged, launch, outs = self._replays[key]
            for k, v in values.items():
                self.backend.xp.copyto(staged[k], v)
        launch()
        return outs

    def _lengths(self, inputs, dims) -> Dict[str, int]:
        """The lengths a call gives: from ``dims``, or the inputs' sizes along length axes."""
        lengths = {n: int(v) for n, v in (dims or {}).items() if n in self.names}
        if self._length_axes is None:  # nothing known: one length, the inputs' first axis
            for v in (inputs or {}).values():
                if np.ndim(v) and len(self.names) == 1:
                    lengths.setdefault(self.names[0], int(np.shape(v)[0]))
            return lengths
        for name, axes in self._length_axes.items():
            if inputs and name in inputs:
                shape = np.shape(inputs[name])
                for axis, (sym, coeff) in axes.items():
                    if axis < len(shape) and sym not in lengths:
                        lengths[sym] = int(shape[axis]) // coeff
        return lengths

    def specialized(self, **lengths) -> Program:
        """The program compiled for exactly these lengths (cached, least recently used out)."""
        key = tuple(sorted(lengths.items()))
        program = self._specialized.get(key)
        if program is None:
            program = Program(self.build(**lengths), self.level, self.backend, keep_graph=False,
                              cuda_graph=self.cuda_graph)
            self._specialized[key] = program
            while len(self._specialized) > self.specialized_cache:
                self._specialized.popitem(last=False)
        else:
            self._specialized.move_to_end(key)
        return program

    @property
    def param_names(self) -> Optional[List[str]]:
        """The parameters a call takes (None when the builder could not be probed)."""
        return sorted(self._known[1]) if self._known[1] else None

    @property
    def cuda_source(self) -> str:
        """The CUDA source of the fused kernels ("" on backends that do not fuse)."""
        return kernels_source(self.kernels) if self.kernels else ""

    def memory_bytes(self, dims: Mapping[str, int]) -> int:
        """Bytes of the planned buffers for the given sizes (``{"B": 8, "T": 1000}``)."""
        return self._compiled.plan.memory_bytes(dims)
