"""The IR: hash-consed immutable nodes, metadata, Graph, text dump, networkx export,
symbolic batch shapes, and depth-independent traversal."""

import networkx as nx
import numpy as np
import pytest

import graphrnn as gr
from graphrnn.core.shapes import ShapeError, Sym, bind, resolve

F64 = np.float64


def test_equal_structure_is_the_same_node():
    x = gr.input("x", ("B", 3), F64)
    W = gr.param("W", (3, 3), F64)
    a, b = gr.tanh(x @ W), gr.tanh(x @ W)
    assert a is b and hash(a) == hash(b)
    assert gr.tanh(x @ W) is not gr.sigmoid(x @ W)
    # attributes take part in identity, and 0.0 differs from -0.0
    assert gr.sum(x, 0) is not gr.sum(x, 1)
    assert gr.const(0.0, F64) is not gr.const(-0.0, F64)
    assert gr.const(1.0, F64) is not gr.const(1.0, np.float32)


def test_nodes_are_immutable_and_metadata_does_not_change_identity():
    x = gr.input("x", (2,), F64)
    y = gr.exp(x)
    with pytest.raises(AttributeError, match="immutable"):
        y.shape = (3,)
    with gr.meta_scope(step=3, origin="h[t] = exp(x[t])"):
        z = gr.log(x)
        again = gr.exp(x)  # already built: keeps its first metadata
    assert (z.step, z.origin) == (3, "h[t] = exp(x[t])")
    assert again is y and y.step is None
    y.tag(name="ey", step=1)
    y.tag(name="other")  # fills only empty fields
    assert (y.name, y.step) == ("ey", 1)


def test_graph_collects_named_leaves_in_order_and_rejects_name_clashes():
    x = gr.input("x", ("B", 2), F64)
    W = gr.param("W", (2, 2), F64)
    b = gr.param("b", (2,), F64)
    g = gr.Graph({"y": x @ W + b})
    assert list(g.inputs) == ["x"] and list(g.params) == ["W", "b"]
    assert g.nodes[-1] is g.outputs["y"]
    pos = g.ids()
    assert all(pos[a] < pos[n] for n in g.nodes for a in n.args)
    other = gr.input("x", ("B", 3), F64)
    with pytest.raises(ValueError, match="two different leaves are named 'x'"):
        gr.Graph([x.sum() + other.sum()])


def test_dump_is_one_line_per_node_with_shapes_and_metadata():
    x = gr.input("x", ("B", 1), F64)
    W = gr.param("W", (1, 3), F64)
    with gr.meta_scope(step=2, origin="h[t] = tanh(x[t] @ W)"):
        h = gr.tanh(x @ W)
    g = gr.Graph({"h": h}, name="cell")
    text = g.dump()
    lines = text.splitlines()
    assert lines[0] == "graph cell(x: f64(B, 1), W: f64(1, 3))"
    assert "  %2 = matmul %0 %1 : f64(B, 3)    # t=2  h[t] = tanh(x[t] @ W)" in lines
    assert lines[-1] == "  return h=%3"
    assert len(lines) == len(g) + 2


def test_to_networkx_has_one_node_per_value_and_one_edge_per_argument():
    x = gr.input("x", (2, 2), F64)
    y = x * x  # the same argument twice: two edges
    g = gr.Graph({"y": y.sum()})
    nxg = g.to_networkx()
    assert isinstance(nxg, nx.MultiDiGraph)
    assert nxg.number_of_nodes() == len(g)
    assert nxg.number_of_edges() == sum(len(n.args) for n in g.nodes)
    assert nx.is_directed_acyclic_graph(nxg)
    mul_id = g.ids()[y]
    assert sorted(d["index"] for _, _, d in nxg.in_edges(mul_id, data=True)) == [0, 1]
    assert nxg.nodes[mul_id]["op"] == "mul" and nxg.nodes[mul_id]["shape"] == (2, 2)
    assert nxg.graph["outputs"] == {"y": len(g) - 1}


def test_symbolic_batch_binds_at_call_time():
    x = gr.input("x", ("B", 3), F64)
    flat = gr.reshape(gr.stack([x, x, x]), (-1, 3))
    assert flat.shape == (Sym("B", 3), 3)
    for batch in (1, 4):
        out = gr.evaluate(flat, {"x": np.ones((batch, 3))})
        assert out.shape == (3 * batch, 3)
    env = {}
    bind((Sym("B"), 3), (5, 3), env, "x")
    assert env == {"B": 5} and resolve((Sym("B", 2), 1), env) == (10, 1)
    with pytest.raises(ShapeError, match=r"B=2, but B=5 was already bound"):
        bind((Sym("B"),), (2,), env, "input 'y'")


def test_a_chain_of_100k_nodes_builds_differentiates_and_runs_without_recursion():
    x = gr.input("x", (2,), F64)
    h = x
    for _ in range(100_000):
        h = gr.tanh(h)
    g = gr.Graph({"loss": h.sum()})
    assert len(g) > 100_000
    (dx,) = gr.grad(g.outputs["loss"], [x])
    out = gr.evaluate(gr.Graph({"loss": g.outputs["loss"], "dx": dx}),
                      {"x": np.array([0.5, -0.5])})
    ref = np.array([0.5, -0.5])
    deriv = np.ones(2)
    for _ in range(100_000):
        ref = np.tanh(ref)
        deriv *= 1 - ref ** 2
    np.testing.assert_allclose(out["loss"], ref.sum(), rtol=1e-12)
    np.testing.assert_allclose(out["dx"], deriv, rtol=1e-9)
    assert len(g.dump().splitlines()) == len(g) + 2
    assert g.to_networkx().number_of_nodes() == len(g)
    del g, h, dx, out  # tearing a deep chain down must not overflow either
