"""What the summary tables say: the covariance's parameterisation, the practical range √(8ν)·ℓ
beside ℓ with its units; ``fieldfit estimate``'s table; ``fieldfit simulate`` keeping the
columns of its POINTS."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import gamma, kv
from scipy.stats import norm

from cli_helpers import fails, invoke, matern_frame, ok
from fieldfit import FitResult, GaussianField, Matern, Observations
from fieldfit.fit import fit
from fieldfit.fit.parameterisation import describe, parameterisation_line

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MATERN_FORMULA = "C(h) = σ² 2^{1−ν}/Γ(ν) (h/ℓ)^ν K_ν(h/ℓ)"
PARAMS = "variance=1,range=0.2,smoothness=1.5,nugget=0.1,mean=0.5"


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _line(text: str, name: str) -> str:
    """The table row of ``name``: the one line that starts with it followed by a number."""
    rows = [line for line in text.splitlines()
            if line.split()[:1] == [name] and _number(line.split()[1])]
    assert len(rows) == 1, (name, text)
    return rows[0]


def _row(text: str, name: str) -> list[str]:
    """The cells of the table row of ``name`` (brackets and commas dropped)."""
    return _line(text, name).replace("[", " ").replace("]", " ").replace(",", " ").split()


def _fixed_smoothness_result(units=None) -> FitResult:
    return FitResult(model="matern", engine="exact",
                     params={"variance": 1.2, "range": 0.1, "smoothness": 1.5, "nugget": 0.1,
                             "mean": 0.3},
                     stderr={"variance": 0.3, "range": 0.02, "smoothness": None,
                             "nugget": 0.03, "mean": 0.2},
                     loglik=-50.0, n=100, seconds=1.0, fixed=["smoothness"], n_free=4,
                     scales={"variance": "log", "range": "log", "nugget": "log",
                             "mean": "identity"}, units=units or {})


# --- FitResult.summary ---------------------------------------------------------------------------
def test_summary_states_the_matern_and_its_practical_range_with_a_fixed_smoothness():
    """ν fixed: the practical range is √(8ν)·ℓ, its standard error √(8ν)·se(ℓ) and its interval
    the range's times √(8ν), exactly; the table ends with the covariance's formula and the
    unit of planar coordinates."""
    r = _fixed_smoothness_result()
    text = r.summary()
    factor = math.sqrt(8 * 1.5)
    cells = _row(text, "practical_range")
    assert float(cells[1]) == pytest.approx(factor * 0.1, rel=6e-4)
    assert float(cells[2]) == pytest.approx(factor * 0.02, rel=1e-3)
    lo, hi = r.confidence_interval("range")
    assert float(cells[3]) == pytest.approx(factor * lo, rel=1e-3)
    assert float(cells[4]) == pytest.approx(factor * hi, rel=1e-3)
    assert "data units   (√(8ν)·ℓ)" in _line(text, "practical_range")
    assert _line(text, "range").endswith("] data units")
    lines = text.splitlines()
    assert lines.index(next(x for x in lines if x.startswith("practical_range"))) == \
        lines.index(next(x for x in lines if x.startswith("range "))) + 1
    tail = " ".join(lines[-2:])
    assert MATERN_FORMULA in tail and "fixed at 1.5" in tail and "√(8ν)·ℓ" in tail
    assert "distances in data units" in tail


def test_summary_of_a_lonlat_fit_gives_kilometres():
    text = _fixed_smoothness_result(units={"range": "km"}).summary()
    assert " km   (√(8ν)·ℓ)" in _line(text, "practical_range")
    assert _line(text, "range").endswith("] km")
    assert "distances in km" in text and "data units" not in text


@pytest.fixture(scope="module")
def free_smoothness_fit():
    """A Matérn fit with ν estimated, on 80 simulated points."""
    rng = np.random.default_rng(3)
    xy = rng.uniform(size=(80, 2))
    model = GaussianField(Matern(), mean="constant")
    z = model.simulate(xy, {"variance": 1.0, "range": 0.1, "smoothness": 1.0, "nugget": 0.05,
                            "mean": 0.0}, seed=2)[0]
    return fit(model, Observations(xy, z), restarts=0, progress=False)


def test_practical_range_uses_the_estimated_smoothness_and_the_joint_covariance(
        free_smoothness_fit):
    """ν estimated: √(8ν̂)·ℓ̂, with the delta method over the joint covariance of (log ℓ,
    log ν) from the Hessian: var = v_ℓℓ + v_νν/4 + v_ℓν."""
    r = free_smoothness_fit
    assert r.hessian is not None and "smoothness" not in r.fixed
    (d,) = r.practical_ranges()
    nu, ell = r.params["smoothness"], r.params["range"]
    assert d.value == pytest.approx(math.sqrt(8 * nu) * ell, rel=1e-12)
    names = list(r.scales)[:r.hessian.shape[0]]
    cov = np.linalg.inv(r.hessian)
    i, j = names.index("range"), names.index("smoothness")
    sd_log = math.sqrt(cov[i, i] + cov[j, j] / 4 + cov[i, j])
    assert d.stderr == pytest.approx(d.value * sd_log, rel=1e-6)
    z = norm.ppf(0.975)
    assert d.interval == pytest.approx((d.value * math.exp(-z * sd_log),
                                        d.value * math.exp(z * sd_log)), rel=1e-6)
    text = r.summary()
    assert float(_row(text, "practical_range")[1]) == pytest.approx(d.value, rel=6e-4)
    assert "ν = smoothness (estimated:" in text


def test_practical_ranges_survive_the_json_round_trip(free_smoothness_fit):
    """The JSON keeps the practical range with its standard error (which needs the Hessian,
    not written), so the summary of a result read back prints the same row."""
    r = free_smoothness_fit
    d = json.loads(r.to_json())["practical_ranges"]["practical_range"]
    (p,) = r.practical_ranges()
    assert d["value"] == pytest.approx(p.value) and d["stderr"] == pytest.approx(p.stderr)
    assert d["unit"] == "data units" and d["formula"] == "√(8ν)·ℓ"
    back = FitResult.from_json(r.to_json())
    assert back.hessian is None
    assert _row(back.summary(), "practical_range") == _row(r.summary(), "practical_range")


def test_interrupted_fit_shows_the_practical_range_without_an_interval():
    r = _fixed_smoothness_result()
    r.stderr = {k: None for k in r.params}
    r.interrupted = True
    cells = _row(r.summary(), "practical_range")
    assert float(cells[1]) == pytest.approx(math.sqrt(12) * 0.1, rel=6e-4)
    assert cells[2] == "n/a"


# --- the descriptions of every model --------------------------------------------------------------
def _matern_rho(r, nu):
    return 2 ** (1 - nu) / gamma(nu) * r ** nu * kv(nu, r)


@pytest.mark.parametrize("nu", [0.5, 1.0, 2.5])
def test_the_practical_range_is_where_the_matern_correlation_is_about_0_14(nu):
    (d,) = describe("matern", {"range": 0.3, "smoothness": nu}, ["smoothness"])[1]
    h = d.function({"range": 0.3, "smoothness": nu})
    assert _matern_rho(h / 0.3, nu) == pytest.approx(0.14, abs=0.006)


def test_each_registered_model_names_its_covariance():
    """The parameterisation line of each registered model, and its practical ranges' values."""
    cases = {
        "exponential": ({"range": 2.0}, "exp(−h/ℓ)", {"practical_range": 4.0}),
        "gaussian": ({"range": 2.0}, "exp(−h²/(2ℓ²))", {"practical_range": 4.0}),
        "anisotropic-matern": ({"range": 2.0, "smoothness": 0.5, "angle": 0.1, "ratio": 0.5},
                               "along the angle", {"practical_range": 4.0}),
        "separable-matern-exponential": (
            {"range": 2.0, "smoothness": 0.5, "time_range": 3.0}, "ρ_S(‖h‖/ℓ) ρ_T(|u|/ℓ_T)",
            {"practical_range": 4.0, "time_practical_range": 6.0}),
        "gneiting": ({"range": 2.0, "smoothness": 0.5, "time_range": 3.0},
                     "ψ(u)^{−βd/2}", {"practical_range": 4.0}),
        "matern-spde": ({"range": 2.0, "smoothness": 1.0}, "ℓ = 1/κ",
                        {"practical_range": 2.0 * math.sqrt(8)}),
        "advection-diffusion": ({"kappa": 0.5, "c": 1.0, "tau": 1.0, "H_scale": 1.0},
                                "Clarotto", {"practical_range": math.sqrt(8) * 2.0}),
    }
    options = {"alpha": 1, "alpha_s": 1}   # the advection–diffusion model's orders: ν = 1
    for name, (params, fragment, values) in cases.items():
        text, derived = describe(name, params, [], options)
        assert fragment in text, (name, text)
        got = {d.name: float(d.function(params)) for d in derived}
        assert got == pytest.approx(values), name
    line = " ".join(parameterisation_line("gneiting", cases["gneiting"][0]))
    assert "times in time units" in line
    text, derived = describe("advection-diffusion", cases["advection-diffusion"][0])
    assert derived == [] and "√(8ν)·√H_scale/κ" in text   # the orders unknown: no value


