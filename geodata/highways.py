"""Numbered highways (国道 G…, 省道 S…, 高速) from a local OpenStreetMap file, one row per way and ref.

The reading half of the highway-corridor analysis (:mod:`yizhan.coverage.corridors` is the engine).
pyosmium (``osmium``) is imported lazily inside :func:`read_highway_ways`; nothing is downloaded.

Refs are normalised by :func:`normalize_refs`: Unicode NFKC (full-width ``Ｇ６``/``；`` become
``G6``/``;``), split on ``;`` (the OSM separator), ``,``, ``/`` and ``、`` (Chinese route numbers never
contain them, mappers use them all), every whitespace removed, upper-cased, duplicates dropped.
So ``"g 6"`` -> ``G6`` and ``"G6;G109"`` -> ``G6`` and ``G109`` (the way then belongs to both
corridors).  A ref written with spaces *between* two numbers (``"G6 G109"``) becomes ``G6G109``.

Coordinates are WGS-84 (EPSG:4326) ``lon, lat`` degrees.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .roads import osm_file_format

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["DEFAULT_HIGHWAYS", "WAY_COLUMNS", "UnknownRefError", "normalize_refs", "oneway_of",
           "read_corridor_ways", "read_highway_ways", "select_refs"]

logger = logging.getLogger(__name__)

#: ``highway`` values read by default: the classes national and provincial routes are mapped with.
DEFAULT_HIGHWAYS: tuple[str, ...] = ("motorway", "trunk", "primary")
#: Columns of the frame :func:`read_highway_ways` returns, in order.
WAY_COLUMNS: tuple[str, ...] = ("way_id", "ref", "name", "highway", "oneway", "geometry")

_REF_SPLIT = re.compile(r"[;,/、]")
_SPACE = re.compile(r"\s+")

_ONEWAY_YES = frozenset({"yes", "true", "1"})
_ONEWAY_REVERSE = frozenset({"-1", "reverse"})
_ONEWAY_NO = frozenset({"no", "false", "0", "alternating", "reversible"})
_ROUNDABOUT = frozenset({"roundabout", "circular"})


def normalize_refs(text: object) -> list[str]:
    """The normalised refs in a ``ref`` tag value (see the module docstring); [] for empty/None."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return []
    value = unicodedata.normalize("NFKC", str(text))
    out = (_SPACE.sub("", part).upper() for part in _REF_SPLIT.split(value))
    return list(dict.fromkeys(r for r in out if r))


def oneway_of(tags: Mapping[str, str]) -> int:
    """Travel direction of a way from its OSM tags, following the OSM wiki (key ``oneway``).

    1 = one-way in the way's node order, -1 = one-way against it, 0 = both directions.
    ``oneway=yes/true/1`` -> 1, ``oneway=-1/reverse`` -> -1, ``oneway=no/false/0`` -> 0, and
    ``alternating``/``reversible`` (both directions at different times) -> 0.  Without a
    recognised ``oneway`` value, ``junction=roundabout`` (or ``circular``) and ``highway=motorway``
    imply 1; anything else is two-way.  An explicit ``oneway`` tag always wins (a motorway
    with ``oneway=no`` is two-way).
    """
    value = str(tags.get("oneway", "")).strip().lower()
    if value in _ONEWAY_YES:
        return 1
    if value in _ONEWAY_REVERSE:
        return -1
    if value in _ONEWAY_NO:
        return 0
    if tags.get("junction") in _ROUNDABOUT or tags.get("highway") == "motorway":
        return 1
    return 0


def _empty() -> gpd.GeoDataFrame:
    import geopandas as gpd
    import pandas as pd

    frame = pd.DataFrame({
        "way_id": pd.Series(dtype="int64"), "ref": pd.Series(dtype=object),
        "name": pd.Series(dtype=object), "highway": pd.Series(dtype=object),
        "oneway": pd.Series(dtype="int8")})
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=4326), crs=4326)


