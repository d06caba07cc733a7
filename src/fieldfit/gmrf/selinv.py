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

Blocked by supernodes (runs of columns J with nested structures, J followed by the rows R below
them), the same identity reads, with Z = L_RJ L_JJ⁻¹,

    Σ̃_RJ = −Σ̃_RR Z,      Σ̃_JJ = (L_JJ L_JJᵀ)⁻¹ − Zᵀ Σ̃_RJ ,

three dense products per supernode (BLAS; LAPACK dtrsm/dpotri for the large ones), Σ̃_RR
gathered from the entries already computed. On 2-D grids this is 5-15× faster than the
column-by-column recursion.
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
    """L_JJ ``(w, w)`` (lower) and L_RJ ``(r, w)`` of the supernode starting at column f;
    status 2 if a column does not start with its positive diagonal."""
    p0 = indptr[f]
    r = indptr[f + 1] - p0 - w
    LJ = np.zeros((w, w))
    LR = np.empty((r, w))
    status = 0
    for c in range(w):
        pc = indptr[f + c]
        if indices[pc] != f + c or not Lx[pc] > 0.0:
            status = 2
        for i in range(c, w):
            LJ[i, c] = Lx[pc + i - c]
        for a in range(r):
            LR[a, c] = Lx[pc + w + a - c]
    return LJ, LR, status


@numba.njit(cache=True)
def _gather(indptr, indices, S, f, w):  # pragma: no cover - compiled
    """Σ̃_RR ``(r, r)`` for the rows R below the supernode starting at column f, read from the
    columns R (already computed); status 1 if an entry is missing from the pattern."""
    p0 = indptr[f] + w
    r = indptr[f + 1] - p0
    G = np.empty((r, r))
    for a in range(r):
        ra = indices[p0 + a]
        q = indptr[ra]
        qend = indptr[ra + 1]
        G[a, a] = S[q]
        q += 1
        for b in range(a + 1, r):  # merge: the rows R beyond ra lie in column ra
            rb = indices[p0 + b]
            while q < qend and indices[q] != rb:
                q += 1
            if q == qend:
                return G, 1
            G[b, a] = S[q]
            G[a, b] = S[q]
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
        for a in range(r):
            S[pc + w + a - c] = SRJ[a, c]


@numba.njit(cache=True)
def _small_supernodes(indptr, indices, Lx, sptr, s_hi, s_lo, S):  # pragma: no cover - compiled
    """The recursion for supernodes s_hi down to s_lo (small blocks: inverse of L_JJ by
    substitution, products by np.dot). Returns a status (0 ok, 1 pattern, 2 diagonal)."""
    for s in range(s_hi, s_lo - 1, -1):
        f = sptr[s]
        w = sptr[s + 1] - f
        LJ, LR, status = _load(indptr, indices, Lx, f, w)
        if status:
            return status
        Li = np.zeros((w, w))  # L_JJ⁻¹, lower
        for c in range(w):
            Li[c, c] = 1.0 / LJ[c, c]
            for i in range(c + 1, w):
                acc = 0.0
                for k in range(c, i):
                    acc += LJ[i, k] * Li[k, c]
                Li[i, c] = -acc / LJ[i, i]
        SJJ = np.dot(Li.T, Li)
        if LR.shape[0] > 0:
            G, status = _gather(indptr, indices, S, f, w)
            if status:
                return status
            Z = np.dot(LR, Li)
            SRJ = -np.dot(G, Z)
            SJJ -= np.dot(SRJ.T, Z)
        else:
            SRJ = LR
        _scatter(indptr, S, f, SJJ, SRJ)
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
    indptr, indices, Lx = L.indptr, L.indices, L.data
    sptr = _supernodes(indptr, indices)
    w = np.diff(sptr)
    large = w * np.diff(indptr)[sptr[:-1]] > _LARGE_BLOCK
    S = np.empty(L.nnz)
    s = sptr.shape[0] - 2
    while s >= 0:
        if large[s]:
            status = _large_supernode(indptr, indices, Lx, int(sptr[s]), int(w[s]), S)
            s -= 1
        else:
            below = np.flatnonzero(large[:s])
            s_lo = int(below[-1]) + 1 if below.size else 0
            status = _small_supernodes(indptr, indices, Lx, sptr, s, s_lo, S)
            s = s_lo - 1
        if status == 2:
            raise ValueError("the factor must be lower triangular with a positive diagonal "
                             "stored first in each column")
        if status == 1:
            raise ValueError("the pattern of L is not closed under the Takahashi recursion "
                             "(not the symbolic pattern of a Cholesky factor)")
    return S


def _large_supernode(indptr, indices, Lx, f: int, w: int, S: np.ndarray) -> int:
    """One large supernode with LAPACK: Z = L_RJ L_JJ⁻¹ (dtrsm), (L_JJ L_JJᵀ)⁻¹ (dpotri)."""
    LJ, LR, status = _load(indptr, indices, Lx, f, w)
    if status:
        return status
    SJJ, info = lapack.dpotri(LJ, lower=1)
    if info != 0:
        return 2
    if LR.shape[0] > 0:
        G, status = _gather(indptr, indices, S, f, w)
        if status:
            return status
        # scipy's BLAS throughout (numpy's `@` would wake a second BLAS thread pool)
        Z = blas.dtrsm(1.0, LJ, LR, side=1, lower=1)  # Z L_JJ = L_RJ
        SRJ = blas.dgemm(-1.0, G, Z)
        SJJ = blas.dgemm(-1.0, SRJ, Z, beta=1.0, c=SJJ, trans_a=1, overwrite_c=1)
    else:
        SRJ = LR
    _scatter(indptr, S, f, np.ascontiguousarray(SJJ), np.ascontiguousarray(SRJ))
    return 0


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
