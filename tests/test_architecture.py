"""The layout's promises, checked on the source: layers in pipeline order with nothing
importing upward, no import cycles, small modules, the engine independent of ``visualize``
and docs/architecture.md naming only files that exist."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "graphrnn"
#: the engine's layers, lowest first: a module may import its own layer and those before it
LAYERS = ["core", "frontend", "transforms", "runtime", "compiler", "models", "train", "app"]
MAX_LINES = 450


def _modules():
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _type_checking_nodes(tree):
    """Nodes under ``if TYPE_CHECKING:`` (annotations only: never imported at run time)."""
    skip = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.dump(n.test):
            skip |= {id(x) for b in n.body for x in ast.walk(b)}
    return skip


def import_graph() -> nx.DiGraph:
    """Module -> module edges for every import of a graphrnn module, at any depth of the
    file (imports inside functions count: they form cycles all the same)."""
    g = nx.DiGraph()
    for name, path in MODULES.items():
        g.add_node(name)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        tree = ast.parse(path.read_text())
        skip = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] != "graphrnn":
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    g.add_edge(name, sub if sub in MODULES else target)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "graphrnn":
                        g.add_edge(name, alias.name)
    return g


def _layer(module: str):
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_engine_module_lives_in_a_layer():
    loose = [m for m in MODULES if m != "graphrnn" and _layer(m) is None]
    assert not loose, f"modules outside the layer packages {LAYERS}: {loose}"


def test_no_import_cycles():
    g = import_graph()
    g.remove_node("graphrnn")  # the package facade imports everything and is imported by none
    cycles = list(nx.simple_cycles(g))
    assert not cycles, f"import cycles: {cycles}"


def test_nothing_imports_upward():
    upward = [(a, b) for a, b in import_graph().edges
              if None not in (_layer(a), _layer(b)) and _layer(b) > _layer(a)]
    assert not upward, "imports against the pipeline order " + " < ".join(LAYERS) + ": " + \
        ", ".join(f"{a} -> {b}" for a, b in upward)


def test_the_checker_sees_a_cycle_and_an_upward_import(tmp_path, monkeypatch):
    """The two checks above can fail: a planted cycle and an upward import are found."""
    fake = {"graphrnn.core.a": tmp_path / "a.py", "graphrnn.core.b": tmp_path / "b.py",
            "graphrnn.train.c": tmp_path / "c.py"}
    fake["graphrnn.core.a"].write_text("from . import b\nfrom ..train import c\n")
    fake["graphrnn.core.b"].write_text("def f():\n    from .a import x\n")
    fake["graphrnn.train.c"].write_text("from typing import TYPE_CHECKING\n"
                                        "if TYPE_CHECKING:\n    from ..core import a\n")
    monkeypatch.setattr(sys.modules[__name__], "MODULES", fake)
    g = import_graph()
    assert ["graphrnn.core.a", "graphrnn.core.b"] in [sorted(c) for c in nx.simple_cycles(g)]
    assert ("graphrnn.core.a", "graphrnn.train.c") in g.edges
    assert not g.out_degree("graphrnn.train.c")  # annotations-only imports are not edges


def test_importing_graphrnn_runs_no_module_in_a_cycle():
    """What ``python -c "import graphrnn"`` loads, in a fresh interpreter, has no cycle."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, graphrnn; print('\\n'.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
    assert "visualize" not in loaded and "graphviz" not in loaded  # the engine never draws
    g = import_graph().subgraph([m for m in loaded if m in MODULES and m != "graphrnn"])
    assert not list(nx.simple_cycles(g))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines (at most about {MAX_LINES})"


def test_the_engine_never_imports_visualize():
    """Only the application layer (the command line that writes diagrams) draws."""
    for name, path in MODULES.items():
        if name.startswith("graphrnn.app"):
            continue
        assert not re.search(r"^\s*(from|import) visualize\b", path.read_text(), re.M), name


def test_architecture_doc_names_only_real_files():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    paths = set(re.findall(r"`((?:graphrnn|visualize|tests|docs|benchmarks|examples)"
                           r"/[\w/.-]*)`", doc))
    assert len(paths) > 20, "the doc should say where each concern lives"
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"
    for layer in LAYERS:
        assert f"`graphrnn/{layer}/`" in doc, f"docs/architecture.md does not describe {layer}/"
