"""Write roster DataFrames to CSV, JSON or Parquet (chosen by the file suffix).

In CSV the ``roles`` column is a JSON list; timestamps are ISO 8601 UTC. Parquet needs the
optional ``pyarrow`` (``pip install 'nrps_nb[parquet]'``).

Example::

    >>> write_frame(df, Path("roster.csv"))                                 # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from .errors import ConfigError

__all__ = ["FORMATS", "check_output", "write_frame"]

FORMATS = (".csv", ".json", ".parquet")


def _flat(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = [
                json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
                for v in out[column]
            ]
    return out


def check_output(path: str | os.PathLike[str]) -> Path:
    """Refuse, before any fetch, an output file that could not be written afterwards.

    >>> check_output("roster.xlsx")                                        # doctest: +SKIP
    ConfigError: cannot write roster.xlsx: use a file name ending in .csv, .json, .parquet
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"cannot write {target}: use a file name ending in {', '.join(FORMATS)}")
    if suffix == ".parquet":
        _need_pyarrow()
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"cannot write {target}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"cannot write {target}: the directory {parent} is not writable")
    return target


def _need_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ConfigError(
            "writing Parquet needs pyarrow: pip install 'nrps_nb[parquet]' (or write .csv / .json)"
        ) from None


def write_frame(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``df`` to ``path`` atomically (a partial file never replaces a good one)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"cannot write {target}: use a file name ending in {', '.join(FORMATS)}")
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        if suffix == ".csv":
            _flat(df).to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
        elif suffix == ".json":
            df.to_json(tmp, orient="records", date_format="iso", force_ascii=False, indent=1)
        else:
            _need_pyarrow()
            plain = df.copy()
            plain.attrs = {}
            plain.to_parquet(tmp, index=False)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target
