"""A compiled program's function, its plans per binding, and its call.

A call checks its inputs against the graph's declarations, binds the symbolic sizes (``B``,
and ``T`` for a program generic in the sequence length), looks up the plan for that binding
(buffers, views, shapes; made once and kept in a bounded cache, least recently used out
first) and runs the generated function: no graph work, no allocation a plan could avoid.
"""

from __future__ import annotations

import builtins
import threading
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Tuple

from ..runtime.anomaly import anomaly_enabled
from ..runtime.binding import EvaluationError
from ..core.ir import compact_intern
from .dims import Poly, evaluate
from .render import Rendered

__all__ = ["Function", "assemble", "resolve_shape", "PART_LINES", "PlanCache", "ThreadPlans", "plan_key",
           "replay", "unalias", "Bound"]

#: Lines per generated function: Python's compiler needs memory superlinear in a function's
#: size, so long straight-line programs are split into parts that hand values over in a dict.
PART_LINES = 1500


def resolve_shape(shape, env: Mapping[str, int]) -> Tuple[int, ...]:
    """A symbolic shape (ints, Syms, Polys; ``-1`` kept) as ints under ``env``."""
    return tuple(-1 if (isinstance(d, int) and d == -1) else evaluate(d, env) for d in shape)


def _resolve(value, env):
    """Attribute values with symbolic entries resolved (index keys, shapes)."""
    if isinstance(value, Poly):
        return value(env)
    if isinstance(value, tuple):
        return type(value)(_resolve(v, env) for v in value) if type(value) is tuple else \
            type(value)([_resolve(v, env) for v in value])
    return value


class Function:
    """The generated function and what its lines compute (for error messages)."""

    def __init__(self, fn, source: str, line_instr: List, name: str):
        self.fn, self.source, self.name = fn, source, name
        #: per source line: (node label, origin, step expression or int, in a loop) or None
        self.line_instr = line_instr

    def where(self, e: BaseException) -> str:
        """The generated line (its node, equation and, in a loop, time step) that raised."""
        tb, line, frame = e.__traceback__, None, None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename.startswith("<graphrnn program"):
                line, frame = tb.tb_lineno, tb.tb_frame
            tb = tb.tb_next
        if line is None or line > len(self.line_instr):
            return "before its first line"
        text = self.source.splitlines()[line - 1].strip()
        where = f"line {line}: {text}"
        info = self.line_instr[line - 1]
        if info is not None:
            label, origin, step = info
            if isinstance(step, Poly):
                try:
                    step = step({**_frame_sizes(frame), "t": frame.f_locals.get("t")})
                except (KeyError, TypeError):
                    step = None
            where += f"  [{label}" + (f", t={step}" if step is not None else "") \
                + (f", from {origin}" if origin else "") + "]"
        return where


def _info(ins):
    """What an error message says of the instruction a line computes (no graph kept)."""
    if ins is None:
        return None
    node = ins.node
    return (node.label(), node.origin, ins.step if ins.step is not None else node.step)


def _frame_sizes(frame) -> Dict[str, int]:
    return {k: v for k, v in frame.f_locals.items() if isinstance(v, int) and k.isupper()}


def assemble(rendered: Rendered, scope: dict, name: str) -> Function:
    """Compile the rendered lines into a function ``program(I, P, BUF, V, SH, AT, Z)``."""
    head = [f"    {s} = Z[{s!r}]" for s in rendered.symbols]
    lines = rendered.lines
    if len(lines) <= PART_LINES or any(ind > 1 for ind, _, _ in lines):
        text_lines = ["def program(I, P, BUF, V, SH, AT, Z):"] + head + [
            "    " * ind + txt for ind, txt, _ in lines]
        owners = [None] * (1 + len(head)) + [_info(ins) for _, _, ins in lines]
        text = "\n".join(text_lines) + "\n"
        exec(builtins.compile(text, f"<graphrnn program {name}>", "exec"), scope)
        return Function(scope["program"], text, owners, name)
    return _assemble_parts(rendered, head, scope, name)


