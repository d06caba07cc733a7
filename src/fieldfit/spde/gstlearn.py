"""Bridges to gstlearn (MINES Paris, PyPI ``gstlearn``): the same mesh, projector and model.

fieldfit's mesh, projector and Matérn model are rebuilt on gstlearn's side, so that its SPDE
computations can be run beside fieldfit's on identical inputs (the peer in
``tests/test_spde_gstlearn.py`` and ``benchmarks/spde.py``).

gstlearn is optional (the ``bench`` extra); every function imports it when called.

Conventions matched: gstlearn's Matérn with ``param`` = ν and ``flagRange=False`` has scale
1/κ, i.e. DESIGN.md's ``range``; its anisotropy ``ranges=[ℓ, λℓ]``, ``angles=[θ in degrees, 0]``
is :class:`~fieldfit.spde.matern.MaternSPDE`'s ``angle`` θ and ``ratio`` λ; its
``logLikelihoodSPDE`` with ``useCholesky=1`` is the exact marginal log-likelihood of
y = A x + ε (with a drift ``setDriftIRF(0)``: the constant mean profiled by GLS), which is what
:class:`~fieldfit.likelihood.gmrf.GMRFEngine` computes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from .mesh import Mesh


def _gl():
    try:
        import gstlearn
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("gstlearn is not installed: pip install 'fieldfit[bench]'") from e
    return gstlearn


def mesh_to_gstlearn(mesh: Mesh):
    """A ``gstlearn.MeshEStandard`` with the same nodes ``(N, 2)`` and triangles ``(M, 3)``.

    Parameters
    ----------
    mesh : Mesh
        A 2-D mesh.

    Returns
    -------
    gstlearn.MeshEStandard

    Raises
    ------
    ValueError
        If the mesh is not 2-D.
    ImportError
        If gstlearn is not installed.
    """
    gl = _gl()
    if mesh.dim != 2:
        raise ValueError(f"only 2-D meshes are bridged, got a {mesh.dim}-D mesh")
    # gstlearn's matrices are filled column by column
    nodes = gl.MatrixDense.createFromVD(np.asarray(mesh.nodes, np.float64).T.ravel().tolist(),
                                        mesh.n_nodes, 2)
    cells = gl.MatrixInt.createFromVI(np.asarray(mesh.cells).T.ravel().astype(int).tolist(),
                                      len(mesh.cells), 3)
    return gl.MeshEStandard.createFromExternal(nodes, cells)


def projector_to_gstlearn(A):
    """A ``gstlearn.ProjMultiMatrix`` (one variable, one latent field) holding A.

    Parameters
    ----------
    A : scipy.sparse matrix
        ``(n, N)`` projector.

    Returns
    -------
    gstlearn.ProjMultiMatrix

    Raises
    ------
    ImportError
        If gstlearn is not installed.
    """
    gl = _gl()
    A = sp.coo_matrix(A)
    triplet = gl.NF_Triplet()
    for r, c, v in zip(A.row.tolist(), A.col.tolist(), A.data.tolist(), strict=True):
        triplet.add(r, c, v)
    triplet.force(*A.shape)
    proj = gl.ProjMatrix()
    proj.resetFromTriplet(triplet)
    row = gl.VectorConstProjMatrix()
    row.push_back(proj)
    rows = gl.VVectorConstProjMatrix()
    rows.push_back(row)
    out = gl.ProjMultiMatrix(rows, False)
    out._keep = (proj, row, rows)  # the SWIG vectors hold raw pointers
    return out


def matern_to_gstlearn(params: Mapping, smoothness: float, constant_mean: bool = False):
    """A ``gstlearn.Model``: a Matérn covariance plus a nugget, optionally a constant drift.

    Parameters
    ----------
    params : Mapping
        ``variance``, ``range``; optionally ``angle``, ``ratio`` (anisotropy) and ``nugget``.
    smoothness : float
        Matérn ν.
    constant_mean : bool, default False
        Add a constant drift (profiled by gstlearn's GLS).

    Returns
    -------
    gstlearn.Model

    Raises
    ------
    ImportError
        If gstlearn is not installed.
    """
    gl = _gl()
    p = {k: float(v) for k, v in params.items()}
    if "angle" in p:
        model = gl.Model.createFromParam(
            gl.ECov.MATERN, sill=p["variance"], param=smoothness,
            ranges=[p["range"], p["range"] * p.get("ratio", 1.0)],
            angles=[math.degrees(p["angle"]), 0.0], flagRange=False)
    else:
        model = gl.Model.createFromParam(gl.ECov.MATERN, range=p["range"], sill=p["variance"],
                                         param=smoothness, flagRange=False)
    if p.get("nugget", 0.0) > 0:
        model.addCovFromParam(gl.ECov.NUGGET, sill=p["nugget"])
    if constant_mean:
        model.setDriftIRF(0)
    return model


def gstlearn_log_likelihood(mesh: Mesh, points, y, params: Mapping, smoothness: float = 1.0,
                            constant_mean: bool = False, A=None, own_projector: bool = False):
    """A function of no arguments returning gstlearn's ``logLikelihoodSPDE`` (Cholesky mode).

    Everything is converted once; calling the function runs only gstlearn's likelihood.

    Parameters
    ----------
    mesh : Mesh
        A 2-D mesh.
    points : array_like
        ``(n, 2)`` observation locations.
    y : array_like
        ``(n,)`` observations.
    params : Mapping
        Matérn parameters (see :func:`matern_to_gstlearn`).
    smoothness : float, default 1.0
        Matérn ν.
    constant_mean : bool, default False
        Profile a constant mean.
    A : scipy.sparse matrix, optional
        Projector to pass (default ``mesh.projector(points)``).
    own_projector : bool, default False
        Let gstlearn build its own projector from the Db and the mesh instead (point location
        in a ``MeshEStandard``, slow for large meshes).

    Returns
    -------
    callable
        ``() -> float``.

    Raises
    ------
    ValueError
        If ``points`` is not ``(n, 2)`` for n observations.
    ImportError
        If gstlearn is not installed.
    """
    gl = _gl()
    points = np.asarray(points, np.float64)
    y = np.asarray(y, np.float64).ravel()
    if points.shape != (len(y), 2):
        raise ValueError(f"points of shape {points.shape} for {len(y)} observations")
    gmesh = mesh_to_gstlearn(mesh)
    db = gl.Db.create()
    db["x"], db["y"], db["z"] = points[:, 0], points[:, 1], y
    db.setLocators(["x", "y"], gl.ELoc.X)
    db.setLocator("z", gl.ELoc.Z)
    model = matern_to_gstlearn(params, smoothness, constant_mean)
    meshes = gl.VectorMeshes([gmesh])
    proj = None if own_projector else projector_to_gstlearn(
        mesh.projector(points) if A is None else A)
    keep = (gmesh, db, model, meshes, proj)

    def log_likelihood() -> float:
        _, d, m, ms, pr = keep
        return float(gl.logLikelihoodSPDE(d, m, 1, ms, pr, None, gl.SPDEParam(), False))

    return log_likelihood


__all__ = ["gstlearn_log_likelihood", "matern_to_gstlearn", "mesh_to_gstlearn",
           "projector_to_gstlearn"]
