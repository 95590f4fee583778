"""``Module``: named parameters as NumPy arrays, children, state dicts and ``.npz`` files,
and the one protocol every model of the zoo follows (see :class:`Module`).

A module holds values; it builds graph nodes on demand (``param_node``), named by the
same dotted names as its state dict (``encoder.weight_ih_l0``), so a graph built from a
module is evaluated with ``params=module.state_dict()``.  Calls run compiled programs
(:mod:`graphrnn.compiler`): one per kind of call, generic in the sequence length, so a new
length compiles nothing.  Programs take the parameters at call time, so loading new weights
never invalidates them.
"""

from __future__ import annotations

import inspect
import os
import threading
from collections import OrderedDict
from typing import Callable, Dict, Iterator, Mapping, Optional, Tuple

import numpy as np

from ..core import ops as F
from ..transforms.autodiff import grad_graph
from ..compiler import GenericProgram, Program
from ..core.ir import Graph, Node
from ..core.safeio import NpzReader, deferred_interrupt, write_npz
from .keys import function_key
from .checks import check_tokens
from .protocol import ModelProtocol

__all__ = ["Module", "StateDictError", "function_key"]


_GRAD = "dloss/d"  # how grad_graph names the gradient of output "loss"


class StateDictError(ValueError):
    """A state dict, parameter file or checkpoint cannot be loaded (unreadable, or not
    matching the model or optimizer); raised before anything changed, naming every entry at
    fault.  :class:`graphrnn.train.CheckpointError` is the checkpoints' subclass."""


#: one compilation at a time across modules; calls of compiled programs run concurrently
_COMPILING = threading.RLock()


