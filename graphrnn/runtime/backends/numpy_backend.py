"""The NumPy (CPU) backend."""

import numpy as np

from .base import Backend

BACKEND = Backend("numpy", np, np.asarray)
