"""Fuzz suite (hypothesis): random tables and option texts through the readers, the option
parsers, :class:`fieldfit.Observations` and ``fieldfit fit``.

Random tables hold NaN, ±inf, None, duplicates, extreme magnitudes (1e300, 5e-324), text,
numeric text, ISO and bad dates, booleans, huge integers, empty and constant columns, and
random (also repeated) column names; they go through ``from_dataframe`` in memory and, written
as CSV and Parquet, through ``read_table`` / ``from_file``. The invariant everywhere: either a
one-line ``ValueError`` that names the column, row, file or option, or a finite, correct
result (the CLI: exit code 2 and one ``error: ...`` line and no output file, or exit code 0
and a result JSON of finite numbers). Never a traceback, a NaN in an output, or exit code 0
with a wrong file.

Profiles (tests/conftest.py): ``default`` runs a bounded, derandomized number of examples
(the same every run; the whole file in well under a minute); ``slow`` runs many more random
ones:

    pytest tests/test_fuzz.py --hypothesis-profile=slow
    FIELDFIT_HYPOTHESIS_PROFILE=slow pytest tests/test_fuzz.py
"""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import Phase, event, example, given, settings
from hypothesis import strategies as st

from cli_helpers import invoke
from fieldfit.cli.common import _numbers, _split
from fieldfit.data import MAX_MAGNITUDE, Observations
from fieldfit.io import read_table
from fieldfit.params import parse_assignments


def scaled(fraction: float) -> settings:
    """The active profile with ``fraction`` of its examples (at least 5): the slow tests of
    this file run fewer examples than the fast ones, under either profile."""
    return settings(settings.default,
                    max_examples=max(5, int(settings.default.max_examples * fraction)))


# --- cells, columns, tables -----------------------------------------------------------------

TEXT = ["abc", "", " ", "1.5", " 2 ", "nan", "NaN", "inf", "-inf", "1e400", "-1e300",
        "2020-01-31", "2020-13-01", "01/31/2020", "NA", "None", "True", "1,5", "0x10", "é",
        "1_000", "5e-324", "x\ny"]
EXTREME = [1e300, -1e300, 1e-300, 1e150, 5e-324, 1.7e308, -1e101, 1e100, 1e-101]
SPECIAL = [np.nan, np.inf, -np.inf, None]

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
cell = st.one_of(
    finite, finite, finite,
    st.sampled_from(SPECIAL), st.sampled_from(EXTREME), st.sampled_from(TEXT),
    st.text(max_size=4), st.integers(-10 ** 25, 10 ** 25), st.booleans(),
)
NAMES = ["x", "y", "z", "t", "w", "id", "x.1", "", " x", "z,z", "lon"]
name = st.one_of(st.sampled_from(NAMES), st.text(min_size=1, max_size=3))


@st.composite
def column(draw, n: int, clean: float = 0.3) -> list:
    """``n`` cells of one kind; clean finite numbers with probability about ``clean``."""
    if draw(st.sampled_from([True, False] if clean > 0.5 else [False, True, False])):
        return draw(st.lists(finite, min_size=n, max_size=n))
    kind = draw(st.sampled_from(["clean", "mixed", "mixed", "empty", "constant", "text",
                                 "dates"]))
    if kind == "clean":
        return draw(st.lists(finite, min_size=n, max_size=n))
    if kind == "mixed":
        return draw(st.lists(cell, min_size=n, max_size=n))
    if kind == "empty":
        return [draw(st.sampled_from([np.nan, None, ""]))] * n
    if kind == "constant":
        return [draw(st.one_of(finite, st.sampled_from(EXTREME)))] * n
    if kind == "dates":
        days = draw(st.lists(st.integers(0, 20000), min_size=n, max_size=n))
        out = [str(pd.Timestamp("1970-01-01") + pd.Timedelta(days=d))[:10] for d in days]
        if n and draw(st.booleans()):
            out[draw(st.integers(0, n - 1))] = draw(st.sampled_from(TEXT))
        return out
    return draw(st.lists(st.sampled_from(TEXT), min_size=n, max_size=n))


