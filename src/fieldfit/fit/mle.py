"""Maximum likelihood: L-BFGS on the unconstrained parameters, Newton polish, standard errors.

    θ̂ = argmax_θ ℓ(θ),  u = g⁻¹(θ) unconstrained (log for positive parameters)

:func:`fit` runs four named steps on any model of the contract
(:class:`fieldfit.contract.Model`):

1. :func:`coarse_start`: on the model's cheaper copy (``model.coarse()``: Vecchia with a few
   neighbours, a coarser SPDE mesh) search from every start, and take its optimum and inverse
   Hessian as the start and first metric of the fine search.
2. :func:`optimise`: L-BFGS-B (scipy) on f(u) = −ℓ(g(u))/n with the autograd gradient, from a
   data-driven start and ``restarts`` further starts; a restart that joins the basin of an
   optimum already found (within :data:`BASIN_RADIUS` of it in u, and no better) is stopped
   there; the best optimum is kept. Every optimiser run also stops once its progress is
   below the objective's noise floor (:mod:`fieldfit.fit.noise`), saying so in its message.
3. :func:`polish`: Newton steps with the Hessian (autograd, or differences of gradients where
   the model asks for them) polish the optimum; the observed information I_u = −∇²ℓ(û) gives
   Cov(θ̂) ≈ J I_u⁻¹ Jᵀ with J = diag(g'(û)) (delta method).
4. :func:`make_result`: profiled mean coefficients with their GLS standard errors, and the
   :class:`FitResult`.

Only numerical failures mean "this parameter value is infeasible" (a failed factorisation,
:class:`fieldfit.errors.NumericalFailure`; a non-finite value): the objective returns
:data:`INFEASIBLE` there. Every other exception propagates.
"""

from __future__ import annotations

import copy
import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize
import torch
from tqdm.auto import tqdm

from ..contract import check_model
from ..errors import NumericalFailure
from ..params import DTYPE, Interval, ParamSpace, Positive
from ..settings import progress_choice
from .checkpoint import Journal, fit_key
from .noise import NoiseFloorReached, NoiseGuard
from .progress import ProgressLines
from .results import FitResult

#: the objective's value at an infeasible point (f = −ℓ/n is O(1) elsewhere)
INFEASIBLE = 1e20
#: a restart within this max-norm distance in u of an optimum found, and no better, stops
BASIN_RADIUS = 0.1
#: an estimate within this (relative) distance in u of its search box's edge is on the edge
EDGE_TOLERANCE = 1e-6
#: difference step in u of Hessians by differences (central: error O(1e-6) relative)
HESSIAN_STEP = 1e-3
#: the polish recomputes the Hessian after a move larger than this in u
HESSIAN_REFRESH = 1e-3
#: most Newton steps of the polish
NEWTON_STEPS = 8
#: the polish stops once the predicted gain in ℓ is below this
NEWTON_GAIN = 1e-10
#: ℓ-change tolerance of the coarse stage's searches
COARSE_TOL = 1e-3
#: the numerical failures that mean "infeasible parameter value"
NUMERICAL_FAILURES = (NumericalFailure, torch.linalg.LinAlgError)


class SearchEdgeWarning(UserWarning):
    """An estimate lies on the edge of its search box: the likelihood keeps rising beyond it.

    Parameters
    ----------
    message : str
        The warning's text.
    names : iterable of str, optional
        The parameters on the edge (kept as ``names``, so a caller can tell which without
        reading the message).
    """

    def __init__(self, message: str, names=()):
        super().__init__(message)
        self.names = tuple(names)


def edge_note(name: str) -> str:
    """How a parameter estimated on the edge of its box is described (warnings, summaries).

    Parameters
    ----------
    name : str
        The parameter.

    Returns
    -------
    str
        ``"<name> on the edge of its search box"``.
    """
    return f"{name} on the edge of its search box"