def test_model_summary_with_the_model_gives_the_advection_diffusion_practical_range():
    """The advection–diffusion result's practical range needs the model's orders, which its
    ``to_spec()`` gives."""
    class Spec:
        def to_spec(self):
            return {"model": "advection-diffusion", "alpha": 2, "alpha_s": 0}

    r = FitResult(model="advection-diffusion", engine="spde",
                  params={"kappa": 2.0, "c": 1.0, "tau": 1.0, "H_scale": 1.0, "nugget": 0.1},
                  stderr={"kappa": 0.2, "c": 0.1, "tau": 0.1, "H_scale": None, "nugget": 0.01},
                  loglik=-1.0, n=10, seconds=1.0, fixed=["H_scale"], n_free=4,
                  scales={k: "log" for k in ("kappa", "c", "tau", "nugget")})
    assert "practical_range" not in r.summary()
    text = r.summary(model=Spec())
    cells = _row(text, "practical_range")       # ν = 2 + 0 − 1 = 1: √8 / κ
    assert float(cells[1]) == pytest.approx(math.sqrt(8) / 2.0, rel=6e-4)
    lo, hi = r.confidence_interval("kappa")
    assert float(cells[3]) == pytest.approx(math.sqrt(8) / hi, rel=1e-3)
    assert float(cells[4]) == pytest.approx(math.sqrt(8) / lo, rel=1e-3)


