"""Op identity is the Op object: outside ``graphrnn/core/ops/`` no module compares an op by
its name (a misspelt name compares unequal in silence; ``node.op is O.tanh`` fails loudly),
and the compiler holds no per-op table (what it needs is in each op's own table)."""

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import graphrnn as gr
import graphrnn.compiler

ROOT = Path(__file__).resolve().parent.parent
OPS_DIR = ROOT / "graphrnn" / "core" / "ops"
_COMPARE = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)


def _is_op(node) -> bool:
    """``op`` or ``x.op``."""
    return (isinstance(node, ast.Name) and node.id == "op") or (
        isinstance(node, ast.Attribute) and node.attr == "op")


def _op_side(node, aliases=frozenset()) -> bool:
    """An op, or the name of one: ``op``, ``ins.op``, ``op.name``, ``n.op.name``, or a
    variable assigned one (``name = node.op.name``)."""
    if isinstance(node, ast.Attribute) and node.attr == "name":
        return _is_op(node.value)
    return _is_op(node) or isinstance(node, ast.Name) and node.id in aliases


def _strings(node, named) -> bool:
    """A string constant, a tuple/list/set of them (``frozenset({...})`` too), or a module
    constant bound to one (``named``)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return bool(node.elts) and all(_strings(e, named) for e in node.elts)
    if isinstance(node, ast.Dict):
        return bool(node.keys) and all(k is not None and _strings(k, named) for k in node.keys)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            node.func.id in ("frozenset", "set", "tuple") and len(node.args) == 1:
        return _strings(node.args[0], named)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _strings(node.left, named) and _strings(node.right, named)
    return isinstance(node, ast.Name) and node.id in named


def name_comparisons(source: str, filename: str = "<source>"):
    """``(line, text)`` of every comparison of an op (or its name) with strings."""
    tree = ast.parse(source, filename)
    named = set()
    for stmt in tree.body:  # module constants holding strings (VIEWS = {"index", ...})
        if isinstance(stmt, ast.Assign) and _strings(stmt.value, named):
            named.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
    aliases = {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
               and _op_side(node.value) for t in node.targets if isinstance(t, ast.Name)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left] + node.comparators
        for op, a, b in zip(node.ops, sides, sides[1:]):
            if isinstance(op, _COMPARE) and (_op_side(a, aliases) and _strings(b, named)
                                             or _op_side(b, aliases) and _strings(a, named)):
                found.append((node.lineno, ast.get_source_segment(source, node)))
    return found


def _areas():
    pkg = ROOT / "graphrnn"
    areas = sorted(p.name for p in pkg.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    return [f"graphrnn/{a}" for a in areas] + ["graphrnn (top level)", "visualize"]


def _files(area: str):
    if area == "graphrnn (top level)":
        return sorted((ROOT / "graphrnn").glob("*.py"))
    return sorted(p for p in (ROOT / area).rglob("*.py") if OPS_DIR not in p.parents)


AREAS = _areas()


@pytest.mark.parametrize("area", AREAS)
def test_no_op_is_compared_by_name(area):
    files = _files(area)
    assert files, f"no modules under {area}"
    hits = [f"{p.relative_to(ROOT)}:{line}: {text}" for p in files
            for line, text in name_comparisons(p.read_text(), str(p))]
    assert not hits, ("ops compared by name (use node.op is O.x, or an Op attribute):\n"
                      + "\n".join(hits))


def test_the_detector_sees_the_forms_it_forbids():
    bad = ['ins.op == "stack"', 'n.op.name in ("input", "param")', 'op.name != "x"',
           'op in {"add", "sub"}', '"tanh" == node.op.name', 'n.op.name not in ["a", "b"]',
           'op in VIEWS', 'name = node.op.name\nif name in ("const", "fill"): pass']
    fine = ["n.op is O.tanh", 'n.op.source == "input"', 'kind == "input"',
            'ins.op.join == "new"', "op in table", 'n.name == "h@1"']
    head = 'VIEWS = frozenset({"index", "reshape"})\n'
    for text in bad:
        assert name_comparisons(head + text), text
    for text in fine:
        assert not name_comparisons(head + text), text


def _compiler_modules():
    path = graphrnn.compiler.__path__
    return ["graphrnn.compiler"] + sorted(
        f"graphrnn.compiler.{m.name}" for m in pkgutil.iter_modules(path))


@pytest.mark.parametrize("module", _compiler_modules() + ["graphrnn.core.pretty"])
def test_no_per_op_table(module):
    """No module constant (a dict, set or sequence of strings) names an op."""
    mod = importlib.import_module(module)
    names = set(gr.OPS)
    for attr, value in vars(mod).items():
        if attr.startswith("__") or not isinstance(value, (dict, set, frozenset, tuple, list)):
            continue
        keys = [k for k in value if isinstance(k, str)]
        named = sorted(names.intersection(keys))
        assert not named, f"{module}.{attr} is a per-op table (it names {named})"
