"""Shared test set-up: hypothesis profiles and backend parametrization."""

import os

import pytest
from hypothesis import HealthCheck, settings

import graphrnn as gr

settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("fuzz", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def _backend_params():
    out = [pytest.param("numpy", id="numpy")]
    try:
        gr.get_backend("cupy")
        out.append(pytest.param("cupy", id="cupy"))
    except RuntimeError as e:
        out.append(pytest.param("cupy", id="cupy", marks=pytest.mark.skip(reason=str(e))))
    return out


@pytest.fixture(params=_backend_params())
def backend(request):
    """Each available backend in turn (CuPy skips with the reason when absent)."""
    return gr.get_backend(request.param)
