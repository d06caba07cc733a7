"""The ``--field`` grammar (fieldfit.spde.field_spec), the P-spline and covariate fields, and
nonstationary advection–diffusion fits through the registry and the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.interpolate import BSpline
from typer.testing import CliRunner

import fieldfit as ff
from fieldfit.cli import app
from fieldfit.spde import Mesh
from fieldfit.spde.field_spec import (
    FieldSpec,
    location_covariates,
    parse_field_spec,
    parse_field_specs,
)
from fieldfit.spde.fields import CovariateField, PSplineField, second_difference_penalty

RTOL = 1e-10  # float64 throughout


# --- parsing -------------------------------------------------------------------------------
@pytest.mark.parametrize("text, name, kind, shape, columns, sd", [
    ("gamma=bspline:4x4", "gamma", "bspline", (4, 4), (), 1.0),
    ("gamma=bspline:4x4x3", "gamma", "bspline", (4, 4, 3), (), 1.0),
    ("H=bspline:3x3", "H", "bspline", (3, 3), (), 1.0),
    ("h = BSpline:5X3", "H", "bspline", (5, 3), (), 1.0),
    ("kappa=bspline:4x6:sd=0.25", "kappa", "bspline", (4, 6), (), 0.25),
    ("kappa=covariates:elev", "kappa", "covariates", (), ("elev",), 1.0),
    ("kappa=covariates:elev, slope", "kappa", "covariates", (), ("elev", "slope"), 1.0),
])
def test_parse_good_specs(text, name, kind, shape, columns, sd):
    s = parse_field_spec(text)
    assert (s.name, s.kind, s.shape, s.columns, s.sd) == (name, kind, shape, columns, sd)
    assert parse_field_spec(s.text) == s  # the canonical text reads back
    assert s.space_time == (len(shape) == 3)


def test_parse_many_and_mappings():
    specs = parse_field_specs(["gamma=bspline:4x4x3", "kappa=covariates:elev"])
    assert list(specs) == ["gamma", "kappa"]
    assert parse_field_specs({"gamma": "bspline:4x4x3", "kappa": "covariates:elev"}) == specs
    assert parse_field_specs({k: v for k, v in specs.items()}) == specs
    assert parse_field_specs(None) == {} == parse_field_specs([])


@pytest.mark.parametrize("items, message", [
    (["gamma"], "--field 'gamma': write NAME=KIND:ARGS, e.g. --field gamma=bspline:4x4"),
    (["gama=bspline:4x4"], "--field gama=bspline:4x4: model 'advection-diffusion' has no "
     "field 'gama' (did you mean 'gamma'?); choose one of gamma, H, kappa"),
    (["tau=bspline:4x4"], "has no field 'tau'"),
    (["gamma=bsplin:4x4"], "--field gamma=bsplin:4x4: unknown kind 'bsplin' (did you mean "
     "'bspline'?); the field gamma takes bspline"),
    (["H=covariates:elev"], "--field H=covariates:elev: the field H takes bspline, not "
     "covariates"),
    (["gamma=bspline"], "bspline needs its arguments, e.g. gamma=bspline:4x4"),
    (["gamma=bspline:4by4"], "the B-spline size must be two or three whole numbers joined by "
     "x (basis functions in x, y[, t]), e.g. bspline:4x4 or bspline:4x4x3, got '4by4'"),
    (["gamma=bspline:4"], "two or three whole numbers"),
    (["gamma=bspline:4x4x4x4"], "two or three whole numbers"),
    (["gamma=bspline:2x4"], "each size must be at least 3"),
    (["kappa=bspline:4x4x3"], "the field kappa is spatial: give two sizes"),
    (["gamma=bspline:4x4:sd=0"], "sd must be a positive number, got '0'"),
    (["gamma=bspline:4x4:sd=abc"], "sd must be a positive number, got 'abc'"),
    (["gamma=bspline:4x4:knots=3"], "unknown option 'knots=3'"),
    (["kappa=covariates:elev,,slope"], "an empty column name"),
    (["kappa=covariates:elev,elev"], "a column is named twice"),
    (["gamma=bspline:4x4", "gamma=bspline:3x3"], "--field gamma is given twice "
     "(gamma=bspline:4x4 and gamma=bspline:3x3): give each field once"),
])
def test_parse_errors(items, message):
    with pytest.raises(ValueError) as e:
        parse_field_specs(items)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_one_parser_for_other_models():
    """A spatial SPDE model passes its own names and kinds."""
    allowed = {"kappa": ("bspline",), "tau": ("bspline", "covariates")}
    assert parse_field_specs(["tau=covariates:z"], allowed, "matern-spde")["tau"].columns == (
        "z",)
    with pytest.raises(ValueError, match="model 'matern-spde' has no field 'gamma'"):
        parse_field_specs(["gamma=bspline:4x4"], allowed, "matern-spde")


# --- the P-spline field ----------------------------------------------------------------------
def _scipy_tensor(a, knots, degrees, x):
    """Σ_ij a_ij B_i(x₀) B_j(x₁) by scipy's BSpline (de Boor), independent of the design."""
    out = np.empty(len(x))
    for n, (u, v) in enumerate(x):
        inner = [BSpline(knots[1], a[i], degrees[1])(v) for i in range(a.shape[0])]
        out[n] = BSpline(knots[0], np.array(inner), degrees[0])(u)
    return out


