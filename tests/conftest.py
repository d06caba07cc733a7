"""Shared fixtures."""

import pytest
import torch

import fieldfit  # noqa: F401  (first: matches CHOLMOD's OpenBLAS to the CPU, see fieldfit._blas)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module: two OpenMP threads spin-wait against each other on a
    shared 2-core machine (10-40x slower fits); one thread changes nothing but rounding."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
