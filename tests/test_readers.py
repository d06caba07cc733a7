"""The readers (fieldfit.io.read_table, Observations.from_file / from_dataframe) on bad files
and bad columns: each case raises one ValueError naming the file, the column (with its
command-line option) or the row, or gives finite, correct Observations."""

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fieldfit.data import MAX_MAGNITUDE, MIN_SPREAD, Observations
from fieldfit.io import read_table


def frame(n=6, **columns):
    """``n`` rows of x, y, z (distinct locations), with ``columns`` replacing or adding."""
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"x": rng.uniform(size=n), "y": rng.uniform(size=n),
                       "z": rng.normal(size=n)})
    for k, v in columns.items():
        df[k] = v
    return df


def read(path, **kw):
    kw = {"coords": ["x", "y"], "value": "z", **kw}
    return Observations.from_file(path, **kw)


def one_line(e):
    msg = str(e.value)
    assert "\n" not in msg, msg
    return msg


# --- files ----------------------------------------------------------------------------------


def test_directory_is_reported_as_a_directory(tmp_path):
    for d in (tmp_path / "data.csv", tmp_path / "folder"):
        d.mkdir()
        with pytest.raises(ValueError, match="is a directory") as e:
            read_table(d)
        assert "not found" not in one_line(e)
    with pytest.raises(ValueError, match="data.csv: is a directory"):
        read(tmp_path / "data.csv")


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match="nope.csv: file not found"):
        read_table(tmp_path / "nope.csv")
    odd = tmp_path / "data.xlsx"
    odd.write_text("x,y,z\n0,0,1\n")
    with pytest.raises(ValueError, match=r"unknown file type '.xlsx'.*\.parquet.*\.csv.*\.tsv"):
        read_table(odd)
    bare = tmp_path / "data"
    bare.write_text("x,y,z\n0,0,1\n")
    with pytest.raises(ValueError, match=r"unknown file type '\(no suffix\)'.*\.csv"):
        read_table(bare)


@pytest.mark.parametrize("text, match", [
    ("", "empty file"),
    ("\n\n  \n", "empty file"),
    ("x,y,z\n", r"empty file \(no data rows\)"),
])
def test_empty_files(tmp_path, text, match):
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match) as e:
        read(path)
    assert one_line(e).startswith(str(path))


