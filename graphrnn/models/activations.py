"""Activations the zoo's hand-written models take by name (``Elman``, ``Jordan``,
``Autonomous``): ``"tanh"``, ``"sigmoid"``, ``"relu"`` and ``"identity"``."""

from __future__ import annotations

from typing import Callable, Dict

from ..core import ops as F
from ..core.ir import Node

__all__ = ["ACTIVATIONS", "activation"]


def _identity(v: Node) -> Node:
    return v


#: name -> function of a node
ACTIVATIONS: Dict[str, Callable[[Node], Node]] = {
    "tanh": F.tanh, "sigmoid": F.sigmoid, "relu": F.relu, "identity": _identity}


def activation(name, owner: str = "model", arg: str = "activation") -> Callable[[Node], Node]:
    """The activation called ``name``; any other value raises ``ValueError`` naming ``owner``,
    the argument ``arg`` and the names accepted."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"{owner}: {arg} must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]
