"""The convergence checks of Stan, PyMC and ArviZ on posterior draws (Vehtari et al. 2021):
R-hat, bulk and tail effective sample sizes, divergences and the maximum tree depth."""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np

#: convergence checks (:func:`check_convergence`), as Stan, PyMC and ArviZ make them: split
#: R-hat at most RHAT_MAX, bulk and tail ESS at least MIN_ESS_PER_CHAIN per chain (Vehtari et
#: al. 2021), no divergent transition, no transition at the maximum tree depth
RHAT_MAX = 1.01
MIN_ESS_PER_CHAIN = 100


@contextlib.contextmanager
def quiet_arviz():
    """ArviZ's notes on short or single chains (its log's warnings, Python warnings) silenced
    inside: the convergence checks report what matters."""
    import logging

    log = logging.getLogger("arviz")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)


class ConvergenceWarning(UserWarning):
    """The chains failed a convergence check (:func:`check_convergence`)."""


def check_convergence(idata, max_tree_depth: int | None = None) -> list[dict]:
    """The convergence checks of Stan, PyMC and ArviZ on posterior draws.

    A warning for each parameter whose rank-normalised split R-hat exceeds
    :data:`RHAT_MAX` (1.01) or whose bulk or tail effective sample size is below
    :data:`MIN_ESS_PER_CHAIN` (100) per chain (Vehtari et al. 2021); one for divergent
    transitions after warm-up, if any; one for transitions that reached the maximum tree
    depth, if any.

    Parameters
    ----------
    idata : arviz.InferenceData
        ``posterior`` draws ``(chain, draw)``; ``sample_stats`` with ``diverging`` and
        ``tree_depth``, each optional.
    max_tree_depth : int, optional
        The sampler's maximum tree depth. Default: ``idata.attrs["max_tree_depth"]``; no
        tree-depth check without either.

    Returns
    -------
    list of dict
        One dict per problem found, empty when none is: ``check`` (``"rhat"``,
        ``"ess_bulk"``, ``"ess_tail"``, ``"divergences"`` or ``"tree_depth"``),
        ``parameter`` (its name, None for the sampler's checks), ``value`` (the R-hat, the
        ESS, or the number of transitions), ``threshold`` and ``message`` (one line).

    References
    ----------
    Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. and Bürkner, P.-C. (2021).
    Rank-normalization, folding, and localization: an improved R-hat for assessing
    convergence of MCMC. Bayesian Analysis 16(2), 667–718.

    Examples
    --------
    >>> import arviz as az
    >>> import numpy as np
    >>> from fieldfit.fit.convergence import check_convergence
    >>> rng = np.random.default_rng(0)
    >>> idata = az.from_dict(posterior={"mu": rng.normal(size=(4, 500))})
    >>> check_convergence(idata)
    []
    >>> stuck = az.from_dict(posterior={"mu": np.arange(4)[:, None] + rng.normal(size=(4, 500))})
    >>> sorted({w["check"] for w in check_convergence(stuck)})
    ['ess_bulk', 'ess_tail', 'rhat']
    """
    import arviz as az

    out: list[dict] = []
    chains = int(idata.posterior.sizes["chain"])
    least_ess = MIN_ESS_PER_CHAIN * chains
    with quiet_arviz():
        table = az.summary(idata, kind="diagnostics", round_to="none")
    for name, row in table.iterrows():
        rhat = float(row["r_hat"])
        if math.isfinite(rhat) and rhat > RHAT_MAX:
            out.append({"check": "rhat", "parameter": name, "value": rhat,
                        "threshold": RHAT_MAX,
                        "message": f"R-hat of {name} is {rhat:.3f} (> {RHAT_MAX}): the chains "
                                   "disagree; run longer chains (more warm-up and draws)"})
        for kind in ("bulk", "tail"):
            ess = float(row[f"ess_{kind}"])
            if math.isfinite(ess) and ess < least_ess:
                out.append({"check": f"ess_{kind}", "parameter": name, "value": ess,
                            "threshold": least_ess,
                            "message": f"{kind} ESS of {name} is {ess:.0f} (< {least_ess}, "
                                       f"{MIN_ESS_PER_CHAIN} per chain): too few effective "
                                       "draws; run more draws"})
    stats = getattr(idata, "sample_stats", None)
    if stats is None:
        return out
    if "diverging" in stats:
        diverging = np.asarray(stats["diverging"].values, dtype=bool)
        n_div = int(diverging.sum())
        if n_div:
            out.append({"check": "divergences", "parameter": None, "value": n_div,
                        "threshold": 0,
                        "message": f"{n_div} of {diverging.size} transitions after warm-up "
                                   "diverged: the draws may be biased; try a longer warm-up, "
                                   "a higher target_accept or more informative priors"})
    if max_tree_depth is None:
        max_tree_depth = idata.attrs.get("max_tree_depth")
    if max_tree_depth is not None and "tree_depth" in stats:
        depth = np.asarray(stats["tree_depth"].values)
        n_max = int((depth >= int(max_tree_depth)).sum())
        if n_max:
            out.append({"check": "tree_depth", "parameter": None, "value": n_max,
                        "threshold": int(max_tree_depth),
                        "message": f"{n_max} of {depth.size} transitions reached the maximum "
                                   f"tree depth ({int(max_tree_depth)}): the sampler is "
                                   "inefficient there; raise max_tree_depth or give more "
                                   "informative priors"})
    return out


__all__ = ["MIN_ESS_PER_CHAIN", "RHAT_MAX", "ConvergenceWarning", "check_convergence",
           "quiet_arviz"]