def test_unreadable_files_give_one_line(tmp_path):
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("x,y,z\n0,0,1\n1,1,2,3,4\n")
    with pytest.raises(ValueError, match=r"ragged.csv: cannot read csv file.*line 3") as e:
        read_table(ragged)
    one_line(e)
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"\x00\x01 not a parquet file " * 10)
    with pytest.raises(ValueError, match="junk.parquet: cannot read parquet file") as e:
        read_table(junk)
    one_line(e)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("x,y,z\n0,0,caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="latin.csv: cannot read csv file") as e:
        read_table(latin)
    one_line(e)


def test_repeated_header_names_are_refused(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("x,y,x,z\n0,0,5,1\n1,0,6,2\n0,1,7,3\n")  # pandas would rename to x.1
    with pytest.raises(ValueError, match=r"d.csv: column name 'x' appears 2 times in the "
                                         r"header \(columns 1, 3\)"):
        read(csv)
    table = pa.table([pa.array([0.0, 1.0]), pa.array([0.0, 1.0]), pa.array([1.0, 2.0])],
                     names=["x", "x", "z"])
    pq.write_table(table, tmp_path / "d.parquet")
    with pytest.raises(ValueError, match="column name 'x' appears 2 times"):
        read_table(tmp_path / "d.parquet")
    # unnamed header cells (a written index, say) are no repeated names
    ok = tmp_path / "ok.csv"
    ok.write_text(",,x,y,z\n0,a,0,0,1\n1,b,1,1,2\n")
    assert list(read_table(ok).columns)[2:] == ["x", "y", "z"]


def test_repeated_column_of_a_dataframe():
    df = frame()
    df.columns = ["x", "x", "z"]
    with pytest.raises(ValueError, match=r"column 'x' \(--coords\) appears 2 times"):
        Observations.from_dataframe(df, coords=["x"], value="z")


# --- which column plays which part ----------------------------------------------------------


@pytest.mark.parametrize("kw, match", [
    (dict(coords=["x", "x"]), "column 'x' is given 2 times in --coords"),
    (dict(value="x"), "column 'x' is given both in --coords and in --value"),
    (dict(time="y"), "column 'y' is given both in --coords and in --time"),
    (dict(value="z", time="z"), "column 'z' is given both in --value and in --time"),
    (dict(covariates=["w", "z"]), "column 'z' is given both in --value and in --covariates"),
    (dict(value=["z", "z"]), "column 'z' is given 2 times in --value"),
    (dict(coords=[]), r"no coordinate columns given \(--coords\)"),
    (dict(value="w"), r"\['w'\] not found \(--value\); available columns: \['x', 'y', 'z'\]"),
    (dict(covariates=["elev"], id="site"),
     r"\['elev', 'site'\] not found \(--covariates, --id\)"),
])
def test_column_roles(kw, match):
    kw = {"coords": ["x", "y"], "value": "z", **kw}
    with pytest.raises(ValueError, match=match):
        Observations.from_dataframe(frame(w=1.0) if "w" in str(kw) and "w" != kw["value"]
                                    else frame(), **kw)


# --- cell contents --------------------------------------------------------------------------


def test_text_in_a_numeric_column_names_column_and_row(tmp_path):
    df = frame(site=[f"s{i}" for i in range(6)])
    df["z"] = df["z"].astype(object)
    df.loc[[2, 4], "z"] = ["abc", "n/a?"]
    df.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(ValueError, match=r"column 'z' \(--value\) is not numeric: 2 row\(s\) "
                                         r"hold values such as 'abc' \(first ids: \['s2', 's4'\]"):
        read(tmp_path / "d.csv", id="site")
    df = frame()
    df["x"] = df["x"].astype(object)
    df.loc[1, "x"] = "east"
    df.to_csv(tmp_path / "e.csv", index=False)
    with pytest.raises(ValueError, match=r"column 'x' \(--coords\) is not numeric.*'east' "
                                         r"\(first ids: \[1\]"):
        read(tmp_path / "e.csv")
    with pytest.raises(ValueError, match=r"column 'x' \(--covariates\) is not numeric"):
        Observations.from_dataframe(df.assign(a=0.1 * np.arange(6)), coords=["a", "y"],
                                    value="z", covariates=["x"])


def test_numbers_stored_as_text_are_read():
    df = frame()
    as_text = df.astype(str).assign(z=lambda d: d["z"].where(d.index != 3, " "))
    obs = Observations.from_dataframe(as_text, coords=["x", "y"], value="z")
    np.testing.assert_allclose(obs.coords, df[["x", "y"]].to_numpy())
    assert obs.missing.tolist() == [False, False, False, True, False, False]
    np.testing.assert_allclose(obs.values[obs.observed], df["z"].drop(3))


def test_wrong_python_types_in_cells():
    df = frame()
    df["z"] = df["z"].astype(object)
    df.loc[2, "z"] = [1.0, 2.0]
    with pytest.raises(ValueError, match=r"column 'z' \(--value\) is not numeric.*list"):
        Observations.from_dataframe(df, coords=["x", "y"], value="z")
    df.loc[2, "z"] = 10 ** 400  # an integer beyond float64
    with pytest.raises(ValueError, match=r"column 'z' \(--value\) is not numeric"):
        Observations.from_dataframe(df, coords=["x", "y"], value="z")
    with pytest.raises(ValueError, match=r"column 'x' \(--coords\) holds dates"):
        Observations.from_dataframe(frame(x=pd.date_range("2020-01-01", periods=6)),
                                    coords=["x", "y"], value="z")
    with pytest.raises(ValueError, match=r"column 'z' \(--value\) holds complex"):
        Observations.from_dataframe(frame(z=np.ones(6) * 1j), coords=["x", "y"], value="z")
    yes_no = Observations.from_dataframe(frame(z=[True, False] * 3), coords=["x", "y"],
                                         value="z")
    assert yes_no.values.tolist() == [1.0, 0.0] * 3


def test_infinite_and_missing_cells(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("x,y,z\n0,0,1\n1,0,inf\n0,1,1e400\n1,1,2\n")
    with pytest.raises(ValueError, match=r"infinite values in column 'z' \(--value\): 2 row\(s\) "
                                         r"\(first ids: \[1, 2\]\); leave a cell empty"):
        read(path)
    path.write_text("x,y,z\n0,0,1\n,0,2\n0,1,3\n")
    with pytest.raises(ValueError, match=r"NaN or infinite coordinates in column 'x' "
                                         r"\(--coords\): 1 row\(s\) \(first ids: \[1\]\)"):
        read(path)
    path.write_text("x,y,z,w\n0,0,,1\n1,0,,1\n0,1,,2\n")  # an empty value column
    with pytest.raises(ValueError, match=r"no observed value: all 3 values of column 'z' "
                                         r"\(--value\) are NaN or empty"):
        read(path)
    with pytest.raises(ValueError, match=r"NaN or infinite covariates on observed rows in "
                                         r"column 'z' \(--covariates\)"):
        read(path, value="w", covariates=["z"])
    path.write_text("x,y,z\n0,0,1\n1,0,\n0,1,3\n")  # an empty cell: a prediction target
    obs = read(path)
    assert obs.missing.tolist() == [False, True, False]


# --- magnitudes -----------------------------------------------------------------------------


@pytest.mark.parametrize("column, option", [("z", "--value"), ("x", "--coords"),
                                            ("w", "--covariates"), ("t", "--time")])
def test_overflowing_magnitudes_are_refused_without_numpy_warnings(tmp_path, column, option):
    df = frame(w=np.arange(6.0), t=np.arange(6.0))
    df.loc[4, column] = -1e300
    df.to_csv(tmp_path / "d.csv", index=False)
    kw = dict(covariates=["w"] if column == "w" else None, time="t" if column == "t" else None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning on the way
        with pytest.raises(ValueError, match=rf"above 1e\+100 in magnitude in column "
                                             rf"'{column}' \({option}\): 1 row\(s\) \(first "
                                             r"ids: \[4\]\); rescale"):
            read(tmp_path / "d.csv", **kw)


def test_magnitude_thresholds():
    base = dict(coords=[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], values=[1.0, 2.0, 3.0])
    for big in (0.99 * MAX_MAGNITUDE, -MAX_MAGNITUDE):  # up to the limit: accepted, finite
        obs = Observations(**{**base, "values": [big, 0.0, 1.0]})
        assert np.isfinite(obs.values).all()
        Observations(**{**base, "coords": [[big, 0.0], [0.0, 0.0], [0.0, 1.0]]})
    with pytest.raises(ValueError, match="above 1e\\+100"):
        Observations(**{**base, "values": [2 * MAX_MAGNITUDE, 0.0, 1.0]})
    # a tiny but non-zero spread would underflow when squared
    tiny = 1e-3 * MIN_SPREAD
    with pytest.raises(ValueError, match=r"values in the value array all lie within 1e-103"):
        Observations(**{**base, "values": [1e-200, 1e-200 + tiny, 1e-200]})
    with pytest.raises(ValueError, match=r"coordinates in coordinate column 0 all lie within"):
        Observations(**{**base, "coords": [[0.0, 0.0], [tiny, 0.0], [0.0, 1.0]]})
    # a zero spread is no scale problem (constant values are for the fit to judge), and
    # NaN values on rows to predict do not count
    assert Observations(**{**base, "values": [5.0, 5.0, np.nan]}).observed.sum() == 2
    assert Observations(**{**base, "values": [1e-90, 2e-90, 3e-90]}).n == 3


# --- dates ----------------------------------------------------------------------------------


def test_bad_iso_date_is_quoted_with_its_row(tmp_path):
    df = frame(t=["2020-01-01", "2020-01-02", "2020-13-01", "2020-01-04", "Jan 5 2020",
                  "2020-01-06"], site=[f"s{i}" for i in range(6)])
    df.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(ValueError) as e:
        read(tmp_path / "d.csv", time="t", id="site")
    msg = one_line(e)
    assert "column 't' (--time)" in msg and "'2020-13-01'" in msg and "['s2', 's4']" in msg
    assert "2020-01-01" not in msg  # a valid date is no example of the problem
    mixed = frame(t=["5", "2020-01-02", "2020-01-03", "2020-01-04", "2020-01-05", "2020-01-06"])
    with pytest.raises(ValueError, match=r"such as '5' \(first ids: \[0\]\)"):
        Observations.from_dataframe(mixed, coords=["x", "y"], value="z", time="t")


def test_iso_dates_and_numeric_text_times_are_parsed(tmp_path):
    df = frame(t=["1970-01-02", "1970-01-03T12:00", "1970-01-02T00:00+02:00", "", "1970-01-05",
                  "1970-01-06"])
    df.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(ValueError, match=r"NaN or infinite times in column 't' \(--time\): 1 "
                                         r"row\(s\) \(first ids: \[3\]\)"):
        read(tmp_path / "d.csv", time="t")
    df.loc[3, "t"] = "1970-01-04"
    df.to_csv(tmp_path / "d.csv", index=False)
    np.testing.assert_allclose(read(tmp_path / "d.csv", time="t").times,
                               [1.0, 2.5, 1.0 - 2 / 24, 3.0, 4.0, 5.0])
    as_text = frame(t=[str(v) for v in (0.5, 1, 2, 3, 4, 5)])
    np.testing.assert_allclose(
        Observations.from_dataframe(as_text, coords=["x", "y"], value="z", time="t").times,
        [0.5, 1, 2, 3, 4, 5])
    direct = Observations(coords=[[0.0], [1.0]], values=[1.0, 2.0],
                          times=["1970-01-01", "1970-01-11"])
    np.testing.assert_allclose(direct.times, [0.0, 10.0])
    with pytest.raises(ValueError, match=r"times: 1 row\(s\).*'someday'"):
        Observations(coords=[[0.0], [1.0]], values=[1.0, 2.0], times=["1970-01-01", "someday"])


# --- messages speak to command-line users ---------------------------------------------------


def test_no_python_advice_in_messages():
    msgs = []
    for kw in (dict(values=[np.nan] * 3),
               dict(values=[1.0, 2.0, 3.0], coords=[[0.0], [0.0], [1.0]], duplicates="error")):
        with pytest.raises(ValueError) as e:
            Observations(**{"coords": [[0.0], [1.0], [2.0]], **kw})
        msgs.append(str(e.value))
    with pytest.raises(ValueError) as e:
        Observations.from_dataframe(frame(z=np.nan), coords=["x", "y"], value="z")
    msgs.append(str(e.value))
    for m in msgs:
        assert "require_values" not in m and "duplicates=" not in m and "pass " not in m, m
    assert "(--value)" in msgs[-1]