class _Objective:
    """f(u) = −ℓ(g(u)) / n with its gradient; infeasible points return :data:`INFEASIBLE`.

    Each point is evaluated once: a point asked for again is answered from memory, so the
    objective is a function of u even where threaded reductions make the likelihood's last
    digits vary between calls (and a replayed checkpoint answers as the run it replays). Its
    ``guard`` (:class:`fieldfit.fit.noise.NoiseGuard`), armed by :func:`_minimise`, stops an
    optimiser stage whose progress is below the objective's noise floor.
    """

    def __init__(self, model, obs, space: ParamSpace, bar, journal=None,
                 lines: ProgressLines | None = None):
        self.model, self.obs, self.space, self.bar = model, obs, space, bar
        #: a line a minute on stderr where no bar is shown (a log), or None
        self.lines = lines
        #: a :class:`fieldfit.fit.checkpoint.JournalStage`: evaluations made before are
        #: answered from it, new ones appended (``--resume``)
        self.journal = journal
        self.n = int(obs.observed.sum()) * obs.n_replicates
        self.evaluations = 0
        self.best = (np.inf, None)
        self._memo: dict[bytes, tuple] = {}  # u's bytes -> (f, g)
        self._hessians: dict[bytes, np.ndarray] = {}  # u's bytes -> ∇²(−ℓ)
        self.guard = NoiseGuard()
        self.penalised = any(p.prior is not None and not p.fixed for p in space)

    def loglik(self, u: torch.Tensor) -> torch.Tensor:
        """ℓ(g(u)), plus the log prior densities of the free parameters when any has a
        prior (the penalised likelihood)."""
        return self._loglik(self.space.unpack(u))

    def _loglik(self, theta) -> torch.Tensor:
        ll = self.model.log_likelihood(self.obs, theta)
        if self.penalised:
            ll = ll + self.space.log_prior(theta)
        return ll

    def __call__(self, u_np: np.ndarray):
        key = np.asarray(u_np, dtype=np.float64).tobytes()
        new = key not in self._memo
        f, g = self._value(u_np, key)
        self.guard.asked(key, u_np, f, g, new, feasible=f < INFEASIBLE)
        return f, g.copy()

    def _value(self, u_np: np.ndarray, key: bytes | None = None):
        """(f, g) at u: evaluated the first time u is asked for, from memory after."""
        if key is None:
            key = np.asarray(u_np, dtype=np.float64).tobytes()
        if key not in self._memo:
            self._memo[key] = self._evaluate(u_np)
        return self._memo[key]

    def feasible(self, theta) -> bool:
        return feasible(self.space, theta)

    def _evaluate(self, u_np: np.ndarray):
        self.evaluations += 1
        rec = self.journal.lookup("f", u_np) if self.journal is not None else None
        if rec is not None:
            f, g = rec["f"], np.asarray(rec["g"], dtype=np.float64)
        else:
            f, g = self._compute(u_np)
            if self.journal is not None:
                self.journal.record("f", u_np, f=f, g=g)
        if f < INFEASIBLE:
            if f < self.best[0]:
                self.best = (f, np.array(u_np, dtype=np.float64))
            if self.bar is not None:
                self.bar.update(1)
                self.bar.set_postfix(loglik=f"{-f * self.n:.4f}")
            if self.lines is not None:
                self.lines.update(self.evaluations, -f * self.n, -self.best[0] * self.n)
        return f, g

    def _compute(self, u_np: np.ndarray):
        u = torch.tensor(u_np, dtype=DTYPE, requires_grad=True)
        theta = self.space.unpack(u)       # once: checked, then evaluated
        if not self.feasible(theta):
            return INFEASIBLE, np.zeros_like(u_np)
        try:
            ll = self._loglik(theta)
            # with every parameter fixed (or profiled) ℓ does not depend on u: zero gradient
            (g,) = (torch.autograd.grad(ll, u, allow_unused=True) if ll.requires_grad
                    else (None,))
            if g is None:
                g = torch.zeros_like(u)
        except NUMERICAL_FAILURES:
            return INFEASIBLE, np.zeros_like(u_np)
        f = -float(ll.detach()) / self.n
        if not np.isfinite(f) or not torch.isfinite(g).all():
            return INFEASIBLE, np.zeros_like(u_np)
        return f, (-g / self.n).numpy()

    @property
    def hessian_by_differences(self) -> bool:
        """The model asks for Hessians by differences of gradients (``model.hessian``)."""
        return self.model.hessian == "differences"

    def hessian(self, u_np: np.ndarray, central: bool = False) -> np.ndarray:
        """∇²(−ℓ) at u: by autograd (second derivatives through every operation), or, for
        models whose ``hessian`` is "differences" (large n: a graph of the gradient would
        not fit in memory; first-order backward passes), by differences of the autograd
        gradient, step :data:`HESSIAN_STEP` in u: forward (k gradients) for the
        optimiser's Newton steps, central (2k gradients, truncation error O(1e-6)
        relative) with ``central`` for the standard errors. The objective's own noise,
        which at high signal-to-noise reaches 1e-3 in ℓ for the SPDE models' posterior
        solves, enters divided by the step: forward differences at 1e-4 made indefinite
        Hessians of it. A point's Hessian is computed once (from memory after)."""
        central = central and self.hessian_by_differences
        key = np.asarray(u_np, dtype=np.float64).tobytes() + bytes([central])
        if key not in self._hessians:
            self._hessians[key] = self._hessian(u_np, central)
        return self._hessians[key].copy()

    def _hessian(self, u_np: np.ndarray, central: bool = False) -> np.ndarray:
        if self.hessian_by_differences:
            k, h = len(u_np), HESSIAN_STEP
            g0 = self._value(u_np)[1]
            H = np.zeros((k, k))
            for j in range(k):
                e = np.zeros(k)
                e[j] = h
                f_up, g_up = self._value(u_np + e)
                f_down, g_down = (self._value(u_np - e) if central or f_up >= INFEASIBLE
                                  else (INFEASIBLE, None))
                if f_up < INFEASIBLE and f_down < INFEASIBLE:  # central
                    H[:, j] = (g_up - g_down) / (2 * h)
                elif f_up < INFEASIBLE:
                    H[:, j] = (g_up - g0) / h
                elif f_down < INFEASIBLE:  # next to the box: the other side
                    H[:, j] = (g0 - g_down) / h
            H *= self.n
        else:
            rec = self.journal.lookup("H", u_np) if self.journal is not None else None
            if rec is not None:
                H = np.asarray(rec["H"], dtype=np.float64)
            else:
                u = torch.tensor(u_np, dtype=DTYPE)
                H = torch.autograd.functional.hessian(lambda v: -self.loglik(v), u)
                H = H.detach().numpy()
                if self.journal is not None:
                    self.journal.record("H", u_np, H=H)
        return 0.5 * (H + H.T)


# --- step 1: the coarse stage -------------------------------------------------------------------
@dataclass
class CoarseStart:
    """What the coarse stage hands the fine search.

    Parameters
    ----------
    start : dict of str to float
        The coarse optimum: the fine search's start.
    h_inv0 : numpy.ndarray or None
        The inverse Hessian of f = −ℓ/n there ``(k, k)``: the first metric of BFGS (None
        when it is not positive definite).
    note : str
        A note for the result's message.
    interrupted : FitResult or None
        After Ctrl-C during the coarse stage: its (interrupted) result, which ends the fit.
    result : FitResult or None
        The coarse stage's own result (the best point should Ctrl-C come before the fine
        search has evaluated anything).
    """

    start: dict[str, float]
    h_inv0: np.ndarray | None
    note: str
    #: after Ctrl-C during the coarse stage: its (interrupted) result, which ends the fit
    interrupted: FitResult | None = None
    #: the coarse stage's own result (the best point should Ctrl-C come before the fine
    #: search has evaluated anything)
    result: FitResult | None = None


