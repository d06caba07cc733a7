"""The system OpenBLAS under CHOLMOD uses the same kernels as numpy's (fieldfit._blas)."""

import numpy as np
import pytest
import scipy.sparse as sp

import fieldfit  # noqa: F401  (sets OPENBLAS_CORETYPE before CHOLMOD loads)
from fieldfit import _blas
from fieldfit.gmrf import SparseCholesky


def test_cholmod_openblas_matches_numpy():
    SparseCholesky(sp.eye(4, format="csc")).factorize(np.ones(4))  # CHOLMOD, hence its BLAS
    system, bundled = _blas.openblas_libraries()
    if not system or not bundled:
        pytest.skip("CHOLMOD or numpy does not use OpenBLAS here")
    assert system[0]["architecture"].lower() == bundled[0]["architecture"].lower()


def test_user_setting_kept(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    assert _blas.match_numpy_openblas() == "Haswell"


def test_numpy_architecture_is_reported():
    arch = _blas.numpy_openblas_architecture()
    assert arch is None or (isinstance(arch, str) and arch)


def test_prescott_fallback_warns(monkeypatch):
    """CHOLMOD's OpenBLAS on generic kernels while numpy's is not: one RuntimeWarning naming the
    remedy."""
    libs = [{"internal_api": "openblas", "filepath": "/usr/lib/libopenblasp-r0.3.21.so",
             "architecture": "Prescott"},
            {"internal_api": "openblas", "filepath": "/x/numpy.libs/libscipy_openblas64_.so",
             "architecture": "SkylakeX"}]
    import threadpoolctl

    monkeypatch.setattr(threadpoolctl, "threadpool_info", lambda: libs)
    monkeypatch.setattr(_blas, "_checked", False)
    with pytest.warns(RuntimeWarning, match="OPENBLAS_CORETYPE=SkylakeX"):
        _blas.check_cholmod_openblas()
    libs[0]["architecture"] = "SkylakeX"
    monkeypatch.setattr(_blas, "_checked", False)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _blas.check_cholmod_openblas()


def test_numba_kernels_keep_the_openmp_thread_count():
    # numba's omp layer shares libgomp with torch: its parallel kernels (the Matérn table)
    # used to raise torch's thread count from OMP_NUM_THREADS=1 to every core
    import os
    import subprocess
    import sys

    script = (
        "import numpy as np, torch\n"
        "from fieldfit.models import build\n"
        "from fieldfit.data import Observations\n"
        "from fieldfit.fit import fit\n"
        "x = np.random.default_rng(0).uniform(size=(200, 2))\n"
        "m = build('matern')\n"
        "y = m.simulate(x, {'variance': 1, 'range': 0.2, 'smoothness': 1.2, 'nugget': 0.1,"
        " 'mean': 0}, seed=1)[0]\n"
        "fit(m, Observations(coords=x, values=y), restarts=0, progress=False, stderr=False)\n"
        "print(torch.get_num_threads())\n")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_NUM_THREADS"}
    env["OMP_NUM_THREADS"] = "1"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=300, check=True)
    assert out.stdout.split()[-1] == "1"
