"""Covariances against scipy / mpmath references, closed forms, and gradients."""

import math

import mpmath
import numpy as np
import pytest
import scipy.special as sp
import torch

from fieldfit.covariance import (
    Anisotropic,
    Exponential,
    Gaussian,
    Gneiting,
    Matern,
    Separable,
    matern_correlation,
)
from fieldfit.covariance.bessel import log_bessel_k
from fieldfit.settings import settings

D = torch.float64


def scipy_matern(h, nu):
    h = np.asarray(h, dtype=float)
    with np.errstate(all="ignore"):
        out = 2 ** (1 - nu) / sp.gamma(nu) * h**nu * sp.kv(nu, h)
    return np.where(h == 0, 1.0, out)


NUS = [0.1, 0.3, 0.5, 0.77, 1.0, 1.5, 2.2, 2.5, 4.0, 9.3]
H = np.concatenate([[0.0], np.logspace(-5, 1.7, 120)])


@pytest.mark.parametrize("nu", NUS)
@pytest.mark.parametrize("table", [False, True])
def test_matern_against_scipy(nu, table):
    with settings(matern_table_min=0 if table else 10**12):
        got = matern_correlation(torch.tensor(H, dtype=D), torch.tensor(nu, dtype=D)).numpy()
    ref = scipy_matern(H, nu)
    keep = ref > 1e-250
    rtol = 1e-12 if not table else 1e-10
    np.testing.assert_allclose(got[keep], ref[keep], rtol=rtol, atol=0)
    assert got[0] == 1.0


def test_matern_half_is_exponential_and_closed_forms():
    h = torch.tensor(H, dtype=D)
    p = {"variance": torch.tensor(2.0, dtype=D), "range": torch.tensor(0.7, dtype=D),
         "smoothness": torch.tensor(0.5, dtype=D)}
    x = h[:, None]
    np.testing.assert_allclose(Matern()(x, torch.zeros(1, 1, dtype=D), p).numpy()[:, 0],
                               Exponential()(x, torch.zeros(1, 1, dtype=D), p).numpy()[:, 0],
                               rtol=1e-14)
    for nu in (0.5, 1.5, 2.5):
        closed = matern_correlation(h, nu).numpy()
        general = matern_correlation(h, torch.tensor(nu, dtype=D, requires_grad=True))
        np.testing.assert_allclose(closed, general.detach().numpy(), rtol=1e-11)
        np.testing.assert_allclose(closed, scipy_matern(H, nu), rtol=1e-12)


def test_matern_table_values_do_not_depend_on_the_other_distances():
    """The table evaluates only the grid nodes that bracket the distances given: a
    distance's value and gradient are the same alone as among distances 10⁻⁵ to 10³ (the
    whole grid), to rounding, and still match scipy."""
    from scipy.special import gamma, kv

    nu = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    few = torch.tensor([0.05, 0.2, 0.9], dtype=torch.float64)
    wide = torch.cat([few, torch.logspace(-5, 3, 40, dtype=torch.float64)])
    with settings(matern_table_min=0):
        a = matern_correlation(few, nu)
        b = matern_correlation(wide, nu)[:3]
        (ga,) = torch.autograd.grad(a.sum(), nu)
        (gb,) = torch.autograd.grad(b.sum(), nu)
    torch.testing.assert_close(a, b, rtol=1e-14, atol=0)
    torch.testing.assert_close(ga, gb, rtol=1e-12, atol=0)
    x = few.numpy()
    exact = 2 ** (1 - 1.3) / gamma(1.3) * x ** 1.3 * kv(1.3, x)
    np.testing.assert_allclose(a.detach().numpy(), exact, rtol=1e-10)


def test_matern_large_nu_stable_and_near_gaussian():
    # nu = 60 overflows a plain K_nu(x) at small x; log-space evaluation must stay finite,
    # and with range l/sqrt(2 nu) the Matérn approaches exp(-h²/(2 l²)).
    nu = 60.0
    h = torch.tensor(np.linspace(0, 3, 61), dtype=D)
    r = h * math.sqrt(2 * nu)
    for table in (False, True):
        with settings(matern_table_min=0 if table else 10**12):
            got = matern_correlation(r, torch.tensor(nu, dtype=D)).numpy()
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, np.exp(-0.5 * h.numpy() ** 2), atol=2e-2)
    ref = [float(2 ** (1 - nu) / mpmath.gamma(nu) * mpmath.mpf(x) ** nu * mpmath.besselk(nu, x))
           for x in r.numpy()[1:]]
    np.testing.assert_allclose(got[1:], ref, rtol=1e-9)


