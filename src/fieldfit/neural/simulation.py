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

#: validation samples of a run are its indices from here on (never reached by training data)
VALIDATION_START = 10**9
#: the largest share of missing values a space-time spec may draw
MAX_MISSING = 0.5


def _time_steps(model, t) -> int | tuple[int, int]:
    """``time_steps`` checked: an integer ≥ 2 or a pair 2 ≤ lo ≤ hi."""
    pair = isinstance(t, tuple | list)
    values = list(t) if pair else [t]
    ok = (t is not None and len(values) == (2 if pair else 1)
          and all(isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 2
                  for v in values) and values[0] <= values[-1])
    if not ok:
        raise ValueError(f"{model!r} is a space-time model: give time_steps >= 2 (the regular "
                         f"times of each location), or (lo, hi) with 2 <= lo <= hi, got {t}")
    return (int(values[0]), int(values[1])) if pair else int(t)


def validation_indices(count: int) -> range:
    """The sample indices of a run's ``count`` validation datasets.

    Parameters
    ----------
    count : int
        Number of validation datasets.

    Returns
    -------
    range
        ``range(VALIDATION_START, VALIDATION_START + count)``: indices never reached by
        training data.
    """
    return range(VALIDATION_START, VALIDATION_START + int(count))


#: the ModelSpec kinds of bundles saved before the model registry, and their registry names
_LEGACY_KINDS = ("gaussian-field", "matern-spde")


@dataclass(frozen=True)
class ModelSpec:
    """A model by description: a registered name and its options.

    The model is built by :func:`fieldfit.models.build`, on every worker and from a saved
    estimator: ``ModelSpec("matern", {"nugget": False})``,
    ``ModelSpec("matern-spde", {"alpha": 2})``, ``ModelSpec("advection-diffusion")``;
    ``ModelSpec.of(model)`` describes a built model. A fixed ``smoothness`` of the prior is
    passed to the models that take it as an option (the Matérn's closed forms; the SPDE's
    order α).

    Parameters
    ----------
    name : str, default "matern"
        A registered model name (stored under its canonical name).
    options : mapping, default {}
        Options of that model.

    Raises
    ------
    ValueError
        If the name is not registered or an option is not one the model takes.
    """

    name: str = "matern"
    options: Mapping = field(default_factory=dict)

    def __post_init__(self):
        from ..models.registry import entry

        e = entry(self.name)           # ValueError for an unknown name
        unknown = sorted(set(self.options) - set(e.options))
        if unknown:
            raise ValueError(f"model {e.name!r} takes the options {sorted(e.options)}, not "
                             f"{unknown}")
        object.__setattr__(self, "name", e.name)
        object.__setattr__(self, "options", dict(self.options))

    @classmethod
    def of(cls, model) -> ModelSpec:
        """The spec of a built model (``model.to_spec()``).

        Parameters
        ----------
        model : object
            A model with a ``to_spec()`` method returning ``{"model": name, **options}``.

        Returns
        -------
        ModelSpec
            Its description.
        """
        spec = dict(model.to_spec())
        return cls(spec.pop("model"), spec)

    @property
    def space_time(self) -> bool:
        """The model's points are (x, y, t)."""
        from ..models.registry import is_space_time

        return is_space_time(self.name)

    def build(self, fixed: Mapping[str, float] | None = None):
        """Build the model described.

        Parameters
        ----------
        fixed : mapping of str to float or None, optional
            Parameters the prior fixes; a fixed ``smoothness`` becomes the model option of that
            name where the model takes one and the spec does not set it.

        Returns
        -------
        object
            The model, from :func:`fieldfit.models.build`.
        """
        from ..models import build
        from ..models.registry import entry

        options = dict(self.options)
        fixed = dict(fixed or {})
        if "smoothness" in fixed and "smoothness" in entry(self.name).options:
            options.setdefault("smoothness", fixed["smoothness"])
        return build(self.name, **options)

    def to_dict(self) -> dict:
        """The spec as plain data.

        Returns
        -------
        dict
            ``{"name": ..., "options": {...}}``, read back by :meth:`from_dict`.
        """
        return {"name": self.name, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, d: Mapping) -> ModelSpec:
        """Rebuild a spec from its plain-data description.

        Reads the output of :meth:`to_dict`, or the description of bundles saved before the model
        registry (``{"kind": "gaussian-field", "covariance": ..., "nugget": ...}`` or
        ``{"kind": "matern-spde", "alpha": ..., "nugget": ...}``).

        Parameters
        ----------
        d : mapping
            The description.

        Returns
        -------
        ModelSpec
            The spec described.

        Raises
        ------
        ValueError
            If a legacy ``kind`` is unknown, or the name or options are invalid.
        """
        d = dict(d)
        if "kind" in d:
            if d["kind"] not in _LEGACY_KINDS:
                raise ValueError(f"unknown model kind {d['kind']!r}")
            if d["kind"] == "matern-spde":
                return cls("matern-spde", {"alpha": int(d.get("alpha", 2)),
                                           "nugget": bool(d.get("nugget", True))})
            return cls(d.get("covariance", "matern"), {"nugget": bool(d.get("nugget", True))})
        return cls(d["name"], d.get("options", {}))


