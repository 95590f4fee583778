"""Hypothesis strategies: small shapes, bounded float64 arrays, random expression DAGs."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphrnn as gr

F64 = np.float64


def shapes(min_dims=1, max_dims=3, min_side=1, max_side=4):
    """Small concrete shapes."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def arrays(shape, lo=-2.0, hi=2.0):
    """Bounded float64 arrays (no NaN, no huge values)."""
    return hnp.arrays(F64, shape, elements=st.floats(lo, hi, allow_nan=False, width=64))


def away_from_zero(shape, gap=1e-2):
    """Arrays whose entries keep ``gap`` away from 0 (a kink such as relu's)."""
    return arrays(shape).map(lambda a: np.where(a >= 0, a + gap, a - gap))


def distinct(shape, spacing=0.1):
    """Arrays of distinct entries at least ``spacing`` apart (so max has no ties)."""
    n = int(np.prod(shape))
    return st.permutations(range(n)).map(
        lambda p: (np.array(p, dtype=F64) * spacing - n * spacing / 2).reshape(shape))


# ------------------------------------------------------------ random expression DAGs
UNARY = {
    "tanh": gr.tanh, "sigmoid": gr.sigmoid, "neg": gr.neg, "square": gr.square,
    "exp_small": lambda x: gr.exp(gr.tanh(x)),
    "safe_log": lambda x: gr.log(x * x + 1.0),
    "safe_sqrt": lambda x: gr.sqrt(x * x + 1.0),
    "cube": lambda x: x ** 3,
    "softmax": lambda x: gr.softmax(x, -1),
    "log_softmax": lambda x: gr.log_softmax(x, -1),
    "lse_keep": lambda x: gr.broadcast_to(gr.logsumexp(x, -1, keepdims=True), x.shape),
    "mean_keep": lambda x: gr.broadcast_to(gr.mean(x, 0, keepdims=True), x.shape),
    "matmul_W": None,  # filled in by the strategy (needs a parameter)
    "flip_time": lambda x: x[::-1] if isinstance(x.shape[0], int) else x,
}
MASK = gr.input("mask", (2, 3), bool)  # a bool input: where() is smooth in a and b
BINARY = {
    "add": gr.add, "sub": gr.sub, "mul": gr.mul,
    "safe_div": lambda a, b: a / (b * b + 1.0),
    "where": lambda a, b: gr.where(MASK, a, b),
    "stack_sum": lambda a, b: gr.stack([a, b]).sum(0),
    "concat_split": lambda a, b: gr.split(gr.concat([a, b], -1), 2, -1)[1] * a,
}


@st.composite
def expression_dags(draw, max_leaves=3, max_ops=8):
    """A random DAG over ``max_leaves`` inputs of shape (2, n) and a parameter W (n, n).

    Nodes are drawn from a growing pool, so subexpressions are shared and reused.
    Returns ``(loss, inputs, params, description)`` with a scalar float64 ``loss``; values
    given for leaves the loss does not reach are dropped.
    """
    n = 3
    k = draw(st.integers(1, max_leaves))
    leaves = [gr.input(f"x{i}", (2, n), F64) for i in range(k)]
    W = gr.param("W", (n, n), F64)
    pool = list(leaves)
    steps = []
    for _ in range(draw(st.integers(1, max_ops))):
        if draw(st.booleans()):
            name = draw(st.sampled_from(sorted(UNARY)))
            a = draw(st.sampled_from(pool))
            node = (a @ W) if name == "matmul_W" else UNARY[name](a)
            steps.append(f"{name}(#{pool.index(a)})")
        else:
            name = draw(st.sampled_from(sorted(BINARY)))
            a, b = draw(st.sampled_from(pool)), draw(st.sampled_from(pool))
            node = BINARY[name](a, b)
            steps.append(f"{name}(#{pool.index(a)}, #{pool.index(b)})")
        pool.append(node)
    picks = draw(st.lists(st.sampled_from(pool[k:]), min_size=1, max_size=3))
    loss = gr.add_n([gr.sum(p * p) if i % 2 else gr.sum(p) for i, p in enumerate(picks)])
    inputs = {f"x{i}": draw(arrays((2, n), -1.5, 1.5)) for i in range(k)}
    inputs["mask"] = draw(hnp.arrays(bool, (2, n)))
    params = {"W": draw(arrays((n, n), -1.0, 1.0))}
    g = gr.Graph({"loss": loss})
    inputs = {k: v for k, v in inputs.items() if k in g.inputs}
    params = {k: v for k, v in params.items() if k in g.params}
    return loss, inputs, params, "; ".join(steps)


# ------------------------------------------------------------ random recurrences
ACTIVATIONS = {"tanh": gr.tanh, "sigmoid": gr.sigmoid, "half": lambda v: v * 0.5,
               "softsign_ish": lambda v: v / (v * v + 1.0)}