def _assemble_parts(rendered: Rendered, head, scope, name) -> Function:
    """A long straight-line program as parts handing values over through a dict ``R``."""
    lines = rendered.lines
    chunks = [list(range(i, min(i + PART_LINES, len(lines))))
              for i in range(0, len(lines), PART_LINES)]
    part_of = {i: k for k, ch in enumerate(chunks) for i in ch}
    defined_in = {v: part_of[i] for v, i in rendered.defs.items()}
    used: Dict[int, set] = {k: set() for k in range(len(chunks))}
    for i, vs in rendered.uses.items():
        used[part_of[i]].update(vs)
    handed: Dict[int, List[int]] = {}
    later: Dict[int, int] = {}
    for k, vs in used.items():
        for v in vs:
            later[v] = max(later.get(v, -1), k)
    for v in rendered.output_ids:
        later[v] = len(chunks) - 1
    for v, d in sorted(defined_in.items()):
        if later.get(v, d) > d:
            handed.setdefault(d, []).append(v)
    driver = ["def program(I, P, BUF, V, SH, AT, Z):"] + head + ["    R = {}"]
    driver += [f"    {'return ' if k == len(chunks) - 1 else ''}part{k}(I, P, BUF, V, SH, AT, Z, R)"
               for k in range(len(chunks))]
    texts = ["\n".join(driver) + "\n"]
    owners: List = [None] * len(driver)
    for k, chunk in enumerate(chunks):
        reads = sorted(v for v in used[k] | (set(rendered.output_ids) if k == len(chunks) - 1
                                             else set()) if defined_in.get(v, k) < k)
        body = [f"def part{k}(I, P, BUF, V, SH, AT, Z, R):"] + [f"    v{v} = R[{v}]" for v in reads]
        owners += [None] * len(body)
        for i in chunk:
            body.append("    " + lines[i][1])
            owners.append(_info(lines[i][2]))
        if k < len(chunks) - 1:
            body += [f"    R[{v}] = v{v}" for v in handed.get(k, ())]
            owners += [None] * len(handed.get(k, ()))
        texts.append("\n".join(body) + "\n")
    text = "".join(texts)
    exec(builtins.compile(text, f"<graphrnn program {name}>", "exec"), scope)
    return Function(scope["program"], text, owners, name)


class PlanCache:
    """Plans per binding, at most ``size`` kept (least recently used dropped first)."""

    def __init__(self, size: int = 8):
        self.size = size
        self.plans: "OrderedDict[tuple, tuple]" = OrderedDict()

    def get(self, key):
        plan = self.plans.get(key)
        if plan is not None:
            self.plans.move_to_end(key)
        return plan

    def put(self, key, plan):
        self.plans[key] = plan
        while len(self.plans) > self.size:
            self.plans.popitem(last=False)

    def __len__(self):
        return len(self.plans)


class ThreadPlans(threading.local):
    """A program's plans, and CUDA-graph captures, per calling thread: threads calling one
    program at once each run in buffers of their own (and a ``copy=False`` result stays
    valid until the next call *from the same thread*)."""

    def __init__(self, size: int):
        self.plans = PlanCache(size)
        self.replays = PlanCache(size)

    def plan(self, key, env: Mapping[str, int], compiled):
        """This thread's plan for the binding ``env`` (``key``: :func:`plan_key` of it): made
        by ``compiled.make_plan`` on first use, then kept."""
        plan = self.plans.get(key)
        if plan is None:
            compact_intern()  # the graph that was compiled is usually gone by the first call
            plan = compiled.make_plan(env)
            self.plans.put(key, plan)
        return plan


def plan_key(env: Mapping[str, int]) -> tuple:
    """The key of a binding's plan: its sizes in name order."""
    return tuple(sorted(env.items()))


def unalias(values: dict, owned: frozenset) -> None:
    """Copy every value that is (a view of) a buffer of the plan (``owned``: their ids): a
    ``copy=False`` result fed back into the program that made it would be overwritten
    while it is read.  NumPy and CuPy views name the array owning the memory as ``base``."""
    for k, v in values.items():
        base = v.base  # (_owner inlined: every call runs this)
        if id(v if base is None else base) in owned:
            values[k] = v.copy()


def make_plan(rendered: Rendered, buffers, fills, xp, env: Mapping[str, int]):
    """Arrays for one binding: ``(buffers, views, shapes, attrs, sizes, ids of buffers)``;
    after the buffers, ``BUF`` holds the lists of slot views that loops read."""
    bufs = [xp.empty(resolve_shape(shape, env), dtype=dtype) for shape, dtype in buffers]
    for b, value in fills.items():
        bufs[b].fill(value)
    owned = frozenset(map(id, bufs))
    bufs += [list(bufs[b]) for b in rendered.slot_lists]
    shapes = [resolve_shape(s, env) for s in rendered.shapes]
    views: List[object] = []
    starts: Dict[int, List[int]] = {}
    for desc in rendered.views:
        kind = desc[0]
        if kind == "slot":
            _, b, box, idx = desc
            views.append(_slot(bufs[b], box, idx, env, starts, rendered.box_sizes))
        elif kind == "reshape":
            _, table, index, shape = desc
            base = bufs[index] if table == "BUF" else views[index]
            views.append(base.reshape(resolve_shape(shape, env)))
        elif kind == "expr":  # a view of a planned array, as its line would make it
            _, table, index, text = desc
            base = bufs[index] if table == "BUF" else views[index]
            view = eval(text, {"np": xp, "SH": shapes, **env}, {"x": base})
            if _owner(view) is not _owner(base):  # the renderer plans only true views
                raise RuntimeError(f"compiler: the planned view {text!r} of {table}[{index}] "
                                   f"is a copy, not a view (a graphrnn bug; please report it)")
            views.append(view)
        elif kind == "at":  # one step's slot of a stack, or of a ring of ``ring`` slots
            _, b, slot, ring = desc
            k = evaluate(slot, env)
            views.append(bufs[b][k % ring if ring else k])
        else:  # a run of steps
            _, b, first, last = desc
            f, l = evaluate(first, env), evaluate(last, env)
            views.append(bufs[b][f:l + 1] if f <= l else
                         (bufs[b][f:l - 1:-1] if l > 0 else bufs[b][f::-1]))
    attrs = [{k: _resolve(v, env) for k, v in a.items()} for a in rendered.attrs]
    return bufs, views, shapes, attrs, dict(env), owned


