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
    """A computation failed at these parameter values: the point is infeasible, not the input.

    Raised for a failed factorisation or a non-finite value; a ``ValueError`` subclass, which
    :func:`fieldfit.fit` treats as an infeasible point.
    """


class NotPositiveDefinite(NumericalFailure):
    """A covariance or precision matrix is not positive definite at these parameter values.

    A :class:`NumericalFailure`.
    """


def did_you_mean(name: str, choices) -> str:
    """The hint of every "unknown name" error: ``" (did you mean 'x'?)"`` or ``""``.

    The choice closest to ``name`` by difflib's ratio (at least 0.6) is suggested.

    Parameters
    ----------
    name : str
        The unknown name.
    choices : iterable of str
        The valid names.

    Returns
    -------
    str
        The hint, with a leading space, or the empty string when nothing is close.
    """
    import difflib

    match = difflib.get_close_matches(str(name), list(choices), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


__all__ = ["NotPositiveDefinite", "NumericalFailure", "did_you_mean"]
