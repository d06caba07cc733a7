r"""The selected inverse: entries of Σ = Q⁻¹ on the pattern of the Cholesky factor.

With PQPᵀ = LLᵀ (L lower, CSC, diagonal first in each column), Σ̃ = PΣPᵀ = L⁻ᵀL⁻¹ satisfies
Σ̃L = L⁻ᵀ, an upper triangular matrix with diagonal 1/L_ii, which gives, for j ≥ i,

.. math::

    \tilde\Sigma_{ij} = \frac{\delta_{ij}}{L_{ii}^2}
    - \frac{1}{L_{ii}} \sum_{k > i,\ L_{ki} \ne 0} L_{ki} \tilde\Sigma_{kj}

(Takahashi, Fagan & Chen 1973; Erisman & Tinney 1975; Rue & Martino 2007, eq. 6). Running i from
n − 1 down to 0, the entries Σ̃_kj needed for column i have k, j in the structure of column i of
L, and those lie in the pattern of L + Lᵀ (the structure of column i, beyond any of its rows j,
is contained in the structure of column j), so the recursion never leaves the pattern of L:
:math:`O(\sum_i |\mathrm{col}_i|^2)` operations, about those of the factorisation. Pattern
entries that are exact zeros of L (a supernodal factor stores some) are harmless.

Blocked by supernodes (runs of columns J with nested structures, J followed by the rows R below
them), the same identity reads, with :math:`Z = L_{RJ} L_{JJ}^{-1}`,

.. math::

    \tilde\Sigma_{RJ} = -\tilde\Sigma_{RR} Z, \qquad
    \tilde\Sigma_{JJ} = (L_{JJ} L_{JJ}^\top)^{-1} - Z^\top \tilde\Sigma_{RJ},

three dense products per supernode (BLAS; LAPACK dtrsm/dpotri for the large ones), Σ̃_RR
gathered from the entries already computed, so most of the work is in dense BLAS-3 kernels
rather than a column-by-column recursion.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas, lapack

from .pattern import Pattern

# supernodes with w (w + r) above this go through scipy's BLAS/LAPACK from Python
_LARGE_BLOCK = 20_000


@numba.njit(cache=True)
def _supernodes(indptr, indices):  # pragma: no cover - compiled
    """Boundaries ``(nsuper + 1,)`` of the runs of columns whose structures are nested:
    column j + 1 holds exactly the rows of column j below row j."""
    n = indptr.shape[0] - 1
    out = np.empty(n + 1, dtype=np.int64)
    ns = 0
    out[0] = 0
    for j in range(n - 1):
        c1 = indptr[j + 2] - indptr[j + 1]
        same = c1 == indptr[j + 1] - indptr[j] - 1
        if same:
            p = indptr[j] + 1
            q = indptr[j + 1]
            for k in range(c1):
                if indices[p + k] != indices[q + k]:
                    same = False
                    break
        if not same:
            ns += 1
            out[ns] = j + 1
    ns += 1
    out[ns] = n
    return out[:ns + 1]


@numba.njit(cache=True)
def _load(indptr, indices, Lx, f, w):  # pragma: no cover - compiled
    """Transposes of L_JJ ``(w, w)`` and L_RJ ``(r, w)`` of the supernode starting at column f,
    as C arrays ``(w, w)``, ``(w, r)`` (their ``.T`` are Fortran arrays for BLAS, no copy);
    status 2 if a column does not start with its positive diagonal."""
    p0 = indptr[f]
    r = indptr[f + 1] - p0 - w
    LJt = np.zeros((w, w))
    LRt = np.empty((w, r))
    status = 0
    for c in range(w):
        pc = indptr[f + c]
        if indices[pc] != f + c or not Lx[pc] > 0.0:
            status = 2
        for i in range(c, w):
            LJt[c, i] = Lx[pc + i - c]
        q = pc + w - c
        for a in range(r):
            LRt[c, a] = Lx[q + a]
    return LJt, LRt, status


@numba.njit(cache=True)
def _gather(indptr, indices, S, snode, sptr, f, w):  # pragma: no cover - compiled
    """Σ̃_RR for the rows R below the supernode starting at column f, read from the columns R
    (already computed), as a C array ``(r, r)`` holding its upper triangle (``.T``: the lower
    triangle of a Fortran array, for dsymm); status 1 if an entry is missing.

    The rows R fall in runs R ∩ J_t over ancestor supernodes t. Within a run, Σ̃ lies in the
    dense diagonal block of t; the rows of R beyond t are located once per run in the rows R_t
    below t (one merge), and every column of the run reads them at the same relative places."""
    p0 = indptr[f] + w
    r = indptr[f + 1] - p0
    G = np.empty((r, r))
    pos = np.empty(r, dtype=np.int64)
    a = 0
    while a < r:
        ra = indices[p0 + a]
        t = snode[ra]
        lt = sptr[t + 1]
        a2 = a
        while a2 < r and indices[p0 + a2] < lt:
            a2 += 1
        ft = sptr[t]
        q = indptr[ft] + (lt - ft)  # the rows R_t below supernode t
        qend = indptr[ft + 1]
        for b in range(a2, r):
            rb = indices[p0 + b]
            while q < qend and indices[q] < rb:
                q += 1
            if q == qend or indices[q] != rb:
                return G, 1
            pos[b] = q - indptr[ft] - (lt - ft)
        for i in range(a, a2):
            ri = indices[p0 + i]
            pc = indptr[ri]
            for j in range(i, a2):
                G[i, j] = S[pc + indices[p0 + j] - ri]
            base = pc + (lt - ri)
            for b in range(a2, r):
                G[i, b] = S[base + pos[b]]
        a = a2
    return G, 0


@numba.njit(cache=True)
def _scatter(indptr, S, f, SJJ, SRJ):  # pragma: no cover - compiled
    """Write Σ̃_JJ (lower triangle) and Σ̃_RJ of the supernode at column f into S."""
    w = SJJ.shape[0]
    r = SRJ.shape[0]
    for c in range(w):
        pc = indptr[f + c]
        for i in range(c, w):
            S[pc + i - c] = SJJ[i, c]
        q = pc + w - c
        for a in range(r):
            S[q + a] = SRJ[a, c]


@numba.njit(cache=True)
def _small_supernodes(indptr, indices, Lx, sptr, snode, s_hi, s_lo, S):  # pragma: no cover
    """The recursion for supernodes s_hi down to s_lo (small blocks: inverse of L_JJ by
    substitution, products by np.dot). Returns a status (0 ok, 1 pattern, 2 diagonal)."""
    for s in range(s_hi, s_lo - 1, -1):
        f = sptr[s]
        w = sptr[s + 1] - f
        LJt, LRt, status = _load(indptr, indices, Lx, f, w)
        if status:
            return status
        LJ = LJt.T
        Li = np.zeros((w, w))  # L_JJ⁻¹, lower
        for c in range(w):
            Li[c, c] = 1.0 / LJ[c, c]
            for i in range(c + 1, w):
                acc = 0.0
                for k in range(c, i):
                    acc += LJ[i, k] * Li[k, c]
                Li[i, c] = -acc / LJ[i, i]
        SJJ = np.dot(Li.T, Li)
        if LRt.shape[1] > 0:
            G, status = _gather(indptr, indices, S, snode, sptr, f, w)
            if status:
                return status
            for i in range(G.shape[0]):  # the lower triangle from the upper
                for j in range(i):
                    G[i, j] = G[j, i]
            Z = np.dot(np.ascontiguousarray(LRt.T), Li)
            SRJ = -np.dot(G, Z)
            SJJ -= np.dot(SRJ.T, Z)
        else:
            SRJ = np.empty((0, w))
        _scatter(indptr, S, f, SJJ, SRJ)
    return 0


@numba.njit(cache=True)
def _locate(indptr, indices, pinv, rows, cols, out):  # pragma: no cover - compiled
    """Positions in the lower pattern of L of the (original-ordering) entries (rows, cols) of Σ;
    −1 where absent. Serial: a parallel kernel would start numba's thread pool, which resets
    the OpenMP thread count torch's kernels use (a binary search per entry is cheap)."""
    for k in range(rows.shape[0]):
        a = pinv[rows[k]]
        b = pinv[cols[k]]
        r = max(a, b)
        c = min(a, b)
        lo = indptr[c]
        hi = indptr[c + 1]
        while lo < hi:  # binary search of row r in column c
            mid = (lo + hi) // 2
            if indices[mid] < r:
                lo = mid + 1
            else:
                hi = mid
        out[k] = lo if lo < indptr[c + 1] and indices[lo] == r else -1


