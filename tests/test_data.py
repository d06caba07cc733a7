"""Tests of fieldfit.data.Observations: construction, validation, conversion."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fieldfit.data import Observations


@pytest.fixture
def df():
    rng = np.random.default_rng(0)
    n = 12
    return pd.DataFrame({
        "id": [f"s{i}" for i in range(n)],
        "x": rng.uniform(size=n),
        "y": rng.uniform(size=n),
        "elev": rng.normal(size=n),
        "z": rng.normal(size=n),
    })


def test_dataframe_round_trip(df):
    obs = Observations.from_dataframe(df, coords=["x", "y"], value="z", covariates=["elev"],
                                      id="id")
    assert obs.n == 12 and obs.dim == 2 and obs.n_replicates == 1
    assert obs.coords.shape == (12, 2) and obs.coords.dtype == np.float64
    assert obs.covariates.shape == (12, 1) and obs.covariate_names == ("elev",)
    assert list(obs.ids) == list(df["id"])
    back = obs.to_dataframe()
    assert list(back.columns) == ["id", "x", "y", "elev", "z"]
    pd.testing.assert_frame_equal(back, df[["id", "x", "y", "elev", "z"]], check_dtype=False)


def test_ids_default_to_index(df):
    sub = df.iloc[[3, 5, 7]]
    obs = Observations.from_dataframe(sub, coords=["x", "y"], value="z")
    np.testing.assert_array_equal(obs.ids, [3, 5, 7])
    np.testing.assert_array_equal(Observations(coords=sub[["x", "y"]].to_numpy(),
                                               values=sub["z"].to_numpy()).ids, [0, 1, 2])


def test_from_file_parquet_and_csv(df, tmp_path):
    for name in ("d.parquet", "d.csv", "d.tsv"):
        path = tmp_path / name
        if name.endswith("parquet"):
            df.to_parquet(path)
        else:
            df.to_csv(path, index=False, sep="\t" if name.endswith("tsv") else ",")
        obs = Observations.from_file(path, coords=["x", "y"], value="z", id="id")
        np.testing.assert_allclose(obs.coords, df[["x", "y"]].to_numpy())
        np.testing.assert_allclose(obs.values, df["z"].to_numpy())
        assert list(obs.ids) == list(df["id"])


def test_from_file_errors_name_the_path(df, tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(ValueError, match="nope.csv.*not found"):
        Observations.from_file(missing, coords=["x", "y"], value="z")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty.csv.*empty"):
        Observations.from_file(empty, coords=["x", "y"], value="z")
    header = tmp_path / "header.csv"
    header.write_text("x,y,z\n")
    with pytest.raises(ValueError, match="header.csv.*empty"):
        Observations.from_file(header, coords=["x", "y"], value="z")
    odd = tmp_path / "data.xlsx"
    odd.write_text("x")
    with pytest.raises(ValueError, match=r"data.xlsx.*unknown file type"):
        Observations.from_file(odd, coords=["x", "y"], value="z")
    ok = tmp_path / "ok.csv"
    df.to_csv(ok, index=False)
    with pytest.raises(ValueError, match=r"ok.csv.*\['lat'\] not found.*available.*'x'"):
        Observations.from_file(ok, coords=["lat", "y"], value="z")


def test_missing_columns_listed(df):
    with pytest.raises(ValueError,
                       match=r"\['w'\] not found \(--value\); available columns: \['id', 'x'"):
        Observations.from_dataframe(df, coords=["x", "y"], value="w")


def test_from_xarray_grid():
    xs, ys = np.array([0.0, 1.0, 2.0]), np.array([10.0, 20.0])
    data = np.arange(6.0).reshape(2, 3)
    data[1, 2] = np.nan
    da = xr.DataArray(data, dims=("y", "x"), coords={"y": ys, "x": xs}, name="temp")
    obs = Observations.from_xarray(da)
    assert obs.coords.shape == (6, 2) and obs.coord_names == ("y", "x")
    assert obs.value_name == "temp"
    for k in range(6):  # each point carries its grid cell's value
        i, j = np.unravel_index(k, data.shape)
        assert obs.coords[k].tolist() == [ys[i], xs[j]]
        np.testing.assert_equal(obs.values[k], data[i, j])
    assert obs.missing.tolist() == [False] * 5 + [True]
    swapped = Observations.from_xarray(da, coords=["x", "y"])
    np.testing.assert_array_equal(swapped.coords, obs.coords[:, ::-1])


def test_from_xarray_with_time():
    t = np.array([0.0, 0.5, 1.0, 1.5])
    da = xr.DataArray(np.random.default_rng(1).normal(size=(4, 2, 3)), dims=("time", "y", "x"),
                      coords={"time": t, "y": [0.0, 1.0], "x": [0.0, 1.0, 2.0]})
    obs = Observations.from_xarray(da, time="time")
    assert obs.coords.shape == (24, 2) and obs.coord_names == ("y", "x")
    assert obs.time_name == "time" and obs.points.shape == (24, 3)
    np.testing.assert_array_equal(obs.times, np.repeat(t, 6))
    np.testing.assert_array_equal(obs.values, da.values.ravel())
    days = xr.DataArray(np.zeros((2, 2)), dims=("time", "x"),
                        coords={"time": pd.to_datetime(["1970-01-02", "1970-01-04"]),
                                "x": [0.0, 1.0]})
    np.testing.assert_allclose(Observations.from_xarray(days, time="time").times,
                               [1, 1, 3, 3])
    with pytest.raises(ValueError, match=r"dimension\(s\) \['time'\] are not covered"):
        Observations.from_xarray(da, coords=["y", "x"])


def test_nan_values_missing_and_observed_part():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    obs = Observations(coords=x, values=[1.0, np.nan, 3.0, np.nan], ids=[10, 11, 12, 13])
    assert obs.observed.tolist() == [True, False, True, False]
    assert obs.missing.tolist() == [False, True, False, True]
    part = obs.observed_part()
    assert part.n == 2 and part.ids.tolist() == [10, 12]
    assert not np.isnan(part.values).any()
    targets = obs.missing_part()
    assert targets.ids.tolist() == [11, 13] and np.isnan(targets.values).all()
    np.testing.assert_array_equal(targets.coords, x[[1, 3]])
    assert obs.subset([2]).ids.tolist() == [12] and obs.subset(0).n == 1


def test_replicates():
    x = np.array([[0.0], [1.0], [2.0]])
    y = np.array([[1.0, np.nan, 3.0], [4.0, np.nan, np.nan]])
    obs = Observations(coords=x, values=y)
    assert obs.n_replicates == 2 and obs.values_2d.shape == (2, 3) and obs.dim == 1
    assert obs.observed.tolist() == [True, False, True]  # observed if any replicate is
    assert obs.observed_part().values.shape == (2, 2)
    single = Observations(coords=x, values=[1.0, 2.0, 3.0])
    assert single.n_replicates == 1 and single.values_2d.shape == (1, 3)
    df = pd.DataFrame({"x": [0.0, 1.0, 2.0], "a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]})
    rep = Observations.from_dataframe(df, coords=["x"], value=["a", "b"])
    np.testing.assert_array_equal(rep.values, [[1, 2, 3], [4, 5, 6]])
    assert list(rep.to_dataframe().columns) == ["id", "x", "a", "b"]


def test_points_with_times():
    x = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 2.0]])
    t = np.array([0.0, 1.0, 2.0])  # same place at different times is no duplicate
    obs = Observations(coords=x, values=[1.0, 2.0, 3.0], times=t)
    np.testing.assert_array_equal(obs.points, np.column_stack([x, t]))
    assert obs.dim == 2 and obs.time_name == "t"
    assert Observations(coords=x[1:], values=[1.0, 2.0]).points.shape == (2, 2)


def test_prediction_locations_without_values(df):
    obs = Observations.from_dataframe(df, coords=["x", "y"], value=None)
    assert obs.missing.all() and obs.n == 12
    with pytest.raises(ValueError, match="no observed value"):
        Observations(coords=df[["x", "y"]].to_numpy(), values=np.full(12, np.nan))


def test_diameter():
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(50, 2))
    from scipy.spatial.distance import pdist

    assert Observations(coords=x, values=np.zeros(50)).diameter() == pytest.approx(
        pdist(x).max())
    big = rng.normal(size=(3000, 2))
    assert Observations(coords=big, values=np.zeros(3000)).diameter() == pytest.approx(
        pdist(big).max())


GOOD = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])


@pytest.mark.parametrize("kwargs, match", [
    (dict(coords=np.zeros((0, 2)), values=np.zeros(0)), "empty input"),
    (dict(coords=GOOD, values=[np.nan] * 3), "no observed value"),
    (dict(coords=[[0.0, np.nan], [1.0, 0.0], [np.inf, 1.0]], values=[1.0, 2.0, 3.0],
          ids=[7, 8, 9]),
     r"NaN or infinite coordinates in coordinate column 0, coordinate column 1: 2 row\(s\) "
     r"\(first ids: \[7, 9\]"),
    (dict(coords=GOOD, values=[1.0, 2.0, 3.0], times=[0.0, np.nan, 1.0]), "NaN or infinite times"),
    (dict(coords=GOOD, values=[1.0, np.inf, 3.0]), "infinite values"),
    (dict(coords=GOOD, values=[1.0, 2.0]), "mismatched lengths.*values"),
    (dict(coords=GOOD, values=[1.0, 2.0, 3.0], times=[0.0]), "mismatched lengths.*times"),
    (dict(coords=GOOD, values=[1.0, 2.0, 3.0], covariates=np.ones((2, 1))),
     "mismatched lengths.*covariates"),
    (dict(coords=GOOD, values=[1.0, 2.0, 3.0], ids=[1, 2]), "mismatched lengths.*ids"),
    (dict(coords=GOOD, values=np.ones((2, 4))), "mismatched lengths.*values"),
    (dict(coords=[0.0, 1.0, 2.0], values=[1.0, 2.0, 3.0]), "coords must be 2-D"),
    (dict(coords=GOOD, values=[1.0, 2.0, 3.0], covariates=[[1.0], [np.nan], [2.0]]),
     r"NaN or infinite covariates on observed rows in covariate column 0: 1 row\(s\)"),
    (dict(coords=[[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]], values=[1.0, 2.0, 3.0], ids=[4, 5, 6],
          duplicates="error"),
     r"duplicated locations.*ids: \[4, 6\].*average.*repeated measurements.*nugget"),
    (dict(coords=GOOD[[0, 0, 1]], values=[1.0, 2.0, 3.0], times=[1.0, 1.0, 1.0],
          duplicates="error"),
     "duplicated locations.*location and time"),
    (dict(coords=GOOD, values=[1.0, 2.0, 3.0], duplicates="maybe"), "duplicates must be"),
    (dict(coords=[["a", "b"]] * 3, values=[1.0, 2.0, 3.0]), "coords must be numeric"),
])
def test_bad_input_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Observations(**kwargs)


def test_nan_covariates_on_missing_rows_are_fine():
    obs = Observations(coords=GOOD, values=[1.0, np.nan, 3.0],
                       covariates=[[1.0], [np.nan], [2.0]])
    assert obs.missing.tolist() == [False, True, False]


def test_duplicates_allowed_and_among_missing_rows():
    x = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    obs = Observations(coords=x, values=[1.0, 2.0, 3.0, 4.0])  # accepted by default
    assert obs.n == 4 and obs.subset([0, 1]).n == 2 and obs.n_duplicated == 4
    ok = Observations(coords=x, values=[1.0, np.nan, 3.0, np.nan], duplicates="error")
    assert ok.observed.sum() == 2 and ok.n_duplicated == 0  # one observed per place
    targets = Observations(coords=x, values=[np.nan] * 4, require_values=False,
                           duplicates="error")
    assert targets.n == 4
    assert Observations(coords=x, values=[1.0, 2.0, 3.0, np.nan]).n_duplicated == 2
    with pytest.raises(ValueError, match="duplicated locations"):
        Observations(coords=x, values=[1.0, 2.0, 3.0, np.nan], duplicates="error")
    with pytest.raises(ValueError, match="duplicated"):
        Observations(coords=[[0.0, 0.0], [-0.0, 0.0]], values=[1.0, 2.0], duplicates="error")


def test_input_arrays_are_copied():
    x, y = GOOD.copy(), np.array([1.0, 2.0, 3.0])
    obs = Observations(coords=x, values=y)
    x[0, 0], y[0] = 99.0, 99.0
    assert obs.coords[0, 0] == 0.0 and obs.values[0] == 1.0
    with pytest.raises(AttributeError):
        obs.values = y


def test_n_locations_counts_distinct_observed_places():
    x = np.array([[0.0, 0.0], [-0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    assert Observations(coords=x, values=[1.0, 2.0, 3.0, np.nan]).n_locations == 1
    assert Observations(coords=x, values=[1.0, 2.0, 3.0, 4.0]).n_locations == 2
    assert Observations(coords=x, values=[1.0, 2.0, 3.0, 4.0],
                        times=[0.0, 1.0, 2.0, 3.0]).n_locations == 2  # space only
    assert Observations(coords=x, values=[np.nan] * 4, require_values=False).n_locations == 0
