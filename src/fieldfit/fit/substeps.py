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
well inside their own sampling error. How far one doubling moves the estimates on simulated
data is in docs/benchmarks.md.

With ``kinds=("time", "mesh")`` (``fieldfit fit --substeps auto --refine-mesh``) the search
also refines the mesh (every edge / √2, about twice the nodes): each step refines whichever
kind moves some estimate more, in standard errors, until neither moves any by more than the
tolerance (or neither can be refined within ``max_substeps`` and ``max_mesh_nodes``). The
two errors can have opposite signs, so refining the time step alone can move an estimate
further from the continuum limit (docs/benchmarks.md).

The models searched are those of the mesh contract (:class:`fieldfit.contract.MeshModel`,
declared by ``mesh_model``).

No library chooses a latent time step or mesh for an SPDE likelihood from the data (R-INLA
and gstlearn take both as given), hence this module.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping

from ..contract import MeshModel, require_mesh_model
from .checkpoint import Journal, fit_key
from .mle import fit
from .results import FitResult

#: the largest time shift, in standard errors, that stops the doubling
AUTO_SHIFT_SE = 0.5
#: the doubling stops at this many substeps
AUTO_MAX_SUBSTEPS = 8
#: a mesh refinement is made only while the refined mesh has at most this many times the
#: first mesh's nodes (two refinements)
AUTO_MAX_MESH_FACTOR = 4.5


def with_substeps(model: MeshModel, substeps: int) -> MeshModel:
    """A copy of a model with another number of substeps.

    Parameters
    ----------
    model : MeshModel
        The model.
    substeps : int
        Model steps per observation step.

    Returns
    -------
    MeshModel
        The copy (the same mesh, the caches emptied).
    """
    return model.with_discretisation(substeps=int(substeps))


def _worst(check: dict, kind: str = "time") -> tuple[str | None, float]:
    if kind not in check["refined"]:
        return None, math.inf
    shifts = check["refined"][kind]["shift_se"]
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
                      kinds: tuple[str, ...] = ("time",), max_mesh_nodes: int | None = None,
                      **fit_kwargs) -> tuple[object, FitResult, dict]:
    """Fit a mesh model, refining its time step (and mesh) until the estimates stop moving.

    The substeps are doubled from the model's own value (and/or the mesh refined) until the
    shift under one more refinement is at most ``tolerance_se`` standard errors (module
    docstring). An interrupted fit ends the search with its result.

    Parameters
    ----------
    model : MeshModel
        A model of the mesh contract (``mesh_model`` True), such as
        :class:`~fieldfit.models.AdvectionDiffusionField`.
    obs : Observations
        The data.
    fix : Mapping or None
        Parameters held fixed, ``{name: value}``.
    tolerance_se : float
        The largest shift, in standard errors, that stops the search.
    max_substeps : int
        The most substeps ("time").
    progress : bool or None
        Show the fits' progress.
    restarts : int
        Restarts of the first fit (the later ones start from the previous estimate).
    checkpoint : str, os.PathLike or None
        One journal of every fit's evaluations (:mod:`fieldfit.fit.checkpoint`, a stage
        per fit), removed when the search finishes.
    resume : bool
        Replay the fits a killed search had made from ``checkpoint`` and go on, to the same
        answer.
    on_step : callable or None
        Called with each step's dict as it is made (progress).
    kinds : tuple of str
        What may be refined: "time" (the substeps doubled, up to ``max_substeps``) and
        "mesh" (edges / √2, while the refined mesh has at most ``max_mesh_nodes`` nodes; an
        automatic or ``--mesh-max-edge`` mesh, not a given one).
    max_mesh_nodes : int or None
        The most nodes of a refined mesh (default :data:`AUTO_MAX_MESH_FACTOR` × the first
        mesh's).
    **fit_kwargs
        Passed to every :func:`~fieldfit.fit`.

    Returns
    -------
    tuple
        ``(model, result, search)``: the model at the discretisation chosen, its
        :class:`~fieldfit.fit.results.FitResult`, and ``{"tolerance_se", "max_substeps",
        "chosen", "kinds", "mesh_nodes", "max_mesh_nodes", "seconds", "steps": [{"substeps",
        "mesh_nodes", "max_shift_se", "worst", "shifts_se", "next", "loglik", "seconds",
        "estimates"}, ...]}``, one step per fit. The last step's shift is that of the model
        chosen (``inf``, with ``worst`` None, where no estimate has a finite standard error:
        the search then stops there); ``shifts_se`` is the largest shift per kind, ``next``
        the kind refined after the step (None at the last); ``max_shift_se`` and ``worst``
        are those of the kind with the largest shift.

    Raises
    ------
    ValueError
        For a model without the mesh contract, a bad tolerance, ``max_substeps``, ``kinds``
        or ``max_mesh_nodes``, a mesh search on a given mesh, ``stderr=False``, or
        ``resume`` without a checkpoint.
    """
    require_mesh_model(model, "--substeps auto" if kinds == ("time",) else "the search "
                       f"over {' and '.join(kinds)} refinements")
    if not tolerance_se > 0:
        raise ValueError(f"the tolerance of the time shift must be positive, got "
                         f"{tolerance_se}")
    if int(max_substeps) != max_substeps or max_substeps < model.substeps:
        raise ValueError(f"max_substeps must be an integer ≥ the model's substeps "
                         f"({model.substeps}), got {max_substeps}")
    kinds = tuple(kinds)
    if not kinds or set(kinds) - {"time", "mesh"} or len(set(kinds)) != len(kinds):
        raise ValueError(f"kinds must be 'time' and/or 'mesh', got {kinds}")
    if "mesh" in kinds and model.mesh is not None:
        raise ValueError("the mesh search refines an automatic or --mesh-max-edge mesh, "
                         "not a given one")
    if max_mesh_nodes is not None and not int(max_mesh_nodes) > 0:
        raise ValueError(f"max_mesh_nodes must be a positive integer, got {max_mesh_nodes}")
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
        extra = {} if kinds == ("time",) else {"kinds": list(kinds),
                                                "max_mesh_nodes": max_mesh_nodes}
        key = fit_key(model, obs, fix=fix, start=dict(start or {}), restarts=restarts,
                      search="substeps", tolerance_se=float(tolerance_se),
                      max_substeps=int(max_substeps), **extra,
                      **{k: repr(v) for k, v in fit_kwargs.items()})
        owner = Journal(checkpoint, key, resume=resume)

    def stage(model, level: int) -> dict:
        # the time-only search keeps its stage names (journals written before stay valid)
        name = (f"substeps-{model.substeps}" if kinds == ("time",)
                else f"step-{level}-substeps-{model.substeps}")
        return {} if owner is None else {"_journal": owner.stage(name)}

    nodes0 = _nodes(model, obs)
    if "mesh" in kinds and max_mesh_nodes is None:
        max_mesh_nodes = int(AUTO_MAX_MESH_FACTOR * nodes0)
    t0 = time.perf_counter()
    try:
        model, res = _search(model, obs, fix, start, restarts, progress, tolerance_se,
                             max_substeps, fit_kwargs, steps, stage, on_step, kinds,
                             max_mesh_nodes)
    finally:
        if owner is not None:
            owner.close()
    if owner is not None and not res.interrupted:
        owner.remove()
    search = {"tolerance_se": float(tolerance_se), "max_substeps": int(max_substeps),
              "chosen": int(model.substeps), "kinds": list(kinds),
              "mesh_nodes": _nodes(model, obs), "max_mesh_nodes": max_mesh_nodes,
              "seconds": time.perf_counter() - t0, "steps": steps}
    return model, res, search


