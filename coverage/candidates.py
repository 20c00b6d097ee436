"""Candidate sites for new rest stations: OpenStreetMap POIs and user lists.

Provincial plans ask unions to build stations on existing social resources.  This module finds
those resources in a local OSM file (``.osm`` XML or ``.osm.pbf``; nothing is downloaded) and
labels each with our host vocabulary (:data:`yizhan.stations.model.HOSTS`):

==============  ===============================================================================
host            OSM tags
==============  ===============================================================================
党群服务中心    name contains 党群服务; ``amenity=community_centre``; ``office=government`` named
                like a community office (社区, 街道, 居委, 村委, 党群)
加油站          ``amenity=fuel``
银行网点        ``amenity=bank``
快递分拣站点    ``amenity=post_office``/``post_depot``, ``office=courier``, ``shop=courier``,
                name contains 快递, 速递 or 菜鸟驿站
商超            ``shop=supermarket``/``convenience``/``mall``/``department_store``
物流园区        ``industrial=logistics``; ``landuse=industrial``, ``building=warehouse`` or
                ``building=industrial`` named with 物流
==============  ===============================================================================

The first matching row wins (a fuel station with a shop is a 加油站).  Nodes are taken as they
are; ways by their centroid (polygon centroid for closed ways, or a point on the surface when
the centroid falls outside; line centroid for open ways); multipolygon relations through
pyosmium's area assembly.  Coordinates are WGS-84 ``lon, lat``.

User lists (CSV in UTF-8/GBK, XLSX, GeoJSON) are read by :func:`read_candidates` through
:func:`yizhan.stations.ingest.read_table`, with every bad row reported at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

__all__ = ["CANDIDATE_HOSTS", "CANDIDATE_COLUMNS", "classify_host", "candidates_from_osm", "read_candidates"]

#: The hosts that OSM can tell us about, in the order they are tested.
CANDIDATE_HOSTS: tuple[str, ...] = ("党群服务中心", "加油站", "银行网点", "快递分拣站点", "商超", "物流园区")
CANDIDATE_COLUMNS: tuple[str, ...] = ("lon", "lat", "name", "host", "osm_type", "osm_id", "osm_tag")

_SHOPS = ("supermarket", "convenience", "mall", "department_store")
_COURIER_NAMES = ("快递", "速递", "菜鸟驿站")
_COMMUNITY_NAMES = ("社区", "街道", "居委", "村委", "党群")
_OSM_KEYS = ("amenity", "shop", "office", "industrial", "landuse", "building", "name")


def _name(tags: Mapping[str, str]) -> str:
    for key in ("name", "name:zh", "name:zh-Hans", "brand", "operator"):
        value = tags.get(key)
        if value:
            return str(value).strip()
    return ""


def classify_host(tags: Mapping[str, str]) -> tuple[str, str] | None:
    """``(host, matching tag)`` for an OSM object's tags, or None when it is no candidate host.

    >>> classify_host({"amenity": "bank", "name": "中国工商银行"})
    ('银行网点', 'amenity=bank')
    """
    name = str(tags.get("name", "") or tags.get("name:zh", ""))
    amenity, shop, office = tags.get("amenity"), tags.get("shop"), tags.get("office")
    if amenity == "community_centre":
        return "党群服务中心", "amenity=community_centre"
    if office == "government" and any(word in name for word in _COMMUNITY_NAMES):
        return "党群服务中心", "office=government"
    if "党群服务" in name:
        return "党群服务中心", "name~党群服务"
    if amenity == "fuel":
        return "加油站", "amenity=fuel"
    if amenity == "bank":
        return "银行网点", "amenity=bank"
    if amenity in ("post_office", "post_depot"):
        return "快递分拣站点", f"amenity={amenity}"
    if office == "courier" or shop == "courier":
        return "快递分拣站点", "office=courier" if office == "courier" else "shop=courier"
    if shop in _SHOPS:
        return "商超", f"shop={shop}"
    if tags.get("industrial") == "logistics":
        return "物流园区", "industrial=logistics"
    if "物流" in name:
        if tags.get("landuse") == "industrial":
            return "物流园区", "landuse=industrial"
        if tags.get("building") in ("warehouse", "industrial"):
            return "物流园区", f"building={tags.get('building')}"
    if any(word in name for word in _COURIER_NAMES):
        return "快递分拣站点", "name~快递"
    return None


def _kinds(kinds: Iterable[str] | None) -> set[str]:
    if kinds is None:
        return set(CANDIDATE_HOSTS)
    from ..stations.model import normalize_host

    if isinstance(kinds, str):
        kinds = [kinds]
    wanted = {normalize_host(k) for k in kinds}
    unknown = sorted(wanted - set(CANDIDATE_HOSTS))
    if unknown:
        raise ValueError(f"未知候选点类型 {unknown}，可选 {'、'.join(CANDIDATE_HOSTS)} / unknown candidate kinds "
                         f"{unknown}; expected some of {', '.join(CANDIDATE_HOSTS)}")
    return wanted


def _way_point(coords: list[tuple[float, float]], closed: bool) -> tuple[float, float] | None:
    import shapely

    if not coords:
        return None
    if closed and len(coords) >= 4:
        polygon = shapely.Polygon(coords)
        if polygon.is_valid and polygon.area > 0:
            point = polygon.centroid
            if not polygon.contains(point):
                point = polygon.point_on_surface()
            return point.x, point.y
    if len(coords) >= 2:
        line = shapely.LineString(coords)
        if line.length > 0:
            point = line.centroid
            return point.x, point.y
    arr = np.asarray(coords, dtype=float)
    return float(arr[:, 0].mean()), float(arr[:, 1].mean())


def _file(path: Path):  # noqa: ANN202
    import osmium

    name = path.name.lower()
    if name.endswith(".pbf"):
        return osmium.io.File(str(path), "pbf")
    if name.endswith((".osm", ".xml")):
        return osmium.io.File(str(path), "osm")
    return osmium.io.File(str(path))            # let libosmium guess (.osm.bz2, .o5m ...)


def candidates_from_osm(path: str | Path, *, kinds: Iterable[str] | None = None) -> pd.DataFrame:
    """Candidate sites from a local OSM file (``.osm`` XML or ``.osm.pbf``).

    Returns a frame with columns lon, lat (WGS-84 degrees), name (``name``, else ``name:zh``,
    ``brand``, ``operator``; "" when unnamed), host (see the module table), osm_type (node, way,
    relation), osm_id and osm_tag (the tag that decided the host), sorted by osm_type and osm_id.
    ``kinds`` keeps only some hosts (names from :data:`CANDIDATE_HOSTS` or their aliases).
    """
    try:
        import osmium
    except ImportError as exc:  # pragma: no cover - osmium is a dependency
        raise ImportError("读取 OSM 文件需要 osmium（pip install osmium）/ reading OSM files needs pyosmium") from exc

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"找不到 OSM 文件 / OSM file not found: {path}")
    wanted = _kinds(kinds)
    key_filter = osmium.filter.KeyFilter(*_OSM_KEYS)
    processor = (osmium.FileProcessor(_file(path)).with_locations()
                 .with_areas(osmium.filter.KeyFilter(*_OSM_KEYS)).with_filter(key_filter))
    wkb = osmium.geom.WKBFactory()
    rows: list[tuple] = []
    for obj in processor:
        tags = dict(obj.tags)
        found = classify_host(tags)
        if found is None or found[0] not in wanted:
            continue
        host, tag = found
        if obj.is_node():
            if not obj.location.valid():
                continue
            rows.append((obj.location.lon, obj.location.lat, _name(tags), host, "node", obj.id, tag))
        elif obj.is_way():
            coords = [(n.lon, n.lat) for n in obj.nodes if n.location.valid()]
            point = _way_point(coords, obj.is_closed())
            if point is not None:
                rows.append((point[0], point[1], _name(tags), host, "way", obj.id, tag))
        elif obj.is_area() and not obj.from_way():
            import shapely

            try:
                geometry = shapely.from_wkb(wkb.create_multipolygon(obj))
            except (RuntimeError, shapely.errors.GEOSException):  # broken multipolygon
                log.debug("skipping relation %s: no valid geometry", obj.orig_id())
                continue
            point = geometry.centroid if geometry.contains(geometry.centroid) else geometry.point_on_surface()
            rows.append((point.x, point.y, _name(tags), host, "relation", obj.orig_id(), tag))
    frame = pd.DataFrame(rows, columns=list(CANDIDATE_COLUMNS))
    frame = frame.astype({"lon": float, "lat": float, "name": object, "host": object, "osm_type": object,
                          "osm_id": np.int64, "osm_tag": object})
    order = frame["osm_type"].map({"node": 0, "way": 1, "relation": 2})
    frame = frame.assign(_order=order).sort_values(["_order", "osm_id"], kind="stable")
    log.info("%d candidate sites from %s", len(frame), path.name)
    return frame.drop(columns="_order").reset_index(drop=True)


def read_candidates(path: str | Path, *, crs: str = "wgs84", encoding: str = "auto") -> pd.DataFrame:
    """Candidate sites from a user table (CSV in UTF-8/GBK, XLSX or GeoJSON).

    Needs ``lon``/``lat`` (or 经度/纬度, lng ...); ``name``/名称 and ``host``/依托单位 are optional
    (hosts are normalised to our vocabulary when recognised).  Coordinates given in ``crs``
    (wgs84, gcj02 or bd09) are returned in WGS-84.  Returns columns lon, lat, name, host, row (the
    row number as a spreadsheet shows it).  Every bad row is reported at once in an
    :class:`~yizhan.stations._errors.ImportValidationError` (row, column, Chinese and English).
    """
    from ..geodata import crs as crs_mod
    from ..stations._errors import ImportValidationError, Problem
    from ..stations.ingest import read_table
    from ..stations.model import normalize_host

    crs_name = crs_mod.normalize_crs(crs)
    raw = read_table(path, encoding=encoding)
    frame = raw.frame
    missing = [c for c in ("lon", "lat") if c not in frame.columns]
    if missing:
        raise ImportValidationError([Problem(None, c, "missing_column", f"缺少“{'经度' if c == 'lon' else '纬度'}”列",
                                             f"missing column '{c}'") for c in missing])
    if len(frame) == 0:
        raise ImportValidationError([Problem(None, None, "empty", "文件没有数据行", "the file has no data rows")])
    rows = raw.row_numbers().to_numpy()
    problems: list[Problem] = []
    text = {c: frame[c].fillna("").astype(str).str.normalize("NFKC").str.replace("°", "", regex=False).str.strip()
            for c in ("lon", "lat")}
    values = {c: pd.to_numeric(text[c], errors="coerce").to_numpy(dtype=float) for c in ("lon", "lat")}
    bad = np.zeros(len(frame), dtype=bool)
    for c in ("lon", "lat"):
        header = raw.header(c)
        for i in np.flatnonzero((text[c] == "").to_numpy()):
            problems.append(Problem(int(rows[i]), header, "missing_coord", "缺少坐标", "missing coordinate"))
            bad[i] = True
        for i in np.flatnonzero(((text[c] != "") & ~np.isfinite(values[c])).to_numpy()):
            problems.append(Problem(int(rows[i]), header, "not_number", "坐标不是有限数字",
                                    "coordinate is not a finite number", text[c].iloc[i][:80]))
            bad[i] = True
    lon, lat = values["lon"], values["lat"]
    finite = np.isfinite(lon) & np.isfinite(lat)
    swapped = finite & (np.abs(lat) > 90) & (np.abs(lon) <= 90)
    out_of_range = finite & ~swapped & ((np.abs(lon) > 180) | (np.abs(lat) > 90))
    for i in np.flatnonzero(swapped):
        problems.append(Problem(int(rows[i]), raw.header("lat"), "swapped", "经度和纬度可能填反了（纬度超出 ±90）",
                                "latitude and longitude look swapped (latitude beyond ±90)", text["lat"].iloc[i]))
    for i in np.flatnonzero(out_of_range):
        problems.append(Problem(int(rows[i]), raw.header("lon"), "out_of_range", "坐标超出范围（经度 ±180，纬度 ±90）",
                                "coordinate out of range (lon ±180, lat ±90)", text["lon"].iloc[i]))
    bad |= swapped | out_of_range
    if problems:
        problems.sort(key=lambda p: (p.row or 0))
        raise ImportValidationError(problems, n_rows=len(frame))
    wlon, wlat = crs_mod.to_wgs84(lon, lat, crs_name)
    names = frame["name"].astype(str).str.strip() if "name" in frame.columns else pd.Series([""] * len(frame))
    hosts = frame["host"].astype(str).map(normalize_host) if "host" in frame.columns else pd.Series([""] * len(frame))
    return pd.DataFrame({"lon": np.asarray(wlon, dtype=float), "lat": np.asarray(wlat, dtype=float),
                         "name": names.to_numpy(dtype=object), "host": hosts.to_numpy(dtype=object),
                         "row": rows.astype(np.int64)})
