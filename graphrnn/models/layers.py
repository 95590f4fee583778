"""Feed-forward pieces for models: a linear readout (head) and an embedding table."""

from __future__ import annotations

import math

import numpy as np

from .. import ops as F
from ..ir import Node
from .module import Module

__all__ = ["Linear", "Embedding"]


class Linear(Module):
    """``y = x @ weight.T + bias`` on the last axis (PyTorch's ``nn.Linear`` layout and init).

    Applied per step to a ``(T, B, in)`` sequence or to a final state ``(B, in)``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None,
                 seed=None):
        super().__init__(dtype, seed)
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
        y = x @ self._params["weight"].T
        return y + self._params["bias"] if self.bias else y

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias}"


class Embedding(Module):
    """A ``(num_embeddings, embedding_dim)`` table looked up by integer ids (init N(0, 1))."""

    def __init__(self, num_embeddings: int, embedding_dim: int, dtype=None, seed=None):
        super().__init__(dtype, seed)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.register("weight", self.rng.standard_normal((num_embeddings, embedding_dim)))

    def build(self, ids: Node, prefix: str = "") -> Node:
        """Rows of the table for integer ``ids`` of any shape: ``ids.shape + (dim,)``."""
        return F.one_hot(ids, self.num_embeddings, self.dtype) @ self.param_node("weight", prefix)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"
