"""Discretisation of the advection–diffusion SPDE: the θ-scheme (Crank–Nicolson) precision
against a dense Lᵀ W L, its gradients, its exact stationary variance; the sub-stepped
likelihood (latent intermediate steps) against a dense marginal Gaussian density; the
automatic mesh from a pilot range; the discretisation check."""

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree
from scipy.stats import multivariate_normal

from ad_helpers import check_precision_gradients, params_at, small_mesh, space_time_gamma_fields
from fieldfit import Observations
from fieldfit.models.advection_diffusion_field import AdvectionDiffusionField
from fieldfit.spde import Mesh
from fieldfit.spde.advection_diffusion import AdvectionDiffusionSPDE

pytestmark = pytest.mark.usefixtures("one_torch_thread")

T = torch.float64




def _dense_theta(model, p):
    """Q = Lᵀ W L of the θ-scheme D x_k = M x_{k−1} + e_k, built densely: D = C̃ + θ(Δt/c)A,
    M = C̃ − (1 − θ)(Δt/c)A, A = K_α + B + S."""
    fem = model.fem
    N, Tn, th = model.n_space, model.n_times, model.theta
    H = model.H(p).detach().numpy()
    kappa, c, tau = (float(p[k]) for k in ("kappa", "c", "tau"))
    Ct = np.diag(fem.lumped_mass())
    Ci = np.linalg.inv(Ct)
    K = kappa**2 * Ct + fem.stiffness(H).toarray()
    A = K if model.alpha == 1 else K @ Ci @ K
    A = A + fem.advection(model.gamma(p).detach().numpy()).toarray()
    A = A + fem.to_csc(model._stabilization(model.gamma(p), model.H(p))
                       .detach().numpy()).toarray()
    D = Ct + th * model.dt / c * A
    M = Ct - (1 - th) * model.dt / c * A
    Qs = {0: Ct, 1: K, 2: K @ Ci @ K}[model.alpha_s]
    Sinv = c / (tau**2 * model.dt) * Ci @ Qs @ Ci
    Qinit = 2.0 / tau**2 * K
    for _ in range(model.alpha + model.alpha_s - 1):
        Qinit = Qinit @ Ci @ K
    L = np.zeros((N * Tn, N * Tn))
    W = np.zeros_like(L)
    L[:N, :N] = np.eye(N)
    W[:N, :N] = Qinit
    for k in range(1, Tn):
        s = slice(k * N, (k + 1) * N)
        L[s, s], L[s, (k - 1) * N:k * N], W[s, s] = D, -M, Sinv
    return L.T @ W @ L


@pytest.mark.parametrize("alpha,alpha_s,theta", [(1, 0, 0.5), (1, 1, 0.5), (1, 2, 0.5),
                                                 (2, 1, 0.5), (1, 1, 0.75)])
def test_theta_scheme_precision_and_logdet_equal_the_dense_scheme(alpha, alpha_s, theta):
    model = AdvectionDiffusionSPDE(small_mesh(), n_times=4, dt=0.5, alpha=alpha, alpha_s=alpha_s,
                                   anisotropic=True, theta=theta)
    p = params_at(model, gamma_x=0.8, gamma_y=-0.5, H_ratio=1.7, H_angle=0.4)
    Q_ref = _dense_theta(model, p)
    Q = model.precision(p).toarray()
    np.testing.assert_allclose(Q, Q_ref, rtol=1e-10, atol=1e-10 * np.abs(Q_ref).max())
    # the previous-state block is not C̃ any more: Q_{k,k−1} differs from implicit Euler's
    euler = AdvectionDiffusionSPDE(small_mesh(), n_times=4, dt=0.5, alpha=alpha, alpha_s=alpha_s,
                                   anisotropic=True).precision(p).toarray()
    N = model.n_space
    assert not np.allclose(Q[N:2 * N, :N], euler[N:2 * N, :N])
    _, ld = model.precision_and_logdet(p)
    sign, ref = np.linalg.slogdet(Q_ref)
    assert sign == 1
    np.testing.assert_allclose(float(ld), ref, rtol=1e-9)


def test_theta_scheme_gradients_against_finite_differences():
    model = AdvectionDiffusionSPDE(small_mesh(5), n_times=4, dt=0.5, alpha=1, alpha_s=1,
                                   anisotropic=True, gamma_fields=space_time_gamma_fields(),
                                   theta=0.5)
    check_precision_gradients(model)


