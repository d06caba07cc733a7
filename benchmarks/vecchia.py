#!/usr/bin/env python
"""Benchmark: fieldfit's Vecchia likelihood against GPBoost's Vecchia approximation.

One model, two implementations, the same simulated data in the same run:

    y(x) = μ + Z(x) + ε(x),   Z ~ GP(0, σ² ρ_{3/2}(h/ℓ)),   ε ~ N(0, τ²),   x uniform on [0, 1]²

**Parametrisations** (each checked numerically at the start of every run; the run stops if one
does not hold):

- fieldfit: C(h) = σ² 2^{1−ν}/Γ(ν) (h/ℓ)^ν K_ν(h/ℓ), ``range`` = ℓ; at ν = 3/2
  C(h) = σ² (1 + h/ℓ) e^{−h/ℓ}.
- GPBoost ``cov_function="matern"``: "using the parametrization of Rasmussen and Williams,
  2006" (``GPModel`` docstring, gpboost 1.8.0), i.e. the distance scaled by √(2ν)/ρ:
  at ``cov_fct_shape=1.5``, C(h) = σ² (1 + √3 h/ρ) e^{−√3 h/ρ}. Hence **ρ = ℓ√3**. Its
  covariance parameters are ordered (τ² "Error_term", σ² "GP_var", ρ "GP_range"), and
  ``neg_log_likelihood`` is the full −log p(y) (with the ½ n log 2π), the linear predictor
  passed as ``fixed_effects``. Check: GPBoost without approximation (``gp_approx="none"``)
  against fieldfit's exact engine at n = 300.
- GSTools ``Matern(len_scale=L, nu=ν)``: ρ(r) = 2^{1−ν}/Γ(ν) (√ν r/L)^ν K_ν(√ν r/L)
  (``gstools.covmodel.Matern`` docstring, rescale s = 1), hence **L = ℓ√ν**. Check: the two
  covariance functions at 401 distances.

**Simulation.** n ≤ ``--dense-max`` (default 8000): exact draws by dense Cholesky
(``GaussianField.simulate``). Larger n: GSTools' randomisation method (``gs.SRF``, Fourier
modes sampled from the Matérn spectral density, ``--mode-no`` of them), plus N(0, τ²) noise:
a field whose covariance is exact in expectation over the modes and approximately Gaussian
(a sum of ``--mode-no`` random cosines). Check: the empirical covariance of independent
GSTools draws at 25 points against the model, in Monte-Carlo standard errors.

**What is measured** (``--parts``; all by default):

1. ``accuracy`` — at n in ``--accuracy-n`` (≤ ``--dense-max``, Cholesky-simulated data): the
   log-likelihood of fieldfit's Vecchia engine and of GPBoost at the same parameters, the same
   data and the same m, both minus the exact log-likelihood (fieldfit's exact engine); then
   maximum-likelihood fits of both (and of the exact model for n ≤ ``--exact-fit-max``), with
   the exact log-likelihood at each estimate.
2. ``compare`` — at n in ``--n`` and m in ``--m``: seconds per evaluation (fieldfit ℓ and
   ℓ + ∇ℓ by autograd; GPBoost ℓ only: its API offers no gradient), setup (ordering and
   neighbour search: a fresh fieldfit engine's first evaluation; GPBoost's ``GPModel(...)``),
   and a full fit of each (fieldfit ``fit(..., restarts=0, stderr=False)``; GPBoost
   ``GPModel.fit`` with its default L-BFGS), both from fieldfit's data-driven starting values
   (``--start own``: GPBoost from its own). Ratios are fieldfit / GPBoost (< 1: fieldfit
   faster).
3. ``scaling`` — fieldfit alone at n in ``--scaling-n`` (10⁶ added by ``--large``): s per
   ℓ + ∇ℓ evaluation, fit time, and peak memory (VmHWM of /proc/self/status), each (n, m) in a
   fresh subprocess so that the peaks are its own.

Both libraries run on ``--threads`` threads (torch.set_num_threads and threadpoolctl for
fieldfit; ``GPModel(num_parallel_threads=...)`` for GPBoost's OpenMP; OMP_NUM_THREADS in the
subprocesses). The markdown report goes to stdout and, written atomically, to ``--out``.

    .venv/bin/python benchmarks/vecchia.py                  # n = 10⁴, 3·10⁴, 10⁵; m = 10, 30
    .venv/bin/python benchmarks/vecchia.py --quick          # smoke run, n ≤ 1000
    .venv/bin/python benchmarks/vecchia.py --parts scaling --large
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

try:
    import gpboost as gpb
    import gstools as gs
    from threadpoolctl import threadpool_limits
except ImportError as e:  # pragma: no cover
    sys.exit(f"benchmarks/vecchia.py needs the benchmark extras ({e}): "
             "pip install -e '.[dev,bench]'")

from _common import busy_share, busy_warning, fmt_s, load_average, machine_info, md_table, rel

import fieldfit
from fieldfit import GaussianField, Matern, Observations
from fieldfit.fit import fit
from fieldfit.io import write_atomic
from fieldfit.likelihood import ENGINES, get_engine
from fieldfit.settings import settings

DTYPE = torch.float64
NU = 1.5
GPB_RANGE = math.sqrt(2 * NU)  # GPBoost "matern" (Rasmussen & Williams): ρ = ℓ·√(2ν) = ℓ√3
GS_LEN_SCALE = math.sqrt(NU)  # GSTools Matern: len_scale = ℓ·√ν
COV_NAMES = ("variance", "range", "nugget")
TRUTH = {"variance": 1.0, "range": 0.1, "nugget": 0.1, "mean": 1.0}  # simulated data
POINT = {"variance": 0.8, "range": 0.08, "nugget": 0.15, "mean": 0.9}  # a second point
PARTS = ("accuracy", "compare", "scaling")
HERE = Path(__file__).resolve().parent
LOG: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731


# --- conversions -----------------------------------------------------------------------------
def gpb_cov_pars(p: dict) -> np.ndarray:
    """fieldfit parameters -> GPBoost's (τ², σ², ρ = ℓ√3)."""
    return np.array([p["nugget"], p["variance"], p["range"] * GPB_RANGE])


