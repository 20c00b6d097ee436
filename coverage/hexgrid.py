"""H3 hexagon grid helpers, vectorised with h3ronpy (Arrow) beside h3-py.

This is the only module that knows h3's ``(lat, lng)`` argument order: everything else in yizhan
passes ``lon, lat``.  Cells are ``uint64`` numpy arrays inside the engine and 15-character hex
strings (``h3`` column) at every public boundary, as h3-py v4 recommends.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import ArrayLike, NDArray

MIN_RES, MAX_RES = 7, 11
DEFAULT_RES = 9


def check_res(res: int) -> int:
    """Validate an analysis resolution (7-11); bilingual ValueError otherwise."""
    if not isinstance(res, (int, np.integer)) or not MIN_RES <= int(res) <= MAX_RES:
        raise ValueError(f"H3 分辨率应为 {MIN_RES} 到 {MAX_RES} / H3 resolution must be {MIN_RES}..{MAX_RES}, got {res!r}")
    return int(res)


def _np(arr) -> np.ndarray:  # noqa: ANN001
    return pa.array(arr).to_numpy(zero_copy_only=False)


def points_to_cells(lon: ArrayLike, lat: ArrayLike, res: int) -> NDArray[np.uint64]:
    """H3 cell (uint64) of each WGS-84 point at resolution ``res``; 0 where lon/lat are not finite.

    Large inputs are split over the machine's cores (h3ronpy releases the GIL).
    """
    from h3ronpy.vector import coordinates_to_cells

    lon_a = np.ascontiguousarray(lon, dtype=np.float64)
    lat_a = np.ascontiguousarray(lat, dtype=np.float64)
    out = np.zeros(len(lon_a), dtype=np.uint64)
    ok = np.isfinite(lon_a) & np.isfinite(lat_a)
    if not ok.any():
        return out
    if not ok.all():
        out[ok] = points_to_cells(lon_a[ok], lat_a[ok], res)
        return out

    def part(sl: slice) -> None:
        out[sl] = _np(coordinates_to_cells(lat_a[sl], lon_a[sl], int(res)))

    n = len(lon_a)
    workers = min(os.cpu_count() or 1, 8)
    if n < 500_000 or workers == 1:
        part(slice(0, n))
        return out
    bounds = np.linspace(0, n, workers * 4 + 1).astype(int)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(part, [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]))
    return out


def cells_to_lonlat(cells: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Centres (h3 ``cell_to_latlng``) of cells as ``(lon, lat)`` arrays."""
    from h3ronpy.vector import cells_to_coordinates

    arr = np.asarray(cells, dtype=np.uint64)
    if len(arr) == 0:
        return np.empty(0), np.empty(0)
    batch = pa.record_batch(cells_to_coordinates(pa.array(arr)))
    return (batch.column("lng").to_numpy(zero_copy_only=False),
            batch.column("lat").to_numpy(zero_copy_only=False))


def cells_to_str(cells: ArrayLike) -> NDArray[np.object_]:
    """15-character hex ids (``'89411c...fff'``) of uint64 cells."""
    from h3ronpy import cells_to_string

    arr = np.asarray(cells, dtype=np.uint64)
    if len(arr) == 0:
        return np.empty(0, dtype=object)
    return pa.array(cells_to_string(pa.array(arr))).to_numpy(zero_copy_only=False).astype(object)


def cells_to_str_column(cells: ArrayLike) -> pd.Series:
    """The hex ids of uint64 cells as a pandas string column (Arrow-backed: about 20 bytes a cell
    instead of a Python string object each; what pandas makes of a column of strings anyway)."""
    from h3ronpy import cells_to_string

    arr = np.asarray(cells, dtype=np.uint64)
    if len(arr) == 0:
        return pa.array([], type=pa.large_string()).to_pandas()
    return pa.array(cells_to_string(pa.array(arr))).to_pandas()