def test_crank_nicolson_keeps_the_stationary_marginal_exactly():
    """Without advection, Crank–Nicolson's chain leaves N(0, Q_init⁻¹) invariant for every
    step length (the discrete Lyapunov equation of the midpoint rule is the continuous one):
    every time slice of Q⁻¹ is Q_init⁻¹. Implicit Euler's is not (its chain damps the fast
    modes more than the continuum does)."""
    N = None
    for theta, exact in ((0.5, True), (1.0, False)):
        model = AdvectionDiffusionSPDE(small_mesh(), n_times=5, dt=0.8, alpha=1, alpha_s=1,
                                       advection=False, theta=theta)
        p = params_at(model)
        N = model.n_space
        cov = np.linalg.inv(model.precision(p).toarray())
        last = cov[-N:, -N:]
        np.testing.assert_allclose(cov[:N, :N], last if exact else cov[:N, :N], rtol=1e-8)
        assert np.allclose(last, cov[:N, :N], rtol=1e-6) == exact


def test_theta_scheme_samples_have_covariance_q_inverse():
    model = AdvectionDiffusionSPDE(small_mesh(4), n_times=3, dt=0.5, alpha=1, alpha_s=1,
                                   theta=0.5)
    p = params_at(model, gamma_x=1.5, gamma_y=-0.7)
    x = model.sample(p, 20000, seed=1).reshape(20000, -1)
    cov = np.linalg.inv(model.precision(p).toarray())
    emp = np.cov(x.T)
    scale = np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    assert np.abs(emp - cov).max() / scale.max() < 0.05


def test_bad_theta_is_refused():
    with pytest.raises(ValueError, match="theta must be in"):
        AdvectionDiffusionSPDE(small_mesh(), n_times=3, theta=0.3)


# --- sub-stepping ---------------------------------------------------------------------------
TRUTH = dict(kappa=6.0, c=20.0, tau=30.0, gamma_x=8.0, gamma_y=-5.0, nugget=0.1)


def _station_data(n_st=8, n_t=3, seed=0, times_dt=0.1):
    rng = np.random.default_rng(seed)
    st = rng.random((n_st, 2))
    pts = np.column_stack([np.tile(st, (n_t, 1)), np.repeat(np.arange(n_t) * times_dt, n_st)])
    y = 1.0 + rng.standard_normal(len(pts))
    return Observations(coords=pts[:, :2], times=pts[:, 2], values=y)


@pytest.mark.parametrize("theta", [1.0, 0.5])
def test_substepped_likelihood_equals_the_dense_marginal_density(theta):
    """Two model steps per observation step: the states between observation times are
    latent. Dense reference: Q = LᵀWL of the fine chain (numpy), its inverse, the rows of the
    observed steps, the Gaussian density of y with the GLS mean (the profiled constant)."""
    mesh = Mesh.grid(np.linspace(-0.2, 1.2, 5), np.linspace(-0.2, 1.2, 5))
    obs = _station_data()
    model = AdvectionDiffusionField(mesh=mesh, substeps=2, theta=theta)
    t0, dt, n_t = model.time_grid(obs)
    assert (t0, n_t) == (0.0, 5) and dt == pytest.approx(0.05)
    spde = model.spde_for(obs)
    p = model._check({k: torch.tensor(v, dtype=T) for k, v in TRUTH.items()})
    Q = _dense_theta(spde, p)
    cov = np.linalg.inv(Q)
    N = spde.n_space
    As = mesh.projector(obs.coords).toarray()  # (n, N): barycentric in space
    step = np.rint(obs.times / dt).astype(int)  # observation time 0.1 j is model step 2 j
    assert set(step) == {0, 2, 4}
    A = np.zeros((obs.n, N * n_t))
    for i, k in enumerate(step):
        A[i, k * N:(k + 1) * N] = As[i]
    S = A @ cov @ A.T + TRUTH["nugget"] * np.eye(obs.n)
    one, y = np.ones(obs.n), obs.values
    Si = np.linalg.inv(S)
    beta = one @ Si @ y / (one @ Si @ one)
    ref = multivariate_normal(beta * one, S).logpdf(y)
    np.testing.assert_allclose(float(model.log_likelihood(obs, TRUTH)), ref, rtol=1e-9)
    # one step per observation step is a different model
    coarse = AdvectionDiffusionField(mesh=mesh, theta=theta)
    assert abs(float(coarse.log_likelihood(obs, TRUTH)) - ref) > 1e-3
    space = model.param_space(obs)
    u0 = space.pack(TRUTH)

    def f(u):
        return model.log_likelihood(obs, space.unpack(u))

    assert torch.autograd.gradcheck(f, (u0.clone().requires_grad_(),), eps=1e-6, atol=1e-5,
                                    rtol=1e-4)