def example_observations(space_time: bool = False):
    """Three locations in the unit square (at two times for space-time models).

    Enough to ask a model for its parameter space, with the mean coefficients a design's
    coordinates give (``x0``, ``x1``).

    Parameters
    ----------
    space_time : bool, default False
        Observe each location at times 0 and 1.

    Returns
    -------
    fieldfit.Observations
        3 (or 6) observations with zero values.
    """
    from ..data import Observations

    coords = np.array([[0.1, 0.2], [0.5, 0.9], [0.8, 0.3]])
    if space_time:
        return Observations(coords=np.tile(coords, (2, 1)), values=np.zeros(6),
                            times=np.repeat([0.0, 1.0], 3))
    return Observations(coords=coords, values=np.zeros(3))


@dataclass(frozen=True)
class Sample:
    """One simulated dataset.

    Parameters
    ----------
    theta : numpy.ndarray, shape (p,)
        The parameters it was simulated with (prior order).
    coords : numpy.ndarray, shape (n, 2)
        The locations.
    values : numpy.ndarray, shape (r, n)
        One row per replicate (``(r * T, n)`` for a space-time model: see
        :class:`SimulationSpec`); NaN where a value is missing.
    times : numpy.ndarray, shape (T,), or None
        The times of the ``T`` slices of a space-time sample; None for a spatial one.
    """

    theta: np.ndarray
    coords: np.ndarray
    values: np.ndarray
    times: np.ndarray | None = None

    @property
    def time_steps(self) -> int:
        """``T``: the number of times (1 for a spatial sample)."""
        return 1 if self.times is None else len(self.times)


