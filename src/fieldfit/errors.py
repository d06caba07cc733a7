"""The exceptions that mean "this parameter value is infeasible", as opposed to bad input.

An optimiser or a sampler moves through parameter space and meets values at which the model
cannot be evaluated: a covariance or precision matrix that is not positive definite, a
non-finite entry. Those raise :class:`NumericalFailure` (a ``ValueError``, so that a user who
evaluates such a value by hand still gets a clear error), and :func:`fieldfit.fit` treats them
as an infeasible point. Every other exception is a programming error or bad input, and
propagates. :func:`did_you_mean` is the hint of the "unknown name" errors.
"""

from __future__ import annotations


class NumericalFailure(ValueError):
    """A computation failed at these parameter values (a failed factorisation, a non-finite
    value): the point is infeasible, the input is not at fault."""


class NotPositiveDefinite(NumericalFailure):
    """A covariance or precision matrix is not positive definite at these parameter values."""


def did_you_mean(name: str, choices) -> str:
    """" (did you mean 'x'?)" for the choice closest to ``name`` (difflib's ratio ≥ 0.6), or
    "": the hint of every "unknown name" error."""
    import difflib

    match = difflib.get_close_matches(str(name), list(choices), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


__all__ = ["NotPositiveDefinite", "NumericalFailure", "did_you_mean"]
