"""The SPDE approach: meshes and finite elements (Lindgren, Rue & Lindström 2011, JRSS-B).

:class:`Mesh`
    Nodes ``(N, d)``, cells ``(M, d+1)``; ``Mesh.grid``, ``.line``, ``.interval``,
    ``.from_points``; ``projector(points)``, the ``(n, N)`` CSR matrix A.
:class:`FEM`
    P1 matrices on a mesh: mass C, lumped mass, stiffness G(H), advection B(v), on one CSC
    pattern, with torch value maps differentiable in H, v and the weights.
:class:`MaternSPDE`, :class:`AdvectionDiffusionSPDE`
    The precision matrices of the Matérn and advection-diffusion SPDEs.
:class:`FractionalMaternSPDE`
    The Matérn SPDE of any smoothness: m + 1 GMRFs whose sum's covariance approximates the
    fractional power (coefficients in :mod:`fieldfit.spde.rational`), differentiable in ν.
:class:`TwoScaleMaternSPDE`
    A long- plus a short-range Matérn SPDE field on one mesh.
:class:`Field`
    Nonstationary parameter fields (log κ, γ, H) over space or space-time, of the kinds
    :class:`ConstantField`, :class:`RadialBasisField`, :class:`BSplineField`,
    :class:`PSplineField`, :class:`CovariateField` and :class:`NeuralField`.
:class:`SpectralAdvectionDiffusion`
    The exact spectral simulator of the advection-diffusion SPDE on a periodic grid.
"""

from .advection_diffusion import AdvectionDiffusionSPDE
from .fem import FEM
from .fields import (
    BSplineField,
    ConstantField,
    CovariateField,
    Field,
    NeuralField,
    PSplineField,
    RadialBasisField,
)
from .fractional import FractionalMaternSPDE
from .matern import MaternSPDE
from .mesh import Mesh
from .spectral import SpectralAdvectionDiffusion
from .two_scale import TwoScaleMaternSPDE

__all__ = ["FEM", "AdvectionDiffusionSPDE", "BSplineField", "ConstantField", "CovariateField",
           "Field", "FractionalMaternSPDE", "MaternSPDE", "Mesh", "NeuralField", "PSplineField",
           "RadialBasisField", "SpectralAdvectionDiffusion", "TwoScaleMaternSPDE"]
