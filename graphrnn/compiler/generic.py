"""``GenericProgram``: one compiled program for every sequence length.

``gr.compile(lambda T: graph_of(T))`` unrolls the model at a few lengths, rolls each into
loops and generalizes them (:mod:`.samples`, :mod:`.generalize`): the result runs any ``T``
at least ``min_length`` with the same code (``for t in range(2, T + 1): ...``), its plans
made per binding of ``B`` and ``T``.  Shorter sequences (below the base length the code was
sampled at) run programs compiled for their exact length on first use (small, and cached).
When a model's steps do not repeat in a way rolling can use (a graph checkpointed every k
steps, whose recomputation repeats with period k, is one), every length gets its own
program, and ``program.generic`` says so (``program.why_not`` says why).
"""

from __future__ import annotations

import inspect
import threading
import time
from collections import OrderedDict
from typing import Callable, Dict, List, Mapping, Optional

import numpy as np

from ..runtime.anomaly import anomaly_enabled, detect_anomaly
from ..runtime.backends import Backend, get_backend
from ..runtime.binding import BindCache, bind_values
from ..runtime.evaluate import check_outputs
from ..core.ir import Graph, gc_paused
from ..core.shapes import ShapeError
from .fusion import kernels_source
from .generalize import GeneralizeError
from .lower import T_VAR
from .memory import PlanError
from .program import Program
from .rolled import RollError
from .function import Bound, ThreadPlans, plan_key, replay, run
from .samples import Sampled, compile_sampled, known_leaves

__all__ = ["GenericProgram", "length_symbols"]

