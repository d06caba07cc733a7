"""Sparse Cholesky factorisation (CHOLMOD) with the symbolic analysis reused across values.

:class:`SparseCholesky` is made once per :class:`~fieldfit.gmrf.pattern.Pattern`: it runs
CHOLMOD's symbolic analysis (fill-reducing ordering, supernodal structure) once, and
:meth:`SparseCholesky.factorize` then costs only the numeric factorisation for each new values
vector. The matrix factored is the symmetric part of the stored values, Q = (V + Vᵀ)/2.

Threads: the supernodal factorisation runs in BLAS (OpenBLAS here), whose thread count is set
by ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` before the process starts; its kernels are
matched to the CPU when ``fieldfit`` is imported (:mod:`fieldfit._blas`).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sksparse.cholmod import (
    CholmodError,
    CholmodNotPositiveDefiniteError,
    CholmodWarning,
    analyze,
)

from .._blas import check_cholmod_openblas
from ..errors import NotPositiveDefinite, NumericalFailure
from .pattern import Pattern
from .selinv import SelectedInverse, locate


class SparseCholesky:
    """PQPᵀ = LLᵀ (CHOLMOD; Chen, Davis, Hager & Rajamanickam 2008), analysed once per pattern.

    ``pattern`` a :class:`Pattern` (or a scipy matrix, whose pattern is taken) with its
    diagonal; ``ordering`` one of CHOLMOD's "default", "amd", "metis", "nesdis", "colamd",
    "best", "natural"; ``mode`` "supernodal" (BLAS-3, fastest for 2-D/3-D meshes) or
    "simplicial". ``perm (n,)``: row k of L is row perm[k] of Q.
    """

    def __init__(self, pattern, ordering: str = "default", mode: str = "supernodal"):
        if not isinstance(pattern, Pattern):
            pattern = Pattern.from_matrix(pattern)
        if not pattern.has_diagonal:
            missing = int(np.flatnonzero(pattern.diagonal < 0)[0])
            raise ValueError(f"the pattern of Q lacks the diagonal entry ({missing}, {missing}); "
                             "a precision matrix needs all of them")
        if mode not in ("supernodal", "simplicial"):
            raise ValueError(f"mode must be 'supernodal' or 'simplicial', got {mode!r}")
        check_cholmod_openblas()
        self.pattern = pattern
        self.n = pattern.n
        self.mode = mode
        self.ordering = ordering
        skeleton = pattern.to_scipy(np.ones(pattern.nnz))
        try:
            self._symbolic = analyze(skeleton, mode=mode, ordering_method=ordering)
        except CholmodError as e:
            raise ValueError(f"CHOLMOD's analysis failed ({e}); ordering={ordering!r}") from e
        self.perm = np.asarray(self._symbolic.P(), dtype=np.int64)
        self._L_pattern: tuple[np.ndarray, np.ndarray] | None = None
        self._positions: dict[int, tuple[Pattern, np.ndarray]] = {}

    def __repr__(self) -> str:
        return f"SparseCholesky(n={self.n}, nnz={self.pattern.nnz}, mode={self.mode!r})"

    def factorize(self, values) -> CholeskyFactor:
        """The numeric factorisation of Q = (V + Vᵀ)/2 for values ``(nnz,)`` (numpy or torch);
        ValueError if they are not finite or Q is not positive definite."""
        v = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else values
        v = np.asarray(v, dtype=np.float64)
        if v.shape != (self.pattern.nnz,):
            raise ValueError(f"values of shape {v.shape}, expected ({self.pattern.nnz},)")
        if not np.all(np.isfinite(v)):
            bad = int(np.flatnonzero(~np.isfinite(v))[0])
            raise NumericalFailure(f"Q has a non-finite entry at ({self.pattern.rows[bad]}, "
                             f"{self.pattern.cols[bad]}): {v[bad]}")
        v = 0.5 * (v + v[self.pattern.transpose])
        Q = sp.csc_matrix((v, self.pattern.indices, self.pattern.indptr), shape=self.pattern.shape)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", CholmodWarning)
                factor = self._symbolic.cholesky(Q)
        except (CholmodNotPositiveDefiniteError, CholmodWarning) as e:
            raise NotPositiveDefinite(
                f"Q ({self.n} x {self.n}) is not positive definite: the Cholesky factorisation "
                f"failed ({e}). Check the parameters (e.g. a non-positive variance or range) "
                "or add a diagonal") from e
        return CholeskyFactor(self, factor, v)

    def _locator(self, L: sp.csc_matrix):
        """positions(pattern) in L's values, cached per pattern while L's pattern is unchanged."""
        if (self._L_pattern is None or not np.array_equal(self._L_pattern[0], L.indptr)
                or not np.array_equal(self._L_pattern[1], L.indices)):
            self._L_pattern = (L.indptr.copy(), L.indices.copy())
            self._positions.clear()

        def positions(pattern: Pattern) -> np.ndarray:
            hit = self._positions.get(id(pattern))
            if hit is not None and hit[0] is pattern:
                return hit[1]
            pos = locate(L, self.perm, pattern.rows, pattern.cols)
            if len(self._positions) >= 8:
                self._positions.pop(next(iter(self._positions)))
            self._positions[id(pattern)] = (pattern, pos)
            return pos

        return positions


class CholeskyFactor:
    """One numeric factorisation PQPᵀ = LLᵀ, with its selected inverse computed on demand.

    log|Q| = 2 Σ_i log L_ii. Vectors are ``(n,)`` or ``(n, k)`` (k right-hand sides), numpy,
    in the original ordering unless the method says "permuted".
    """

    def __init__(self, owner: SparseCholesky, factor, values: np.ndarray):
        self.owner = owner
        self.pattern = owner.pattern
        self.n = owner.n
        self.perm = owner.perm
        self.values = values  # the symmetric values factored (nnz,)
        self._factor = factor
        self._L: sp.csc_matrix | None = None
        self._selinv: SelectedInverse | None = None

    def logdet(self) -> float:
        """log|Q| (no jitter: Q exactly as given)."""
        return float(self._factor.logdet())

    def solve(self, b) -> np.ndarray:
        """Q⁻¹b for b ``(n,)`` or ``(n, k)``."""
        b = self._rhs(b)
        return np.asarray(self._factor.solve_A(b)).reshape(b.shape)

    def matvec(self, x) -> np.ndarray:
        """Qx for x ``(n,)`` or ``(n, k)``."""
        return self.pattern.to_scipy(self.values) @ self._rhs(x)

    @property
    def L(self) -> sp.csc_matrix:
        """The lower-triangular factor ``(n, n)`` (CSC, sorted; permuted ordering)."""
        if self._L is None:
            L = self._factor.L()
            L = L if L.format == "csc" else L.tocsc()
            if not L.has_sorted_indices:
                L.sort_indices()
            self._L = L
        return self._L

    def solve_L(self, b) -> np.ndarray:
        """L⁻¹b (permuted ordering), b ``(n,)`` or ``(n, k)``."""
        b = self._rhs(b)
        return np.asarray(self._factor.solve_L(b, use_LDLt_decomposition=False)).reshape(b.shape)

    def solve_Lt(self, b) -> np.ndarray:
        """L⁻ᵀb (permuted ordering), b ``(n,)`` or ``(n, k)``."""
        b = self._rhs(b)
        return np.asarray(self._factor.solve_Lt(b, use_LDLt_decomposition=False)).reshape(b.shape)

    def permute(self, x) -> np.ndarray:
        """Original → permuted ordering: x[perm] (rows)."""
        return np.asarray(x)[self.perm]

    def unpermute(self, y) -> np.ndarray:
        """Permuted → original ordering: x with x[perm] = y (rows)."""
        y = np.asarray(y)
        x = np.empty_like(y)
        x[self.perm] = y
        return x

    def selinv(self) -> SelectedInverse:
        """The selected inverse Σ = Q⁻¹ on the pattern of L + Lᵀ (computed once, cached)."""
        if self._selinv is None:
            L = self.L
            # computed over L's values (a third less peak memory); `L` is re-extracted if asked
            self._selinv = SelectedInverse(L, self.perm, locator=self.owner._locator(L),
                                           overwrite=True)
            self._L = None
        return self._selinv

    def inverse_on(self, pattern: Pattern | None = None) -> np.ndarray:
        """Q⁻¹ on ``pattern`` (default: Q's own) as values ``(nnz,)``."""
        return self.selinv().on(self.pattern if pattern is None else pattern)

    def variances(self) -> np.ndarray:
        """diag Q⁻¹ ``(n,)``: the marginal variances."""
        return self.selinv().diagonal()

    def _rhs(self, b) -> np.ndarray:
        if isinstance(b, torch.Tensor):
            b = b.detach().cpu().numpy()
        b = np.asarray(b, dtype=np.float64)
        if b.ndim not in (1, 2) or b.shape[0] != self.n:
            raise ValueError(f"right-hand side of shape {b.shape}, expected ({self.n},) or "
                             f"({self.n}, k)")
        return b
