#!/usr/bin/env python
"""Benchmark: fieldfit's exact Gaussian likelihood against gpytorch and scikit-learn.

One model, three implementations, the same simulated data in the same run:

    y(x) = μ + Z(x) + ε(x),   Z ~ GP(0, σ² ρ_{3/2}(h/ℓ)),   ε ~ N(0, τ²),   x uniform on [0, 1]²

fieldfit's Matérn has range ℓ without the √(2ν) factor; gpytorch's ``MaternKernel`` and
scikit-learn's ``Matern`` scale the distance by √(2ν)/lengthscale, so their lengthscale is
ℓ·√3 at ν = 3/2. Everything is float64 on ``--threads`` CPU threads (default 2).

1. Agreement (before any timing, at every n): fieldfit's log-likelihood and its gradient in
   (σ², ℓ, τ², μ) against gpytorch's ``ExactMarginalLogLikelihood`` (× n: gpytorch divides by
   n) with exact Cholesky, and against scikit-learn's ``log_marginal_likelihood`` (zero mean,
   fitted to y − μ). A relative difference above ``--rtol`` aborts the run.
2. Per evaluation: log-likelihood + gradient by backward, median of ``--repeats`` after a warm-up,
   the implementations interleaved. gpytorch twice: with its default settings (above
   ``max_cholesky_size`` = 800 points it uses preconditioned CG for the solves and stochastic
   Lanczos quadrature for the log-determinant, an approximation) and with
   ``gpytorch.settings.max_cholesky_size(10**6)`` (exact Cholesky).
3. Full fit at ``--fit-n``: ``fieldfit.fit`` (ν = 3/2; L-BFGS + Newton polish + standard errors,
   and without standard errors) against ``GaussianProcessRegressor`` (ConstantKernel · Matern
   + WhiteKernel, ``normalize_y=True``, as many restarts as fieldfit, the same start), then
   ``fieldfit.fit`` with ν estimated (target: under 20 s at n = 2000 on 2 cores).

The markdown report goes to stdout and, written atomically, to ``--out``.

    .venv/bin/python benchmarks/exact_gp.py              # n = 1000, 2000, 4000; fits at 2000
    .venv/bin/python benchmarks/exact_gp.py --quick      # smoke run at n = 300
    .venv/bin/python benchmarks/exact_gp.py --n 1000 2000 --repeats 7 --fit-n 1000
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

try:
    import gpytorch
    import linear_operator
    import sklearn
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, WhiteKernel
    from sklearn.gaussian_process.kernels import Matern as SkMatern
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm
except ImportError as e:  # pragma: no cover
    sys.exit(f"benchmarks/exact_gp.py needs the benchmark extras ({e}): "
             "pip install -e '.[bench]'")

from _common import busy_share, busy_warning, fmt_s, load_average, machine_info, md_table, rel

import fieldfit
from fieldfit import GaussianField, Matern, Observations, fit
from fieldfit.io import write_atomic

DTYPE = torch.float64
NU = 1.5
SQRT3 = math.sqrt(3.0)  # √(2ν): gpytorch / scikit-learn lengthscale = ℓ·√3
NAMES = ("variance", "range", "nugget", "mean")
TRUTH = {"variance": 1.0, "range": 0.1, "nugget": 0.1, "mean": 1.0}  # simulated data
POINT = {"variance": 0.8, "range": 0.08, "nugget": 0.15, "mean": 0.9}  # where ℓ, ∇ℓ are timed
GPYTORCH_CHOLESKY_DEFAULT = 800  # gpytorch.settings.max_cholesky_size's default
HERE = Path(__file__).resolve().parent


# --- data ------------------------------------------------------------------------------------
def simulate(n: int, seed: int) -> Observations:
    """n points uniform on the unit square and one draw of the model at TRUTH (ν = 3/2)."""
    rng = np.random.default_rng(seed)
    coords = rng.uniform(size=(n, 2))
    model = GaussianField(Matern(smoothness=NU), mean="constant")
    y = model.simulate(coords, {**TRUTH, "smoothness": NU}, seed=seed)[0]
    return Observations(coords, y)


# --- the three implementations -----------------------------------------------------------------
class FieldfitEval:
    """ℓ and ∇ℓ by fieldfit; the constant mean a parameter (as gpytorch's) or profiled out."""

    def __init__(self, obs: Observations, point: dict, profile_mean: bool = False):
        self.model = GaussianField(Matern(smoothness=NU), mean="constant",
                                   profile_mean=profile_mean)
        self.obs = obs
        self.point = {k: v for k, v in point.items() if not (profile_mean and k == "mean")}

    def __call__(self) -> tuple[float, dict[str, float]]:
        p = {k: torch.tensor(v, dtype=DTYPE, requires_grad=True) for k, v in self.point.items()}
        ll = self.model.log_likelihood(self.obs, {**p, "smoothness": torch.tensor(NU, dtype=DTYPE)})
        ll.backward()
        return float(ll.detach()), {k: float(t.grad) for k, t in p.items()}


class _ExactGP(gpytorch.models.ExactGP):
    def __init__(self, x, y, likelihood):
        super().__init__(x, y, likelihood)
        self.mean_module = gpytorch.means.ConstantMean()
        self.covar_module = gpytorch.kernels.ScaleKernel(gpytorch.kernels.MaternKernel(nu=NU))

    def forward(self, x):
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


def _dnatural_draw(module: torch.nn.Module, raw_name: str) -> float:
    """d(natural value)/d(raw parameter) through gpytorch's constraint transform."""
    raw = getattr(module, raw_name).detach().clone().requires_grad_(True)
    constraint = module.constraint_for_parameter_name(raw_name)
    if constraint is None:
        return 1.0
    (d,) = torch.autograd.grad(constraint.transform(raw).sum(), raw)
    return float(d.sum())


class GpytorchEval:
    """−mll(output, y)·n and backward: ExactGP, ScaleKernel(Matern 3/2), Gaussian likelihood."""

    def __init__(self, obs: Observations, point: dict, exact: bool):
        self.x = torch.as_tensor(obs.coords, dtype=DTYPE)
        self.y = torch.as_tensor(obs.values, dtype=DTYPE)
        self.n = len(self.y)
        likelihood = gpytorch.likelihoods.GaussianLikelihood().to(DTYPE)
        m = _ExactGP(self.x, self.y, likelihood).to(DTYPE)
        # float64 tensors: a Python float would go through gpytorch's inverse transforms in
        # float32 and set the parameters only to ~1e-8 relative
        as64 = lambda v: torch.tensor(v, dtype=DTYPE)  # noqa: E731
        m.covar_module.outputscale = as64(point["variance"])
        m.covar_module.base_kernel.lengthscale = as64(point["range"] * SQRT3)
        m.likelihood.noise = as64(point["nugget"])
        m.mean_module.constant = as64(point["mean"])
        m.train()
        self.model = m
        self.mll = gpytorch.mlls.ExactMarginalLogLikelihood(m.likelihood, m)
        self.exact = exact
        # natural parameter -> (module, raw parameter, d natural/d raw · d gpytorch/d fieldfit)
        self.raw = {
            "variance": (m.covar_module, "raw_outputscale", 1.0),
            "range": (m.covar_module.base_kernel, "raw_lengthscale", SQRT3),
            "nugget": (m.likelihood.noise_covar, "raw_noise", 1.0),
            "mean": (m.mean_module, "raw_constant", 1.0),
        }
        self.dnat = {k: _dnatural_draw(mod, name) for k, (mod, name, _) in self.raw.items()}
        self.warnings: set[str] = set()

    def __call__(self) -> tuple[float, dict[str, float]]:
        self.model.zero_grad(set_to_none=True)
        ctx = (gpytorch.settings.max_cholesky_size(10**6) if self.exact
               else contextlib.nullcontext())
        with ctx, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loss = -self.mll(self.model(self.x), self.y) * self.n
            loss.backward()
        self.warnings.update(f"{w.category.__name__}: {str(w.message)[:120]}" for w in caught)
        grads = {}
        for k, (mod, name, scale) in self.raw.items():
            g = getattr(mod, name).grad
            # ∂(−loss)/∂θ_fieldfit = −∂loss/∂raw / (dθ_gp/draw) · dθ_gp/dθ_fieldfit
            grads[k] = -float(g.sum()) / self.dnat[k] * scale
        return -float(loss.detach()), grads


def sklearn_loglik(obs: Observations, point: dict) -> tuple[float, dict[str, float]]:
    """scikit-learn's log marginal likelihood of y − μ (zero mean) and its gradient."""
    kernel = (ConstantKernel(point["variance"])
              * SkMatern(length_scale=point["range"] * SQRT3, nu=NU)
              + WhiteKernel(point["nugget"]))
    gpr = GaussianProcessRegressor(kernel, optimizer=None, normalize_y=False)
    gpr.fit(obs.coords, obs.values - point["mean"])
    lml, grad = gpr.log_marginal_likelihood(gpr.kernel_.theta, eval_gradient=True)
    # θ = log(σ², ℓ√3, τ²): ∂/∂θ_k = (∂/∂ log θ_k) / θ_k  (and ∂ log(ℓ√3)/∂ℓ = 1/ℓ)
    return float(lml), {"variance": grad[0] / point["variance"], "range": grad[1] / point["range"],
                        "nugget": grad[2] / point["nugget"]}


class _CountingGPR(GaussianProcessRegressor):
    """GaussianProcessRegressor that counts its log-likelihood evaluations and records the
    optimum of each start; the optimisation itself is scikit-learn's own."""

    def log_marginal_likelihood(self, theta=None, eval_gradient=False, clone_kernel=True):
        self.n_evaluations_ = getattr(self, "n_evaluations_", 0) + 1
        return super().log_marginal_likelihood(theta, eval_gradient, clone_kernel)

    def _constrained_optimization(self, obj_func, initial_theta, bounds):
        theta, f = super()._constrained_optimization(obj_func, initial_theta, bounds)
        self.start_optima_ = [*getattr(self, "start_optima_", []), -float(f)]
        return theta, f


# --- helpers ---------------------------------------------------------------------------------
def grad_rel(g: dict, ref: dict) -> float:
    """max_k |g_k − ref_k| / max_k |ref_k| over the names both have."""
    keys = [k for k in ref if k in g]
    return max(abs(g[k] - ref[k]) for k in keys) / max(max(abs(ref[k]) for k in keys), 1e-300)


def targets(medians: dict, free_wall: float | None, args) -> str:
    lines = []
    yes = lambda ratio: f"{'✅' if ratio >= 1 else '❌'} {ratio:.2f}"  # noqa: E731
    for n, med in medians.items():
        chol = med["gpytorch_cholesky"] / med["fieldfit"]
        default = med["gpytorch_default"] / med["fieldfit"]
        lines.append(f"- n = {n}: fieldfit no slower than gpytorch per evaluation "
                     f"(gpytorch / fieldfit ≥ 1): Cholesky {yes(chol)}, defaults {yes(default)}")
    if free_wall is not None:
        verdict = ("✅ yes" if free_wall < 20 else "❌ no") if args.fit_n == 2000 else "n/a"
        lines.append(f"- full MLE with ν estimated at n = 2000 under 20 s on 2 cores: {verdict} "
                     f"({free_wall:.1f} s at n = {args.fit_n}, {args.threads} threads)")
    return "\n".join(lines)


# --- the benchmark ---------------------------------------------------------------------------
def agreement_and_timing(n: int, args, bar, log) -> tuple[list, list, list[str], dict]:
    obs = simulate(n, args.seed)
    impls: dict[str, Callable] = {
        "fieldfit": FieldfitEval(obs, POINT),
        "fieldfit_profiled": FieldfitEval(obs, POINT, profile_mean=True),
        "gpytorch_default": GpytorchEval(obs, POINT, exact=False),
        "gpytorch_cholesky": GpytorchEval(obs, POINT, exact=True),
    }
    # agreement, before timing (these calls are also the warm-up)
    out = {k: f() for k, f in impls.items()}
    bar.update(1)
    ll_ff, g_ff = out["fieldfit"]
    ll_gp, g_gp = out["gpytorch_cholesky"]
    ll_sk, g_sk = sklearn_loglik(obs, POINT)
    ll_gd, _ = out["gpytorch_default"]
    checks = {
        "ℓ gpytorch (Cholesky)": rel(ll_ff, ll_gp), "∇ℓ gpytorch (Cholesky)": grad_rel(g_ff, g_gp),
        "ℓ scikit-learn": rel(ll_ff, ll_sk), "∇ℓ scikit-learn": grad_rel(g_ff, g_sk),
    }
    log(f"n = {n}: ℓ fieldfit {ll_ff:.10f} | gpytorch (Cholesky) {ll_gp:.10f} | "
        f"scikit-learn {ll_sk:.10f} | gpytorch default {ll_gd:.10f}")
    log("         relative differences: " + ", ".join(f"{k} {v:.1e}" for k, v in checks.items())
        + f"; gpytorch default vs exact {rel(ll_gd, ll_gp):.1e}")
    failed = [k for k, v in checks.items() if not v <= args.rtol]
    if failed:
        log(f"AGREEMENT CHECK FAILED at n = {n} (rtol {args.rtol:g}): {', '.join(failed)}\n"
            f"  fieldfit ∇ℓ {g_ff}\n  gpytorch ∇ℓ {g_gp}\n  scikit-learn ∇ℓ {g_sk}")
        raise SystemExit(1)
    agree_row = [n, f"{ll_ff:.6f}", f"{ll_gp:.6f}", f"{checks['ℓ gpytorch (Cholesky)']:.1e}",
                 f"{checks['∇ℓ gpytorch (Cholesky)']:.1e}", f"{ll_sk:.6f}",
                 f"{checks['ℓ scikit-learn']:.1e}", f"{checks['∇ℓ scikit-learn']:.1e}",
                 f"{ll_gd:.3f} ({rel(ll_gd, ll_gp):.1e})"]
    for _ in range(args.warmup - 1):
        for f in impls.values():
            f()
    times: dict[str, list[float]] = {k: [] for k in impls}
    for _ in range(args.repeats):  # interleaved, so that drifts of the machine hit all alike
        for k, f in impls.items():
            gc.collect()
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
        bar.update(1)
    med = {k: statistics.median(v) for k, v in times.items()}
    log(f"n = {n}: median s/eval " + ", ".join(f"{k} {v:.4f}" for k, v in med.items()))
    mode = "Cholesky" if n <= GPYTORCH_CHOLESKY_DEFAULT else "CG + Lanczos"
    time_row = [
        n, fmt_s(med["fieldfit"]), fmt_s(med["fieldfit_profiled"]),
        fmt_s(med["gpytorch_cholesky"]), f"**{med['gpytorch_cholesky'] / med['fieldfit']:.2f}**",
        f"{fmt_s(med['gpytorch_default'])} ({mode})",
        f"**{med['gpytorch_default'] / med['fieldfit']:.2f}**",
        f"{min(times['fieldfit']):.3f}–{max(times['fieldfit']):.3f}",
    ]
    notes = sorted(impls["gpytorch_default"].warnings | impls["gpytorch_cholesky"].warnings)
    return agree_row, time_row, [f"n = {n}: {w}" for w in notes], med


def _fieldfit_fit(model, obs, restarts, stderr=True):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        res = fit(model, obs, restarts=restarts, stderr=stderr)
        wall = time.perf_counter() - t0
    return res, wall, sorted({str(w.message)[:200] for w in caught})


def full_fits(args, bar, log) -> tuple[str, list[str], float]:
    n, R = args.fit_n, args.restarts
    obs = simulate(n, args.seed)
    y = obs.values
    ybar, s = float(y.mean()), float(y.std())
    notes: list[str] = []
    fixed_model = GaussianField(Matern(smoothness=NU), mean="constant")
    profile_ll = lambda p: float(  # noqa: E731  fieldfit's profile ℓ (GLS mean) at p
        fixed_model.log_likelihood(obs, {**p, "smoothness": NU}).detach())

    ff, ff_wall, w = _fieldfit_fit(fixed_model, obs, R)
    notes += [f"fieldfit ν = 3/2: {m}" for m in w]
    bar.update(1)
    log(f"fit n = {n}: fieldfit ν = 3/2 {ff_wall:.2f} s, ℓ {ff.loglik:.4f}, {ff.evaluations} evals")
    ff_nose, ff_nose_wall, w = _fieldfit_fit(fixed_model, obs, R, stderr=False)
    notes += [f"fieldfit ν = 3/2 (no SEs): {m}" for m in w]
    bar.update(1)
    log(f"fit n = {n}: fieldfit ν = 3/2 without SEs {ff_nose_wall:.2f} s")

    # scikit-learn from fieldfit's data-driven start, in its normalised units
    start = fixed_model.initial_values(obs)
    kernel = (ConstantKernel(start["variance"] / s**2)
              * SkMatern(length_scale=start["range"] * SQRT3, nu=NU)
              + WhiteKernel(start["nugget"] / s**2))
    gpr = _CountingGPR(kernel, n_restarts_optimizer=R, normalize_y=True, random_state=args.seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        gpr.fit(obs.coords, y)
        sk_wall = time.perf_counter() - t0
    notes += sorted({f"scikit-learn: {str(m.message)[:160]}" for m in caught})
    bar.update(1)
    c, ls, w_ = np.exp(gpr.kernel_.theta)
    sk = {"variance": s**2 * c, "range": ls / SQRT3, "nugget": s**2 * w_, "mean": ybar}
    # scikit-learn's ℓ is of (y − ȳ)/s: on the data's scale subtract n log s
    sk_ll = float(gpr.log_marginal_likelihood_value_) - n * math.log(s)
    sk_ll_ff = float(GaussianField(Matern(smoothness=NU), mean="constant", profile_mean=False)
                     .log_likelihood(obs, {**sk, "smoothness": NU}).detach())
    notes.append(f"scikit-learn's ℓ at its optimum, recomputed by fieldfit with μ = ȳ: "
                 f"{sk_ll_ff:.6f} (scikit-learn: {sk_ll:.6f}, relative difference "
                 f"{rel(sk_ll_ff, sk_ll):.1e})")
    log(f"fit n = {n}: scikit-learn {sk_wall:.2f} s, ℓ {sk_ll:.4f}, {gpr.n_evaluations_} evals")

    free, free_wall, w = _fieldfit_fit(GaussianField(Matern(), mean="constant"), obs, R)
    notes += [f"fieldfit ν estimated: {m}" for m in w]
    bar.update(1)
    log(f"fit n = {n}: fieldfit ν estimated {free_wall:.2f} s, ν = "
        f"{free.params['smoothness']:.3f}, {free.evaluations} evals")

    def est(res, k):
        v, se = res.params.get(k), res.stderr.get(k)
        if v is None:
            return "—"
        return f"{v:.4g}" + (f" ± {se:.2g}" if se is not None else "")

    cols = [("fieldfit ν = 3/2", ff, ff_wall), ("fieldfit ν = 3/2, no SEs", ff_nose, ff_nose_wall),
            ("fieldfit ν estimated", free, free_wall)]
    headers = ["", "truth", *[c[0] for c in cols[:2]], "scikit-learn GPR", cols[2][0]]

    def row(label, truth, f, sk_cell):
        return [label, truth, f(cols[0][1]), f(cols[1][1]), sk_cell, f(cols[2][1])]

    rows = [
        ["wall time (s)", "", fmt_s(ff_wall), fmt_s(ff_nose_wall), fmt_s(sk_wall),
         fmt_s(free_wall) + (f" ({'✅' if free_wall < 20 else '❌'} target < 20 s)"
                             if n == 2000 else "")],
        row("likelihood evaluations", "", lambda r: str(r.evaluations), str(gpr.n_evaluations_)),
        row("L-BFGS iterations (best start)", "", lambda r: str(r.iterations), "—"),
        row("ℓ at own optimum", "", lambda r: f"{r.loglik:.4f}", f"{sk_ll:.4f} (μ = ȳ)"),
        row("fieldfit profile ℓ at the estimate", f"{profile_ll(TRUTH):.4f}",
            lambda r: f"{r.loglik:.4f}", f"{profile_ll(sk):.4f}"),
    ]
    for k, label in [("variance", "σ²"), ("range", "ℓ"), ("nugget", "τ²"), ("mean", "μ")]:
        rows.append(row(f"{label} ({k})", f"{TRUTH[k]:g}", lambda r, k=k: est(r, k),
                        f"{sk[k]:.4g}" + (" (ȳ)" if k == "mean" else "")))
    rows.append(["ν (smoothness)", f"{NU:g}", "1.5 (fixed)", "1.5 (fixed)", "1.5 (fixed)",
                 est(free, "smoothness")])
    rows.append(row("converged", "", lambda r: str(r.converged), "—"))
    sk_starts = [v - n * math.log(s) for v in getattr(gpr, "start_optima_", [])]
    rows.append(row("ℓ reached from each start", "",
                    lambda r: ", ".join(f"{v:.2f}" for v in r.restarts),
                    ", ".join(f"{v:.2f}" for v in sk_starts) or "—"))
    ratio = sk_wall / ff_wall
    text = (f"Full maximum-likelihood fit at n = {n}, {R} restarts besides the start "
            f"(fieldfit: its range/nugget-share starts; scikit-learn: log-uniform in its bounds, "
            f"random_state = {args.seed}). scikit-learn / fieldfit wall time: **{ratio:.2f}** "
            f"(with SEs), **{sk_wall / ff_nose_wall:.2f}** (fieldfit without SEs).\n\n"
            + md_table(headers, rows))
    return text, notes, free_wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="fieldfit's exact likelihood vs gpytorch and scikit-learn",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 2000, 4000],
                    help="sample sizes of the per-evaluation timing")
    ap.add_argument("--repeats", type=int, default=5, help="timed evaluations per n (median)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="untimed evaluations first (the agreement check is the first)")
    ap.add_argument("--fit-n", type=int, default=2000, help="sample size of the full fits")
    ap.add_argument("--restarts", type=int, default=2,
                    help="fieldfit's restarts = scikit-learn's n_restarts_optimizer")
    ap.add_argument("--no-fit", action="store_true", help="skip the full fits")
    ap.add_argument("--seed", type=int, default=2024, help="seed of points, data and restarts")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for torch and BLAS")
    ap.add_argument("--rtol", type=float, default=1e-6,
                    help="largest relative disagreement of ℓ and ∇ℓ accepted before timing")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: n = 300, 3 repeats, fits at n = 300")
    ap.add_argument("--out", type=Path, default=None,
                    help="results file (default benchmarks/results/exact_gp.md, "
                         "exact_gp_quick.md with --quick)")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.repeats, args.fit_n = [300], min(args.repeats, 3), 300
    if args.out is None:
        args.out = HERE / "results" / ("exact_gp_quick.md" if args.quick else "exact_gp.md")
    if min(args.n) < 10 or args.fit_n < 10 or args.repeats < 1 or args.warmup < 1:
        ap.error("n and fit-n must be at least 10, repeats and warmup at least 1")

    torch.set_num_threads(args.threads)
    info = machine_info(
        args.threads,
        f"fieldfit {fieldfit.__version__}, torch {torch.__version__}, gpytorch "
        f"{gpytorch.__version__}, linear_operator {linear_operator.__version__}, scikit-learn "
        f"{sklearn.__version__}, numpy {np.__version__}",
        "torch.set_num_threads, threadpoolctl for numpy/scipy")
    share = busy_share()
    info.append(["CPUs busy with other work at start (3 s sample)",
                 "?" if share is None else f"{100 * share:.0f} %"])
    busy = busy_warning(share)
    total = len(args.n) * (1 + args.repeats) + (0 if args.no_fit else 4)
    bar = tqdm(total=total, desc="exact_gp", unit="step", file=sys.stderr, disable=None)

    def log(msg: str) -> None:
        tqdm.write(msg, file=sys.stderr)

    agree, timing, notes, medians = [], [], [], {}
    t_start = time.perf_counter()
    with threadpool_limits(limits=args.threads), bar:
        for n in args.n:
            bar.set_description(f"n = {n}")
            a, t, w, medians[n] = agreement_and_timing(n, args, bar, log)
            agree.append(a)
            timing.append(t)
            notes += w
        fit_text, free_wall = "", None
        if not args.no_fit:
            bar.set_description(f"fits, n = {args.fit_n}")
            fit_text, w, free_wall = full_fits(args, bar, log)
            notes += w
    elapsed = time.perf_counter() - t_start

    info.append(["load average at end", load_average()])
    info.append(["total run time", f"{elapsed:.0f} s"])
    model_line = (
        f"Model: y = μ + Z + ε on n points uniform in [0, 1]², Matérn ν = 3/2 (fieldfit range ℓ; "
        f"gpytorch/scikit-learn lengthscale ℓ√3), float64, seed {args.seed}. Data simulated at "
        + ", ".join(f"{k} = {v:g}" for k, v in TRUTH.items()) + "; ℓ and ∇ℓ evaluated at "
        + ", ".join(f"{k} = {v:g}" for k, v in POINT.items()) + "."
    )
    parts = [
        "# Exact Gaussian likelihood: fieldfit vs gpytorch vs scikit-learn",
        md_table(["", ""], info),
        *([busy] if busy else []),
        model_line,
        "## Targets",
        targets(medians, free_wall, args),
        "## Agreement of the log-likelihood (before timing)",
        "Relative differences of ℓ, and max |Δ∂ℓ/∂θ| / max |∂ℓ/∂θ| over (σ², ℓ, τ², μ) "
        "(scikit-learn: over σ², ℓ, τ², fitted to y − μ with a zero mean). gpytorch's "
        "ExactMarginalLogLikelihood is multiplied by n. The last column is gpytorch with its "
        f"default settings (CG + stochastic Lanczos above n = {GPYTORCH_CHOLESKY_DEFAULT}) and its "
        "relative error.",
        md_table(["n", "ℓ fieldfit", "ℓ gpytorch (Cholesky)", "rel. diff", "∇ rel. diff",
                  "ℓ scikit-learn", "rel. diff", "∇ rel. diff", "ℓ gpytorch default (rel. err.)"],
                 agree),
        "## Log-likelihood + gradient, seconds per evaluation",
        f"Median of {args.repeats} after {args.warmup} warm-up evaluation(s), implementations "
        "interleaved; ratio = gpytorch / fieldfit (> 1: fieldfit faster). fieldfit: "
        "`model.log_likelihood(obs, params)` + `backward()`, the mean a parameter as in gpytorch; "
        "'profiled': the mean profiled out by GLS (what `fit` uses). gpytorch: `-mll(model(x), y) "
        "* n` + `backward()` in train mode; 'default' = gpytorch's default settings "
        f"(max_cholesky_size = {GPYTORCH_CHOLESKY_DEFAULT}: CG solves and stochastic Lanczos "
        "log-determinant above it), 'Cholesky' = `gpytorch.settings.max_cholesky_size(10**6)`.",
        md_table(["n", "fieldfit", "fieldfit (mean profiled)", "gpytorch Cholesky",
                  "ratio", "gpytorch default", "ratio", "fieldfit min–max"], timing),
    ]
    if fit_text:
        parts += ["## Full fit", fit_text]
    if notes:
        parts += ["## Notes and warnings", "\n".join(f"- {m}" for m in notes)]
    report = "\n\n".join(parts) + "\n"
    print(report)
    write_atomic(args.out, report.encode("utf-8"))
    log(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