def _inverse_hessian(model, obs, space: ParamSpace, params: Mapping[str, float],
                     journal=None):
    """(∇²f)⁻¹ ``(k, k)`` of f = −ℓ/n at ``params`` for ``model`` (the coarse one) in the free
    coordinates of ``space``, and the evaluations it took; None if not positive definite."""
    obj = _Objective(model, obs, space, None, journal)
    u = space.pack({**{p.name: p.value for p in space},
                    **{k: v for k, v in params.items() if k in space}}).numpy()
    if len(u) == 0:
        return None, 0
    try:
        H = obj.hessian(u) / obj.n
        w, V = np.linalg.eigh(H)
    except (*NUMERICAL_FAILURES, np.linalg.LinAlgError):
        return None, obj.evaluations
    if not (np.all(np.isfinite(w)) and w.min() > 1e-10 * max(w.max(), 0.0)):
        return None, obj.evaluations
    return (V / w) @ V.T, obj.evaluations


def coarse_start(model, obs, space: ParamSpace, fix: Mapping[str, float], start, restarts: int,
                 maxiter: int, progress, priors: Mapping | None = None,
                 journal=None, search: Mapping | None = None) -> CoarseStart | None:
    """Step 1: fit ``model.coarse()`` from every start; its optimum starts the fine search.

    Vecchia with a few neighbours, or a coarser mesh, ranks the starting points and finds the
    basin at a fraction of the cost (Guinness 2021; GpGp does the same). The coarse fit runs
    to :data:`COARSE_TOL` without standard errors. Ctrl-C here ends the whole fit with the
    coarse stage's best point (``interrupted``).

    Parameters
    ----------
    model : Model
        The model; its ``coarse()`` is the cheaper copy (None: no coarse stage).
    obs : Observations
        The data.
    space : ParamSpace
        The fine model's parameters (fixed values, search boxes and priors applied).
    fix, start, restarts, maxiter, progress, priors, search
        As :func:`fit`.
    journal : JournalStage, optional
        The checkpoint's journal (:mod:`fieldfit.fit.checkpoint`).

    Returns
    -------
    CoarseStart or None
        The start, metric and note for the fine search; None when the model has no coarse
        copy.
    """
    coarse = model.coarse()
    if coarse is None:
        return None
    t0 = time.perf_counter()
    first = fit(coarse, obs, fix=fix, start=start, restarts=restarts, maxiter=maxiter,
                progress=progress, stderr=False, tol=COARSE_TOL, priors=priors, search=search,
                _journal=journal.stage("coarse") if journal is not None else None)
    if first.interrupted:
        first.message = f"interrupted during the coarse stage ({coarse.coarse_label})"
        return CoarseStart({}, None, first.message, interrupted=first)
    try:
        h_inv0, h_evals = _inverse_hessian(
            coarse, obs, space, first.params,
            journal.stage("coarse-hessian") if journal is not None else None)
    except KeyboardInterrupt:
        first.interrupted, first.converged = True, False
        first.message = (f"interrupted after the coarse stage ({coarse.coarse_label}): its "
                         "optimum")
        return CoarseStart({}, None, first.message, interrupted=first)
    note = (f"started from the optimum with {coarse.coarse_label} "
            f"({first.evaluations + h_evals} evaluations, {time.perf_counter() - t0:.1f} s"
            + (", BFGS preconditioned by its Hessian)" if h_inv0 is not None else ")"))
    return CoarseStart({k: v for k, v in first.params.items() if k in space}, h_inv0, note,
                       result=first)


# --- step 2: the optimisation over starts --------------------------------------------------------
def _minimise(guard: NoiseGuard | None, fun, u0: np.ndarray,
              **options) -> scipy.optimize.OptimizeResult:
    """``scipy.optimize.minimize(fun, u0, **options)`` as one optimiser stage.

    The objective's noise guard is armed for the stage: when the stage's progress falls
    below the objective's noise floor (:class:`fieldfit.fit.noise.NoiseGuard`) it stops,
    and the result is the stage's best point, marked successful (the optimum as far as the
    objective can resolve it), with the floor and the reason in its message.

    Parameters
    ----------
    guard : NoiseGuard or None
        The guard of the objective (:attr:`_Objective.guard`) that watches the stage (None:
        a plain function, unguarded).
    fun : callable
        What the optimiser minimises: the objective, or a wrapper that calls it.
    u0 : numpy.ndarray
        The start ``(k,)``.
    **options
        scipy's ``minimize`` arguments (``jac``, ``method``, ``bounds``, ``options`` …).

    Returns
    -------
    scipy.optimize.OptimizeResult
        scipy's result; after a stop at the noise floor, one with ``x``, ``fun``, ``jac``,
        ``success`` True, ``status`` 0, ``message`` ("stopped: progress below the objective's
        noise floor …"), and ``nit`` = ``nfev`` = the distinct points the stage evaluated.
    """
    if guard is None:
        return scipy.optimize.minimize(fun, u0, **options)
    guard.start()
    try:
        return scipy.optimize.minimize(fun, u0, **options)
    except NoiseFloorReached as stop:
        return scipy.optimize.OptimizeResult(
            x=stop.u, fun=stop.f, jac=stop.g, success=True, status=0, message=stop.message,
            nit=stop.points, nfev=stop.points)
    finally:
        guard.stop()


class _BasinStop:
    """L-BFGS callback stopping a restart once it has joined the basin of an optimum found
    before: within ``radius`` of it (max-norm in the unconstrained parameters) and no better.
    A restart that finds better values runs on to full tolerance."""

    def __init__(self, found, radius: float = BASIN_RADIUS):
        self.found, self.radius = found, radius

    def __call__(self, intermediate_result):
        x, f = intermediate_result.x, intermediate_result.fun
        for f_opt, u_opt in self.found:
            if f >= f_opt and np.max(np.abs(x - u_opt)) < self.radius:
                raise StopIteration


