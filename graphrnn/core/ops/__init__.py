"""The op library.  Each module registers its ops (every interpretation of an op together)
and exports the functions that build nodes."""

from .registry import OPS, Frozen, O, Op, apply, register, unregister
from .source import (DEFAULT_DTYPE, const, full, input, numel, ones, ones_like, param, zeros,
                     zeros_like)
from .shape_ops import broadcast_to, index, reshape, sum_to_shape, swap_last, transpose
from .joins import concat, split, stack
from .elementwise import (add, add_n, broadcast_shapes, cast, div, equal, exp, greater,
                          greater_equal, less, less_equal, log, logical_and, logical_not,
                          logical_or, mul, neg, not_equal, pow, relu, sqrt, square,
                          recompute, stop_gradient, sub, tanh, where)
from .activations import log_sigmoid, sigmoid
from .reduce import log_softmax, logsumexp, max, mean, softmax, sum
from .linalg import matmul
from .nn import gather, one_hot, take