def _owner(a):
    """The array owning ``a``'s memory (NumPy and CuPy name it as ``base``); a scalar is its
    own."""
    base = getattr(a, "base", None)
    return a if base is None else base


def _slot(base, box: Optional[int], idx: int, env, starts, box_sizes):
    """Member ``idx`` of a stack (``base[idx]``) or of first-axis concat ``box`` (its rows)."""
    if box is None:
        return base[idx]
    offsets = starts.get(box)
    if offsets is None:  # prefix sums once per concat, not once per member
        offsets = [0]
        for d in box_sizes[box]:
            offsets.append(offsets[-1] + evaluate(d, env))
        starts[box] = offsets
    return base[offsets[idx]:offsets[idx + 1]]


def run(function: Function, plan, values, program_name: str):
    """Call the generated function; a failure names the generated line, node and step."""
    bufs, views, shapes, attrs, sizes, owned = plan
    unalias(values, owned)
    try:
        return function.fn(values, values, bufs, views, shapes, attrs, sizes)
    except Exception as e:
        raise EvaluationError(f"program {program_name!r}, {function.where(e)}: "
                              f"{type(e).__name__}: {e}") from e


def replay(backend, replays: PlanCache, key, function: Function, plan, values, name: str):
    """A call as a replay of the CUDA graph captured for binding ``key`` (captured on first
    use from arrays the program owns, into which later calls copy their inputs); ``replays``
    is bounded like the plans."""
    entry = replays.get(key)
    if entry is None:
        staged = {k: v.copy() for k, v in values.items()}  # the addresses the graph reads
        launch, outs = backend.capture(lambda: run(function, plan, staged, name))
        replays.put(key, (staged, launch, outs, plan))  # the graph writes the plan's buffers
    else:
        staged, launch, outs, _ = entry
        for k, v in values.items():
            backend.xp.copyto(staged[k], v)
    launch()
    return outs


class Bound:
    """A call prepared once (``program.bind(inputs, params)``): ``bound()`` runs the program
    on the arrays it was bound to, read as they are at that moment, and returns the outputs
    by name as views of the program's buffers (as ``copy=False`` does).

    The checks, the binding of the sizes and the look-up of the plan are done at ``bind``,
    so a call is the generated function alone: what stepping a model one token at a time
    wants.  Write new values into the bound arrays in place; an array replaced (a new
    object, a new shape) needs a new ``bind``.  One thread: the plan is the binding
    thread's, and a call of the program from that thread with the same sizes writes the
    same buffers.  Under ``detect_anomaly`` (and for CUDA-graph programs) a call goes the
    program's checked way."""

    __slots__ = ("_fn", "_args", "_names", "_name", "_checked")

    def __init__(self, function: Optional[Function], plan, values: dict, names: List[str],
                 name: str, program, inputs, params, dims):
        """``values``: the checked arrays of ``inputs`` and ``params`` (the very objects:
        a value converted on the way would not show later writes); ``program(inputs,
        params, dims, copy=False)`` is the checked call."""
        bufs, views, shapes, attrs, sizes, owned = plan
        given = {**(inputs or {}), **(params or {})}
        for k, v in values.items():
            if v is not given.get(k, v):
                raise TypeError(f"bind: {k!r} must be an array of the program's backend with "
                                f"the declared dtype (it is read in place at every call), got "
                                f"{type(given[k]).__name__}")
            if id(_owner(v)) in owned:
                raise ValueError(f"bind: {k!r} is (a view of) a buffer of program {name!r}, "
                                 f"which its calls overwrite; bind a copy")
        self._fn = function
        self._args = (values, values, bufs, views, shapes, attrs, sizes)
        self._names, self._name = names, name
        inputs, params = dict(inputs or {}), dict(params or {})
        self._checked = lambda: program(inputs, params, dims, copy=False)

    def __call__(self) -> Dict[str, object]:
        """Run the program once; outputs by name (views valid until the next call)."""
        if self._fn is None or anomaly_enabled():
            return self._checked()
        try:
            outs = self._fn.fn(*self._args)
        except Exception as e:
            raise EvaluationError(f"program {self._name!r}, {self._fn.where(e)}: "
                                  f"{type(e).__name__}: {e}") from e
        return dict(zip(self._names, outs))
