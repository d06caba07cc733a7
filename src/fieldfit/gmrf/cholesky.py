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
    r"""Sparse Cholesky :math:`P Q P^\top = L L^\top` (CHOLMOD), analysed once per pattern.

    CHOLMOD (Chen, Davis, Hager & Rajamanickam 2008) runs its symbolic analysis (fill-reducing
    ordering, supernodal structure) here; :meth:`factorize` then does only the numeric
    factorisation for each values vector. ``perm (n,)``: row k of L is row ``perm[k]`` of Q.

    Parameters
    ----------
    pattern : Pattern or scipy.sparse matrix
        Q's pattern (or a matrix whose pattern is taken), with its whole diagonal.
    ordering : str, default "default"
        One of CHOLMOD's "default", "amd", "metis", "nesdis", "colamd", "best", "natural".
    mode : {"supernodal", "simplicial"}, default "supernodal"
        Supernodal (BLAS-3, the better choice for 2-D/3-D meshes) or simplicial.

    Raises
    ------
    ValueError
        If the pattern lacks a diagonal entry, ``mode`` is unknown, or CHOLMOD's analysis fails
        (e.g. an unknown ordering).

    References
    ----------
    Chen, Y., Davis, T. A., Hager, W. W. & Rajamanickam, S. (2008). Algorithm 887: CHOLMOD,
    supernodal sparse Cholesky factorization and update/downdate. ACM TOMS 35(3), 22.
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
        r"""The numeric factorisation of :math:`Q = (V + V^\top)/2`.

        Parameters
        ----------
        values : array_like or torch.Tensor
            ``(nnz,)`` values V on the pattern (a tensor is detached).

        Returns
        -------
        CholeskyFactor

        Raises
        ------
        ValueError
            If ``values`` has the wrong shape.
        fieldfit.errors.NumericalFailure
            If a value is not finite.
        fieldfit.errors.NotPositiveDefinite
            If Q is not positive definite.
        """
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
    r"""One numeric factorisation :math:`P Q P^\top = L L^\top`, selected inverse on demand.

    :math:`\log|Q| = 2 \sum_i \log L_{ii}`. Vectors are ``(n,)`` or ``(n, k)`` (k right-hand
    sides), numpy, in the original ordering unless the method says "permuted". Made by
    :meth:`SparseCholesky.factorize`.

    Parameters
    ----------
    owner : SparseCholesky
        The analysis this factor belongs to.
    factor : sksparse.cholmod.Factor
        CHOLMOD's numeric factor.
    values : numpy.ndarray
        ``(nnz,)`` symmetric values that were factorised.
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
        r""":math:`\log|Q|` (no jitter: Q exactly as given).

        Returns
        -------
        float
        """
        return float(self._factor.logdet())

    def solve(self, b) -> np.ndarray:
        """:math:`Q^{-1} b`.

        Parameters
        ----------
        b : array_like or torch.Tensor
            ``(n,)`` or ``(n, k)`` right-hand side(s).

        Returns
        -------
        numpy.ndarray
            The shape of ``b``.

        Raises
        ------
        ValueError
            If ``b`` does not have n rows.
        """
        b = self._rhs(b)
        return np.asarray(self._factor.solve_A(b)).reshape(b.shape)

    def matvec(self, x) -> np.ndarray:
        """Qx.

        Parameters
        ----------
        x : array_like or torch.Tensor
            ``(n,)`` or ``(n, k)``.

        Returns
        -------
        numpy.ndarray
            The shape of ``x``.

        Raises
        ------
        ValueError
            If ``x`` does not have n rows.
        """
        return self.pattern.to_scipy(self.values) @ self._rhs(x)

    @property
    def L(self) -> sp.csc_matrix:
        """The lower-triangular factor (permuted ordering).

        Returns
        -------
        scipy.sparse.csc_matrix
            ``(n, n)`` with sorted indices; extracted once and cached.
        """
        if self._L is None:
            L = self._factor.L()
            L = L if L.format == "csc" else L.tocsc()
            if not L.has_sorted_indices:
                L.sort_indices()
            self._L = L
        return self._L

    def solve_L(self, b) -> np.ndarray:
        """:math:`L^{-1} b` (permuted ordering).

        Parameters
        ----------
        b : array_like or torch.Tensor
            ``(n,)`` or ``(n, k)`` right-hand side(s).

        Returns
        -------
        numpy.ndarray
            The shape of ``b``.

        Raises
        ------
        ValueError
            If ``b`` does not have n rows.
        """
        b = self._rhs(b)
        return np.asarray(self._factor.solve_L(b, use_LDLt_decomposition=False)).reshape(b.shape)

    def solve_Lt(self, b) -> np.ndarray:
        r""":math:`L^{-\top} b` (permuted ordering).

        Parameters
        ----------
        b : array_like or torch.Tensor
            ``(n,)`` or ``(n, k)`` right-hand side(s).

        Returns
        -------
        numpy.ndarray
            The shape of ``b``.

        Raises
        ------
        ValueError
            If ``b`` does not have n rows.
        """
        b = self._rhs(b)
        return np.asarray(self._factor.solve_Lt(b, use_LDLt_decomposition=False)).reshape(b.shape)

    def permute(self, x) -> np.ndarray:
        """Original to permuted ordering: ``x[perm]`` (rows).

        Parameters
        ----------
        x : array_like
            ``(n,)`` or ``(n, k)``.

        Returns
        -------
        numpy.ndarray
        """
        return np.asarray(x)[self.perm]

    def unpermute(self, y) -> np.ndarray:
        """Permuted to original ordering: x with ``x[perm] = y`` (rows).

        Parameters
        ----------
        y : array_like
            ``(n,)`` or ``(n, k)``.

        Returns
        -------
        numpy.ndarray
        """
        y = np.asarray(y)
        x = np.empty_like(y)
        x[self.perm] = y
        return x

    def selinv(self) -> SelectedInverse:
        r"""The selected inverse :math:`\Sigma = Q^{-1}` on the pattern of :math:`L + L^\top`.

        Computed once (Takahashi recursions, :class:`~fieldfit.gmrf.selinv.SelectedInverse`) over
        L's values, which it overwrites; :attr:`L` is extracted again if asked for afterwards.

        Returns
        -------
        SelectedInverse
        """
        if self._selinv is None:
            L = self.L
            # computed over L's values (no second copy of them); `L` is re-extracted if asked
            self._selinv = SelectedInverse(L, self.perm, locator=self.owner._locator(L),
                                           overwrite=True)
            self._L = None
        return self._selinv

    def inverse_on(self, pattern: Pattern | None = None) -> np.ndarray:
        r""":math:`Q^{-1}` on a pattern, as values.

        Parameters
        ----------
        pattern : Pattern or None, optional
            Target pattern (default: Q's own); it must lie in the pattern of :math:`L + L^\top`.

        Returns
        -------
        numpy.ndarray
            ``(nnz,)`` values of :math:`Q^{-1}` on ``pattern``.
        """
        return self.selinv().on(self.pattern if pattern is None else pattern)

    def variances(self) -> np.ndarray:
        r"""The marginal variances, :math:`\mathrm{diag}\, Q^{-1}`.

        Returns
        -------
        numpy.ndarray
            ``(n,)``.
        """
        return self.selinv().diagonal()

    def _rhs(self, b) -> np.ndarray:
        if isinstance(b, torch.Tensor):
            b = b.detach().cpu().numpy()
        b = np.asarray(b, dtype=np.float64)
        if b.ndim not in (1, 2) or b.shape[0] != self.n:
            raise ValueError(f"right-hand side of shape {b.shape}, expected ({self.n},) or "
                             f"({self.n}, k)")
        return b
