"""Shared test set-up: hypothesis profiles and backend parametrization."""

import importlib.util
import os
from pathlib import Path

import pytest

import graphrnn as gr

# A machine set up by hand (a GPU box without network) may lack the dev extras: the test
# modules that need a missing one are left out, and pytest's header says which.
_NEEDS = {"hypothesis": ("hypothesis", "strategies"),
          "graphviz": ("visualize", "test_readme", "test_cli", "test_examples")}
collect_ignore = []
for _module, _marks in _NEEDS.items():
    if importlib.util.find_spec(_module) is None:
        for _path in sorted(Path(__file__).parent.glob("test_*.py")):
            if _path.name not in collect_ignore and any(
                    m in _path.name or m in _path.read_text() for m in _marks):
                collect_ignore.append(_path.name)


def pytest_report_header(config):
    if collect_ignore:
        return f"left out for missing packages: {', '.join(collect_ignore)}"


if importlib.util.find_spec("hypothesis") is not None:
    from hypothesis import HealthCheck, settings

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
