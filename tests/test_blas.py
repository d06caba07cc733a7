"""The system OpenBLAS under CHOLMOD uses the same kernels as numpy's (fieldfit._blas)."""

import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_info

import fieldfit  # noqa: F401  (sets OPENBLAS_CORETYPE before CHOLMOD loads)
from fieldfit import _blas
from fieldfit.gmrf import SparseCholesky


def test_cholmod_openblas_matches_numpy():
    SparseCholesky(sp.eye(4, format="csc")).factorize(np.ones(4))  # CHOLMOD, hence its BLAS
    libs = [lib for lib in threadpool_info() if lib.get("internal_api") == "openblas"]
    system = [lib for lib in libs if "scipy_openblas" not in lib["filepath"]]
    bundled = [lib for lib in libs if "scipy_openblas" in lib["filepath"]]
    if not system or not bundled:
        pytest.skip("CHOLMOD or numpy does not use OpenBLAS here")
    assert system[0]["architecture"].lower() == bundled[0]["architecture"].lower()


def test_user_setting_kept(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    assert _blas.match_numpy_openblas() == "Haswell"


def test_numpy_architecture_is_reported():
    arch = _blas.numpy_openblas_architecture()
    assert arch is None or (isinstance(arch, str) and arch)
