"""What the advection–diffusion SPDE tests share: a small grid mesh and parameter values."""

import numpy as np
import torch

from fieldfit.params import ParamSpace
from fieldfit.spde import Mesh

T = torch.float64


def small_mesh(k=6):
    """A k × (k − 1) grid mesh of [0, 1] × [0, 0.8]."""
    x = np.linspace(0.0, 1.0, k)
    return Mesh.grid(x, np.linspace(0.0, 0.8, k - 1))


def params_at(model, **over):
    """The model's default natural values with κ = 3, c = 0.7, τ = 1.3, then ``over``, as
    float64 tensors."""
    space = ParamSpace(model.param_specs())
    p = {k: torch.tensor(float(v), dtype=T) for k, v in space.natural().items()}
    p.update(kappa=torch.tensor(3.0, dtype=T), c=torch.tensor(0.7, dtype=T),
             tau=torch.tensor(1.3, dtype=T))
    for k, v in over.items():
        p[k] = torch.tensor(float(v), dtype=T)
    return p


def space_time_gamma_fields():
    """γ_x, γ_y as radial-basis fields on a 2 × 2 × 2 grid over [0, 1] × [0, 0.8] × [0, 1.5]
    (identity link), starting at (0.5, −0.2)."""
    from fieldfit.spde.fields import RadialBasisField

    box = (0, 1, 0, 0.8, 0, 1.5)
    return (RadialBasisField.grid("gamma_x", box, (2, 2, 2), value=0.5, link="identity"),
            RadialBasisField.grid("gamma_y", box, (2, 2, 2), value=-0.2, link="identity"))


def check_precision_gradients(model, seed=0):
    """``precision_and_logdet`` at a random point near the defaults: a weighted sum of Q's
    values plus log|Q| passes ``gradcheck``, and log|Q| equals the dense slogdet."""
    space = ParamSpace(model.param_specs())
    rng = np.random.default_rng(seed)
    u0 = space.pack()
    u0 = u0 + torch.from_numpy(0.3 * rng.standard_normal(len(u0)))
    w = torch.from_numpy(rng.standard_normal(model.nnz))

    def f(u):
        q, ld = model.precision_and_logdet(space.unpack(u))
        return (q * w).sum() * 1e-3 + ld

    assert torch.autograd.gradcheck(f, (u0.clone().requires_grad_(),))
    p = space.unpack(u0)
    np.testing.assert_allclose(float(model.precision_and_logdet(p)[1]),
                               np.linalg.slogdet(model.precision(p).toarray())[1], rtol=1e-10)