def read_highway_ways(
    path: str | Path,
    *,
    refs: str | Iterable[str] | None = None,
    highways: Iterable[str] = DEFAULT_HIGHWAYS,
) -> gpd.GeoDataFrame:
    """The numbered highway ways of a local OSM file (``.osm``/``.osm.xml``/``.xml``/``.osm.pbf``).

    One row per (way, ref) with the columns of :data:`WAY_COLUMNS`: ``way_id`` (int64, the OSM
    id), ``ref`` (normalised, see :func:`normalize_refs`; a way tagged ``ref=G6;G109`` gives two
    rows), ``name`` (``name`` tag or ""), ``highway``, ``oneway`` (int8, see :func:`oneway_of`:
    1 one-way in the geometry's direction, -1 one-way against it, 0 both directions; motorways
    are one-way unless ``oneway=no``) and ``geometry`` (shapely LineString, WGS-84 lon/lat, in
    the way's node order).  A GeoDataFrame in EPSG:4326.

    Kept: ways whose ``highway`` is in ``highways`` and that have a ``ref`` (and, with ``refs``,
    one of those refs, normalised the same way; a single string is one ref list like a tag
    value).  ``area=yes`` ways are skipped.  Ways whose nodes are missing from the file (clipped
    extracts) are split at the gaps into several rows with the same ``way_id`` (so ``way_id`` is
    not unique); runs of fewer than two located nodes are dropped.  The file is streamed once;
    node locations are kept in memory (pyosmium's default index).
    """
    highway_set = frozenset(str(h).strip() for h in ([highways] if isinstance(highways, str) else highways))
    links = sorted(h for h in highway_set if h.endswith("_link"))
    if links:
        raise ValueError(f"匝道（{', '.join(links)}）不属于公路走廊 / _link ways (ramps) are not part "
                         f"of a corridor: {', '.join(links)}")
    wanted: frozenset[str] | None = None
    if refs is not None:
        wanted = frozenset(r for item in ([refs] if isinstance(refs, str) else refs)
                           for r in normalize_refs(item))
    path = Path(path)
    fmt = osm_file_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"找不到道路文件 / road file not found: {path}")
    if not highway_set or (wanted is not None and not wanted):
        return _empty()

    import osmium

    way_ids: list[int] = []
    refs_out: list[str] = []
    names: list[str] = []
    kinds: list[str] = []
    oneways: list[int] = []
    coords: list[tuple[float, float]] = []
    lengths: list[int] = []          # vertices per output row
    n_incomplete = 0
    source = osmium.io.File(str(path), "pbf" if fmt == "pbf" else "osm")
    processor = (osmium.FileProcessor(source).with_locations()
                 .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
                 .with_filter(osmium.filter.TagFilter(*(("highway", h) for h in sorted(highway_set))))
                 .with_filter(osmium.filter.KeyFilter("ref")))
    for way in processor:
        tags = {t.k: t.v for t in way.tags}
        if tags.get("area") == "yes":
            continue
        way_refs = normalize_refs(tags.get("ref"))
        if wanted is not None:
            way_refs = [r for r in way_refs if r in wanted]
        if not way_refs:
            continue
        runs: list[list[tuple[float, float]]] = [[]]
        missing = False
        for nd in way.nodes:
            loc = nd.location
            if loc.valid():
                runs[-1].append((loc.lon, loc.lat))
            else:
                missing = True
                if runs[-1]:
                    runs.append([])
        n_incomplete += missing
        direction = oneway_of(tags)
        for run in runs:
            if len(run) < 2:
                continue
            for ref in way_refs:
                way_ids.append(way.id)
                refs_out.append(ref)
                names.append(tags.get("name", "").strip())
                kinds.append(tags["highway"])
                oneways.append(direction)
                coords.extend(run)
                lengths.append(len(run))
    if n_incomplete:
        logger.warning("%s: %d highway ways reference nodes missing from the file; split at the gaps",
                       path.name, n_incomplete)
    if not way_ids:
        return _empty()

    import geopandas as gpd
    import pandas as pd
    import shapely

    index = np.repeat(np.arange(len(lengths)), lengths)
    lines = shapely.linestrings(np.asarray(coords, dtype=np.float64), indices=index)
    frame = pd.DataFrame({
        "way_id": np.asarray(way_ids, dtype=np.int64), "ref": pd.Series(refs_out, dtype=object),
        "name": pd.Series(names, dtype=object), "highway": pd.Series(kinds, dtype=object),
        "oneway": np.asarray(oneways, dtype=np.int8)})
    out = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(lines, crs=4326), crs=4326)
    logger.debug("%s: %d highway way rows, %d refs", path.name, len(out), out["ref"].nunique())
    return out


class UnknownRefError(ValueError):
    """Refs asked for that normalise to nothing or have no way in the highway file."""


def select_refs(ways: gpd.GeoDataFrame, refs: str | Iterable[str] | None) -> gpd.GeoDataFrame:
    """The rows of ``ways`` (a :func:`read_highway_ways` frame) whose ``ref`` is one of ``refs``.

    ``refs`` are normalised like tag values (``"g6;G109"`` is G6 and G109); ``None`` keeps every
    row.  :class:`UnknownRefError` (a ValueError, bilingual) when ``refs`` normalise to nothing or
    name a ref without any way in ``ways``.
    """
    if refs is None:
        return ways
    wanted = list(dict.fromkeys(r for item in ([refs] if isinstance(refs, str) else refs)
                                for r in normalize_refs(item)))
    if not wanted:
        raise UnknownRefError("没有给出公路编号 / no highway ref given")
    present = ways["ref"].isin(wanted).to_numpy()
    absent = sorted(set(wanted) - set(ways["ref"][present]))
    if absent:
        listed = ", ".join(absent[:20]) + (" …" if len(absent) > 20 else "")
        raise UnknownRefError(f"道路文件中没有这些编号的公路（{'/'.join(DEFAULT_HIGHWAYS)}）：{listed} / no "
                              f"{'/'.join(DEFAULT_HIGHWAYS)} way with ref(s) {listed} in the highway file")
    return ways[present].reset_index(drop=True)


def read_corridor_ways(path: str | Path, *, refs: str | Iterable[str] | None = None) -> gpd.GeoDataFrame:
    """:func:`read_highway_ways` of :data:`DEFAULT_HIGHWAYS` for the corridor analysis, with
    bilingual errors: FileNotFoundError for a missing file, ValueError for a file that is not OSM
    (XML or PBF; pyosmium's parse error is kept in the message), a wrong suffix, or a ref of
    ``refs`` without any way in the file (:class:`UnknownRefError`, see :func:`select_refs`)."""
    name = Path(path).name
    try:
        ways = read_highway_ways(path, refs=refs)
    except RuntimeError as exc:          # pyosmium: XML/PBF parse errors
        raise ValueError(f"无法读取 OSM 文件 {name}：{exc} / not a readable OSM file {name}: {exc}") from None
    return select_refs(ways, refs)