def from_gpb(cov_pars, coef) -> dict[str, float]:
    cov_pars, coef = np.ravel(cov_pars), np.ravel(coef)
    return {"variance": float(cov_pars[1]), "range": float(cov_pars[2]) / GPB_RANGE,
            "nugget": float(cov_pars[0]), "mean": float(coef[0])}


def gstools_model(p: dict = TRUTH) -> gs.Matern:
    return gs.Matern(dim=2, var=p["variance"], len_scale=p["range"] * GS_LEN_SCALE, nu=NU)


def vary(p: dict, i: int) -> dict:
    """The point p with σ², ℓ, τ² scaled by 1 + 0.02 (i mod 5), as GPBoost's own thread
    benchmark does: no implementation can reuse the previous evaluation's result."""
    f = 1.0 + 0.02 * (i % 5)
    return {k: v * f if k in COV_NAMES else v for k, v in p.items()}


# --- data ------------------------------------------------------------------------------------
class Data:
    """Simulated observations per n (memoised): Cholesky up to ``dense_max``, GSTools above."""

    def __init__(self, seed: int, dense_max: int, mode_no: int):
        self.seed, self.dense_max, self.mode_no = seed, dense_max, mode_no
        self._cache: dict[int, tuple[Observations, str, float]] = {}

    def method(self, n: int) -> str:
        return ("Cholesky" if n <= self.dense_max
                else f"GSTools randomisation, {self.mode_no} modes")

    def __call__(self, n: int) -> Observations:
        if n not in self._cache:
            rng = np.random.default_rng([self.seed, n])
            coords = rng.uniform(size=(n, 2))
            t0 = time.perf_counter()
            if n <= self.dense_max:
                model = GaussianField(Matern(smoothness=NU), mean="constant")
                y = model.simulate(coords, {**TRUTH, "smoothness": NU}, seed=self.seed + n)[0]
            else:
                srf = gs.SRF(gstools_model(), mode_no=self.mode_no, seed=self.seed + n)
                z = srf((coords[:, 0], coords[:, 1]), mesh_type="unstructured")
                y = TRUTH["mean"] + z + math.sqrt(TRUTH["nugget"]) * rng.standard_normal(n)
            secs = time.perf_counter() - t0
            LOG(f"simulated n = {n} ({self.method(n)}) in {secs:.1f} s")
            self._cache[n] = (Observations(coords, y), self.method(n), secs)
        return self._cache[n][0]

    def log(self) -> list[list]:
        return [[n, how, fmt_s(s)] for n, (_, how, s) in sorted(self._cache.items())]


# --- the two implementations -----------------------------------------------------------------
def make_engine(name: str, m: int, ordering: str):
    return get_engine(name) if name == "exact" else get_engine(name, neighbours=m,
                                                               ordering=ordering)


def ff_model(engine: str, m: int, ordering: str, profile_mean: bool = True) -> GaussianField:
    """A fresh model (and engine: its cache of orderings and neighbours starts empty)."""
    return GaussianField(Matern(smoothness=NU), mean="constant", nugget=True,
                         profile_mean=profile_mean, engine=make_engine(engine, m, ordering))


def ff_loglik(model: GaussianField, obs: Observations, point: dict, grad: bool) -> float:
    """fieldfit's ℓ at ``point`` (the mean dropped when profiled), and ∇ℓ by backward."""
    keep = [k for k in point if k in COV_NAMES or not model.profile_mean]
    p = {k: torch.tensor(float(point[k]), dtype=DTYPE, requires_grad=grad) for k in keep}
    with contextlib.nullcontext() if grad else torch.no_grad():
        ll = model.log_likelihood(obs, {**p, "smoothness": torch.tensor(NU, dtype=DTYPE)})
    if grad:
        ll.backward()
    return float(ll.detach())


def gpb_model(obs: Observations, m: int, args) -> gpb.GPModel:
    return gpb.GPModel(gp_coords=obs.coords, cov_function="matern", cov_fct_shape=NU,
                       gp_approx="vecchia", num_neighbors=m, vecchia_ordering=args.gpb_ordering,
                       seed=args.seed, num_parallel_threads=args.threads)


def gpb_loglik(g: gpb.GPModel, obs: Observations, point: dict) -> float:
    """GPBoost's log-likelihood (−neg_log_likelihood) with the mean as fixed effects."""
    return -g.neg_log_likelihood(cov_pars=gpb_cov_pars(point), y=obs.values,
                                 fixed_effects=np.full(obs.n, float(point["mean"])))


@dataclass
class FitSummary:
    params: dict[str, float]
    loglik: float  # at its own optimum, by its own likelihood
    wall: float  # seconds, setup included
    setup: float | None = None  # GPBoost: GPModel(...) (ordering, neighbour search)
    iterations: int | None = None
    evaluations: int | None = None
    other: dict[str, float] = field(default_factory=dict)  # ℓ by other likelihoods
    notes: list[str] = field(default_factory=list)


def ff_fit(model: GaussianField, obs: Observations) -> FitSummary:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        # stop as GPBoost does (delta_rel_conv 1e-6: relative change of −ℓ; |ℓ| ≈ n here)
        res = fit(model, obs, restarts=0, stderr=False, progress=False, tol=1e-6 * obs.n)
        wall = time.perf_counter() - t0
    notes = sorted({str(w.message)[:200] for w in caught})
    if not res.converged:
        notes.append(f"not converged: {res.message}")
    return FitSummary({k: res.params[k] for k in (*COV_NAMES, "mean")}, res.loglik, wall,
                      iterations=res.iterations, evaluations=res.evaluations, notes=notes)


