"""The BLAS under CHOLMOD: let the system OpenBLAS use this CPU's kernels.

CHOLMOD (Debian's libcholmod, through scikit-sparse) calls the system BLAS, an OpenBLAS built
with DYNAMIC_ARCH that picks its kernels from the CPU's family and model numbers when it is
loaded. On virtual machines that hide them (``/proc/cpuinfo``: "Intel(R) Xeon(R) Processor",
no model) Debian's OpenBLAS 0.3.21 falls back to its generic Prescott (SSE3) kernels, which use
none of the AVX instructions of newer CPUs, and so slows dense BLAS and CHOLMOD's supernodal
factorisation (measurements in docs/benchmarks.md, "BLAS kernel selection"). numpy's bundled
OpenBLAS (a newer release) identifies the CPU correctly; :func:`match_numpy_openblas` hands
its choice to the system OpenBLAS through ``OPENBLAS_CORETYPE`` (OpenBLAS's documented
override) before CHOLMOD is loaded. A value the user has set is kept; nothing changes when
numpy does not use OpenBLAS or the system OpenBLAS is already loaded (scipy.optimize, and so
scikit-learn, loads CHOLMOD when imported: import fieldfit first, or set
``OPENBLAS_CORETYPE``); :func:`check_cholmod_openblas` then warns once.
"""

from __future__ import annotations

import os
import warnings

_checked = False


def openblas_libraries() -> tuple[list[dict], list[dict]]:
    """The OpenBLAS libraries loaded in this process (threadpoolctl's records).

    Returns
    -------
    system : list of dict
        The system ones (CHOLMOD's).
    bundled : list of dict
        The ones bundled with numpy/scipy (``libscipy_openblas``).
    """
    import numpy  # noqa: F401  (loads its BLAS)
    from threadpoolctl import threadpool_info

    libs = [lib for lib in threadpool_info() if lib.get("internal_api") == "openblas"]
    bundled = [lib for lib in libs if "scipy_openblas" in lib.get("filepath", "")]
    return [lib for lib in libs if lib not in bundled], bundled


def numpy_openblas_architecture() -> str | None:
    """The kernel set numpy's OpenBLAS chose for this CPU (e.g. "SkylakeX").

    Returns
    -------
    str or None
        None when numpy's BLAS is not OpenBLAS or does not say.
    """
    archs = [lib["architecture"] for lib in openblas_libraries()[1] if lib.get("architecture")]
    return str(archs[0]) if archs else None


def match_numpy_openblas() -> str | None:
    """Set ``OPENBLAS_CORETYPE`` to numpy's OpenBLAS architecture, for the system OpenBLAS.

    Nothing is set when the variable is set already, the system OpenBLAS is already loaded, or
    numpy's architecture is unknown or Prescott.

    Returns
    -------
    str or None
        The value in force (None: OpenBLAS's own detection).
    """
    if "OPENBLAS_CORETYPE" in os.environ:
        return os.environ["OPENBLAS_CORETYPE"]
    if openblas_libraries()[0]:
        return None
    arch = numpy_openblas_architecture()
    if arch is not None and arch.lower() != "prescott":
        os.environ["OPENBLAS_CORETYPE"] = arch
    return arch


def check_cholmod_openblas() -> None:
    """Warn once per process if CHOLMOD's OpenBLAS runs generic kernels on a better CPU.

    The warning (a ``RuntimeWarning``) is given when the system OpenBLAS runs its generic
    Prescott kernels while numpy's OpenBLAS found a better set for this CPU.
    """
    global _checked
    if _checked:
        return
    _checked = True
    system, _ = openblas_libraries()
    arch = numpy_openblas_architecture()
    if (system and arch and str(system[0].get("architecture")).lower() == "prescott"
            and arch.lower() != "prescott"):
        warnings.warn(
            f"CHOLMOD's OpenBLAS ({system[0].get('filepath')}) runs its generic Prescott kernels "
            f"on this CPU (numpy's OpenBLAS uses {arch}): sparse Cholesky factorisations "
            f"are 2-3x slower. Import fieldfit before scipy.optimize / scikit-learn, or set "
            f"OPENBLAS_CORETYPE={arch} in the environment.", RuntimeWarning, stacklevel=3)


def match_numba_threads() -> None:
    """Give numba's parallel kernels the thread count OpenMP was given.

    numba's "omp" threading layer shares libgomp with torch, and each parallel kernel sets the
    calling thread's OpenMP thread count to numba's own (default: every core), which would undo
    ``OMP_NUM_THREADS=1`` for torch after the first Matérn table or Vecchia factorisation (and
    could let a resumed fit compute with another thread count than the run it resumes). So
    ``NUMBA_NUM_THREADS`` is set to ``OMP_NUM_THREADS`` when the user set the latter and not the
    former; numba must not be imported yet.
    """
    if "OMP_NUM_THREADS" in os.environ and "NUMBA_NUM_THREADS" not in os.environ:
        os.environ["NUMBA_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"]
