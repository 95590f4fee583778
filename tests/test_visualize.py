"""visualize: folded, unrolled, gradient-flow and diff diagrams, checked in the SVG they render."""

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import graphrnn as gr
import visualize
from graphrnn.app.cli import main
from graphrnn.catalog import BUILTIN_NAMES, EXACT, builtin_recurrence, lstm_recurrence, \
    moving_sum_recurrence

from .zoo import ZOO, lengths_of

needs_dot = pytest.mark.skipif(not visualize.dot_available(),
                               reason="Graphviz's 'dot' binary is not installed (apt-get install graphviz)")
SVG = "{http://www.w3.org/2000/svg}"


def svg_of(diagram, tmp_path, name="d"):
    root = ET.parse(visualize.write_svg(diagram, str(tmp_path / name))).getroot()
    groups = {}
    for g in root.iter(SVG + "g"):
        cls = g.get("class")
        title = g.find(SVG + "title")
        texts = [t.text for t in g.iter(SVG + "text") if t.text]
        paths = [p for p in g.iter(SVG + "path")]
        groups.setdefault(cls, []).append({"title": title.text if title is not None else None,
                                           "texts": texts, "paths": paths})
    return groups


@needs_dot
@pytest.mark.parametrize("model", BUILTIN_NAMES)
def test_folded_view_of_every_builtin_model_shows_its_delay_edges(model, tmp_path):
    rec = builtin_recurrence(model)
    groups = svg_of(visualize.folded(rec), tmp_path)
    fold = rec.folded()
    titles = {n["title"] for n in groups["node"]}
    kinds = {k: d["kind"] for k, d in fold.nodes(data=True)}
    # variables keep their names as node ids; parameters and operations get private ids
    assert {k for k, kind in kinds.items() if kind not in ("param", "op")} <= titles
    assert sum(1 for t in titles if t.startswith("op#")) == list(kinds.values()).count("op")
    assert sum(1 for t in titles if t.startswith("param#")) == list(kinds.values()).count("param")
    delays = [e for e in groups["edge"] if "t-1" in e["texts"]]
    n_delay = sum(1 for *_, d in fold.edges(data=True) if d["kind"] == "delay")
    assert n_delay >= 1 and len(delays) == n_delay
    assert all(p.get("stroke-dasharray") for e in delays for p in e["paths"])  # dashed
    params = [v for v in fold.nodes if fold.nodes[v]["kind"] == "param"]
    for p in params:  # one node per parameter, labelled with its name
        assert sum(1 for n in groups["node"] if n["texts"] and n["texts"][0] == p) == 1


@needs_dot
def test_constant_only_nodes_belong_to_no_step_whatever_was_built_before(tmp_path):
    """Hash-consing shares what is computed from constants alone with every graph that needs
    it, tagged with the step of the first: one built at step 8 must not put a step 8 cluster
    into a diagram of steps 1 and 2."""
    with gr.meta_scope(step=8):  # built first (and kept alive), tagged t=8
        first = gr.broadcast_to(gr.const(2.5, "float64"), (gr.B, 3))
    x = gr.input("x", (gr.B, 3), "float64")
    with gr.meta_scope(step=1):
        y1 = gr.tanh(x * 2.5)  # the same broadcast, shared
    with gr.meta_scope(step=2):
        y2 = gr.tanh(y1 * 2.5)
    assert first.step == 8 and first in gr.Graph({"y": y2}).nodes
    groups = svg_of(visualize.unrolled(gr.Graph({"y": y2})), tmp_path)
    assert sorted(c["title"] for c in groups["cluster"]) == ["cluster_t1", "cluster_t2"]


@needs_dot
@pytest.mark.parametrize("model", BUILTIN_NAMES)
def test_unrolled_view_has_a_cluster_per_step_and_parameters_drawn_once(model, tmp_path):
    graph = builtin_recurrence(model).unroll(4)
    groups = svg_of(visualize.unrolled(graph), tmp_path)
    clusters = sorted(c["title"] for c in groups["cluster"])
    assert clusters == [f"cluster_t{t}" for t in range(1, 5)]
    labels = [n["texts"][0] for n in groups["node"] if n["texts"]]
    for name in graph.params:
        assert labels.count(name) == 1, name
    repeated = svg_of(visualize.unrolled(graph, share_params=False), tmp_path, "rep")
    labels = [n["texts"][0] for n in repeated["node"] if n["texts"]]
    assert max(labels.count(name) for name in graph.params) == 4  # once per step


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_model_of_the_zoo_renders_folded_and_unrolled(name):
    """The model protocol: ``recurrence()`` is drawn folded, ``graph(...)`` unrolled."""
    model = ZOO[name]().model
    folded = visualize.folded(model.recurrence()).source
    graph = model.graph(*lengths_of(model))
    unrolled = visualize.unrolled(graph, max_steps=2).source
    assert "t-1" in folded  # the delay edge: the loop through time
    assert "output" in unrolled and all(p in unrolled for p in graph.params)


