"""Numerical settings, changed in a context manager rather than buried as constants.

>>> from fieldfit.settings import current, settings
>>> with settings(jitter=1e-8):
...     print(current().jitter)
1e-08

``jitter``
    relative diagonal jitter added before a Cholesky factorisation (times the mean of the
    diagonal)
``max_jitter_tries``
    on a failed factorisation, retry with 10× the jitter this many times
``matern_table_min``
    arrays of at least this many distances use the tabulated Matérn path (cubic Hermite
    interpolation of log ρ in log h, ~1e-12 relative); smaller ones call the Bessel
    function directly
``matern_table_step``
    spacing of the table in log-distance
``progress``
    None: progress bars on a terminal only; True/False: always / never
``max_dense_memory``
    the exact engine refuses problems whose dense n × n matrices would need more than this
    many bytes (None: half the machine's physical memory)
``bessel_nu_stencil``
    points of the central difference for ∂/∂ν log K_ν (:mod:`fieldfit.covariance.bessel`):
    5 (the default: O(δ⁴), accurate to second order, for Hessians) or 3 (half the Bessel
    calls, ~1e-9 relative: first derivatives only; the sampler uses it)
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import threading


@dataclasses.dataclass
class Settings:
    r"""The numerical settings in force (see the module docstring for their meaning).

    Parameters
    ----------
    jitter : float, default 1e-10
        Relative diagonal jitter before a dense Cholesky factorisation.
    max_jitter_tries : int, default 4
        Retries, each with 10× the jitter, after a failed factorisation.
    matern_table_min : int, default 20000
        Smallest number of distances evaluated through the Matérn table.
    matern_table_step : float, default 2.5e-3
        Spacing of the Matérn table in log-distance.
    progress : bool or None, default None
        Progress bars: None on a terminal only, True always, False never.
    max_dense_memory : float or None, default None
        Memory budget in bytes of the exact engine's dense matrices (None: half the physical
        memory).
    bessel_nu_stencil : {5, 3}, default 5
        Points of the central difference in ν of :math:`\log K_\nu`.
    """
    jitter: float = 1e-10
    max_jitter_tries: int = 4
    matern_table_min: int = 20_000
    matern_table_step: float = 2.5e-3
    progress: bool | None = None
    max_dense_memory: float | None = None
    bessel_nu_stencil: int = 5


_local = threading.local()


def current() -> Settings:
    """The settings in force in this thread.

    Returns
    -------
    Settings
    """
    if not hasattr(_local, "stack"):
        _local.stack = [Settings()]
    return _local.stack[-1]


def progress_choice(progress: bool | None) -> bool | None:
    """A call's ``progress`` argument, else the settings' (None: bars on a terminal only).

    Parameters
    ----------
    progress : bool or None
        The argument.

    Returns
    -------
    bool or None
    """
    return current().progress if progress is None else bool(progress)


def progress_shown(progress: bool | None) -> bool:
    """Whether to draw progress bars: :func:`progress_choice`, where None means whether
    standard error is a terminal.

    Parameters
    ----------
    progress : bool or None
        The call's argument.

    Returns
    -------
    bool
    """
    choice = progress_choice(progress)
    if choice is None:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return choice


@contextlib.contextmanager
def settings(**changes):
    """Temporarily change numerical settings (see the module docstring for the names).

    Parameters
    ----------
    **changes
        New values of :class:`Settings` fields.

    Yields
    ------
    Settings
        The settings in force inside the block.

    Raises
    ------
    ValueError
        For an unknown name, or ``bessel_nu_stencil`` other than 3 or 5.

    Examples
    --------
    >>> from fieldfit.settings import settings
    >>> with settings(progress=False) as s:
    ...     print(s.progress)
    False
    """
    base = current()
    unknown = set(changes) - {f.name for f in dataclasses.fields(Settings)}
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}")
    if changes.get("bessel_nu_stencil", 5) not in (3, 5):
        raise ValueError(f"bessel_nu_stencil must be 3 or 5, got {changes['bessel_nu_stencil']!r}")
    _local.stack.append(dataclasses.replace(base, **changes))
    try:
        yield _local.stack[-1]
    finally:
        _local.stack.pop()


@contextlib.contextmanager
def one_thread():
    """Limit BLAS and torch to one thread inside the block, restoring them after.

    BLAS covers threadpoolctl's libraries (OpenBLAS, CHOLMOD's BLAS, OpenMP). Meant for work
    run one process per core, where oversubscribed BLAS threads spin-wait for each other, and
    for timings of single-threaded peers.

    Yields
    ------
    None
    """
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(before)