def test_bad_substeps_and_theta_are_refused():
    with pytest.raises(ValueError, match="--substeps must be a positive integer"):
        AdvectionDiffusionField(substeps=0)
    with pytest.raises(ValueError, match="--substeps must be a positive integer"):
        AdvectionDiffusionField(substeps=1.5)
    with pytest.raises(ValueError, match="--theta must be in"):
        AdvectionDiffusionField(theta=0.2)


# --- the automatic mesh from a pilot range ----------------------------------------------------
def _simulated(kappa, n_st=60, n_t=8, seed=0):
    """Data simulated from the model on a fine grid mesh over [−0.3, 1.3]², stations in
    [0, 1]²: the spatial range is √8/κ (ν = 1)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(-0.3, 1.3, 33)
    sim = AdvectionDiffusionField(mesh=Mesh.grid(x, x))
    st = rng.random((n_st, 2))
    pts = np.column_stack([np.tile(st, (n_t, 1)), np.repeat(np.arange(n_t) * 0.1, n_st)])
    truth = dict(kappa=kappa, c=kappa**2, tau=np.sqrt(8 * np.pi) * kappa, gamma_x=0.0,
                 gamma_y=0.0, nugget=0.01, mean=0.0)
    y = sim.simulate(pts, truth, seed=seed + 1)[0]
    return Observations(coords=pts[:, :2], times=pts[:, 2], values=y)


@pytest.mark.parametrize("kappa", [6.0, 12.0])
def test_pilot_range_and_the_automatic_mesh_follow_the_field(kappa):
    from fieldfit.models.ad_design import pilot_range

    data = [_simulated(kappa, seed=s) for s in range(5)]
    ratios = [pilot_range(obs, 1.0)["range"] / (np.sqrt(8.0) / kappa) for obs in data]
    assert 0.75 < np.median(ratios) < 1.35  # a pilot: single data sets vary by 2x
    model = AdvectionDiffusionField()
    opts = model.auto_mesh_options(data[1])
    info = model._pilot_info(data[1])
    # the range is the pilot's, at least two median nearest-neighbour spacings
    points = np.unique(data[1].coords, axis=0)
    spacing = np.median(cKDTree(points).query(points, k=2)[0][:, 1])
    assert info["spacing"] == pytest.approx(spacing)
    assert info["range_used"] == pytest.approx(max(pilot_range(data[1], 1.0)["range"],
                                                   2 * spacing))
    # the edge is a quarter of it (at most D/10), grown only to keep within the node budget
    edge = min(info["range_used"] / 4, data[1].diameter() / 10)
    assert opts["max_edge"][0] >= edge * (1 - 1e-12)
    assert info["node_budget"] == min(model.node_budget, max(150, 8 * len(points)))
    assert model.mesh_for(data[1]).n_nodes <= info["node_budget"]
    if opts["max_edge"][0] > edge:  # grown: the first mesh was over the budget
        from fieldfit.spde import Mesh

        first = dict(opts, max_edge=(edge, 3 * edge), cutoff=edge / 4)
        assert Mesh.from_points(points, **first).n_nodes > info["node_budget"]


def test_a_shorter_range_gives_a_finer_mesh_within_the_node_budget():
    long_, short = _simulated(6.0, seed=1), _simulated(12.0, seed=1)
    n_long = AdvectionDiffusionField().mesh_for(long_).n_nodes
    n_short = AdvectionDiffusionField().mesh_for(short).n_nodes
    assert n_short > 2 * n_long
    small = AdvectionDiffusionField(node_budget=150)
    assert small.mesh_for(short).n_nodes <= 150
    # an asked edge is kept: no pilot
    given = AdvectionDiffusionField(mesh_options={"max_edge": 0.2})
    assert given.mesh_for(short).n_nodes < n_short
    assert given._pilot_info(short) is None
    # the coarse copy coarsens the pilot mesh
    coarse = AdvectionDiffusionField().coarse()
    assert coarse.mesh_for(short).n_nodes < n_short / 2


def test_pilot_range_needs_pairs_at_one_time():
    from fieldfit.models.ad_design import pilot_range

    rng = np.random.default_rng(0)
    obs = Observations(coords=rng.random((6, 2)), times=np.arange(6.0),
                       values=rng.standard_normal(6))
    with pytest.raises(ValueError, match="--mesh-max-edge"):
        pilot_range(obs, 1.0)


# --- the discretisation check -----------------------------------------------------------------
def test_discretisation_check_equals_a_newton_step_on_the_refined_model():
    """The reported refined estimates are û + I⁻¹(∇ℓ_r(û) − ∇ℓ(û)): checked against the
    refined model's own gradient and a dense Hessian; refining in time changes the estimates
    of implicit Euler (a first-order scheme) more than those of Crank–Nicolson."""
    obs = _simulated(6.0, n_st=30, n_t=6)
    mesh = Mesh.grid(np.linspace(-0.3, 1.3, 9), np.linspace(-0.3, 1.3, 9))
    p = dict(kappa=5.0, c=30.0, tau=15.0, gamma_x=0.5, gamma_y=-0.3, nugget=0.02)
    shifts = {}
    for theta in (1.0, 0.5):
        model = AdvectionDiffusionField(mesh=mesh, theta=theta)
        out = model.discretisation_check(obs, p, refine=("time", "mesh"))
        assert set(out["refined"]) == {"time"}  # a given mesh is not refined
        assert out["substeps"] == 1 and out["refined"]["time"]["substeps"] == 2
        assert out["mesh_nodes"] == 81 and out["theta"] == theta
        # the same step, by hand
        space = model.param_space(obs)
        u0 = space.pack(p)

        def grad(m, u, space=space):
            u = u.clone().requires_grad_(True)
            return torch.autograd.grad(m.log_likelihood(obs, space.unpack(u)), u)[0].numpy()

        fine = AdvectionDiffusionField(mesh=mesh, theta=theta, substeps=2)
        k = len(u0)
        Hm = np.zeros((k, k))
        g0 = grad(model, u0)
        for j in range(k):
            e = torch.zeros(k, dtype=T)
            e[j] = 1e-5
            Hm[:, j] = -(grad(model, u0 + e) - grad(model, u0 - e)) / 2e-5
        du = np.linalg.solve(0.5 * (Hm + Hm.T), grad(fine, u0) - g0)
        ref = space.unpack(u0 + torch.from_numpy(du))
        for name, v in out["refined"]["time"]["estimates"].items():
            np.testing.assert_allclose(v, float(ref[name]), rtol=2e-3, atol=1e-6)
        assert out["shift"] == pytest.approx(out["refined"]["time"]["shift"])
        # Richardson in u: û + w Δu, w = 1/(1 − 2^−p), p = 2 for Crank–Nicolson, 1 for Euler
        w = 4.0 / 3.0 if theta == 0.5 else 2.0
        ext = out["extrapolated"]
        assert ext["weights"] == {"time": pytest.approx(w)}
        limit = space.unpack(u0 + w * torch.from_numpy(du))
        var_u = np.diag(np.linalg.inv(0.5 * (Hm + Hm.T)))
        # (p is no maximum: where I⁻¹'s diagonal is not positive there is no interval)
        se_u = np.sqrt(np.where(var_u > 0, var_u, np.nan))
        assert np.isfinite(se_u).sum() >= 3
        for j, name in enumerate(space.free_names):
            np.testing.assert_allclose(ext["estimates"][name], float(limit[name]),
                                       rtol=2e-3, atol=1e-6)
            lo, hi = ext["interval95"][name]
            v = space[name].transform.inverse(torch.tensor([lo, hi], dtype=T)).numpy()
            if np.isfinite(se_u[j]):
                np.testing.assert_allclose(np.diff(v)[0], 2 * 1.959964 * se_u[j], rtol=2e-3)
            else:
                assert np.isnan([lo, hi]).all()
        shifts[theta] = max(abs(out["shift"][n]) for n in ("kappa", "c"))
    assert shifts[0.5] < shifts[1.0]


def test_discretisation_check_refines_the_automatic_mesh():
    obs = _simulated(12.0, n_st=30, n_t=4)
    model = AdvectionDiffusionField()
    p = dict(kappa=12.0, c=144.0, tau=60.0, gamma_x=0.0, gamma_y=0.0, nugget=0.01)
    out = model.discretisation_check(obs, p, refine=("mesh",))
    ref = out["refined"]["mesh"]
    assert 1.5 * out["mesh_nodes"] < ref["mesh_nodes"] < 3 * out["mesh_nodes"]
    assert ref["max_edge"] == pytest.approx(out["pilot"]["max_edge"] / np.sqrt(2))
    assert set(out["shift"]) == set(model.param_space(obs).free_names)
    with pytest.raises(ValueError, match="unknown refinement"):
        model.discretisation_check(obs, p, refine=("space",))


# --- convergence on exact continuum data ------------------------------------------------------
def _spectral_data(n_st=40, n_t=15, r=12, dt=0.2, seed=0):
    """Exact draws of the continuous SPDE (κ = c = 1, γ = (1.5, 0.5), marginal variance 1)
    on a periodic 10 × 10 square, observed with noise 0.05 at stations inside its central
    60 %; ``r`` independent replicates keep the sampling error below the discretisation's."""
    from fieldfit.spde.spectral import SpectralAdvectionDiffusion

    rng = np.random.default_rng(seed)
    st = 10.0 * (0.2 + 0.6 * rng.random((n_st, 2)))
    sim = SpectralAdvectionDiffusion(10.0, 10.0, 64, 64, kappa=1.0, c=1.0,
                                     tau=np.sqrt(8 * np.pi), gamma=(1.5, 0.5))
    times = np.arange(n_t) * dt
    X = sim.sample_at(st, times, n_replicates=r, seed=seed + 1, nugget=0.05)
    pts = np.column_stack([np.tile(st, (n_t, 1)), np.repeat(times, n_st)])
    return Observations(coords=pts[:, :2], times=pts[:, 2], values=X.reshape(r, -1))