def takahashi(L: sp.csc_matrix, overwrite: bool = False) -> np.ndarray:
    r"""The selected inverse :math:`\tilde\Sigma = (L L^\top)^{-1}` on the pattern of ``L``.

    The supernodal Takahashi recursions of the module docstring (Takahashi, Fagan & Chen 1973;
    Rue & Held 2005, §2.3.1). With ``overwrite`` the result is written over ``L.data`` (L is
    then lost, and no second values array is allocated): each supernode's values of L are read
    only when it is processed, before its :math:`\tilde\Sigma` replaces them, and later
    supernodes read only the :math:`\tilde\Sigma` of earlier-processed ones.

    Parameters
    ----------
    L : scipy.sparse.csc_matrix
        ``(n, n)`` lower-triangular Cholesky factor, positive diagonal stored first in each
        column (indices are sorted if needed).
    overwrite : bool, default False
        Write the result over ``L.data``.

    Returns
    -------
    numpy.ndarray
        ``(nnz(L),)`` values aligned with ``L.indices``.

    Raises
    ------
    ValueError
        If L is not square, not lower triangular with a positive diagonal first in each
        column, or its pattern is not that of a Cholesky factor.
    """
    L = _lower_csc(L)
    indptr, indices, Lx = L.indptr, L.indices, L.data
    sptr = _supernodes(indptr, indices)
    w = np.diff(sptr)
    snode = np.repeat(np.arange(w.shape[0], dtype=np.int64), w)  # supernode of each column
    large = w * np.diff(indptr)[sptr[:-1]] > _LARGE_BLOCK
    S = Lx if overwrite else np.empty(L.nnz)
    s = sptr.shape[0] - 2
    while s >= 0:
        if large[s]:
            status = _large_supernode(indptr, indices, Lx, sptr, snode, int(sptr[s]), int(w[s]),
                                      S)
            s -= 1
        else:
            below = np.flatnonzero(large[:s])
            s_lo = int(below[-1]) + 1 if below.size else 0
            status = _small_supernodes(indptr, indices, Lx, sptr, snode, s, s_lo, S)
            s = s_lo - 1
        if status == 2:
            raise ValueError("the factor must be lower triangular with a positive diagonal "
                             "stored first in each column")
        if status == 1:
            raise ValueError("the pattern of L is not closed under the Takahashi recursion "
                             "(not the symbolic pattern of a Cholesky factor)")
    return S


