"""Progress of a long fit where no progress bar is shown: a line every minute on stderr.

On a terminal a fit draws a tqdm bar (evaluations, the current log-likelihood, the elapsed
time). Redirected to a log, the bar is off; :class:`ProgressLines` writes the same facts as
one line every :data:`LOG_INTERVAL` seconds instead, so a log shows that a long fit is alive
and where it stands.
"""

from __future__ import annotations

import sys
import time

#: seconds between two progress lines in a log
LOG_INTERVAL = 60.0


class ProgressLines:
    """One line on stderr at most every ``interval`` seconds of a fit.

    Parameters
    ----------
    label : str
        What runs, e.g. ``"fit advection-diffusion"``.
    interval : float, optional
        Seconds between two lines (default :data:`LOG_INTERVAL`).
    stream : file-like, optional
        Where to write (default: ``sys.stderr`` when a line is written).
    """

    def __init__(self, label: str, interval: float | None = None, stream=None):
        self.label = label
        self.interval = LOG_INTERVAL if interval is None else float(interval)
        self.stream = stream
        self.start = self.last = time.monotonic()
        self.lines = 0

    def update(self, evaluations: int, loglik: float, best: float) -> None:
        """Write a line if ``interval`` seconds have passed since the last one.

        Parameters
        ----------
        evaluations : int
            Likelihood evaluations so far.
        loglik : float
            The log-likelihood of the latest evaluation.
        best : float
            The best log-likelihood so far.
        """
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        self.lines += 1
        print(f"{self.label}: {evaluations} evaluations, loglik {loglik:.4f} "
              f"(best {best:.4f}), {now - self.start:.0f} s", file=self.stream or sys.stderr,
              flush=True)


__all__ = ["LOG_INTERVAL", "ProgressLines"]
