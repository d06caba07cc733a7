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
    """A hash of what a fit's evaluations depend on: the model (its spec), the observations'
    arrays and the fit's settings (fixed values, starts, priors, tolerances)."""
    h = hashlib.sha256()
    spec = model.to_spec() if hasattr(model, "to_spec") else {"class": type(model).__name__}
    h.update(json.dumps(spec, sort_keys=True, default=repr).encode())
    for name in ("coords", "values", "times", "covariates"):
        a = getattr(obs, name, None)
        h.update(name.encode())
        if a is not None:
            a = np.ascontiguousarray(a, dtype=np.float64)
            h.update(str(a.shape).encode())
            h.update(a.tobytes())
    h.update(json.dumps(settings, sort_keys=True, default=repr).encode())
    return h.hexdigest()


class Journal:
    """The evaluations of one fit at ``path``: looked up on resume, appended as computed.

    ``resume=False`` starts a new journal (an existing one at ``path`` is replaced);
    ``resume=True`` reads the one there (none: a new one), refusing one whose header's key is
    not ``key`` (a different model, data or settings)."""

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
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def lookup(self, stage: str, kind: str, u: np.ndarray) -> dict | None:
        """The record of the evaluation ``kind`` ("f": value and gradient, "H": Hessian) at
        ``u`` in ``stage``, or None."""
        rec = self.cache.get((stage, kind, tuple(np.asarray(u, dtype=np.float64).tolist())))
        if rec is not None:
            self.replayed += 1
        return rec

    def record(self, stage: str, kind: str, u: np.ndarray, **values) -> None:
        clean = {k: (np.asarray(v, dtype=np.float64).tolist() if not np.isscalar(v)
                     else float(v)) for k, v in values.items()}
        self._write({"s": stage, "k": kind,
                     "u": np.asarray(u, dtype=np.float64).tolist(), **clean})

    def stage(self, name: str) -> JournalStage:
        return JournalStage(self, name)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def remove(self) -> None:
        """Close and delete the journal (the fit finished: its result is the record)."""
        self.close()
        self.path.unlink(missing_ok=True)


class JournalStage:
    """One stage's view of a :class:`Journal` (the coarse and fine searches evaluate different
    likelihoods at the same u)."""

    def __init__(self, journal: Journal, name: str):
        self.journal, self.name = journal, name

    def lookup(self, kind: str, u: np.ndarray) -> dict | None:
        return self.journal.lookup(self.name, kind, u)

    def record(self, kind: str, u: np.ndarray, **values) -> None:
        self.journal.record(self.name, kind, u, **values)

    def stage(self, name: str) -> JournalStage:
        return JournalStage(self.journal, f"{self.name}/{name}")
