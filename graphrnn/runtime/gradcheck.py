"""Check reverse-mode gradients against central finite differences, in float64.

Small problems compare the full Jacobian (one VJP per output element against one
pair of perturbed evaluations per input element); large ones compare random
projections ``v^T J u``.  The tolerance is stated once, here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence, Union

import numpy as np

from ..transforms.autodiff import vjp
from .evaluate import Evaluator
from ..core.ir import Graph, Node, dtype_name
from ..core.ops import input as input_leaf

__all__ = ["gradcheck", "GradcheckError", "GradcheckResult", "EPS", "RTOL", "ATOL"]

#: Central-difference step, relative and absolute tolerance: |analytic - numeric| <= ATOL + RTOL*|numeric|.
EPS, RTOL, ATOL = 1e-6, 1e-5, 1e-7
#: Largest (output elements x input elements) compared as a full Jacobian in mode "auto".
FULL_LIMIT = 4096


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree; the message is the report."""


@dataclass
class Mismatch:
    """The worst entry for one input: where, both values and the scaled error (> 1 fails)."""
    name: str
    mode: str
    index: tuple
    analytic: float
    numeric: float
    error: float

    @property
    def ok(self) -> bool:
        return self.error <= 1.0


class GradcheckResult:
    """Per-input worst entries; truthy when every input passes."""

    def __init__(self, entries: List[Mismatch]):
        self.entries = entries

    @property
    def ok(self) -> bool:
        return all(e.ok for e in self.entries)

    __bool__ = lambda self: self.ok

    def __str__(self):
        lines = [f"gradcheck {'passed' if self.ok else 'FAILED'} (|a - n| <= {ATOL:g} + {RTOL:g}|n|)"]
        for e in self.entries:
            lines.append(f"  {'ok  ' if e.ok else 'FAIL'} {e.name:<12} {e.mode:<4} worst at {_fmt(e)}: "
                         f"analytic {e.analytic:+.10g}  numeric {e.numeric:+.10g}  "
                         f"error {e.error:.3g}x tolerance")
        return "\n".join(lines)


def _fmt(e: Mismatch) -> str:
    if e.mode == "full":
        out, idx = e.index
        return f"d out[{out}] / d {e.name}[{', '.join(map(str, idx))}]"
    return str(e.index[0])


def _worst(name, mode, analytic, numeric, rtol, atol, index_of) -> Mismatch:
    scaled = np.abs(analytic - numeric) / (atol + rtol * np.abs(numeric))
    k = int(np.argmax(scaled)) if scaled.size else 0
    if not scaled.size:
        return Mismatch(name, mode, (), 0.0, 0.0, 0.0)
    return Mismatch(name, mode, index_of(k), float(analytic.flat[k]), float(numeric.flat[k]),
                    float(scaled.flat[k]))