def test_the_three_point_nu_stencil_halves_the_bessel_calls_and_is_checked():
    import fieldfit.covariance.bessel as bessel

    x = torch.tensor([0.1, 1.0, 7.0], dtype=D)
    calls = {}
    real = bessel.log_kv_numpy
    for stencil in (5, 3):
        n = [0]

        def counted(*a, n=n):
            n[0] += 1
            return real(*a)

        bessel.log_kv_numpy = counted
        try:
            nu = torch.tensor(1.7, dtype=D, requires_grad=True)
            with settings(bessel_nu_stencil=stencil):
                out = log_bessel_k(nu, x).sum()
            torch.autograd.grad(out, nu)   # after the block: the forward pass decides
        finally:
            bessel.log_kv_numpy = real
        calls[stencil] = n[0]
    assert calls == {5: 5, 3: 3}
    with pytest.raises(ValueError, match="bessel_nu_stencil must be 3 or 5"):
        with settings(bessel_nu_stencil=4):
            pass


def test_log_bessel_k_overflow_branch_against_mpmath():
    nu = torch.tensor([180.0, 250.5], dtype=D)
    x = torch.tensor([0.5, 3.0], dtype=D)
    got = log_bessel_k(nu, x).numpy()
    ref = [float(mpmath.log(mpmath.besselk(n, v)))
           for n, v in zip([180.0, 250.5], [0.5, 3.0], strict=True)]
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def _mp_matern(h, nu):
    return 2 ** (1 - nu) / mpmath.gamma(nu) * mpmath.mpf(h) ** nu * mpmath.besselk(nu, h)


@pytest.mark.parametrize("stencil", [5, 3])
@pytest.mark.parametrize("table", [False, True])
@pytest.mark.parametrize("nu", [0.35, 1.3, 3.7])
def test_matern_gradients_against_mpmath(nu, table, stencil):
    # stencil: the points of the central difference in ν of log K_ν (3: the sampler's)
    hs = [0.003, 0.2, 1.1, 4.0]
    nu_t = torch.tensor(nu, dtype=D, requires_grad=True)
    r = torch.tensor(hs, dtype=D, requires_grad=True)
    with settings(matern_table_min=0 if table else 10**12, bessel_nu_stencil=stencil):
        rho = matern_correlation(r, nu_t)
        g_nu, g_r = torch.autograd.grad(rho.sum(), (nu_t, r))
    mpmath.mp.dps = 30
    try:
        ref_nu = sum(mpmath.diff(lambda v, h=h: _mp_matern(h, v), nu) for h in hs)
        ref_r = [mpmath.diff(lambda x: _mp_matern(x, nu), h) for h in hs]
    finally:
        mpmath.mp.dps = 15
    np.testing.assert_allclose(float(g_nu), float(ref_nu), rtol=1e-8)
    # the interpolant's derivative is one order less accurate than its values
    np.testing.assert_allclose(g_r.numpy(), [float(v) for v in ref_r], rtol=1e-7 if table else 1e-8,
                               atol=1e-9 if table else 0)


@pytest.mark.parametrize("table", [False, True])
def test_matern_second_derivative_in_nu(table):
    hs = [0.05, 0.6, 2.5]
    nu = 1.7
    nu_t = torch.tensor(nu, dtype=D, requires_grad=True)
    with settings(matern_table_min=0 if table else 10**12):
        rho = matern_correlation(torch.tensor(hs, dtype=D), nu_t).sum()
        (g,) = torch.autograd.grad(rho, nu_t, create_graph=True)
        (h2,) = torch.autograd.grad(g, nu_t)
    mpmath.mp.dps = 30
    try:
        ref = sum(mpmath.diff(lambda v, h=h: _mp_matern(h, v), nu, 2) for h in hs)
    finally:
        mpmath.mp.dps = 15
    np.testing.assert_allclose(float(h2), float(ref), rtol=1e-5)