def _preconditioned_bfgs(obj: _Objective, u0, h_inv0, lo, hi, maxiter: int):
    """BFGS from u0 with the inverse Hessian ``h_inv0`` (of the coarse model) as its first
    metric: near the coarse optimum the fine one is a few quasi-Newton steps away, where
    L-BFGS-B, starting from the identity, needs tens. None if it leaves the search box or
    fails (L-BFGS-B restarts from u0); L-BFGS-B also continues from where it stopped when it
    stopped short of its tolerance (a precision loss, as when the optimum is on the box's
    edge). The likelihood is never evaluated outside the box [lo, hi]."""
    h_inv0 = 0.5 * (h_inv0 + h_inv0.T)  # exactly symmetric, as scipy checks

    def boxed(u):
        # BFGS has no bounds: a trial point outside the search box is answered as infeasible
        # without evaluating the likelihood there (the line search then shortens the step), so
        # it never wanders where evaluations are slow or meaningless (a smoothness of 100)
        if np.any(u < lo) or np.any(u > hi):
            return INFEASIBLE, np.zeros_like(u)
        return obj(u)

    try:
        guard = obj.guard if isinstance(obj, _Objective) else None
        res = _minimise(guard, boxed, u0, jac=True, method="BFGS",
                        options={"hess_inv0": h_inv0, "gtol": 1e-6, "maxiter": maxiter})
    except np.linalg.LinAlgError:
        return None
    inside = np.all(res.x >= lo) and np.all(res.x <= hi)
    if not inside or not np.isfinite(res.fun) or res.fun >= INFEASIBLE or res.nit == 0:
        return None
    return res


@dataclass
class Run:
    """One start's optimum.

    Parameters
    ----------
    f : float
        f = −ℓ/n there.
    u : numpy.ndarray
        The unconstrained point ``(k,)``.
    res : scipy.optimize.OptimizeResult or None
        scipy's result (None: interrupted, or no free parameter).
    """

    f: float
    u: np.ndarray
    res: object = None


@dataclass
class Optimisation:
    """The runs of :func:`optimise` and whether Ctrl-C ended them.

    Parameters
    ----------
    runs : list of Run
        One per start, in order.
    interrupted : bool
        Ctrl-C ended the search (the last run is then the best point evaluated).
    """

    runs: list[Run] = field(default_factory=list)
    interrupted: bool = False

    @property
    def best(self) -> Run:
        """The run with the least f (the highest likelihood)."""
        return min(self.runs, key=lambda r: r.f)


def feasible(space: ParamSpace, theta) -> bool:
    """Whether natural values are finite and inside their domains.

    Far out in u, exp(u) overflows and sigmoid(u) rounds to an interval's end: such points
    are infeasible.

    Parameters
    ----------
    space : ParamSpace
        The parameters.
    theta : mapping of str to torch.Tensor
        Natural values (0-d tensors).

    Returns
    -------
    bool
        True when ``space.validate`` accepts them.
    """
    try:
        space.validate({k: float(v.detach()) for k, v in theta.items()})
    except ValueError:
        return False
    return True


def search_box(space: ParamSpace) -> tuple[np.ndarray, np.ndarray]:
    """The search boxes of the free parameters on the unconstrained scale u.

    Parameters
    ----------
    space : ParamSpace
        The parameters.

    Returns
    -------
    lo, hi : numpy.ndarray
        Lower and upper ends ``(k,)`` (±∞ where a parameter has none).
    """
    bounds = space.search_bounds()
    lo = np.array([-np.inf if b[0] is None else b[0] for b in bounds])
    hi = np.array([np.inf if b[1] is None else b[1] for b in bounds])
    return lo, hi


def _tolerances(stderr: bool, tol: float | None, n: int) -> dict:
    """L-BFGS-B's tolerances. With standard errors Newton steps finish the optimisation
    (quadratically), so L-BFGS may stop at a relative change of f of 1e-11 (f = −ℓ/n is O(1):
    ftol ≈ the change in ℓ itself at which to stop, divided by n)."""
    if tol is None:
        tol = 1e-5 if stderr else 1e-7
    n = max(n, 1)
    return ({"gtol": 1e-7, "ftol": max(1e-11, tol / n)} if stderr
            else {"gtol": 1e-9, "ftol": max(1e-14, tol / n)})


def optimise(obj: _Objective, space: ParamSpace, starts: list[dict], maxiter: int,
             tolerances: dict, h_inv0: np.ndarray | None = None) -> Optimisation:
    """Step 2: L-BFGS-B from each start in the search box.

    The first start runs BFGS preconditioned with ``h_inv0`` when given (L-BFGS-B confirms
    or takes over); a restart that joins the basin of an optimum already found stops there.
    Ctrl-C keeps the best point evaluated so far (with a warning).

    Parameters
    ----------
    obj : _Objective
        f(u) = −ℓ(g(u))/n with its gradient.
    space : ParamSpace
        The parameters.
    starts : list of dict
        Natural starting values (the fixed and unknown names are ignored).
    maxiter : int
        Most iterations per start.
    tolerances : dict
        L-BFGS-B's ``gtol`` and ``ftol``.
    h_inv0 : numpy.ndarray, optional
        The coarse stage's inverse Hessian ``(k, k)``.

    Returns
    -------
    Optimisation
        The runs, and whether Ctrl-C ended them.

    Raises
    ------
    KeyboardInterrupt
        Ctrl-C before any point was evaluated.
    """
    lo, hi = search_box(space)
    box = list(zip(lo, hi, strict=True))
    out = Optimisation()
    try:
        for values in starts:
            values = {k: v for k, v in values.items() if k in space and not space[k].fixed}
            u0 = space.pack({**{p.name: p.value for p in space}, **values}).numpy()
            if len(u0) == 0:
                out.runs.append(Run(obj(u0)[0], u0))
                break
            u0 = np.clip(u0, lo, hi)
            found = [(r.f, r.u) for r in out.runs if r.res is not None]
            if h_inv0 is not None and not out.runs:
                res = _preconditioned_bfgs(obj, u0, h_inv0, lo, hi, maxiter)
                if res is not None and res.success:
                    out.runs.append(Run(float(res.fun), res.x, res))
                    continue
                if res is not None:  # stopped short (precision loss): L-BFGS-B confirms
                    u0 = res.x
            res = _minimise(
                obj.guard, obj, u0, jac=True, method="L-BFGS-B", bounds=box,
                callback=_BasinStop(found) if found else None,
                options={"maxiter": maxiter, "maxcor": 20, **tolerances},
            )
            out.runs.append(Run(float(res.fun), res.x, res))
    except KeyboardInterrupt:
        if obj.best[1] is None:
            raise
        warnings.warn("fit interrupted: returning the best point so far", stacklevel=3)
        out.runs.append(Run(obj.best[0], obj.best[1]))
        out.interrupted = True
    return out


