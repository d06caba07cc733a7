"""Likelihood engines behind one interface (:class:`Engine`).

``exact``    dense Cholesky, O(n³) — the reference every approximate engine is tested against.
``vecchia``  Vecchia's approximation with m nearest earlier neighbours, O(n m³); exact at m = n − 1.
"""

from .base import Engine, GaussianSpec, Prediction
from .exact import ExactEngine, cholesky
from .vecchia import VecchiaEngine

ENGINES: dict[str, type[Engine]] = {"exact": ExactEngine, "vecchia": VecchiaEngine}


def get_engine(engine: str | Engine = "exact", **options) -> Engine:
    """An engine instance from its name (or the instance itself)."""
    if isinstance(engine, Engine):
        return engine
    try:
        return ENGINES[engine](**options)
    except KeyError:
        raise ValueError(f"unknown engine {engine!r}; available: {sorted(ENGINES)}") from None


__all__ = ["ENGINES", "Engine", "ExactEngine", "GaussianSpec", "Prediction", "VecchiaEngine",
           "cholesky", "get_engine"]
