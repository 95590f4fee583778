"""Cache keys for functions that build graph nodes (a loss given to ``fit`` or
``loss_and_grad``): two functions get the same key when they build the same graph.

A key holds the function's code (bytecode, constants, names, nested functions' code) and
what it reads from outside: closure variables, defaults, the globals its code names, a
bound method's object, a ``functools.partial``'s arguments.  Numbers, strings and tuples of
them count by value (``1`` and ``1.0`` apart, NaN equal to itself); any other object by
identity, held by the key so that its identity cannot be reused while the key is cached.
An object changed in place (an array, a list) is not noticed, nor are values a helper
function reads on the loss's behalf: pass changing data as an input.
"""

from __future__ import annotations

import functools
import inspect
import numbers
from typing import Callable

import numpy as np

__all__ = ["function_key"]

_VALUES = (numbers.Number, np.generic, str, bytes, type(None))


class _Same:
    """An object in a key by identity (kept alive by the key)."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __hash__(self):
        return id(self.obj)

    def __eq__(self, other):
        return isinstance(other, _Same) and other.obj is self.obj


def _held(v):
    """``v`` as part of a key: by value (numbers, strings, tuples of them) or by identity."""
    if isinstance(v, _VALUES):
        return ("=", type(v), repr(v))
    if type(v) is tuple:
        return tuple(_held(x) for x in v)
    return _Same(v)


def _codes(code):
    """``code`` and the code of the functions written inside it."""
    yield code
    for c in code.co_consts:
        if inspect.iscode(c):
            yield from _codes(c)


def _consts(code) -> tuple:
    """A code object's constants, typed (``1`` and ``1.0`` apart); nested functions' code by
    its content only (so the same lambda on another line matches)."""
    return tuple("<code>" if inspect.iscode(c) else (type(c), repr(c)) for c in code.co_consts)


def function_key(fn: Callable) -> tuple:
    """A hashable key for ``fn`` (see the module docstring): the same ``lambda`` written again
    (on another line, or in a loop) gets the same key; one reading another value does not."""
    if isinstance(fn, functools.partial):
        return ("partial", function_key(fn.func), _held(tuple(fn.args)),
                tuple(sorted((k, _held(v)) for k, v in fn.keywords.items())))
    if inspect.ismethod(fn):
        return ("method", function_key(fn.__func__), _Same(fn.__self__))
    code = getattr(fn, "__code__", None)
    if code is None:  # a builtin or a callable object
        return ("object", _Same(fn))
    codes = list(_codes(code))
    names = sorted({n for c in codes for n in c.co_names})
    ns = fn.__globals__
    return ("function", tuple((c.co_code, _consts(c), c.co_names, c.co_varnames) for c in codes),
            _held(tuple(fn.__defaults__ or ())),
            tuple(sorted((k, _held(v)) for k, v in (fn.__kwdefaults__ or {}).items())),
            tuple(_held(c.cell_contents) for c in (fn.__closure__ or ()) if _filled(c)),
            tuple((n, _held(ns[n])) for n in names if n in ns), _Same(ns))


def _filled(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:  # a closure variable not yet assigned
        return False
    return True
