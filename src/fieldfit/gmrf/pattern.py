"""Sparse symmetric matrices as a fixed pattern plus a torch values vector.

A sparse symmetric matrix ``(n, n)`` is a :class:`Pattern` (scipy CSC structure: ``indptr
(n+1,)``, ``indices (nnz,)``; both triangles stored, indices sorted in each column, no
duplicates) and a float64 values vector ``(nnz,)`` aligned with it. Parameters change the
values, never the pattern, so everything symbolic (orderings, the analysis of the Cholesky
factor, the maps between patterns) is computed once per pattern.

Sums of matrices with different patterns, e.g. Q + AᵀA/τ², go through :func:`union`: the union
pattern and, for each term, the positions of its entries in the union, so that::

    values = scatter(values_Q, map_Q) + scatter(values_AtA, map_AtA) / τ²

is again "pattern + values", differentiable in whatever the terms' values depend on.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


class Pattern:
    """The structure of a structurally symmetric sparse matrix ``(n, n)``, CSC, both triangles.

    Entry k (0 ≤ k < nnz) sits at row ``rows[k]`` and column ``cols[k]``; ``transpose[k]`` is
    the position of the mirrored entry (cols[k], rows[k]); ``diagonal`` the positions of the
    diagonal entries ``(n,)`` (−1 where absent); ``lower`` the positions of the lower triangle.
    Build it from a scipy matrix with :meth:`from_matrix` or :meth:`split`.

    Parameters
    ----------
    indptr : array_like
        ``(n+1,)`` CSC column pointers.
    indices : array_like
        ``(nnz,)`` row indices, sorted and unique within each column.
    n : int
        Matrix size.

    Raises
    ------
    ValueError
        If the arrays have the wrong shape, ``indptr`` is not a valid pointer array, a row index
        is out of range, rows are unsorted or repeated within a column, or the pattern is not
        structurally symmetric.
    """

    def __init__(self, indptr, indices, n: int):
        indptr = np.ascontiguousarray(indptr)
        indices = np.ascontiguousarray(indices)
        if indptr.ndim != 1 or indices.ndim != 1 or indptr.shape[0] != n + 1:
            raise ValueError(f"a pattern of size {n} needs indptr of shape ({n + 1},), "
                             f"got {indptr.shape}")
        if indptr[0] != 0 or indptr[-1] != indices.shape[0] or np.any(np.diff(indptr) < 0):
            raise ValueError("indptr must start at 0, be non-decreasing and end at nnz")
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise ValueError(f"row indices must lie in [0, {n})")
        dtype = np.int32 if indices.size < 2**31 and n < 2**31 else np.int64
        self.n = int(n)
        self.indptr = indptr.astype(dtype, copy=False)
        self.indices = indices.astype(dtype, copy=False)
        self.nnz = int(indices.shape[0])
        self.cols = np.repeat(np.arange(n, dtype=np.int64), np.diff(self.indptr))
        self.rows = self.indices.astype(np.int64)
        key = self.cols * n + self.rows
        if np.any(np.diff(key) <= 0):
            raise ValueError("row indices must be sorted and unique within each column "
                             "(call sum_duplicates() / sort_indices() on the matrix first)")
        # the transpose, with each entry's position as its value (an O(nnz) CSR→CSC pass)
        t = sp.csc_matrix((np.arange(self.nnz, dtype=np.float64), self.indices, self.indptr),
                          shape=(n, n)).T.tocsc()
        if not (np.array_equal(t.indptr, self.indptr) and np.array_equal(t.indices, self.indices)):
            raise ValueError("the pattern is not structurally symmetric: store both triangles "
                             "(entry (i, j) present iff (j, i) present)")
        self.transpose = t.data.astype(np.int64)
        self.diagonal = np.full(n, -1, dtype=np.int64)
        on_diag = np.flatnonzero(self.rows == self.cols)
        self.diagonal[self.cols[on_diag]] = on_diag
        self.lower = np.flatnonzero(self.rows >= self.cols)  # positions of the lower triangle

    @property
    def shape(self) -> tuple[int, int]:
        """The matrix shape ``(n, n)``.

        Returns
        -------
        tuple of int
        """
        return (self.n, self.n)

    @property
    def has_diagonal(self) -> bool:
        """Whether every diagonal entry is stored.

        Returns
        -------
        bool
        """
        return bool(np.all(self.diagonal >= 0))

    def __repr__(self) -> str:
        return f"Pattern(n={self.n}, nnz={self.nnz})"

    def __eq__(self, other) -> bool:
        return self is other or (isinstance(other, Pattern) and self.n == other.n
                                 and np.array_equal(self.indptr, other.indptr)
                                 and np.array_equal(self.indices, other.indices))

    __hash__ = object.__hash__

    @classmethod
    def from_matrix(cls, matrix, diagonal: bool = False) -> Pattern:
        """The pattern of a scipy sparse matrix (stored entries, explicit zeros included).

        Use :meth:`split` to get the values too.

        Parameters
        ----------
        matrix : scipy.sparse matrix
            Square, structurally symmetric ``(n, n)`` matrix (duplicates are summed).
        diagonal : bool, default False
            Add every diagonal entry to the pattern.

        Returns
        -------
        Pattern

        Raises
        ------
        ValueError
            If ``matrix`` is not a square scipy sparse matrix or not structurally symmetric.
        """
        m = _canonical_csc(matrix)
        out = cls(m.indptr, m.indices, m.shape[0])
        if diagonal and not out.has_diagonal:
            out = union(out, diagonal=True)[0]
        return out

    @classmethod
    def split(cls, matrix) -> tuple[Pattern, torch.Tensor]:
        """Pattern and values of a scipy sparse matrix, explicit zeros kept.

        Parameters
        ----------
        matrix : scipy.sparse matrix
            Square, structurally symmetric ``(n, n)`` matrix.

        Returns
        -------
        pattern : Pattern
        values : torch.Tensor
            ``(nnz,)`` float64 values.

        Raises
        ------
        ValueError
            If ``matrix`` is not a square scipy sparse matrix or not structurally symmetric.
        """
        m = _canonical_csc(matrix)
        return cls(m.indptr, m.indices, m.shape[0]), torch.as_tensor(m.data, dtype=torch.float64)

    def to_scipy(self, values) -> sp.csc_matrix:
        """The scipy CSC matrix with these values (copied, detached).

        Parameters
        ----------
        values : torch.Tensor or array_like
            ``(nnz,)`` values aligned with the pattern.

        Returns
        -------
        scipy.sparse.csc_matrix
            ``(n, n)`` matrix.

        Raises
        ------
        ValueError
            If ``values`` is not of shape ``(nnz,)``.
        """
        data = _as_numpy(values, self.nnz)
        return sp.csc_matrix((data.copy(), self.indices.copy(), self.indptr.copy()),
                             shape=self.shape)

    def to_dense(self, values) -> np.ndarray:
        """The dense matrix with these values (for tests and small problems).

        Parameters
        ----------
        values : torch.Tensor or array_like
            ``(nnz,)`` values aligned with the pattern.

        Returns
        -------
        numpy.ndarray
            ``(n, n)`` array.

        Raises
        ------
        ValueError
            If ``values`` is not of shape ``(nnz,)``.
        """
        out = np.zeros(self.shape)
        out[self.rows, self.cols] = _as_numpy(values, self.nnz)
        return out

    def positions(self, rows, cols) -> np.ndarray:
        """Positions of the entries ``(rows[i], cols[i])`` in the values vector.

        Parameters
        ----------
        rows, cols : array_like
            ``(m,)`` row and column indices.

        Returns
        -------
        numpy.ndarray
            ``(m,)`` int64 positions.

        Raises
        ------
        ValueError
            If the lengths differ, an index is out of range, or an entry is not in the pattern.
        """
        rows = np.asarray(rows, dtype=np.int64).ravel()
        cols = np.asarray(cols, dtype=np.int64).ravel()
        if rows.shape != cols.shape:
            raise ValueError(f"rows {rows.shape} and cols {cols.shape} differ in length")
        if rows.size and (min(rows.min(), cols.min()) < 0 or max(rows.max(), cols.max()) >= self.n):
            raise ValueError(f"entries outside a {self.n} x {self.n} pattern")
        key = self.cols * self.n + self.rows  # sorted (checked in __init__)
        want = cols * self.n + rows
        pos = np.searchsorted(key, want)
        found = pos < self.nnz
        found[found] = key[pos[found]] == want[found]
        if not np.all(found):
            i = int(np.flatnonzero(~found)[0])
            raise ValueError(f"entry ({rows[i]}, {cols[i]}) is not in the pattern "
                             f"({int(np.sum(~found))} entries missing)")
        return pos

    def values_of(self, matrix) -> torch.Tensor:
        """The values of a scipy matrix whose stored entries lie in this pattern (zeros elsewhere).

        Parameters
        ----------
        matrix : scipy.sparse matrix
            ``(n, n)`` matrix; duplicate entries are summed.

        Returns
        -------
        torch.Tensor
            ``(nnz,)`` float64 values.

        Raises
        ------
        ValueError
            If the shape differs or a stored entry is outside the pattern.
        """
        m = sp.coo_matrix(matrix)
        if m.shape != self.shape:
            raise ValueError(f"matrix of shape {m.shape} for a pattern of shape {self.shape}")
        out = np.zeros(self.nnz)
        np.add.at(out, self.positions(m.row, m.col), m.data)
        return torch.from_numpy(out)

    def symmetrize(self, values: torch.Tensor) -> torch.Tensor:
        r"""The values of :math:`(V + V^\top)/2` on the pattern, differentiable.

        Parameters
        ----------
        values : torch.Tensor
            ``(nnz,)`` values of V.

        Returns
        -------
        torch.Tensor
            ``(nnz,)`` symmetric values.
        """
        return 0.5 * (values + values[torch.from_numpy(self.transpose)])

    def add_diagonal(self, values: torch.Tensor, d) -> torch.Tensor:
        """Values of Q + diag(d), differentiable in both.

        Parameters
        ----------
        values : torch.Tensor
            ``(nnz,)`` values of Q.
        d : float or torch.Tensor
            Scalar or ``(n,)`` diagonal to add.

        Returns
        -------
        torch.Tensor
            ``(nnz,)`` values.

        Raises
        ------
        ValueError
            If the pattern lacks diagonal entries or ``d`` has the wrong shape.
        """
        if not self.has_diagonal:
            raise ValueError("the pattern lacks diagonal entries; build it with "
                             "Pattern.from_matrix(m, diagonal=True) or union(...)")
        d = torch.as_tensor(d, dtype=values.dtype)
        d = d.expand(self.n) if d.ndim == 0 else d
        if d.shape != (self.n,):
            raise ValueError(f"diagonal of shape {tuple(d.shape)}, expected ({self.n},)")
        return values.index_add(0, torch.from_numpy(self.diagonal), d)


def union(*terms, diagonal: bool = True) -> tuple[Pattern, list[torch.Tensor]]:
    """The union of several patterns (or scipy matrices) and where each term's entries go.

    Parameters
    ----------
    *terms : Pattern or scipy.sparse matrix
        The terms, all ``(n, n)``.
    diagonal : bool, default True
        Also hold every diagonal entry.

    Returns
    -------
    pattern : Pattern
        The union pattern.
    maps : list of torch.Tensor
        ``maps[t]`` ``(nnz_t,)``: the positions in the union of term t's entries, so that
        ``scatter([v_1, ...], maps, pattern)`` gives the values of the sum.

    Raises
    ------
    ValueError
        If no term is given or the sizes differ.
    """
    if not terms:
        raise ValueError("union() needs at least one pattern")
    pats = [t if isinstance(t, Pattern) else Pattern.from_matrix(t) for t in terms]
    n = pats[0].n
    if any(p.n != n for p in pats):
        raise ValueError(f"patterns of different sizes {[p.n for p in pats]}")
    keys = [p.cols * n + p.rows for p in pats]
    if diagonal:
        keys.append(np.arange(n, dtype=np.int64) * (n + 1))
    allkeys = np.sort(np.concatenate(keys))  # sort, then drop repeats (no hashing pass)
    allkeys = allkeys[np.r_[True, allkeys[1:] != allkeys[:-1]]]
    cols, rows = np.divmod(allkeys, n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(cols, minlength=n), out=indptr[1:])
    out = Pattern(indptr, rows, n)
    maps = [torch.from_numpy(np.searchsorted(allkeys, k)) for k in keys[:len(pats)]]
    return out, maps


def scatter(values: list[torch.Tensor], maps: list[torch.Tensor], pattern: Pattern) -> torch.Tensor:
    """Values on ``pattern`` of the sum of terms given on their own patterns, differentiable.

    Parameters
    ----------
    values : list of torch.Tensor
        Each term's ``(nnz_t,)`` values.
    maps : list of torch.Tensor
        Each term's positions in ``pattern`` (from :func:`union`).
    pattern : Pattern
        The union pattern.

    Returns
    -------
    torch.Tensor
        ``(nnz,)`` float64 values of the sum.

    Raises
    ------
    ValueError
        If the numbers of values and maps differ, or a term's shape differs from its map's.
    """
    if len(values) != len(maps):
        raise ValueError(f"{len(values)} value vectors for {len(maps)} maps")
    out = torch.zeros(pattern.nnz, dtype=torch.float64)
    for v, m in zip(values, maps, strict=True):
        if v.shape != m.shape:
            raise ValueError(f"values of shape {tuple(v.shape)} for a map of shape "
                             f"{tuple(m.shape)}")
        out = out.index_add(0, m, v.to(torch.float64))
    return out


def _canonical_csc(matrix) -> sp.csc_matrix:
    if not sp.issparse(matrix):
        raise ValueError(f"expected a scipy sparse matrix, got {type(matrix).__name__}")
    if matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"a symmetric pattern must be square, got shape {matrix.shape}")
    m = sp.csc_matrix(matrix, dtype=np.float64, copy=True)
    m.sum_duplicates()
    m.sort_indices()
    return m


def _as_numpy(values, nnz: int) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    data = np.asarray(values, dtype=np.float64)
    if data.shape != (nnz,):
        raise ValueError(f"values of shape {data.shape}, expected ({nnz},)")
    return data
