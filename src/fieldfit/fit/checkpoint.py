"""A fit's checkpoint: an append-only journal of its likelihood evaluations, for ``--resume``.

A maximum-likelihood fit is a deterministic function of its evaluations: L-BFGS-B, BFGS and
the Newton polish choose their next point from the values f(u) and gradients ∇f(u) returned so
far. So a fit killed at any moment (SIGKILL included) is resumed exactly by running it again
from the start and answering every evaluation already made from the journal, without
computing it: the optimisers retrace their path in milliseconds, then compute the rest. The
resumed fit ends with the same estimates, bit for bit, as an uninterrupted one.

The journal is JSON lines: a header with a hash of everything the fit depends on (the model's
spec, the data, fixed values, starts, priors and tolerances), then one line per evaluation
``{"s": stage, "k": "f" | "H", "u": [...], ...}`` (floats written by ``repr``, which round-trips
float64 exactly). Each line is flushed as it is written, so a killed process loses at most the
evaluation in progress; a torn last line is ignored on resume.

Why not scipy's own state: L-BFGS-B keeps its memory inside Fortran/C work arrays that scipy
does not expose, so an optimiser cannot be restarted mid-run; replaying its inputs is exact and
needs nothing from scipy.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

#: format version of the journal's header
VERSION = 1


def fit_key(model, obs, **settings) -> str:
    """A hash of what a fit's evaluations depend on.

    Parameters
    ----------
    model : Model
        The model; its ``to_spec()`` (:class:`fieldfit.contract.Model`) describes it.
    obs : Observations
        The data: its ``coords``, ``values``, ``times`` and ``covariates`` arrays (the last two
        may be None) are hashed with their shapes.
    **settings
        The fit's other settings (fixed values, starts, priors, tolerances), hashed as JSON
        (``repr`` for what JSON cannot hold).

    Returns
    -------
    str
        The SHA-256 hex digest.
    """
    h = hashlib.sha256()
    h.update(json.dumps(model.to_spec(), sort_keys=True, default=repr).encode())
    arrays = {"coords": obs.coords, "values": obs.values, "times": obs.times,
              "covariates": obs.covariates}
    for name, a in arrays.items():
        h.update(name.encode())
        if a is not None:
            a = np.ascontiguousarray(a, dtype=np.float64)
            h.update(str(a.shape).encode())
            h.update(a.tobytes())
    h.update(json.dumps(settings, sort_keys=True, default=repr).encode())
    return h.hexdigest()


class Journal:
    """The evaluations of one fit at ``path``: looked up on resume, appended as computed.

    Parameters
    ----------
    path : str or os.PathLike
        The journal's file (JSON lines); its folder is made when missing.
    key : str
        The fit's :func:`fit_key`.
    resume : bool, optional
        False (default): start a new journal (an existing one at ``path`` is replaced).
        True: read the one there (none: a new one) and append to it.

    Raises
    ------
    ValueError
        With ``resume``: the file at ``path`` is not a fit checkpoint, or its header's key is
        not ``key`` (a different model, data or settings).
    OSError
        The file cannot be read or written.
    """

    def __init__(self, path: str | os.PathLike, key: str, resume: bool = False):
        self.path, self.key = Path(path), key
        self.cache: dict[tuple, dict] = {}
        self.replayed = 0
        self.resumed = False
        if resume and self.path.exists():
            self._read()
            self.resumed = True
            self._file = open(self.path, "a")  # noqa: SIM115  (closed by close())
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "w")  # noqa: SIM115
            self._write({"fieldfit_fit_checkpoint": VERSION, "key": key})

    def _read(self) -> None:
        """Load the records of the journal at ``path`` (checked against ``key``)."""
        lines = self.path.read_text().splitlines()
        try:
            header = json.loads(lines[0]) if lines else {}
        except json.JSONDecodeError:
            header = {}
        if header.get("fieldfit_fit_checkpoint") != VERSION:
            raise ValueError(f"{self.path} is not a fieldfit fit checkpoint: remove it, or run "
                             "without --resume")
        if header.get("key") != self.key:
            raise ValueError(f"the checkpoint {self.path} belongs to a different fit (the data, "
                             "model or options differ): remove it, or run without --resume")
        for line in lines[1:]:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # the line being written when the process was killed
                break
            self.cache[(rec["s"], rec["k"], tuple(rec["u"]))] = rec

    def _write(self, record: Mapping) -> None:
        """Append ``record`` as one JSON line and flush it."""
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def lookup(self, stage: str, kind: str, u: np.ndarray) -> dict | None:
        """The record of an evaluation already made, or None.

        Parameters
        ----------
        stage : str
            The search it belongs to (e.g. ``"fine"``, ``"coarse"``).
        kind : str
            ``"f"`` (value and gradient) or ``"H"`` (Hessian).
        u : numpy.ndarray
            The unconstrained point ``(k,)``, matched exactly.

        Returns
        -------
        dict or None
            The record (``{"s", "k", "u", ...values}``), counted in ``replayed``; None when
            the journal has none.
        """
        rec = self.cache.get((stage, kind, tuple(np.asarray(u, dtype=np.float64).tolist())))
        if rec is not None:
            self.replayed += 1
        return rec

    def record(self, stage: str, kind: str, u: np.ndarray, **values) -> None:
        """Append an evaluation to the journal (flushed at once).

        Parameters
        ----------
        stage : str
            The search it belongs to.
        kind : str
            ``"f"`` or ``"H"``.
        u : numpy.ndarray
            The unconstrained point ``(k,)``.
        **values
            What was computed (scalars or arrays), written as floats or nested lists.
        """
        clean = {k: (np.asarray(v, dtype=np.float64).tolist() if not np.isscalar(v)
                     else float(v)) for k, v in values.items()}
        self._write({"s": stage, "k": kind,
                     "u": np.asarray(u, dtype=np.float64).tolist(), **clean})

    def stage(self, name: str) -> JournalStage:
        """A view of the journal for the search ``name``.

        Parameters
        ----------
        name : str
            The stage's name.

        Returns
        -------
        JournalStage
            Its lookups and records carry ``name``.
        """
        return JournalStage(self, name)

    def close(self) -> None:
        """Close the journal's file (its records stay)."""
        if not self._file.closed:
            self._file.close()

    def remove(self) -> None:
        """Close and delete the journal (the fit finished: its result is the record)."""
        self.close()
        self.path.unlink(missing_ok=True)