# --- fieldfit fit and sample ----------------------------------------------------------------------
def test_fit_prints_the_practical_range_and_the_parameterisation(tmp_path):
    data = tmp_path / "d.csv"
    matern_frame().to_csv(data, index=False)
    res = ok(invoke("fit", data, "--coords", "x,y", "--value", "z", "--fix", "smoothness=1.5",
                    "--id", "id", "--out", tmp_path / "r.json"))
    result = json.loads((tmp_path / "r.json").read_text())
    value = math.sqrt(12) * result["params"]["range"]
    assert float(_row(res.output, "practical_range")[1]) == pytest.approx(value, rel=6e-4)
    assert result["practical_ranges"]["practical_range"]["value"] == pytest.approx(value)
    assert MATERN_FORMULA in res.output and "distances in data units" in res.output


def test_posterior_table_adds_the_practical_range_of_each_draw():
    """sample's table: the practical range summarised over the draws (√(8ν)·ℓ of each draw),
    before the table's last line, and the parameterisation after it."""
    from fieldfit.cli.outputs import posterior_table
    from fieldfit.fit.mcmc import PosteriorSample

    rng = np.random.default_rng(0)
    draws = {"variance": rng.lognormal(0, 0.1, (2, 50)), "range": rng.lognormal(-2, 0.2, (2, 50)),
             "nugget": rng.lognormal(-3, 0.1, (2, 50)), "mean": rng.normal(0, 1, (2, 50))}
    stats = {k: np.zeros((2, 50)) for k in ("diverging", "lp", "loglik", "step_size")}
    model = GaussianField(Matern(smoothness=1.5), mean="constant")
    post = PosteriorSample(model=model, obs=Observations(rng.uniform(size=(5, 2)), np.ones(5)),
                           draws=draws, stats=stats, fixed={"smoothness": 1.5}, priors={},
                           seconds=1.0)
    lines = posterior_table(post).splitlines()
    (i,) = [k for k, x in enumerate(lines) if x.startswith("practical_range")]
    assert "chain(s)" in lines[i + 1]
    cells = lines[i].split()
    assert float(cells[1]) == pytest.approx(np.mean(math.sqrt(12) * draws["range"]), rel=1e-3)
    assert float(cells[4]) == pytest.approx(np.median(math.sqrt(12) * draws["range"]),
                                            rel=1e-3)
    assert cells[-2:] == ["data", "units"]
    assert MATERN_FORMULA in " ".join(lines[i + 2:])


