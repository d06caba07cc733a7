"""Maximum likelihood: L-BFGS on the unconstrained parameters, Newton polish, standard errors.

    θ̂ = argmax_θ ℓ(θ),  u = g⁻¹(θ) unconstrained (log for positive parameters)

1. L-BFGS-B (scipy) on f(u) = −ℓ(g(u))/n with the autograd gradient, from a data-driven start
   and ``restarts`` further starts; a restart that joins the basin of an optimum already found
   (within 0.1 of it in u, and no better) is stopped there; the best optimum is kept.
2. Newton steps with the autograd Hessian polish the optimum (quadratic convergence).
3. Observed information I_u = −∇²ℓ(û); Cov(θ̂) ≈ J I_u⁻¹ Jᵀ with J = diag(g'(û)) (delta method).
   Profiled mean coefficients get their GLS standard errors.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Mapping

import numpy as np
import scipy.optimize
import torch
from tqdm.auto import tqdm

from ..likelihood.exact import ProblemTooLarge
from ..params import DTYPE, ParamSpace
from ..settings import current
from .results import FitResult


class _Objective:
    """f(u) = −ℓ(g(u)) / n with its gradient; failures (non-PD matrices) return +big."""

    def __init__(self, model, obs, space: ParamSpace, bar):
        self.model, self.obs, self.space, self.bar = model, obs, space, bar
        self.n = int(obs.observed.sum()) * obs.n_replicates
        self.evaluations = 0
        self.best = (np.inf, None)
        self._last: tuple | None = None  # (key, (f, g)) of the last evaluation

    def loglik(self, u: torch.Tensor) -> torch.Tensor:
        return self.model.log_likelihood(self.obs, self.space.unpack(u))

    def __call__(self, u_np: np.ndarray):
        key = np.asarray(u_np, dtype=np.float64).tobytes()
        if self._last is None or self._last[0] != key:  # L-BFGS often asks again for the last
            self._last = (key, self._evaluate(u_np))
        f, g = self._last[1]
        return f, g.copy()

    def _evaluate(self, u_np: np.ndarray):
        self.evaluations += 1
        u = torch.tensor(u_np, dtype=DTYPE, requires_grad=True)
        try:
            ll = self.loglik(u)
            (g,) = torch.autograd.grad(ll, u)
        except ProblemTooLarge:
            raise
        except (ValueError, RuntimeError, torch.linalg.LinAlgError):
            return 1e20, np.zeros_like(u_np)
        f = -float(ll.detach()) / self.n
        if not np.isfinite(f) or not torch.isfinite(g).all():
            return 1e20, np.zeros_like(u_np)
        if f < self.best[0]:
            self.best = (f, u_np.copy())
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loglik=f"{-f * self.n:.4f}")
        return f, (-g / self.n).numpy()

    @property
    def hessian_by_differences(self) -> bool:
        """The engine asks for Hessians by differences of gradients (``engine.hessian``)."""
        return getattr(getattr(self.model, "engine", None), "hessian", "") == "differences"

    def hessian(self, u_np: np.ndarray) -> np.ndarray:
        """∇²(−ℓ) at u: by autograd (second derivatives through every operation), or, for
        engines whose ``hessian`` is "differences" (large n: a graph of the gradient would
        not fit in memory), by forward differences of the autograd gradient (k gradients
        beyond the one at u, step 1e-4 in u: error O(1e-4) relative, well below the
        sampling error of the standard errors it gives)."""
        if self.hessian_by_differences:
            k, h = len(u_np), 1e-4
            g0 = self(u_np)[1]
            H = np.zeros((k, k))
            for j in range(k):
                e = np.zeros(k)
                e[j] = h
                H[:, j] = (self._evaluate(u_np + e)[1] - g0) / h
            H *= self.n
        else:
            u = torch.tensor(u_np, dtype=DTYPE)
            H = torch.autograd.functional.hessian(lambda v: -self.loglik(v), u)
            H = H.detach().numpy()
        return 0.5 * (H + H.T)


def _newton_polish(obj: _Objective, u: np.ndarray, free: np.ndarray, steps: int = 8):
    """Damped Newton steps in the ``free`` coordinates from u while they improve.

    The Hessian is recomputed only after a move larger than 1e-3 in u (a chord method
    otherwise: near the optimum the Hessian hardly changes, and it is the costly part).
    Returns u and the Hessian at u, or, when it is made of k gradients (differences), at
    most 1e-3 away in u (a relative change of about 1e-3 in the standard errors).
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
        if np.max(np.abs(step)) < 1e-10 or 0.5 * obj.n * float(g @ step) < 1e-10:
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
        if np.max(np.abs(u - u_H)) > 1e-3 and refreshes > 0:
            H, u_H = obj.hessian(u), u.copy()
            refreshes -= 1
        if np.max(np.abs(g[free])) * obj.n < 1e-9:
            break
    stale = 1e-3 if by_differences else 1e-8
    if np.max(np.abs(u - u_H)) > stale and refreshes > 0:  # the standard errors' Hessian at û
        H = obj.hessian(u)
    return u, H


