"""``fieldfit estimate`` / ``NeuralEstimator.estimate`` on data unlike the simulations.

* Value standardisation: the Matérn model is equivariant under z → a + b z (mean → a +
  b·mean, variance and nugget → b²·…, range and smoothness unchanged), so estimates of a + b z
  must be those of z mapped so, to float tolerance: on simulated data, on real data (Meuse
  log-zinc, SIC97 rainfall), for fixed-mean, zero-mean and fixed-variance priors, and for the
  posterior and ratio kinds. On real data far from the prior box (rainfall around 150 mm,
  variance ~ 10⁴) the estimates are no longer at the box's edge and agree with the exact MLE.
* Bad values: infinite or huge values are refused naming column z; NaN values are missing.
* Datasets far outside the trained numbers of locations are refused unless --force.
* Files that are not estimators, --help, --out checked before any work, --grid NXxNY.
"""

import os
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import fieldfit as ff
from fieldfit.cli import app
from fieldfit.neural import Bound, NeuralEstimator, available, load_estimator
from fieldfit.neural.recipes import build_network, build_spec
from fieldfit.neural.standardise import ValueMap
from fieldfit.neural.train_options import spec_from_options

FAST = "matern-irregular-fast"
pytestmark = [pytest.mark.skipif(FAST not in available(), reason=f"{FAST} is not shipped"),
              pytest.mark.usefixtures("one_torch_thread")]
#: float32 networks: standardised inputs agree to ~1e-16 relative, outputs to ~1e-6
RTOL = 1e-5


@pytest.fixture(scope="module")
def fast():
    return load_estimator(FAST)