def _large_supernode(indptr, indices, Lx, sptr, snode, f: int, w: int, S: np.ndarray) -> int:
    """One large supernode with LAPACK: Z = L_RJ L_JJ⁻¹ (dtrsm), (L_JJ L_JJᵀ)⁻¹ (dpotri). The
    arrays reach scipy's BLAS in Fortran order (no copies; numpy's `@` would also wake a second
    BLAS thread pool)."""
    LJt, LRt, status = _load(indptr, indices, Lx, f, w)
    if status:
        return status
    Z = blas.dtrsm(1.0, LJt.T, LRt.T, side=1, lower=1, overwrite_b=1) if LRt.shape[1] else None
    SJJ, info = lapack.dpotri(LJt.T, lower=1, overwrite_c=1)  # (L_JJ L_JJᵀ)⁻¹ over L_JJ
    if info != 0:
        return 2
    if Z is not None:  # Z L_JJ = L_RJ above
        G, status = _gather(indptr, indices, S, snode, sptr, f, w)
        if status:
            return status
        SRJ = blas.dsymm(-1.0, G.T, Z, lower=1)  # G.T: Σ̃_RR's lower triangle, Fortran order
        SJJ = blas.dgemm(-1.0, SRJ, Z, beta=1.0, c=SJJ, trans_a=1, overwrite_c=1)
    else:
        SRJ = np.empty((0, w), order="F")
    _scatter(indptr, S, f, SJJ, SRJ)
    return 0


def locate(L: sp.csc_matrix, perm: np.ndarray, rows, cols) -> np.ndarray:
    r"""Positions in L's values of the entries :math:`\Sigma_{\mathrm{rows}[k], \mathrm{cols}[k]}`.

    Parameters
    ----------
    L : scipy.sparse.csc_matrix
        ``(n, n)`` lower factor, sorted indices.
    perm : numpy.ndarray
        ``(n,)`` fill-reducing permutation: row k of L is row ``perm[k]`` of Q.
    rows, cols : array_like
        ``(m,)`` entries in the original ordering.

    Returns
    -------
    numpy.ndarray
        ``(m,)`` int64 positions.

    Raises
    ------
    ValueError
        If an entry lies outside the pattern of :math:`L + L^\top`.
    """
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    cols = np.ascontiguousarray(cols, dtype=np.int64)
    pinv = np.empty(perm.shape[0], dtype=np.int64)
    pinv[perm] = np.arange(perm.shape[0])
    out = np.empty(rows.shape[0], dtype=np.int64)
    _locate(L.indptr, L.indices, pinv, rows, cols, out)
    if np.any(out < 0):
        k = int(np.flatnonzero(out < 0)[0])
        raise ValueError(f"entry ({rows[k]}, {cols[k]}) of Q⁻¹ is not on the pattern of the "
                         f"Cholesky factor L + Lᵀ ({int(np.sum(out < 0))} such entries): the "
                         "selected inverse gives only those (Q's own pattern is always there)")
    return out


