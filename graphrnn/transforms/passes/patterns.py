"""Rewrite rules as data: a small pattern language over nodes, named rules, rule sets.

A :class:`Pat` describes a node: its op (one :class:`~graphrnn.core.ops.Op`, a set of them,
or any), its arguments (nested patterns, optionally in either order for a commutative op),
attribute values or predicates, a predicate on the node itself, and a name to capture it
by.  A name used twice must capture the same node (``x - x``).  A :class:`Rule` is a name,
a pattern and a builder: a function of the captures (by keyword) returning the replacement
node, or None to decline.  A :class:`RuleSet` holds rules in priority order and finds the
first that rewrites a node; :mod:`.phases` runs a rule set over a graph to a fixed point.
In the spirit of tinygrad's ``PatternMatcher([(UPat(...), fn)])`` and PyTensor's named
rewrites::

    Rule("mul-by-one", Pat(O.mul, args=(Pat.var("x"), Pat.one()), commutative=True),
         lambda x: x)
"""

from __future__ import annotations

import inspect
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from ...core.ir import Node
from ...core.ops import Op
from .rewrite import is_one, is_zero

__all__ = ["Pat", "Rule", "RuleSet", "RuleContext", "ANY"]


class Pat:
    """A pattern over nodes (see the module docstring).

    ``op``: an Op, an iterable of Ops, or None for any op.  ``args``: None (any arguments)
    or a tuple of sub-patterns, one per argument.  ``name``: capture the node under this
    name.  ``where``: a predicate ``fn(node) -> bool``.  ``attrs``: ``{name: value}`` or
    ``{name: fn(value) -> bool}``.  ``commutative``: a two-argument pattern also matches
    with the arguments swapped.
    """

    __slots__ = ("ops", "args", "name", "where", "attrs", "commutative", "simple", "_order",
                 "_flat")

    def __init__(self, op=None, args: Optional[Iterable["Pat"]] = None, name: Optional[str] = None,
                 where: Optional[Callable[[Node], bool]] = None,
                 attrs: Optional[Mapping[str, object]] = None, commutative: bool = False):
        if op is None or isinstance(op, Op):
            self.ops = None if op is None else frozenset([op])
        else:
            self.ops = frozenset(op)
            if not self.ops or not all(isinstance(o, Op) for o in self.ops):
                raise TypeError(f"Pat: op must be an Op, a set of Ops or None, got {op!r}")
        self.args = None if args is None else tuple(args)
        if self.args is not None and not all(isinstance(a, Pat) for a in self.args):
            raise TypeError("Pat: args must be patterns")
        if commutative and (self.args is None or len(self.args) != 2):
            raise ValueError("Pat: a commutative pattern needs exactly two argument patterns")
        self.name, self.where, self.commutative = name, where, commutative
        self.attrs = tuple(dict(attrs or {}).items())
        children = self.args or ()
        #: no commutative pattern inside: one way to match at most, no backtracking
        self.simple = not commutative and all(a.simple for a in children)
        # the arguments to check, those that can fail first (bare captures last)
        self._order = tuple(sorted(enumerate(children), key=lambda ia: ia[1]._bare))
        self._flat = all(a.simple for a in children)  # backtracking only at this node

    @property
    def _bare(self) -> bool:
        """Matches every node (at most a capture)."""
        return self.ops is None and not self.attrs and self.where is None and self.args is None

    # -- shorthands ---------------------------------------------------------------------
    @staticmethod
    def var(name: str, where: Optional[Callable[[Node], bool]] = None) -> "Pat":
        """Any node, captured as ``name``."""
        return Pat(name=name, where=where)

    @staticmethod
    def zero(name: Optional[str] = None) -> "Pat":
        """A node known to be all zeros (either sign)."""
        return Pat(name=name, where=is_zero)

    @staticmethod
    def one(name: Optional[str] = None) -> "Pat":
        """A node known to be all ones."""
        return Pat(name=name, where=is_one)

    # -- matching -----------------------------------------------------------------------
    def names(self) -> List[str]:
        """The capture names in this pattern (each once, outermost first)."""
        out, stack = [], [self]
        while stack:
            p = stack.pop()
            if p.name is not None and p.name not in out:
                out.append(p.name)
            stack.extend(reversed(p.args or ()))
        return out

    def match(self, node: Node) -> Optional[Dict[str, Node]]:
        """The captures of the first way ``node`` matches, or None."""
        for caps in self.matches(node):
            return caps
        return None

    def matches(self, node: Node, caps: Optional[Dict[str, Node]] = None) -> Iterator[Dict[str, Node]]:
        """Every way ``node`` matches (commutative patterns try both orders), as captures."""
        caps = {} if caps is None else dict(caps)
        if self.simple:
            return iter((caps,) if self._match_one(node, caps) else ())
        return iter(self._match_all(node, caps))

    def _accepts(self, node: Node) -> bool:
        """The checks on the node itself: its op, its attributes, the predicate."""
        if self.ops is not None and node.op not in self.ops:
            return False
        for key, want in self.attrs:
            have = node.attr(key)
            if not (want(have) if callable(want) else have == want):
                return False
        return self.where is None or bool(self.where(node))

    def _head(self, node: Node, caps: Dict[str, Node]) -> Optional[Dict[str, Node]]:
        """Check the node itself (op, attributes, predicate, capture): the captures with
        this node's added, or None."""
        if not self._accepts(node):
            return None
        if self.name is not None:
            seen = caps.get(self.name)
            if seen is None:
                return {**caps, self.name: node}
            if seen is not node:
                return None
        return caps

    def _match_one(self, node: Node, caps: Dict[str, Node]) -> bool:
        """Match a simple pattern (no backtracking), adding captures to ``caps`` in place
        (the caller passes a dict of its own)."""
        if not self._accepts(node):
            return False
        name = self.name
        if name is not None:
            seen = caps.get(name)
            if seen is None:
                caps[name] = node
            elif seen is not node:
                return False
        pats = self.args
        if pats is None:
            return True
        args = node.args
        if len(args) != len(pats):
            return False
        for i, p in self._order:
            if not p._match_one(args[i], caps):
                return False
        return True

    def _match_all(self, node: Node, caps: Dict[str, Node]) -> List[Dict[str, Node]]:
        """Every match, eagerly (patterns are small): both orders of a commutative node."""
        caps = self._head(node, caps)
        if caps is None:
            return []
        if self.args is None:
            return [caps]
        args = node.args
        if len(args) != len(self.args):
            return []
        swap = self.commutative and args[0] is not args[1]
        if self._flat and self.commutative:  # two simple arguments, in either order
            (i, p), (j, q) = self._order
            out = []
            c = dict(caps)
            if p._match_one(args[i], c) and q._match_one(args[j], c):
                out.append(c)
            if swap:
                c = dict(caps)
                if p._match_one(args[1 - i], c) and q._match_one(args[1 - j], c):
                    out.append(c)
            return out
        out = _match_args(self.args, args, caps)
        if swap:
            out += _match_args(self.args, args[::-1], caps)
        return out

    def __repr__(self):
        op = "any" if self.ops is None else "|".join(sorted(o.name for o in self.ops))
        parts = [op]
        if self.args is not None:
            parts.append("(" + ", ".join(map(repr, self.args)) + ")")
        if self.commutative:
            parts.append("~")
        if self.name:
            parts.append(f":{self.name}")
        return "".join(parts)