def gpb_fit(obs: Observations, m: int, start: dict | None, args) -> tuple[FitSummary, gpb.GPModel]:
    params: dict = {"trace": False}
    if start is not None:
        params["init_cov_pars"] = gpb_cov_pars(start)
    t0 = time.perf_counter()
    g = gpb_model(obs, m, args)
    setup = time.perf_counter() - t0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g.fit(y=obs.values, X=np.ones((obs.n, 1)), params=params)
    wall = time.perf_counter() - t0
    est = from_gpb(g.get_cov_pars(format_pandas=False), g.get_coef(format_pandas=False))
    notes = sorted({str(w.message)[:200] for w in caught})
    return FitSummary(est, -g.get_current_neg_log_likelihood(), wall, setup=setup,
                      iterations=g._get_num_optim_iter(), notes=notes), g


# --- helpers ---------------------------------------------------------------------------------
class Timer:
    """Wall and process CPU seconds of a block (CPU / wall = threads kept busy)."""

    def __enter__(self):
        gc.collect()
        self.cpu, self.t = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t
        self.cpu = time.process_time() - self.cpu


def vm_kib(key: str) -> int | None:
    """A /proc/self/status field in KiB (VmHWM: peak resident memory, VmRSS: current)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0: write 5 to /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def mib(kib: int | None) -> str:
    return "?" if kib is None else f"{kib / 1024:.0f}"


def est_cell(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g}"


def fit_table(truth: dict | None, cols: list[tuple[str, FitSummary]], other: list[str]) -> str:
    """Estimates side by side: one column per fit; ``other``: labels of cross-evaluations."""
    headers = ["", *(["truth"] if truth else []), *[c[0] for c in cols]]
    tr = (lambda v: [v]) if truth else (lambda v: [])  # noqa: E731
    rows = []
    for k, label in [("variance", "σ²"), ("range", "ℓ (fieldfit range)"), ("nugget", "τ²"),
                     ("mean", "μ")]:
        rows.append([label, *tr(f"{truth[k]:g}" if truth else ""),
                     *[est_cell(c.params.get(k)) for _, c in cols]])
    rows.append(["GPBoost range ρ = ℓ√3", *tr(f"{truth['range'] * GPB_RANGE:.4g}" if truth
                                              else ""),
                 *[est_cell(c.params["range"] * GPB_RANGE) for _, c in cols]])
    rows.append(["ℓ at own optimum (own likelihood)", *tr(""),
                 *[f"{c.loglik:.3f}" for _, c in cols]])
    for lab in other:
        rows.append([lab, *tr(""), *[f"{c.other[lab]:.3f}" if lab in c.other else "—"
                                     for _, c in cols]])
    rows.append(["wall time (s)", *tr(""), *[fmt_s(c.wall) + (f" (setup {fmt_s(c.setup)})"
                                                              if c.setup is not None else "")
                                             for _, c in cols]])
    rows.append(["iterations", *tr(""), *[str(c.iterations) if c.iterations is not None else "—"
                                          for _, c in cols]])
    rows.append(["likelihood evaluations", *tr(""),
                 *[str(c.evaluations) if c.evaluations is not None else "n/a"
                   for _, c in cols]])
    return md_table(headers, rows)


def warm_up(engine: str, ms: list[int], ordering: str, args=None) -> None:
    """First calls outside every timing: numba compilation of the ordering, torch's and
    (with ``args``) GPBoost's first evaluations, on 200 points."""
    rng = np.random.default_rng(0)
    obs = Observations(rng.uniform(size=(200, 2)), rng.standard_normal(200))
    for m in ms:
        ff_loglik(ff_model(engine, m, ordering), obs, TRUTH, grad=True)
        if args is not None:
            gpb_loglik(gpb_model(obs, m, args), obs, TRUTH)


