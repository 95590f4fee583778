"""``Program``: a graph optimized, rolled into loops where it repeats, planned and compiled."""

from __future__ import annotations

import time
from typing import Dict, List, Mapping, Optional

from ..runtime.anomaly import anomaly_enabled
from ..runtime.backends import Backend, get_backend
from ..runtime.binding import BindCache, bind_values
from ..runtime.evaluate import check_outputs
from ..core.ir import Graph, gc_paused
from ..transforms.passes import optimize
from .census import calls_per_step
from .fusion import FusedKernel, kernels_source
from .kernels import fuse
from .loops import roll
from .rolled import RollError, straight
from .lower import Code, lower
from .memory import plan_memory
from .render import render_program
from .function import Bound, ThreadPlans, assemble, make_plan, plan_key, replay, run
from .schedule import schedule

__all__ = ["Program", "build_code", "Signature"]


class Signature:
    """The name, inputs and parameters of a graph: what calls are checked against."""

    def __init__(self, graph: Graph):
        self.name, self.inputs, self.params = graph.name, dict(graph.inputs), dict(graph.params)


def build_code(graph: Graph, rolled: bool = True) -> Code:
    """``graph`` (optimized) lowered to instructions: rolled into loops where its steps
    repeat, straight-line code otherwise."""
    if rolled:
        try:
            return lower(roll(graph))
        except RollError:
            pass
    return lower(straight(graph, schedule(graph)))


class Compiled:
    """Code planned, rendered and compiled for one backend (what a Program runs)."""

    def __init__(self, code: Code, backend: Backend, sample: Mapping[str, int], name: str):
        groups = fuse(code) if backend.fuses_elementwise else {}
        self.plan = plan_memory(code, sample, groups)
        self.rendered = render_program(code, self.plan, groups, backend.ufunc_reduce)
        self.kernels: List[FusedKernel] = self.rendered.fused_kernels
        consts = [backend.asarray(c) for c in self.rendered.consts]
        scope = {"np": backend.namespace, "xp": backend.xp, "K": self.rendered.kernels, "C": consts,
                 "E": (backend.make_kernels(self.kernels, kernels_source(self.kernels))
                       if self.kernels else [])}
        self.function = assemble(self.rendered, scope, name)
        self.loops = sum(1 for ind, text, _ in self.rendered.lines if text.startswith("for "))
        self.names = list(code.outputs)
        self.backend = backend

    def make_plan(self, env):
        return make_plan(self.rendered, self.plan.buffers, self.plan.fills, self.backend.xp, env)