@needs_dot
def test_long_unrollings_are_elided_and_a_1000_step_lstm_renders(tmp_path):
    graph = lstm_recurrence(4, 8).unroll(1000)
    groups = svg_of(visualize.unrolled(graph, max_steps=4), tmp_path)
    assert sorted(c["title"] for c in groups["cluster"]) == [
        "cluster_t1", "cluster_t1000", "cluster_t2", "cluster_t999"]
    elided = [n for n in groups["node"] if n["title"] == "elided"]
    assert len(elided) == 1 and "996 steps (t=3..998)" in " ".join(elided[0]["texts"])
    collapsed = svg_of(visualize.unrolled(graph, max_steps=4, collapse=True), tmp_path, "c")
    cells = [n for n in collapsed["node"] if n["title"].startswith("cell")]
    assert len(cells) == 4


def test_gradient_norms_are_the_norms_of_the_adjoints():
    x = gr.input("x", (2, 3), np.float64)
    y = gr.tanh(x) * 3.0
    loss = gr.sum(y)
    xv = np.random.default_rng(0).normal(size=(2, 3))
    norms = visualize.gradient_norms(gr.Graph({"loss": loss}), {"x": xv})
    assert norms[y] == pytest.approx(np.sqrt(6))
    assert norms[x] == pytest.approx(np.linalg.norm(3 * (1 - np.tanh(xv) ** 2)))


def test_gradient_flow_colours_vanishing_gradients_and_has_a_legend():
    rec = moving_sum_recurrence()
    g = rec.unroll(8)
    lg = gr.Graph({"loss": gr.sum(g.outputs["h_final"])})
    vals = {**EXACT, "W": EXACT["W"] * 0.2, "x": np.ones((8, 2, 1))}
    norms = visualize.gradient_norms(lg, vals)
    h = {n.step: norms[n] for n in lg.nodes if n.name and n.name.startswith("h@")}
    assert visualize.state_gradient_norms(lg, vals) == h and len(h) == 8
    per_unit = visualize.state_gradient_map(lg, vals)  # (units, steps); a unit's column norm
    assert per_unit.shape == (3, 8)
    assert np.allclose(np.linalg.norm(per_unit, axis=0), [h[t] for t in range(1, 9)])
    with pytest.raises(ValueError, match="depends on no step of state 'c'"):
        visualize.state_gradient_map(lg, vals, state="c")
    assert h[8] > h[1] == 0.0 or h[8] > h[1]  # contracting W: earlier states matter less
    src = visualize.gradient_flow(lg, vals, max_steps=None).source
    assert "cluster_legend" in src and "|dL/dx| (log)" in src
    colours = set(re.findall(r'color="(#[0-9a-f]{6})"', src))
    assert len(colours) >= 3  # several norms, several colours
    assert 'dir=back' in src


def test_passes_diff_marks_removed_and_new_nodes():
    x = gr.input("x", ("B", 2), np.float64)
    W = gr.param("W", (2, 2), np.float64)
    before = gr.Graph({"y": gr.tanh(x @ W) * 1.0}, name="before")
    after = gr.Graph({"y": gr.tanh(x @ W)}, name="after")
    src = visualize.passes_diff(before, after).source
    assert "7 -> 4 nodes: 3 removed, 0 new" in src  # the product, its constant, its broadcast
    assert src.count("dashed") >= 2


def test_writing_dot_needs_no_graphviz_binary(tmp_path):
    path = visualize.write(visualize.folded(moving_sum_recurrence()), str(tmp_path / "f"), "dot")
    text = open(path).read()
    assert path.endswith(".dot") and text.startswith("digraph") and "t-1" in text


