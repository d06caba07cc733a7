r"""Independent fields on copies of one mesh, observed through their sum.

.. math::

    x = \sum_{i=1}^{B} x_i, \qquad (x_1, \dots, x_B) \sim
    N\bigl(0, \mathrm{diag}(Q_1, \dots, Q_B)^{-1}\bigr), \qquad A x = [A, \dots, A]\,
    (x_1, \dots, x_B)

What the rational approximation of a fractional order
(:class:`~fieldfit.spde.fractional.FractionalMaternSPDE`) and the two-scale field
(:class:`~fieldfit.spde.two_scale.TwoScaleMaternSPDE`) share: the block-diagonal pattern on
B copies of one block pattern, the precision as a scipy matrix, and the projector of the sum.
A subclass gives ``precision_values(p)`` and ``precision_and_logdet(p)``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class SummedFields:
    """Base of the precisions of B independent fields on one mesh whose sum is observed.

    Attributes
    ----------
    N : int
        Nodes of the mesh (of one block).
    n_fields : int
        B.
    indptr, indices : numpy.ndarray
        The block-diagonal CSC pattern ``((B N + 1,), (B nnz,))``.
    n : int
        B N.
    shape : (int, int)
        ``(n, n)``.
    """

    def _block_pattern(self, indptr: np.ndarray, indices: np.ndarray, N: int,
                       n_fields: int) -> None:
        """Set the block-diagonal pattern of ``n_fields`` copies of one block's CSC pattern."""
        nnz = len(indices)
        self.N, self.n_fields = int(N), int(n_fields)
        self.indptr = np.concatenate([[0], *(indptr[1:] + b * nnz for b in range(n_fields))])
        self.indices = np.concatenate([indices + b * N for b in range(n_fields)])
        self.n = n_fields * N
        self.shape = (self.n, self.n)

    def precision(self, p) -> sp.csc_matrix:
        """The block-diagonal precision as a scipy sparse matrix ``(B N, B N)``.

        Parameters
        ----------
        p : Mapping of str to torch.Tensor
            Natural parameter values by name.

        Returns
        -------
        scipy.sparse.csc_matrix
        """
        v = self.precision_values(p).detach().numpy()
        return sp.csc_matrix((v, self.indices, self.indptr), shape=self.shape)

    def sum_projector(self, A) -> sp.csr_matrix:
        """:math:`[A, \\dots, A]`: the sum of the B fields seen through the mesh's ``A``.

        Parameters
        ----------
        A : scipy.sparse matrix
            ``(n_obs, N)`` projector of the mesh.

        Returns
        -------
        scipy.sparse.csr_matrix
            ``(n_obs, B N)``.
        """
        return sp.hstack([sp.csr_matrix(A)] * self.n_fields, format="csr")


__all__ = ["SummedFields"]
