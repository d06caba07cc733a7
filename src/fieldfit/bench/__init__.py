"""Benchmark cases and the runner behind ``fieldfit bench``.

heaton
    The Heaton et al. (2019) case study: 150,000-cell MODIS land-surface temperature and its
    simulated twin; fieldfit's fit, predictions and scores beside the competition's published
    results (:func:`run_heaton`, :data:`PUBLISHED`).
solar
    Solar-radiation forecasts: the advection–diffusion SPDE beside simpler forecasts
    (:func:`fieldfit.bench.solar.run_solar`; ``python -m fieldfit.bench.solar``).
"""

from .heaton import DATASETS, PUBLISHED, PublishedResult, published_table, run_heaton

__all__ = ["DATASETS", "PUBLISHED", "PublishedResult", "published_table", "run_heaton"]