def _quiet(est, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.estimate(data, **kw)


def _field(seed=0, n=200, mean=1.0):
    rng = np.random.default_rng(seed)
    coords = rng.uniform(size=(n, 2))
    p = {"variance": 1.5, "range": 0.1, "smoothness": 1.0, "nugget": 0.2, "mean": mean}
    return coords, ff.GaussianField(ff.Matern(smoothness=1.0)).simulate(coords, p, seed=seed)[0]


def _mapped(table, names, a, b):
    """The estimates of z mapped to those of a + b z by the equivariance."""
    out = table.copy()
    for n in names:
        for col in (n, f"{n}_lower", f"{n}_upper"):
            if n in ("mean", "beta_intercept"):
                out[col] = a + b * table[col]
            elif n in ("variance", "nugget"):
                out[col] = b**2 * table[col]
    return out


def _assert_equivariant(est, data, a, b):
    base = _quiet(est, data)
    moved = _quiet(est, [(c, a + b * np.asarray(v)) for c, v in data])
    want = _mapped(base, est.names, a, b)
    for n in est.names:
        for col in (n, f"{n}_lower", f"{n}_upper"):
            np.testing.assert_allclose(moved[col], want[col], rtol=RTOL,
                                       atol=RTOL * abs(b) * 1e-2, err_msg=col)
    np.testing.assert_allclose(moved["value_factor"], base["value_factor"] / b, rtol=1e-9)
    return base, moved


@pytest.mark.parametrize("a, b", [(100.0, 30.0), (-3.0, 0.01), (0.0, 1e4), (5e3, 1.0)])
def test_estimates_of_a_plus_bz_are_the_mapped_estimates_of_z(fast, a, b):
    data = [_field(0), _field(1, n=120, mean=-2.0)]
    base, moved = _assert_equivariant(fast, data, a, b)
    assert list(base.columns[-4:]) == ["n", "n_missing", "value_shift", "value_factor"]


def _real(name):
    if name == "meuse":
        df = ff.datasets.load("meuse")
        return pd.DataFrame({"x": df["x"], "y": df["y"], "z": np.log(df["zinc"])})
    df = ff.datasets.load("sic97")
    return pd.DataFrame({"x": df["x"], "y": df["y"], "z": df["rainfall"].astype(float)})


@pytest.mark.parametrize("name", ["meuse", "sic97"])
def test_equivariance_on_real_data(fast, name):
    df = _real(name)
    data = [(df[["x", "y"]].to_numpy(), df["z"].to_numpy())]
    _assert_equivariant(fast, data, 7.0, 3.0)
    _assert_equivariant(fast, data, -1e3, 1e-3)


@pytest.mark.parametrize("name, factor", [("sic97", 1.6), ("meuse", 3.0)])
def test_real_data_estimates_leave_the_box_edge_and_agree_with_the_mle(fast, name, factor):
    """SIC97 rainfall (mean ~ 150, variance ~ 1.3e4: far outside the prior box's mean ±5 and
    variance ≤ 5) and Meuse log-zinc (mean 6.6): before, the mean sat at the box's edge 5
    and the variance at its bounds. Now no estimate is at the edge (no warning) and range,
    variance are within a factor of the exact MLE's with the estimator's fixed smoothness
    (measured: SIC97 10 % and 30 %; Meuse a factor 2.2 and 2.4), and so is the mean."""
    df = _real(name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = fast.estimate(df).iloc[0]
    assert not [w for w in caught if "edge of the prior box" in str(w.message)]
    obs = ff.Observations.from_dataframe(df, coords=["x", "y"], value="z")
    mle = ff.fit(ff.models.build("matern", smoothness=fast.spec.prior.fixed["smoothness"]),
                 obs).params
    for p in ("range", "variance"):
        assert 1 / factor < est[p] / mle[p] < factor, (p, est[p], mle[p])
        assert est[f"{p}_lower"] < est[p] < est[f"{p}_upper"]
    # the mean within 0.6 of the field's standard deviation (measured: 0.3 and 0.5)
    assert abs(est["mean"] - mle["mean"]) < 0.6 * np.sqrt(mle["variance"])
    assert est["nugget"] > 0 and est["nugget_upper"] > est["nugget_lower"]


def _untrained(kind="quantile", **spec_options):
    """A network of ``kind`` with random weights: equivariance is a property of the
    standardisation, not of training."""
    spec = build_spec(**spec_options)
    torch.manual_seed(0)
    net = build_network(kind, spec, width=8, out=8)
    return NeuralEstimator(net, spec, {})


def test_fixed_mean_prior_scales_about_the_mean_and_zero_mean_only_scales():
    coords, z = _field(3, mean=2.0)
    fixed = _untrained(fixed={"mean": 2.0})
    assert "mean" not in fixed.names and fixed.value_map.location == "fixed"
    base = _quiet(fixed, [(coords, z)])
    moved = _quiet(fixed, [(coords, 2.0 + 7.0 * (z - 2.0))])     # keeps the mean 2
    for n in ("variance", "nugget"):
        np.testing.assert_allclose(moved[n], 49 * base[n], rtol=RTOL)
    np.testing.assert_allclose(moved["range"], base["range"], rtol=RTOL)
    # a shift is not a symmetry of a fixed mean: it changes the estimates otherwise
    shifted = _quiet(fixed, [(coords, z + 3.0)])
    assert not np.allclose(shifted["variance"], base["variance"], rtol=1e-3)
    zero = _untrained(model_options={"mean": "zero"})
    assert "mean" not in zero.names and zero.value_map.location is None
    _assert_equivariant(zero, [(coords, z)], 0.0, 5.0)
    assert float(_quiet(zero, [(coords, z)])["value_shift"][0]) == 0.0


def test_fixed_variance_prior_only_shifts():
    coords, z = _field(4)
    est = _untrained(fixed={"variance": 1.0})
    base = _quiet(est, [(coords, z)])
    moved = _quiet(est, [(coords, z + 40.0)])
    assert (moved["value_factor"] == 1.0).all()
    np.testing.assert_allclose(moved["mean"], base["mean"] + 40.0, rtol=RTOL)
    np.testing.assert_allclose(moved["nugget"], base["nugget"], rtol=RTOL, atol=1e-7)


@pytest.mark.parametrize("kind", ["posterior", "ratio"])
def test_posterior_and_ratio_estimators_are_equivariant(kind):
    coords, z = _field(5, n=80)
    _assert_equivariant(_untrained(kind), [(coords, z)], 12.0, 4.0)


def test_point_estimator_is_equivariant():
    coords, z = _field(5, n=80)
    est = _untrained("point")
    b = _quiet(est, [(coords, z)])
    m = _quiet(est, [(coords, 12.0 + 4.0 * z)])
    np.testing.assert_allclose(m["variance"], 16 * b["variance"], rtol=RTOL)
    np.testing.assert_allclose(m["mean"], 12.0 + 4.0 * b["mean"], rtol=RTOL)
    np.testing.assert_allclose(m["range"], b["range"], rtol=RTOL)


def test_value_map_of_unknown_parameters_is_inactive():
    from fieldfit.neural.prior import Prior

    vmap = ValueMap.for_prior(Prior({"variance": Bound(0.1, 5), "weird": Bound(0, 1)}))
    assert not vmap.active and vmap.unknown == ("weird",)
    assert vmap.coefficients(np.arange(5.0)) == (0.0, 1.0)


# --- bad values ---------------------------------------------------------------------------
def _table(n=120, seed=6):
    coords, z = _field(seed, n=n)
    return pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1], "z": z})


