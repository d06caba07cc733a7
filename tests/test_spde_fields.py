"""Parameter fields of nonstationary SPDEs: values, bases and gradients in the weights."""

import numpy as np
import pytest
import torch

from fieldfit.params import ParamSpace
from fieldfit.spde.fields import BSplineField, ConstantField, NeuralField, RadialBasisField

X = np.random.default_rng(0).random((40, 2))
BOUNDS = (0.0, 1.0, 0.0, 1.0)


def _fields():
    return [
        ConstantField("kappa", 2.0),
        RadialBasisField.grid("kappa", BOUNDS, (3, 3), value=2.0),
        RadialBasisField("kappa", [[0.5, 0.5], [0.2, 0.8]], 0.3, value=2.0, kind="wendland"),
        BSplineField("kappa", BOUNDS, 5, value=2.0),
        NeuralField("kappa", BOUNDS, hidden=(8,), value=2.0),
        BSplineField("drift", BOUNDS, 4, value=0.5, link="identity"),
    ]


@pytest.mark.parametrize("field", _fields(), ids=repr)
def test_defaults_give_the_stationary_value(field):
    space = ParamSpace(field.param_specs())
    p = space.natural()
    np.testing.assert_allclose(field(X, p).numpy(), field.value, rtol=1e-14)
    assert space.names[0] == field.name and len(space) == 1 + field.n_weights


@pytest.mark.parametrize("field", _fields()[1:], ids=repr)
def test_gradient_in_the_weights(field):
    space = ParamSpace(field.param_specs())
    rng = np.random.default_rng(1)
    u = space.pack() + torch.from_numpy(0.3 * rng.standard_normal(len(space)))

    def f(v):
        return (field(X, space.unpack(v)) * torch.linspace(-1, 1, len(X), dtype=v.dtype)).sum()

    assert torch.autograd.gradcheck(f, (u.clone().requires_grad_(),))


def test_bspline_basis_with_the_intercept_is_a_partition_of_unity():
    f = BSplineField("k", BOUNDS, (4, 6))
    B = f.basis(X)
    assert B.shape == (40, 4 * 6 - 1)
    # the dropped first tensor function is 1 − Σ of the others: non-negative, and the
    # full set sums to one
    first = 1.0 - B.sum(1)
    assert np.all(first > -1e-12)
    assert np.all(B >= 0)


def test_exp_link_is_positive_and_identity_is_not_constrained():
    f = RadialBasisField.grid("tau", BOUNDS, (2, 2), value=1.0)
    p = ParamSpace(f.param_specs()).natural()
    p.update({n: torch.tensor(-5.0, dtype=torch.float64) for n in f.weight_names()})
    assert torch.all(f(X, p) > 0)


def test_bad_fields_are_refused():
    with pytest.raises(ValueError, match="link"):
        ConstantField("k", 1.0, link="log")
    with pytest.raises(ValueError, match="positive"):
        ConstantField("k", -1.0)
    with pytest.raises(ValueError, match="scale"):
        RadialBasisField("k", [[0, 0]], 0.0)
    with pytest.raises(ValueError, match="degree"):
        BSplineField("k", BOUNDS, 3)
    with pytest.raises(ValueError, match="3-D"):
        RadialBasisField("k", [[0, 0]], 1.0).basis(np.zeros((2, 3)))