@st.composite
def tables(draw, max_rows: int = 12) -> pd.DataFrame:
    """A DataFrame of 0..max_rows rows: x, y, z usually present, random extra columns and
    names (repeats included), some repeated rows."""
    n = draw(st.one_of(st.integers(3, max_rows), st.integers(0, max_rows)))
    base = ["x", "y", "z"][:draw(st.sampled_from([3, 3, 3, 2, 1, 0]))]
    names = draw(st.permutations(base + draw(st.lists(name, min_size=0, max_size=3))))
    cols = [draw(column(n, clean=0.8 if c in base else 0.3)) for c in names]
    df = pd.DataFrame(dict(enumerate(cols))) if cols else pd.DataFrame(index=range(n))
    df.columns = list(names)
    if n > 1 and draw(st.booleans()):  # repeated rows: duplicated locations
        df = pd.concat([df, df.iloc[: draw(st.integers(1, n))]], ignore_index=True)
    return df


@st.composite
def requests(draw, df: pd.DataFrame) -> dict:
    """Keywords of from_dataframe: mostly the usual columns, sometimes random names of the
    table or absent ones, repeated or playing two parts (the usual request is the simplest
    example, first in each list)."""
    pool = [str(c) for c in df.columns] + ["nope"]
    pick = st.sampled_from(pool)
    some = st.lists(pick, min_size=1, max_size=3)
    kw = {"coords": draw(st.sampled_from([["x", "y"], ["x"], ["y", "x"], None])),
          "value": draw(st.sampled_from(["z", "z", None, ["z", "y"], False]))}
    if kw["coords"] is None:
        kw["coords"] = draw(some)
    if kw["value"] is False:
        kw["value"] = draw(st.one_of(pick, some))
    for key in ("time", "covariates", "id"):
        if draw(st.sampled_from([False, False, False, True])):
            kw[key] = draw(some if key == "covariates" else pick)
    return kw


def as_float(v) -> float:
    """The number a cell stands for (NaN: empty), independently of fieldfit's reader."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return math.nan
    if isinstance(v, str):
        return float(v.strip()) if v.strip() else math.nan
    return float(v)


def names_in(kw: dict) -> list[str]:
    out = []
    for v in kw.values():
        out += [v] if isinstance(v, str) else list(v or [])
    return out


def check_error(e: ValueError, kw: dict, prefix: str = "") -> None:
    """One line, and it names a column, a row, an option or the file."""
    msg = str(e)
    assert "\n" not in msg and msg.strip(), repr(msg)
    assert msg.startswith(prefix), (prefix, msg)
    assert "require_values" not in msg and "duplicates=" not in msg, msg  # no Python advice
    assert (any(repr(c) in msg for c in names_in(kw)) or "--" in msg or "row" in msg
            or (prefix and msg.startswith(prefix))), msg


def check_observations(obs: Observations, df: pd.DataFrame | None, kw: dict) -> None:
    """Finite, within the documented magnitudes, and the numbers of the table's cells."""
    assert np.isfinite(obs.coords).all() and (np.abs(obs.coords) <= MAX_MAGNITUDE).all()
    assert not np.isinf(obs.values).any()
    v = obs.values[~np.isnan(obs.values)]
    assert (np.abs(v) <= MAX_MAGNITUDE).all()
    if kw.get("value") is not None and obs.require_values:
        assert obs.observed.any()
    if obs.times is not None:
        assert np.isfinite(obs.times).all()
    if df is None:
        return
    coords = np.array([[as_float(c) for c in df[k]] for k in kw["coords"]]).T
    np.testing.assert_array_equal(obs.coords, coords.reshape(obs.coords.shape))
    if isinstance(kw.get("value"), str):
        np.testing.assert_array_equal(obs.values, [as_float(c) for c in df[kw["value"]]])


# --- Observations from a DataFrame and from files --------------------------------------------


