"""Nonstationary Matérn SPDE fields from ``--field`` specs: the grammar (radial bases,
anisotropy), the model built from specs against the same model built by hand, its
description round trip, and the command line."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import fieldfit as ff
from fieldfit.cli import app
from fieldfit.models import build, from_spec
from fieldfit.models.spde_field import SPDEField
from fieldfit.priors import Normal
from fieldfit.spde import Mesh
from fieldfit.spde.field_spec import MATERN_SPDE_FIELDS, parse_field_spec
from fieldfit.spde.fields import PSplineField, RadialBasisField


def _spec(text):
    return parse_field_spec(text, MATERN_SPDE_FIELDS, "matern")


def test_grammar_of_the_matern_fields():
    s = _spec("kappa=rbf:25")
    assert (s.kind, s.shape, s.sd) == ("rbf", (5, 5), 1.0) and s.text == "kappa=rbf:5x5"
    assert _spec("tau=rbf:4x3:sd=0.5").text == "tau=rbf:4x3:sd=0.5"
    assert _spec("anisotropy=bspline:4x4").shape == (4, 4)
    assert _spec("KAPPA=covariates:elev").columns == ("elev",)
    for text, words in (("kappa=rbf:24", "not a square grid"),
                        ("kappa=rbf:1x5", "at least 2 centres"),
                        ("kappa=rbf:25:scale=2", "unknown option"),
                        ("kappa=rbf", "needs its arguments"),
                        ("anisotropy=covariates:elev", "takes bspline or rbf"),
                        ("kapa=bspline:4x4", "did you mean 'kappa'"),
                        ("kappa=spline:4x4", "unknown kind"),
                        ("tau=bspline:2x4", "at least 3"),
                        ("gamma=bspline:4x4", "has no field 'gamma'")):
        with pytest.raises(ValueError, match=words):
            _spec(text)


def _nonstationary_data(n=300, seed=0):
    """Data from a field whose log κ rises from west to east (the P-spline's first trend
    coefficient), on a mesh of the points."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 2))
    mesh = Mesh.from_points(x, max_edge=(0.08, 0.3), offset=0.3)
    lo, hi = mesh.bbox
    kf = PSplineField("kappa", (lo[0], hi[0], lo[1], hi[1]), (4, 4), value=5.0)
    params = {"kappa": 5.0, "variance": 1.0, "nugget": 0.05, "mean": 0.0,
              **{w: 0.0 for w in kf.weight_names()}}
    params[kf.weight_names()[0]] = 1.0
    z = SPDEField(mesh=mesh, kappa_field=kf).simulate(x, params, seed=seed)[0]
    return x, z, mesh


def test_a_model_from_specs_is_the_model_built_by_hand():
    x, z, mesh = _nonstationary_data()
    obs = ff.Observations(coords=x, values=z, covariates=x[:, :1] * 100.0,
                          covariate_names=["elev"])
    specs = ["kappa=bspline:4x4", "tau=rbf:9:sd=0.5", "anisotropy=bspline:3x3"]
    model = SPDEField(mesh=mesh, fields=specs)
    space = model.param_space(obs)
    names = space.free_names
    for stem in ("kappa", "tau", "angle", "ratio"):
        assert stem in names and f"{stem}_w0" in names
    assert "range" not in names and "variance" not in names
    specs_by_name = {p.name: p for p in model._specs()}
    assert isinstance(specs_by_name["tau_w0"].prior, Normal)
    assert specs_by_name["tau_w0"].prior.scale == 0.5
    assert specs_by_name["kappa_w3"].prior is not None  # the P-spline's roughness prior
    lo, hi = mesh.bbox
    box = (lo[0], hi[0], lo[1], hi[1])
    by_hand = SPDEField(
        mesh=mesh,
        kappa_field=PSplineField("kappa", box, (4, 4), value=1.0),
        tau_field=RadialBasisField.grid("tau", box, (3, 3), value=1.0, sd=0.5),
        angle_field=PSplineField("angle", box, (3, 3), value=0.0, link="identity"),
        ratio_field=PSplineField("ratio", box, (3, 3), value=1.0))
    rng = np.random.default_rng(1)
    p = {n: 0.1 * rng.standard_normal() for n in names}
    p.update(kappa=5.0, tau=3.0, ratio=0.8, angle=0.2, nugget=0.05, mean=0.0)
    a = float(model.log_likelihood(obs, p))
    assert np.isfinite(a) and a == float(by_hand.log_likelihood(obs, p))
    # the description travels as text and rebuilds the same model
    spec = model.to_spec()
    assert spec["fields"] == {"kappa": "bspline:4x4", "tau": "rbf:3x3:sd=0.5",
                              "anisotropy": "bspline:3x3"}
    assert float(from_spec(spec).log_likelihood(obs, p)) == a
    # every weight has a gradient
    leaves = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for k, v in p.items()}
    ll = model.log_likelihood(obs, leaves)
    grads = torch.autograd.grad(ll, [leaves[n] for n in names])
    assert all(torch.isfinite(g) and g != 0 for g in grads)
    # a covariate field reads the data's column
    cov = SPDEField(mesh=mesh, fields=["kappa=covariates:elev"])
    assert "kappa_elev" in cov.param_space(obs).free_names
    assert np.isfinite(float(cov.log_likelihood(obs, {"kappa": 5.0, "kappa_elev": 0.3,
                                                      "variance": 1.0, "nugget": 0.05,
                                                      "mean": 0.0})))
    with pytest.raises(ValueError, match="no covariate column 'slope'"):
        SPDEField(mesh=mesh, fields=["kappa=covariates:slope"]).check_data(obs)
    with pytest.raises(ValueError, match="stationary model"):
        SPDEField(mesh=mesh, fields=["kappa=bspline:4x4"], smoothness=0.5)
    with pytest.raises(ValueError, match="not both"):
        SPDEField(mesh=mesh, fields=["kappa=bspline:4x4"],
                  kappa_field=PSplineField("kappa", box, (4, 4)))


