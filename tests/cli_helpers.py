"""What the CLI tests share: invoking ``fieldfit`` in process and checking its exit."""

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from fieldfit import GaussianField, Matern
from fieldfit.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def ok(result):
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def fails(result, *fragments):
    """A clean non-zero exit (no traceback) whose message names the problem."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "error:" in result.stderr
    for f in fragments:
        assert f in result.stderr, (f, result.stderr)


def matern_frame(ids: bool = True) -> pd.DataFrame:
    """120 rows of a Matérn (ν = 3/2) field with a constant mean 1 and a nugget: x, y, z with
    15 NaN values (the prediction targets), and string ids when ``ids``."""
    rng = np.random.default_rng(0)
    n = 120
    x = rng.uniform(size=(n, 2))
    z = GaussianField(Matern(smoothness=1.5), mean="constant").simulate(
        x, {"variance": 1.0, "range": 0.15, "nugget": 0.05, "mean": 1.0}, seed=1)[0]
    z[rng.choice(n, 15, replace=False)] = np.nan
    df = pd.DataFrame({"x": x[:, 0], "y": x[:, 1], "z": z})
    if ids:
        df.insert(0, "id", [f"s{i:03d}" for i in range(n)])
    return df
