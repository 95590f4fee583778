"""graphrnn: recurrent neural networks as symbolic recurrences, unrolled into graphs,
differentiated in reverse mode, and executed on NumPy or CuPy.

The public API in one place::

    import graphrnn as gr
    x = gr.input("x", ("B", 3), "float64")
    W = gr.param("W", (3, 3), "float64")
    loss = gr.tanh(x @ W).sum()
    dW = gr.grad(loss, W)
    gr.evaluate(dW, inputs={"x": ...}, params={"W": ...})
"""

from . import expr as _expr  # noqa: F401  (installs operator overloading on Node)
from .anomaly import AnomalyError, detect_anomaly
from .autodiff import grad, grad_graph, vjp
from .backends import available_backends, get_backend
from .compiler import Program, compile
from .evaluate import EvaluationError, Evaluator, InputError, evaluate
from .gradcheck import GradcheckError, gradcheck
from .ir import Graph, Node, meta_scope, toposort
from .passes import optimize
from .ops import *  # noqa: F401,F403  (the op builders: tanh, matmul, sum, ...)
from .ops import OPS, DEFAULT_DTYPE
from . import losses, optim
from .recurrence import Recurrence, RecurrenceError, t
from .shapes import B, ShapeError, Sym
from .models.module import StateDictError
from .train import CheckpointError, NonFiniteLossError, fit, load_checkpoint, save_checkpoint
from .unroll import unroll

__version__ = "0.1.0"
