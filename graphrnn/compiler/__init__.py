"""The compiler: Graph -> Program, in stages that each have a module.

- :mod:`.schedule` orders straight-line code; :mod:`.steps` and :mod:`.loops` find the
  repeating steps of an unrolled graph and roll them into loops (the loop formation);
- :mod:`.generalize` turns programs built at a few sequence lengths into one program of
  symbolic length (compile once, run any T);
- :mod:`.lower` makes a structured instruction list; :mod:`.memory` plans where every value
  lives; :mod:`.kernels` and :mod:`.fusion` group elementwise work into generated kernels for
  backends that compile them; :mod:`.render` writes the Python source;
- :mod:`.runtime` binds sizes, keeps plans per binding and runs the code.
"""

from typing import Callable, Union

from ..core.ir import Graph
from .generic import GenericProgram
from .program import Program
from .schedule import schedule

__all__ = ["compile", "Program", "GenericProgram", "schedule"]


def compile(graph: Union[Graph, Callable[..., Graph]], level: str = "O2", backend="numpy",
            keep_graph: bool = True, cuda_graph: bool = False, roll: bool = True,
            fast_math: bool = False):
    """Optimize ``graph`` at ``level`` (``O0``/``O1``/``O2``) and compile it to a Program for
    ``backend`` (``"numpy"``, ``"cupy"``, ``"auto"``, ``"native"``, ``"cuda-host"``).

    ``graph`` is a Graph, or a function of the sequence length(s) that builds one
    (``lambda T: rec.unroll(T)``): that compiles once into a :class:`GenericProgram` that
    runs every length.  Steps that repeat become a loop (``roll=False`` keeps straight-line
    code).  ``keep_graph=False`` drops the optimized graph once compiled (``program.graph``
    then only names the leaves).  ``cuda_graph=True`` replays each call as a captured CUDA
    graph (CuPy only).

    The passes keep IEEE semantics (NaN stays NaN, ``x * 0`` is NaN for an infinite x):
    ``fast_math=True`` allows rewrites that hold for finite values only (``x * 0 -> 0``,
    products with a zero initial state dropped); see ``docs/compiler.md``."""
    if callable(graph) and not isinstance(graph, Graph):
        return GenericProgram(graph, level, backend, cuda_graph, fast_math=fast_math)
    return Program(graph, level, backend, keep_graph, cuda_graph, roll, fast_math=fast_math)