def _fit_summary(obs, **options):
    from fieldfit import fit

    p = fit(AdvectionDiffusionField(**options), obs, restarts=0, stderr=False).params
    speed = np.hypot(p["gamma_x"], p["gamma_y"]) / p["c"]
    return {"kappa": np.log(p["kappa"]), "c": np.log(p["c"]),
            "speed": np.log(speed / np.hypot(1.5, 0.5))}


@pytest.mark.slow
def test_estimates_on_continuum_data_move_toward_the_truth_as_the_step_is_refined():
    """Implicit Euler at the observation step overestimates κ (by 24 % here); sub-stepping
    moves it toward the truth, to within 10 % at four substeps.
    Crank–Nicolson's speed moves toward the truth from one substep to two, where it is
    time-converged (measured: four substeps move its estimates by < 2 %; about 80 s)."""
    obs = _spectral_data()
    euler = [_fit_summary(obs, theta=1.0, substeps=s) for s in (1, 2, 4)]
    err = [abs(e["kappa"]) for e in euler]
    assert err[0] > err[1] > err[2] and err[2] < 0.1 and err[0] > 0.15
    cn = [_fit_summary(obs, theta=0.5, substeps=s) for s in (1, 2)]
    assert abs(cn[1]["speed"]) < abs(cn[0]["speed"])
    assert abs(cn[1]["kappa"]) < 0.1 and abs(cn[1]["speed"]) < 0.15


def test_substeps_and_theta_travel_through_the_registry_and_the_spec():
    from fieldfit import models

    m = models.build("advection-diffusion", substeps=2, theta=1.0)
    assert (m.substeps, m.options["theta"]) == (2, 1.0)
    back = models.from_spec(m.to_spec())
    assert (back.substeps, back.options["theta"]) == (2, 1.0)
    default = models.build("advection-diffusion")
    assert (default.substeps, default.options["theta"]) == (1, 0.5)
    with pytest.raises(ValueError, match="--substeps"):
        models.build("advection-diffusion", substeps="x")


def test_discretisation_check_needs_every_estimate():
    obs = _station_data()
    model = AdvectionDiffusionField(mesh=Mesh.grid(np.linspace(-0.2, 1.2, 5),
                                                   np.linspace(-0.2, 1.2, 5)))
    with pytest.raises(ValueError, match=r"needs the estimates of \['nugget'\]"):
        model.discretisation_check(obs, {k: v for k, v in TRUTH.items() if k != "nugget"})
