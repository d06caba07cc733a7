"""The posterior draws of :func:`fieldfit.sample`: :class:`PosteriorSample`, with its summary,
ArviZ InferenceData and NetCDF, convergence warnings and posterior predictive."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..priors import Distribution
from .convergence import quiet_arviz

#: the quantiles of :meth:`PosteriorSample.summary`
QUANTILES = {"q2.5": 0.025, "q50": 0.5, "q97.5": 0.975}


@dataclass
class PosteriorSample:
    """Posterior draws of a model's free parameters, mean coefficients included, as
    :func:`fieldfit.sample` returns them.

    Attributes
    ----------
    model : Model
        The sampled model (with ``profile_mean=False``: the mean coefficients are sampled).
    obs : Observations
        The data.
    draws : dict of str to ndarray
        ``{name: (chains, draws)}``: the natural values of every free parameter.
    stats : dict of str to ndarray
        Per draw, each ``(chains, draws)``: ``diverging`` (the transition diverged), ``lp``
        (log posterior density of u, up to a constant), ``loglik`` (ℓ), ``step_size`` and
        ``tree_depth`` (the doublings of the NUTS tree).
    fixed : dict of str to float
        The fixed parameters' values.
    priors : dict of str to Distribution
        Every free parameter's prior, given or default.
    seconds : float
        Wall time of :func:`fieldfit.sample`.
    interrupted : bool
        Ctrl-C stopped the sampling: the draws are those kept so far.
    warmup : int
        Warm-up steps per chain.
    seed : int
        The seed.
    mle : FitResult or None
        The maximum likelihood fit the chains started from (None with ``init``).
    message : str
        A note on the run (evaluations of the potential).
    evaluations : int
        Evaluations of U and ∇U in all (the start's check and jitter included).
    max_tree_depth : int
        The NUTS tree's maximum depth.
    diagnostics : list of dict
        The convergence warnings
        (:func:`~fieldfit.fit.convergence.check_convergence`), also as :attr:`warnings`.
    """

    model: object
    obs: object
    draws: dict[str, np.ndarray]
    stats: dict[str, np.ndarray]
    fixed: dict[str, float]
    priors: dict[str, Distribution]
    seconds: float
    interrupted: bool = False
    warmup: int = 0
    seed: int = 0
    mle: object = field(default=None, repr=False)
    message: str = ""
    evaluations: int = 0
    max_tree_depth: int = 10
    diagnostics: list[dict] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        """The sampled parameters' names."""
        return list(self.draws)

    @property
    def shape(self) -> tuple[int, int]:
        """(chains, draws per chain)."""
        return next(iter(self.stats.values())).shape

    @property
    def divergences(self) -> int:
        """The number of divergent transitions after warm-up, all chains together."""
        return int(self.stats["diverging"].sum())

    @property
    def warnings(self) -> list[dict]:
        """The convergence warnings, one dict per problem found
        (:func:`~fieldfit.fit.convergence.check_convergence`): an empty list when the chains
        pass every check."""
        return self.diagnostics

    @property
    def n(self) -> int:
        """The number of observed values."""
        return int(self.obs.observed.sum()) * self.obs.n_replicates

    def to_inference_data(self):
        """The draws as an ArviZ ``InferenceData``.

        Returns
        -------
        arviz.InferenceData
            ``posterior`` (the draws) and ``sample_stats`` (``diverging``, ``lp``,
            ``loglik``, ``step_size``, ``tree_depth``), with the model, engine, priors,
            fixed values and ``max_tree_depth`` as attributes.
        """
        import json

        import arviz as az

        attrs = {"model": self.model.name, "engine": self.model.engine_name, "n": self.n,
                 "seconds": self.seconds, "interrupted": int(self.interrupted),
                 "warmup": self.warmup, "seed": self.seed, "fixed": json.dumps(self.fixed),
                 "priors": json.dumps({k: prior_dict(v) for k, v in self.priors.items()}),
                 "max_tree_depth": self.max_tree_depth,
                 "inference_library": "pyro (NUTS) via fieldfit.sample"}
        return az.from_dict(posterior=self.draws, sample_stats=self.stats, attrs=attrs)

    def to_netcdf_bytes(self) -> bytes:
        """The InferenceData as NetCDF (HDF5) bytes.

        Returns
        -------
        bytes
            The contents of a ``.nc`` file, for :func:`fieldfit.io.write_set`.
        """
        import os
        import tempfile

        fd, tmp = tempfile.mkstemp(suffix=".nc")
        os.close(fd)
        try:
            self.to_inference_data().to_netcdf(tmp)
            with open(tmp, "rb") as f:
                return f.read()
        finally:
            os.unlink(tmp)

    def to_netcdf(self, path) -> None:
        """Write the InferenceData to a NetCDF file, atomically.

        Parameters
        ----------
        path : str or Path
            The ``.nc`` file to write (``arviz.from_netcdf`` reads it).
        """
        from ..io import write_set

        write_set([(path, self.to_netcdf_bytes())])

    def to_dataframe(self):
        """The draws as a table, one row per draw (for Parquet).

        Returns
        -------
        pandas.DataFrame
            Columns ``chain``, ``draw``, every parameter, ``diverging``, ``lp`` and
            ``loglik``.
        """
        import pandas as pd

        c, d = self.shape
        cols = {"chain": np.repeat(np.arange(c), d), "draw": np.tile(np.arange(d), c)}
        cols.update({k: v.reshape(-1) for k, v in self.draws.items()})
        cols.update({k: self.stats[k].reshape(-1) for k in ("diverging", "lp", "loglik")})
        return pd.DataFrame(cols)

    def summary(self) -> dict[str, dict[str, float | None]]:
        """Posterior summaries and convergence diagnostics per parameter (``arviz.summary``).

        Returns
        -------
        dict of str to dict
            ``{name: {mean, sd, q2.5, q50, q97.5, rhat, ess_bulk, ess_tail}}``: the pooled
            draws' mean, sd and quantiles, the rank-normalised split R-hat and the bulk and
            tail effective sample sizes (Vehtari et al. 2021); None where ArviZ gives NaN
            (R-hat of one chain).
        """
        import arviz as az

        funcs = {k: (lambda x, q=q: np.quantile(x, q)) for k, q in QUANTILES.items()}
        with quiet_arviz():
            table = az.summary(self.to_inference_data(), kind="all", stat_funcs=funcs,
                               extend=True, round_to="none")
        out = {}
        for name in self.names:
            row = table.loc[name]
            vals = {"mean": row["mean"], "sd": row["sd"], **{k: row[k] for k in QUANTILES},
                    "rhat": row["r_hat"], "ess_bulk": row["ess_bulk"],
                    "ess_tail": row["ess_tail"]}
            out[name] = {k: (float(v) if np.isfinite(v) else None) for k, v in vals.items()}
        return out

    def summary_table(self) -> str:
        """The summary as aligned text.

        Returns
        -------
        str
            A header, one row per parameter (:meth:`summary`) and a line with the chains,
            draws, divergences and seconds.
        """
        s = self.summary()
        cols = ["mean", "sd", "q2.5", "q50", "q97.5", "rhat", "ess_bulk", "ess_tail"]
        width = max([9, *map(len, s)])
        head = f"{'':<{width}}" + "".join(f"{c:>11}" for c in cols)
        rows = [f"{k:<{width}}" + "".join(
            f"{'—' if v[c] is None else format(v[c], '.4g'):>11}" for c in cols)
            for k, v in s.items()]
        c, d = self.shape
        tail = (f"{c} chain(s) × {d} draws, {self.divergences} divergent, "
                f"{self.seconds:.1f} s" + (" (interrupted)" if self.interrupted else ""))
        return "\n".join([head, *rows, tail])

    def predict(self, new_points, n_draws: int = 200, kind: str = "simple",
                noise: bool = True, new_covariates=None) -> tuple[np.ndarray, np.ndarray]:
        r"""Posterior predictive mean and sd: the mixture of each draw's kriging predictive.

        Over S draws s (evenly spaced over all chains), each with its kriging predictive
        :math:`N(\mu_s, \sigma_s^2)`, the law of total variance gives

        .. math::

            m = \frac{1}{S} \sum_s \mu_s, \qquad
            v = \frac{1}{S} \sum_s \sigma_s^2 + \frac{1}{S} \sum_s (\mu_s - m)^2.

        Parameters
        ----------
        new_points : array_like
            ``(m, D)`` locations (and times) to predict at, as ``model.points`` makes them.
        n_draws : int, default 200
            The draws S the mixture runs over (all of them when there are fewer).
        kind : {"simple", "universal"}, default "simple"
            ``"simple"`` predicts with each draw's own mean coefficients: the posterior
            predictive; ``"universal"`` re-estimates them by GLS at each draw's covariance
            parameters.
        noise : bool, default True
            Include the nugget: predict new observations rather than the field.
        new_covariates : array_like, optional
            ``(m, p)`` covariates at ``new_points`` for a model with a regression mean.

        Returns
        -------
        mean, sd : ndarray
            ``(m,)`` each.

        Raises
        ------
        ValueError
            ``n_draws`` is not a positive integer.
        """
        c, d = self.shape
        total = c * d
        if int(n_draws) != n_draws or n_draws < 1:
            raise ValueError(f"n_draws must be a positive integer, got {n_draws}")
        idx = np.unique(np.linspace(0, total - 1, min(int(n_draws), total)).round().astype(int))
        flat = {k: v.reshape(-1) for k, v in self.draws.items()}
        means, variances = [], []
        for i in idx:
            params = {**self.fixed, **{k: float(v[i]) for k, v in flat.items()}}
            mu, sd = self.model.predict(self.obs, new_points, params, kind=kind, noise=noise,
                                        new_covariates=new_covariates)
            means.append(np.asarray(mu))
            variances.append(np.asarray(sd) ** 2)
        mu, var = np.stack(means), np.stack(variances)
        mean = mu.mean(0)
        return mean, np.sqrt(var.mean(0) + mu.var(0))


def prior_dict(p: Distribution) -> dict | str:
    """A prior as plain data, for JSON and NetCDF attributes.

    Parameters
    ----------
    p : Distribution
        A prior.

    Returns
    -------
    dict or str
        ``p.to_dict()``, or its repr for a prior that is not plain data (a
        :class:`fieldfit.priors.TorchPrior`).
    """
    try:
        return p.to_dict()
    except TypeError:
        return repr(p)


__all__ = ["QUANTILES", "PosteriorSample", "prior_dict"]
