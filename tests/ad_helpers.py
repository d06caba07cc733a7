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
