"""visualize.dag: one diagram node per graph node, time steps as clusters, SVG that parses."""

import re
import xml.etree.ElementTree as ET

import pytest

import visualize
from graphrnn.demo import moving_sum_graph


def test_dag_draws_every_node_and_edge_with_a_cluster_per_step():
    g = moving_sum_graph(4)
    src = visualize.dag(g).source
    assert len(re.findall(r"^\s*n\d+ \[", src, flags=re.M)) == len(g)
    assert src.count("->") == sum(len(n.args) for n in g.nodes)
    for t in range(1, 5):
        assert f"subgraph cluster_t{t}" in src and f'label="t={t}"' in src
    # a parameter is drawn once however many steps use it
    assert src.count('label="W\n') + src.count('label="W\\n') == 1


def test_oversized_graphs_are_refused_not_drawn_unreadably():
    with pytest.raises(ValueError, match="render fewer steps"):
        visualize.dag(moving_sum_graph(50), max_nodes=100)


@pytest.mark.skipif(not visualize.dot_available(), reason="Graphviz 'dot' is not installed")
def test_write_svg_produces_parseable_svg(tmp_path):
    path = visualize.write_svg(visualize.dag(moving_sum_graph(3)), str(tmp_path / "ms"))
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    titles = [el.text for el in root.iter() if el.tag.endswith("title")]
    assert "cluster_t3" in titles