class SelectedInverse:
    r""":math:`\Sigma = Q^{-1}` on the pattern of :math:`L + L^\top` by the Takahashi recursions.

    .. math::

        \tilde\Sigma_{ij} = \frac{\delta_{ij}}{L_{ii}^2}
        - \frac{1}{L_{ii}} \sum_{k > i,\ L_{ki} \ne 0} L_{ki} \tilde\Sigma_{kj},
        \qquad \tilde\Sigma = P \Sigma P^\top,\ j \ge i

    (Takahashi, Fagan & Chen 1973; Rue & Martino 2007; see the module docstring).
    ``values (nnz(L),)`` are :math:`\tilde\Sigma` on L's pattern.

    Parameters
    ----------
    L : scipy.sparse.csc_matrix
        ``(n, n)`` lower Cholesky factor with :math:`P Q P^\top = Q[perm][:, perm] = L L^\top`.
    perm : array_like
        ``(n,)`` the permutation.
    locator : callable or None, optional
        ``pattern -> positions`` in L's values (a cache); default :func:`locate`.
    overwrite : bool, default False
        Compute over ``L.data`` (L's values are lost).

    Raises
    ------
    ValueError
        If L is not a valid Cholesky factor (see :func:`takahashi`).

    References
    ----------
    Takahashi, K., Fagan, J. & Chen, M.-S. (1973). Formation of a sparse bus impedance matrix
    and its application to short circuit study. Proc. 8th PICA Conference, 63–69.

    Rue, H. & Martino, S. (2007). Approximate Bayesian inference for hierarchical Gaussian
    Markov random field models. J. Stat. Plan. Inference 137, 3177–3192.
    """

    def __init__(self, L: sp.csc_matrix, perm: np.ndarray, locator=None,
                 overwrite: bool = False):
        self.L = _lower_csc(L)
        self.perm = np.asarray(perm, dtype=np.int64)
        self.values = takahashi(self.L, overwrite=overwrite)  # overwrite: self.L.data is Σ̃
        self._locator = locator or (lambda pattern: locate(self.L, self.perm, pattern.rows,
                                                           pattern.cols))

    @property
    def n(self) -> int:
        """Matrix size n.

        Returns
        -------
        int
        """
        return self.L.shape[0]

    def diagonal(self) -> np.ndarray:
        r""":math:`\mathrm{diag}\,\Sigma`, the marginal variances, in the original ordering.

        Returns
        -------
        numpy.ndarray
            ``(n,)``.
        """
        out = np.empty(self.n)
        out[self.perm] = self.values[self.L.indptr[:-1]]
        return out

    def on(self, pattern: Pattern) -> np.ndarray:
        r"""Σ on a pattern, in the original ordering.

        Parameters
        ----------
        pattern : Pattern
            Target pattern, inside that of :math:`L + L^\top`.

        Returns
        -------
        numpy.ndarray
            ``(pattern.nnz,)`` values.

        Raises
        ------
        ValueError
            If an entry lies outside the pattern of :math:`L + L^\top`.
        """
        return self.values[self._locator(pattern)]

    def entries(self, rows, cols) -> np.ndarray:
        r"""Entries :math:`\Sigma_{\mathrm{rows}[k], \mathrm{cols}[k]}` (original ordering).

        Parameters
        ----------
        rows, cols : array_like
            ``(m,)`` indices; each entry must lie on the pattern of :math:`L + L^\top`.

        Returns
        -------
        numpy.ndarray
            ``(m,)`` values.

        Raises
        ------
        ValueError
            If an entry lies outside that pattern.
        """
        return self.values[locate(self.L, self.perm, rows, cols)]


def _lower_csc(L) -> sp.csc_matrix:
    if not sp.issparse(L) or L.shape[0] != L.shape[1]:
        raise ValueError("L must be a square scipy sparse matrix")
    L = L if L.format == "csc" else L.tocsc()
    if not L.has_sorted_indices:
        L = L.copy()
        L.sort_indices()
    return L
