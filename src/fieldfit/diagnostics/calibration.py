"""Calibration diagnostics for amortized estimators: SBC, expected coverage, TARP, L-C2ST.

:func:`calibrate` simulates N fresh pairs (θ_k, Z_k) ~ π(θ) p(Z | θ) from an estimator's own
prior, model and design (sample indices from :data:`DIAGNOSTICS_START` on, never reached by
training, validation or interval calibration) and judges its answers on them, on the prior's
unit scale (ranks and coverage are invariant to that monotone map):

* simulation-based calibration (Talts et al. 2018): the rank of θ_k among L posterior draws is
  uniform on {0, …, L} when the posterior is calibrated; rank histograms, a Kolmogorov–Smirnov
  test (sbi's ``check_sbc``) and a chi-square test of the histogram, per parameter;
* expected coverage: the share of θ_k inside the central γ interval, against γ;
* TARP (Lemos et al. 2023): expected coverage of balls about random reference points, a joint
  test of the whole posterior (sbi's ``run_tarp`` / ``check_tarp``);
* L-C2ST (Linhart et al. 2023): a classifier of (θ_k, x_k) against (θ̃_k ~ q(· | x_k), x_k),
  read at held-out observations x_o (sbi's ``LC2ST``), with x = T(Z) the estimator's summary
  network output (q depends on Z through T only, so the null is q(θ | T) = p(θ | T)).

What each estimator kind offers, and so what is run (:class:`NeuralSubject`)::

    posterior   draws from the flow                     SBC, coverage, TARP, L-C2ST
    ratio       draws on its candidate grid, ∝ r(θ, Z)   SBC, coverage, TARP, L-C2ST
    quantile    marginal quantiles, no joint law         SBC on quantile bins, coverage
    point       a point only                             accuracy only

Anything offering the :class:`CalibrationSubject` interface can be judged the same way (the
tests use a conjugate Gaussian problem whose exact posterior is known).

References
----------
S. Talts, M. Betancourt, D. Simpson, A. Vehtari and A. Gelman (2018), "Validating Bayesian
inference algorithms with simulation-based calibration", arXiv:1804.06788.

P. Lemos, A. Coogan, Y. Hezaveh and L. Perreault-Levasseur (2023), "Sampling-based accuracy
testing of posterior estimators for general inference", ICML 2023.

J. Linhart, A. Gramfort and P. L. C. Rodrigues (2023), "L-C2ST: Local diagnostics for
posterior approximations in simulation-based inference", NeurIPS 2023.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

#: sample indices of diagnostic simulations start here (training uses 0.., validation 10⁹..)
DIAGNOSTICS_START = 2 * 10**9
#: the central interval levels of the coverage table (and of its verdict)
LEVELS = (0.5, 0.8, 0.9, 0.95)
#: the levels of the expected-coverage curve
CURVE = tuple(round(v, 2) for v in np.arange(0.05, 0.951, 0.05))
#: p-values below this fail a diagnostic's verdict
ALPHA = 0.01
#: the PNG files a report writes
PLOTS = ("sbc_ranks.png", "coverage.png", "tarp.png")


class CalibrationSubject:
    """What the diagnostics need of an estimator, on one parameter scale.

    Subclass it and override the methods; :func:`calibrate` calls them on ``N`` fresh datasets
    (``B`` datasets per call, ``p`` parameters):

    * ``simulate(count, seed, progress)`` → truths ``(count, p)`` and ``count`` datasets;
    * ``estimate(datasets)`` → point estimates ``(B, p)``;
    * ``quantiles(datasets)`` → ``{level: (B, p)}`` marginal quantiles (maybe empty);
    * ``draws(datasets, n, seed)`` → posterior draws ``(n, B, p)``, or None without a
      sampler;
    * ``features(datasets)`` → fixed-length data features ``(B, S)`` for L-C2ST.

    Attributes
    ----------
    kind : str
        A name for the report (``"posterior"``, ``"ratio"``, ``"quantile"``, ``"point"``, …).
    names : list of str
        The parameters, in column order.
    """

    kind = "abstract"
    names: list[str] = []

    def simulate(self, count: int, seed: int, progress: bool = False):
        """Simulate fresh pairs of parameters and data.

        Parameters
        ----------
        count : int
            Number of datasets.
        seed : int
            Seed of the simulations.
        progress : bool, default False
            Show a progress bar.

        Returns
        -------
        truth : numpy.ndarray, shape (count, p)
            The parameters each dataset was simulated with.
        datasets : list
            ``count`` datasets, in whatever form the other methods take.

        Raises
        ------
        NotImplementedError
            Always, in the base class.
        """
        raise NotImplementedError

    def estimate(self, datasets) -> np.ndarray:
        """Point estimates of the parameters of each dataset.

        Parameters
        ----------
        datasets : list
            ``B`` datasets from :meth:`simulate`.

        Returns
        -------
        numpy.ndarray, shape (B, p)
            One estimate per dataset.

        Raises
        ------
        NotImplementedError
            Always, in the base class.
        """
        raise NotImplementedError

    def quantiles(self, datasets) -> dict[float, np.ndarray]:
        """Marginal posterior quantiles of each dataset's parameters.

        Parameters
        ----------
        datasets : list
            ``B`` datasets from :meth:`simulate`.

        Returns
        -------
        dict of float to numpy.ndarray
            ``{level: (B, p)}``; empty (the base class) when the estimator gives none.
        """
        return {}

    def draws(self, datasets, n: int, seed: int) -> np.ndarray | None:
        """Posterior draws for each dataset.

        Parameters
        ----------
        datasets : list
            ``B`` datasets from :meth:`simulate`.
        n : int
            Draws per dataset.
        seed : int
            Seed of the draws.

        Returns
        -------
        numpy.ndarray, shape (n, B, p), or None
            The draws; ``None`` (the base class) without a sampler.
        """
        return None

    def features(self, datasets) -> np.ndarray:
        """Fixed-length features of each dataset, for L-C2ST.

        Parameters
        ----------
        datasets : list
            ``B`` datasets from :meth:`simulate`.

        Returns
        -------
        numpy.ndarray, shape (B, S)
            One feature vector per dataset.

        Raises
        ------
        NotImplementedError
            Always, in the base class.
        """
        raise NotImplementedError


class NeuralSubject(CalibrationSubject):
    r"""A :class:`~fieldfit.neural.bundle.NeuralEstimator` on the prior's unit scale.

    Datasets are simulated from the bundle's ``spec`` exactly as its training data were
    (the network sees them unstandardised, as in training). Draws:

    * posterior: ``sample_unit`` of the flow;
    * ratio: the fixed candidate set :math:`u_m` of the prior box (``candidates()``, scrambled
      Sobol) resampled with weights :math:`w_m \propto r(u_m, Z)` (the prior is uniform on the
      unit scale, so these are draws from the grid approximation of the posterior
      :math:`p(u \mid Z) \propto r(u, Z) \pi(u)`); their resolution is the grid's;
    * quantile and point estimators define no joint law: ``None``.

    Parameters
    ----------
    estimator : fieldfit.neural.bundle.NeuralEstimator
        The estimator judged.
    batch_size : int, default 64
        Datasets per network call.
    """

    def __init__(self, estimator, batch_size: int = 64):
        self.estimator = estimator
        self.network = estimator.network
        self.kind = self.network.kind
        self.names = list(estimator.names)
        self.batch_size = int(batch_size)

    def simulate(self, count, seed, progress=False):
        """Simulate fresh datasets from the estimator's own specification.

        Sample indices start at :data:`DIAGNOSTICS_START`, never reached by training, validation or
        interval calibration; simulations run with one thread per numerical library.

        Parameters
        ----------
        count : int
            Number of datasets.
        seed : int
            Seed of the run (sample ``i`` depends on ``(seed, i)`` only).
        progress : bool, default False
            Show a progress bar.

        Returns
        -------
        truth : numpy.ndarray, shape (count, p)
            The parameters on the prior's unit scale.
        datasets : list of (coords, values) or (coords, values, times)
            ``coords (n, 2)`` and ``values (r, n)`` per dataset; for a space-time model also
            ``times (T,)``, the values then ``(r T, n)``.
        """
        from tqdm.auto import tqdm

        from ..settings import one_thread

        spec = self.estimator.spec
        samples = []
        with one_thread():
            for i in tqdm(range(DIAGNOSTICS_START, DIAGNOSTICS_START + int(count)),
                          desc="diagnostics: simulating", disable=not progress):
                samples.append(spec.simulate_one(seed, i))
        truth = spec.prior.to_unit(np.stack([s.theta for s in samples]))
        return truth, [(s.coords, s.values) if s.times is None
                       else (s.coords, s.values, s.times) for s in samples]

    def _chunks(self, datasets):
        for s in range(0, len(datasets), self.batch_size):
            yield s, self.network.collate(datasets[s:s + self.batch_size])

    def _outputs(self, datasets) -> dict[str, np.ndarray]:
        cache = getattr(self, "_cache", None)
        if cache is not None and cache[0] is datasets:
            return cache[1]
        out = self.estimator.estimate_unit(datasets, self.batch_size)
        self._cache = (datasets, out)
        return out

    def estimate(self, datasets):
        """The estimator's point estimates, on the unit scale.

        Parameters
        ----------
        datasets : list of (coords, values)
            ``B`` datasets.

        Returns
        -------
        numpy.ndarray, shape (B, p)
            The estimates (the network's outputs are cached for the last ``datasets`` list).
        """
        return self._outputs(datasets)["estimate"]

    def quantiles(self, datasets):
        """The estimator's marginal quantiles, on the unit scale.

        Parameters
        ----------
        datasets : list of (coords, values)
            ``B`` datasets.

        Returns
        -------
        dict of float to numpy.ndarray
            ``{level: (B, p)}``; empty unless the estimator reports quantiles.
        """
        return {float(k[1:]): v for k, v in self._outputs(datasets).items()
                if k.startswith("q")}

    @torch.no_grad()
    def draws(self, datasets, n, seed):
        """Posterior draws on the unit scale (see the class docstring for how).

        Parameters
        ----------
        datasets : list of (coords, values)
            ``B`` datasets.
        n : int
            Draws per dataset.
        seed : int
            Seed of the draws.

        Returns
        -------
        numpy.ndarray, shape (n, B, p), or None
            The draws of a posterior or ratio estimator; ``None`` for quantile and point
            estimators.
        """
        if self.kind == "posterior":
            parts = [self.network.sample_unit(inputs, n, seed=seed + s)
                     for s, inputs in self._chunks(datasets)]
            return np.concatenate(parts).transpose(1, 0, 2)
        if self.kind == "ratio":
            rng = np.random.default_rng([int(seed), 1])
            u = self.network.candidates()
            out = []
            for _, inputs in self._chunks(datasets):
                lr = self.network.log_ratio(inputs, u)
                w = np.exp(lr - lr.max(1, keepdims=True))
                w /= w.sum(1, keepdims=True)
                out.extend(u[rng.choice(len(u), size=n, p=row)] for row in w)
            return np.stack(out, 1)
        return None

    @torch.no_grad()
    def features(self, datasets):
        """The summary network's output for each dataset, the L-C2ST features.

        Parameters
        ----------
        datasets : list of (coords, values)
            ``B`` datasets.

        Returns
        -------
        numpy.ndarray, shape (B, S)
            The summaries :math:`T(Z)`, in float64.
        """
        return np.concatenate([self.network.summary(inputs).double().numpy()
                               for _, inputs in self._chunks(datasets)])


class _PrecomputedPosterior:
    """The face of an sbi posterior (``sample`` / ``sample_batched``) over draws computed
    once: ``draws (L, B, p)``, the observation x being the row number of its dataset
    ``(B, 1)``. (fieldfit's datasets differ in size and cannot be sbi's x tensors.)"""

    def __init__(self, draws: np.ndarray):
        self.draws = torch.as_tensor(draws, dtype=torch.float32)

    def _take(self, sample_shape, rows):
        n = int(np.prod(tuple(sample_shape)))
        if n > len(self.draws):
            raise ValueError(f"{n} draws asked of a posterior holding {len(self.draws)}")
        return self.draws[:n, rows.long()].reshape(*tuple(sample_shape), len(rows), -1)

    def sample_batched(self, sample_shape, x, show_progress_bars=False, **kwargs):
        return self._take(sample_shape, torch.as_tensor(x)[:, 0])

    def sample(self, sample_shape, x=None, show_progress_bars=False, **kwargs):
        rows = torch.as_tensor(x).reshape(-1)[:1]
        return self._take(sample_shape, rows)[..., 0, :]


@dataclass
class CalibrationReport:
    """The diagnostics' numbers (:meth:`to_dict`, JSON-able) and what the plots need.

    Built by :func:`calibrate`.

    Parameters
    ----------
    kind : str
        The estimator's kind.
    names : list of str
        The parameters.
    simulations : int
        Number of fresh datasets diagnosed.
    seed : int
        The run's seed.
    draws : int or None
        Posterior draws per dataset (``None`` without a sampler).
    sbc : dict or None
        Simulation-based calibration: p-values per parameter, rank histograms, verdict.
    coverage : dict
        Expected-coverage curve and table of central intervals, with binomial tests.
    tarp : dict or None
        TARP's expected coverage curve, ATC, p-values and verdict.
    lc2st : dict or None
        L-C2ST statistics and p-values at held-out observations.
    accuracy : dict
        RMSE and bias of the point estimates per parameter (unit scale).
    not_applicable : dict, default {}
        Diagnostic name to the reason it was not run.
    warnings : list of str, default []
        Distinct warnings raised during the run.
    """

    kind: str
    names: list[str]
    simulations: int
    seed: int
    draws: int | None
    sbc: dict | None
    coverage: dict
    tarp: dict | None
    lc2st: dict | None
    accuracy: dict
    not_applicable: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def verdicts(self) -> dict[str, bool]:
        """Each diagnostic run: True when it finds no miscalibration at level :data:`ALPHA`."""
        out = {}
        for name in ("sbc", "coverage", "tarp", "lc2st"):
            part = getattr(self, name)
            if part and "calibrated" in part:
                out[name] = bool(part["calibrated"])
        return out

    def to_dict(self) -> dict:
        """The report as JSON-able data.

        Returns
        -------
        dict
            ``kind``, ``params``, ``simulations``, ``seed``, ``posterior_draws``, ``alpha``,
            ``verdicts`` and each diagnostic's numbers, with NumPy numbers turned into floats.
        """
        return json.loads(json.dumps({
            "kind": self.kind, "params": self.names, "simulations": self.simulations,
            "seed": self.seed, "posterior_draws": self.draws, "alpha": ALPHA,
            "verdicts": self.verdicts, "sbc": self.sbc, "coverage": self.coverage,
            "tarp": self.tarp, "lc2st": self.lc2st, "accuracy": self.accuracy,
            "not_applicable": self.not_applicable, "warnings": self.warnings},
            default=float))

    def summary(self) -> str:
        """One line: each diagnostic's verdict.

        Returns
        -------
        str
            E.g. ``"posterior estimator, 200 simulations: sbc ok, coverage ok, tarp ok, lc2st ok"``.
        """
        parts = [f"{k} {'ok' if v else 'MISCALIBRATED'}" for k, v in self.verdicts.items()]
        return (f"{self.kind} estimator, {self.simulations} simulations: "
                + (", ".join(parts) or "no calibration diagnostic applies"))

    def figures(self) -> dict[str, bytes]:
        """The PNG plots (rank histograms, coverage curves, TARP), only those whose diagnostic ran.

        Returns
        -------
        dict of str to bytes
            File name (from :data:`PLOTS`) to PNG contents.
        """
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure

        out = {}
        p = len(self.names)
        if self.sbc:
            fig = Figure(figsize=(3.2 * p, 2.8))
            for j, name in enumerate(self.names):
                ax = fig.add_subplot(1, p, j + 1)
                h = self.sbc["histograms"][name]
                edges = np.asarray(h["edges"])
                ax.bar(edges[:-1], h["counts"], width=np.diff(edges), align="edge",
                       color="C0", edgecolor="white")
                ax.plot(edges, np.r_[h["expected"], h["expected"][-1]], "k--", lw=1,
                        drawstyle="steps-post")
                ax.set_title(f"{name} (χ² p={self.sbc['chi2_pvalues'][name]:.2g})",
                             fontsize=9)
                ax.set_xlabel(self.sbc["rank_label"], fontsize=8)
            fig.tight_layout()
            out["sbc_ranks.png"] = _png(fig)
        if self.coverage.get("curve"):
            fig = Figure(figsize=(4, 4))
            ax = fig.add_subplot(1, 1, 1)
            curve = self.coverage["curve"]
            levels = np.asarray(curve["levels"])
            ax.fill_between(levels, curve["band_lower"], curve["band_upper"], color="0.85",
                            label="95% binomial band")
            ax.plot([0, 1], [0, 1], "k--", lw=1)
            for name in self.names:
                ax.plot(levels, curve["coverage"][name], "o-", ms=3, label=name)
            ax.set_xlabel("nominal coverage of the central interval")
            ax.set_ylabel("empirical coverage")
            ax.legend(fontsize=7)
            fig.tight_layout()
            out["coverage.png"] = _png(fig)
        if self.tarp:
            fig = Figure(figsize=(4, 4))
            ax = fig.add_subplot(1, 1, 1)
            ax.plot([0, 1], [0, 1], "k--", lw=1)
            ax.plot(self.tarp["alpha"], self.tarp["ecp"], "C3-")
            ax.set_xlabel("credibility level α")
            ax.set_ylabel("expected coverage probability")
            ax.set_title(f"TARP (ATC {self.tarp['atc']:+.3f}, KS p="
                         f"{self.tarp['ks_pvalue']:.2g})", fontsize=9)
            fig.tight_layout()
            out["tarp.png"] = _png(fig)
        return out

    def write(self, json_path: str | Path, plots_dir: str | Path | None = None) -> list[Path]:
        """Write the JSON report and its PNG plots as one set (:func:`fieldfit.io.write_set`).

        Parameters
        ----------
        json_path : str or pathlib.Path
            Where the JSON goes.
        plots_dir : str or pathlib.Path or None, optional
            Folder of the PNGs; default the JSON's folder.

        Returns
        -------
        list of pathlib.Path
            The paths written, the JSON first.
        """
        from ..io import write_set

        json_path = Path(json_path)
        plots_dir = Path(plots_dir) if plots_dir is not None else json_path.parent
        files = [(json_path, json.dumps(self.to_dict(), indent=2) + "\n")]
        files += [(plots_dir / name, png) for name, png in self.figures().items()]
        write_set(files)
        return [p for p, _ in files]


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def check_simulations(simulations, option: str = "simulations") -> int:
    """Check a number of simulations.

    Parameters
    ----------
    simulations : int
        The value to check.
    option : str, default "simulations"
        The option's name, for the error message.

    Returns
    -------
    int
        ``simulations`` as a Python int.

    Raises
    ------
    ValueError
        If ``simulations`` is not an integer (booleans refused) or is below 1.
    """
    if isinstance(simulations, bool) or not isinstance(simulations, (int, np.integer)) \
            or simulations < 1:
        raise ValueError(f"{option} must be an integer >= 1 (the number of fresh "
                         f"simulations to diagnose on), got {simulations!r}")
    return int(simulations)


def calibrate(estimator, simulations: int = 200, seed: int = 0, draws: int = 1000,
              lc2st_observations: int = 3, lc2st_trials: int = 50,
              progress: bool = False) -> CalibrationReport:
    """Run every diagnostic that applies to ``estimator`` on ``simulations`` fresh datasets.

    Simulation-based calibration (Talts et al. 2018), expected coverage of central intervals,
    TARP (Lemos et al. 2023) and L-C2ST (Linhart et al. 2023), as the estimator's kind allows
    (module docstring). All randomness follows ``seed``; the caller's torch generator is left as
    it was.

    Parameters
    ----------
    estimator : NeuralEstimator, str, pathlib.Path or CalibrationSubject
        A :class:`~fieldfit.neural.bundle.NeuralEstimator`, a file or shipped name
        (:func:`~fieldfit.neural.bundle.load_estimator`), or a :class:`CalibrationSubject`.
    simulations : int, default 200
        Number of fresh datasets (at least 1).
    seed : int, default 0
        Seed of the simulations, draws and classifiers.
    draws : int, default 1000
        Posterior draws per dataset, ``L >= 2`` (ranks lie in ``{0, …, L}``).
    lc2st_observations : int, default 3
        Further datasets at which L-C2ST is read (0: no L-C2ST).
    lc2st_trials : int, default 50
        Permutations of L-C2ST's null distribution (p-values in steps of ``1 / trials``).
    progress : bool, default False
        Show a progress bar while simulating.

    Returns
    -------
    CalibrationReport
        The numbers, verdicts, and warnings raised during the run.

    Raises
    ------
    ValueError
        If a count is not an integer in range, or ``estimator`` is none of the accepted kinds.
    """
    simulations = check_simulations(simulations)
    for name, v, lo in (("draws", draws, 2), ("lc2st_observations", lc2st_observations, 0),
                        ("lc2st_trials", lc2st_trials, 1)):
        if int(v) != v or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    subject = _subject(estimator)
    caught_list: list[str] = []
    with warnings.catch_warnings(record=True) as caught, torch.random.fork_rng(devices=[]):
        warnings.simplefilter("always")     # the caller's torch generator is left as it was
        report = _diagnose(subject, simulations, int(seed), int(draws),
                           int(lc2st_observations), int(lc2st_trials), progress)
    for w in caught:
        if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning,
                                   FutureWarning)):
            continue            # libraries' notes to developers, not about this run
        msg = " ".join(str(w.message).split())
        if msg not in caught_list:
            caught_list.append(msg)
    report.warnings = caught_list
    return report


def _subject(estimator) -> CalibrationSubject:
    if isinstance(estimator, CalibrationSubject):
        return estimator
    from ..neural.bundle import NeuralEstimator, load_estimator

    if isinstance(estimator, (str, Path)):
        estimator = load_estimator(estimator)
    if not isinstance(estimator, NeuralEstimator):
        raise ValueError(f"calibrate needs a NeuralEstimator, an estimator file or name, or a "
                         f"CalibrationSubject; got {type(estimator).__name__}")
    return NeuralSubject(estimator)


def _diagnose(subject, n, seed, n_draws, n_obs, trials, progress) -> CalibrationReport:
    torch.manual_seed(seed)
    truth_all, data_all = subject.simulate(n + n_obs, seed, progress)
    truth_all = np.asarray(truth_all, dtype=np.float64)
    truth, data = truth_all[:n], data_all[:n]
    names = list(subject.names)
    est = np.asarray(subject.estimate(data), dtype=np.float64)
    accuracy = {"scale": "unit", "rmse": _per(names, np.sqrt(((est - truth) ** 2).mean(0))),
                "bias": _per(names, (est - truth).mean(0))}
    quantiles = {k: np.asarray(v, np.float64) for k, v in subject.quantiles(data).items()}
    draws = subject.draws(data_all, n_draws, seed)
    na: dict[str, str] = {}
    sbc = tarp = lc2st = None
    coverage: dict = {}
    if draws is not None:
        draws = np.asarray(draws, dtype=np.float64)
        post = _PrecomputedPosterior(draws[:, :n])
        thetas = torch.as_tensor(truth, dtype=torch.float32)
        xs = torch.arange(n, dtype=torch.float32)[:, None]
        sbc = _sbc_from_draws(names, thetas, xs, post, n_draws)
        coverage = _coverage_from_draws(names, draws[:, :n], truth)
        tarp = _tarp(thetas, xs, post, n_draws, seed)
        if n_obs:
            feats = np.asarray(subject.features(data_all), dtype=np.float64)
            lc2st = _lc2st(thetas, feats, draws, n, seed, trials)
        else:
            na["lc2st"] = "no held-out observations asked for (lc2st_observations=0)"
    elif quantiles:
        why = (f"a {subject.kind} estimator gives marginal quantiles only, no joint "
               "posterior to draw from")
        sbc = _sbc_from_quantiles(names, quantiles, truth)
        coverage = {"method": "central intervals between the estimator's quantiles "
                              "(levels τ and 1 − τ)"}
        table = _coverage_of_quantiles(names, quantiles, truth)
        if table:
            levels = [row["level"] for row in table]
            band_lo, band_hi = _band(n, levels)
            coverage["curve"] = {"levels": levels,
                                 "coverage": {k: [row["coverage"][k] for row in table]
                                              for k in names},
                                 "band_lower": band_lo, "band_upper": band_hi}
        na["tarp"] = na["lc2st"] = why
    else:
        why = f"a {subject.kind} estimator gives a point estimate only, no uncertainty"
        na.update(sbc=why, coverage=why, tarp=why, lc2st=why)
    if quantiles:
        table = _coverage_of_quantiles(names, quantiles, truth)
        if table:
            coverage["reported_intervals"] = table
            if draws is None:
                coverage["table"] = table
                coverage["calibrated"] = all(row["binomial_pvalue"][k] >= ALPHA
                                             for row in table for k in names)
    return CalibrationReport(subject.kind, names, n, seed,
                             n_draws if draws is not None else None, sbc, coverage, tarp,
                             lc2st, accuracy, na)


def _per(names, values) -> dict[str, float]:
    return {k: float(v) for k, v in zip(names, np.asarray(values).reshape(-1), strict=True)}


def _rank_histogram(ranks: np.ndarray, n_values: int, n: int):
    """Counts of ``ranks (N, p)`` (integers in 0 … n_values − 1) in about N/10 (2 … 20)
    bins of whole rank values, the counts expected under uniformity, and the edges."""
    bins = int(max(2, min(20, n // 10, n_values)))
    edges = np.unique(np.ceil(np.linspace(0, n_values, bins + 1)))
    counts = np.stack([np.histogram(r, bins=edges)[0] for r in ranks.T], 1)
    expected = n * np.diff(edges) / n_values
    return counts, expected, edges


def _sbc_from_draws(names, thetas, xs, post, n_draws) -> dict:
    """Ranks r_kj = #{l : θ̃_lkj < θ_kj} (sbi ``run_sbc``), uniform on {0, …, L} under
    calibration (Talts et al. 2018); KS p-values (sbi ``check_sbc``) and a chi-square test
    of the rank histogram (scipy)."""
    from sbi.diagnostics import check_sbc, run_sbc
    from scipy.stats import chisquare

    ranks, dap = run_sbc(thetas, xs, post, num_posterior_samples=n_draws,
                         show_progress_bar=False, use_batched_sampling=True)
    checks = check_sbc(ranks, thetas, dap, num_posterior_samples=n_draws)
    r = ranks.numpy()
    counts, expected, edges = _rank_histogram(r, n_draws + 1, len(r))
    chi = [float(chisquare(counts[:, j], expected)[1]) for j in range(len(names))]
    ks = checks["ks_pvals"].numpy()
    return {"method": f"ranks of the truth among {n_draws} posterior draws (sbi run_sbc, "
                      "check_sbc)",
            "rank_label": f"rank among {n_draws} draws",
            "ks_pvalues": _per(names, ks), "chi2_pvalues": _per(names, chi),
            "c2st_ranks": _per(names, checks["c2st_ranks"].numpy()),
            "c2st_dap": _per(names, checks["c2st_dap"].numpy()),
            "histograms": {k: {"edges": edges.tolist(), "counts": counts[:, j].tolist(),
                               "expected": expected.tolist()} for j, k in enumerate(names)},
            "calibrated": bool(min(ks.min(), min(chi)) >= ALPHA)}


def _sbc_from_quantiles(names, quantiles, truth) -> dict:
    """The coarse rank of each truth among the estimator's K marginal quantiles,
    b_kj = #{i : q_ikj < θ_kj} ∈ {0, …, K}: under calibration P(b = i) = τ_{i+1} − τ_i (with
    τ_0 = 0, τ_{K+1} = 1), tested by chi-square (scipy) — SBC with the quantiles in place of
    draws (sbi's ``run_sbc`` needs draws, which a quantile estimator cannot give)."""
    from scipy.stats import chisquare

    levels = sorted(quantiles)
    q = np.stack([quantiles[t] for t in levels], -1)              # (N, p, K)
    bins = (q < truth[..., None]).sum(-1)                          # (N, p)
    n, k = len(truth), len(levels)
    prob = np.diff(np.r_[0.0, levels, 1.0])
    expected = n * prob
    counts = np.stack([np.bincount(bins[:, j], minlength=k + 1) for j in range(len(names))],
                      1)
    chi = [float(chisquare(counts[:, j], expected)[1]) if k >= 1 else 1.0
           for j in range(len(names))]
    edges = np.r_[0.0, levels, 1.0]
    return {"method": f"bin of the truth among the estimator's quantiles at {levels} "
                      "(chi-square against the levels' differences)",
            "rank_label": "quantile bin (level)",
            "chi2_pvalues": _per(names, chi), "ks_pvalues": None,
            "histograms": {nm: {"edges": edges.tolist(), "counts": counts[:, j].tolist(),
                                "expected": expected.tolist()}
                           for j, nm in enumerate(names)},
            "calibrated": bool(min(chi) >= ALPHA)}


def _binomial(covered: np.ndarray, level: float) -> tuple[float, float]:
    from scipy.stats import binomtest

    n, k = len(covered), int(covered.sum())
    return float(k / n), float(binomtest(k, n, level).pvalue)


def _band(n: int, levels) -> tuple[list[float], list[float]]:
    from scipy.stats import binom

    lo = [float(binom.ppf(0.025, n, g) / n) for g in levels]
    hi = [float(binom.ppf(0.975, n, g) / n) for g in levels]
    return lo, hi


def _coverage_from_draws(names, draws, truth) -> dict:
    """Empirical coverage of the central γ interval [Q_{(1−γ)/2}, Q_{(1+γ)/2}] of the draws,
    per parameter, against γ; a two-sided binomial test per level of :data:`LEVELS`."""
    levels = sorted(set(CURVE) | set(LEVELS))
    cov = {k: [] for k in names}
    table = []
    for g in levels:
        lo = np.quantile(draws, (1 - g) / 2, axis=0)
        hi = np.quantile(draws, (1 + g) / 2, axis=0)
        inside = (lo <= truth) & (truth <= hi)
        row = {"level": g, "coverage": {}, "binomial_pvalue": {}}
        for j, k in enumerate(names):
            c, pv = _binomial(inside[:, j], g)
            cov[k].append(c)
            row["coverage"][k], row["binomial_pvalue"][k] = c, pv
        if any(abs(g - v) < 1e-9 for v in LEVELS):
            table.append(row)
    band_lo, band_hi = _band(len(truth), levels)
    return {"method": "central intervals of the posterior draws",
            "curve": {"levels": levels, "coverage": cov, "band_lower": band_lo,
                      "band_upper": band_hi},
            "table": table,
            "calibrated": all(row["binomial_pvalue"][k] >= ALPHA for row in table
                              for k in names)}


def _coverage_of_quantiles(names, quantiles, truth) -> list[dict]:
    """Coverage of the central intervals the estimator reports: [q_τ, q_{1−τ}] for each
    τ < 0.5 whose 1 − τ is also a level, with a two-sided binomial test."""
    levels = sorted(quantiles)
    rows = []
    for t in levels:
        partner = [v for v in levels if abs(v - (1 - t)) < 1e-9]
        if t >= 0.5 or not partner:
            continue
        g = round(1 - 2 * t, 10)
        inside = (quantiles[t] <= truth) & (truth <= quantiles[partner[0]])
        row = {"level": g, "coverage": {}, "binomial_pvalue": {}}
        for j, k in enumerate(names):
            row["coverage"][k], row["binomial_pvalue"][k] = _binomial(inside[:, j], g)
        rows.append(row)
    return sorted(rows, key=lambda r: r["level"])


def _tarp(thetas, xs, post, n_draws, seed) -> dict:
    """TARP's expected coverage probability of balls about uniform reference points against
    the credibility α (Lemos et al. 2023; sbi ``run_tarp``, parameters z-scored), its area
    to the diagonal over α > 1/2 (ATC: < 0 too narrow, > 0 too wide) and sbi's KS p-value
    between the curve's values (``check_tarp``). The verdict's test: under calibration the N
    per-simulation coverage values are U(0, 1) and the ECP curve is their empirical CDF, so
    D = max_α |ECP(α) − α| on the curve's grid is at most the one-sample Kolmogorov–Smirnov
    distance, and P(D_N ≥ D) (scipy ``kstwo``) a conservative p-value (sbi's two-sample test
    between the curve's ordinates has little power: it misses posteriors shrunk by half)."""
    from sbi.diagnostics import check_tarp, run_tarp
    from scipy.stats import kstwo

    torch.manual_seed(seed)                       # the reference points
    n = len(thetas)
    ecp, alpha = run_tarp(thetas, xs, post, num_posterior_samples=n_draws,
                          show_progress_bar=False, num_bins=int(max(2, min(50, n // 10))),
                          z_score_theta=True, use_batched_sampling=True)
    atc, ks = check_tarp(ecp, alpha)
    distance = float((ecp - alpha).abs().max())
    pvalue = float(kstwo.sf(distance, n))
    return {"method": "TARP (sbi run_tarp, check_tarp)", "alpha": alpha.tolist(),
            "ecp": ecp.tolist(), "atc": float(atc), "ks_pvalue": float(ks),
            "distance": distance, "pvalue": pvalue, "calibrated": bool(pvalue >= ALPHA)}


def _lc2st(thetas, feats, draws, n, seed, trials) -> dict:
    """L-C2ST (Linhart et al. 2023; sbi ``LC2ST``): an MLP classifier d of (θ_k, x_k) against
    (θ̃_k, x_k), θ̃_k one posterior draw for dataset k and x the data features; at each
    held-out observation x_o the statistic T(x_o) = mean_m (d(θ̃_m, x_o) − 1/2)² over its
    draws θ̃_m, and its p-value against ``trials`` permutations (sbi ``p_value``). The verdict
    reads their mean T̄ = mean_o T(x_o) against the same permutations' means (each trial's
    classifiers are shared by all x_o): p = #{t : T̄_t ≥ T̄} / trials."""
    from sbi.diagnostics import LC2ST

    x = torch.as_tensor(feats, dtype=torch.float32)
    d = torch.as_tensor(draws, dtype=torch.float32)
    seed = int(seed) % 2**31
    test = LC2ST(thetas, x[:n], d[0, :n], seed=seed, num_trials_null=trials, z_score=True,
                 classifier_kwargs={"random_state": seed})
    test.train_on_observed_data(verbosity=0)
    test.train_under_null_hypothesis(verbosity=0)
    stats, pvals, nulls = [], [], []
    for j in range(n, len(x)):
        stats.append(float(test.get_statistic_on_observed_data(theta_o=d[:, j], x_o=x[j])))
        null = test.get_statistics_under_null_hypothesis(theta_o=d[:, j], x_o=x[j],
                                                         verbosity=0)
        nulls.append(np.asarray(null.scores, dtype=np.float64))
        pvals.append(float((nulls[-1] >= stats[-1]).mean()))
    mean, null_mean = float(np.mean(stats)), np.mean(nulls, 0)
    pvalue = float((null_mean >= mean).mean())
    return {"method": f"L-C2ST (sbi LC2ST, MLP classifier, {trials} permutations) at "
                      f"{len(stats)} held-out observations",
            "statistics": stats, "pvalues": pvals, "statistic": mean, "pvalue": pvalue,
            "calibrated": bool(pvalue >= ALPHA)}


__all__ = ["ALPHA", "CURVE", "DIAGNOSTICS_START", "LEVELS", "PLOTS", "CalibrationReport",
           "CalibrationSubject", "NeuralSubject", "calibrate", "check_simulations"]
