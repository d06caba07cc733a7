"""The time step of a time-stepped model chosen from the data: the substeps doubled until
the estimates no longer move with them.

    s = 1, 2, 4, …:  θ̂_s = argmax ℓ_s,   stop at the first s with
    max_i |Δ_i(s)| / se_i ≤ tolerance   (or when 2s would exceed ``max_substeps``)

where Δ(s) is the shift of the estimates under twice the substeps, estimated by one Newton
step on the refined likelihood (``model.discretisation_check(refine=("time",))``, the fit's
own Hessian reused) and se the fit's standard errors. Each refit starts from the previous
estimate, without restarts or coarse stage, so a doubling costs one fit near its optimum.

Why half a standard error by default: for a second-order scheme (Crank–Nicolson, the
advection–diffusion model's default) the time error at s substeps is about 4/3 of Δ(s), so
the estimates stopped at are within about ⅔ of a standard error of the time-converged ones,
well inside their own sampling error. On the 146 × 60 continuum data set of docs/benchmarks.md
one doubling (1 → 2 substeps) moved ĉ by 3.3 standard errors; on long series (100 × 240) the
one-substep bias of c is several standard errors, which is what this search removes.

No library chooses a latent time step for an SPDE likelihood from the data (R-INLA and
gstlearn take the step as given), hence this module.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping

from .checkpoint import Journal, fit_key
from .mle import fit
from .results import FitResult

#: the largest time shift, in standard errors, that stops the doubling
AUTO_SHIFT_SE = 0.5
#: the doubling stops at this many substeps
AUTO_MAX_SUBSTEPS = 8


def with_substeps(model, substeps: int):
    """A copy of ``model`` with ``substeps`` model steps per observation step (the same
    mesh, the caches emptied)."""
    return model.with_discretisation(substeps=int(substeps))


def _worst(check: dict) -> tuple[str | None, float]:
    shifts = check["refined"]["time"]["shift_se"]
    finite = {k: abs(v) for k, v in shifts.items() if math.isfinite(v)}
    if not finite:
        return None, math.inf
    name = max(finite, key=finite.get)
    return name, finite[name]


def fit_auto_substeps(model, obs, *, fix: Mapping[str, float] | None = None,
                      tolerance_se: float = AUTO_SHIFT_SE,
                      max_substeps: int = AUTO_MAX_SUBSTEPS, progress: bool | None = None,
                      restarts: int = 2, checkpoint: str | os.PathLike | None = None,
                      resume: bool = False, on_step: Callable[[dict], None] | None = None,
                      **fit_kwargs) -> tuple[object, FitResult, dict]:
    """Fit ``model`` (a model with ``substeps`` and ``discretisation_check``, such as
    :class:`~fieldfit.models.AdvectionDiffusionField`) with its substeps doubled from its own
    value until the time shift is at most ``tolerance_se`` standard errors (module
    docstring).

    Returns ``(model, result, search)``: the model at the substeps chosen, its fit, and
    ``{"tolerance_se", "max_substeps", "chosen", "steps": [{"substeps", "max_shift_se",
    "worst", "loglik", "seconds", "estimates"}, …]}``, one step per fit (the last step's
    shift is that of the model chosen; ``inf``, with ``worst`` None, where no estimate has a
    finite standard error: the search then stops there). ``fit_kwargs`` go to every
    :func:`~fieldfit.fit` (the first one also gets ``restarts``); an interrupted fit ends the
    search with its result. ``on_step`` is called with each step as it is made (progress).

    ``checkpoint``: one journal of every fit's evaluations (:mod:`fieldfit.fit.checkpoint`,
    a stage per substeps), removed when the search finishes; with ``resume`` a search
    killed before replays the fits it had made and goes on, to the same answer.
    """
    if not hasattr(model, "substeps") or not hasattr(model, "discretisation_check"):
        raise ValueError(f"--substeps auto needs a time-stepped model (advection-diffusion), "
                         f"not {getattr(model, 'name', type(model).__name__)!r}")
    if not tolerance_se > 0:
        raise ValueError(f"the tolerance of the time shift must be positive, got "
                         f"{tolerance_se}")
    if int(max_substeps) != max_substeps or max_substeps < model.substeps:
        raise ValueError(f"max_substeps must be an integer ≥ the model's substeps "
                         f"({model.substeps}), got {max_substeps}")
    if fit_kwargs.get("stderr") is False:
        raise ValueError("--substeps auto measures the time shift in standard errors: it "
                         "needs them (stderr=True)")
    fix = dict(fix or {})
    steps = []
    start = fit_kwargs.pop("start", None)
    if resume and checkpoint is None:
        raise ValueError("resume=True needs a checkpoint file")
    owner = None
    if checkpoint is not None:
        key = fit_key(model, obs, fix=fix, start=dict(start or {}), restarts=restarts,
                      search="substeps", tolerance_se=float(tolerance_se),
                      max_substeps=int(max_substeps),
                      **{k: repr(v) for k, v in fit_kwargs.items()})
        owner = Journal(checkpoint, key, resume=resume)

    def stage(substeps: int) -> dict:
        return {} if owner is None else {"_journal": owner.stage(f"substeps-{substeps}")}

    t0 = time.perf_counter()
    try:
        model, res = _search(model, obs, fix, start, restarts, progress, tolerance_se,
                             max_substeps, fit_kwargs, steps, stage, on_step)
    finally:
        if owner is not None:
            owner.close()
    if owner is not None and not res.interrupted:
        owner.remove()
    search = {"tolerance_se": float(tolerance_se), "max_substeps": int(max_substeps),
              "chosen": int(model.substeps), "seconds": time.perf_counter() - t0,
              "steps": steps}
    return model, res, search


def _search(model, obs, fix, start, restarts, progress, tolerance_se, max_substeps,
            fit_kwargs, steps, stage, on_step):
    res = fit(model, obs, fix=fix, start=start, restarts=restarts, progress=progress,
              **stage(model.substeps), **fit_kwargs)
    while True:
        if res.interrupted:
            steps.append(_step(model, res, None, math.inf))
            break
        check = model.discretisation_check(obs, res.params, fix=fix, hessian=res.hessian,
                                           refine=("time",))
        worst, shift = _worst(check)
        steps.append(_step(model, res, worst, shift))
        if on_step is not None:
            on_step(steps[-1])
        # no finite shift (no standard error anywhere): nothing to judge a doubling by
        if worst is None or shift <= tolerance_se or 2 * model.substeps > max_substeps:
            break
        model = with_substeps(model, 2 * model.substeps)
        free = model.param_space(obs).fix(**fix).free_names
        warm = {k: res.params[k] for k in free if k in res.params}
        res = fit(model, obs, fix=fix, start=warm, restarts=0, progress=progress,
                  coarse=False, **stage(model.substeps), **fit_kwargs)
    return model, res


def _step(model, res: FitResult, worst, shift) -> dict:
    return {"substeps": int(model.substeps), "max_shift_se": float(shift), "worst": worst,
            "loglik": float(res.loglik), "seconds": float(res.seconds),
            "estimates": {k: float(v) for k, v in res.params.items()}}