def gradcheck(target: Union[Graph, Node, Sequence[Node]], inputs: Optional[Mapping] = None,
              params: Optional[Mapping] = None, wrt: Optional[Sequence[str]] = None, *,
              dims: Optional[Mapping[str, int]] = None, mode: str = "auto", eps: float = EPS,
              rtol: float = RTOL, atol: float = ATOL, projections: int = 3, seed: int = 0,
              raise_on_failure: bool = True) -> GradcheckResult:
    """Compare the gradients of ``target``'s outputs with central finite differences.

    ``target`` is a Graph (all its outputs) or node(s); ``wrt`` names the float64 inputs and
    parameters to check (default: all of them).  ``mode`` is ``"full"`` (whole Jacobian),
    ``"fast"`` (``projections`` random ``v^T J u``) or ``"auto"`` (full when small).
    Raises :class:`GradcheckError` with a per-input report on failure unless
    ``raise_on_failure=False``; returns the :class:`GradcheckResult`.
    """
    graph = target if isinstance(target, Graph) else Graph(
        [target] if isinstance(target, Node) else list(target))
    outs = list(graph.outputs.values())
    for k, y in graph.outputs.items():
        if y.dtype != np.float64:
            raise ValueError(f"gradcheck needs float64: output {k!r} is {dtype_name(y.dtype)}")
    leaves = {**graph.inputs, **graph.params}
    names = [n for n, v in leaves.items() if v.dtype.kind == "f"] if wrt is None else list(wrt)
    for n in names:
        if n not in leaves:
            raise KeyError(f"gradcheck: {n!r} is not an input or parameter of the graph")
        if leaves[n].dtype != np.float64:
            raise ValueError(f"gradcheck needs float64: {n!r} is {dtype_name(leaves[n].dtype)}")
    values = {k: np.array(v, dtype=np.float64) if leaves[k].dtype == np.float64 else np.asarray(v)
              for k, v in {**(inputs or {}), **(params or {})}.items() if k in leaves}

    cts = [input_leaf(f"__cotangent{i}", y.shape, y.dtype) for i, y in enumerate(outs)]
    grads = vjp(outs, cts, [leaves[n] for n in names])
    forward = Evaluator(graph)
    backward = Evaluator(Graph({n: g for n, g in zip(names, grads)}, name="vjp"))
    pnames = set(graph.params)

    def split(vals):
        return ({k: v for k, v in vals.items() if k not in pnames},
                {k: v for k, v in vals.items() if k in pnames})

    def run_forward(vals):
        i, p = split(vals)
        return [np.asarray(o, dtype=np.float64) for o in forward(i, p, dims).values()]

    base = run_forward(values)
    out_sizes = [o.size for o in base]
    n_out = sum(out_sizes)

    def run_backward(ct_arrays):
        i, p = split(values)
        i.update({f"__cotangent{k}": c for k, c in enumerate(ct_arrays)})
        bi = {k: v for k, v in i.items() if k in backward.graph.inputs}
        bp = {k: v for k, v in p.items() if k in backward.graph.params}
        got = backward(bi, bp, dims)
        return [np.asarray(got[n], dtype=np.float64) for n in names]

    def ct_from_flat(flat):
        parts, start = [], 0
        for o in base:
            parts.append(flat[start:start + o.size].reshape(o.shape))
            start += o.size
        return parts

    n_in = sum(values[n].size for n in names)
    if mode == "auto":
        mode = "full" if n_out * n_in <= FULL_LIMIT else "fast"
    if mode not in ("full", "fast"):
        raise ValueError(f"gradcheck: mode must be 'auto', 'full' or 'fast', got {mode!r}")
    entries: List[Mismatch] = []
    if mode == "full":
        rows = [run_backward(ct_from_flat(e)) for e in np.eye(n_out)]  # rows[i][w]
        for wi, n in enumerate(names):
            w = values[n]
            analytic = np.stack([r[wi].reshape(-1) for r in rows]) if rows else np.zeros((0, w.size))
            numeric = np.zeros((n_out, w.size))
            for j in range(w.size):
                numeric[:, j] = _central(run_forward, values, n, j, None, eps)
            entries.append(_worst(n, "full", analytic, numeric, rtol, atol,
                                  lambda k, w=w: (k // max(w.size, 1), tuple(
                                      int(i) for i in np.unravel_index(k % max(w.size, 1),
                                                                       w.shape)))))
    else:
        rng = np.random.default_rng(seed)
        for n in names:
            a_list, n_list = [], []
            for _ in range(projections):
                v = rng.standard_normal(n_out)
                u = rng.standard_normal(values[n].shape)
                g = run_backward(ct_from_flat(v))[names.index(n)]
                a_list.append(float(np.sum(g * u)))
                n_list.append(float(_central(run_forward, values, n, None, u, eps) @ v))
            entries.append(_worst(n, "fast", np.array(a_list), np.array(n_list), rtol, atol,
                                  lambda k: (f"projection {k}",)))
    result = GradcheckResult(entries)
    if raise_on_failure and not result.ok:
        raise GradcheckError(str(result))
    return result


def _central(run_forward, values, name, j, direction, eps):
    """(f(w + eps d) - f(w - eps d)) / 2 eps, flattened over all outputs; d = e_j or ``direction``."""
    w = values[name]
    d = np.zeros(w.size) if direction is None else direction.reshape(-1)
    if direction is None:
        d[j] = 1.0
    d = d.reshape(w.shape)
    plus = run_forward({**values, name: w + eps * d})
    minus = run_forward({**values, name: w - eps * d})
    return np.concatenate([((p - m) / (2 * eps)).reshape(-1) for p, m in zip(plus, minus)])
