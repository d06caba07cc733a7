"""The selected inverse: entries of Σ = Q⁻¹ on the pattern of the Cholesky factor.

With PQPᵀ = LLᵀ (L lower, CSC, diagonal first in each column), Σ̃ = PΣPᵀ = L⁻ᵀL⁻¹ satisfies
Σ̃L = L⁻ᵀ, an upper triangular matrix with diagonal 1/L_ii, which gives, for j ≥ i,

    Σ̃_ij = δ_ij / L_ii² − (1/L_ii) Σ_{k > i, L_ki ≠ 0} L_ki Σ̃_kj

(Takahashi, Fagan & Chen 1973; Erisman & Tinney 1975; Rue & Martino 2007, eq. 6). Running i from
n − 1 down to 0, the entries Σ̃_kj needed for column i have k, j in the structure of column i of
L, and those lie in the pattern of L + Lᵀ (the structure of column i, beyond any of its rows j,
is contained in the structure of column j), so the recursion never leaves the pattern of L:
O(Σ_i |col_i|²) operations, about those of the factorisation. Pattern entries that are exact
zeros of L (a supernodal factor stores some) are harmless.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from .pattern import Pattern


@numba.njit(cache=True)
def _takahashi(indptr, indices, Lx, S):  # pragma: no cover - compiled
    """Σ̃ on the pattern of L (lower, CSC, diagonal first). Returns 0, or 1 if the pattern is
    not closed under the recursion, 2 if a column does not start with a positive diagonal."""
    n = indptr.shape[0] - 1
    width = 0
    for c in range(n):
        width = max(width, indptr[c + 1] - indptr[c])
    tmp = np.zeros(width)
    for c in range(n - 1, -1, -1):
        p0 = indptr[c] + 1
        p1 = indptr[c + 1]
        if p0 > p1 or indices[p0 - 1] != c or not Lx[p0 - 1] > 0.0:
            return 2
        d = Lx[p0 - 1]
        m = p1 - p0
        for a in range(m):
            tmp[a] = 0.0
        # tmp[a] = Σ_b L_{r_b c} Σ̃_{r_b r_a} over the rows r_0 < r_1 < ... of column c (below
        # the diagonal); Σ̃_{r_b r_a} (b ≥ a) is read from column r_a, merged with the rows r_b.
        for a in range(m):
            ra = indices[p0 + a]
            la = Lx[p0 + a]
            q = indptr[ra]
            qend = indptr[ra + 1]
            ta = tmp[a] + la * S[q]
            q += 1
            for b in range(a + 1, m):
                rb = indices[p0 + b]
                while q < qend and indices[q] != rb:
                    q += 1
                if q == qend:
                    return 1
                s = S[q]
                ta += Lx[p0 + b] * s
                tmp[b] += la * s
            tmp[a] = ta
        acc = 0.0
        for a in range(m):
            v = -tmp[a] / d
            S[p0 + a] = v
            acc += Lx[p0 + a] * v
        S[p0 - 1] = 1.0 / (d * d) - acc / d
    return 0


@numba.njit(parallel=True, cache=True)
def _locate(indptr, indices, pinv, rows, cols, out):  # pragma: no cover - compiled
    """Positions in the lower pattern of L of the (original-ordering) entries (rows, cols) of Σ;
    −1 where absent."""
    for k in numba.prange(rows.shape[0]):
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


def takahashi(L: sp.csc_matrix) -> np.ndarray:
    """Σ̃ = (LLᵀ)⁻¹ on the pattern of ``L`` (lower triangular CSC ``(n, n)``, sorted indices,
    positive diagonal), as values ``(nnz(L),)`` aligned with ``L.indices``."""
    L = _lower_csc(L)
    S = np.empty(L.nnz)
    status = _takahashi(L.indptr, L.indices, L.data, S)
    if status == 2:
        raise ValueError("the factor must be lower triangular with a positive diagonal stored "
                         "first in each column")
    if status == 1:
        raise ValueError("the pattern of L is not closed under the Takahashi recursion "
                         "(not the symbolic pattern of a Cholesky factor)")
    return S


def locate(L: sp.csc_matrix, perm: np.ndarray, rows, cols) -> np.ndarray:
    """Positions ``(m,)`` in L's values of the entries Σ_{rows[k], cols[k]} (original ordering,
    ``perm`` the fill-reducing permutation: row k of L is row perm[k] of Q); ValueError if an
    entry lies outside the pattern of L + Lᵀ."""
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
    """Σ = Q⁻¹ on the pattern of L + Lᵀ by the Takahashi recursions (see the module docstring):

        Σ̃_ij = δ_ij / L_ii² − (1/L_ii) Σ_{k > i, L_ki ≠ 0} L_ki Σ̃_kj,   Σ̃ = PΣPᵀ, j ≥ i

    (Takahashi, Fagan & Chen 1973; Rue & Martino 2007). ``L`` lower CSC ``(n, n)``, ``perm
    (n,)`` with PQPᵀ = Q[perm][:, perm] = LLᵀ. ``values (nnz(L),)`` are Σ̃ on L's pattern.
    """

    def __init__(self, L: sp.csc_matrix, perm: np.ndarray, locator=None):
        self.L = _lower_csc(L)
        self.perm = np.asarray(perm, dtype=np.int64)
        self.values = takahashi(self.L)
        self._locator = locator or (lambda pattern: locate(self.L, self.perm, pattern.rows,
                                                           pattern.cols))

    @property
    def n(self) -> int:
        return self.L.shape[0]

    def diagonal(self) -> np.ndarray:
        """diag Σ ``(n,)`` (the marginal variances), original ordering."""
        out = np.empty(self.n)
        out[self.perm] = self.values[self.L.indptr[:-1]]
        return out

    def on(self, pattern: Pattern) -> np.ndarray:
        """Σ on ``pattern`` (original ordering): values ``(pattern.nnz,)``."""
        return self.values[self._locator(pattern)]

    def entries(self, rows, cols) -> np.ndarray:
        """Σ_{rows[k], cols[k]} ``(m,)``; each entry must lie on the pattern of L + Lᵀ."""
        return self.values[locate(self.L, self.perm, rows, cols)]


def _lower_csc(L) -> sp.csc_matrix:
    if not sp.issparse(L) or L.shape[0] != L.shape[1]:
        raise ValueError("L must be a square scipy sparse matrix")
    L = L if L.format == "csc" else L.tocsc()
    if not L.has_sorted_indices:
        L = L.copy()
        L.sort_indices()
    return L