def _cli(tmp_path, df, *extra, name="d.csv", out=None):
    data = tmp_path / name
    df.to_csv(data, index=False)
    out = tmp_path / "e.csv" if out is None else out
    res = CliRunner().invoke(app, ["estimate", "--estimator", FAST, str(data), "--out",
                                   str(out), *extra])
    return res, out


@pytest.mark.parametrize("value", [1e300, np.inf, -np.inf])
def test_huge_or_infinite_values_are_an_error_naming_column_z(tmp_path, value):
    df = _table()
    df.loc[[3, 7], "z"] = value
    res, out = _cli(tmp_path, df)
    assert res.exit_code == 2, res.output
    assert "column 'z'" in res.output and "error:" in res.output
    assert "nan" not in res.output.lower() and not out.exists()


def test_all_huge_values_are_refused_not_written_as_nan(tmp_path):
    df = _table()
    df["z"] = 1e300 * (1 + 0.1 * df["z"])
    res, out = _cli(tmp_path, df)
    assert res.exit_code == 2 and "column 'z'" in res.output and "too large" in res.output
    assert not out.exists()


def test_nan_values_are_missing_left_out_and_counted(tmp_path, fast):
    df = _table()
    df.loc[[0, 5, 9], "z"] = np.nan
    res, out = _cli(tmp_path, df)
    assert res.exit_code == 0, res.output
    assert "3 missing (NaN) value(s) left out" in res.output
    got = pd.read_csv(out)
    assert int(got["n_missing"][0]) == 3 and int(got["n"][0]) == 117
    alone = _quiet(fast, df.dropna().reset_index(drop=True))
    np.testing.assert_allclose(got["range"], alone["range"], rtol=1e-6)


def test_a_dataset_with_too_few_values_left_is_named(tmp_path):
    df = pd.concat([_table().assign(dataset="good"),
                    _table(n=60, seed=8).assign(dataset="holey")], ignore_index=True)
    df.loc[df["dataset"].eq("holey") & (df.index % 30 != 0), "z"] = np.nan
    res, out = _cli(tmp_path, df)
    assert res.exit_code == 2 and "'holey'" in res.output and "2 location" in res.output
    assert not out.exists()


def test_constant_values_are_refused_naming_the_dataset(fast):
    coords, _ = _field(9)
    with pytest.raises(ValueError, match=r"dataset 0.*constant"):
        fast.estimate([(coords, np.full(len(coords), 3.0))])


