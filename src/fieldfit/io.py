"""Reading and writing tables and results: one place, every write atomic.

Tables are Parquet, CSV or TSV, chosen by the file's suffix. Every file is written to a
temporary file in the same folder and then renamed over the target, so a failed or
interrupted run leaves an existing output untouched.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import pandas as pd

TABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".tsv")


def write_atomic(path: str | os.PathLike, text: str | bytes) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(text, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def table_format(path: str | os.PathLike) -> str:
    """"parquet", "csv" or "tsv" from ``path``'s suffix; ValueError for any other."""
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".tsv"):
        return suffix[1:]
    raise ValueError(f"{path}: unknown file type {Path(path).suffix!r}; use .parquet, .csv "
                     "or .tsv")


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a DataFrame atomically as Parquet, CSV or TSV (by the suffix of ``path``)."""
    fmt = table_format(path)
    if fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return write_atomic(path, buf.getvalue())
    return write_atomic(path, df.to_csv(index=False, sep="\t" if fmt == "tsv" else ","))


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A Parquet, CSV or TSV file as a DataFrame; a missing, empty or unreadable file, or an
    unknown suffix, raises ``ValueError`` naming the path."""
    path = Path(path)
    fmt = table_format(path)
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file")
    try:
        if fmt == "parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, sep="\t" if fmt == "tsv" else ",")
    except Exception as e:  # noqa: BLE001  (parser errors of any kind name the file)
        raise ValueError(f"{path}: cannot read {fmt} file: {e}") from e
    if len(df) == 0:
        raise ValueError(f"{path}: empty file (no data rows)")
    return df


def write_json(data, path: str | os.PathLike) -> Path:
    """``data`` as indented JSON, written atomically."""
    return write_atomic(path, json.dumps(data, indent=2) + "\n")


__all__ = ["TABLE_SUFFIXES", "read_table", "table_format", "write_atomic", "write_json",
           "write_table"]