def test_the_command_line_fits_a_varying_range(tmp_path):
    """``fieldfit fit --engine spde --field kappa=bspline:4x4`` on data whose range shrinks
    eastwards: the field's fit has a higher likelihood than the stationary one's (ℓ without
    the roughness prior; the result's ``loglik`` is the penalised objective), and its κ
    grows from west to east."""
    x, z, _ = _nonstationary_data(n=400, seed=2)
    data = tmp_path / "d.csv"
    pd.DataFrame({"x": x[:, 0], "y": x[:, 1], "z": z, "elev": 100 * x[:, 0]}).to_csv(
        data, index=False)
    runner = CliRunner()
    base = ["fit", str(data), "--coords", "x,y", "--value", "z", "--engine", "spde",
            "--mesh-max-edge", "0.08,0.3", "--restarts", "0"]
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "s.json")])
    assert res.exit_code == 0, res.output
    stationary = json.loads((tmp_path / "s.json").read_text())
    res = runner.invoke(app, [*base, "--field", "kappa=bspline:4x4",
                              "--out", str(tmp_path / "n.json")])
    assert res.exit_code == 0, res.output
    fitted = json.loads((tmp_path / "n.json").read_text())
    assert {"kappa", "kappa_w0"} <= set(fitted["params"]) and "range" not in fitted["params"]
    model = build("matern", engine="spde", fields=["kappa=bspline:4x4"],
                  mesh_max_edge=[0.08, 0.3])
    obs = ff.Observations(coords=x, values=z)
    loglik = float(model.log_likelihood(obs, fitted["params"]))
    assert loglik > stationary["loglik"] + 2, (loglik, stationary["loglik"])
    mesh = model.mesh_for(obs)
    spde = model.spde_for(obs)
    p = {k: torch.tensor(v, dtype=torch.float64) for k, v in fitted["params"].items()}
    kappa = spde.kappa(p).numpy()
    west = mesh.nodes[:, 0] < 0.3
    east = mesh.nodes[:, 0] > 0.7
    assert kappa[east].mean() > kappa[west].mean()
    res = runner.invoke(app, [*base, "--field", "kappa=covariates:elev",
                              "--out", str(tmp_path / "c.json")])
    assert res.exit_code == 0, res.output
    assert "kappa_elev" in json.loads((tmp_path / "c.json").read_text())["params"]
    for extra, words in ((["--field", "kappa=rbf:24"], "not a square grid"),
                         (["--field", "slope=bspline:4x4"], "has no field 'slope'"),
                         (["--field", "kappa=covariates:height"], "no column 'height'")):
        res = runner.invoke(app, [*base, *extra, "--out", str(tmp_path / "x.json")])
        assert res.exit_code == 2 and words in " ".join(res.output.split()), res.output
    res = runner.invoke(app, ["fit", str(data), "--coords", "x,y", "--value", "z",
                              "--field", "kappa=bspline:4x4", "--out", str(tmp_path / "x.json")])
    assert res.exit_code == 2 and "--engine spde" in " ".join(res.output.split()), res.output
    assert not (tmp_path / "x.json").exists()
