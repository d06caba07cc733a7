"""The interface every amortized estimator shares, and the one registry of estimator kinds.

An estimator is a summary network T (:mod:`fieldfit.neural.summaries`) and a head; it offers
``loss(inputs, u)`` for training, ``estimate_unit(inputs)`` for use and ``config()`` for
saving (:class:`AmortizedEstimator`). Each concrete class registers its *kind*, the name
stored in a saved estimator's configuration, with :func:`register_estimator`::

    "point"      estimators.PointEstimator
    "quantile"   estimators.QuantileEstimator
    "posterior"  posterior.PosteriorEstimator
    "ratio"      ratio.RatioEstimator

The modules defining kinds import this one, never each other; ``fieldfit.neural`` imports all
of them, and Python runs the package's ``__init__`` before any of its modules, so the registry
is complete whenever one of its functions is called: :func:`estimator_kinds` (the names, for
option parsers), :func:`build_estimator` (a new network of a kind) and
:func:`estimator_from_config` (a saved one, :mod:`fieldfit.neural.bundle`).
"""

from __future__ import annotations

import inspect

import numpy as np
import torch
from torch import nn

from .summaries import summary_from_config


class AmortizedEstimator(nn.Module):
    """A summary network and a head; subclasses give ``loss`` and ``estimate_unit``.

    Parameters
    ----------
    summary : torch.nn.Module
        The summary network T (:mod:`fieldfit.neural.summaries`), with ``collate``,
        ``config()`` and ``out_features``.
    n_params : int
        Number of parameters ``p`` estimated.
    """

    kind = "abstract"

    def __init__(self, summary: nn.Module, n_params: int):
        super().__init__()
        self.summary, self.n_params = summary, int(n_params)

    def config(self) -> dict:
        """The network's configuration, to rebuild it (:func:`estimator_from_config`).

        Returns
        -------
        dict
            ``kind``, the summary network's ``config()``, ``n_params`` and the kind's own options.
        """
        return {"kind": self.kind, "summary": self.summary.config(), "n_params": self.n_params,
                **self._extra_config()}

    def _extra_config(self) -> dict:
        return {}

    def collate(self, items):
        """Datasets as the summary network's input batch.

        Parameters
        ----------
        items : sequence of (coords, values) or (coords, values, times)
            ``coords (n, 2)`` and ``values (r, n)`` per dataset; for a space-time summary
            network also ``times (T,)``, ``values`` then ``(r T, n)``.

        Returns
        -------
        GraphBatch, GridBatch or SpaceTimeBatch
            The batch (:mod:`fieldfit.neural.graphs`, :mod:`fieldfit.neural.spacetime_graphs`).
        """
        return self.summary.collate(items)

    @torch.no_grad()
    def estimate_unit(self, inputs) -> dict[str, np.ndarray]:
        """The estimator's outputs for a batch, on the prior's unit scale.

        Parameters
        ----------
        inputs : GraphBatch, GridBatch or PooledBatch
            A batch from :meth:`collate`.

        Returns
        -------
        dict of str to numpy.ndarray
            At least ``"estimate"`` ``(B, p)``; subclasses add e.g. quantiles ``"q0.05"``.

        Raises
        ------
        NotImplementedError
            In the base class.
        """
        raise NotImplementedError


#: estimator kind (as stored in a saved configuration) -> class, in registration order
ESTIMATOR_KINDS: dict[str, type[AmortizedEstimator]] = {}


def register_estimator(kind: str):
    """Class decorator: register an :class:`AmortizedEstimator` subclass under ``kind``.

    It also sets the class's ``kind`` attribute, which :meth:`AmortizedEstimator.config` stores.
    Registering the same class again (e.g. on reloading its module) is allowed.

    Parameters
    ----------
    kind : str
        The name stored in saved configurations.

    Returns
    -------
    callable
        The decorator, returning the class unchanged but for ``kind``.

    Raises
    ------
    TypeError
        (from the decorator) If the decorated object is not an :class:`AmortizedEstimator`
        subclass.
    ValueError
        (from the decorator) If ``kind`` is already registered for another class.
    """

    def register(cls: type[AmortizedEstimator]) -> type[AmortizedEstimator]:
        if not (isinstance(cls, type) and issubclass(cls, AmortizedEstimator)):
            raise TypeError(f"{cls!r} is not an AmortizedEstimator subclass")
        known = ESTIMATOR_KINDS.get(kind)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"estimator kind {kind!r} is already registered for {known!r}")
        cls.kind = kind
        ESTIMATOR_KINDS[kind] = cls
        return cls

    return register


def estimator_kinds() -> tuple[str, ...]:
    """The names of the registered estimator kinds.

    Returns
    -------
    tuple of str
        In registration order.
    """
    return tuple(ESTIMATOR_KINDS)


def estimator_class(kind: str) -> type[AmortizedEstimator]:
    """The class registered under ``kind``.

    Parameters
    ----------
    kind : str
        An estimator kind.

    Returns
    -------
    type
        The :class:`AmortizedEstimator` subclass.

    Raises
    ------
    ValueError
        If the kind is unknown (naming the known kinds).
    """
    try:
        return ESTIMATOR_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown estimator kind {kind!r}; known: {list(ESTIMATOR_KINDS)}"
                         ) from None


def estimator_options(kind: str) -> tuple[str, ...]:
    """The keyword options of ``kind`` beyond the summary network and the number of parameters.

    E.g. ``loss`` of ``"point"``, ``probs`` of ``"quantile"``: the class's constructor arguments
    after ``summary`` and ``n_params``.

    Parameters
    ----------
    kind : str
        An estimator kind.

    Returns
    -------
    tuple of str
        The option names.

    Raises
    ------
    ValueError
        If the kind is unknown.
    """
    params = list(inspect.signature(estimator_class(kind).__init__).parameters)
    return tuple(params[3:])                     # self, summary, n_params


def build_estimator(kind: str, summary: nn.Module, n_params: int,
                    **options) -> AmortizedEstimator:
    """A new estimator of ``kind`` on ``summary`` for ``n_params`` parameters.

    Parameters
    ----------
    kind : str
        A registered kind (:func:`estimator_kinds`).
    summary : torch.nn.Module
        The summary network.
    n_params : int
        Number of parameters.
    **options
        The kind's own options (:func:`estimator_options`).

    Returns
    -------
    AmortizedEstimator
        A freshly initialised network.

    Raises
    ------
    ValueError
        If the kind is unknown, an option is not one of the kind's, or an option's value is
        invalid.
    """
    cls = estimator_class(kind)
    unknown = sorted(set(options) - set(estimator_options(kind)))
    if unknown:
        raise ValueError(f"a {kind} estimator takes the options "
                         f"{list(estimator_options(kind))}, not {unknown}")
    return cls(summary, n_params, **options)


def estimator_from_config(cfg: dict) -> AmortizedEstimator:
    """The network of a saved configuration (:meth:`AmortizedEstimator.config`).

    Its kind's class on the summary network of ``cfg["summary"]``; the weights are not included
    (load them with ``load_state_dict``).

    Parameters
    ----------
    cfg : dict
        The configuration.

    Returns
    -------
    AmortizedEstimator
        A freshly initialised network of that configuration.

    Raises
    ------
    ValueError
        If the kind or the summary network's kind is unknown, or an option is invalid.
    """
    cfg = dict(cfg)
    cls = estimator_class(cfg.pop("kind"))
    return cls(summary_from_config(cfg.pop("summary")), **cfg)
