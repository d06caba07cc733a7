"""NeuralEstimator.estimate on coordinates outside the unit square (the designs' domain): each
such dataset is shifted and scaled into it by one factor, range estimates (and their interval
ends) are scaled back by that factor, the other parameters are untouched, and a warning says
so. Checked with a shipped, trained estimator: a dataset and the same dataset blown up 10×
(and moved) must give ranges in the ratio 10 and identical other estimates."""

import warnings

import numpy as np
import pandas as pd
import pytest

import fieldfit  # noqa: F401
from fieldfit import GaussianField, Matern
from fieldfit.neural import available, load_estimator

NAME = "matern-irregular"
pytestmark = pytest.mark.skipif(NAME not in available(), reason=f"{NAME} is not shipped")


@pytest.fixture(scope="module")
def estimator():
    return load_estimator(NAME)


def _dataset(seed, n=200, range_=0.1):
    """n points spanning exactly [0, 1] along their longer side (min 0, so the scaled copy
    maps back onto these very points) and a Matérn field on them."""
    rng = np.random.default_rng(seed)
    raw = rng.uniform(size=(n, 2)) * [1.0, 0.8]
    coords = (raw - raw.min(0)) / np.ptp(raw, 0).max()
    assert coords.min() == 0.0 and coords.max() == 1.0
    params = {"variance": 1.5, "range": range_, "smoothness": 1.0, "nugget": 0.2, "mean": 1.0}
    z = GaussianField(Matern(smoothness=1.0)).simulate(coords, params, seed=seed + 1)[0]
    return coords, z


def _quiet(estimator, items):
    """``estimate`` with every warning an error (the unit-square data raise none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return estimator.estimate(items)


def test_a_dataset_scaled_10x_gives_10x_the_range(estimator):
    coords, z = _dataset(0)
    base = _quiet(estimator, [(coords, z)])
    big = 10.0 * coords + np.array([100.0, -50.0])
    with pytest.warns(UserWarning, match="outside the unit square were rescaled"):
        scaled = estimator.estimate([(big, z)])
    names = estimator.names
    assert names[0] == "range"
    for col in ("range", "range_lower", "range_upper"):
        np.testing.assert_allclose(scaled[col], 10.0 * base[col], rtol=1e-5, err_msg=col)
    for n in names[1:]:
        for col in (n, f"{n}_lower", f"{n}_upper"):
            np.testing.assert_allclose(scaled[col], base[col], rtol=1e-5, atol=1e-7,
                                       err_msg=col)


def test_the_estimator_is_scale_sensitive_inside_the_unit_square(estimator):
    """Data inside the unit square are not rescaled: the same points shrunk 5× are a field
    of shorter range to the network (so the equality above is no accident of a network that
    ignores the coordinates' scale)."""
    coords, z = _dataset(1)
    base = _quiet(estimator, [(coords, z)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # a range at the edge of the prior box warns
        small = estimator.estimate([(coords / 5.0, z)])
    assert float(small["range"][0]) < 0.5 * float(base["range"][0]), (small, base)


def test_one_factor_per_dataset_in_a_table(estimator):
    """A table with one dataset inside the unit square and two outside (scaled 10× and 3×):
    each row equals that dataset estimated alone, scaled back by its own factor."""
    (c0, z0), (c1, z1), (c2, z2) = _dataset(2), _dataset(3), _dataset(4)
    frames = [pd.DataFrame({"dataset": name, "x": c[:, 0], "y": c[:, 1], "z": z})
              for name, c, z in (("inside", c0, z0), ("ten", 10 * c1, z1),
                                 ("three", 3 * c2 - 1, z2))]
    with pytest.warns(UserWarning, match="rescaled"):
        table = estimator.estimate(pd.concat(frames, ignore_index=True))
    assert list(table["dataset"]) == ["inside", "ten", "three"]
    alone = _quiet(estimator, [(c0, z0), (c1, z1), (c2, z2)])
    factor = np.array([1.0, 10.0, 3.0])
    np.testing.assert_allclose(table["range"], factor * alone["range"], rtol=1e-5)
    for n in estimator.names[1:]:
        np.testing.assert_allclose(table[n], alone[n], rtol=1e-5, atol=1e-7, err_msg=n)


def test_coincident_locations_outside_the_square_are_refused(estimator):
    coords = np.full((60, 2), 5.0)
    z = np.random.default_rng(0).normal(size=60)
    with pytest.raises(ValueError, match="coincide"):
        estimator.estimate([(coords, z)])