def _fd_check(cov, p, x1, x2, names, rtol=1e-6):
    base = {k: torch.tensor(v, dtype=D, requires_grad=(k in names)) for k, v in p.items()}
    K = cov(x1, x2, base)
    w = torch.linspace(0.5, 1.5, K.numel(), dtype=D).reshape(K.shape)
    grads = torch.autograd.grad((K * w).sum(), [base[k] for k in names])
    for k, g in zip(names, grads, strict=False):
        eps = 1e-6 * max(1.0, abs(p[k]))
        plus = {kk: torch.tensor(v + (eps if kk == k else 0.0), dtype=D) for kk, v in p.items()}
        minus = {kk: torch.tensor(v - (eps if kk == k else 0.0), dtype=D) for kk, v in p.items()}
        fd = ((cov(x1, x2, plus) * w).sum() - (cov(x1, x2, minus) * w).sum()) / (2 * eps)
        np.testing.assert_allclose(float(g), float(fd), rtol=rtol, err_msg=k)


@pytest.fixture
def pts():
    g = torch.Generator().manual_seed(1)
    return torch.rand(25, 2, generator=g, dtype=D)


def test_finite_difference_gradients_isotropic(pts):
    p = {"variance": 1.7, "range": 0.3, "smoothness": 1.3}
    _fd_check(Matern(), p, pts, pts, ["variance", "range", "smoothness"])
    _fd_check(Gaussian(), {"variance": 1.2, "range": 0.2}, pts, pts, ["variance", "range"])
    _fd_check(Exponential(), {"variance": 1.2, "range": 0.2}, pts, pts, ["variance", "range"])


def test_anisotropy(pts):
    cov = Anisotropic(Matern())
    p = {"variance": 1.0, "range": 0.4, "smoothness": 0.9, "angle": 0.6, "ratio": 0.3}
    _fd_check(cov, p, pts, pts, list(p))
    # along the angle the range is `range`; across it `range * ratio`
    t = {k: torch.tensor(v, dtype=D) for k, v in p.items()}
    o = torch.zeros(1, 2, dtype=D)
    along = torch.tensor([[math.cos(0.6), math.sin(0.6)]], dtype=D) * 0.2
    across = torch.tensor([[-math.sin(0.6), math.cos(0.6)]], dtype=D) * 0.2 * 0.3
    np.testing.assert_allclose(float(cov(along, o, t)), float(cov(across, o, t)), rtol=1e-12)
    iso = {**t, "ratio": torch.tensor(1.0, dtype=D)}
    np.testing.assert_allclose(cov(pts, pts, iso).numpy(), Matern()(pts, pts, t).numpy(),
                               rtol=1e-12)


def test_separable_and_gneiting(pts):
    st = torch.cat([pts, torch.arange(25, dtype=D)[:, None] / 5], dim=1)
    sep = Separable(Matern(), Exponential())
    p = {"variance": 1.3, "range": 0.3, "smoothness": 1.1, "time_range": 2.0}
    _fd_check(sep, p, st, st, list(p))
    t = {k: torch.tensor(v, dtype=D) for k, v in p.items()}
    K = sep(st, st, t).numpy()
    ks = Matern()(pts, pts, t).numpy()
    tt = st[:, 2].numpy()
    dt = np.abs(tt[:, None] - tt[None, :])
    np.testing.assert_allclose(K, ks * np.exp(-dt / 2.0), rtol=1e-12)

    gn = Gneiting()
    q = {"variance": 1.0, "range": 0.3, "time_range": 1.5, "smoothness": 0.7,
         "time_smoothness": 0.8, "separability": 0.6}
    _fd_check(gn, q, st, st, list(q), rtol=1e-5)
    qt = {k: torch.tensor(v, dtype=D) for k, v in q.items()}
    G = gn(st, st, qt).numpy()
    assert np.linalg.eigvalsh(G).min() > -1e-10
    # separability 0: product of the spatial and temporal powered exponentials
    q0 = {**qt, "separability": torch.tensor(0.0, dtype=D)}
    h = torch.cdist(pts, pts).numpy()
    np.testing.assert_allclose(gn(st, st, q0).numpy(), np.exp(-((h / 0.3) ** 1.4)), rtol=1e-12)
    # formula check at one pair
    i, j = 3, 11
    u = abs(float(st[i, 2] - st[j, 2]))
    psi = 1 + (u / 1.5) ** (2 * 0.8)
    ref = psi ** (-0.6 * 2 / 2) * math.exp(-((h[i, j] / 0.3) ** (2 * 0.7)) * psi ** (-0.6 * 0.7))
    np.testing.assert_allclose(G[i, j], ref, rtol=1e-12)


def test_matern_rejects_bad_smoothness():
    with pytest.raises(ValueError, match="smoothness"):
        Matern(smoothness=-1.0)
    with pytest.raises(ValueError, match="smoothness"):
        matern_correlation(torch.ones(3, dtype=D), torch.tensor(-0.5, dtype=D))