@needs_dot
def test_render_command_for_builtin_models_and_python_files(tmp_path, capsys):
    for view in ("folded", "unrolled", "gradients", "optimized"):
        out = tmp_path / f"elman-{view}.svg"
        assert main(["render", "elman", "--view", view, "--steps", "3", "-o", str(out)]) == 0
        assert ET.parse(out).getroot().tag == SVG + "svg"
    model = tmp_path / "mine.py"
    model.write_text("from graphrnn import Recurrence, t, tanh\n"
                     "recurrence = Recurrence('mine')\n"
                     "h = recurrence.state('h', 2)\n"
                     "recurrence.update(h, tanh(h[t-1] @ recurrence.param('W', (2, 2))))\n")
    assert main(["render", str(model), "--view", "unrolled", "--steps", "2",
                 "-o", str(tmp_path / "mine.dot"), "--format", "dot"]) == 0
    assert "cluster_t2" in (tmp_path / "mine.dot").read_text()
    with pytest.raises(KeyError, match="unknown model 'nope'; built-in models: elman"):
        main(["render", "nope"])


def test_diagrams_show_as_svg_in_jupyter_and_as_dot_source_without_dot(monkeypatch):
    diagram = visualize.folded(moving_sum_recurrence())
    assert isinstance(diagram, visualize.Diagram)
    if visualize.dot_available():
        assert diagram._repr_mimebundle_()["image/svg+xml"].lstrip().startswith("<")
    monkeypatch.setattr(visualize.output, "dot_available", lambda: False)
    for d in (diagram, visualize.unrolled(moving_sum_recurrence().unroll(2))):
        shown = d._repr_mimebundle_()
        assert list(shown) == ["text/plain"] and "apt-get install graphviz" in shown["text/plain"]
        assert d.source in shown["text/plain"]


def test_plots_leave_the_callers_matplotlib_alone(tmp_path):
    """Plots are drawn outside pyplot: the backend a notebook chose stays, no figure is left
    open (``plt.show()`` in a notebook keeps working after a plot was written)."""
    matplotlib = pytest.importorskip("matplotlib", reason="plots need the [plots] extra")
    import matplotlib.pyplot as plt
    backend = matplotlib.get_backend()
    open_before = plt.get_fignums()
    visualize.line_plot({"a": ([0, 1, 2], [1.0, 2.0, 3.0])}, tmp_path / "a.svg")
    visualize.piano_roll([(60, 0.0, 1.0), (64, 1.0, 1.0)], tmp_path / "r.svg")
    assert matplotlib.get_backend() == backend and plt.get_fignums() == open_before


def test_plots_use_integer_step_ticks_distinct_styles_and_text_labels(tmp_path):
    pytest.importorskip("matplotlib", reason="plots need the [plots] extra")
    ks = np.arange(30)
    path = visualize.line_plot({"decay": (ks, 0.7 ** ks), "0.7^k": (ks, 0.7 ** ks)},
                               tmp_path / "lines", xlabel="k", ylabel="norm", logy=True,
                               dashed=["0.7^k"], formats=("svg", "png"))
    svg = open(path).read()
    assert path.endswith("lines.svg") and (tmp_path / "lines.png").stat().st_size > 1000
    ticks = re.findall(r">(-?\d+(?:\.\d+)?)</text>", svg)
    assert ticks and all("." not in t for t in ticks)  # a step axis: 0, 4, 8, never 7.25
    assert "decay" in svg and "0.7^k" in svg and "stroke-dasharray" in svg
    hist = {"loss": [1.0, 0.5, 0.2, 0.1], "grad_norm": [3.0, 2.0, 1.0, 0.5],
            "epoch_loss": [0.7, 0.15], "val_loss": [0.8, 0.2], "lr": [0.1, 0.1]}
    text = open(visualize.history(hist, tmp_path / "hist")).read()
    assert all(k in text for k in ("epoch_loss", "val_loss", "gradient norm", "epoch"))
    heat = visualize.heatmap(np.abs(np.random.default_rng(0).normal(size=(4, 9))),
                             tmp_path / "heat", colorbar="|g|", log=True, first_column=1)
    assert "|g|" in open(heat).read()
    # the returned path is a str that Jupyter shows as the picture
    assert isinstance(heat, visualize.PlotFile) and isinstance(heat, str)
    assert heat._repr_svg_() == open(heat).read() and heat._repr_png_() is None
    assert path.__class__(str(tmp_path / "lines.png"))._repr_png_()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match=r"heatmap: needs a 2-D array, got shape \(3,\)"):
        visualize.heatmap(np.ones(3), tmp_path / "bad")
    with pytest.raises(ValueError, match="piano_roll: no notes"):
        visualize.piano_roll([], tmp_path / "none")