@given(st.data())
def test_from_dataframe_gives_a_named_error_or_finite_correct_observations(data):
    df = data.draw(tables())
    kw = data.draw(requests(df))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no numpy overflow on the way
        try:
            obs = Observations.from_dataframe(df, **kw)
        except ValueError as e:
            event("ValueError")
            check_error(e, kw)
            return
    event("Observations")
    check_observations(obs, df, kw)


def _write_parquet(df: pd.DataFrame, path: Path) -> bool:
    """The table as Parquet (text columns as strings, which Parquet needs); False when the
    table cannot be one (repeated names)."""
    if df.columns.duplicated().any():
        return False
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = [None if v is None else str(v) for v in out[c]]
    try:
        out.to_parquet(path, index=False)
    except Exception:  # noqa: BLE001  (what pyarrow cannot store is no reader case)
        return False
    return True


@scaled(0.75)
@given(st.data())
def test_files_give_an_error_naming_the_file_or_the_same_observations(data):
    df = data.draw(tables())
    kw = data.draw(requests(df))
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / "data.csv"]
        df.to_csv(paths[0], index=False)
        if _write_parquet(df, Path(tmp) / "data.parquet"):
            paths.append(Path(tmp) / "data.parquet")
        try:
            memory = Observations.from_dataframe(df, **kw)
        except ValueError:
            memory = None
        for path in paths:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                try:
                    obs = Observations.from_file(path, **kw)
                except ValueError as e:
                    event(f"{path.suffix}: ValueError")
                    check_error(e, kw, prefix=str(path))
                    continue
            event(f"{path.suffix}: Observations")
            check_observations(obs, None, kw)
            if memory is not None and kw.get("time") is None:  # both read: the same numbers
                np.testing.assert_array_equal(obs.coords, memory.coords)
                np.testing.assert_array_equal(obs.values, memory.values)