def str_to_cells(ids: ArrayLike) -> NDArray[np.uint64]:
    """uint64 cells from hex id strings; raises ValueError (bilingual) naming the first invalid id."""
    from h3ronpy import cells_parse

    values = np.asarray(ids, dtype=object)
    if len(values) == 0:
        return np.empty(0, dtype=np.uint64)
    text = pa.array([str(v).strip() for v in values], type=pa.string()) if values.dtype == object \
        else pa.array(values.astype(str))
    parsed = pa.array(cells_parse(text, set_failing_to_invalid=True))
    bad = np.flatnonzero(parsed.is_null().to_numpy(zero_copy_only=False))
    if len(bad):
        i = int(bad[0])
        raise ValueError(f"第 {i + 1} 个 H3 编号无效：{values[i]!r}（共 {len(bad)} 个无效）/ invalid H3 cell id at "
                         f"position {i + 1}: {values[i]!r} ({len(bad)} invalid in all)")
    return parsed.to_numpy(zero_copy_only=False).astype(np.uint64)


def pack_bits(res: int) -> int:
    """How many low bits of a res-``res`` cell index are unused (finer digits, all set to 7)."""
    return 3 * (15 - int(res))


def cell_resolution(cells: ArrayLike) -> NDArray[np.int64]:
    """Resolution of each cell (bits 52-55 of the index)."""
    arr = np.asarray(cells, dtype=np.uint64)
    return ((arr >> np.uint64(52)) & np.uint64(0xF)).astype(np.int64)


def parents(cells: ArrayLike, res: int) -> NDArray[np.uint64]:
    """Parent (coarser) cell of each cell at resolution ``res`` (same length as the input)."""
    arr = np.asarray(cells, dtype=np.uint64)
    if len(arr) == 0:
        return arr
    cur = cell_resolution(arr[:1])[0]
    if res > cur:
        raise ValueError("parents() needs a coarser resolution")
    # H3 index layout: resolution in bits 52-55, then 3 bits per resolution digit (1..15),
    # unused digits set to 7.  Setting the resolution and filling the finer digits with 7 is
    # exactly h3's cell_to_parent, without a per-cell call.
    out = arr & ~np.uint64(0xF << 52) | np.uint64(res << 52)
    fill = np.uint64(0)
    for r in range(res + 1, 16):
        fill |= np.uint64(7) << np.uint64((15 - r) * 3)
    return out | fill


def neighbours(cells: ArrayLike) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:
    """Grid neighbours (k = 1 ring, without the cell itself) of many cells at once.

    Returns ``(neighbour, origin)``: flat arrays where ``origin[i]`` is the position in ``cells``
    whose neighbour is ``neighbour[i]``.
    """
    from h3ronpy import grid_disk

    arr = np.ascontiguousarray(cells, dtype=np.uint64)
    if len(arr) == 0:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    disks = pa.array(grid_disk(pa.array(arr), 1))
    offsets = disks.offsets.to_numpy()
    values = disks.values.to_numpy(zero_copy_only=False).astype(np.uint64)
    origin = np.repeat(np.arange(len(arr)), np.diff(offsets))
    keep = values != arr[origin]
    return values[keep], origin[keep]


def cell_area_km2(cells: ArrayLike) -> NDArray[np.float64]:
    """Exact area of each cell in km²."""
    from h3ronpy import cells_area_km2

    arr = np.asarray(cells, dtype=np.uint64)
    if len(arr) == 0:
        return np.empty(0)
    return _np(cells_area_km2(pa.array(arr))).astype(float)


def cell_polygons(cells: ArrayLike):  # noqa: ANN201
    """Shapely hexagons (lon/lat, WGS-84) of the cells, as a numpy object array."""
    import shapely
    from h3ronpy.vector import cells_to_wkb_polygons

    arr = np.asarray(cells, dtype=np.uint64)
    if len(arr) == 0:
        return np.empty(0, dtype=object)
    wkb = pa.array(cells_to_wkb_polygons(pa.array(arr))).to_numpy(zero_copy_only=False)
    return shapely.from_wkb(wkb)


def spacing_m(res: int) -> float:
    """Mean centre-to-centre distance between neighbouring cells at ``res`` (metres).

    Computed from h3's average hexagon edge length (``sqrt(3) * edge``), used to turn grid steps
    into metres for the grid metric.
    """
    import h3

    return float(np.sqrt(3.0) * h3.average_hexagon_edge_length(res, unit="m"))