def _match_args(pats: Tuple[Pat, ...], nodes: Tuple[Node, ...],
                caps: Dict[str, Node]) -> List[Dict[str, Node]]:
    """Every way ``nodes`` match ``pats`` in order, extending ``caps``."""
    partial = [caps]
    for p, a in zip(pats, nodes):
        found: List[Dict[str, Node]] = []
        for c in partial:
            if p.simple:
                m = dict(c)
                if p._match_one(a, m):
                    found.append(m)
            else:
                found.extend(p._match_all(a, c))
        if not found:
            return []
        partial = found
    return partial


#: any node
ANY = Pat()


class RuleContext:
    """What a rule may read besides its captures: ``fast_math``, plus the facts a phase
    gathers from the whole graph before rewriting (set as attributes)."""

    def __init__(self, fast_math: bool = False, **facts):
        self.fast_math = bool(fast_math)
        self.__dict__.update(facts)


class Rule:
    """A named rewrite: ``build(**captures)`` (plus ``ctx=`` when it takes one) returns the
    replacement of a node matching ``pattern`` (same shape and dtype), or None.

    ``fast_math=True``: only exact for finite values, so it runs only when the caller opts
    in, except on nodes for which ``exact_if(node)`` holds (integers, say).
    """

    __slots__ = ("name", "pattern", "build", "fast_math", "exact_if", "doc", "_ctx")

    def __init__(self, name: str, pattern: Pat, build: Callable[..., Optional[Node]], *,
                 fast_math: bool = False, exact_if: Optional[Callable[[Node], bool]] = None,
                 doc: str = ""):
        if not isinstance(pattern, Pat):
            raise TypeError(f"rule {name!r}: pattern must be a Pat")
        params = inspect.signature(build).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        missing = [n for n in pattern.names() if n not in params and not takes_any]
        if missing:
            raise TypeError(f"rule {name!r}: the builder takes no argument for captures {missing}")
        required = [n for n, p in params.items() if p.default is p.empty
                    and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                    and n != "ctx" and n not in pattern.names()]
        if required:
            raise TypeError(f"rule {name!r}: the pattern captures no {required}")
        self.name, self.pattern, self.build = name, pattern, build
        self.fast_math, self.exact_if = fast_math, exact_if
        self.doc = doc or (inspect.getdoc(build) or "").split("\n")[0]
        self._ctx = "ctx" in params

    def active(self, node: Node, ctx: RuleContext) -> bool:
        """Whether this rule may rewrite ``node`` under ``ctx`` (its fast-math gate)."""
        return not self.fast_math or ctx.fast_math or (
            self.exact_if is not None and self.exact_if(node))

    def apply(self, node: Node, ctx: Optional[RuleContext] = None) -> Optional[Node]:
        """The replacement of ``node`` by this rule, or None (no match, or declined)."""
        if ctx is None:
            ctx = RuleContext()
        if self.fast_math and not self.active(node, ctx):
            return None
        pat = self.pattern
        if pat.simple:  # one match at most
            caps: Dict[str, Node] = {}
            if not pat._match_one(node, caps):
                return None
            r = self.build(**caps, ctx=ctx) if self._ctx else self.build(**caps)
            return None if r is node else r
        for caps in pat._match_all(node, {}):
            r = self.build(**caps, ctx=ctx) if self._ctx else self.build(**caps)
            if r is not None and r is not node:
                return r
        return None

    def __repr__(self):
        return f"<Rule {self.name}: {self.pattern!r}{' (fast_math)' if self.fast_math else ''}>"


