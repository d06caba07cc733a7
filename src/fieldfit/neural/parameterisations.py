"""Priors stated in other coordinates than the model's parameters.

A prior box is easiest to state, and a network easiest to train, in coordinates a user thinks
in: for the advection–diffusion SPDE in unit scales, how far the field is correlated (range),
how long it remembers (memory), how fast it moves (velocity), how variable it is and how much
of that is noise. A :class:`~fieldfit.neural.prior.Prior` naming a parameterisation draws those
coordinates; :func:`model_params` maps each draw to the model's own parameters before the
model simulates. Estimators then estimate the coordinates.

Registered parameterisations (:data:`PARAMETERISATIONS`):

``advection-diffusion-derived``
    ``range``, ``memory``, ``velocity_x``, ``velocity_y``, ``marginal_variance``,
    ``nugget_share`` → ``kappa``, ``c``, ``tau``, ``gamma_x``, ``gamma_y``, ``nugget``,
    ``H_scale`` (:func:`fieldfit.models.ad_scaling.params_from_derived`, with the model's α and
    α_s); other names (``mean``) pass through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..models.ad_scaling import DERIVED, params_from_derived


@dataclass(frozen=True)
class Parameterisation:
    """Coordinates of a prior and their map to a model's parameters.

    Parameters
    ----------
    name : str
        The registered name.
    coordinates : tuple of str
        The names the map reads (all required).
    gives : tuple of str
        The model parameters it returns in their place.
    to_model : callable
        ``(values: dict, model) -> dict``: the model's parameters (other keys passed through).
    """

    name: str
    coordinates: tuple[str, ...]
    gives: tuple[str, ...]
    to_model: Callable[[Mapping, object], dict]

    def model_names(self, names) -> set[str]:
        """The model parameters a prior giving ``names`` (estimated and fixed) gives.

        Parameters
        ----------
        names : iterable of str
            The prior's names.

        Returns
        -------
        set of str
        """
        return (set(names) - set(self.coordinates)) | set(self.gives)


def _advection_diffusion(values: Mapping, model) -> dict:
    return params_from_derived(values, model.options["alpha"], model.options["alpha_s"])


#: the registered parameterisations, by name
PARAMETERISATIONS = {
    "advection-diffusion-derived": Parameterisation(
        "advection-diffusion-derived", DERIVED,
        ("kappa", "c", "tau", "gamma_x", "gamma_y", "nugget", "H_scale"),
        _advection_diffusion),
}


def parameterisation(name: str) -> Parameterisation:
    """The registered parameterisation ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`PARAMETERISATIONS`.

    Returns
    -------
    Parameterisation

    Raises
    ------
    ValueError
        For an unknown name.
    """
    try:
        return PARAMETERISATIONS[name]
    except KeyError:
        raise ValueError(f"unknown parameterisation {name!r}; known: "
                         f"{sorted(PARAMETERISATIONS)}") from None


def model_params(prior, theta_row, model) -> dict[str, float]:
    """One prior draw as the model's parameters.

    Parameters
    ----------
    prior : Prior
        The prior (its ``parameterisation``, if any, maps the coordinates).
    theta_row : sequence of float, shape (p,)
        Values of its estimated parameters.
    model : object
        The model (the map may read its options).

    Returns
    -------
    dict of str to float
    """
    values = prior.params(theta_row)
    if prior.parameterisation is None:
        return values
    return parameterisation(prior.parameterisation).to_model(values, model)


__all__ = ["PARAMETERISATIONS", "Parameterisation", "model_params", "parameterisation"]