#: base lengths tried in turn: the first at which the samples roll and generalize is used
BASES = (8, 12)
#: names a length symbol may not take: the batch, and the generated code's own
RESERVED = frozenset({"B", T_VAR, "I", "P", "BUF", "V", "SH", "AT", "Z", "R", "C", "K", "E"})
_NOT_GENERIC = (RollError, GeneralizeError, PlanError)


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
                 cuda_graph: bool = False, name: Optional[str] = None, fast_math: bool = False):
        t0 = time.perf_counter()
        self.build, self.level, self.name = build, level, name
        self.fast_math = fast_math
        self.names = length_symbols(build)
        self.backend = get_backend(backend)
        if cuda_graph and type(self.backend).capture is Backend.capture:
            raise ValueError(f"cuda_graph=True needs a backend that captures CUDA graphs "
                             f"(backend='cupy'), not {self.backend.name!r}")
        self.cuda_graph = cuda_graph
        self._specialized: "OrderedDict[tuple, Program]" = OrderedDict()
        self._local = ThreadPlans(self.plan_cache)  # plans and captures per thread
        # calls checked before, by their values' names, shapes and dtypes
        self._bound = BindCache(self.backend.xp.ndarray)
        self._lock = threading.Lock()  # guards the programs for single lengths
        self.why_not, self._sampled = None, None
        with gc_paused():
            self._compile_first()
        if self._sampled is None:  # one program per length, like an unrolled graph
            known = known_leaves(build, self.names)
            self._known = known[:2] if known else (set(), set())
            self._length_axes = known[2] if known else None
            self.graph = self.report = None
        self.compile_seconds = time.perf_counter() - t0

    def _compile_first(self) -> None:
        """The generic program, from the first base length at which the samples roll."""
        for base in BASES:
            try:
                self._adopt(compile_sampled(self.build, self.names, self.level, self.backend,
                                            base, name=self.name, fast_math=self.fast_math))
                return
            except _NOT_GENERIC as e:
                self._note(f"at length {base}: {type(e).__name__}: {e}")
            except Exception as e:  # noqa: BLE001 - the builder fails at some lengths
                self._note(f"building at length {base} failed: {type(e).__name__}: {e}")
                return

    def _note(self, why: str) -> None:
        self.why_not = (self.why_not + "; " if self.why_not else "") + why

    def _adopt(self, sampled: Sampled) -> None:
        self._sampled = sampled
        self.graph, self.report = sampled.graph, sampled.report
        self._known = (set(sampled.signature.inputs), set(sampled.signature.params))
        self._length_axes = sampled.length_axes

    # -------------------------------------------------------------- what it is
    @property
    def generic(self) -> bool:
        """True when generic code serves (all but the shortest) lengths."""
        return self._sampled is not None

    @property
    def min_length(self) -> Optional[int]:
        return self._sampled.min_length if self._sampled else None

    @property
    def source(self) -> Optional[str]:
        """The generated code of the (first) generic program."""
        return self._sampled.compiled.function.source if self._sampled else None

    @property
    def kernels(self) -> list:
        return self._sampled.compiled.kernels if self._sampled else []

    @property
    def loops(self) -> int:
        """How many loops the generic code has."""
        return self._sampled.compiled.loops if self._sampled else 0

    @property
    def param_names(self) -> Optional[List[str]]:
        """The parameters a call takes (None when the builder could not be probed)."""
        return sorted(self._known[1]) if self._known[1] else None

    @property
    def cuda_source(self) -> str:
        """The CUDA source of the fused kernels ("" on backends that do not fuse)."""
        return kernels_source(self.kernels) if self.kernels else ""

    def memory_bytes(self, dims: Mapping[str, int]) -> int:
        """Bytes of the planned buffers for the given sizes (``{"B": 8, "T": 1000}``); for a
        length the generic code does not run, those of the program compiled for it."""
        sampled = self._for(dims)
        if sampled is None:
            return self.specialized(**{n: int(dims[n]) for n in self.names}).memory_bytes(dims)
        return sampled.compiled.plan.memory_bytes(dims)

    # -------------------------------------------------------------- calls
    def _for(self, lengths: Mapping[str, int]) -> Optional[Sampled]:
        """The generic program running these lengths, or None (compile for exactly them)."""
        sampled = self._sampled
        if sampled is None or any(n not in lengths or lengths[n] < sampled.min_length
                                  for n in self.names):
            return None
        return sampled

    def __call__(self, inputs: Optional[Mapping] = None, params: Optional[Mapping] = None,
                 dims: Optional[Mapping[str, int]] = None, copy: bool = True) -> Dict[str, object]:
        """Run on ``inputs`` and ``params`` (checked against the declared leaves, the lengths
        bound from the inputs' shapes or from ``dims``)."""
        outs = self._call(inputs, params, dims, copy)
        if anomaly_enabled():  # the graph as built at the lengths of this call
            lengths = {**self._lengths(inputs, dims), **(dims or {})}
            check_outputs(outs, self.backend.xp,
                          lambda: self.build(**{n: int(lengths[n]) for n in self.names}),
                          inputs, params, dims, self.backend, f"program {self.name or 'generic'!r}")
        return outs

    def _call(self, inputs, params, dims, copy):
        fp, hit = self._bound.find(inputs, params, dims)
        if hit is not None:  # checked before: the same names, shapes and dtypes
            sampled, env, key = hit
            return self._run(sampled, BindCache.values(inputs, params), env, copy, key)
        how = self._resolve(fp, inputs, params, dims)
        if isinstance(how[0], Program):
            program, inputs, params = how
            if anomaly_enabled():  # checked by __call__ against the graph built at this length
                with detect_anomaly(False):
                    return program(inputs, params, dims, copy)
            return program(inputs, params, dims, copy)
        return self._run(*how, copy, plan_key(how[2]))

    def bind(self, inputs: Optional[Mapping] = None, params: Optional[Mapping] = None,
             dims: Optional[Mapping[str, int]] = None, checked_by=None):
        """A call prepared once (see :meth:`Program.bind`): by the generic code, or by the
        program compiled for this length (checked as this program's call: anomaly mode
        traces a bad value in the graph built at that length)."""
        checked_by = checked_by or self
        how = self._resolve(None, inputs, params, dims)
        if isinstance(how[0], Program):
            return how[0].bind(how[1], how[2], dims, checked_by=checked_by)
        sampled, values, env = how
        compiled = sampled.compiled
        plan = self._local.plan(plan_key(env), env, compiled)
        return Bound(None if self.cuda_graph else compiled.function, plan, values,
                     compiled.names, sampled.graph.name, checked_by, inputs, params, dims)

    def _resolve(self, fp, inputs, params, dims):
        """How a call runs: ``(sampled, values, env)`` by the generic code (the binding put
        in the cache under the fingerprint ``fp``), or ``(program, inputs, params)`` by the
        program compiled for its lengths (the values it does not take left out)."""
        lengths = self._lengths(inputs, dims)
        missing = [n for n in self.names if n not in lengths]
        sampled = self._for(lengths)
        if sampled is not None or (missing and self._sampled is not None):
            sampled = sampled or self._sampled
            values, env = bind_values(sampled.signature, self.backend, inputs, params, dims)
            missing = [n for n in self.names if n not in env]
            if missing:
                raise ShapeError(f"program {sampled.signature.name!r}: no input gives the "
                                 f"length {missing[0]}; pass it with dims={{'{missing[0]}': n}}")
            if self._for(env) is sampled:
                self._bound.put(fp, (sampled, env, plan_key(env)))
                return sampled, values, env
            lengths = {n: env[n] for n in self.names}
        if missing:
            raise ShapeError(f"no input gives the length {missing[0]}; pass it with "
                             f"dims={{'{missing[0]}': n}}")
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
        return program, inputs, params

    def _run(self, sampled: Sampled, values, env, copy, key):
        compiled = sampled.compiled
        plan = self._local.plan(key, env, compiled)
        if self.cuda_graph:
            outs = replay(self.backend, self._local.replays, key, compiled.function, plan, values,
                          compiled.function.name)
        else:
            outs = run(compiled.function, plan, values, sampled.graph.name)
        if copy:
            outs = [o.copy() for o in outs]
        return dict(zip(compiled.names, outs))

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
        with self._lock:
            program = self._specialized.get(key)
            if program is None:
                program = Program(self.build(**lengths), self.level, self.backend,
                                  keep_graph=False, cuda_graph=self.cuda_graph,
                                  fast_math=self.fast_math)
                self._specialized[key] = program
                while len(self._specialized) > self.specialized_cache:
                    self._specialized.popitem(last=False)
            else:
                self._specialized.move_to_end(key)
            return program