def on_edge(space: ParamSpace, u: np.ndarray) -> np.ndarray:
    """Which free parameters at u lie on the edge of their search box.

    Parameters
    ----------
    space : ParamSpace
        The parameters.
    u : numpy.ndarray
        The unconstrained point ``(k,)``.

    Returns
    -------
    numpy.ndarray
        ``(k,)`` bool: within :data:`EDGE_TOLERANCE` (relative) of an end.
    """
    lo, hi = search_box(space)
    edge = np.abs(u - lo) < EDGE_TOLERANCE * np.maximum(1.0, np.abs(lo))
    edge |= np.abs(u - hi) < EDGE_TOLERANCE * np.maximum(1.0, np.abs(hi))
    return edge


# --- step 3: the polish and the standard errors -------------------------------------------------
def _newton_polish(obj: _Objective, u: np.ndarray, free: np.ndarray,
                   steps: int = NEWTON_STEPS):
    """Damped Newton steps in the ``free`` coordinates from u while they improve.

    The Hessian is recomputed only after a move larger than :data:`HESSIAN_REFRESH` in u (a
    chord method otherwise: near the optimum the Hessian hardly changes, and it is the costly
    part). Returns u and the last Hessian it used (:func:`polish` computes the standard
    errors' Hessian at u itself).
    """
    f, g = obj(u)
    H = obj.hessian(u)
    if not free.any():
        return u, H
    # a Hessian by differences costs k gradients: refresh it at most once
    by_differences = obj.hessian_by_differences
    refreshes = 1 if by_differences else steps
    u_H = u.copy()
    for _ in range(steps):
        Hf = H[np.ix_(free, free)]
        try:
            np.linalg.cholesky(Hf)
        except np.linalg.LinAlgError:
            break
        step = np.zeros_like(u)
        step[free] = np.linalg.solve(Hf, g[free] * obj.n)
        # predicted gain in ℓ of the full step: ½ gᵀH⁻¹g (stop once negligible)
        if np.max(np.abs(step)) < 1e-10 or 0.5 * obj.n * float(g @ step) < NEWTON_GAIN:
            break
        t = 1.0
        while t > 1e-4:
            f_new, g_new = obj(u - t * step)
            if f_new <= f:
                break
            t /= 2
        if f_new > f:
            break
        u, f, g = u - t * step, f_new, g_new
        if np.max(np.abs(u - u_H)) > HESSIAN_REFRESH and refreshes > 0:
            H, u_H = obj.hessian(u), u.copy()
            refreshes -= 1
        if np.max(np.abs(g[free])) * obj.n < 1e-9:
            break
    return u, H


