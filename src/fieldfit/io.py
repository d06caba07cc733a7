"""Reading and writing tables and results: one place, every write atomic.

Tables are Parquet, CSV or TSV, chosen by the file's suffix. Every file is written to a
temporary file in the same folder and then renamed over the target, so a failed or
interrupted run leaves an existing output untouched.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

TABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv")


def write_atomic(path: str | os.PathLike, text: str | bytes) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename.

    Parameters
    ----------
    path : str or os.PathLike
        The target; its folder is made when missing.
    text : str or bytes
        The content (text is written as UTF-8).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OSError
        The folder cannot be made or written; the target is then left as it was.
    """
    write_set([(path, text)])
    return Path(path)


def write_set(files) -> None:
    """Write several files as one set: every content first, then the renames.

    Each content goes to a temporary file beside its target (text as UTF-8, the usual
    permissions), and only once all are written are they renamed over their targets, each
    rename atomic. A failure while writing leaves every target as it was.

    Parameters
    ----------
    files : iterable of (path, str or bytes)
        The targets and their contents.

    Raises
    ------
    OSError
        A folder cannot be made or a file written (the temporary files are removed).
    """
    staged: list[tuple[str, Path]] = []
    try:
        for path, content in files:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            staged.append((tmp, path))
            with os.fdopen(fd, "wb") as f:
                f.write(content.encode() if isinstance(content, str) else content)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise


def table_format(path: str | os.PathLike) -> str:
    """The table format that ``path``'s suffix names.

    Parameters
    ----------
    path : str or os.PathLike
        A file name ending in ``.parquet``, ``.pq``, ``.csv`` or ``.tsv`` (any case).

    Returns
    -------
    str
        ``"parquet"``, ``"csv"`` or ``"tsv"``.

    Raises
    ------
    ValueError
        Any other suffix (the message lists the supported ones).
    """
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".tsv"):
        return suffix[1:]
    raise ValueError(f"{path}: unknown file type {Path(path).suffix or '(no suffix)'!r}; "
                     "supported: .parquet (or .pq), .csv, .tsv")


def table_bytes(df: pd.DataFrame, path: str | os.PathLike) -> bytes:
    """A table serialised in the format of ``path``'s suffix, without its index.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    path : str or os.PathLike
        The file it is meant for (only its suffix is read, :func:`table_format`).

    Returns
    -------
    bytes
        Parquet, CSV or TSV (UTF-8) bytes.

    Raises
    ------
    ValueError
        An unknown suffix.
    """
    fmt = table_format(path)
    if fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return buf.getvalue()
    return df.to_csv(index=False, sep="\t" if fmt == "tsv" else ",").encode()


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a DataFrame atomically as Parquet, CSV or TSV (by the suffix of ``path``).

    Parameters
    ----------
    df : pandas.DataFrame
        The table (its index is not written).
    path : str or os.PathLike
        The target.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        An unknown suffix.
    OSError
        The file cannot be written (an existing one is left as it was).
    """
    return write_atomic(path, table_bytes(df, path))


def _one_line(e: BaseException) -> str:
    """The message of ``e`` on one line (its type's name when it has none)."""
    return " ".join(str(e).split()) or type(e).__name__


def _csv_header(path: Path, sep: str) -> list[str] | None:
    """The header cells of a CSV / TSV file as written (pandas renames repeated names to
    ``x.1``); None when the first line cannot be read as text."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return next(csv.reader(f, delimiter=sep), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None


def _refuse_repeated(path: Path, names: list[str]) -> None:
    """ValueError for a column name (other than an empty one) that the header repeats."""
    repeated = [c for c in dict.fromkeys(names) if c.strip() and names.count(c) > 1]
    if repeated:
        c = repeated[0]
        where = [i + 1 for i, n in enumerate(names) if n == c]
        raise ValueError(f"{path}: column name {c!r} appears {len(where)} times in the header "
                         f"(columns {', '.join(map(str, where))}); rename the copies")


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A Parquet, CSV or TSV file as a DataFrame.

    Types are inferred per column from the whole file (``low_memory=False``), so a column's
    type does not depend on where it is cut.

    Parameters
    ----------
    path : str or os.PathLike
        The file; its suffix chooses the format (:func:`table_format`).

    Returns
    -------
    pandas.DataFrame
        The table, with at least one row.

    Raises
    ------
    ValueError
        Naming the path, in one line: a missing file, a directory, an unknown suffix, an
        empty file or one with a header but no data row, a file the parser cannot read, and a
        header that repeats a column name.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, not a data file")
    if not path.exists():
        raise ValueError(f"{path}: file not found")
    fmt = table_format(path)
    if not path.is_file():
        raise ValueError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file")
    sep = "\t" if fmt == "tsv" else ","
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            names = [str(c) for c in pq.read_schema(path).names]
            _refuse_repeated(path, names)
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, sep=sep, low_memory=False)
            names = _csv_header(path, sep) or [str(c) for c in df.columns]
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: empty file (no header line)") from None
    except Exception as e:  # noqa: BLE001  (parser errors of any kind name the file)
        raise ValueError(f"{path}: cannot read {fmt} file: {_one_line(e)}") from None
    _refuse_repeated(path, names)
    if len(df) == 0:
        raise ValueError(f"{path}: empty file (no data rows)")
    return df


def numeric_column(df: pd.DataFrame, column: str, missing_ok: bool = False) -> np.ndarray:
    """A table's column as float64, refused with the rows at fault where it is not numbers.

    Parameters
    ----------
    df : pandas.DataFrame
        The table.
    column : str
        The column's name.
    missing_ok : bool, default False
        Whether a missing (NaN) value is allowed (a missing observation); infinite values
        never are.

    Returns
    -------
    numpy.ndarray, shape (len(df),)

    Raises
    ------
    ValueError
        Naming the column and up to five rows: text that is not a number, or missing (unless
        ``missing_ok``) or infinite values.
    """
    col = pd.to_numeric(df[column], errors="coerce")
    text = (col.isna() & df[column].notna()).to_numpy()
    if text.any():
        rows = np.flatnonzero(text)[:5].tolist()
        raise ValueError(f"column {column!r} has non-numeric values (rows {rows})")
    with np.errstate(invalid="ignore"):
        v = col.to_numpy(dtype=np.float64)
    bad = np.isinf(v) if missing_ok else ~np.isfinite(v)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        kind = "infinite" if missing_ok else "missing or infinite"
        raise ValueError(f"column {column!r} has {kind} values (rows {rows})")
    return v


def write_json(data, path: str | os.PathLike) -> Path:
    """Write ``data`` as indented JSON, atomically.

    Parameters
    ----------
    data : object
        Anything :func:`json.dumps` takes.
    path : str or os.PathLike
        The target.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    TypeError
        ``data`` holds something JSON cannot represent.
    """
    return write_atomic(path, json.dumps(data, indent=2) + "\n")


__all__ = ["TABLE_SUFFIXES", "numeric_column", "read_table", "table_format", "write_atomic",
           "write_json", "write_table"]