@pytest.mark.parametrize("shape", [(4, 5), (3, 4)])
def test_pspline_values_against_scipy(shape):
    bounds = [(-1.0, 3.0), (2.0, 4.0)]
    f = PSplineField("kappa", bounds, shape, value=1.7, link="exp", sd=0.5)
    rng = np.random.default_rng(3)
    w = rng.normal(size=f.n_weights)
    p = {"kappa": 1.7, **dict(zip(f.weight_names(), w, strict=True))}
    x = np.column_stack([rng.uniform(-1, 3, 7), rng.uniform(2, 4, 7)])
    x = np.vstack([x, [[-1.0, 2.0], [3.0, 4.0]]])  # the corners too
    got = f(x, p).numpy()
    a = f.coefficients(p).reshape(shape)
    degrees = [min(3, k - 1) for k in shape]
    knots = [np.concatenate([[lo] * g, np.linspace(lo, hi, k - g + 1), [hi] * g])
             for (lo, hi), k, g in zip(bounds, shape, degrees, strict=True)]
    want = 1.7 * np.exp(_scipy_tensor(a, knots, degrees, x))
    np.testing.assert_allclose(got, want, rtol=RTOL)
    # the weights are an orthonormal basis of the coefficients orthogonal to the constant
    np.testing.assert_allclose(f.U.T @ f.U, np.eye(f.n_weights), atol=1e-12)
    np.testing.assert_allclose(f.U.sum(axis=0), 0.0, atol=1e-12)


