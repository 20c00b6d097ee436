"""The maps' default area and the province/city lists of the area selectors, for any province.

The default area (a province, city or district adcode) is, in order:

1. the setting ``REGION`` -- an adcode (``"630000"``, ``"630100"``), a sample region name
   (``"guangzhou"``, ``"qinghai"``, see :data:`yizhan.samples.REGIONS`) or an unambiguous Chinese
   place name (``"西宁市"``); an invalid value stops the app at creation (:func:`check_region`);
2. the sample region recorded in ``<home>/sample/REGION`` by ``yizhan demo``;
3. the city (地级) holding most registered stations;
4. :data:`FALLBACK_AREA` (广州市 440100).

Only names and codes are listed here (no geometry), so the pages stay light.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["FALLBACK_AREA", "resolve_region", "check_region", "sample_region", "busiest_city", "default_area",
           "area_info", "area_bounds", "selector_lists", "district_names", "default_parent", "current_area"]

#: The map area when nothing else says where to look.
FALLBACK_AREA = "440100"


def resolve_region(value: object) -> str | None:
    """Adcode of a ``REGION`` value: None for an empty value, the adcode of a sample region name,
    a known adcode itself, or the adcode of an unambiguous Chinese place name.

    Raises ValueError with a bilingual message for anything else.
    """
    from ..geodata import boundaries
    from ..samples import REGIONS

    text = re.sub(r"\s+", "", str(value if value is not None else ""))
    if not text:
        return None
    if text.lower() in REGIONS:
        return REGIONS[text.lower()].adcode
    if re.fullmatch(r"\d{6}", text):
        if boundaries.is_known(text) and text != boundaries.COUNTRY:
            return text
    elif not text.isascii():
        found = boundaries.lookup_adcode(text)
        if found:
            return found
    samples = ", ".join(REGIONS)
    raise ValueError(f"设置 REGION 无效：{text!r}；应为行政区划代码（如 630000、630100）、样例区域名（{samples}）"
                     f"或唯一的地名 / invalid REGION setting {text!r}: expected an adcode (e.g. 630000, 630100), "
                     f"a sample region ({samples}) or an unambiguous place name")


def check_region(config: dict[str, Any]) -> str | None:
    """The adcode of ``config["REGION"]`` (None when unset); ValueError when it is invalid."""
    return resolve_region(config.get("REGION"))


def sample_region(home: str | Path) -> str | None:
    """The map area of the sample recorded in ``<home>/sample/REGION`` (None when there is none or
    it names no known sample region)."""
    from ..samples import REGIONS, sample_files

    path = sample_files(home)["region"]
    try:
        key = path.read_text(encoding="utf-8").strip().lower()
    except (OSError, UnicodeDecodeError):
        return None
    return REGIONS[key].adcode if key in REGIONS else None


def busiest_city(adcodes: pd.Series) -> str | None:
    """The city (地级) adcode holding most of the given station adcodes (ties: the smaller code);
    None when no adcode is a known district or city."""
    from ..geodata.boundaries import city_of

    counts = pd.Series(adcodes, dtype=object).fillna("").astype(str).str.strip().value_counts()
    if counts.empty:
        return None
    cities = pd.Series([city_of(c) or "" for c in counts.index], index=counts.index)
    per_city = counts.groupby(cities.to_numpy()).sum()
    per_city = per_city[per_city.index != ""]
    if per_city.empty:
        return None
    best = per_city[per_city == per_city.max()]
    return str(min(best.index))


def default_area(config: dict[str, Any], stations: pd.DataFrame | None = None) -> str:
    """The maps' default area: ``REGION``, else the recorded sample region, else the city holding
    most of ``stations``, else :data:`FALLBACK_AREA`."""
    configured = resolve_region(config.get("REGION"))
    if configured:
        return configured
    sample = sample_region(config["HOME"]) if config.get("HOME") else None
    if sample:
        return sample
    if stations is not None and len(stations) and "adcode" in stations:
        city = busiest_city(stations["adcode"])
        if city:
            return city
    return FALLBACK_AREA


def area_info(adcode: str) -> dict[str, str]:
    """adcode, name, province, city and district (``""`` when the area is above that level) of a
    known area."""
    from ..geodata import boundaries

    level = boundaries.level_of(adcode) or ""
    return {"adcode": adcode, "name": boundaries.name_of(adcode) or "", "level": level,
            "province": boundaries.province_of(adcode) or "",
            "city": boundaries.city_of(adcode) or "",
            "district": adcode if level == "district" else ""}


@functools.lru_cache(maxsize=64)
def area_bounds(adcode: str) -> list[list[float]] | None:
    """``[[south, west], [north, east]]`` (WGS-84) of an area, from its districts' extents (no
    union is built); None for an unknown code."""
    from ..geodata.boundaries import is_known, load_boundaries

    if not is_known(adcode):
        return None
    frame = load_boundaries("district", within=adcode)
    if frame.empty:
        return None
    west, south, east, north = (float(v) for v in frame.total_bounds)
    return [[south, west], [north, east]]


@functools.lru_cache(maxsize=1)
def selector_lists() -> dict[str, list[list[str]]]:
    """The provinces ``[adcode, name]`` and cities ``[adcode, name, prefix]`` of the area selectors
    (``prefix``: the adcode prefix of every district inside the city; a city's province is its first
    two digits + ``"0000"``), by adcode."""
    from ..geodata.boundaries import area_prefix, units

    provinces = units("province").sort_values("adcode")
    cities = units("city").sort_values("adcode")
    return {"provinces": [[str(a), str(n)] for a, n in zip(provinces["adcode"], provinces["name"])],
            "cities": [[str(a), str(n), area_prefix(str(a))] for a, n in zip(cities["adcode"], cities["name"])]}


def district_names(area: str) -> list[dict[str, str]]:
    """The districts inside an area (adcode, name, parent city), by adcode; empty for an unknown
    area (a province has at most ~200)."""
    from ..geodata.boundaries import is_known, units

    if not area or not is_known(area):
        return []
    frame = units("district", within=area).sort_values("adcode")
    return [{"adcode": str(a), "name": str(n), "parent": str(p)}
            for a, n, p in zip(frame["adcode"], frame["name"], frame["parent_adcode"])]


def default_parent(level: str, area: str) -> str:
    """The ``parent`` of ``/api/boundaries`` when none is given: the area for districts, its
    province for cities and provinces."""
    from ..geodata.boundaries import city_of, level_of, province_of

    if level == "district":
        return (city_of(area) or area) if level_of(area) == "district" else area
    return province_of(area) or area


def current_area(stations: pd.DataFrame | None = None) -> str:
    """:func:`default_area` of the current app; reads the registry's stations (cached per registry
    version) only when neither ``REGION`` nor a sample says where to look."""
    from flask import current_app

    from .services import services

    config = current_app.config
    configured = resolve_region(config.get("REGION"))
    if configured:
        return configured
    sample = sample_region(config["HOME"])
    if sample:
        return sample
    if stations is not None:
        return default_area({}, stations)
    svc = services()
    version = svc.registry_version()
    cache = current_app.extensions.setdefault("yizhan_area", {})
    if cache.get("version") != version:
        cache.update(version=version, area=default_area({}, svc.registry.stations()))
    return cache["area"]
