"""The commands' outputs: every path checked before any work starts, all written as one set
at the end, and Ctrl-C handled in two steps.

A command that fails or is interrupted leaves every existing output untouched: each file is
first written to a temporary file beside it, and only once all of them are written are they
renamed over their targets (:func:`fieldfit.io.write_set`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from pathlib import Path

from ..io import TABLE_SUFFIXES

#: the exit status of a command stopped by Ctrl-C (128 + SIGINT, as shells report it)
INTERRUPTED = 130


def check_output(path: Path | str, option: str, suffixes: tuple[str, ...] | None = None) -> Path:
    """``path`` can be written as ``option`` (e.g. "--out"): not a folder, a known suffix
    (when ``suffixes`` are given), under a folder (existing or to be made) that accepts new
    files; ValueError naming the option and the problem otherwise."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder: give a file name")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        got = f"{path.suffix!r}" if path.suffix else "none"
        raise ValueError(f"{option} {path}: unknown file type (suffix {got}); use "
                         f"{', '.join(suffixes)}")
    folder = path.parent if str(path.parent) else Path(".")
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{option} {path}: {existing} is a file, not a folder")
    try:  # a real probe: os.access says yes to root even on a read-only file system
        fd, probe = tempfile.mkstemp(prefix=".fieldfit-probe.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ValueError(f"{option} {path}: cannot write in {existing} "
                         f"({e.strerror or e})") from None
    return path


def check_output_folder(folder: Path | str, option: str, file: str) -> Path:
    """``folder`` is, or can be made, a folder that accepts ``file`` (one of the files to be
    written there; :func:`check_output` of it): ValueError naming the option otherwise."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{option} {folder}: is a file; give a folder")
    check_output(folder / file, option)
    return folder


def check_table_output(path: Path | str, option: str) -> Path:
    """:func:`check_output` for a table (.parquet, .pq, .csv, .tsv)."""
    return check_output(path, option, TABLE_SUFFIXES)


def check_distinct(**paths: Path | None) -> None:
    """No two output options name the same file."""
    seen: dict[Path, str] = {}
    for option, p in paths.items():
        if p is None:
            continue
        key = Path(p).resolve()
        if key in seen:
            raise ValueError(f"{seen[key]} and {option} name the same file {p}")
        seen[key] = option


@contextlib.contextmanager
def two_step_interrupt():
    """Ctrl-C once: KeyboardInterrupt (a fit then stops at its best point and the command
    reports it); Ctrl-C again: the process exits at once with status 130, writing nothing
    more. Outside the main thread (no signal handlers there) Python's default is kept."""
    def again(signum, frame):
        os.write(2, b"\ninterrupted again: exiting now, nothing written\n")
        os._exit(INTERRUPTED)

    def first(signum, frame):
        signal.signal(signal.SIGINT, again)
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, first)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        # after a first Ctrl-C the command is ending: a second one still exits at once
        if signal.getsignal(signal.SIGINT) is first:
            signal.signal(signal.SIGINT, previous)