# --- 0. conventions --------------------------------------------------------------------------
def check_conventions(args, need_gstools: bool) -> tuple[list[list], list[str]]:
    rows, notes, failed = [], [], []
    # GSTools' covariance against fieldfit's, along a line
    h = np.linspace(0.0, 1.0, 401)
    x = np.zeros((len(h), 2))
    x[:, 0] = h
    k = Matern(smoothness=NU)
    tp = {name: torch.tensor(TRUTH[name], dtype=DTYPE) for name in ("variance", "range")}
    with torch.no_grad():
        c_ff = k(torch.zeros(1, 2, dtype=DTYPE), torch.as_tensor(x),
                 {**tp, "smoothness": torch.tensor(NU, dtype=DTYPE)}).numpy()[0]
    d = float(np.abs(gstools_model().covariance(h) - c_ff).max())
    rows.append([f"GSTools `Matern(var=σ², len_scale=ℓ√ν, nu=ν)` vs fieldfit `Matern` (σ² = "
                 f"{TRUTH['variance']:g}, ℓ = {TRUTH['range']:g}), 401 distances in [0, 1]",
                 f"max abs. difference {d:.1e}", "✅" if d < 1e-10 else "❌"])
    if not d < 1e-10:
        failed.append("GSTools covariance")
    # GPBoost without approximation against fieldfit's exact likelihood
    rng = np.random.default_rng(args.seed)
    coords = rng.uniform(size=(300, 2))
    exact = ff_model("exact", 0, "none", profile_mean=False)
    obs = Observations(coords, exact.simulate(coords, {**TRUTH, "smoothness": NU}, seed=1)[0])
    ll_ff = ff_loglik(exact, obs, POINT, grad=False)
    g = gpb.GPModel(gp_coords=obs.coords, cov_function="matern", cov_fct_shape=NU,
                    gp_approx="none", num_parallel_threads=args.threads)
    ll_gpb = gpb_loglik(g, obs, POINT)
    wrong = -g.neg_log_likelihood(cov_pars=[POINT["nugget"], POINT["variance"], POINT["range"]],
                                  y=obs.values, fixed_effects=np.full(obs.n, POINT["mean"]))
    r = rel(ll_gpb, ll_ff)
    rows.append([f"GPBoost `gp_approx=\"none\"` −neg_log_likelihood with ρ = ℓ√3 vs fieldfit "
                 f"exact ℓ, n = 300, at {POINT}",
                 f"{ll_gpb:.8f} vs {ll_ff:.8f}: relative difference {r:.1e} (with ρ = ℓ "
                 f"instead: {wrong:.3f})", "✅" if r < args.rtol else "❌"])
    if not r < args.rtol:
        failed.append("GPBoost likelihood")
    # both Vecchia approximations are of the response (nugget included): exact at m = n − 1
    m_full = obs.n - 1
    ll_ffv = ff_loglik(ff_model(args.engine, m_full, args.ordering, profile_mean=False), obs,
                       POINT, grad=False)
    ll_gpbv = gpb_loglik(gpb_model(obs, m_full, args), obs, POINT)
    r_ff, r_gpb = rel(ll_ffv, ll_ff), rel(ll_gpbv, ll_ff)
    ok = max(r_ff, r_gpb) < args.rtol
    rows.append([f"Vecchia with m = n − 1 = {m_full} equals the exact ℓ (both approximate the "
                 "response, nugget included)",
                 f"relative difference fieldfit {r_ff:.1e}, GPBoost {r_gpb:.1e}",
                 "✅" if ok else "❌"])
    if not ok:
        failed.append("Vecchia at m = n − 1")
    # GSTools draws: empirical covariance at 25 points over independent draws
    if need_gstools:
        K = args.sim_check_draws
        pts = np.random.default_rng(args.seed + 1).uniform(size=(25, 2))
        srf = gs.SRF(gstools_model(), mode_no=args.mode_no, seed=args.seed)
        Z = np.stack([srf((pts[:, 0], pts[:, 1]), mesh_type="unstructured", seed=args.seed + i)
                      for i in range(1, K + 1)])
        C_hat = Z.T @ Z / K  # the mean (0) known
        with torch.no_grad():
            C = k(torch.as_tensor(pts), torch.as_tensor(pts),
                  {**tp, "smoothness": torch.tensor(NU, dtype=DTYPE)}).numpy()
        se = np.sqrt((np.outer(np.diag(C), np.diag(C)) + C**2) / K)  # Gaussian: Var of C_hat
        iu = np.triu_indices(len(pts))
        z = ((C_hat - C) / se)[iu]
        kurt = float(np.mean(Z**4) / np.mean(Z**2) ** 2)
        ok = np.abs(z).max() < 5
        rows.append([f"GSTools draws ({args.mode_no} modes): empirical covariance of {K} "
                     "independent draws at 25 uniform points vs the model",
                     f"largest deviation Ĉ − C: {np.abs(C_hat - C)[iu].max():.3f} = "
                     f"{np.abs(z).max():.1f} Monte-Carlo s.e. ({len(z)} entries; "
                     f"mean z {z.mean():+.2f}); "
                     f"kurtosis {kurt:.2f} (Gaussian 3)", "✅" if ok else "⚠"])
        if not ok:
            notes.append("GSTools draws: the empirical covariance is off by more than 5 "
                         "Monte-Carlo standard errors somewhere: check the simulation")
    for row in rows:
        LOG(f"check: {row[0][:70]}...: {row[1]} {row[2]}")
    if failed:
        LOG("CONVENTION CHECK FAILED: " + ", ".join(failed))
        raise SystemExit(1)
    return rows, notes


# --- 1. accuracy -----------------------------------------------------------------------------
def accuracy(args, data: Data) -> tuple[str, list[str]]:
    ll_rows, parts, notes = [], [], []
    extra_random = args.ordering != "random" and args.engine != "exact"
    for n in args.accuracy_n:
        obs = data(n)
        exact = ff_model("exact", 0, "none", profile_mean=False)
        exact_prof = ff_model("exact", 0, "none")
        points = {"truth": TRUTH, "other": POINT}
        with Timer() as t:
            ll_exact = {name: ff_loglik(exact, obs, p, grad=False) for name, p in points.items()}
        LOG(f"accuracy n = {n}: exact ℓ {ll_exact} ({t.wall / 2:.2f} s each)")
        cols: list[tuple[str, FitSummary]] = []
        if n <= args.exact_fit_max:
            s = ff_fit(exact_prof, obs)
            s.other["exact ℓ at the estimate"] = s.loglik
            cols.append(("exact MLE (fieldfit)", s))
            notes += [f"n = {n}, exact fit: {w}" for w in s.notes]
        for m in args.m:
            ff = ff_model(args.engine, m, args.ordering, profile_mean=False)
            ffr = ff_model(args.engine, m, "random", profile_mean=False) if extra_random else None
            g = gpb_model(obs, m, args)
            for name, p in points.items():
                a = ff_loglik(ff, obs, p, grad=False)
                b = gpb_loglik(g, obs, p)
                c = ff_loglik(ffr, obs, p, grad=False) if ffr is not None else None
                ll_rows.append([n, m, name, f"{ll_exact[name]:.4f}",
                                f"{a - ll_exact[name]:+.4f}",
                                *([f"{c - ll_exact[name]:+.4f}"] if extra_random else []),
                                f"{b - ll_exact[name]:+.4f}",
                                f"{abs(a - ll_exact[name]) / abs(b - ll_exact[name]):.2g}"
                                if b != ll_exact[name] else "—"])
            LOG(f"accuracy n = {n}, m = {m}: ℓ − exact at truth: fieldfit "
                f"{ll_rows[-2][4]}, GPBoost {ll_rows[-2][-2]}")
            s_ff = ff_fit(ff_model(args.engine, m, args.ordering), obs)
            s_gpb, _ = gpb_fit(obs, m, start_values(obs, args), args)
            for s, lab in ((s_ff, "fieldfit"), (s_gpb, "GPBoost")):
                s.other["exact ℓ at the estimate"] = ff_loglik(exact_prof, obs, s.params,
                                                               grad=False)
                notes += [f"n = {n}, m = {m}, {lab} fit: {w}" for w in s.notes]
            cols += [(f"fieldfit m = {m}", s_ff), (f"GPBoost m = {m}", s_gpb)]
            LOG(f"accuracy n = {n}, m = {m}: fits {s_ff.wall:.2f} s (fieldfit), "
                f"{s_gpb.wall:.2f} s (GPBoost)")
        parts.append(f"**n = {n}** (data simulated by {data.method(n)}):\n\n"
                     + fit_table(TRUTH, cols, ["exact ℓ at the estimate"]))
    heads = ["n", "m", "point", "exact ℓ", f"fieldfit Vecchia ({args.ordering}) − exact",
             *(["fieldfit Vecchia (random) − exact"] if extra_random else []),
             f"GPBoost Vecchia ({args.gpb_ordering}) − exact",
             "fieldfit error / GPBoost error (absolute values)"]
    text = (
        "Log-likelihood at the same parameters, the same data and the same m, minus the exact "
        "log-likelihood (fieldfit's dense-Cholesky engine), the mean a known parameter "
        "(GPBoost: `fixed_effects`). Points: 'truth' = "
        + ", ".join(f"{k} = {v:g}" for k, v in TRUTH.items()) + "; 'other' = "
        + ", ".join(f"{k} = {v:g}" for k, v in POINT.items()) + ". The two approximations "
        "differ by their ordering and hence their conditioning sets (GPBoost offers no maxmin "
        "ordering), so they are not expected to agree with each other, only to approach the "
        "exact value as m grows.\n\n" + md_table(heads, ll_rows)
        + "\n\n### Estimates at these sizes\n\nMaximum-likelihood fits on the same data, from "
        "the same start (" + ("fieldfit's data-driven one" if args.start == "same"
                              else "each library's own") + "); 'exact ℓ at the estimate' is "
        "fieldfit's exact profile log-likelihood (mean by GLS) at each fit's covariance "
        "parameters, a common yardstick.\n\n"
        + "\n\n".join(parts))
    return text, notes


