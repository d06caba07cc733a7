"""Simulated (θ, data) pairs from a model's ``simulate``, a prior and a design sampler.

Sample ``i`` of a run with seed ``s`` is a function of ``(s, i)`` only: its generator is
``numpy.random.default_rng([s, i])`` (parameters, design, replicates and the field's seed all come
from it), so a run split into chunks, resumed, or spread over Dask workers gives the same
samples as one in-process loop (tested). The parallel, resumable path writing Zarr is in
:mod:`fieldfit.neural.store`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..settings import one_thread
from .designs import design_from_dict
from .prior import Prior

MODEL_KINDS = ("gaussian-field", "matern-spde")
COVARIANCES = ("matern", "exponential", "gaussian")

#: validation samples of a run are its indices from here on (never reached by training data)
VALIDATION_START = 10**9


def validation_indices(count: int) -> range:
    """The sample indices of a run's ``count`` validation datasets."""
    return range(VALIDATION_START, VALIDATION_START + int(count))


@dataclass(frozen=True)
class ModelSpec:
    """A model by description, rebuilt on every worker (and from a saved estimator).

    ``kind``: "gaussian-field" (``covariance`` in {"matern", "exponential", "gaussian"}, exact
    simulation by Cholesky) or "matern-spde" (``SPDEField`` with ``alpha``, a mesh built from
    each design's points); a constant mean and a nugget when ``nugget``.
    """

    kind: str = "gaussian-field"
    covariance: str = "matern"
    nugget: bool = True
    alpha: int = 2

    def __post_init__(self):
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"model kind must be one of {MODEL_KINDS}, got {self.kind!r}")
        if self.covariance not in COVARIANCES:
            raise ValueError(f"covariance must be one of {COVARIANCES}, got {self.covariance!r}")

    def build(self, fixed: Mapping[str, float] | None = None):
        from .. import covariance as cov
        from ..models import GaussianField

        fixed = dict(fixed or {})
        if self.kind == "matern-spde":
            from ..models.spde_field import SPDEField

            return SPDEField(alpha=self.alpha, nugget=self.nugget)
        if self.covariance == "matern":
            c = cov.Matern(smoothness=fixed.get("smoothness"))
        else:
            c = cov.Exponential() if self.covariance == "exponential" else cov.Gaussian()
        return GaussianField(c, mean="constant", nugget=self.nugget)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "covariance": self.covariance, "nugget": self.nugget,
                "alpha": self.alpha}

    @classmethod
    def from_dict(cls, d: Mapping) -> ModelSpec:
        return cls(**dict(d))


@dataclass(frozen=True)
class Sample:
    """One simulated dataset: parameters ``theta (p,)``, ``coords (n, 2)``, ``values (r, n)``."""

    theta: np.ndarray
    coords: np.ndarray
    values: np.ndarray


@dataclass
class SimulationSpec:
    """What to simulate: a model, a prior over its parameters, a design, the replicates.

    ``model``: a :class:`ModelSpec`, or any model object offering the model contract's
    ``simulate(points (n, 2), params, n_replicates, seed) -> (r, n)`` and ``param_space()``
    (in-process simulation and training; a ModelSpec is needed to save the spec or to simulate
    on Dask workers).

    ``replicates``: an int, or ``(lo, hi)`` drawn uniformly per dataset.
    """

    model: ModelSpec
    prior: Prior
    design: object
    replicates: int | tuple[int, int] = 1
    _model: object = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        lo, hi = self.replicate_range
        if not 1 <= lo <= hi:
            raise ValueError(f"replicates needs 1 <= lo <= hi, got {self.replicates}")
        model = self.model_
        names = set(model.param_space().names) | {"mean"}
        given = set(self.prior.names) | set(self.prior.fixed)
        missing, unknown = names - given, given - names
        if missing or unknown:
            raise ValueError(f"the prior must give every parameter of {model!r} exactly once: "
                             f"missing {sorted(missing)}, unknown {sorted(unknown)}")

    @property
    def replicate_range(self) -> tuple[int, int]:
        r = self.replicates
        return (r, r) if isinstance(r, int) else (int(r[0]), int(r[1]))

    @property
    def model_(self):
        if self._model is None:
            self._model = (self.model.build(self.prior.fixed)
                           if isinstance(self.model, ModelSpec) else self.model)
        return self._model

    def draw_setting(self, seed: int, index: int):
        """Parameters ``theta (p,)``, locations ``(n, 2)``, number of replicates of sample
        ``index`` and the generator they were drawn from (it then seeds the field)."""
        rng = np.random.default_rng([int(seed), int(index)])
        theta = self.prior.sample(1, rng)[0]
        coords = self.design.sample(rng)
        lo, hi = self.replicate_range
        r = lo if lo == hi else int(rng.integers(lo, hi + 1))
        return theta, coords, r, rng

    def simulate_one(self, seed: int, index: int) -> Sample:
        theta, coords, r, rng = self.draw_setting(seed, index)
        values = self.model_.simulate(coords, self.prior.params(theta), n_replicates=r,
                                      seed=int(rng.integers(2**62)))
        return Sample(theta, coords, np.asarray(values, dtype=np.float64).reshape(r, -1))

    def simulate(self, indices: Sequence[int] | int, seed: int = 0) -> list[Sample]:
        """Samples ``indices`` (or ``range(indices)``) of the run with ``seed``, in process."""
        if isinstance(indices, int):
            indices = range(indices)
        with one_thread():
            return [self.simulate_one(seed, i) for i in indices]

    def to_dict(self) -> dict:
        r = self.replicates
        if not isinstance(self.model, ModelSpec):
            raise ValueError(f"{self.model!r} is a model object: simulations in process work, "
                             "but saving the spec or sending it to Dask workers needs a "
                             "ModelSpec (a model by description)")
        return {"model": self.model.to_dict(), "prior": self.prior.to_dict(),
                "design": self.design.to_dict(),
                "replicates": r if isinstance(r, int) else list(r)}

    @classmethod
    def from_dict(cls, d: Mapping) -> SimulationSpec:
        r = d["replicates"]
        return cls(ModelSpec.from_dict(d["model"]), Prior.from_dict(d["prior"]),
                   design_from_dict(d["design"]), r if isinstance(r, int) else tuple(r))
