"""The pattern language (transforms/passes/patterns.py) and the rule engine (phases.py):
matching, captures, commutative matching, predicates, misses; rules and rule sets; the
fixed point within one run and the bound on chains of rewrites."""

import re
from pathlib import Path

import numpy as np
import pytest

import graphrnn as gr
from graphrnn.core import ops as F
from graphrnn.core.ops import O
from graphrnn.transforms.passes import PHASES, Pat, Rule, RuleSet, optimize
from graphrnn.transforms.passes.patterns import ANY, RuleContext
from graphrnn.transforms.passes.phases import MAX_REWRITES, apply_rules

F64 = np.float64
X, Y = Pat.var("x"), Pat.var("y")


@pytest.fixture
def xy():
    return gr.input("x", (2, 3), F64), gr.input("y", (2, 3), F64)


# ------------------------------------------------------------------------ matching
def test_a_pattern_matches_by_op_identity_and_captures_nested_arguments(xy):
    x, y = xy
    n = gr.tanh(x) + y
    caps = Pat(O.add, name="n", args=(Pat(O.tanh, args=(X,)), Y)).match(n)
    assert caps == {"n": n, "x": x, "y": y}
    assert Pat(O.add).match(n) == {} and ANY.match(n) == {}
    assert Pat({O.sub, O.add}, name="s").match(n) == {"s": n}
    assert Pat(O.add, args=(ANY, ANY)).match(n) == {}


def test_no_match_on_another_op_arity_or_argument(xy):
    x, y = xy
    n = x + y
    assert Pat(O.mul).match(n) is None
    assert Pat(O.add, args=(X,)).match(n) is None  # arity
    assert Pat(O.add, args=(Pat(O.tanh), Y)).match(n) is None
    assert Pat(O.add_n, args=(X, Y)).match(gr.add_n([x, y, x])) is None
    assert list(Pat(O.mul).matches(n)) == []


def test_a_name_used_twice_must_capture_the_same_node(xy):
    x, y = xy
    same = Pat(O.sub, args=(X, X))
    assert same.match(x - x) == {"x": x}
    assert same.match(x - y) is None
    assert Pat(O.where, args=(ANY, X, X)).match(gr.where(x > y, y, y)) == {"x": y}


def test_commutative_patterns_match_either_order_and_enumerate_both(xy):
    x, y = xy
    pat = Pat(O.mul, args=(X, Pat(O.tanh, name="t")), commutative=True)
    t = gr.tanh(y)
    assert pat.match(x * t) == {"x": x, "t": t}
    assert pat.match(t * x) == {"x": x, "t": t}
    assert Pat(O.mul, args=(X, Pat(O.tanh, name="t"))).match(t * x) is None  # not commutative
    both = list(Pat(O.mul, args=(X, Y), commutative=True).matches(x * y))
    assert both == [{"x": x, "y": y}, {"x": y, "y": x}]
    assert len(list(Pat(O.mul, args=(X, Y), commutative=True).matches(x * x))) == 1
    # nested: the inner commutative choice is backtracked when the outer fails
    inner = Pat(O.add, args=(X, Y), commutative=True)
    nested = Pat(O.mul, args=(inner, Pat.var("y")))
    assert nested.match((x + y) * x) == {"x": y, "y": x}


def test_predicates_known_constants_and_attributes(xy):
    x, _ = xy
    one = Pat.one("c")
    assert one.match(gr.full((2, 3), 1.0, F64)) is not None
    assert one.match(gr.broadcast_to(gr.const(1.0, F64), (2, 3))) is not None
    assert one.match(gr.full((2, 3), 2.0, F64)) is None and one.match(x) is None
    assert Pat.zero().match(gr.full((2, 3), -0.0, F64)) is not None
    # elements seen through views: a folded array of ones, reshaped and broadcast
    ones = gr.broadcast_to(gr.reshape(gr.const(np.ones((1, 3)), F64), (1, 1, 3)), (2, 1, 3))
    assert Pat.one().match(ones) is not None
    t = gr.transpose(x, (1, 0))
    assert Pat(O.transpose, attrs={"axes": (1, 0)}).match(t) is not None
    assert Pat(O.transpose, attrs={"axes": (0, 1)}).match(t) is None
    assert Pat(O.transpose, attrs={"axes": lambda a: a[0] == 1}).match(t) is not None
    assert Pat(where=lambda n: n.ndim == 2).match(t) is not None
    assert Pat(where=lambda n: n.ndim == 3).match(t) is None