def start_values(obs: Observations, args) -> dict | None:
    """GPBoost's start: fieldfit's data-driven start (``--start same``) or its own (None)."""
    if args.start != "same":
        return None
    return GaussianField(Matern(smoothness=NU), mean="constant").initial_values(obs)


# --- 2. compare ------------------------------------------------------------------------------
def compare(args, data: Data) -> tuple[str, list[str]]:
    eval_rows, fit_rows, est_parts, notes = [], [], [], []
    for n in args.n:
        obs = data(n)
        cols: list[tuple[str, FitSummary]] = []
        for m in args.m:
            ff = ff_model(args.engine, m, args.ordering)
            with Timer() as t_ff0:  # a fresh engine: ordering + neighbours + one ℓ, ∇ℓ
                ff_loglik(ff, obs, vary(TRUTH, 0), grad=True)
            with Timer() as t_g0:
                g = gpb_model(obs, m, args)
            with Timer() as t_g1:
                gpb_loglik(g, obs, vary(TRUTH, 0))
            times: dict[str, list[Timer]] = {"ff_grad": [], "ff": [], "gpb": []}
            for i in range(1, args.repeats + 1):  # interleaved; the point varies
                p = vary(TRUTH, i)
                for key in times:
                    with Timer() as t:
                        if key == "gpb":
                            gpb_loglik(g, obs, p)
                        else:
                            ff_loglik(ff, obs, p, grad=(key == "ff_grad"))
                    times[key].append(t)
            med = {k: statistics.median(t.wall for t in v) for k, v in times.items()}
            par = {k: sum(t.cpu for t in v) / sum(t.wall for t in v) for k, v in times.items()}
            eval_rows.append([
                n, m, fmt_s(med["ff_grad"]), fmt_s(med["ff"]), fmt_s(med["gpb"]),
                f"**{med['ff'] / med['gpb']:.2f}**", f"**{med['ff_grad'] / med['gpb']:.2f}**",
                fmt_s(t_ff0.wall), f"{fmt_s(t_g0.wall)} + {fmt_s(t_g1.wall)}",
                f"{par['ff_grad']:.1f} / {par['ff']:.1f} / {par['gpb']:.1f}",
            ])
            LOG(f"compare n = {n}, m = {m}: s/eval fieldfit ℓ+∇ {med['ff_grad']:.4f}, ℓ "
                f"{med['ff']:.4f}; GPBoost ℓ {med['gpb']:.4f}")
            if args.no_fit:
                continue
            s_ff = ff_fit(ff_model(args.engine, m, args.ordering), obs)
            s_gpb, g = gpb_fit(obs, m, start_values(obs, args), args)
            # each estimate under the other's likelihood (same m), mean by GLS / GPBoost's own
            ff_eval = ff_model(args.engine, m, args.ordering)
            s_ff.other["fieldfit ℓ at the estimate"] = s_ff.loglik
            s_gpb.other["fieldfit ℓ at the estimate"] = ff_loglik(ff_eval, obs, s_gpb.params,
                                                                  grad=False)
            s_gpb.other["GPBoost ℓ at the estimate"] = s_gpb.loglik
            s_ff.other["GPBoost ℓ at the estimate"] = gpb_loglik(g, obs, s_ff.params)
            for s, lab in ((s_ff, "fieldfit"), (s_gpb, "GPBoost")):
                notes += [f"n = {n}, m = {m}, {lab} fit: {w}" for w in s.notes]
            cols += [(f"fieldfit m = {m}", s_ff), (f"GPBoost m = {m}", s_gpb)]
            fit_rows.append([
                n, m, fmt_s(s_ff.wall), s_ff.evaluations, s_ff.iterations,
                fmt_s(s_ff.wall / max(s_ff.evaluations, 1)),
                f"{fmt_s(s_gpb.wall)} ({fmt_s(s_gpb.setup)} setup)", s_gpb.iterations,
                f"**{s_ff.wall / s_gpb.wall:.2f}**",
                f"{s_ff.loglik - s_gpb.other['fieldfit ℓ at the estimate']:+.3f}",
            ])
            LOG(f"compare n = {n}, m = {m}: fit fieldfit {s_ff.wall:.2f} s "
                f"({s_ff.evaluations} evals), GPBoost {s_gpb.wall:.2f} s "
                f"({s_gpb.iterations} iterations)")
        if cols:
            est_parts.append(f"**n = {n}** (data simulated by {data.method(n)}):\n\n"
                             + fit_table(TRUTH, cols, ["fieldfit ℓ at the estimate",
                                                       "GPBoost ℓ at the estimate"]))
    text = (
        f"### Seconds per evaluation\n\nMedian of {args.repeats} evaluations, the "
        "implementations interleaved, at parameters near the truth varied between evaluations "
        "(σ², ℓ, τ² × 1 + 0.02 (i mod 5)). fieldfit: `model.log_likelihood(obs, params)` with "
        "the mean profiled out by GLS (what `fit` evaluates), with `backward()` (ℓ + ∇ℓ) and "
        "under `torch.no_grad()` (ℓ); GPBoost: `neg_log_likelihood` (ℓ only: GPBoost has no "
        "public gradient). Ratios fieldfit / GPBoost (< 1: fieldfit faster). 'setup': "
        "fieldfit's first evaluation on a fresh engine (ordering, conditioning sets, ℓ + ∇ℓ); "
        "GPBoost's `GPModel(...)` (ordering, neighbour search) + its first `neg_log_likelihood`."
        " CPU/wall: process CPU time over wall time, i.e. the threads actually kept busy.\n\n"
        + md_table(["n", "m", "fieldfit ℓ + ∇ℓ", "fieldfit ℓ", "GPBoost ℓ",
                    "ratio ℓ (fieldfit / GPBoost)", "ratio ℓ + ∇ℓ / GPBoost ℓ",
                    "fieldfit setup + first ℓ, ∇ℓ", "GPBoost setup + first ℓ",
                    "CPU/wall fieldfit ℓ+∇ / ℓ / GPBoost"], eval_rows))
    if fit_rows:
        text += (
            "\n\n### Full fits\n\nσ², ℓ, τ² and μ estimated (ν = 3/2 fixed), one start "
            + ("(fieldfit's data-driven start for both)" if args.start == "same"
               else "(each library's own start)") + ". fieldfit: `fit(model, obs, restarts=0, "
            "stderr=False, tol=1e-6·n)` on a fresh engine (L-BFGS-B, mean profiled by GLS, "
            "stopping once ℓ improves by less than about 1e-6·n, as GPBoost's criterion; "
            "for m > 10 it first optimises with m = 10, its default); GPBoost: "
            "`GPModel(...)` + `fit(y, X=1)` (its default L-BFGS, "
            "`delta_rel_conv` = 1e-6, intercept by GLS), the wall time including the model "
            "construction (neighbour search). GPBoost does not report its number of likelihood "
            "evaluations. Ratio = fieldfit / GPBoost wall time (< 1: fieldfit faster). The last "
            "column compares the optima on one yardstick: fieldfit's Vecchia ℓ (same m) at "
            "fieldfit's estimate minus at GPBoost's (≥ 0 when fieldfit's optimiser went at "
            "least as far up its own likelihood).\n\n"
            + md_table(["n", "m", "fieldfit (s)", "evaluations", "iterations", "s / evaluation",
                        "GPBoost (s)", "iterations", "ratio (fieldfit / GPBoost)",
                        "fieldfit ℓ: own − GPBoost's estimate"], fit_rows)
            + "\n\n### Estimates\n\n" + "\n\n".join(est_parts))
    return text, notes