class Program:
    """A compiled graph: ``program(inputs, params)`` -> dict of output arrays.

    ``program.source`` is the generated Python (a loop over ``t`` where the graph's steps
    repeat); ``program.report`` what the passes did; ``program.graph`` the optimized graph.
    Results are fresh arrays unless ``copy=False``, which returns views of the program's
    buffers, valid until its next call from the same thread (fed back as an input, such a
    view is copied first).  Plans (buffers for one binding of the symbolic sizes, such as
    the batch) are cached per thread, at most ``plan_cache`` of them: threads may call one
    program at once.

    ``cuda_graph=True`` (CuPy) captures the whole call as a CUDA graph on the first call per
    binding (at most ``plan_cache`` kept) and replays it afterwards: inputs and parameters
    are copied into arrays the program owns, and no Python runs per kernel.
    """

    plan_cache = 8

    def __init__(self, graph: Graph, level: str = "O2", backend="numpy", keep_graph: bool = True,
                 cuda_graph: bool = False, roll: bool = True, fast_math: bool = False):
        t0 = time.perf_counter()
        self.cuda_graph, self.fast_math = cuda_graph, fast_math
        # what a call is checked against: the graph as written (its leaves, not its nodes)
        self.source_graph = Signature(graph)
        self.backend = get_backend(backend)
        if cuda_graph and type(self.backend).capture is Backend.capture:
            raise ValueError(f"cuda_graph=True needs a backend that captures CUDA graphs "
                             f"(backend='cupy'), not {self.backend.name!r}")
        self.graph, self.report = optimize(graph, level, report=True, fast_math=fast_math,
                                           fused_kernels=self.backend.fuses_elementwise)
        # anomaly mode traces the graph as written: its nodes name their step and equation
        # (the optimized graph's batched nodes span many steps)
        self._written = graph
        with gc_paused():
            code = build_code(self.graph, roll)
            self._compiled = Compiled(code, self.backend, {}, self.graph.name)
            self._code = code
        self._finish(keep_graph)
        self.compile_seconds = time.perf_counter() - t0

    def _finish(self, keep_graph: bool) -> None:
        c = self._compiled
        self.kernels = c.kernels
        self.source = c.function.source
        if self.report is not None:
            self.report.loops = calls_per_step(self.source)
        self._names = list(self.graph.outputs)
        self._local = ThreadPlans(self.plan_cache)  # plans and captures per thread
        # calls checked before, by their values' names, shapes and dtypes
        self._bound = BindCache(self.backend.xp.ndarray)
        if not keep_graph:  # long unrollings: keep only what calls need
            self.graph = Signature(self.graph)
            self._written = None
            for k in self.kernels:
                k.drop_nodes()

    @property
    def param_names(self):
        """The parameters a call takes."""
        return list(self.source_graph.params)

    @property
    def loops(self) -> int:
        """How many loops the generated code has (0: straight-line)."""
        return self._compiled.loops

    def __call__(self, inputs: Optional[Mapping] = None, params: Optional[Mapping] = None,
                 dims: Optional[Mapping[str, int]] = None, copy: bool = True) -> Dict[str, object]:
        """Run the program; inputs and parameters are checked like :func:`graphrnn.runtime.evaluate`."""
        # checked against the graph as written: passes may drop leaves (a weight that only
        # multiplies a zero initial state), but the call signature stays the same
        fp, hit = self._bound.find(inputs, params, dims)
        if hit is not None:  # checked before: the same names, shapes and dtypes
            env, key = hit
            values = BindCache.values(inputs, params)
        else:
            values, env = bind_values(self.source_graph, self.backend, inputs, params, dims)
            key = plan_key(env)
            self._bound.put(fp, (env, key))
        outs = self._run(values, env, copy, key)
        if anomaly_enabled():  # without a graph to trace, the error still names the output
            check_outputs(outs, self.backend.xp, lambda: self._written,
                          inputs, params, dims, self.backend, f"program {self.graph.name!r}")
        return outs

    def bind(self, inputs: Optional[Mapping] = None, params: Optional[Mapping] = None,
             dims: Optional[Mapping[str, int]] = None, checked_by=None) -> Bound:
        """A call prepared once: ``bound()`` runs on these arrays as they are then (see
        :class:`~graphrnn.compiler.function.Bound`), checked here, not at each call.
        ``checked_by``: the program whose call the checked way is (this one by default; a
        program for every length binding one of its lengths passes itself)."""
        values, env = bind_values(self.source_graph, self.backend, inputs, params, dims)
        plan = self._local.plan(plan_key(env), env, self._compiled)
        return Bound(None if self.cuda_graph else self._compiled.function, plan, values,
                     self._names, self.graph.name, checked_by or self, inputs, params, dims)

    def _run(self, values, env, copy, key):
        plan = self._local.plan(key, env, self._compiled)
        if self.cuda_graph:
            outs = replay(self.backend, self._local.replays, key, self._compiled.function, plan,
                          values, self.graph.name)
        else:
            outs = run(self._compiled.function, plan, values, self.graph.name)
        if copy:
            outs = [o.copy() for o in outs]
        return dict(zip(self._names, outs))

    @property
    def cuda_source(self) -> str:
        """The CUDA source of the program's fused kernels ("" on backends that do not fuse)."""
        return kernels_source(self.kernels) if self.kernels else ""

    def memory_bytes(self, dims: Mapping[str, int]) -> int:
        """Bytes of planned buffers for the given symbolic sizes (e.g. ``{"B": 32}``)."""
        return self._compiled.plan.memory_bytes(dims)
