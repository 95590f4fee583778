"""The NumPy (CPU) backend."""

import numpy as np

from . import Backend

BACKEND = Backend("numpy", np, np.asarray)
