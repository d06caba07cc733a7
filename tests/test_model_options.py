"""Model options are checked when the model is built, and errors speak CLI.

Bad SPDE options (``--alpha 0``, a non-positive or non-numeric ``--mesh-max-edge``, negative
``--mesh-offset`` / ``--mesh-cutoff``) are refused by ``build`` naming the option, before any
data are read; the lists of models and engines in errors are complete and suggest the closest
name; no message gives Python advice (keyword arguments, "give a Mesh").
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import fieldfit as ff
from cli_helpers import fails, invoke
from fieldfit.likelihood import ENGINES, engine_family, get_engine
from fieldfit.models import available, build

#: fragments of Python advice that CLI users cannot act on
PYTHON_ADVICE = re.compile(r"give a Mesh|\w+=['\"\w]|fieldfit\.models\.build\(|require_values|"
                           r"duplicates=")


def _message(fn) -> str:
    with pytest.raises(ValueError) as err:
        fn()
    msg = str(err.value)
    assert "\n" not in msg
    assert not PYTHON_ADVICE.search(msg), msg
    return msg


@pytest.mark.parametrize("name, options, fragment", [
    ("matern-spde", {"alpha": 0}, "--alpha must be an integer ≥ 2"),
    ("matern-spde", {"alpha": -1}, "--alpha must be an integer ≥ 2"),
    ("matern-spde", {"alpha": 1.5}, "--alpha must be an integer ≥ 2"),
    ("matern", {"engine": "spde", "alpha": 0}, "--alpha must be an integer ≥ 2"),
    ("matern-spde", {"mesh_max_edge": -0.1}, "--mesh-max-edge must be one or two positive"),
    ("matern-spde", {"mesh_max_edge": [0.1, 0.0]}, "--mesh-max-edge must be one or two positive"),
    ("matern-spde", {"mesh_max_edge": "abc"}, "--mesh-max-edge must be one or two positive"),
    ("matern-spde", {"mesh_max_edge": [0.1, 0.2, 0.3]}, "--mesh-max-edge must be one or two"),
    ("matern", {"engine": "spde", "mesh_max_edge": float("nan")}, "--mesh-max-edge"),
    ("matern-spde", {"mesh_offset": -1.0}, "--mesh-offset must be a positive number"),
    ("matern-spde", {"mesh_offset": "far"}, "--mesh-offset must be a positive number"),
    ("matern-spde", {"mesh_cutoff": -0.01}, "--mesh-cutoff must be a non-negative number"),
    ("matern-spde", {"mesh_cutoff": 0.5, "mesh_offset": 0.2},
     "--mesh-cutoff (0.5) must be smaller than --mesh-offset (0.2)"),
    ("advection-diffusion", {"alpha": 3}, "--alpha must be 1 or 2"),
    ("advection-diffusion", {"alpha": 0}, "--alpha must be 1 or 2"),
    ("advection-diffusion", {"alpha_s": 5}, "--alpha-s must be 0, 1 or 2"),
    ("advection-diffusion", {"dt": -1.0}, "--time-step must be a positive number"),
    ("advection-diffusion", {"mesh_max_edge": 0}, "--mesh-max-edge"),
])
def test_bad_spde_options_are_refused_when_the_model_is_built(name, options, fragment):
    assert fragment in _message(lambda: build(name, **options))


def test_good_spde_options_still_build():
    m = build("matern-spde", alpha=3, mesh_max_edge="0.1, 0.4", mesh_offset=0.3,
              mesh_cutoff=0.0)
    assert m.alpha == 3 and m.mesh_options == {"max_edge": (0.1, 0.4), "offset": 0.3,
                                               "cutoff": 0.0}
    assert build("matern-spde", mesh_max_edge=[0.2]).mesh_options["max_edge"] == 0.2
    assert build("matern", engine="spde", smoothness=1).alpha == 2
    assert build("advection-diffusion", alpha=2, alpha_s=0, dt=0.5).dt == 0.5


def test_unknown_model_lists_every_model_and_suggests_the_closest():
    msg = _message(lambda: build("maternn"))
    assert "unknown model 'maternn' (did you mean 'matern'?)" in msg
    for name in available():
        assert name in msg
    assert "advection-diffusion" in msg and "matern-spde" in msg
    assert "did you mean 'advection-diffusion'" in _message(lambda: build("advection-difusion"))
    assert "did you mean" not in _message(lambda: build("zzz"))


def test_unknown_engine_lists_every_engine_and_suggests_the_closest():
    for fn in (lambda: build("matern", engine="spd"), lambda: build("exponential", engine="spd"),
               lambda: build("separable", engine="spd"), lambda: engine_family("spd"),
               lambda: get_engine("spd")):
        msg = _message(fn)
        assert "unknown engine 'spd' (did you mean 'spde'?)" in msg
        for name in ENGINES:
            assert name in msg
    assert "spde" in _message(lambda: build("advection-diffusion", engine="vechia"))


@pytest.mark.parametrize("fn, fragment", [
    (lambda: build("matern", alpha=2), "--alpha applies to --engine spde only"),
    (lambda: build("matern", mesh_max_edge=0.1, alpha=2),
     "--alpha, --mesh-max-edge apply to --engine spde only"),
    (lambda: build("matern", neighbours=10), "--neighbours applies to --engine vecchia only"),
    (lambda: build("exponential", engine="spde"), "--model matern"),
    (lambda: build("gneiting", engine="spde"), "--model advection-diffusion"),
    (lambda: get_engine("spde"), "--model matern --engine spde"),
    (lambda: build("matern-spde", nugget=False), "drop --no-nugget"),
])
def test_messages_speak_cli(fn, fragment):
    assert fragment in _message(fn)


def test_three_coordinate_columns_with_the_automatic_spde_mesh():
    obs = ff.Observations(coords=np.random.default_rng(0).uniform(size=(10, 3)),
                          values=np.zeros(10))
    msg = _message(lambda: build("matern-spde").check_data(obs))
    assert "--engine exact or vecchia" in msg


def test_cli_refuses_bad_spde_options_before_reading_the_data(tmp_path):
    data = tmp_path / "d.csv"
    pd.DataFrame({"x": [0.0, 1.0, 0.5, 0.2], "y": [0.0, 0.0, 1.0, 0.4],
                  "z": [1.0, 2.0, 3.0, 4.0]}).to_csv(data, index=False)
    out = tmp_path / "r.json"
    fails(invoke("fit", data, "--coords", "x,y", "--value", "z", "--engine", "spde",
                 "--alpha", "0", "--out", out), "--alpha must be an integer")
    fails(invoke("fit", data, "--coords", "x,y", "--value", "z", "--engine", "spde",
                 "--mesh-max-edge=-0.1", "--out", out), "--mesh-max-edge must be")
    fails(invoke("fit", data, "--coords", "x,y", "--value", "z", "--engine", "spde",
                 "--mesh-offset=-1", "--out", out), "--mesh-offset must be")
    fails(invoke("fit", tmp_path / "missing.csv", "--coords", "x,y", "--value", "z",
                 "--model", "maternn", "--out", out), "did you mean 'matern'")
    assert not out.exists()