def test_times_given_as_dates_are_in_days():
    """Dates become days since 1970 (``time_unit="days"``, kept by subsets); a space-time
    model's parameterisation then names days as the unit of time."""
    from fieldfit.cli.outputs import parameterisation_lines
    from fieldfit.models import build

    df = pd.DataFrame({"x": [0.0, 1.0, 0.5], "y": [0.0, 0.0, 1.0], "z": [1.0, 2.0, 0.5],
                       "t": ["2020-01-01", "2020-01-02", "2020-01-04"]})
    obs = Observations.from_dataframe(df, coords=["x", "y"], value="z", time="t")
    assert obs.time_unit == "days" and obs.subset([0, 2]).time_unit == "days"
    assert obs.times.tolist() == [18262.0, 18263.0, 18265.0]
    numbers = Observations.from_dataframe(df.assign(t=[0, 1, 3]), coords=["x", "y"],
                                          value="z", time="t")
    assert numbers.time_unit is None
    model = build("separable")
    params = {"range": 1.0, "smoothness": 1.0, "time_range": 2.0}
    assert "times in days" in " ".join(parameterisation_lines(model, params, obs=obs))
    line = " ".join(parameterisation_lines(model, params, obs=numbers))
    assert "times in time units (days when the time column holds dates)" in line


# --- fieldfit estimate ----------------------------------------------------------------------------
def test_estimate_prints_a_table_per_dataset(tmp_path):
    """The estimates and their 90% intervals as a table per dataset (the first five of seven),
    with the practical range's interval (ν fixed: √8 times the range's)."""
    rng = np.random.default_rng(0)
    model = GaussianField(Matern(smoothness=1.0), mean="constant")
    frames = []
    for k in range(7):
        xy = rng.uniform(size=(100, 2))
        z = model.simulate(xy, {"variance": 1.0, "range": 0.1, "nugget": 0.1, "mean": 0.0},
                           seed=k)[0]
        frames.append(pd.DataFrame({"dataset": f"d{k}", "x": xy[:, 0], "y": xy[:, 1], "z": z}))
    data, out = tmp_path / "many.csv", tmp_path / "est.csv"
    pd.concat(frames).to_csv(data, index=False)
    res = ok(invoke("estimate", "--estimator", "matern-irregular", data, "--out", out))
    table = pd.read_csv(out)
    text = res.output
    assert [f"dataset d{k}: 100 locations" in text for k in range(7)] == [True] * 5 + [False] * 2
    assert "the first 5 of 7 datasets" in text and "90% interval" in text
    block = text[text.index("dataset d0"):text.index("dataset d1")]
    for name in ("range", "variance", "nugget", "mean"):
        cells = _row(block, name)
        assert [float(c) for c in cells[1:4]] == pytest.approx(
            [table.loc[0, name], table.loc[0, f"{name}_lower"], table.loc[0, f"{name}_upper"]],
            rel=6e-4)
    cells = _row(block, "practical_range")
    assert [float(c) for c in cells[1:4]] == pytest.approx(
        [math.sqrt(8) * table.loc[0, c] for c in ("range", "range_lower", "range_upper")],
        rel=6e-4)
    assert _row(block, "smoothness")[1:] == ["1", "fixed"]
    assert MATERN_FORMULA in text and "written to" in text


def test_estimate_table_gives_no_practical_range_interval_when_the_smoothness_is_estimated():
    """Marginal intervals of ℓ and ν do not make one of √(8ν)·ℓ: the estimate only; a
    decreasing practical range (√8/κ) takes its interval's ends in reverse."""
    from fieldfit.cli.outputs import estimate_table

    row = {"range": 0.1, "range_lower": 0.05, "range_upper": 0.2, "smoothness": 2.0,
           "smoothness_lower": 1.0, "smoothness_upper": 3.0}
    rows = "\n".join(estimate_table(row, ["range", "smoothness"], "matern", {}))
    assert _row(rows, "practical_range")[1:3] == ["0.4", "n/a"]
    row = {"kappa": 2.0, "kappa_lower": 1.0, "kappa_upper": 4.0}
    rows = "\n".join(estimate_table(row, ["kappa"], "advection-diffusion", {"H_scale": 1.0},
                                     {"alpha": 1, "alpha_s": 1}))
    cells = _row(rows, "practical_range")
    assert [float(c) for c in cells[1:4]] == pytest.approx(
        [math.sqrt(8) / 2, math.sqrt(8) / 4, math.sqrt(8) / 1], rel=6e-4)