def test_roughness_penalty_value():
    """a_ij = i² on a 4 × 5 grid: second differences 2 along the first axis (2 × 5 of
    them), 0 along the second: aᵀPa = 40, penalty 40 / (2 sd²)."""
    f = PSplineField("H_scale", [(0, 1), (0, 1)], (4, 5), sd=0.5)
    a = np.repeat(np.arange(4.0) ** 2, 5)
    assert f.penalty(a) == pytest.approx(40.0 / (2 * 0.25), rel=RTOL)
    # a bilinear surface is in the null space: no penalty
    i, j = np.meshgrid(np.arange(4.0), np.arange(5.0), indexing="ij")
    assert f.penalty((1 + 2 * i - j + 0.5 * i * j).ravel()) == pytest.approx(0.0, abs=1e-10)
    # the roughness weights' independent Normal priors sum to minus the penalty (+ const.)
    w = f.U.T @ a
    specs = f.param_specs()[1:]
    lp = sum(float(s.prior.log_prob(v) - s.prior.log_prob(0.0))
             for s, v, e in zip(specs, w, f.eigenvalues, strict=True) if e > 0)
    assert lp == pytest.approx(-f.penalty(a), rel=1e-9)
    # the trend's proper prior: a slope of 1 per knot interval costs 1 / (2 sd²)
    a = np.repeat(np.arange(4.0) - 1.5, 5)
    w = f.U.T @ a
    lp = sum(float(s.prior.log_prob(v) - s.prior.log_prob(0.0))
             for s, v in zip(specs, w, strict=True))
    assert lp == pytest.approx(-1.0 / (2 * 0.25), rel=1e-9)
    assert f.penalty(a) == pytest.approx(0.0, abs=1e-10)
    P = second_difference_penalty((4, 5))
    assert np.allclose(P, P.T) and np.linalg.matrix_rank(P) == 20 - 4


# --- the covariate field -----------------------------------------------------------------------
def test_covariate_field_interpolation():
    """Linear interpolation on the Delaunay triangulation of the observed locations (exact
    for a linear covariate inside their hull), the nearest location outside."""
    rng = np.random.default_rng(0)
    locs = rng.uniform(0, 1, (25, 2))
    z = 2.0 + 3.0 * locs[:, 0] - 1.5 * locs[:, 1]
    f = CovariateField("kappa", ["elev"]).attach(locs, z[:, None])
    inside = np.array([[0.5, 0.5], [0.4, 0.6]])
    np.testing.assert_allclose(f.interpolate(inside)[:, 0],
                               2.0 + 3.0 * inside[:, 0] - 1.5 * inside[:, 1], rtol=1e-12)
    outside = np.array([[3.0, 3.0], [-2.0, 0.5]])
    nearest = np.argmin(((locs[None] - outside[:, None]) ** 2).sum(-1), axis=1)
    np.testing.assert_allclose(f.interpolate(outside)[:, 0], z[nearest])
    # standardised: the basis at the locations has mean 0 and sd 1
    b = f.basis(locs)[:, 0]
    assert abs(b.mean()) < 1e-12 and b.std() == pytest.approx(1.0)
    assert f.weight_names() == ["kappa_elev"]
    with pytest.raises(ValueError, match="covariate 'elev' of the field 'kappa' is constant"):
        CovariateField("kappa", ["elev"]).attach(locs, np.ones((25, 1)))


def test_location_covariates():
    xy = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    coords = np.vstack([xy, xy])  # two times
    locs, vals = location_covariates(coords, np.array([1.0, 2, 3, 1, 2, 3])[:, None], ["elev"])
    np.testing.assert_allclose(vals[:, 0], [1.0, 3.0, 2.0])  # np.unique sorts the locations
    np.testing.assert_allclose(locs, [[0, 0], [0, 1], [1, 0]])
    with pytest.raises(ValueError, match="the covariate 'elev' changes over time"):
        location_covariates(coords, np.array([1.0, 2, 3, 1, 2, 4])[:, None], ["elev"])


# --- the model ---------------------------------------------------------------------------------
TRUTH = {"kappa": 1.5, "c": 1.0, "tau": 1.0, "gamma_x": 1.0, "gamma_y": 0.3, "nugget": 0.05,
         "mean": 0.0}


@pytest.fixture(scope="module")
def tiny():
    """20 stations × 8 times simulated from the stationary model on a coarse mesh, with a
    covariate ``elev`` that varies in space only."""
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 4, (20, 2))
    t = np.arange(8) * 0.5
    pts = np.array([[x, y, tt] for tt in t for x, y in xy])
    mesh = Mesh.from_points(xy, max_edge=(1.0, 2.0))
    m = ff.models.build("advection-diffusion", mesh={"nodes": mesh.nodes, "cells": mesh.cells})
    z = m.simulate(pts, TRUTH, seed=1)[0]
    df = pd.DataFrame({"x": pts[:, 0], "y": pts[:, 1], "t": pts[:, 2], "z": z,
                       "elev": np.tile(xy[:, 0] + 0.3 * xy[:, 1] ** 2, len(t))})
    obs = ff.Observations.from_dataframe(df, coords=["x", "y"], value="z", time="t",
                                         covariates=["elev"])
    return df, obs, mesh