def test_patterns_take_ops_never_names():
    with pytest.raises(TypeError, match="must be an Op"):
        Pat("add")
    with pytest.raises(TypeError, match="must be an Op"):
        Pat({"add", O.mul})
    with pytest.raises(TypeError, match="args must be patterns"):
        Pat(O.add, args=("x", "y"))
    with pytest.raises(ValueError, match="exactly two"):
        Pat(O.neg, args=(X,), commutative=True)
    assert "add(" in repr(Pat(O.add, args=(X, Y), commutative=True, name="n"))


# --------------------------------------------------------------------------- rules
def test_rules_check_their_builder_against_the_captures(xy):
    with pytest.raises(TypeError, match=r"no argument for captures \['y'\]"):
        Rule("r", Pat(O.add, args=(X, Y)), lambda x: x)
    with pytest.raises(TypeError, match=r"captures no \['z'\]"):
        Rule("r", Pat(O.add, args=(X, Y)), lambda x, y, z: x)
    with pytest.raises(ValueError, match="two rules are named 'r'"):
        RuleSet([Rule("r", Pat(O.neg), lambda: None), Rule("r", Pat(O.neg), lambda: None)])
    x, y = xy
    r = Rule("first", Pat(O.add, args=(X, Y)), lambda x, y, ctx: x if ctx.fast_math else y)
    assert r.apply(x + y, RuleContext(True)) is x and r.apply(x + y) is y
    assert r.apply(x - y) is None
    assert "first" in repr(r) and r.doc == ""


def test_a_declining_builder_lets_the_other_order_match(xy):
    x, y = xy
    r = Rule("tanh-times", Pat(O.mul, args=(X, Y), commutative=True),
             lambda x, y: y if x.op is O.tanh else None)
    t = gr.tanh(x)
    assert r.apply(y * t) is y and r.apply(t * y) is y and r.apply(x * y) is None


def test_fast_math_rules_wait_for_the_opt_in_unless_exact_here():
    x = gr.input("x", (3,), F64)
    i = gr.input("i", (3,), np.int64)
    drop = Rule("mul-zero", Pat(O.mul, name="n", args=(ANY, Pat.zero())),
                lambda n: F.zeros(n.shape, n.dtype), fast_math=True,
                exact_if=lambda n: n.dtype.kind != "f")
    assert drop.apply(x * 0.0) is None
    assert drop.apply(x * 0.0, RuleContext(fast_math=True)) is not None
    assert drop.apply(i * 0) is not None  # exact for integers
    rules = RuleSet([drop])
    assert rules.for_op(O.mul, False) == [drop] and rules.for_op(O.add, True) == []
    assert rules.names == ["mul-zero"] and len(rules + RuleSet([])) == 1


# -------------------------------------------------------------- fixed point, bound
def _canonicalize(graph, fast_math=False):
    out, report = optimize(graph, passes=["canonicalize"], report=True, fast_math=fast_math)
    return out, report.rules


