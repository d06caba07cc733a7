#!/usr/bin/env python
"""Benchmark: the SPDE engine's log-likelihood + full gradient against the number of mesh nodes,
and the cost of the gradient of a nonstationary model with many weights.

Model: y = μ + A x + ε, x the Matérn SPDE field (α = 2, ν = 1) on a regular grid mesh of
N = k² nodes over [0, 1]², n = N/2 observations at uniform points; the likelihood through
K (log|Q|, :meth:`MaternSPDE.precision_and_logdet`) and Q + AᵀA/τ²
(``fieldfit.likelihood.gmrf.GMRFEngine``), as ``SPDEField`` evaluates it; its gradient by the
selected inverses (``fieldfit.gmrf``). Sparse Cholesky grows as O(N^1.5) for 2-D meshes (nested
dissection), and so should the whole evaluation.

Parts:

1. ``scaling``: seconds for ℓ alone (no graph) and for ℓ + ∇ℓ (σ², ℓ, τ², plus the GLS mean),
   median of ``--repeats``, at N in ``--nodes``; the fitted exponent of time against N.
2. ``weights``: κ(x) and τ(x) as radial-basis fields with ``--weights`` weights in all
   (on a k × k grid of centres each), ℓ + ∇ℓ against ℓ alone (target ≤ 3×).
3. ``fractional``: ℓ + ∇ℓ of the fractional order (ν = 1/2, estimated: its gradient included,
   :class:`~fieldfit.spde.fractional.FractionalMaternSPDE`, rational orders m in
   ``--rational-orders``) against the integer order α = 2 on the same mesh and data, at N in
   ``--fractional-nodes`` (target ≤ 3×); with ``gstlearn`` in the same run for the peer.
4. ``gstlearn``: gstlearn's ``logLikelihoodSPDE`` (Cholesky mode) on the same mesh (passed as
   a ``MeshEStandard`` with the same nodes and triangles), the same data and parameters, in the
   same run, at N in ``--gstlearn-nodes``: the two log-likelihoods must agree to rounding, and
   the table gives seconds per evaluation. gstlearn rebuilds its operators at each call (its
   API has no reusable state across parameter values), so fieldfit is timed both warm (the
   engine built once, as in a fit) and cold (engine construction included).

    .venv/bin/python benchmarks/spde.py                    # N = 10³ … 2.5·10⁵
    .venv/bin/python benchmarks/spde.py --large            # adds N = 10⁶
    .venv/bin/python benchmarks/spde.py --quick            # smoke run
    .venv/bin/python benchmarks/spde.py --parts gstlearn   # only the peer comparison
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import busy_share, fmt_s, machine_info, md_table  # noqa: E402

from fieldfit.gmrf import Pattern  # noqa: E402
from fieldfit.io import write_atomic  # noqa: E402
from fieldfit.likelihood.gmrf import GMRFEngine  # noqa: E402
from fieldfit.params import ParamSpace  # noqa: E402
from fieldfit.settings import one_thread  # noqa: E402
from fieldfit.spde import Mesh  # noqa: E402
from fieldfit.spde.fields import RadialBasisField  # noqa: E402
from fieldfit.spde.fractional import FractionalMaternSPDE  # noqa: E402
from fieldfit.spde.matern import MaternSPDE  # noqa: E402

T = torch.float64


def _problem(N: int, seed: int, kappa_field=None, tau_field=None):
    k = int(round(math.sqrt(N)))
    x = np.linspace(0.0, 1.0, k)
    mesh = Mesh.grid(x, x)
    spde = MaternSPDE(mesh, alpha=2, kappa_field=kappa_field, tau_field=tau_field)
    rng = np.random.default_rng(seed)
    pts = rng.random((mesh.n_nodes // 2, 2))
    engine = GMRFEngine(Pattern(spde.indptr, spde.indices, spde.n), mesh.projector(pts))
    y = torch.from_numpy(rng.standard_normal((1, len(pts))) + 1.0)
    X = torch.ones(len(pts), 1, dtype=T)
    return mesh, spde, engine, y, X


def _evaluate(spde, engine, y, X, p, grad: bool):
    t0 = time.perf_counter()
    if grad:
        leaves = {k: v.clone().requires_grad_() for k, v in p.items()}
        q, logdet = spde.precision_and_logdet(leaves)
        ll = engine.log_likelihood(q, leaves["nugget"], y, X, logdet_q=logdet)
        torch.autograd.grad(ll, list(leaves.values()))
    else:
        with torch.no_grad():
            q, logdet = spde.precision_and_logdet(p)
            engine.log_likelihood(q, p["nugget"], y, X, logdet_q=logdet)
    return time.perf_counter() - t0


def scaling(args) -> str:
    rows, pts = [], []
    for N in args.nodes:
        t0 = time.perf_counter()
        mesh, spde, engine, y, X = _problem(N, args.seed)
        setup = time.perf_counter() - t0
        p = {k: torch.tensor(v, dtype=T) for k, v in
             {"variance": 1.0, "range": 0.1, "nugget": 0.1}.items()}
        _evaluate(spde, engine, y, X, p, True)  # warm-up (numba, analyses)
        ll = statistics.median(_evaluate(spde, engine, y, X, p, False)
                               for _ in range(args.repeats))
        g = statistics.median(_evaluate(spde, engine, y, X, p, True) for _ in range(args.repeats))
        rows.append([f"{mesh.n_nodes:,}", f"{spde.nnz:,}", f"{len(y[0]):,}", fmt_s(setup),
                     fmt_s(ll), fmt_s(g), f"{g / ll:.2f}"])
        pts.append((mesh.n_nodes, g))
        print(f"N = {mesh.n_nodes}: setup {setup:.2f} s, ℓ {ll:.3f} s, ℓ+∇ℓ {g:.3f} s",
              flush=True)
    text = md_table(["mesh nodes N", "nnz(Q)", "observations", "setup (s)", "ℓ (s)",
                     "ℓ + ∇ℓ (s)", "ratio"], rows)
    if len(pts) >= 3:
        big = [(n, t) for n, t in pts if n >= 10_000]
        big = big if len(big) >= 2 else pts
        slope = np.polyfit(np.log([n for n, _ in big]), np.log([t for _, t in big]), 1)[0]
        text += f"\n\nFitted exponent of ℓ + ∇ℓ time in N (N ≥ 10⁴): **{slope:.2f}**."
    return text


def weights(args) -> str:
    k = max(2, int(round(math.sqrt(args.weights / 2))))
    kf = RadialBasisField.grid("kappa", (0, 1, 0, 1), (k, k), value=10.0)
    tf = RadialBasisField.grid("tau", (0, 1, 0, 1), (k, k), value=1.0)
    mesh, spde, engine, y, X = _problem(args.weights_nodes, args.seed, kf, tf)
    space = ParamSpace([*spde.param_specs(), *[]])
    rng = np.random.default_rng(1)
    base = {n: torch.tensor(float(v), dtype=T) for n, v in space.natural().items()}
    for n in kf.weight_names() + tf.weight_names():
        base[n] = torch.tensor(0.1 * rng.standard_normal(), dtype=T)
    base["nugget"] = torch.tensor(0.1, dtype=T)
    _evaluate(spde, engine, y, X, base, True)
    ll = statistics.median(_evaluate(spde, engine, y, X, base, False) for _ in range(args.repeats))
    g = statistics.median(_evaluate(spde, engine, y, X, base, True) for _ in range(args.repeats))
    n_w = 2 * k * k
    print(f"{n_w} weights, N = {mesh.n_nodes}: ℓ {ll:.3f} s, ℓ+∇ℓ {g:.3f} s", flush=True)
    return md_table(["mesh nodes", "weights (κ and τ fields)", "parameters", "ℓ (s)",
                     "ℓ + ∇ℓ (s)", "ratio (target ≤ 3)"],
                    [[f"{mesh.n_nodes:,}", n_w, len(base), fmt_s(ll), fmt_s(g),
                      f"**{g / ll:.2f}**"]])


def fractional(args) -> str:
    rows = []
    for N in args.fractional_nodes:
        mesh, spde, engine, y, X = _problem(N, args.seed)
        base = {k: torch.tensor(v, dtype=T) for k, v in
                {"variance": 1.0, "range": 0.1, "nugget": 0.1}.items()}
        _evaluate(spde, engine, y, X, base, True)
        t_int = statistics.median(_evaluate(spde, engine, y, X, base, True)
                                  for _ in range(args.repeats))
        rows.append([f"{mesh.n_nodes:,}", "integer α = 2 (ν = 1 fixed)", f"{spde.n:,}",
                     fmt_s(t_int), "1.00"])
        print(f"N = {mesh.n_nodes}: integer ℓ+∇ℓ {t_int:.3f} s", flush=True)
        rng = np.random.default_rng(args.seed)
        pts = rng.random((mesh.n_nodes // 2, 2))
        A = mesh.projector(pts)
        for m in args.rational_orders:
            frac = FractionalMaternSPDE(mesh, 0.5, order=m)
            eng = GMRFEngine(Pattern(frac.indptr, frac.indices, frac.n), frac.sum_projector(A))
            p = {**base, "smoothness": torch.tensor(0.5, dtype=T)}
            _evaluate(frac, eng, y, X, p, True)
            t = statistics.median(_evaluate(frac, eng, y, X, p, True)
                                  for _ in range(args.repeats))
            rows.append([f"{mesh.n_nodes:,}", f"fractional ν = 1/2 estimated, m = {m}",
                         f"{frac.n:,}", fmt_s(t), f"**{t / t_int:.2f}**"])
            print(f"N = {mesh.n_nodes}: fractional m = {m} ℓ+∇ℓ {t:.3f} s "
                  f"({t / t_int:.2f}×)", flush=True)
    return md_table(["mesh nodes N", "model", "latent size", "ℓ + ∇ℓ (s)",
                     "ratio to integer (target ≤ 3)"], rows) + (
        "\n\nThe same data (N/2 uniform points) and parameters (σ² = 1, range 0.1, nugget "
        f"0.1); medians of {args.repeats} evaluations after a warm-up; the fractional "
        "gradient includes ν's.")


def gstlearn(args) -> str:
    try:
        import gstlearn as gl

        from fieldfit.spde.gstlearn import gstlearn_log_likelihood
    except ImportError:
        return "gstlearn is not installed (`pip install -e .[bench]`): comparison skipped."
    p = {"variance": 1.0, "range": 0.1, "nugget": 0.1}
    pt = {k: torch.tensor(v, dtype=T) for k, v in p.items()}
    rows, own_note = [], ""
    for N in args.gstlearn_nodes:
        k = int(round(math.sqrt(N)))
        x = np.linspace(0.0, 1.0, k)
        mesh = Mesh.grid(x, x)
        rng = np.random.default_rng(args.seed)
        pts = rng.random((mesh.n_nodes // 2, 2))
        yv = rng.standard_normal(len(pts))
        y = torch.from_numpy(yv[None, :])

        def cold(mesh=mesh, pts=pts, y=y):
            spde = MaternSPDE(mesh, alpha=2)
            engine = GMRFEngine(Pattern(spde.indptr, spde.indices, spde.n), mesh.projector(pts))
            with torch.no_grad():
                q, logdet = spde.precision_and_logdet(pt)
                return spde, engine, float(engine.log_likelihood(q, pt["nugget"], y,
                                                                 logdet_q=logdet))

        t0 = time.perf_counter()
        spde, engine, ll_ff = cold()
        t_cold = time.perf_counter() - t0
        # fieldfit timed first: gstlearn's OpenMP threads may keep spinning after its calls
        t_warm = statistics.median(_evaluate(spde, engine, y, None, pt, False)
                                   for _ in range(args.repeats))
        t_grad = statistics.median(_evaluate(spde, engine, y, None, pt, True)
                                   for _ in range(args.repeats))
        with one_thread():  # gstlearn's Cholesky runs on one thread (CPU time = wall time)
            t_one = statistics.median(_evaluate(spde, engine, y, None, pt, False)
                                      for _ in range(args.repeats))
        loglik = gstlearn_log_likelihood(mesh, pts, yv, p)
        if N == min(args.gstlearn_nodes) and N <= 10_000:
            own = gstlearn_log_likelihood(mesh, pts, yv, p, own_projector=True)
            t0 = time.perf_counter()
            own()
            own_note = (f" With gstlearn building its own projector from the Db and the mesh "
                        f"(point location in a `MeshEStandard`), one evaluation at N = "
                        f"{mesh.n_nodes:,} took {time.perf_counter() - t0:.1f} s; the table "
                        "passes it fieldfit's projector (a `ProjMultiMatrix`) instead.")
        t_gl, ll_gl = [], None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            ll_gl = loglik()
            t_gl.append(time.perf_counter() - t0)
        t_gl = statistics.median(t_gl)
        rel = abs(ll_ff - ll_gl) / abs(ll_gl)
        rows.append([f"{mesh.n_nodes:,}", f"{len(pts):,}", f"{ll_ff:.6f}", f"{ll_gl:.6f}",
                     f"{rel:.1e}", fmt_s(t_gl), fmt_s(t_cold), fmt_s(t_warm), fmt_s(t_one),
                     fmt_s(t_grad), f"**{t_warm / t_gl:.2f}**", f"{t_one / t_gl:.2f}",
                     f"{t_grad / t_gl:.2f}"])
        print(f"N = {mesh.n_nodes}: gstlearn {t_gl:.3f} s (ℓ {ll_gl:.6f}), fieldfit cold "
              f"{t_cold:.3f} s, warm {t_warm:.3f} s, ℓ+∇ℓ {t_grad:.3f} s (ℓ {ll_ff:.6f})",
              flush=True)
    return md_table(["mesh nodes N", "observations", "ℓ fieldfit", "ℓ gstlearn", "rel. diff.",
                     "gstlearn ℓ (s)", "fieldfit ℓ cold (s)", "fieldfit ℓ warm (s)",
                     "fieldfit ℓ warm, 1 thread (s)", "fieldfit ℓ + ∇ℓ (s)",
                     "ratio warm / gstlearn", "ratio 1 thread / gstlearn",
                     "ratio ℓ + ∇ℓ / gstlearn ℓ"], rows) + (
        f"\n\ngstlearn {gl.__version__}, `logLikelihoodSPDE(db, model, useCholesky=1, meshes)`; "
        "Matérn ν = 1 (α = 2), scale = range, plus nugget; no drift, so both compute the "
        "log-likelihood at a known mean 0. Medians of "
        f"{args.repeats} evaluations (gstlearn: each call rebuilds its operators and "
        "factorisations; fieldfit warm: the engine and CHOLMOD analyses reused, as in a fit)."
        + own_note)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--nodes", type=int, nargs="+",
                    default=[1_000, 10_000, 40_000, 100_000, 250_000])
    ap.add_argument("--large", action="store_true", help="add N = 10⁶")
    ap.add_argument("--weights", type=int, default=200, help="weights of the κ and τ fields")
    ap.add_argument("--weights-nodes", type=int, default=40_000)
    ap.add_argument("--gstlearn-nodes", type=int, nargs="+",
                    default=[10_000, 40_000, 100_000, 250_000])
    ap.add_argument("--fractional-nodes", type=int, nargs="+", default=[10_000, 250_000])
    ap.add_argument("--rational-orders", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--parts", nargs="+", default=["scaling", "weights", "fractional",
                                                   "gstlearn"],
                    choices=["scaling", "weights", "fractional", "gstlearn"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=None,
                    help="report (default results/spde.md, or results/spde-PARTS.md when "
                         "only some parts run)")
    args = ap.parse_args(argv)
    if args.out is None:
        name = "spde" if len(set(args.parts)) == 4 else "spde-" + "-".join(args.parts)
        args.out = Path(__file__).parent / "results" / f"{name}.md"
    if args.large:
        args.nodes = [*args.nodes, 1_000_000]
    if args.quick:
        args.nodes, args.weights_nodes, args.repeats = [400, 2_500, 10_000], 2_500, 1
        args.gstlearn_nodes, args.fractional_nodes = [2_500], [2_500]
    torch.set_num_threads(args.threads)
    busy = busy_share()
    t0 = time.perf_counter()
    info = machine_info(args.threads, f"torch {torch.__version__}", "torch.set_num_threads; "
                        "CHOLMOD through OpenBLAS")
    info.append(["CPUs busy with other work at start", "?" if busy is None
                 else f"{100 * busy:.0f} %"])
    text = "# SPDE engine: log-likelihood and gradient\n\n" + md_table(["", ""], info)
    if "scaling" in args.parts:
        text += "\n\n## Scaling in the number of mesh nodes\n\n" + scaling(args)
    if "weights" in args.parts:
        text += "\n\n## Gradient of a nonstationary model\n\n" + weights(args)
    if "fractional" in args.parts:
        text += "\n\n## Fractional smoothness (rational approximation)\n\n" + fractional(args)
    if "gstlearn" in args.parts:
        text += ("\n\n## Against gstlearn's logLikelihoodSPDE (same mesh, data, parameters)\n\n"
                 + gstlearn(args))
    text += f"\n\nTotal run time {time.perf_counter() - t0:.0f} s.\n"
    write_atomic(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