def _build(mesh, fields):
    return ff.models.build("advection-diffusion", fields=fields,
                           mesh={"nodes": mesh.nodes, "cells": mesh.cells})


def _at(model, obs, **given):
    """TRUTH, the field weights at their defaults (0: the stationary model), and ``given``."""
    weights = {p.name: float(p.value) for p in model.param_space(obs)
               if p.name not in TRUTH and not p.fixed}
    return {**TRUTH, **weights, **given}


def test_zero_weights_reproduce_the_stationary_model(tiny):
    _, obs, mesh = tiny
    base = float(_build(mesh, None).log_likelihood(obs, TRUTH))
    m = _build(mesh, ["gamma=bspline:4x4", "H=bspline:3x3", "kappa=covariates:elev"])
    names = [p.name for p in m.param_space(obs)]
    assert {"gamma_x_w0", "gamma_y_w14", "H_scale_w7", "kappa_elev"} <= set(names)
    assert float(m.log_likelihood(obs, _at(m, obs))) == pytest.approx(base, rel=1e-10)
    # and a non-zero weight changes it
    moved = float(m.log_likelihood(obs, _at(m, obs, kappa_elev=0.3)))
    assert abs(moved - base) > 1e-3


def test_kappa_field_enters_the_nodes(tiny):
    """κ(s) = κ₀ exp(w z̃(s)) per node: K's diagonal is κ(sᵢ)² C̃ᵢᵢ + G(H)ᵢᵢ."""
    _, obs, mesh = tiny
    m = _build(mesh, ["kappa=covariates:elev"])
    spde = m.spde_for(obs)
    p = m._check(_at(m, obs, kappa_elev=0.4))
    K = spde._k_values(p, spde.H(p))
    kf = spde.kappa_field
    z = kf.basis(mesh.nodes)[:, 0]
    kappa = 1.5 * np.exp(0.4 * z)
    G = spde.fem.stiffness_values(torch.eye(2, dtype=torch.float64))
    diag = spde._diag.numpy()
    np.testing.assert_allclose(K.detach().numpy()[diag],
                               kappa**2 * spde._c.numpy() + G.numpy()[diag], rtol=1e-12)


def test_gradients_of_the_field_weights(tiny):
    """Autograd gradients of ℓ in the γ, H and κ field weights against central differences."""
    _, obs, mesh = tiny
    m = _build(mesh, ["gamma=bspline:3x3x3", "H=bspline:3x3", "kappa=covariates:elev"])
    rng = np.random.default_rng(5)
    names = ["gamma_x_w0", "gamma_x_w9", "gamma_y_w20", "H_scale_w1", "H_scale_w6",
             "kappa_elev"]
    base = _at(m, obs, **{n: float(v) for n, v in zip(names, 0.2 * rng.normal(size=len(names)),
                                                       strict=True)})
    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=k in names)
         for k, v in base.items()}
    ll = m.log_likelihood(obs, p)
    grads = torch.autograd.grad(ll, [p[n] for n in names])
    h = 1e-5
    for n, g in zip(names, grads, strict=True):
        up = float(m.log_likelihood(obs, {**base, n: base[n] + h}))
        dn = float(m.log_likelihood(obs, {**base, n: base[n] - h}))
        assert float(g) == pytest.approx((up - dn) / (2 * h), rel=1e-5, abs=1e-6), n


