"""The station registry: model, ingest, validation, coordinate systems, storage, nearest lookup."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ._errors import ImportValidationError, Problem, RegistryError, StaleStation, UndoConflict, WriteConflict
from .ingest import read_table
from .validate import PreparedStations, prepare_stations

__all__ = ["ImportValidationError", "Problem", "RegistryError", "StaleStation", "UndoConflict", "WriteConflict",
           "load_stations_file", "import_stations_file"]


def load_stations_file(path: str | Path, *, crs: str = "wgs84", encoding: str = "auto",
                       existing: pd.DataFrame | None = None, skip_bad_rows: bool = False,
                       **options: float) -> PreparedStations:
    """Read and validate a station file (CSV/XLSX/GeoJSON) without writing anything.

    Raises :class:`ImportValidationError` with the per-row report when anything is wrong
    (unless ``skip_bad_rows``; then the bad rows are listed in the result's ``skipped``).
    """
    raw = read_table(path, encoding=encoding)
    return prepare_stations(raw, crs=crs, existing=existing, skip_bad_rows=skip_bad_rows,
                            source=Path(path).name, **options)


def import_stations_file(registry, path: str | Path, *, crs: str = "wgs84", encoding: str = "auto",
                         skip_bad_rows: bool = False, user: str = "", **options: float) -> dict[str, object]:
    """Validate a station file and write it to ``registry`` in one transaction (all or nothing).

    Returns the counts (``created``, ``updated``, ``unchanged``), the ``batch`` id, the
    ``skipped`` problems and ``warnings``.
    """
    raw = read_table(path, encoding=encoding)
    prepared = prepare_stations(raw, crs=crs, existing=registry.stations(), skip_bad_rows=skip_bad_rows,
                                **options)
    result = registry.import_frame(prepared.frame, user=user, note=f"import {Path(path).name}",
                                   default_source=Path(path).name)
    result.update(skipped=prepared.skipped, skipped_rows=prepared.skipped_rows,
                  warnings=prepared.warnings, n_input=prepared.n_input)
    return result