def _inverse_hessian(model, obs, space: ParamSpace, params: Mapping[str, float]):
    """(∇²f)⁻¹ ``(k, k)`` of f = −ℓ/n at ``params`` for ``model`` (the coarse one) in the free
    coordinates of ``space``, and the evaluations it took; None if not positive definite."""
    obj = _Objective(model, obs, space, None)
    u = space.pack({**{p.name: p.value for p in space},
                    **{k: v for k, v in params.items() if k in space}}).numpy()
    if len(u) == 0:
        return None, 0
    try:
        H = obj.hessian(u) / obj.n
        w, V = np.linalg.eigh(H)
    except (ValueError, RuntimeError, np.linalg.LinAlgError):
        return None, obj.evaluations
    if not (np.all(np.isfinite(w)) and w.min() > 1e-10 * max(w.max(), 0.0)):
        return None, obj.evaluations
    return (V / w) @ V.T, obj.evaluations


def _preconditioned_bfgs(obj: _Objective, u0, h_inv0, lo, hi, maxiter: int):
    """BFGS from u0 with the inverse Hessian ``h_inv0`` (of the coarse model) as its first
    metric: near the coarse optimum the fine one is a few quasi-Newton steps away, where
    L-BFGS-B, starting from the identity, needs tens. None if it leaves the search box or
    fails (L-BFGS-B restarts from u0); L-BFGS-B also continues from where it stopped when it
    stopped short of its tolerance (a precision loss)."""
    h_inv0 = 0.5 * (h_inv0 + h_inv0.T)  # exactly symmetric, as scipy checks
    try:
        res = scipy.optimize.minimize(obj, u0, jac=True, method="BFGS",
                                      options={"hess_inv0": h_inv0, "gtol": 1e-6,
                                               "maxiter": maxiter})
    except (ValueError, np.linalg.LinAlgError):
        return None
    inside = np.all(res.x >= lo) and np.all(res.x <= hi)
    if not inside or not np.isfinite(res.fun) or res.fun >= 1e20 or res.nit == 0:
        return None
    return res


def _coarse_model(model):
    """A copy of ``model`` on a cheaper approximation, or None: the model's own
    (``model.coarse()``: the SPDE models on a coarser mesh) or the engine's
    (``engine.coarse()``).

    Vecchia with a few neighbours ranks the starting points and finds the basin at a fraction
    of the cost; the fit on the asked m then starts there (Guinness 2021; GpGp does the same)."""
    own = getattr(model, "coarse", None)
    if callable(own):
        return own()
    make = getattr(getattr(model, "engine", None), "coarse", None)
    engine = make() if callable(make) else None
    if engine is None:
        return None
    other = copy.copy(model)
    other.engine = engine
    return other


def edge_note(name: str) -> str:
    """What ``FitResult.message`` says of a parameter estimated on the edge of its box."""
    return f"{name} on the edge of its search box"