def test_spec_round_trip(tiny):
    _, obs, mesh = tiny
    m = _build(mesh, ["gamma=bspline:4x4x3:sd=0.5", "kappa=covariates:elev"])
    spec = m.to_spec()
    assert spec["fields"] == {"gamma": "bspline:4x4x3:sd=0.5", "kappa": "covariates:elev"}
    again = ff.models.from_spec(json.loads(json.dumps(spec)))
    assert again.fields == m.fields
    assert [p.name for p in again.param_space(obs)] == [p.name for p in m.param_space(obs)]
    assert [p.prior for p in again.param_space(obs)] == [p.prior for p in m.param_space(obs)]
    at = _at(m, obs, gamma_x_w5=0.2)
    assert float(again.log_likelihood(obs, at)) == pytest.approx(
        float(m.log_likelihood(obs, at)), rel=1e-12)
    assert "fields" not in _build(mesh, None).to_spec()


def test_field_specs_are_checked_by_the_builder():
    with pytest.raises(ValueError, match="did you mean 'kappa'"):
        ff.models.build("advection-diffusion", fields=["kapa=bspline:4x4"])
    with pytest.raises(ValueError, match="--field gamma needs the advection"):
        ff.models.build("advection-diffusion", fields=["gamma=bspline:4x4"], advection=False)
    assert isinstance(ff.models.build("advection-diffusion",
                                      fields={"H": FieldSpec("H", "bspline", (3, 3))}).fields["H"],
                      FieldSpec)


# --- the command line ----------------------------------------------------------------------
def test_cli_fit_with_a_gamma_field(tiny, tmp_path):
    df, _, _ = tiny
    data = tmp_path / "tiny.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "r.json"
    res = CliRunner().invoke(app, ["fit", str(data), "--coords", "x,y", "--time", "t",
                                   "--value", "z", "--model", "advection-diffusion",
                                   "--field", "gamma=bspline:3x3", "--field",
                                   "kappa=covariates:elev", "--mesh-max-edge", "1,2",
                                   "--restarts", "0", "--out", str(out)])
    assert res.exit_code == 0, res.output
    r = json.loads(out.read_text())
    weights = [k for k in r["params"] if k.startswith(("gamma_x_w", "gamma_y_w"))]
    assert len(weights) == 16 and all(np.isfinite(r["params"][k]) for k in weights)
    assert any(abs(r["params"][k]) > 1e-6 for k in weights)  # fitted, not left at 0
    assert np.isfinite(r["params"]["kappa_elev"]) and r["params"]["kappa_elev"] != 0.0
    assert "beta_elev" not in r["params"]  # elev reaches κ only, not the constant mean


def test_cli_field_errors(tiny, tmp_path):
    df, _, _ = tiny
    data = tmp_path / "tiny.csv"
    df.to_csv(data, index=False)
    common = ["fit", str(data), "--coords", "x,y", "--value", "z", "--out",
              str(tmp_path / "r.json")]
    st = common + ["--time", "t", "--model", "advection-diffusion"]
    cases = [
        (common + ["--field", "gamma=bspline:4x4"],
         "error: --field applies to --engine spde only, not 'exact'"),
        (common + ["--field", "gamma=bspline:4x4", "--engine", "spde"],
         "error: --field gamma=bspline:4x4: model 'matern' has no field 'gamma'"),
        (common + ["--field", "kappa=bspline:4x4", "--model", "exponential"],
         "error: --field applies to --model"),
        (st + ["--field", "kappa=covariates:elevation"],
         "error: --field kappa=covariates:elevation: DATA has no column 'elevation' (did you "
         "mean 'elev'?)"),
        (st + ["--field", "gamma=bspline:4by4"], "error: --field gamma=bspline:4by4: the "
         "B-spline size must be"),
        (st + ["--field", "kappa=covariates:elev", "--mean", "covariates", "--covariates", "x"],
         "error: --field reads elev, which --mean covariates would then use too"),
    ]
    for args, message in cases:
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2, res.output
        assert message in " ".join(res.output.split()), res.output