def standard_errors(space: ParamSpace, u: np.ndarray, H: np.ndarray,
                    interior: np.ndarray) -> dict[str, float]:
    """Delta-method standard errors of the free parameters inside their box.

    Cov(θ̂) ≈ J I⁻¹ Jᵀ with I the observed information over the interior parameters (those on
    the edge of their box are treated as fixed there) and J = diag(g'(û)).

    Parameters
    ----------
    space : ParamSpace
        The parameters.
    u : numpy.ndarray
        The estimate on the unconstrained scale ``(k,)``.
    H : numpy.ndarray
        The Hessian of −ℓ in u ``(k, k)``.
    interior : numpy.ndarray
        ``(k,)`` bool: the parameters inside their box.

    Returns
    -------
    dict of str to float
        ``{name: se}`` of the interior parameters; {} (with a warning) when the observed
        information is not positive definite.
    """
    if not interior.any():
        return {}
    try:
        cov_u = np.linalg.inv(H[np.ix_(interior, interior)])
        if np.any(np.diag(cov_u) <= 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        warnings.warn("observed information is not positive definite at the optimum: "
                      "no standard errors (a parameter at the edge of its domain?)",
                      stacklevel=4)
        return {}
    J = space.jacobian_diag(torch.tensor(u, dtype=DTYPE)).numpy()[interior]
    cov = J[:, None] * cov_u * J[None, :]
    names = [n for n, i in zip(space.free_names, interior, strict=True) if i]
    return dict(zip(names, np.sqrt(np.diag(cov)).tolist(), strict=True))


def polish(obj: _Objective, space: ParamSpace, u: np.ndarray, edge: np.ndarray, stderr: bool):
    """Step 3: Newton polish over the parameters inside their box, and their standard errors.

    The polish is an optimiser stage like the others: once its progress is below the
    objective's noise floor (:class:`fieldfit.fit.noise.NoiseGuard`) it stops at the best
    point it evaluated, and says so in ``note``.

    Parameters
    ----------
    obj : _Objective
        The objective.
    space : ParamSpace
        The parameters.
    u : numpy.ndarray
        The optimum found ``(k,)``.
    edge : numpy.ndarray
        ``(k,)`` bool: the parameters on the edge of their box (held there).
    stderr : bool
        Polish and compute standard errors (False: ``u`` is returned as it is).

    Returns
    -------
    u : numpy.ndarray
        The polished estimate.
    stderr : dict of str to float
        Standard errors (:func:`standard_errors`).
    H : numpy.ndarray or None
        The Hessian of −ℓ in u ``(k, k)`` (None without ``stderr``).
    note : str or None
        ``"Newton polish stopped: progress below the objective's noise floor …"`` when it
        stopped there; None otherwise.
    """
    if not (len(u) and stderr):
        return u, {}, None, None
    note = None
    obj.guard.start()
    try:
        u, H = _newton_polish(obj, u, ~edge)
    except NoiseFloorReached as stop:
        obj.guard.stop()
        u = stop.u
        note = f"Newton polish {stop.message}"
    finally:
        obj.guard.stop()
    H = obj.hessian(u, central=True)  # the standard errors' Hessian, at û
    return u, standard_errors(space, u, H, ~edge), H, note


# --- step 4: the result --------------------------------------------------------------------------
def _scale(p) -> str | list:
    """The scale on which a parameter's Wald interval is formed: "log" (positive), ["logit",
    a, b] (an interval (a, b)) or "identity" (see :meth:`FitResult.confidence_interval`)."""
    if isinstance(p.transform, Positive):
        return "log"
    if isinstance(p.transform, Interval):
        return ["logit", p.transform.lower, p.transform.upper]
    return "identity"


def make_result(model, obs, space: ParamSpace, obj: _Objective, opt: Optimisation,
                u: np.ndarray, se: Mapping[str, float], edge_names: list[str], fix: Mapping,
                notes: list[str], t_start: float) -> FitResult:
    """Step 4: the :class:`FitResult`.

    Natural values and standard errors, the profiled mean's GLS coefficients and their
    standard errors, convergence and the runs.

    Parameters
    ----------
    model : Model
        The model.
    obs : Observations
        The data.
    space : ParamSpace
        The parameters.
    obj : _Objective
        The objective (its evaluations and n).
    opt : Optimisation
        The runs.
    u : numpy.ndarray
        The estimate on the unconstrained scale ``(k,)``.
    se : mapping of str to float
        Standard errors of the free parameters (:func:`polish`).
    edge_names : list of str
        The parameters on the edge of their box.
    fix : mapping
        The values held fixed.
    notes : list of str
        Notes for the result's message.
    t_start : float
        ``time.perf_counter()`` when the fit started.

    Returns
    -------
    FitResult
        The result (without the Hessian, which :func:`fit` attaches).
    """
    u_t = torch.tensor(u, dtype=DTYPE)
    if opt.interrupted and np.array_equal(u, opt.best.u):
        loglik = -opt.best.f * obj.n     # the value found: no evaluation after Ctrl-C
    else:
        with torch.no_grad():
            loglik = float(obj.loglik(u_t))
    natural = {k: float(v) for k, v in space.unpack(u_t).items()}
    stderr: dict[str, float | None] = {k: None for k in natural}
    stderr.update(se)
    scales = {p.name: _scale(p) for p in space if not p.fixed}
    n_mean = 0
    if model.profile_mean:
        beta, beta_se = model.estimate_mean(obs, natural)
        natural.update(beta)
        stderr.update(beta_se)
        scales.update({b: "identity" for b in beta})
        n_mean = len(beta)
    res = None if opt.interrupted else opt.best.res
    return FitResult(
        model=model.name,
        engine=model.engine_name,
        params=natural,
        stderr=stderr,
        loglik=loglik,
        n=obj.n,
        seconds=time.perf_counter() - t_start,
        fixed=sorted(fix) + [p.name for p in space if p.fixed and p.name not in fix],
        converged=bool(res.success) if res is not None else False,
        message="; ".join([str(res.message) if res is not None else "interrupted", *notes]),
        iterations=int(res.nit) if res is not None else 0,
        evaluations=obj.evaluations,
        restarts=[-r.f * obj.n for r in opt.runs],
        n_free=len(space.free_names) + n_mean,
        on_edge=list(edge_names),
        interrupted=opt.interrupted,
        scales=scales,
        units=_units(model, obs, natural),
    )


def _units(model, obs, params) -> dict[str, str]:
    """Kilometres for the ranges of a model on lon/lat coordinates (chordal distances), and
    the data's time unit (days for dates) for the time ranges."""
    units = {}
    if model.crs == "lonlat":
        units.update({k: "km" for k in params if "range" in k and not k.startswith("time_")})
    if obs.time_unit is not None:
        units.update({k: obs.time_unit for k in params if k.startswith("time_")
                      and "range" in k})
    return units


def _with_fixed_mean(model, obs, fix: Mapping[str, float]):
    """``model`` itself, or a copy that optimises the mean coefficients (instead of profiling
    them) when ``fix`` names one of them."""
    if model.profile_mean and set(fix) & set(model.mean_names(obs)):
        model = copy.copy(model)
        model.profile_mean = False
    return model


def check_identifiable(model, obs, space: ParamSpace) -> None:
    """Refuse data that cannot carry the fit, before any work.

    Parameters
    ----------
    model : Model
        The model.
    obs : Observations
        The data.
    space : ParamSpace
        The parameters (fixed values applied).

    Raises
    ------
    ValueError
        Constant values (every variance would be estimated as 0), no more observed values
        than free parameters (and mean coefficients), or all observations at one location
        while a range is estimated.
    """
    y = obs.values_2d[:, obs.observed] if obs.values is not None else np.empty((1, 0))
    y = y[~np.isnan(y)]
    n = y.size
    k = len(space.free_names) + (len(model.mean_names(obs)) if model.profile_mean else 0)
    if n <= k:
        names = space.free_names + (model.mean_names(obs) if model.profile_mean else [])
        raise ValueError(f"{n} observed value(s) cannot carry {k} parameters "
                         f"({', '.join(names)}): give more data, or fix parameters (--fix)")
    if n and np.ptp(y) == 0:
        raise ValueError(f"the observed values are all equal ({y[0]:g}): a covariance "
                         "cannot be estimated from constant data")
    if obs.n_locations == 1 and n > 1 and any("range" in k for k in space.free_names):
        raise ValueError(f"all {n} observations are at one location: the spatial range "
                         "cannot be estimated (give observations at several locations, or "
                         "fix the range with --fix)")


def fit(
    model,
    obs,
    fix: Mapping[str, float] | None = None,
    start: Mapping[str, float] | None = None,
    restarts: int = 2,
    maxiter: int = 1000,
    progress: bool | None = None,
    stderr: bool = True,
    tol: float | None = None,
    priors: Mapping | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    coarse: bool = True,
    search: Mapping[str, tuple[float, float]] | None = None,
    _journal=None,
) -> FitResult:
    """Maximum likelihood estimates of a model's parameters, with standard errors.

    Runs the module's four steps: the coarse stage, L-BFGS from several starts, the Newton
    polish with the observed information's standard errors, and the result. With ``priors``
    the penalised likelihood ℓ(θ) + Σ log p(θ_i) is maximised instead (the posterior mode).

    Parameters
    ----------
    model : Model
        Any model of the contract (:class:`fieldfit.contract.Model`), e.g. from
        :func:`fieldfit.models.build`.
    obs : Observations
        The data; its observed rows are fitted.
    fix : mapping of str to float, optional
        Natural values of parameters to hold fixed, e.g. ``{"smoothness": 1.5}``; a mean
        coefficient (``{"beta_x": 0.5}``) is then optimised with the others rather than
        profiled out.
    start : mapping of str to float, optional
        Starting values overriding the data-driven ones.
    restarts : int, optional
        Further starts besides the data-driven one (the best optimum is kept).
    maxiter : int, optional
        Most optimiser iterations per start.
    progress : bool, optional
        A progress bar (None: on a terminal only, or as ``settings(progress=...)``; where
        stderr is not a terminal, a line a minute instead, :mod:`fieldfit.fit.progress`).
    stderr : bool, optional
        Compute standard errors from the Hessian (default True).
    tol : float, optional
        L-BFGS stops once an iteration improves ℓ by less than about this (default 1e-5
        with standard errors, whose Newton steps finish the optimisation; 1e-7 without).
    priors : mapping, optional
        ``{name: fieldfit.priors.Distribution}``: maximise ℓ(θ) + Σ log p(θ_i) instead (a
        penalised likelihood; ``loglik`` then reports the penalised value, and the standard
        errors come from its curvature).
    checkpoint : str or os.PathLike, optional
        A file journaling every evaluation as it is made (:mod:`fieldfit.fit.checkpoint`);
        removed when the fit finishes, kept when it is interrupted or killed.
    resume : bool, optional
        With ``checkpoint``: replay the evaluations journaled there (a fit killed before) and
        go on from where it stopped, to the same estimates as an uninterrupted fit.
    coarse : bool, optional
        Run the model's coarse stage first (when it has one); False for a warm start that a
        coarse optimum would move away from.
    search : mapping of str to (float, float), optional
        Natural-scale search boxes ``{name: (lo, hi)}`` replacing the model's (Matérn ν's
        (0.05, 30), say): the optimisers stay inside, and an estimate on an edge is reported
        as such, with no standard error (:class:`SearchEdgeWarning`).

    Returns
    -------
    FitResult
        The estimates, standard errors, log-likelihood and how they were reached; its
        :meth:`~FitResult.summary` prints them with the practical range beside the range.
        Ctrl-C stops the fit: the result is then the best point evaluated so far, with
        ``interrupted`` True, ``converged`` False and no standard errors; an interruption
        of the coarse stage returns that stage's best point (nothing further is run).

    Raises
    ------
    ValueError
        A negative ``restarts``, ``resume`` without ``checkpoint``, a checkpoint of another
        fit, an unknown or fixed name in ``fix``, ``search`` or ``priors``, data the model
        refuses (``model.check_data``), data that cannot carry the fit
        (:func:`check_identifiable`), or a likelihood that cannot be evaluated at any start.
    TypeError
        ``model`` does not offer the model contract.
    KeyboardInterrupt
        Ctrl-C before any likelihood was evaluated.

    See Also
    --------
    fieldfit.sample : Posterior draws instead of the maximum.
    fieldfit.krige : Predictions with the estimates.

    Examples
    --------
    An exponential covariance (a Matérn with ν = 1/2) for the Meuse log zinc data:

    >>> import numpy as np
    >>> import fieldfit
    >>> from fieldfit.models import build
    >>> df = fieldfit.datasets.load("meuse")
    >>> df["log_zinc"] = np.log(df["zinc"])
    >>> obs = fieldfit.Observations.from_dataframe(df, coords=["x", "y"], value="log_zinc")
    >>> result = fieldfit.fit(build("matern", smoothness=0.5), obs, progress=False)
    >>> result.converged, round(result.loglik, 1)
    (True, -99.1)
    >>> list(result.params)
    ['variance', 'range', 'smoothness', 'nugget', 'mean']
    >>> [d.name for d in result.practical_ranges()]
    ['practical_range']
    """
    t_start = time.perf_counter()
    fix = dict(fix or {})
    if int(restarts) != restarts or restarts < 0:
        raise ValueError(f"restarts must be a non-negative integer, got {restarts}")
    if resume and checkpoint is None and _journal is None:
        raise ValueError("resume=True needs a checkpoint file")
    check_model(model)
    model.check_data(obs)
    model = _with_fixed_mean(model, obs, fix)
    space = model.param_space(obs).fix(**fix)
    if search:
        space = space.with_search(**search)
    if priors:
        space = space.with_priors(**priors)
    check_identifiable(model, obs, space)
    journal = _journal
    if checkpoint is not None:
        key = fit_key(model, obs, fix=fix, start=dict(start or {}), restarts=restarts,
                      maxiter=maxiter, stderr=stderr, tol=tol,
                      priors={k: repr(v) for k, v in (priors or {}).items()},
                      **({} if coarse else {"coarse": False}),
                      **({"search": dict(search)} if search else {}))
        owner = Journal(checkpoint, key, resume=resume)
        journal = owner.stage("fine")
    state = _Progress()
    try:
        try:
            result = _fit(model, obs, space, fix, start, restarts, maxiter, progress, stderr,
                          tol, priors, journal, t_start, state, coarse, search)
        except KeyboardInterrupt:  # between the steps' own handlers: the best point so far
            result = state.interrupted_result(obs, fix, t_start)
    except BaseException:
        if checkpoint is not None:
            owner.close()
        raise
    if checkpoint is not None:
        if owner.replayed:
            result.message += (f"; resumed from {checkpoint} ({owner.replayed} evaluations "
                               "replayed)")
        if result.interrupted:
            owner.close()
        else:
            owner.remove()
    return result


class _Progress:
    """Where a fit is, for Ctrl-C at any moment: the fine search's objective (its best point)
    once it exists, and the coarse stage's result before."""

    def __init__(self):
        self.obj: _Objective | None = None
        self.coarse: FitResult | None = None

    def interrupted_result(self, obs, fix, t_start) -> FitResult:
        """The best point so far as an interrupted result; KeyboardInterrupt again when
        nothing was evaluated."""
        obj = self.obj
        if obj is not None and obj.best[1] is not None:
            warnings.warn("fit interrupted: returning the best point so far", stacklevel=4)
            f, u = obj.best
            opt = Optimisation([Run(f, u)], interrupted=True)
            return make_result(obj.model, obs, obj.space, obj, opt, u, {}, [], fix,
                               [], t_start)
        if self.coarse is not None:
            out = self.coarse
            out.interrupted, out.converged = True, False
            out.message = "interrupted after the coarse stage: its optimum"
            warnings.warn(f"fit {out.message}", stacklevel=4)
            return out
        raise KeyboardInterrupt


def _fit(model, obs, space, fix, start, restarts, maxiter, progress, stderr, tol, priors,
         journal, t_start, state: _Progress, use_coarse: bool = True,
         search: Mapping | None = None) -> FitResult:
    notes: list[str] = []
    if obs.n_duplicated:
        notes.append(f"{obs.n_duplicated} observed rows repeat a location (and time): taken as "
                     "repeated measurements")
    coarse = (coarse_start(model, obs, space, fix, start, restarts, maxiter, progress, priors,
                           journal, search) if use_coarse else None)
    if coarse is not None and coarse.interrupted is not None:
        warnings.warn(f"fit {coarse.note}: returning its best point so far", stacklevel=3)
        return coarse.interrupted
    if coarse is not None:
        state.coarse = coarse.result
        start, restarts = coarse.start, 0
        notes.append(coarse.note)
    starts = [{**model.initial_values(obs), **dict(start or {})}]
    starts += model.restart_values(obs, restarts)
    progress = progress_choice(progress)
    bar = tqdm(desc=f"fit {model.name}", unit=" eval", disable=(None if progress is None
               else not progress), leave=False)
    # no bar because stderr is not a terminal (a log): a line a minute instead
    lines = ProgressLines(f"fit {model.name}") if progress is None and bar.disable else None
    obj = _Objective(model, obs, space, bar, journal, lines)
    state.obj = obj
    try:
        opt = optimise(obj, space, starts, maxiter, _tolerances(stderr, tol, obj.n),
                       coarse.h_inv0 if coarse is not None else None)
    except KeyboardInterrupt:
        if coarse is None:   # nothing evaluated at all: nothing to return
            raise
        out = coarse.result  # Ctrl-C before the fine search's first evaluation
        out.interrupted, out.converged = True, False
        out.message = f"interrupted before the fine search: {coarse.note}"
        warnings.warn(f"fit {out.message}; returning the coarse optimum", stacklevel=3)
        return out
    finally:
        bar.close()
    best = opt.best
    if best.f >= INFEASIBLE:
        raise ValueError("the likelihood could not be evaluated at any starting point "
                         "(every start gave a failed factorisation or a non-finite value)")
    edge = on_edge(space, best.u)
    edge_names = [n for n, e in zip(space.free_names, edge, strict=True) if e]
    if edge_names:
        values = space.unpack(torch.tensor(best.u, dtype=DTYPE))
        warnings.warn(SearchEdgeWarning(
            "estimate on the edge of its search box: "
            + ", ".join(f"{n}={float(values[n]):.4g}" for n in edge_names)
            + " (the likelihood keeps rising beyond it; fix the parameter or widen the box); "
            "no standard error for it", edge_names), stacklevel=3)
    # after Ctrl-C the user wants the point now: no Newton polish, no Hessian
    u, se, H = best.u, {}, None
    if not opt.interrupted:
        try:
            u, se, H, polish_note = polish(obj, space, best.u, edge, stderr)
            if polish_note is not None:
                notes.append(polish_note)
        except KeyboardInterrupt:
            warnings.warn("fit interrupted during the Newton polish: returning the optimum "
                          "without standard errors", stacklevel=3)
            opt.interrupted, u, se = True, obj.best[1], {}
            opt.runs.append(Run(obj.best[0], obj.best[1]))
    result = make_result(model, obs, space, obj, opt, u, se, edge_names, fix, notes, t_start)
    result.hessian = H
    return result
