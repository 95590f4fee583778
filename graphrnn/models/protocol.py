"""The model protocol's shared half: what :class:`~graphrnn.models.Module` gives every model
from the few things a model defines (``graph``, ``feed``, ``state_shapes``, ``recurrence``;
the protocol is written down in the ``Module`` docstring): the options a call asks for, the
graph as a function of named lengths, calls, gradients and generation, all through the
module's cached programs."""

from __future__ import annotations

import inspect
from typing import Callable, Dict, Mapping, Optional, Tuple

import numpy as np

from ..core import ops as F
from ..core.ir import Graph, Node
from ..core.shapes import B
from .checks import float_sequence, lengths_mask

__all__ = ["ModelProtocol"]


class ModelProtocol:
    """Mixed into :class:`~graphrnn.models.Module` (whose ``run``, ``run_loss``,
    ``with_extra`` and ``dtype`` it uses): defaults for what a model defines, and what is
    built on it."""

    #: the length symbols ``graph`` takes, in order (the last: the outputs' length)
    lengths: Tuple[str, ...] = ("T",)
    #: the graph's sequence inputs, by name, with their length symbols
    sequence_inputs: Mapping[str, str] = {"input": "T"}
    #: False when outputs read later steps (a bidirectional layer)
    causal = True
    #: whether calls take and give ``(B, T, ...)`` arrays (graphs are time-major always)
    batch_first = False

    def graph(self, *lengths, initial_states: bool = False, mask: bool = False) -> Graph:
        """The model unrolled for ``lengths`` (see :class:`~graphrnn.models.Module`); models
        define it."""
        raise NotImplementedError(f"{type(self).__name__} is not a model: it has no graph")

    def feed(self, *args, **kwargs) -> Tuple[Dict[str, object], Optional[Dict[str, int]]]:
        """``(feeds, dims)`` for a call's arguments (see :class:`~graphrnn.models.Module`);
        models define it."""
        raise NotImplementedError(f"{type(self).__name__} is not a model: it takes no feeds")

    def recurrence(self):
        """The folded recurrence to render; models define it."""
        raise NotImplementedError(f"{type(self).__name__} is not a recurrent model")

    def state_shapes(self, batch=B) -> Dict[str, tuple]:
        """Carried state name -> shape of its ``<s>0`` input and ``<s>_n`` output (none here)."""
        return {}

    @property
    def state_names(self) -> Tuple[str, ...]:
        """The carried states' names, in order (``("h", "c")`` for an LSTM)."""
        return tuple(self.state_shapes())

    def state_inputs(self) -> Dict[str, Node]:
        """The graph inputs ``<s>0`` for initial states given at call time."""
        return {f"{s}0": F.input(f"{s}0", shape, self.dtype)
                for s, shape in self.state_shapes().items()}

    def sequence_feed(self, x, hx=None, lengths=None, owner: Optional[str] = None,
                      batch_first: bool = False, cast: bool = False):
        """``feed`` for a model of one float input sequence: ``x`` ``(T, B, input_size)``
        (``(B, T, ...)`` with ``batch_first``; converted to the model's dtype with ``cast``),
        initial states ``hx`` (see :meth:`state_feeds`) and ``lengths`` (one per sequence:
        padded steps masked); ``owner`` names the model in errors."""
        owner = owner or type(self).__name__
        x = float_sequence(x, self.input_size, self.dtype, owner, batch_first, cast)
        feeds = {"input": x, **self.state_feeds(hx, owner)}
        if lengths is not None:
            feeds["mask"] = lengths_mask(lengths, x.shape[0], x.shape[1], owner)
        return feeds, None

    def state_feeds(self, hx, owner: Optional[str] = None) -> Dict[str, object]:
        """``hx`` (an array for one carried state, a tuple in ``state_names`` order for
        several, None for none) as feeds ``{"h0": ..., "c0": ...}``."""
        names = self.state_names
        if hx is None:
            return {}
        owner = owner or type(self).__name__
        if not names:
            raise TypeError(f"{owner}: the model carries no state; initial states cannot be "
                            f"given")
        if len(names) == 1:
            return {f"{names[0]}0": hx}
        if not (isinstance(hx, (tuple, list)) and len(hx) == len(names)):
            what = "a pair" if len(names) == 2 else f"a tuple of {len(names)}"
            raise TypeError(f"{owner}: initial states are {what} "
                            f"({', '.join(f'{s}0' for s in names)})")
        return {f"{s}0": v for s, v in zip(names, hx)}

    def input_names(self) -> Tuple[str, ...]:
        """Every input name a call of the model may feed (sequences, ``mask``, ``<s>0``)."""
        return (*self.sequence_inputs, "mask", *(f"{s}0" for s in self.state_names))

    def options(self, feeds: Mapping) -> Dict[str, bool]:
        """The ``graph`` options that ``feeds`` ask for: ``initial_states`` (they hold a
        carried state) and ``mask``."""
        return {"initial_states": any(f"{s}0" in feeds for s in self.state_names),
                "mask": "mask" in feeds}

    def graph_fn(self, initial_states: bool = False, mask: bool = False) -> Callable[..., Graph]:
        """``graph`` as a function of the length symbols by name (``lambda T: ...``,
        ``lambda S, T: ...``): what :meth:`program` and ``fit`` compile, one program for
        every length.  Made once per options: a call only needs it to look up its program."""
        build = self._graph_fns.get((initial_states, mask))
        if build is not None:
            return build
        names = tuple(self.lengths)

        def build(**lengths):
            return self.graph(*(lengths[n] for n in names), initial_states=initial_states,
                              mask=mask)
        build.__signature__ = inspect.Signature(
            [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in names])
        self._graph_fns[(initial_states, mask)] = build
        return build

    def forward(self, feeds: Mapping, dims: Optional[Mapping[str, int]] = None
                ) -> Dict[str, np.ndarray]:
        """Every output of the model's graph for ``feeds`` (named graph inputs, time-major),
        through the cached program for this kind of call."""
        opts = self.options(feeds)
        return self.run(("forward", opts["initial_states"], opts["mask"]),
                        self.graph_fn(**opts), feeds, dims)

    def loss_and_grad(self, loss_fn: Callable[[Dict[str, Node]], Node], *args,
                      extra: Optional[Mapping[str, object]] = None, **kwargs):
        """``(loss, grads)`` for a scalar ``loss_fn(outputs)`` built from the graph's output
        nodes (``output``, ``h_n``, ...; time-major), the arguments as the model's call takes
        them.  ``grads`` maps every parameter name and every float input fed (``"input"``,
        ``"h0"``, ...) to its gradient.

        ``loss_fn`` builds the loss once; the program serves every length, and a call with
        the same function (or the same ``lambda`` written again) reuses it.  ``extra`` feeds
        other inputs the loss reads by name (targets); declare them with the output's
        leading shape, ``gr.input("target", out["output"].shape[:2] + (1,))``, so one
        program serves every length."""
        feeds, dims = self.feed(*args, **kwargs)
        feeds = self.with_extra(feeds, extra, reserved=self.input_names())
        opts = self.options(feeds)
        loss, grads = self.run_loss((opts["initial_states"], opts["mask"]),
                                    self.graph_fn(**opts), loss_fn, feeds, dims)
        if self.batch_first:  # the gradients of the sequences as the call took them
            for name in self.sequence_inputs:
                if name in grads:
                    grads[name] = np.swapaxes(grads[name], 0, 1)
        return loss, grads

    def next_input(self, output: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """What :meth:`generate` feeds at the next step, from the last step's ``output``
        ``(B, ...)``: the output itself (a model whose outputs are its next inputs)."""
        return output

    def stepper(self, batch: int = 1, hx=None):
        """A :class:`~graphrnn.models.stepping.Stepper` running the model one step at a time
        for ``batch`` sequences, from zero states or ``hx`` (as a call takes it):
        ``stepper.step(x)`` feeds one step (``(batch,)`` token ids or ``(batch, features)``)
        and returns its output, the states carried.  The model must be causal and read one
        sequence."""
        from .stepping import model_stepper

        return model_stepper(self, batch, hx)

    def generate(self, prompt, length: int, seed: Optional[int] = None) -> np.ndarray:
        """``prompt`` (a call's sequence: time-major ``(T, B, ...)``, batch-major for a
        ``batch_first`` layer) continued by ``length`` steps, each fed the model's previous
        output (:meth:`next_input`) with the states carried (by a :meth:`stepper`): returns
        the ``length`` new steps laid out like ``prompt``.  The model must be causal, read
        one sequence and give a per-step output of its input's width."""
        owner = f"{type(self).__name__}.generate"
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
            raise ValueError(f"{owner}: length must be an int >= 0, got {length!r}")
        if not self.causal or len(self.sequence_inputs) != 1:
            why = ("reads later steps (bidirectional)" if not self.causal else
                   f"reads {len(self.sequence_inputs)} sequences")
            raise ValueError(f"{owner}: generation feeds outputs back into a causal model of "
                             f"one input sequence; this one {why}")
        (name,) = self.sequence_inputs
        feeds, dims = self.feed(prompt)
        out = self.forward(feeds, dims)  # the prompt from the model's own initial states
        rng, steps, shape = np.random.default_rng(seed), [], feeds[name].shape[1:]
        output, stepper = out["output"][-1], None
        for i in range(length):
            nxt = np.array(self.next_input(output, rng))  # a copy: outputs are the stepper's
            if out["output"].ndim < 2 or nxt.shape != shape:
                raise ValueError(f"{owner}: the model's output {out['output'].shape[1:]} per "
                                 f"step cannot be its next input {shape}")
            steps.append(nxt)
            if i + 1 < length:  # (the last step's output would go unused)
                if stepper is None:  # from the states the prompt ended in
                    hx = tuple(out[f"{s}_n"] for s in self.state_names)
                    stepper = self.stepper(shape[0], hx[0] if len(hx) == 1 else hx or None)
                output = stepper.step(nxt)
        result = np.stack(steps) if steps else np.zeros((0,) + shape, feeds[name].dtype)
        return np.swapaxes(result, 0, 1) if self.batch_first else result