class _BasinStop:
    """L-BFGS callback stopping a restart once it has joined the basin of an optimum found
    before: within ``radius`` of it (max-norm in the unconstrained parameters) and no better.
    A restart that finds better values runs on to full tolerance."""

    def __init__(self, found, radius: float = 0.1):
        self.found, self.radius = found, radius

    def __call__(self, intermediate_result):
        x, f = intermediate_result.x, intermediate_result.fun
        for f_opt, u_opt in self.found:
            if f >= f_opt and np.max(np.abs(x - u_opt)) < self.radius:
                raise StopIteration


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
) -> FitResult:
    """Maximum likelihood estimates of ``model``'s parameters on ``obs``.

    Parameters
    ----------
    fix : natural values of parameters to hold fixed, e.g. ``{"smoothness": 1.5}``
    start : starting values overriding the data-driven ones
    restarts : further starts besides the data-driven one (best optimum kept)
    progress : progress bar (None: on a terminal only, or as ``settings(progress=...)``)
    stderr : compute standard errors from the autograd Hessian
    tol : L-BFGS stops once an iteration improves ℓ by less than about this (default 1e-5
        with standard errors, whose Newton steps finish the optimisation; 1e-7 without)
    """
    t_start = time.perf_counter()
    space = model.param_space(obs)
    fix = dict(fix or {})
    space = space.fix(**fix)
    coarse = _coarse_model(model)
    coarse_note = ""
    h_inv0 = None  # the coarse optimum's inverse Hessian, to precondition the fine search
    if coarse is not None:  # search on a cheap approximation, finish on the asked one
        first = fit(coarse, obs, fix=fix, start=start, restarts=restarts, maxiter=maxiter,
                    progress=progress, stderr=False, tol=1e-3)
        start = {k: v for k, v in first.params.items() if k in space}
        restarts = 0
        h_inv0, h_evals = _inverse_hessian(coarse, obs, space, first.params)
        label = (repr(coarse.engine) if coarse.engine is not model.engine
                 else f"a {getattr(coarse, 'coarsening', 2):g}× coarser mesh")
        coarse_note = (f"; started from the optimum with {label} "
                       f"({first.evaluations + h_evals} evaluations, "
                       f"{time.perf_counter() - t_start:.1f} s"
                       + (", BFGS preconditioned by its Hessian)" if h_inv0 is not None
                          else ")"))
    starts = [{**model.initial_values(obs), **dict(start or {})}]
    starts += model.restart_values(obs, restarts)
    if progress is None:
        progress = current().progress
    bar = tqdm(desc=f"fit {model.name}", unit=" eval", disable=(None if progress is None
               else not progress), leave=False)
    obj = _Objective(model, obs, space, bar)
    bounds = space.search_bounds()
    lo = np.array([-np.inf if b[0] is None else b[0] for b in bounds])
    hi = np.array([np.inf if b[1] is None else b[1] for b in bounds])
    box = list(zip(lo, hi, strict=True))
    # with standard errors, Newton steps on the autograd Hessian finish the optimisation
    # (quadratically), so L-BFGS may stop at a relative change of f of 1e-11
    # (f = −ℓ/n is O(1): ftol ≈ the change in ℓ itself at which to stop, divided by n)
    if tol is None:
        tol = 1e-5 if stderr else 1e-7
    n_obs = max(obj.n, 1)
    tol = ({"gtol": 1e-7, "ftol": max(1e-11, tol / n_obs)} if stderr
           else {"gtol": 1e-9, "ftol": max(1e-14, tol / n_obs)})
    runs = []
    try:
        for values in starts:
            values = {k: v for k, v in values.items() if k in space and not space[k].fixed}
            u0 = space.pack({**{p.name: p.value for p in space}, **values}).numpy()
            if len(u0) == 0:
                runs.append((obj(u0)[0], u0, None))
                break
            u0 = np.clip(u0, lo, hi)
            found = [(f, u) for f, u, r in runs if r is not None]
            if h_inv0 is not None and not runs:
                res = _preconditioned_bfgs(obj, u0, h_inv0, lo, hi, maxiter)
                if res is not None and res.success:
                    runs.append((float(res.fun), res.x, res))
                    continue
                if res is not None:  # stopped short (precision loss): L-BFGS-B confirms
                    u0 = res.x
            res = scipy.optimize.minimize(
                obj, u0, jac=True, method="L-BFGS-B", bounds=box,
                callback=_BasinStop(found) if found else None,
                options={"maxiter": maxiter, "maxcor": 20, **tol},
            )
            runs.append((float(res.fun), res.x, res))
    except KeyboardInterrupt:
        if obj.best[1] is None:
            raise
        warnings.warn("fit interrupted: returning the best point so far", stacklevel=2)
        runs.append((obj.best[0], obj.best[1], None))
    finally:
        bar.close()
    f_best, u_best, res = min(runs, key=lambda r: r[0])
    if f_best >= 1e20:
        raise ValueError("the likelihood could not be evaluated at any starting point")
    free = space.free_names
    on_edge = np.abs(u_best - lo) < 1e-6 * np.maximum(1.0, np.abs(lo))
    on_edge |= np.abs(u_best - hi) < 1e-6 * np.maximum(1.0, np.abs(hi))
    edge_names = [n for n, e in zip(free, on_edge, strict=True) if e]
    if edge_names:
        warnings.warn(
            "estimate on the edge of its search box: "
            + ", ".join(f"{n}={float(space.unpack(torch.tensor(u_best))[n]):.4g}"
                        for n in edge_names)
            + " (the likelihood keeps rising beyond it; fix the parameter or widen the box); "
            "no standard error for it", stacklevel=2)
    H = None
    interior = ~on_edge
    if len(u_best) and stderr:
        u_best, H = _newton_polish(obj, u_best, interior)
    u_t = torch.tensor(u_best, dtype=DTYPE)
    with torch.no_grad():
        loglik = float(obj.loglik(u_t))
    natural = {k: float(v) for k, v in space.unpack(u_t).items()}
    se: dict[str, float | None] = {k: None for k in natural}
    if H is not None and interior.any():
        try:
            # parameters on the edge of their box are treated as fixed there
            cov_u = np.linalg.inv(H[np.ix_(interior, interior)])
            if np.any(np.diag(cov_u) <= 0):
                raise np.linalg.LinAlgError
            J = space.jacobian_diag(u_t).numpy()[interior]
            cov = J[:, None] * cov_u * J[None, :]
            names = [n for n, i in zip(free, interior, strict=True) if i]
            se.update(zip(names, np.sqrt(np.diag(cov)).tolist(), strict=True))
        except np.linalg.LinAlgError:
            warnings.warn("observed information is not positive definite at the optimum: "
                          "no standard errors (a parameter at the edge of its domain?)",
                          stacklevel=2)
    if getattr(model, "profile_mean", False):
        beta, beta_se = model.estimate_mean(obs, natural)
        natural.update(beta)
        se.update(beta_se)
    return FitResult(
        model=model.name,
        engine=model.engine.name,
        params=natural,
        stderr=se,
        loglik=loglik,
        n=int(obs.observed.sum()) * obs.n_replicates,
        seconds=time.perf_counter() - t_start,
        fixed=sorted(fix) + [p.name for p in space if p.fixed and p.name not in fix],
        converged=bool(res.success) if res is not None else False,
        message=(str(res.message) if res is not None else "interrupted")
        + "".join(f"; {edge_note(n)}" for n in edge_names) + coarse_note,
        iterations=int(res.nit) if res is not None else 0,
        evaluations=obj.evaluations,
        restarts=[-r[0] * obj.n for r in runs],
        n_free=len(space.free_names) + (len(model.mean_names(obs))
                                        if getattr(model, "profile_mean", False) else 0),
    )