def test_a_replacement_is_simplified_again_in_the_same_run():
    x = gr.input("x", (2, 3), F64)
    # -0.0 - (-x) becomes -(-x), which is a new match: x, in one call
    out, rules = _canonicalize(gr.Graph({"y": -0.0 - (-x)}))
    assert out.outputs["y"] is x
    assert rules["sub-from-negative-zero"] == 1 and rules["double-negation"] == 1
    # x * 1 * 1 and --(--x): every level in one call (the outer x * 1, rebuilt, is the
    # inner one, hash-consed: rewritten once)
    out, rules = _canonicalize(gr.Graph({"a": x * 1.0 * 1.0, "b": -(-(-(-x)))}))
    assert out.outputs["a"] is x and out.outputs["b"] is x
    assert rules["mul-by-one"] == 1 and rules["double-negation"] == 1
    # a stack of the rows of a concat: the view is a slice of the concat, which is a piece
    a, b = gr.input("a", (2, 3), F64), gr.input("b", (3, 3), F64)
    ab = gr.concat([a, b], axis=0)
    out, rules = _canonicalize(gr.Graph({"y": gr.stack([ab[2], ab[3], ab[4]])}))
    assert out.outputs["y"] is b
    assert rules == {"stack-of-rows": 1, "slice-of-concat": 1}


def test_a_fixed_point_reached_is_left_alone():
    x = gr.input("x", (2, 3), F64)
    g = gr.Graph({"y": gr.tanh(x) * 2.0})
    out, rules = _canonicalize(g)
    assert out is g and rules == {}
    once = optimize(gr.Graph({"y": -(-x) + -0.0}), "O1")
    assert optimize(once, "O1") is once


def test_a_cycle_of_rules_stops_at_the_bound():
    x, y = gr.input("x", (2, 3), F64), gr.input("y", (2, 3), F64)
    g = gr.Graph({"z": gr.tanh(x * y)})
    swap = RuleSet([Rule("swap", Pat(O.mul, args=(X, Y)), lambda x, y: F.mul(y, x))])
    out, counts = apply_rules(g, swap)
    assert counts["swap"] == MAX_REWRITES and counts.capped == 1
    v = {"x": np.arange(6.0).reshape(2, 3), "y": np.ones((2, 3))}
    np.testing.assert_array_equal(gr.evaluate(out, v)["z"], gr.evaluate(g, v)["z"])
    out, counts = apply_rules(g, swap, max_rewrites=3)
    assert counts["swap"] == 3 and counts.capped == 1
    # a rule whose replacement holds the node it replaces, undone by another: bounded too
    grow = RuleSet([Rule("wrap", Pat(O.tanh, name="t"), lambda t: F.neg(F.neg(t))),
                    Rule("unwrap", Pat(O.neg, args=(Pat(O.neg, args=(X,)),)), lambda x: x)])
    out, counts = apply_rules(g, grow)
    assert counts.capped >= 1 and counts["wrap"] <= 2 * MAX_REWRITES
    np.testing.assert_array_equal(gr.evaluate(out, v)["z"], gr.evaluate(g, v)["z"])


def test_rules_must_keep_shape_and_dtype():
    x = gr.input("x", (2, 3), F64)
    bad = RuleSet([Rule("shrink", Pat(O.tanh, args=(X,)), lambda x: x[0])])
    with pytest.raises(gr.ShapeError, match="rule shrink: rewrote tanh"):
        apply_rules(gr.Graph({"y": gr.tanh(x)}), bad)


def test_every_phase_names_its_rules_uniquely_and_documents_them():
    seen = set()
    for phase in PHASES.values():
        for rule in phase.rules:
            assert rule.name not in seen and rule.doc, rule.name
            assert rule.name == rule.name.lower() and " " not in rule.name
            seen.add(rule.name)


def test_transforms_compare_ops_by_identity_never_by_name():
    root = Path(gr.__file__).parent / "transforms"
    bad = [f"{p.name}:{i}: {line.strip()}" for p in sorted(root.rglob("*.py"))
           for i, line in enumerate(p.read_text().splitlines(), 1)
           if re.search(r"op\.name\s*(==|!=|\bin\b|\bnot in\b)", line)]
    assert not bad, bad
