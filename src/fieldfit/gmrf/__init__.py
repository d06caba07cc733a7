"""Sparse precision matrices: factorisation, selected inverse, differentiable ops, sampling.

A sparse symmetric matrix is a fixed :class:`Pattern` (CSC, both triangles) and a torch float64
values vector ``(nnz,)``; the matrix is Q = (V + Vᵀ)/2. ``gmrf`` knows nothing of models.

``pattern``   Pattern, union / scatter (sums of matrices with different patterns)
``cholesky``  SparseCholesky (CHOLMOD analysis once per pattern), CholeskyFactor
``selinv``    SelectedInverse: Q⁻¹ on the pattern of L + Lᵀ (Takahashi recursions, numba)
``autograd``  GMRF(pattern).factorize(values) → logdet / solve / quad_form as torch ops
``sample``    sample_cholesky, ChebyshevSampler (matrix-free Q^{−1/2}z), ChebyshevOperator (f(A)z)
"""

from .autograd import GMRF, GMRFFactor, logdet, quad_form, solve
from .cholesky import CholeskyFactor, SparseCholesky
from .pattern import Pattern, scatter, union
from .sample import (
    ChebyshevOperator,
    ChebyshevSampler,
    chebyshev_coefficients,
    chebyshev_inverse_sqrt,
    gershgorin,
    lanczos_min,
    sample_cholesky,
    standard_normals,
)
from .selinv import SelectedInverse, takahashi

__all__ = ["GMRF", "ChebyshevOperator", "ChebyshevSampler", "CholeskyFactor", "GMRFFactor",
           "Pattern", "SelectedInverse", "SparseCholesky", "chebyshev_coefficients",
           "chebyshev_inverse_sqrt", "gershgorin", "lanczos_min", "logdet", "quad_form",
           "sample_cholesky", "scatter", "solve", "standard_normals", "takahashi", "union"]