@scaled(0.5)
@given(st.binary(max_size=200), st.sampled_from([".csv", ".tsv", ".parquet"]))
def test_read_table_on_random_bytes(content, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"f{suffix}"
        path.write_bytes(content)
        try:
            df = read_table(path)
        except ValueError as e:
            check_error(e, {}, prefix=str(path))
            return
        assert isinstance(df, pd.DataFrame) and len(df) > 0
        assert not df.columns.duplicated().any()


# --- option parsers -------------------------------------------------------------------------

option_text = st.text(alphabet="ab=,. 1e-+nafiNx\t", max_size=16)


@given(st.lists(option_text, max_size=3))
@example(["a=1,a=2"])
@example(["range=nan"])
@example(["variance=inf,range=1"])
@example(["=1"])
def test_parse_assignments_gives_finite_unique_values_or_an_error(items):
    try:
        out = parse_assignments(items, option="--fix")
    except ValueError as e:
        msg = str(e)
        assert msg.startswith("--fix: ") and "\n" not in msg, msg
        return
    parts = [p.strip() for item in items for p in item.split(",") if p.strip()]
    assert len(out) == len(parts)  # every part read, no name twice
    for p in parts:
        k, v = p.split("=", 1)
        assert k.strip() and out[k.strip()] == float(v) and math.isfinite(out[k.strip()])


@given(st.one_of(st.none(), option_text))
@example("x,x")
@example(" , ,")
def test_split_gives_clean_names(text):
    out = _split(text)
    assert all(c and c == c.strip() and "," not in c for c in out)
    assert out == [c.strip() for c in (text or "").split(",") if c.strip()]


@given(st.one_of(st.none(), option_text))
@example("nan")
@example("1,inf")
@example("0.1,abc")
def test_numbers_gives_finite_numbers_or_an_error(text):
    try:
        out = _numbers(text)
    except ValueError as e:
        assert "\n" not in str(e) and repr(text) in str(e), str(e)
        return
    if text is None:
        assert out is None
        return
    assert all(math.isfinite(v) for v in out), out
    assert out == [float(c) for c in _split(text)]


# --- the command line -----------------------------------------------------------------------


@st.composite
def small_fits(draw):
    """A 0..25-row table of x, y, z (t, w) with a few bad cells, and fit options."""
    n = draw(st.sampled_from([0, 1, 2, 3, 5, 8, 12, 16, 20, 25]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    df = pd.DataFrame({"x": rng.uniform(size=n), "y": rng.uniform(size=n),
                       "z": rng.normal(size=n), "t": np.arange(float(n)),
                       "w": rng.normal(size=n)}).astype(object)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        if n:
            df.iat[draw(st.integers(0, n - 1)), draw(st.integers(0, 4))] = draw(cell)
    bad_request = draw(st.integers(0, 4)) == 0
    coords = draw(st.sampled_from(["x", "x,x", "x,z", "x,nope", "", "y,x"])) if bad_request \
        else "x,y"
    value = draw(st.sampled_from(["w", "x", "nope"])) if bad_request else "z"
    good = [["--model", "exponential", "--no-nugget"],
            ["--model", "exponential", "--no-nugget", "--mean", "zero"],
            ["--model", "exponential", "--fix", "range=0.3", "--no-nugget"],
            ["--model", "exponential", "--no-nugget", "--mean", "covariates", "--covariates",
             "w"],
            ["--model", "exponential", "--no-nugget", "--fix", "variance=1,range=0.3"],
            ["--model", "exponential", "--fix", "variance=1,range=0.3,nugget=0.1"]]
    bad = [["--model", "exponential", "--no-nugget", "--fix", "range=0.3,range=0.4"],
           ["--model", "exponential", "--no-nugget", "--fix", "range=nan"],
           ["--model", "exponential", "--no-nugget", "--fix", "rnage=0.3"],
           ["--model", "exponential", "--no-nugget", "--covariates", "w"]]
    opts = draw(st.sampled_from(bad if draw(st.integers(0, 4)) == 0 else good))
    return df, coords, value, opts


def _finite_numbers(obj) -> bool:
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return True
    if isinstance(obj, (int, float)):
        return math.isfinite(obj)
    if isinstance(obj, dict):
        return all(_finite_numbers(v) for v in obj.values())
    if isinstance(obj, list):
        return all(_finite_numbers(v) for v in obj)
    return True


def check_cli_fit(case) -> None:
    """``fieldfit fit`` on the case: exit 0 and a finite result JSON counting the observed
    rows, or exit 2 with one ``error:`` line, no traceback and no output file."""
    df, coords, value, opts = case
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "data.csv", Path(tmp) / "result.json"
        df.to_csv(data, index=False)
        res = invoke("fit", data, "--coords", coords, "--value", value, "--out", out,
                     "--restarts", "0", *opts)
        event(f"exit {res.exit_code}")
        if res.exit_code == 0:
            result = json.loads(out.read_text())
            assert _finite_numbers(result), result
            observed = pd.read_csv(data)[value].notna().sum()
            assert result["n"] == observed, (result["n"], observed)
            return
        assert res.exit_code == 2 and isinstance(res.exception, SystemExit), (
            res.exit_code, res.output, repr(res.exception))
        errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and "Traceback" not in res.output, res.output
        assert not out.exists()


@pytest.mark.usefixtures("one_torch_thread")
@scaled(0.25)
@given(small_fits())
def test_cli_fit_exits_2_with_one_line_or_writes_a_finite_result(case):
    check_cli_fit(case)


def _table(n: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.uniform(size=n), "y": rng.uniform(size=n),
                         "z": rng.normal(size=n), "t": np.arange(float(n)),
                         "w": rng.normal(size=n)})


# Found by this suite: with every covariance parameter fixed (nothing left to optimise, the
# mean profiled) the fit used to call torch.autograd.grad on a tensor without grad
# (RuntimeError, exit 1). Kept as explicit examples.
@pytest.mark.usefixtures("one_torch_thread")
@settings(phases=[Phase.explicit])
@example((_table(), "x,y", "z", ["--model", "exponential", "--no-nugget", "--fix",
                                 "variance=1,range=0.3"]))
@example((_table(), "x,y", "z", ["--model", "exponential", "--fix",
                                 "variance=1,range=0.3,nugget=0.1"]))
@given(small_fits())
def test_cli_fit_with_every_covariance_parameter_fixed(case):
    check_cli_fit(case)