@st.composite
def random_recurrence(draw, n=2):
    """A random recurrence: 1-2 states (inits zeros / param / input, delays 1-3, a same-step
    use of an earlier state), 0-1 inputs (x[t] and delayed x), an output with optional
    feedback y[t-1]; returns ``(rec, description)``."""
    from graphrnn import Recurrence, t

    rec = Recurrence("random", dtype=F64)
    has_input = draw(st.booleans())
    x = rec.input("x", n) if has_input else None
    n_states = draw(st.integers(1, 2))
    states, delays = [], []
    for i in range(n_states):
        init = draw(st.sampled_from(["zeros", "param", "input"]))
        depth = draw(st.integers(1, 3))
        delays.append(depth)
        states.append(rec.state(f"s{i}", n, init=init, depth=depth))
    feedback = draw(st.booleans())
    lines = []
    y = None
    # with feedback, s0 reads the output y_fb[t-1] while y_fb[t] reads s0[t] (Jordan)
    for i, s in enumerate(states):
        terms = []
        for j in range(draw(st.integers(1, 3))):
            k = draw(st.integers(1, delays[i]))
            src = draw(st.sampled_from(["self", "other", "input"]))
            if src == "other" and i > 0:
                ref = states[draw(st.integers(0, i - 1))]  # an earlier state, same step
            elif src == "input" and x is not None:
                ref = x[t - draw(st.integers(0, 2))]
            else:
                ref = s[t - k]
            terms.append(ref @ rec.param(f"W{i}_{j}", (n, n)))
        if feedback and i == 0:
            if y is None:
                y = rec.output("y_fb", states[0] @ rec.param("Vfb", (n, n)))  # Jordan
            terms.append(y[t - 1] * rec.param("g", (n,)))
        act = draw(st.sampled_from(sorted(ACTIVATIONS)))
        rec.update(s, ACTIVATIONS[act](gr.add_n(terms) + rec.param(f"b{i}", (n,))))
        lines.append(f"s{i}: {act}, {len(terms)} terms")
    rec.output("y", gr.add_n([s @ rec.param(f"V{i}", (n, n)) for i, s in enumerate(states)]))
    desc = (f"input={has_input} feedback={feedback}; " + "; ".join(lines) + "\n"
            + rec.describe())
    return rec, desc


def recurrence_loss(rec, steps, reverse, masked):
    """The unrolled recurrence's loss graph: sum(y**2) + sum(s0_final)."""
    g = rec.unroll(steps, reverse=reverse, mask=masked)
    loss = gr.sum(g.outputs["y"] * g.outputs["y"]) + gr.sum(g.outputs["s0_final"])
    return gr.Graph({"loss": loss})


def leaf_values(graph, rng, batch=2):
    """Values for a graph's inputs (bool masks, floats in [-1, 1]) from a NumPy generator."""
    out = {}
    for name, node in graph.inputs.items():
        shape = tuple(batch if isinstance(d, gr.Sym) else d for d in node.shape)
        out[name] = (rng.random(shape) < 0.7 if node.dtype == bool
                     else rng.uniform(-1.0, 1.0, size=shape))
    return out


@st.composite
def recurrences(draw, n=2, batch=2):
    """A random recurrence unrolled into a loss graph, with values for all its leaves:
    random T in 1..8, forward or reverse, with or without a padding mask.
    Returns ``(graph, inputs, params, description)``; ``graph`` has a scalar ``loss``.
    """
    rec, desc = draw(random_recurrence(n))
    steps = draw(st.integers(1, 8))
    reverse, masked = draw(st.booleans()), draw(st.booleans())
    graph = recurrence_loss(rec, steps, reverse, masked)
    inputs = {}
    for name, node in graph.inputs.items():
        shape = tuple(batch if isinstance(d, gr.Sym) else d for d in node.shape)
        if node.dtype == bool:
            inputs[name] = draw(hnp.arrays(bool, shape))
        else:
            inputs[name] = draw(arrays(shape, -1.0, 1.0))
    params = {name: draw(arrays(node.shape, -0.8, 0.8)) for name, node in graph.params.items()}
    return graph, inputs, params, f"T={steps} reverse={reverse} mask={masked} " + desc


@st.composite
def recurrence_builders(draw, n=2):
    """A random recurrence as a builder ``T -> loss graph`` (forward or reverse, masked or
    not), with parameter values: ``(build, params, description)``."""
    rec, desc = draw(random_recurrence(n))
    reverse, masked = draw(st.booleans()), draw(st.booleans())
    build = lambda T: recurrence_loss(rec, T, reverse, masked)
    probe = build(4)  # long enough to reach every parameter
    params = {name: draw(arrays(node.shape, -0.8, 0.8)) for name, node in probe.params.items()}
    return build, params, f"reverse={reverse} mask={masked} " + desc