class RuleSet:
    """Rules in priority order, indexed by the op at their pattern's root.

    ``first(node, ctx)`` is ``(rule, replacement)`` for the first rule that rewrites ``node``,
    or None.  Rule sets concatenate with ``+``; rule names are unique.
    """

    def __init__(self, rules: Iterable[Rule]):
        self.rules: List[Rule] = list(rules)
        seen = set()
        for r in self.rules:
            if not isinstance(r, Rule):
                raise TypeError(f"RuleSet: expected Rule objects, got {r!r}")
            if r.name in seen:
                raise ValueError(f"RuleSet: two rules are named {r.name!r}")
            seen.add(r.name)
        self._by_op: Tuple[Dict[Op, List[Rule]], ...] = ({}, {})  # without, with fast_math

    def __add__(self, other: "RuleSet") -> "RuleSet":
        return RuleSet(self.rules + other.rules)

    def __iter__(self):
        return iter(self.rules)

    def __len__(self):
        return len(self.rules)

    @property
    def names(self) -> List[str]:
        """The rule names, in priority order."""
        return [r.name for r in self.rules]

    def for_op(self, op: Op, fast_math: bool) -> List[Rule]:
        """The rules that may fire on a node of ``op`` (fast-math rules only when allowed or
        exact on some nodes), in priority order."""
        table = self._by_op[fast_math]
        got = table.get(op)
        if got is None:
            got = table[op] = [
                r for r in self.rules
                if (r.pattern.ops is None or op in r.pattern.ops)
                and (fast_math or not r.fast_math or r.exact_if is not None)]
        return got

    def first(self, node: Node, ctx: RuleContext) -> Optional[Tuple[Rule, Node]]:
        """``(rule, replacement)`` for the first rule that rewrites ``node``, else None."""
        fast = ctx.fast_math
        rules = self._by_op[fast].get(node.op)
        if rules is None:
            rules = self.for_op(node.op, fast)
        for rule in rules:
            r = rule.apply(node, ctx)
            if r is not None:
                return rule, r
        return None
