"""The SPDE approach: meshes and finite elements (Lindgren, Rue & Lindström 2011, JRSS-B).

    Mesh        nodes (N, d), cells (M, d+1); Mesh.grid, .line, .interval, .from_points;
                projector(points) -> A (n, N) CSR
    FEM         P1 matrices on a Mesh: mass C, lumped mass, stiffness G(H), advection B(v),
                on one CSC pattern, with torch value maps differentiable in H, v and weights
"""

from .fem import FEM
from .mesh import Mesh

__all__ = ["FEM", "Mesh"]
