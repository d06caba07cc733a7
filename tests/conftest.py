"""Shared fixtures, and the hypothesis profiles of the fuzz suite (tests/test_fuzz.py)."""

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

import fieldfit  # noqa: F401  (first: matches CHOLMOD's OpenBLAS to the CPU, see fieldfit._blas)

# "default": few examples, fixed seeds (derandomize: CI sees the same examples every run), no
# example database (nothing written to the tree); "slow": many more random examples. Select
# one with ``pytest --hypothesis-profile=slow`` or ``FIELDFIT_HYPOTHESIS_PROFILE=slow``.
_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("default", max_examples=150, derandomize=True, **_COMMON)
settings.register_profile("slow", max_examples=2000, **_COMMON)
settings.load_profile(os.environ.get("FIELDFIT_HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module: two OpenMP threads spin-wait against each other on a
    shared 2-core machine (10-40x slower fits); one thread changes nothing but rounding."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def field_obs():
    """80 random points of the unit square with a draw of an exponential field (variance 1,
    range 0.2, nugget 0.1, constant mean 0.5): the fit-path and fit-reliability tests' data."""
    import numpy as np

    from fieldfit import GaussianField, Observations
    from fieldfit.covariance import Exponential

    rng = np.random.default_rng(3)
    x = rng.uniform(size=(80, 2))
    y = GaussianField(Exponential(), mean="constant").simulate(
        x, {"variance": 1.0, "range": 0.2, "nugget": 0.1, "mean": 0.5}, seed=4)[0]
    return Observations(coords=x, values=y)