def test_non_numeric_values_are_named():
    df = _table().astype({"z": object})
    df.loc[4, "z"] = "abc"
    with pytest.raises(ValueError, match=r"column 'z' has non-numeric values \(rows \[4\]\)"):
        load_estimator(FAST).estimate(df)


# --- far outside the trained sizes ----------------------------------------------------------
def test_far_too_few_locations_are_refused_unless_forced(tmp_path, fast):
    assert fast.spec.design.n_range == (50, 1000)
    res, out = _cli(tmp_path, _table(n=10))
    assert res.exit_code == 2 and "--force" in res.output and "10 locations" in res.output
    assert not out.exists()
    with pytest.raises(ValueError, match="far outside the 50..1000"):
        fast.estimate(_table(n=10))
    res, out = _cli(tmp_path, _table(n=10), "--force")
    assert res.exit_code == 0 and "extrapolations" in res.output, res.output
    # slightly outside (25 ≤ n < 50): a warning only
    with pytest.warns(UserWarning, match="trained on 50..1000"):
        fast.estimate(_table(n=30))


# --- files, help, options -------------------------------------------------------------------
def test_a_file_that_is_not_an_estimator_gives_one_clean_message(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x80\x04 definitely not torch")
    for target, msg in ((junk, "is not a fieldfit estimator file"),
                        (tmp_path, "is a directory"),
                        (tmp_path / "missing.pt", "no estimator file")):
        with pytest.raises(ValueError, match=msg) as err:
            load_estimator(target)
        assert "weights_only" not in str(err.value) and "\n" not in str(err.value)
    torch.save({"format": 1, "nothing": 0}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a fieldfit estimator file"):
        load_estimator(tmp_path / "other.pt")


def test_estimate_help_lists_every_shipped_estimator():
    res = CliRunner().invoke(app, ["estimate", "--help"], terminal_width=100)
    flat = " ".join(res.output.replace("-\n", "-").split())
    for name in available():
        assert name in flat.replace("- ", "-"), (name, res.output)


def test_out_is_checked_before_any_work(tmp_path):
    """A bad --out fails first: the data file named does not even exist."""
    missing_data = str(tmp_path / "nope.csv")
    (tmp_path / "file").write_text("x")
    runner = CliRunner()
    cases = [(tmp_path / "e.txt", "unknown file type"), (tmp_path, "is a folder"),
             (tmp_path / "file" / "e.csv", "is a file, not a folder")]
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        cases.append((ro / "e.csv", "cannot write"))
    for out, msg in cases:
        res = runner.invoke(app, ["estimate", "--estimator", FAST, missing_data,
                                  "--out", str(out)])
        assert res.exit_code == 2 and "--out" in res.output and msg in res.output, res.output
    # a folder still to be made is made, as for every other output (cli.outputs)
    res, out = _cli(tmp_path, _table(), out=tmp_path / "new" / "sub" / "e.csv")
    assert res.exit_code == 0 and out.is_file(), res.output


def test_a_failed_estimate_leaves_the_old_output_untouched(tmp_path):
    res, out = _cli(tmp_path, _table())
    assert res.exit_code == 0
    before = out.read_bytes()
    df = _table()
    df.loc[2, "z"] = np.inf
    res, _ = _cli(tmp_path, df)
    assert res.exit_code == 2 and out.read_bytes() == before


def test_train_estimator_grid_is_nx_by_ny():
    spec = spec_from_options(design="grid", grid="16x8")
    assert (spec.design.nx, spec.design.ny) == (16, 8)
    pts = spec.design.sample()
    assert len(np.unique(pts[:, 0])) == 16 and len(np.unique(pts[:, 1])) == 8
    res = CliRunner().invoke(app, ["train-estimator", "--help"], terminal_width=100)
    assert "NXxNY" in res.output and "NYxNX" not in res.output