class JournalStage:
    """One stage's view of a :class:`Journal` (the coarse and fine searches evaluate different
    likelihoods at the same u).

    Parameters
    ----------
    journal : Journal
        The journal.
    name : str
        The stage's name, recorded with each of its evaluations.
    """

    def __init__(self, journal: Journal, name: str):
        self.journal, self.name = journal, name

    def lookup(self, kind: str, u: np.ndarray) -> dict | None:
        """:meth:`Journal.lookup` in this stage.

        Parameters
        ----------
        kind : str
            ``"f"`` or ``"H"``.
        u : numpy.ndarray
            The unconstrained point ``(k,)``.

        Returns
        -------
        dict or None
            The record, or None.
        """
        return self.journal.lookup(self.name, kind, u)

    def record(self, kind: str, u: np.ndarray, **values) -> None:
        """:meth:`Journal.record` in this stage.

        Parameters
        ----------
        kind : str
            ``"f"`` or ``"H"``.
        u : numpy.ndarray
            The unconstrained point ``(k,)``.
        **values
            What was computed.
        """
        self.journal.record(self.name, kind, u, **values)

    def stage(self, name: str) -> JournalStage:
        """A sub-stage ``<this stage>/<name>``.

        Parameters
        ----------
        name : str
            The sub-stage's name.

        Returns
        -------
        JournalStage
            Its view of the same journal.
        """
        return JournalStage(self.journal, f"{self.name}/{name}")