# --- 3. scaling (fieldfit alone, one subprocess per (n, m)) ------------------------------------
def scaling_worker(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    torch.set_num_threads(spec["threads"])
    with threadpool_limits(limits=spec["threads"]), settings(progress=False):
        d = np.load(spec["data"])
        obs = Observations(d["coords"], d["values"])
        warm_up(spec["engine"], [spec["m"]], spec["ordering"])
        out: dict = {"rss_start": vm_kib("VmRSS"), "hwm_start": vm_kib("VmHWM")}
        out["peak_reset"] = reset_peak()
        model = ff_model(spec["engine"], spec["m"], spec["ordering"])
        with Timer() as t0:
            ff_loglik(model, obs, vary(TRUTH, 0), grad=True)
        ts = []
        for i in range(1, spec["repeats"] + 1):
            with Timer() as t:
                ff_loglik(model, obs, vary(TRUTH, i), grad=True)
            ts.append(t.wall)
        out.update(first=t0.wall, eval=statistics.median(ts), hwm_eval=vm_kib("VmHWM"))
        if spec["fit"]:
            reset_peak()
            out["rss_fit_start"] = vm_kib("VmRSS")
            s = ff_fit(ff_model(spec["engine"], spec["m"], spec["ordering"]), obs)
            out.update(fit=s.wall, evaluations=s.evaluations, iterations=s.iterations,
                       hwm_fit=vm_kib("VmHWM"), notes=s.notes)
    Path(spec["result"]).write_text(json.dumps(out))
    return 0


def scaling(args, data: Data) -> tuple[str, list[str]]:
    rows, notes = [], []
    env = {**os.environ, **{v: str(args.threads) for v in (
        "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}
    with tempfile.TemporaryDirectory(prefix="fieldfit-bench-") as tmp:
        for n in args.scaling_n:
            obs = data(n)
            path = Path(tmp) / f"data_{n}.npz"
            np.savez(path, coords=obs.coords, values=obs.values)
            for m in args.m:
                spec = {"data": str(path), "result": str(Path(tmp) / f"res_{n}_{m}.json"),
                        "engine": args.engine, "m": m, "ordering": args.ordering,
                        "threads": args.threads, "repeats": args.repeats,
                        "fit": n <= args.scaling_fit_max and not args.no_fit}
                Path(tmp, "spec.json").write_text(json.dumps(spec))
                t0 = time.perf_counter()
                proc = subprocess.run([sys.executable, __file__, "--worker",
                                       str(Path(tmp, "spec.json"))], env=env,
                                      capture_output=True, text=True)
                if proc.returncode != 0:
                    tail = (proc.stderr or "").strip().splitlines()[-3:]
                    notes.append(f"scaling n = {n}, m = {m}: worker failed (exit "
                                 f"{proc.returncode}): " + " / ".join(tail))
                    rows.append([n, m, "failed", "", "", "", "", "", "", ""])
                    LOG(notes[-1])
                    continue
                r = json.loads(Path(spec["result"]).read_text())
                notes += [f"scaling n = {n}, m = {m}: {w}" for w in r.get("notes", [])]
                if not r["peak_reset"]:
                    notes.append("VmHWM could not be reset (/proc/self/clear_refs): the peaks "
                                 "include the start of the process")
                fit_cells = (["—"] * 4 if "fit" not in r else
                             [fmt_s(r["fit"]), r["evaluations"],
                              fmt_s(r["fit"] / max(r["evaluations"], 1)), mib(r["hwm_fit"])])
                rows.append([n, m, fmt_s(r["first"]), fmt_s(r["eval"]), fit_cells[0],
                             fit_cells[1], fit_cells[2], mib(r["rss_start"]), mib(r["hwm_eval"]),
                             fit_cells[3]])
                fit_s = f"{r['fit']:.2f} s" if "fit" in r else "not run"
                LOG(f"scaling n = {n}, m = {m}: {r['eval']:.3f} s/eval, fit {fit_s}, peak "
                    f"{mib(r['hwm_eval'])} MiB (process {time.perf_counter() - t0:.1f} s)")
    text = (
        f"fieldfit's `{args.engine}` engine alone (ordering {args.ordering}), each (n, m) in a "
        "fresh Python process reading the data from disk. 'first': the first ℓ + ∇ℓ on a fresh "
        f"engine (ordering and conditioning sets included); 's / eval': median of "
        f"{args.repeats} further ℓ + ∇ℓ; 'fit': `fit(..., restarts=0, stderr=False)` on a "
        "fresh engine (n ≤ --scaling-fit-max). Before any timing, one evaluation on 200 other "
        "points compiles the ordering (numba). Memory in MiB: 'base' = resident set after "
        "imports, warm-up and data; 'peak' = VmHWM of /proc/self/status over the "
        "evaluations, and over the fit (reset in between through /proc/self/clear_refs).\n\n"
        + md_table(["n", "m", "first ℓ + ∇ℓ (s)", "s / eval", "fit (s)", "evaluations",
                    "fit s / evaluation", "base MiB", "peak MiB (evals)", "peak MiB (fit)"],
                   rows))
    return text, notes


# --- main ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="fieldfit's Vecchia likelihood vs GPBoost's Vecchia approximation",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                    help="which parts to run")
    ap.add_argument("--n", type=int, nargs="+", default=[10_000, 30_000, 100_000],
                    help="sample sizes of the fieldfit / GPBoost timing and fits")
    ap.add_argument("--m", type=int, nargs="+", default=[10, 30],
                    help="numbers of neighbours (conditioning set sizes), both libraries")
    ap.add_argument("--accuracy-n", type=int, nargs="+", default=[2000, 8000],
                    help="sample sizes of the comparison with the exact likelihood "
                         "(each ≤ --dense-max)")
    ap.add_argument("--exact-fit-max", type=int, default=2000,
                    help="exact-likelihood MLE at accuracy sizes up to this n")
    ap.add_argument("--scaling-n", type=int, nargs="+", default=[10_000, 100_000],
                    help="sample sizes of fieldfit's scaling run")
    ap.add_argument("--large", action="store_true", help="add n = 10⁶ to --scaling-n")
    ap.add_argument("--scaling-fit-max", type=int, default=10**6,
                    help="full fits in the scaling run up to this n")
    ap.add_argument("--repeats", type=int, default=5, help="timed evaluations (median)")
    ap.add_argument("--no-fit", action="store_true",
                    help="time evaluations only (no fits in compare and scaling)")
    ap.add_argument("--threads", type=int, default=2, help="threads for both libraries")
    ap.add_argument("--engine", default="vecchia",
                    help="fieldfit engine (\"exact\" exercises the script before the Vecchia "
                         "engine exists; m and the ordering are then ignored)")
    ap.add_argument("--ordering", default="maxmin",
                    choices=["maxmin", "random", "coordinate", "none"],
                    help="fieldfit's Vecchia ordering")
    ap.add_argument("--gpb-ordering", default="random", choices=["random", "none"],
                    help="GPBoost's vecchia_ordering (it has no maxmin ordering)")
    ap.add_argument("--start", default="same", choices=["same", "own"],
                    help="GPBoost's starting values: fieldfit's data-driven start, or its own")
    ap.add_argument("--dense-max", type=int, default=8000,
                    help="simulate by dense Cholesky up to this n, by GSTools above")
    ap.add_argument("--mode-no", type=int, default=1000,
                    help="Fourier modes of the GSTools randomisation method")
    ap.add_argument("--sim-check-draws", type=int, default=200,
                    help="independent GSTools draws in the covariance check of the simulation")
    ap.add_argument("--rtol", type=float, default=1e-8,
                    help="largest relative difference from fieldfit's exact ℓ accepted in the "
                         "checks (GPBoost without approximation; both at m = n − 1)")
    ap.add_argument("--seed", type=int, default=2024,
                    help="seed of points, data and GPBoost's random ordering")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: n ≤ 1000 everywhere, 3 repeats (GSTools above n = 600)")
    ap.add_argument("--out", type=Path, default=None,
                    help="results file (default benchmarks/results/vecchia.md, "
                         "vecchia_quick.md with --quick)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return scaling_worker(args.worker)
    if args.quick:
        args.n, args.accuracy_n, args.scaling_n = [1000], [500], [500, 1000]
        args.repeats, args.exact_fit_max = min(args.repeats, 3), 500
        args.dense_max, args.sim_check_draws = 600, min(args.sim_check_draws, 50)
    if args.large:
        args.scaling_n = sorted({*args.scaling_n, 10**6})
    if args.out is None:
        args.out = HERE / "results" / ("vecchia_quick.md" if args.quick else "vecchia.md")
    if args.engine not in ENGINES:
        ap.error(f"fieldfit has no engine {args.engine!r} (available: {sorted(ENGINES)}); "
                 "--engine exact runs the script on the exact engine (small n only)")
    if "accuracy" in args.parts and max(args.accuracy_n) > args.dense_max:
        ap.error("--accuracy-n sizes must be ≤ --dense-max (exact likelihood and Cholesky "
                 "simulation)")
    if min(args.m) < 1 or args.repeats < 1 or min(args.n + args.accuracy_n + args.scaling_n) < 50:
        ap.error("m and repeats must be at least 1, sizes at least 50")

    torch.set_num_threads(args.threads)
    info = machine_info(
        args.threads,
        f"fieldfit {fieldfit.__version__}, torch {torch.__version__}, gpboost "
        f"{gpb.__version__}, gstools {gs.__version__}, numpy {np.__version__}",
        "fieldfit: torch.set_num_threads, threadpoolctl; GPBoost: "
        "GPModel(num_parallel_threads); subprocesses: OMP_NUM_THREADS")
    share = busy_share()
    info.append(["CPUs busy with other work at start (3 s sample)",
                 "?" if share is None else f"{100 * share:.0f} %"])
    busy = busy_warning(share)
    data = Data(args.seed, args.dense_max, args.mode_no)
    sizes = ((args.accuracy_n if "accuracy" in args.parts else [])
             + (args.n if "compare" in args.parts else [])
             + (args.scaling_n if "scaling" in args.parts else []))
    notes: list[str] = []
    if args.engine == "exact":
        notes.append("fieldfit engine 'exact': a development run; m and the ordering do not "
                     "apply to fieldfit's columns")
    sections = []
    t_start = time.perf_counter()
    with threadpool_limits(limits=args.threads), settings(progress=False):
        checks, w = check_conventions(args, any(n > args.dense_max for n in sizes))
        notes += w
        warm_up(args.engine, args.m, args.ordering, args)
        for part, title, func in (
                ("accuracy", "Accuracy: log-likelihood against the exact one", accuracy),
                ("compare", "fieldfit vs GPBoost: time", compare),
                ("scaling", "fieldfit scaling in n: time and memory", scaling)):
            if part in args.parts:
                text, w = func(args, data)
                sections += [f"## {title}", text]
                notes += w
    elapsed = time.perf_counter() - t_start
    info.append(["load average at end", load_average()])
    info.append(["total run time", f"{elapsed:.0f} s"])

    engine_call = (f"get_engine({args.engine!r})" if args.engine == "exact" else
                   f"get_engine({args.engine!r}, neighbours=m, ordering={args.ordering!r})")
    model_line = (
        "Model: y = μ + Z + ε on n points uniform in [0, 1]², Matérn ν = 3/2, float64, seed "
        f"{args.seed}; data simulated at " + ", ".join(f"{k} = {v:g}" for k, v in TRUTH.items())
        + f". fieldfit: `GaussianField(Matern(smoothness=1.5), mean=\"constant\", nugget=True, "
        f"engine={engine_call})`. "
        "GPBoost: `GPModel(gp_coords=X, cov_function=\"matern\", cov_fct_shape=1.5, "
        f"gp_approx=\"vecchia\", num_neighbors=m, vecchia_ordering={args.gpb_ordering!r})`, "
        "an intercept as fixed effect.")
    param_table = md_table(
        ["", "fieldfit", "GPBoost", "GSTools (simulation)"],
        [["σ²", "`variance`", "`GP_var` (cov_pars[1])", "`var`"],
         ["ℓ", "`range`", "`GP_range` ρ = ℓ√3 (cov_pars[2])", "`len_scale` = ℓ√ν = ℓ√1.5"],
         ["τ²", "`nugget`", "`Error_term` (cov_pars[0])", "(added as N(0, τ²) noise)"],
         ["μ", "`mean` (profiled by GLS)", "coefficient of X = 1", "(added)"],
         ["ℓ(θ)", "`model.log_likelihood`", "−`neg_log_likelihood` (full, with ½n log 2π)",
          ""]])
    parts = [
        "# Vecchia likelihood: fieldfit vs GPBoost",
        md_table(["", ""], info),
        *([busy] if busy else []),
        model_line,
        "Parametrisations (GPBoost's Matérn: Rasmussen & Williams, distance scaled by √(2ν)/ρ; "
        "GSTools': by √ν/len_scale):\n\n" + param_table,
        "## Checks of the conventions (before any timing)",
        md_table(["check", "result", ""], checks),
        "Simulated data sets:\n\n" + md_table(["n", "simulation", "seconds"], data.log()),
        *sections,
    ]
    if notes:
        parts += ["## Notes and warnings", "\n".join(f"- {m}" for m in notes)]
    report = "\n\n".join(parts) + "\n"
    print(report)
    write_atomic(args.out, report.encode("utf-8"))
    LOG(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