def _nodes(model: MeshModel, obs) -> int:
    """The number of nodes of the mesh ``model`` uses on ``obs``."""
    return int(model.mesh_for(obs).n_nodes)


def _search(model, obs, fix, start, restarts, progress, tolerance_se, max_substeps,
            fit_kwargs, steps, stage, on_step, kinds=("time",), max_mesh_nodes=None):
    res = fit(model, obs, fix=fix, start=start, restarts=restarts, progress=progress,
              **stage(model, 0), **fit_kwargs)
    while True:
        if res.interrupted:
            steps.append(_step(model, obs, res, None, math.inf, {}, None))
            break
        check = model.discretisation_check(obs, res.params, fix=fix, hessian=res.hessian,
                                           refine=kinds)
        worst = {kind: _worst(check, kind) for kind in kinds}
        shifts = {kind: w[1] for kind, w in worst.items()}
        top = max(kinds, key=lambda kind: (worst[kind][0] is not None, shifts[kind]))
        # what moves an estimate beyond the tolerance and can still be refined (a given
        # mesh has no mesh refinement in the check, so no finite mesh shift)
        refinable = [kind for kind in kinds
                     if worst[kind][0] is not None and shifts[kind] > tolerance_se
                     and (kind != "time" or 2 * model.substeps <= max_substeps)
                     and (kind != "mesh"
                          or check["refined"]["mesh"]["mesh_nodes"] <= max_mesh_nodes)]
        nxt = max(refinable, key=shifts.get) if refinable else None
        steps.append(_step(model, obs, res, worst[top][0], shifts[top], shifts, nxt))
        if on_step is not None:
            on_step(steps[-1])
        # no finite shift (no standard error anywhere): nothing to judge a refinement by
        if nxt is None:
            break
        model = (with_substeps(model, 2 * model.substeps) if nxt == "time"
                 else model.refined(obs, "mesh")[0])
        free = model.param_space(obs).fix(**fix).free_names
        warm = {k: res.params[k] for k in free if k in res.params}
        res = fit(model, obs, fix=fix, start=warm, restarts=0, progress=progress,
                  coarse=False, **stage(model, len(steps)), **fit_kwargs)
    return model, res


def _step(model, obs, res: FitResult, worst, shift, shifts, nxt) -> dict:
    return {"substeps": int(model.substeps), "mesh_nodes": _nodes(model, obs),
            "max_shift_se": float(shift), "worst": worst,
            "shifts_se": {k: float(v) for k, v in shifts.items()}, "next": nxt,
            "loglik": float(res.loglik), "seconds": float(res.seconds),
            "estimates": {k: float(v) for k, v in res.params.items()}}
