"""Orderings of the points and the Vecchia conditioning sets.

Maximum–minimum distance ordering (Guinness 2018, Technometrics; Schäfer, Katzfuss & Owhadi
2021): the first point is the one closest to the centroid; each next point is the one farthest
from all points already ordered::

    i_k = argmax_{j ∉ {i_1..i_{k−1}}}  min_{l < k} ‖x_j − x_{i_l}‖ .

Conditioning sets: N(k) = the m nearest neighbours of point k among the points ordered before it.

Neither scipy nor any other library offers these two (GpGp does, in R/C++), so they are written
here: the maxmin ordering as an exact lazy-heap algorithm over a uniform grid of buckets
(numba); the conditioning sets with scipy's cKDTree on growing prefixes of the ordering, or by
a compiled scan over all earlier points (O(n²) without set-up, for small point sets such as
the pilot likelihoods' datasets, :mod:`fieldfit.neural.pilot`).
"""

from __future__ import annotations

import heapq

import numba
import numpy as np
from scipy.spatial import cKDTree

ORDERINGS = ("maxmin", "random", "coordinate", "none")


def _as_points(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"points must be a non-empty (n, d) array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("points contain NaN or infinite coordinates")
    return x


@numba.njit(cache=True)
def _maxmin_kernel(x, first, lo, cell, dims, starts, members):  # pragma: no cover - numba
    """Exact maxmin order. Buckets: points of cell c are ``members[starts[c]:starts[c+1]]``.

    dist[j] = distance from j to the nearest point ordered so far. When point i (the farthest,
    dist[i] = R) is ordered, only points within R of i can come closer, so only the buckets
    meeting the ball of radius R around i are visited; stale heap entries are skipped.
    Σ_k (points within R_k of i_k) is O(n log n) for points of bounded density.
    """
    n, d = x.shape
    dist = np.full(n, np.inf)
    done = np.zeros(n, dtype=np.bool_)
    order = np.empty(n, dtype=np.int64)
    for j in range(n):
        s = 0.0
        for a in range(d):
            t = x[j, a] - x[first, a]
            s += t * t
        dist[j] = np.sqrt(s)
    heap = [(-dist[j], j) for j in range(n)]
    heapq.heapify(heap)
    strides = np.ones(d, dtype=np.int64)
    for a in range(d - 2, -1, -1):
        strides[a] = strides[a + 1] * dims[a + 1]
    order[0] = first
    done[first] = True
    k = 1
    lo_c = np.empty(d, dtype=np.int64)
    hi_c = np.empty(d, dtype=np.int64)
    cur = np.empty(d, dtype=np.int64)
    while k < n:
        negd, i = heapq.heappop(heap)
        if done[i] or -negd != dist[i]:
            continue
        done[i] = True
        order[k] = i
        k += 1
        R = dist[i]
        total = 1
        for a in range(d):
            c0 = int(np.floor((x[i, a] - R - lo[a]) / cell[a]))
            c1 = int(np.floor((x[i, a] + R - lo[a]) / cell[a]))
            lo_c[a] = max(c0, 0)
            hi_c[a] = min(c1, dims[a] - 1)
            total *= hi_c[a] - lo_c[a] + 1
        for a in range(d):
            cur[a] = lo_c[a]
        for _ in range(total):
            c = 0
            for a in range(d):
                c += cur[a] * strides[a]
            for q in range(starts[c], starts[c + 1]):
                j = members[q]
                if done[j]:
                    continue
                s = 0.0
                for a in range(d):
                    t = x[j, a] - x[i, a]
                    s += t * t
                s = np.sqrt(s)
                if s < dist[j]:
                    dist[j] = s
                    heapq.heappush(heap, (-s, j))
            for a in range(d - 1, -1, -1):  # next cell of the box (odometer)
                cur[a] += 1
                if cur[a] <= hi_c[a]:
                    break
                cur[a] = lo_c[a]
    return order


def maxmin_order(x) -> np.ndarray:
    """The exact maximum–minimum distance ordering of the points (Guinness 2018).

    Starts at the point nearest the centroid (as GpGp); ties go to the lower index. Near-linear
    time: a grid of about n/2 buckets bounds the search for the points a new one comes closer
    to.

    Parameters
    ----------
    x : array_like
        ``(n, d)`` points (``(n,)`` read as 1-D).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` int64 permutation.

    Raises
    ------
    ValueError
        If ``x`` is empty, not ``(n, d)``, or has non-finite coordinates.
    """
    x = _as_points(x)
    n, d = x.shape
    first = int(np.argmin(((x - x.mean(0)) ** 2).sum(1)))
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    lo = x.min(0)
    span = np.maximum(x.max(0) - lo, 0.0)
    active = span > 0
    target = max(n / 2.0, 1.0)
    dims = np.ones(d, dtype=np.int64)
    if active.any():
        vol = float(np.prod(span[active]))
        h = (vol / target) ** (1.0 / active.sum())
        dims[active] = np.clip(np.ceil(span[active] / h), 1, None).astype(np.int64)
    cell = np.where(active, span / dims, 1.0)
    idx = np.minimum(((x - lo) / cell).astype(np.int64), dims - 1)
    strides = np.ones(d, dtype=np.int64)
    for a in range(d - 2, -1, -1):
        strides[a] = strides[a + 1] * dims[a + 1]
    flat = idx @ strides
    members = np.argsort(flat, kind="stable").astype(np.int64)
    starts = np.searchsorted(flat[members], np.arange(int(np.prod(dims)) + 1)).astype(np.int64)
    return _maxmin_kernel(x, first, lo, cell, dims, starts, members)


def order_points(x, method: str = "maxmin", seed: int = 0) -> np.ndarray:
    """A permutation of the points by the named ordering.

    Parameters
    ----------
    x : array_like
        ``(n, d)`` points.
    method : {"maxmin", "random", "coordinate", "none"}, default "maxmin"
        ``maxmin`` (the best for Vecchia, Guinness 2018), ``random`` (seeded), ``coordinate``
        (sorted by the first coordinate, then the next ones), ``none`` (as given).
    seed : int, default 0
        Seed of the random ordering.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` permutation.

    Raises
    ------
    ValueError
        For an unknown method or invalid points.
    """
    x = _as_points(x)
    if method == "maxmin":
        return maxmin_order(x)
    if method == "random":
        return np.random.default_rng(seed).permutation(x.shape[0])
    if method == "coordinate":
        return np.lexsort(x.T[::-1])
    if method == "none":
        return np.arange(x.shape[0])
    raise ValueError(f"unknown ordering {method!r}; choose one of {ORDERINGS}")


NEIGHBOUR_SEARCHES = ("tree", "scan")


@numba.njit(cache=True, nogil=True)
def _scan_previous(x, m):  # pragma: no cover - numba
    """The ``m`` nearest earlier points of every point of ``x (n, d)``, nearest first, −1
    padded: for each point, one pass over the earlier ones keeping a sorted list (a later
    point displaces an earlier one only when strictly nearer, so ties go to the lower
    index)."""
    n, dim = x.shape
    out = np.full((n, m), -1, dtype=np.int64)
    dd = np.empty(m)
    for i in range(1, n):
        k = 0
        for j in range(i):
            if dim == 2:  # the common case, without the loop over coordinates
                dx, dy = x[i, 0] - x[j, 0], x[i, 1] - x[j, 1]
                d = dx * dx + dy * dy
            else:
                d = 0.0
                for a in range(dim):
                    t = x[i, a] - x[j, a]
                    d += t * t
            if k < m:
                p = k
                k += 1
            elif d < dd[m - 1]:
                p = m - 1
            else:
                continue
            while p > 0 and dd[p - 1] > d:  # insertion into the sorted list
                dd[p] = dd[p - 1]
                out[i, p] = out[i, p - 1]
                p -= 1
            dd[p] = d
            out[i, p] = j
    return out


def previous_neighbours(x, m: int, search: str = "tree") -> np.ndarray:
    """For points in their order, the ``m`` nearest among the earlier ones.

    Both searches are exact:

    - ``"tree"``: for the rows k ∈ [a, 2a) a k-d tree on the prefix x[:2a] is queried for
      candidates (at least half of that prefix precedes k), widening the query until m
      earlier points are found; O(n log n), with a set-up cost per prefix (and scipy's
      threads);
    - ``"scan"``: a compiled pass over all earlier points of each point, O(n² d) on one
      thread without set-up; among equally distant points the lower index is kept (the
      tree's choice among such ties is cKDTree's).

    Which is faster depends on n and the machine (docs/benchmarks.md).

    Parameters
    ----------
    x : array_like
        ``(n, d)`` points, in their order.
    m : int
        Number of neighbours, ≥ 1.
    search : {"tree", "scan"}, default "tree"
        Search method.

    Returns
    -------
    numpy.ndarray
        ``(n, m)`` int64 indices into x, nearest first; row k has ``min(k, m)`` entries and −1
        after them.

    Raises
    ------
    ValueError
        If ``m < 1``, ``search`` is unknown, or the points are invalid.
    """
    x = _as_points(x)
    n = x.shape[0]
    if m < 1:
        raise ValueError(f"the number of neighbours must be at least 1, got {m}")
    if search == "scan":
        return _scan_previous(np.ascontiguousarray(x), int(m))
    if search != "tree":
        raise ValueError(f"unknown neighbour search {search!r}; choose one of "
                         f"{NEIGHBOUR_SEARCHES}")
    out = np.full((n, m), -1, dtype=np.int64)
    head = min(n, m + 1)
    for k in range(1, head):  # the first points condition on all earlier ones
        d = ((x[:k] - x[k]) ** 2).sum(1)
        out[k, :k] = np.argsort(d, kind="stable")
    a = head
    while a < n:
        b = min(2 * a, n)
        tree = cKDTree(x[:b])
        rows = np.arange(a, b)
        kq = min(b, 2 * m + 2)
        while len(rows):
            _, cand = tree.query(x[rows], k=kq, workers=-1)
            cand = np.asarray(cand).reshape(len(rows), kq)
            earlier = cand < rows[:, None]
            enough = earlier.sum(1) >= m
            if kq == b:
                enough[:] = True  # the whole prefix: every earlier point is a candidate
            r_ok = rows[enough]
            c_ok, e_ok = cand[enough], earlier[enough]
            # the first m earlier candidates of each row, in distance order
            pos = np.cumsum(e_ok, axis=1)
            take = e_ok & (pos <= m)
            cols = pos[take] - 1
            out[np.repeat(r_ok, take.sum(1)), cols] = c_ok[take]
            rows = rows[~enough]
            kq = min(b, 2 * kq)
        a = b
    return out


def group_neighbours(nb: np.ndarray, first: int = 0, exponent: float = 2.0) -> list[np.ndarray]:
    r"""Partition rows of a conditioning-set array into groups that share neighbours.

    Guinness (2018, §4); the greedy rule of GpGp's ``group_obs``. Visiting the neighbour
    columns nearest first, the group of row j absorbs the group of its neighbour k when the
    union U of their points (members and neighbours) is small:
    :math:`|U|^e \le |U_j|^e + |U_k|^e` with e = ``exponent``. A group's block is the sorted
    union; each member then conditions on every earlier point of the block, a superset of its
    own m neighbours, so the approximation stays a valid Vecchia approximation and is at least
    as accurate.

    Parameters
    ----------
    nb : numpy.ndarray
        ``(n, m)`` earlier neighbours of each row (−1 padding).
    first : int, default 0
        First row to group (earlier rows form the dense head block).
    exponent : float, default 2.0
        Cost exponent e of a block's size.

    Returns
    -------
    list of numpy.ndarray
        The member rows of each group (sorted int64 arrays).
    """
    n, m = nb.shape
    members: dict[int, list[int]] = {j: [j] for j in range(first, n)}
    union: dict[int, set[int]] = {j: {j, *(int(v) for v in nb[j] if v >= 0)}
                                  for j in range(first, n)}
    owner = np.arange(n)  # the group a row belongs to (its key in members)
    for col in range(m):
        for j in range(first, n):
            k = int(nb[j, col])
            if k < first:
                continue
            gj, gk = int(owner[j]), int(owner[k])
            if gj == gk:
                continue
            u = union[gj] | union[gk]
            if len(u) ** exponent <= len(union[gj]) ** exponent + len(union[gk]) ** exponent:
                members[gj] += members.pop(gk)
                union[gj] = u
                del union[gk]
                owner[members[gj]] = gj
    return [np.sort(np.asarray(v, dtype=np.int64)) for v in members.values()]