@dataclass
class SimulationSpec:
    """What to simulate: a model, a prior over its parameters, a design, the replicates.

    A space-time sample's values are ``(r * T, n)``: the ``T`` time slices of each replicate in
    turn, which the networks read as replicates (DeepSets over them; the order in time is not
    used by today's summary networks).

    Parameters
    ----------
    model : ModelSpec or object
        A :class:`ModelSpec` (a registered model by description), or any model object of the
        contract (:class:`fieldfit.contract.Simulator`: ``simulate(points, params,
        n_replicates, seed) -> (r, n)``, ``param_space()``, ``to_spec()``); a model object is
        described by its ``to_spec()`` when the spec is saved or sent to Dask workers.
    prior : Prior
        Prior over the model's parameters; with its fixed values it must name every free
        parameter (and profiled mean coefficient) exactly once.
    design : object
        A design sampler (:mod:`fieldfit.neural.designs`).
    replicates : int or tuple of int, default 1
        Replicates per dataset, or ``(lo, hi)`` drawn uniformly per dataset.
    time_steps : int, tuple of int, or None, default None
        For space-time models (``ModelSpec.space_time``), the number ``T >= 2`` of regular times
        at which every location of the design is observed, or ``(lo, hi)`` drawn uniformly per
        dataset; ``None`` for spatial models.
    time_span : float or None, default None
        The times are ``t_k = k * time_span / (T - 1)`` (the series spans ``time_span`` whatever
        its length: 1 for the unit interval); None: ``t_k = k`` (unit steps).
    missing : float, default 0.0
        For space-time models, the largest share of missing values: each dataset draws a
        share f uniform in ``[0, missing]`` and each (replicate, time, location) value is
        missing (NaN) with probability f. At most 0.5.

    Raises
    ------
    ValueError
        If the replicates are out of range, ``time_steps`` is missing or invalid for a
        space-time model or given for a spatial one (so are ``time_span`` and ``missing``), the
        span is not positive, the missing share is outside [0, 0.5], or the prior does not
        give every parameter of the model exactly once.
    """

    model: ModelSpec
    prior: Prior
    design: object
    replicates: int | tuple[int, int] = 1
    time_steps: int | tuple[int, int] | None = None
    time_span: float | None = None
    missing: float = 0.0
    _model: object = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        lo, hi = self.replicate_range
        if not 1 <= lo <= hi:
            raise ValueError(f"replicates needs 1 <= lo <= hi, got {self.replicates}")
        if self.space_time:
            self.time_steps = _time_steps(self.model, self.time_steps)
            if self.time_span is not None:
                if not (float(self.time_span) > 0 and np.isfinite(float(self.time_span))):
                    raise ValueError(f"time_span must be positive, got {self.time_span}")
                self.time_span = float(self.time_span)
            if not 0.0 <= float(self.missing) <= MAX_MISSING:
                raise ValueError(f"missing must be a share in [0, {MAX_MISSING}], got "
                                 f"{self.missing}")
            self.missing = float(self.missing)
        elif self.time_steps is not None or self.time_span is not None or self.missing:
            raise ValueError(f"time_steps, time_span and missing are for space-time models, not "
                             f"{self.model!r}")
        model = self.model_
        example = example_observations(self.space_time)
        space = model.param_space(example)
        mean = set(model.mean_names(example)) if model.profile_mean else set()
        free = set(space.free_names) | mean
        names = set(space.names) | mean
        given = self.prior.model_names
        missing = free - given
        unknown = given - names
        if missing or unknown:
            raise ValueError(f"the prior must give every parameter of {model!r} exactly once: "
                             f"missing {sorted(missing)}, unknown {sorted(unknown)}")

    @property
    def space_time(self) -> bool:
        """Whether the model's points are ``(x, y, t)``."""
        if isinstance(self.model, ModelSpec):
            return self.model.space_time
        return bool(self.model.space_time)

    @property
    def replicate_range(self) -> tuple[int, int]:
        """The fewest and most replicates of a dataset, ``(lo, hi)``."""
        r = self.replicates
        return (r, r) if isinstance(r, int) else (int(r[0]), int(r[1]))

    @property
    def time_step_range(self) -> tuple[int, int]:
        """The fewest and most times of a dataset, ``(lo, hi)`` (``(1, 1)`` for space)."""
        t = self.time_steps or 1
        return (t, t) if isinstance(t, int) else (int(t[0]), int(t[1]))

    @property
    def rows_range(self) -> tuple[int, int]:
        """The fewest and most rows of a sample's values: replicates × time steps."""
        lo, hi = self.replicate_range
        t_lo, t_hi = self.time_step_range
        return lo * t_lo, hi * t_hi

    def times(self, n_times: int) -> np.ndarray:
        """The times ``(T,)`` of a dataset with ``n_times`` times (``time_span``).

        Parameters
        ----------
        n_times : int
            T.

        Returns
        -------
        numpy.ndarray
            ``k`` or ``k * time_span / (T - 1)``, k = 0 … T − 1.
        """
        k = np.arange(int(n_times), dtype=np.float64)
        return k if self.time_span is None else k * (self.time_span / (n_times - 1))

    @property
    def model_(self):
        """The model object (built from the :class:`ModelSpec` once, then cached)."""
        if self._model is None:
            self._model = (self.model.build(self.prior.fixed)
                           if isinstance(self.model, ModelSpec) else self.model)
        return self._model

    def points(self, coords: np.ndarray, n_times: int | None = None) -> np.ndarray:
        """The simulator's points for a design's locations.

        Parameters
        ----------
        coords : numpy.ndarray, shape (n, 2)
            The design's locations.
        n_times : int or None, optional
            T (space-time; default: ``time_steps`` when it is one number).

        Returns
        -------
        numpy.ndarray, shape (n, 2) or (n * T, 3)
            The locations, or (space-time) every location at each of the times, time-major.
        """
        if not self.space_time:
            return coords
        n_times = self.time_steps if n_times is None else n_times
        if not isinstance(n_times, int | np.integer):
            raise ValueError("give n_times: this spec draws the number of times per dataset")
        n = len(coords)
        return np.column_stack([np.tile(coords, (int(n_times), 1)),
                                np.repeat(self.times(int(n_times)), n)])

    def params(self, theta_row) -> dict[str, float]:
        """A prior draw as the model's parameters (through the prior's parameterisation).

        Parameters
        ----------
        theta_row : sequence of float, shape (p,)
            Values of the prior's estimated parameters.

        Returns
        -------
        dict of str to float
        """
        from .parameterisations import model_params

        return model_params(self.prior, theta_row, self.model_)

    def draw_setting(self, seed: int, index: int):
        """Draw the setting of sample ``index``: parameters, locations, number of replicates.

        Everything comes from ``numpy.random.default_rng([seed, index])``, so a sample depends on
        ``(seed, index)`` only.

        Parameters
        ----------
        seed : int
            The run's seed.
        index : int
            The sample's index.

        Returns
        -------
        theta : numpy.ndarray, shape (p,)
            Parameters drawn from the prior.
        coords : numpy.ndarray, shape (n, 2)
            Locations drawn from the design.
        r : int
            Number of replicates.
        rng : numpy.random.Generator
            The generator they were drawn from (it then seeds the field).
        """
        rng = np.random.default_rng([int(seed), int(index)])
        theta = self.prior.sample(1, rng)[0]
        coords = self.design.sample(rng)
        lo, hi = self.replicate_range
        r = lo if lo == hi else int(rng.integers(lo, hi + 1))
        return theta, coords, r, rng

    def simulate_one(self, seed: int, index: int) -> Sample:
        """Simulate sample ``index`` of the run with ``seed``.

        Parameters
        ----------
        seed : int
            The run's seed.
        index : int
            The sample's index.

        Returns
        -------
        Sample
            Its parameters, locations and values ``(r * T, n)`` (``T = 1`` for spatial models).
        """
        theta, coords, r, rng = self.draw_setting(seed, index)
        if not self.space_time:
            values = self.model_.simulate(coords, self.params(theta), n_replicates=r,
                                          seed=int(rng.integers(2**62)))
            return Sample(theta, coords, np.asarray(values, dtype=np.float64).reshape(r, -1))
        # drawn only where they vary, so fixed-length complete series are as before
        lo, hi = self.time_step_range
        n_times = lo if lo == hi else int(rng.integers(lo, hi + 1))
        values = self.model_.simulate(self.points(coords, n_times), self.params(theta),
                                      n_replicates=r, seed=int(rng.integers(2**62)))
        values = np.asarray(values, dtype=np.float64).reshape(r * n_times, -1)
        if self.missing:
            share = rng.uniform(0.0, self.missing)
            values[rng.random(values.shape) < share] = np.nan
        return Sample(theta, coords, values, self.times(n_times))

    def simulate(self, indices: Sequence[int] | int, seed: int = 0) -> list[Sample]:
        """Samples ``indices`` (or ``range(indices)``) of the run with ``seed``, in process.

        Runs with one thread per numerical library (:func:`fieldfit.settings.one_thread`).

        Parameters
        ----------
        indices : sequence of int or int
            The sample indices, or their number (from 0).
        seed : int, default 0
            The run's seed.

        Returns
        -------
        list of Sample
            One per index, in order.
        """
        if isinstance(indices, int):
            indices = range(indices)
        with one_thread():
            return [self.simulate_one(seed, i) for i in indices]

    def to_dict(self) -> dict:
        """The spec as plain data (a model object described by its ``to_spec()``).

        Returns
        -------
        dict
            ``model``, ``prior``, ``design``, ``replicates`` and, for space-time models,
            ``time_steps`` (and ``time_span``, ``missing`` where set); read back by
            :meth:`from_dict`.
        """
        r = self.replicates
        model = self.model if isinstance(self.model, ModelSpec) else ModelSpec.of(self.model)
        out = {"model": model.to_dict(), "prior": self.prior.to_dict(),
               "design": self.design.to_dict(),
               "replicates": r if isinstance(r, int) else list(r)}
        if self.time_steps is not None:
            t = self.time_steps
            out["time_steps"] = t if isinstance(t, int) else list(t)
        if self.time_span is not None:
            out["time_span"] = self.time_span
        if self.missing:
            out["missing"] = self.missing
        return out

    @classmethod
    def from_dict(cls, d: Mapping) -> SimulationSpec:
        """Rebuild a spec from :meth:`to_dict`'s description.

        Parameters
        ----------
        d : mapping
            The description.

        Returns
        -------
        SimulationSpec
            The spec described.

        Raises
        ------
        ValueError
            If the description is invalid (see the class's checks).
        """
        r = d["replicates"]
        return cls(ModelSpec.from_dict(d["model"]), Prior.from_dict(d["prior"]),
                   design_from_dict(d["design"]), r if isinstance(r, int) else tuple(r),
                   d.get("time_steps"), d.get("time_span"), d.get("missing", 0.0))
