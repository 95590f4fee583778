"""Feed-forward pieces for models: a linear readout (head) and an embedding table."""

from __future__ import annotations

import math

import numpy as np

from ..core import ops as F
from ..core.ir import Node
from .checks import check_size, check_tokens
from .module import Module

__all__ = ["Linear", "Embedding"]


class Linear(Module):
    """``y = x @ weight.T + bias`` on the last axis (PyTorch's ``nn.Linear`` layout and init).

    Applied per step to a ``(T, B, in)`` sequence or to a final state ``(B, in)``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None,
                 seed=None):
        super().__init__(dtype, seed)
        check_size("Linear", in_features=in_features, out_features=out_features)
        self.in_features, self.out_features, self.bias = in_features, out_features, bias
        bound = 1 / math.sqrt(in_features)
        self.uniform("weight", (out_features, in_features), bound)
        if bias:
            self.uniform("bias", (out_features,), bound)

    def build(self, x: Node, prefix: str = "") -> Node:
        """The readout of ``x`` as a node."""
        y = x @ self.param_node("weight", prefix).T
        return y + self.param_node("bias", prefix) if self.bias else y

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Apply to an array of shape ``(..., in_features)``."""
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"Linear: input must be (..., {self.in_features}), got shape "
                             f"{x.shape}")
        y = x @ self._params["weight"].T
        return y + self._params["bias"] if self.bias else y

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias}"


class Embedding(Module):
    """A ``(num_embeddings, embedding_dim)`` table looked up by integer ids (init N(0, 1)).

    Ids outside ``0 .. num_embeddings - 1`` (or not integers) raise :class:`TokenError` when
    the table is called and when a model holding it runs, and ``IndexError`` when a graph
    built with :meth:`build` is run directly (its lookup is ``take``: rows of the table,
    with the gradient of ``one_hot(ids) @ table``)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, dtype=None, seed=None):
        super().__init__(dtype, seed)
        check_size("Embedding", num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.register("weight", self.rng.standard_normal((num_embeddings, embedding_dim)))

    def build(self, ids: Node, prefix: str = "") -> Node:
        """Rows of the table for integer ``ids`` of any shape: ``ids.shape + (dim,)``."""
        return F.take(self.param_node("weight", prefix), ids)

    def __call__(self, ids) -> np.ndarray:
        """Rows of the table for an integer array ``ids``: ``ids.shape + (dim,)``."""
        ids = check_tokens(ids, self.num_embeddings, "Embedding: ids")
        return self._params["weight"][ids]

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"