class Module(ModelProtocol):
    """Base class: ``register`` parameters, ``add`` children, then build graphs from them.

    **The model protocol.**  A model (every class of the zoo but the ``Linear`` and
    ``Embedding`` parts) defines:

    - ``graph(*lengths, initial_states=False, mask=False) -> Graph``: the model unrolled,
      one positional length per symbol in ``lengths``.  Its inputs are the time-major
      ``sequence_inputs``, with ``initial_states`` the carried states ``<s>0``, with
      ``mask`` a bool ``(T, B)`` input ``mask`` (True on real steps); its outputs are
      ``output`` (the prediction: per step ``(T, B, ...)`` or per sequence ``(B, ...)``)
      and every carried state's final value ``<s>_n`` (others may follow).  A model that
      cannot take one of the options raises ``ValueError`` saying so.
    - ``lengths`` (default ``("T",)``): the length symbols, the last one the length of the
      outputs, of per-step targets and of the mask; ``sequence_inputs`` (default
      ``{"input": "T"}``): each sequence input's name and length symbol, given as
      ``(T, B, features)`` floats or ``(T, B)`` token ids (``{}`` when the model reads none).
    - ``state_shapes(batch)``: carried state name -> shape of ``<s>0`` and ``<s>_n``
      (``{"h": (layers * directions, batch, H)}``; ``{}``: none).
    - ``feed(*args, **kwargs) -> (feeds, dims)``: a call's arguments checked and named as
      the graph's inputs (time-major), plus sizes no input gives (``{"T": 5, "B": 1}``) or
      None; ``initial_states`` and ``mask`` follow from the feeds holding ``<s>0`` and
      ``mask``.
    - ``recurrence()``: the folded recurrence (of the first recurrent layer), to render.
    - ``causal`` (default True): False when an output reads later steps (bidirectional),
      which truncated BPTT and generation refuse.

    From these the base class (its :class:`~graphrnn.models.protocol.ModelProtocol` part)
    runs everything through the same cached programs (:meth:`program`, keyed by the kind of
    call, one program for every length): :meth:`forward` (a call's outputs),
    :meth:`loss_and_grad`, :meth:`generate` (feeding outputs back), and
    :func:`graphrnn.fit`, which builds its training step from ``graph`` with a target and
    the loss.
    """

    def __init__(self, dtype=None, seed: Optional[int] = None):
        self.dtype = np.dtype(dtype or F.DEFAULT_DTYPE)
        if self.dtype.kind != "f":
            raise ValueError(f"{type(self).__name__}: dtype must be floating point, got {self.dtype}")
        self.rng = np.random.default_rng(seed)
        self._params: Dict[str, np.ndarray] = {}
        self._children: Dict[str, "Module"] = {}
        self._programs: "OrderedDict[tuple, object]" = OrderedDict()
        self._graph_fns: Dict[tuple, Callable] = {}  # graph_fn's, by their options
        self._tokens = False  # whether calls check token ids (see token_inputs)
        #: optimization level of the programs a call compiles (O0 runs the graph as written)
        self.opt_level = "O2"
        #: backend the programs run on ("cupy": parameters are copied to the GPU per call and
        #: results come back as NumPy arrays)
        self.backend = "numpy"

    # ------------------------------------------------------------ parameters
    #: how many parameters all modules have registered (added or replaced) so far: who holds
    #: the live arrays (a :class:`~graphrnn.models.stepping.Stepper`) compares it with the
    #: count it saw to know they still are (updates in place, by optimizers and
    #: ``load_state_dict``, keep the arrays)
    registrations = 0

    def register(self, name: str, value: np.ndarray) -> None:
        """Add (or replace) the parameter ``name``."""
        self._params[name] = np.ascontiguousarray(value, dtype=self.dtype)
        Module.registrations += 1

    def uniform(self, name: str, shape, bound: float) -> None:
        """Register ``name`` drawn uniformly from ``[-bound, bound]`` (PyTorch's default init)."""
        self.register(name, self.rng.uniform(-bound, bound, size=shape))

    def add(self, name: str, child: "Module") -> "Module":
        """Add a child module; its parameters appear as ``name.<param>``."""
        if child.dtype != self.dtype:
            raise ValueError(f"{type(self).__name__}: child {name!r} is {child.dtype}, "
                             f"expected {self.dtype}")
        self._children[name] = child
        return child

    def named_parameters(self, prefix: str = "") -> Iterator[Tuple[str, np.ndarray]]:
        """``(dotted name, array)`` for every parameter, children included, in order."""
        for k, v in self._params.items():
            yield prefix + k, v
        for name, child in self._children.items():
            yield from child.named_parameters(f"{prefix}{name}.")

    def parameters(self) -> Dict[str, np.ndarray]:
        """The live parameter arrays by name (no copies: an optimizer may update them in place)."""
        return dict(self.named_parameters())

    def param_node(self, name: str, prefix: str = "") -> Node:
        """The graph leaf for parameter ``name`` (named ``prefix + name``)."""
        v = self._params[name]
        return F.param(prefix + name, v.shape, self.dtype)

    def num_parameters(self) -> int:
        """How many scalars the parameters hold."""
        return sum(v.size for _, v in self.named_parameters())

    # ------------------------------------------------------------ state dicts and files
    def state_dict(self) -> Dict[str, np.ndarray]:
        """Copies of every parameter, by PyTorch-style dotted name."""
        return {k: v.copy() for k, v in self.named_parameters()}

    def check_state_dict(self, state: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """``state`` converted to the model's dtype, every entry checked; changes nothing.

        Raises :class:`StateDictError` naming every missing, unexpected, wrongly shaped or
        unconvertible entry (real numbers only: no strings, objects or complex values)."""
        if not isinstance(state, Mapping):
            raise StateDictError(f"{type(self).__name__}: a state dict must be a mapping of "
                                 f"name -> array, got {type(state).__name__}")
        own = dict(self.named_parameters())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        shapes, values, out = [], [], {}
        for k in own:
            if k not in state:
                continue
            try:
                raw = np.asarray(state[k])
                if raw.dtype.kind not in "biuf":
                    raise TypeError(f"{raw.dtype} is not a real number type")
                value = raw.astype(self.dtype, copy=False)
            except (TypeError, ValueError) as e:
                values.append(f"{k}: cannot convert to {self.dtype} ({e})")
                continue
            if value.shape != own[k].shape:
                shapes.append(f"{k}: expected {own[k].shape}, got {value.shape}")
            out[k] = value
        if missing or unexpected or shapes or values:
            parts = []
            if missing:
                parts.append(f"missing {missing}")
            if unexpected:
                parts.append(f"unexpected {unexpected}")
            if shapes:
                parts.append("wrong shape: " + "; ".join(shapes))
            if values:
                parts.append("wrong value: " + "; ".join(values))
            raise StateDictError(f"{type(self).__name__}.load_state_dict: " + ", ".join(parts))
        return out

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Load parameters by name, all or nothing: everything is checked
        (:meth:`check_state_dict`) before any parameter changes, and the copy is not cut
        short by Ctrl-C.  Values are converted to the model's dtype; a failure raises
        :class:`StateDictError` naming every entry at fault."""
        values = self.check_state_dict(state)
        own = dict(self.named_parameters())
        with deferred_interrupt():
            for k, v in own.items():
                np.copyto(v, values[k])

    def save(self, path: str) -> str:
        """Write the parameters to an ``.npz`` file (no pickle, atomically: a reader or a
        crash sees the old file or the new one); returns the path."""
        return write_npz(path, self.state_dict())

    def load(self, path: str) -> None:
        """Read parameters saved by :meth:`save`, all or nothing (never unpickles).

        Every member's header is compared with the model (names, shapes, numeric dtypes)
        before any data is read, so a file declaring huge arrays is refused unread; any
        problem raises :class:`StateDictError`."""
        own = dict(self.named_parameters())
        with NpzReader(path, StateDictError, f"parameter file for {type(self).__name__}") as f:
            problems = [f"unexpected {k!r}" for k in f.headers if k not in own]
            problems += [f"missing {k!r}" for k in own if k not in f.headers]
            for k, (shape, dtype) in f.headers.items():
                if k in own and (shape != own[k].shape or dtype.kind not in "biuf"):
                    problems.append(f"{k}: expected {own[k].shape} numbers, got {shape} {dtype}")
            if problems:
                raise StateDictError(f"{type(self).__name__}.load: {os.fspath(path)!r} does not "
                                     f"match the model: " + "; ".join(problems))
            state = {k: f.read(k) for k in f.headers}
        self.load_state_dict(state)

    # ------------------------------------------------------------ cached programs
    #: programs a module keeps (one per kind of call; least recently used dropped first)
    program_cache = 16

    def program(self, key: tuple, build: Callable, checked: bool = True):
        """The program cached under ``key`` (plus the backend and level), compiled once from
        ``build``: a function of the sequence length(s) (``lambda T: self.graph(T)``, one
        program for every length: a :class:`~graphrnn.compiler.GenericProgram`) or of nothing
        (a graph of fixed shape: a :class:`~graphrnn.compiler.Program`).  Either way
        ``program.graph`` is the optimized :class:`~graphrnn.core.ir.Graph` (of the generic
        program's base length; None when the steps do not roll and every length compiles
        its own program: ``program.why_not`` says why), ``program.source`` the code.  For a
        model with token inputs its calls check the ids first, unless ``checked=False``
        (the program itself, for a caller that checks them)."""
        key = (self.backend, self.opt_level) + tuple(key)  # changing either compiles anew
        program = self._programs.get(key)  # a hit takes no lock: calls never wait on compiles
        if program is not None:
            try:
                self._programs.move_to_end(key)  # least recently used goes first
            except KeyError:  # another thread evicted it just now: it still runs
                pass
            return program if not (self._tokens and checked) else _Checked(program, self)
        with _COMPILING:  # threads share the cache (each program keeps buffers per thread)
            program = self._programs.get(key)
            if program is None:
                if inspect.signature(build).parameters:
                    program = GenericProgram(build, self.opt_level, self.backend)
                else:
                    program = Program(build(), self.opt_level, self.backend)
                self._programs[key] = program
                while len(self._programs) > self.program_cache:
                    self._programs.popitem(last=False)
            else:
                self._programs.move_to_end(key)
            self._tokens = bool(self.token_inputs())
            return program if not (self._tokens and checked) else _Checked(program, self)

    def programs(self) -> Dict[tuple, object]:
        """The cached programs by key (a copy of the cache, least recently used first)."""
        return dict(self._programs)

    # ------------------------------------------------------------ what calls are given
    def token_inputs(self) -> Dict[str, int]:
        """Graph inputs that hold token ids, with their vocabulary sizes (``{"input": 50}``
        for a language model); every program call checks them (:meth:`check_feeds`)."""
        return {}

    def check_feeds(self, feeds: Mapping) -> None:
        """Range-check the token ids in ``feeds`` (one min and one max per input); raises
        :class:`~graphrnn.models.checks.TokenError` naming the input, the id and where it is."""
        for name, vocab in self.token_inputs().items():
            if name in feeds:
                check_tokens(feeds[name], vocab, f"{type(self).__name__}: input {name!r}")

    def with_extra(self, feeds: Mapping, extra: Optional[Mapping], reserved=()) -> Dict:
        """``feeds`` plus the ``extra`` inputs a loss reads, refusing one that would replace
        the model's own (``feeds`` or the ``reserved`` names)."""
        if extra is None:
            return dict(feeds)
        if not isinstance(extra, Mapping):
            raise TypeError(f"{type(self).__name__}: extra must be a dict of input arrays, got "
                            f"{type(extra).__name__}")
        clash = sorted(k for k in extra if k in feeds or k in reserved)
        if clash:
            raise ValueError(f"{type(self).__name__}: extra names {clash}, which the model's own "
                             f"inputs are called ({sorted({*feeds, *reserved})}); give the "
                             f"loss's inputs other names")
        return {**feeds, **extra}

    def run(self, key: tuple, build: Callable, feeds: Mapping,
            dims: Optional[Mapping[str, int]] = None) -> Dict[str, np.ndarray]:
        """Run the program cached under ``key`` (see :meth:`program`) on ``feeds``, with this
        module's current parameters; results come back as NumPy arrays."""
        program = self.program(key, build)
        params = self.parameters()
        names = program.param_names
        out = program(feeds, params if names is None else {k: params[k] for k in names}, dims)
        if program.backend.xp is not np:  # device arrays (NumPy and native hand back NumPy)
            out = {k: program.backend.to_numpy(v) for k, v in out.items()}
        return out

    def run_loss(self, key: tuple, graph_fn: Callable[..., Graph],
                 loss_fn: Callable[[Dict[str, Node]], Node], feeds: Mapping,
                 dims: Optional[Mapping[str, int]] = None):
        """``(loss, grads)``: ``loss_fn(outputs of graph_fn(T))`` and its gradient with respect
        to every parameter (by name) and every float input fed (by input name); one program
        for every length, cached per ``loss_fn`` (by :func:`function_key`); ``dims`` gives
        sizes no input gives."""
        names = list(inspect.signature(graph_fn).parameters)

        def build(**lengths):
            g = graph_fn(**lengths)
            clash = [k for k in g.outputs if k == "loss" or k.startswith(_GRAD)]
            if clash:
                raise ValueError(f"{type(self).__name__}: the model's graph has an output named "
                                 f"{clash[0]!r}, the name of the loss or a gradient; rename it")
            loss = loss_fn(dict(g.outputs))
            if not isinstance(loss, Node) or loss.shape != ():
                raise ValueError(f"{type(self).__name__}: loss_fn must return a scalar node, "
                                 f"got {loss!r}")
            wrt = [*g.params, *(k for k, v in g.inputs.items() if v.dtype.kind == "f")]
            full = grad_graph(Graph({"loss": loss, **g.outputs}, name=f"loss({g.name})"), wrt,
                              loss="loss")
            return Graph({k: v for k, v in full.outputs.items()
                          if k == "loss" or k.startswith(_GRAD)}, name=full.name)
        build.__signature__ = inspect.Signature(
            [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in names])
        out = self.run(("loss", function_key(loss_fn)) + tuple(key), build, feeds, dims)
        return out["loss"], {k[len(_GRAD):]: v for k, v in out.items() if k.startswith(_GRAD)}

    def extra_repr(self) -> str:
        """What ``repr`` shows between the parentheses (sizes, options)."""
        return ""

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"


class _Checked:
    """A module's program whose calls first check the token ids fed (``fit`` calls programs
    directly, so the check lives here); everything else is the program's."""

    __slots__ = ("program", "module")

    def __init__(self, program, module: Module):
        self.program, self.module = program, module

    def __call__(self, inputs=None, *args, **kwargs):
        self.module.check_feeds(inputs or {})
        return self.program(inputs, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.program, name)
