r"""Stopping an optimiser stage at the objective's noise floor.

An objective evaluated with threaded reductions (BLAS, OpenMP) can return values that differ
in their last digits between calls, and between points closer together than that noise can
resolve. Near the optimum an optimiser then sees progress that is only noise: a gradient norm
that never falls below its tolerance, line searches that never settle, and (BFGS) the same
point asked for again and again. :class:`NoiseGuard` watches the points a stage asks for and
ends the stage with :class:`NoiseFloorReached` when

- one point has been asked for more than :data:`REPEAT_LIMIT` times (the optimiser can learn
  nothing new there: the objective answers a point it has seen from memory), or
- :data:`STALL_EVALUATIONS` new points in a row have not lowered the stage's best value by
  more than the noise floor.

The noise floor is :math:`\max(\epsilon\,\max(|f|, 1),\ \hat s)` with
:math:`\epsilon` = :data:`NOISE_RELATIVE` and :math:`\hat s` the median, over the recent pairs
of successive points less than :data:`NOISE_STEP` apart (max-norm in u), of the trapezoid
rule's discrepancy

.. math:: d = \left|f(u_2) - f(u_1) - \tfrac12 (g_1 + g_2)^\top (u_2 - u_1)\right|,

which is :math:`O(\lVert u_2 - u_1\rVert^3)` for a smooth f (negligible at such steps) and of
the size of the noise otherwise. Everything the guard decides follows from the values the
objective returned, so a fit replayed from its checkpoint journal stops where it stopped.
"""

from __future__ import annotations

from collections import deque

import numpy as np

#: a stage stops once one point has been asked for more than this many times
REPEAT_LIMIT = 3
#: a stage stops after this many new points in a row without a gain above the noise floor
STALL_EVALUATIONS = 10
#: the least noise floor, relative to max(abs(f), 1) (float64 rounding of a sum of n terms)
NOISE_RELATIVE = 1e-12
#: successive points closer than this (max-norm in u) estimate the noise
NOISE_STEP = 1e-4
#: how many recent discrepancies the noise estimate keeps
NOISE_PAIRS = 10


class NoiseFloorReached(Exception):  # noqa: N818  (a stop signal, not an error)
    """An optimiser stage has reached its objective's noise floor.

    Raised from inside the objective, it unwinds the optimiser; the stage then returns the
    best point it evaluated.

    Parameters
    ----------
    f : float
        The stage's best value.
    u : numpy.ndarray
        The stage's best point ``(k,)``.
    g : numpy.ndarray
        The gradient there ``(k,)``.
    floor : float
        The noise floor of f.
    reason : str
        Why the stage stopped (for the result's message).
    points : int
        The distinct points the stage evaluated.
    """

    def __init__(self, f: float, u: np.ndarray, g: np.ndarray, floor: float, reason: str,
                 points: int):
        self.f, self.u, self.g, self.floor = f, u, g, floor
        self.reason, self.points = reason, points
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """``"stopped: progress below the objective's noise floor (…)"`` with the reason."""
        return (f"stopped: progress below the objective's noise floor ({self.floor:.2g} in "
                f"f = -loglik/n; {self.reason})")


class NoiseGuard:
    """Watches one optimiser stage's requests and stops it at the noise floor.

    :meth:`start` begins a stage (and arms the guard), :meth:`stop` disarms it; between
    them every request goes through :meth:`asked`. A disarmed guard does nothing.
    """

    def __init__(self):
        self.active = False
        self._reset()

    def _reset(self) -> None:
        self.asks: dict[bytes, int] = {}
        self.best: tuple | None = None             # (f, u, g)
        self.since_gain = 0
        self.previous: tuple | None = None         # (u, f, g) of the last new point
        self.discrepancies: deque[float] = deque(maxlen=NOISE_PAIRS)

    def start(self) -> None:
        """Begin a stage: forget the previous stage's points and arm the guard."""
        self._reset()
        self.active = True

    def stop(self) -> None:
        """End the stage: disarm the guard."""
        self.active = False

    def floor(self, f: float) -> float:
        """The noise floor of f at the value ``f`` (the module docstring's formula).

        Parameters
        ----------
        f : float
            A value of the objective.

        Returns
        -------
        float
            The larger of :data:`NOISE_RELATIVE` ``· max(|f|, 1)`` and the median
            trapezoid discrepancy of the recent close pairs.
        """
        least = NOISE_RELATIVE * max(abs(f), 1.0)
        if not self.discrepancies:
            return least
        return max(least, float(np.median(self.discrepancies)))

    def asked(self, key: bytes, u: np.ndarray, f: float, g: np.ndarray, new: bool,
              feasible: bool = True) -> None:
        """Record a request for the point u and stop the stage when it is at the floor.

        Parameters
        ----------
        key : bytes
            The point's bytes (equal keys: the same point).
        u : numpy.ndarray
            The point ``(k,)``.
        f : float
            The objective's value there.
        g : numpy.ndarray
            Its gradient ``(k,)``.
        new : bool
            The point was evaluated for this request (False: answered from memory).
        feasible : bool, optional
            False for an infeasible point: only its requests are counted (it neither gains
            nor stalls).

        Raises
        ------
        NoiseFloorReached
            A point asked for more than :data:`REPEAT_LIMIT` times, or
            :data:`STALL_EVALUATIONS` new points without a gain above the floor.
        """
        if not self.active or not np.isfinite(f):
            return
        self.asks[key] = self.asks.get(key, 0) + 1
        if not feasible:
            if self.asks[key] > REPEAT_LIMIT:
                self._halt(f"one point asked for {self.asks[key]} times")
            return
        if new:
            self._note_pair(u, f, g)
        gained = self.best is None or f < self.best[0] - self.floor(self.best[0])
        if self.best is None or f < self.best[0]:
            self.best = (f, np.array(u, dtype=np.float64), np.array(g, dtype=np.float64))
        if new:
            self.since_gain = 0 if gained else self.since_gain + 1
        if self.asks[key] > REPEAT_LIMIT:
            self._halt(f"one point asked for {self.asks[key]} times")
        if self.since_gain >= STALL_EVALUATIONS:
            self._halt(f"{self.since_gain} evaluations without a gain above it")

    def _note_pair(self, u: np.ndarray, f: float, g: np.ndarray) -> None:
        """Add the trapezoid discrepancy of (previous point, u) when they are close."""
        u = np.array(u, dtype=np.float64)
        if self.previous is not None:
            u1, f1, g1 = self.previous
            du = u - u1
            if 0 < np.max(np.abs(du)) < NOISE_STEP:
                self.discrepancies.append(abs(f - f1 - 0.5 * float((g1 + g) @ du)))
        self.previous = (u, f, np.array(g, dtype=np.float64))

    def _halt(self, reason: str):
        if self.best is None:  # nothing feasible in this stage: let the optimiser go on
            return
        f, u, g = self.best
        raise NoiseFloorReached(f, u, g, self.floor(f), reason, len(self.asks))
