"""Running a model one step at a time: :class:`Stepper`, what generation loops on.

A stepper drives the model's one-step program (the program a call of one step runs, with
the initial states fed) and keeps the carried states in arrays of its own: each step
copies the ``<s>_n`` outputs into them, and they are the next step's ``<s>0``.  The
parameters are gathered once (the live arrays: updates in place show), the input is
checked with a few comparisons, and the program's call is bound to the stepper's arrays
once (``program.bind``: checks, sizes and plan looked up then, not per step) and returns
views of its buffers, so a step costs little beyond the program itself.
"""

from __future__ import annotations

import threading
from typing import Dict, Mapping, Optional, Tuple

import numpy as np

from ..compiler import GenericProgram
from ..core.ir import Graph
from ..core.shapes import B
from .checks import check_size, check_tokens

__all__ = ["Stepper", "model_stepper"]


class Stepper:
    """One step at a time through ``program``: ``step(x)`` feeds one step's input (token
    ids ``(B,)``, or ``(B, features)`` values) and returns that step's output (``(B, ...)``).

    Made by ``model.stepper(batch)`` (zero initial states, or ``hx``) or, for a decoder,
    ``Seq2Seq.stepper(src)`` (the encoder's final states).  What ``step`` and :meth:`run`
    return are views of the program's buffers, valid until the stepper's next call (or a
    call of the model of the same length from the same thread): copy what you keep.  The
    states live in the stepper's own arrays, so nothing else disturbs them.  One thread
    per stepper.

    Parameters: the model's live arrays, gathered once, so updates in place (optimizers,
    ``load_state_dict``) show at the next step; a parameter replaced by ``register`` is
    noticed (``Module.registrations``) and the arrays gathered again.  The stepper keeps the
    program it was made with: after changing the model's ``backend`` or ``opt_level``,
    make a new one.
    """

    def __init__(self, module, program, batch: int, states: Mapping[str, np.ndarray],
                 features: Tuple[int, ...], dtype, vocab: Optional[int] = None,
                 input: str = "input", output: str = "output", per_step: bool = True,
                 symbol: str = "T", owner: str = "Stepper"):
        """``program``: the module's program (generic in the length ``symbol``, or of one
        step); ``states``: the initial states by input name (``{"h0": ...}``); one step's
        input ``input`` is ``(batch, *features)`` of ``dtype`` (token ids below ``vocab``
        when it is given); ``output`` is returned, its time axis dropped when
        ``per_step``; ``owner`` names the stepper in errors."""
        self.module, self.batch, self.owner = module, int(batch), owner
        self.input, self.output, self.vocab, self.per_step = input, output, vocab, per_step
        self._program = program  # every length (``run``); fixed-shape programs step only
        if isinstance(program, GenericProgram) and not (program.generic
                                                        and program.min_length <= 1):
            program = program.specialized(**{symbol: 1})  # what a call of one step runs
        self._step_program = program
        backend = program.backend
        self._xp, self._host = backend.xp, backend.xp is np  # NumPy arrays (numpy, native)
        self._backend = backend
        #: the shape of one step's input
        self.step_shape = (self.batch, *features)
        self._x = np.zeros((1, *self.step_shape), np.int64 if vocab else dtype)
        self._x0 = self._x[0]
        self._ids = self._x.view(np.uint64) if vocab else None  # negatives read as huge
        self._init = {k: backend.asarray(np.array(v)) for k, v in states.items()}
        self._states = {k: self._xp.array(v, copy=True) for k, v in self._init.items()}
        self._feeds = {input: self._x, **self._states}
        self._pairs = [(buf, k[:-1] + "_n") for k, buf in self._states.items()]
        self._params: Dict[str, np.ndarray] = {}
        self._run_params: Optional[Dict[str, np.ndarray]] = None
        self.refresh()

    # ------------------------------------------------------------ parameters and states
    def refresh(self) -> None:
        """Gather the model's parameter arrays again (done by itself when one was replaced)."""
        params = self.module.parameters()
        names = self._step_program.param_names
        self._params = params if names is None else {k: params[k] for k in names}
        self._run_params = None
        self._seen = self.module.registrations
        self._bound, self._thread = None, None  # bound at the next step

    def _bind(self):
        """The step program's call bound to the stepper's arrays (checked once), for this
        thread (plans, and so the buffers a bound call writes, are per thread).  Where the
        arrays are not the backend's own (NumPy parameters for a device program: copied
        to it at each call), the program's checked call."""
        program, feeds, params = self._step_program, self._feeds, self._params
        native = self._backend.is_native
        # checked (anomaly mode) by the program for every length: it traces a bad value
        # in the graph it builds, where the program of one step keeps none
        checked = self._program if isinstance(self._program, GenericProgram) else program
        if all(native(v) for v in feeds.values()) and all(native(v) for v in params.values()):
            self._bound = program.bind(feeds, params, checked_by=checked)
        else:
            self._bound = lambda: checked(feeds, params, copy=False)
        self._thread = threading.get_ident()
        return self._bound

    def reset(self, hx=None) -> None:
        """States back to those the stepper started from (zeros, the ``hx`` it was made
        with, the encoder's), or to ``hx``: as a call takes it (an array for one carried
        state, a tuple in order for several) or by name, as :attr:`states` gives them."""
        names = [k[:-1] for k in self._states]
        if hx is None:
            values = self._init
        elif isinstance(hx, Mapping):
            values = {f"{s}0": v for s, v in hx.items()}
        elif len(names) == 1:
            values = {f"{names[0]}0": hx}
        elif isinstance(hx, (tuple, list)) and len(hx) == len(names):
            values = {f"{s}0": v for s, v in zip(names, hx)}
        else:
            raise TypeError(f"{self.owner}.reset: states are {len(names)} arrays "
                            f"({', '.join(names)}), got {type(hx).__name__}")
        if set(values) != set(self._states):
            raise ValueError(f"{self.owner}.reset: states {sorted(values)}, expected "
                             f"{sorted(self._states)}")
        for k, buf in self._states.items():
            v = self._backend.asarray(values[k])
            if tuple(v.shape) != tuple(buf.shape):
                raise ValueError(f"{self.owner}.reset: state {k!r} has shape {tuple(v.shape)}, "
                                 f"expected {tuple(buf.shape)}")
            self._xp.copyto(buf, v, casting="same_kind")

    @property
    def states(self) -> Dict[str, np.ndarray]:
        """The carried states now, by name (``{"h": ..., "c": ...}``; NumPy copies)."""
        return {k[:-1]: (v.copy() if self._host else self._backend.to_numpy(v))
                for k, v in self._states.items()}

    # ------------------------------------------------------------ running
    def step(self, x) -> np.ndarray:
        """Run one step on ``x`` (token ids ``(B,)``, or ``(B, features)`` values converted
        to the model's dtype); returns the step's output ``(B, ...)``, a view valid until
        the next call."""
        if self.module.registrations != self._seen:
            self.refresh()
        a = x if type(x) is np.ndarray else np.asarray(x)
        if a.shape != self.step_shape:
            raise ValueError(f"{self.owner}.step: input must have shape {self.step_shape} (one "
                             f"step), got {a.shape}")
        if self.vocab is not None:
            if a.dtype.kind not in "iu":
                check_tokens(a, self.vocab, f"{self.owner}.step")  # raises, naming the dtype
            np.copyto(self._x0, a, casting="unsafe")
            if (self._ids.item() if self.batch == 1 else self._ids.max()) >= self.vocab:
                check_tokens(a, self.vocab, f"{self.owner}.step")  # raises, naming the id
        else:
            np.copyto(self._x0, a, casting="same_kind")
        bound = self._bound
        if bound is None or self._thread != threading.get_ident():
            bound = self._bind()
        out = bound()
        copyto = self._xp.copyto
        for buf, name in self._pairs:
            copyto(buf, out[name])
        y = out[self.output]
        if self.per_step:
            y = y[0]
        return y if self._host else self._backend.to_numpy(y)

    def run(self, xs) -> np.ndarray:
        """Run ``xs`` (time-major: ``(T, B)`` ids or ``(T, B, features)`` values, T >= 1) in
        one call of the model's program for every length, as a call of the model runs it (a
        prompt), the states carried; returns the outputs (``(T, B, ...)``), a view valid
        until the next call.  A fixed-shape step program (a decoder's) runs them step by
        step."""
        a = np.asarray(xs)
        if a.ndim != len(self.step_shape) + 1 or a.shape[1:] != self.step_shape or not len(a):
            raise ValueError(f"{self.owner}.run: input must have shape (T, "
                             f"{', '.join(map(str, self.step_shape))}) with T >= 1, got "
                             f"{a.shape}")
        if not isinstance(self._program, GenericProgram):
            return np.stack([np.array(self.step(x)) for x in a])
        if self.module.registrations != self._seen:
            self.refresh()
        if self.vocab is not None:
            a = check_tokens(a, self.vocab, f"{self.owner}.run")
        elif a.dtype != self._x.dtype:
            a = a.astype(self._x.dtype, casting="same_kind")
        if self._run_params is None:
            params, names = self.module.parameters(), self._program.param_names
            self._run_params = params if names is None else {k: params[k] for k in names}
        out = self._program({**self._feeds, self.input: a}, self._run_params, copy=False)
        for buf, name in self._pairs:
            self._xp.copyto(buf, out[name])
        y = out[self.output]
        return y if self._host else self._backend.to_numpy(y)