# --- fieldfit simulate ----------------------------------------------------------------------------
def test_simulate_keeps_the_columns_of_its_points(tmp_path):
    """A station id and a covariate stay, in order, before the simulated column; the draws
    are those of the same points without the extra columns."""
    rng = np.random.default_rng(1)
    xy = rng.uniform(size=(20, 2))
    points = pd.DataFrame({"station": [f"st{i}" for i in range(20)], "x": xy[:, 0],
                           "elev": rng.uniform(0, 500, 20), "y": xy[:, 1]})
    path, bare = tmp_path / "pts.csv", tmp_path / "bare.csv"
    points.to_csv(path, index=False)
    points[["x", "y"]].to_csv(bare, index=False)
    out, ref = tmp_path / "sim.csv", tmp_path / "ref.csv"
    ok(invoke("simulate", path, "--params", PARAMS, "--out", out, "--seed", 4))
    ok(invoke("simulate", bare, "--params", PARAMS, "--out", ref, "--seed", 4))
    got = pd.read_csv(out)
    assert list(got.columns) == ["station", "x", "elev", "y", "z"]
    pd.testing.assert_frame_equal(got[["station", "x", "elev", "y"]], points)
    np.testing.assert_array_equal(got["z"], pd.read_csv(ref)["z"])
    out2 = tmp_path / "sim2.parquet"
    ok(invoke("simulate", path, "--params", PARAMS, "--out", out2, "--replicates", 2,
              "--value", "w"))
    assert list(pd.read_parquet(out2).columns) == ["station", "x", "elev", "y", "w_0", "w_1"]


def test_simulate_refuses_a_points_column_it_would_overwrite(tmp_path):
    path = tmp_path / "pts.csv"
    pd.DataFrame({"x": [0.1, 0.5], "y": [0.2, 0.9], "z": [1.0, 2.0]}).to_csv(path, index=False)
    out = tmp_path / "sim.csv"
    fails(invoke("simulate", path, "--params", PARAMS, "--out", out),
          "POINTS already has a column 'z'", "--value")
    assert not out.exists()
    fails(invoke("simulate", path, "--params", PARAMS, "--out", out, "--value", "x"),
          "column 'x'")
    ok(invoke("simulate", path, "--params", PARAMS, "--out", out, "--value", "z_sim"))
    assert list(pd.read_csv(out).columns) == ["x", "y", "z", "z_sim"]


def test_simulate_keeps_a_named_parquet_index(tmp_path):
    path = tmp_path / "pts.parquet"
    pd.DataFrame({"x": [0.1, 0.5, 0.7], "y": [0.2, 0.9, 0.4]},
                 index=pd.Index(["a", "b", "c"], name="station")).to_parquet(path)
    out = tmp_path / "sim.csv"
    ok(invoke("simulate", path, "--params", PARAMS, "--out", out))
    got = pd.read_csv(out)
    assert list(got.columns) == ["station", "x", "y", "z"]
    assert list(got["station"]) == ["a", "b", "c"]


def test_a_fit_on_dates_gives_its_time_range_in_days():
    """The fit's result carries the data's time unit for its time ranges (and nothing for
    times given as plain numbers)."""
    from fieldfit.models import build

    rng = np.random.default_rng(3)
    days = pd.date_range("2020-01-01", periods=6, freq="D")
    df = pd.DataFrame({"x": np.tile(rng.uniform(0, 1, 8), 6), "y": np.tile(rng.uniform(0, 1, 8), 6),
                       "t": np.repeat(days, 8).astype(str)})
    df["z"] = rng.normal(size=len(df))
    obs = Observations.from_dataframe(df, coords=["x", "y"], value="z", time="t")
    model = build("separable")
    result = fit(model, obs, fix={"smoothness": 0.5}, restarts=0, stderr=False, maxiter=5)
    assert result.units.get("time_range") == "days"
    assert "range" not in result.units
    plain = Observations.from_dataframe(df.assign(t=np.repeat(np.arange(6.0), 8)),
                                        coords=["x", "y"], value="z", time="t")
    assert "time_range" not in fit(model, plain, fix={"smoothness": 0.5}, restarts=0,
                                   stderr=False, maxiter=5).units


def test_a_huge_log_scale_error_gives_an_unbounded_interval_not_an_overflow():
    """A range estimated far below its standard error (5 points): the practical range's
    interval runs to +inf, like the range's own, and its JSON holds null there."""
    from fieldfit.fit.parameterisation import Derived, wald_derived

    twice = Derived("practical_range", ("range",), "2ℓ", "space", lambda p: 2 * p["range"])
    est = wald_derived(twice, {"range": 0.0088}, {"range": 13.5}, {"range": "log"}, [])
    assert est.value == pytest.approx(0.0176)
    assert est.interval[0] == 0.0 and est.interval[1] == math.inf
    assert est.to_dict()["interval"] == [0.0, None]
