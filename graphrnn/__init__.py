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

from .core import expr as _expr  # noqa: F401  (installs operator overloading on Node)
from .runtime.anomaly import AnomalyError, detect_anomaly
from .transforms.autodiff import grad, grad_graph, vjp
from .runtime.backends import available_backends, get_backend
from .compiler import Program, compile
from .runtime.binding import EvaluationError, InputError
from .runtime.evaluate import Evaluator, evaluate
from .runtime.gradcheck import GradcheckError, gradcheck
from .core.ir import Graph, Node, meta_scope, toposort
from .transforms.passes import optimize
from .core.ops import *  # noqa: F401,F403  (the op builders: tanh, matmul, sum, ...)
from .core.ops import OPS, DEFAULT_DTYPE
from .train import distributed, losses, optim
from .models import sampling
from .frontend.recurrence import Recurrence, RecurrenceError, t
from .core.shapes import B, ShapeError, Sym
from .models.module import StateDictError
from .train import CheckpointError, NonFiniteLossError, fit, load_checkpoint, save_checkpoint
from .frontend.unroll import unroll

__version__ = "0.1.0"

# The modules users import by their short, public paths (``from graphrnn.losses import
# cross_entropy``) live in the layer they belong to; these entries keep the short paths
# (as ``os.path`` does).
import sys as _sys  # noqa: E402

from .app import catalog  # noqa: E402

for _module in (losses, optim, distributed, sampling, catalog):
    _sys.modules[f"{__name__}.{_module.__name__.rsplit('.', 1)[1]}"] = _module
del _module