def model_stepper(model, batch: int = 1, hx=None) -> Stepper:
    """The :class:`Stepper` of a causal model of one sequence input (see
    ``ModelProtocol.stepper``): its program with the initial states fed, zero states or
    ``hx``."""
    owner = f"{type(model).__name__}.stepper"
    check_size(owner, batch=batch)
    if not model.causal or len(model.sequence_inputs) != 1 or len(model.lengths) != 1:
        why = ("reads later steps (bidirectional)" if not model.causal else
               f"reads {len(model.sequence_inputs)} sequences")
        raise ValueError(f"{owner}: stepping runs a causal model of one input sequence one "
                         f"step at a time; this one {why}")
    (name,) = model.sequence_inputs
    opts = {"initial_states": bool(model.state_names), "mask": False}
    build = model.graph_fn(**opts)
    program = model.program(("forward", *opts.values()), build, checked=False)
    graph = getattr(program, "graph", None)  # the programs compiled per length keep none
    if not (isinstance(graph, Graph) and name in graph.inputs and "output" in graph.outputs):
        graph = build(**{model.lengths[0]: 1})
    node = graph.inputs[name]
    vocab = model.token_inputs().get(name)
    states = {f"{s}0": np.zeros(shape, model.dtype)
              for s, shape in model.state_shapes(int(batch)).items()}
    if hx is not None:
        states.update(_given(model.state_feeds(hx, owner), states, owner))
    return Stepper(model, program, batch, states, tuple(node.shape[2:]), node.dtype, vocab,
                   input=name, per_step=graph.outputs["output"].shape[:1] != (B,),
                   symbol=model.lengths[0], owner=owner)


def _given(values: Mapping, zeros: Mapping[str, np.ndarray], owner: str) -> Dict[str, object]:
    """Initial states given, checked against the zero states' shapes."""
    out = {}
    for k, v in values.items():
        a = np.asarray(v)
        if a.shape != zeros[k].shape:
            raise ValueError(f"{owner}: initial state {k!r} has shape {a.shape}, expected "
                             f"{zeros[k].shape}")
        out[k] = a.astype(zeros[k].dtype, casting="same_kind")
    return out
