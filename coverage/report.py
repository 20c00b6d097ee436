"""Reports for a province, city or district (in Chinese): key figures, a map, charts, tables — HTML and PDF.

>>> from yizhan.coverage.report import build_report                      # doctest: +SKIP
>>> report = build_report(registry.stations(), demand, area="440100")
>>> html = report.html()          # one self-contained page: images as data: URIs, CSS inline
>>> report.pdf("广州.pdf")         # Chromium's print-to-PDF (A4, fonts embedded)

Every coverage figure comes from the analysis (:func:`yizhan.coverage.analyze`) and its per-district
summary (:func:`yizhan.coverage.summary.district_summary`), exactly as ``yizhan analyze`` writes them
to ``summary.xlsx``: the analysis runs on all the demand given (stations and demand outside the
area count, so a blind zone crossing the area's border is one zone), and the report reads the
area's row (covered share, 空白点, 盲区, stations used by type), the rows of the units one level
below (cities of a province, districts of a city), and the blank spots, blind zones and districts
without a station that lie in (or touch) the area.  Coverage by hour and the plan year by year
are computed on the demand cells inside the area only (a cell's distance does not depend on the
other cells, so these figures are exact for the area).

The demand is an argument (a :class:`~yizhan.coverage.demand.DemandGrid` or a frame of hotspot
points from :func:`~yizhan.coverage.read_hotspots`), so a report can be made from any hotspot
source; :func:`report_from_registry` adds the registry's proposals, this year's new stations and
the configured annual targets.  Charts and the map are drawn with matplotlib (Agg, no tiles, no
network) in Noto Sans CJK.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from ..stations import model
from .analysis import CoverageResult, analyze, coverage_by_hour, measure, select_stations, threshold_for
from .demand import DemandGrid, aggregate

__all__ = ["Report", "ReportError", "build_report", "report_from_registry", "resolve_area", "station_creations",
           "find_chromium", "DISTANCE_CLASSES"]

#: Distance classes of the map and the distance chart, as multiples of the coverage threshold
#: (upper bounds; beyond the last one, or without a reachable station, is the last class).
DISTANCE_CLASSES: tuple[float, ...] = (0.5, 1.0, 2.0)
CLASS_COLOURS: tuple[str, ...] = ("#1a9850", "#a6d96a", "#fdae61", "#d73027")
TYPE_COLOURS: dict[str, str] = dict(zip(model.STATION_TYPES, (
    "#1f4e9c", "#7b3294", "#8c510a", "#e7298a", "#01665e", "#222222")))
LEVEL_ZH = {"province": "省", "city": "市", "district": "区县"}
#: Above this many demand cells the map draws their parents (coarser hexagons), each in the
#: class of its child with the most demand.
MAP_MAX_CELLS = 60_000
MAP_DPI = 170
TOP_BLANK_SPOTS = 20
TOP_BLIND_ZONES = 10
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "report.html"
_DRAW_LOCK = threading.Lock()


class ReportError(ValueError):
    """A report cannot be made: unknown area, no Chromium for the PDF, a bad option (bilingual)."""


# -- the area ---------------------------------------------------------------------------------------

def resolve_area(area: str) -> str:
    """The adcode of a province, city or district given as an adcode (``"440100"``) or an
    unambiguous Chinese name (``"广州市"``, ``"天河区"``); ReportError (bilingual) otherwise."""
    from ..geodata.boundaries import is_known, lookup_adcode

    text = str(area or "").strip()
    if text.isdigit():
        if len(text) == 6 and is_known(text) and text != "000000":
            return text
        raise ReportError(f"未知的行政区划代码 {text!r}（应为省、市或区县的 6 位代码，如 440100）/ unknown area "
                          f"adcode {text!r} (expected the 6-digit code of a province, city or district, e.g. 440100)")
    code = lookup_adcode(text) if text else None
    if code is None:
        raise ReportError(f"未知或有歧义的地区 {text!r}（请给出 6 位行政区划代码）/ unknown or ambiguous area {text!r} "
                          "(give its 6-digit adcode)")
    return code


def _inside(codes: Any, area: str) -> np.ndarray:
    from ..geodata.boundaries import in_area

    arr = np.asarray(pd.Series(codes, dtype=object).fillna("").astype(str).to_numpy(), dtype=object)
    return in_area(arr, area) if len(arr) else np.zeros(0, dtype=bool)


def _area_demand(demand: DemandGrid, area: str) -> DemandGrid:
    """The demand grid cut to the cells whose centre lies in ``area`` (as the analysis places cells)."""
    from .analysis import cell_places

    t = demand.table
    cells = t["cell"].to_numpy(dtype=np.uint64)
    uniq, inverse = np.unique(cells, return_inverse=True)
    keep = _inside(cell_places(uniq)["adcode"], area)[inverse] if len(uniq) else np.zeros(0, dtype=bool)
    sub = t[keep].reset_index(drop=True)
    return DemandGrid(table=sub, res=demand.res, n_points=int(sub["points"].sum()), has_time=demand.has_time,
                      has_group=demand.has_group)


# -- registry activity ------------------------------------------------------------------------------

def _year_window_utc(year: int, tz: str) -> tuple[datetime, datetime]:
    """The calendar year in ``tz`` as naive UTC bounds (how the registry stores its times)."""
    zone = ZoneInfo(tz)
    start = datetime(year, 1, 1, tzinfo=zone).astimezone(timezone.utc).replace(tzinfo=None)
    end = datetime(year + 1, 1, 1, tzinfo=zone).astimezone(timezone.utc).replace(tzinfo=None)
    return start, end


def station_creations(registry: Any, *, year: int, tz: str = "Asia/Shanghai") -> pd.DataFrame:
    """Stations created in calendar ``year`` (in ``tz``) according to the registry history
    (``create`` entries): station_id, at (naive UTC), type, adcode, status — one row per station."""
    from sqlalchemy import select

    from ..stations.storage import HistoryRow

    start, end = _year_window_utc(year, tz)
    stmt = (select(HistoryRow.station_id, HistoryRow.at, HistoryRow.after)
            .where(HistoryRow.action == "create", HistoryRow.at >= start, HistoryRow.at < end)
            .order_by(HistoryRow.id))
    with registry.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    out = []
    for station_id, at, after in rows:
        values = json.loads(after) if after else {}
        out.append({"station_id": station_id, "at": at, "type": values.get("type") or "",
                    "adcode": str(values.get("adcode") or ""), "status": values.get("status") or ""})
    frame = pd.DataFrame(out, columns=["station_id", "at", "type", "adcode", "status"])
    return frame.drop_duplicates("station_id", keep="first").reset_index(drop=True)


def _in_year(values: pd.Series, year: int, tz: str) -> np.ndarray:
    """True where a naive-UTC time (datetime or ISO text) falls in calendar ``year`` of ``tz``."""
    if values is None or len(values) == 0:
        return np.zeros(0 if values is None else len(values), dtype=bool)
    t = pd.to_datetime(values, errors="coerce", utc=True)
    local = t.dt.tz_convert(tz)
    return (local.dt.year == year).fillna(False).to_numpy(dtype=bool)


# -- the report -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Report:
    """A report: its figures and tables (plain values and frames), its images (PNG bytes) and the
    analysis it came from.  :meth:`html` renders one self-contained page, :meth:`pdf` prints it."""

    area: str
    area_name: str
    level: str
    generated_at: datetime
    figures: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    images: dict[str, bytes]
    params: list[tuple[str, str]]
    notes: list[str]
    result: CoverageResult = field(repr=False)
    #: with ``compare_with``: the :class:`~yizhan.coverage.compare.Comparison` (then -> this report's data)
    comparison: Any = field(default=None, repr=False)

    def context(self) -> dict[str, Any]:
        """What the template gets (escaped by Jinja2's autoescaping)."""
        return {"r": self, "f": self.figures, "t": {k: v.to_dict("records") for k, v in self.tables.items()},
                "img": {k: "data:image/png;base64," + base64.b64encode(v).decode("ascii")
                        for k, v in self.images.items()}}

    def html(self, *, embed_fonts: bool = True) -> str:
        """The report as one HTML page with everything inline (no URL to load).

        With ``embed_fonts`` the page carries a subset of Noto Sans CJK SC (regular and bold, only
        the characters it uses, ~60 KB each) as ``data:`` fonts: it looks the same on any machine,
        and the PDF's text copies and searches as the characters written (with the system font,
        Chromium maps some glyphs back to look-alike Kangxi radicals: 广 -> ⼴)."""
        import jinja2

        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE.parent)), autoescape=True,
                                 undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        env.filters.update(pct=_pct, num=_num, metres=_metres, signed_pp=_signed_pp)
        template = env.get_template(TEMPLATE.name)
        page = template.render(**self.context(), font_css="")
        if not embed_fonts:
            return page
        css = font_css("".join(sorted(set(_DATA_URI.sub("", page)))))
        return template.render(**self.context(), font_css=css) if css else page

    def pdf(self, path: str | Path, *, chromium: str | None = None, timeout_s: float = 180.0) -> Path:
        """Print the HTML to an A4 PDF with headless Chromium (fonts embedded); returns the path.
        ReportError (bilingual) when Chromium is missing or fails."""
        return html_to_pdf(self.html(), path, chromium=chromium, timeout_s=timeout_s)

    def write(self, path: str | Path, **options: Any) -> Path:
        """Write ``.html`` or ``.pdf`` (by the suffix); returns the path."""
        p = Path(path)
        suffix = p.suffix.lower()
        if suffix in (".html", ".htm"):
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(self.html(), encoding="utf-8")
            return p
        if suffix == ".pdf":
            return self.pdf(p, **options)
        raise ReportError(f"报告文件应以 .pdf 或 .html 结尾：{p.name} / the report file must end in .pdf or .html: {p.name}")


def build_report(stations: pd.DataFrame, demand: DemandGrid | pd.DataFrame, *, area: str, group: str | None = None,
                 metric: str = "great-circle", res: int | None = None, threshold_m: float | None = None,
                 thresholds: dict[str, float] | None = None, network: Any = None, floor: float = 0.0,
                 result: CoverageResult | None = None, proposals: pd.DataFrame | None = None,
                 created: pd.DataFrame | None = None, annual_targets: dict[str, dict[str, Any]] | None = None,
                 years: int | None = None, per_year: int | Sequence[int] | None = None, first_year: int | None = None,
                 source: str | None = None, now: datetime | None = None, tz: str = "Asia/Shanghai",
                 hourly: bool = True, compare_with: CoverageResult | DemandGrid | pd.DataFrame | None = None,
                 compare_name: str | None = None) -> Report:
    """The report of ``area`` (a province, city or district adcode or name).

    ``stations`` is a registry frame (every status: the cover counts them by type and status; the
    analysis uses those in service).  ``demand`` is a :class:`DemandGrid` or a frame of hotspot
    points (aggregated at ``res``, default 9).  ``result`` reuses an analysis of that demand made
    with the same options (e.g. a cached one); otherwise :func:`~yizhan.coverage.analyze` runs.
    ``proposals`` is a frame like :func:`yizhan.stations.proposals.listing`'s, ``created`` one like
    :func:`station_creations`' (stations created this year); ``annual_targets`` the checked
    ``ANNUAL_TARGETS`` setting.  ``years`` with ``per_year`` (one count or one per year) adds the
    plan year by year (greedy, candidates at the uncovered cells of the area).  ``now`` (default:
    now in ``tz``) decides "this year".  ``source`` names the hotspot data in the parameters.

    ``compare_with`` (earlier hotspots: a DemandGrid, a frame of points, or an analysis made with
    the same options) adds the section "变化 / Change since ``compare_name``": the covered share of
    the area and of its units then and now, the cells that lost or gained coverage, the new blind
    zones and a map of the changed cells (:func:`yizhan.coverage.compare.compare_results`; demand
    given as hotspots is analysed with these stations and options).
    """
    from ..geodata.boundaries import level_of, name_of

    area = resolve_area(area)
    level = level_of(area) or "district"
    zone = ZoneInfo(tz)
    if now is None:
        now = datetime.now(zone)
    now = now.replace(tzinfo=zone) if now.tzinfo is None else now.astimezone(zone)
    if group:
        try:
            group = model.canonical_group(group)
        except ValueError as exc:
            raise ReportError(str(exc)) from None
    if isinstance(demand, DemandGrid):
        if res is not None and int(res) != demand.res:
            raise ReportError(f"需求网格分辨率为 {demand.res}，与 res={res} 不符 / the demand grid has resolution "
                              f"{demand.res}, not {res}")
    else:
        demand = aggregate(demand, int(res or 9))
    if result is None:
        try:
            result = analyze(stations, demand, metric=metric, group=group, threshold_m=threshold_m,
                             thresholds=thresholds, network=network, floor=floor)
        except ValueError as exc:
            raise ReportError(str(exc)) from None
    threshold = float(result.params["threshold_m"])
    group, metric = result.params.get("group"), result.params["metric"]
    annual_targets = annual_targets or {"new_stations": {}, "covered_share": {}}

    summary = result.summary
    row = _area_row(summary, area, level)
    cells = result.cells
    in_cells = _inside(cells["adcode"], area)
    area_cells = cells[in_cells].reset_index(drop=True)
    local_demand = _area_demand(demand, area)

    # -- stations by type and status (the registry, every status) -----------------------------------
    st_area = stations[_inside(stations["adcode"], area)] if len(stations) else stations
    types = _type_table(st_area, row)

    # -- units one level below ------------------------------------------------------------------------
    units = _units(summary, area, level)

    # -- blank spots, blind zones, districts without a station --------------------------------------
    names = dict(zip(stations["id"].astype(str), stations["name"].astype(str))) if len(stations) else {}
    blank = result.blank_spots
    blank_area = blank[_inside(blank["adcode"], area)].reset_index(drop=True) if len(blank) else blank
    zones = result.blind_zones
    zone_in = _zones_touching(zones, area)
    zones_area = zones[zone_in].reset_index(drop=True)
    admin = result.admin_blind_zones
    admin_area = admin[_inside(admin["adcode"], area)].reset_index(drop=True) if len(admin) else admin

    # -- this year: proposals, new stations, targets ----------------------------------------------------
    year = now.year
    props = proposals if proposals is not None else pd.DataFrame(columns=["adcode", "status", "submitted_at",
                                                                          "reviewed_at"])
    props = props[_inside(props["adcode"], area)] if len(props) else props
    submitted = int(_in_year(props.get("submitted_at"), year, tz).sum()) if len(props) else 0
    accepted = int(((props["status"] == "已采纳").to_numpy() & _in_year(props["reviewed_at"], year, tz)).sum()) \
        if len(props) else 0
    new = created if created is not None else pd.DataFrame(columns=["station_id", "at", "type", "adcode"])
    if len(new):
        new = new[_inside(new["adcode"], area) & _in_year(new["at"], year, tz)]
    progress = _progress(annual_targets, new, stations, local_demand, group=group, row=row, metric=metric,
                         threshold_m=threshold_m, thresholds=thresholds, network=network)

    # -- figures -----------------------------------------------------------------------------------------
    area_name = name_of(area) or area
    n_located = int(np.isfinite(pd.to_numeric(st_area["lon"], errors="coerce")).sum()) if len(st_area) else 0
    figures: dict[str, Any] = {
        "title": f"{area_name}驿站覆盖分析报告",
        "area": area, "area_name": area_name, "level_zh": LEVEL_ZH.get(level, ""),
        "date": now.strftime("%Y年%m月%d日"), "year": year,
        "group": group or "全部劳动者", "threshold_m": threshold,
        "n_stations": int(len(st_area)), "n_in_service": int((st_area["status"] == "在运营").sum()) if len(st_area) else 0,
        "n_located": n_located, "n_used": int(row["n_stations"]),
        "demand": float(row["demand"]), "covered_demand": float(row["covered_demand"]),
        "covered_share": float(row["covered_share"]), "mean_distance_m": float(row["mean_distance_m"]),
        "n_cells": int(row["n_cells"]), "n_blank_spots": int(row["n_blank_spots"]),
        "n_blind_zones": int(row["n_blind_zones"]), "n_admin": int(len(admin_area)),
        "admin_names": "、".join(str(n) for n in admin_area["name"]) if len(admin_area) else "",
        "proposals_submitted": submitted, "proposals_accepted": accepted,
        "new_stations": int(len(new)), "unit_level_zh": "市" if level == "province" else "区县",
    }
    tables = {"types": types, "units": units, "progress": progress,
              "blank": _blank_table(blank_area.head(TOP_BLANK_SPOTS), names),
              "zones": _zone_table(zones_area.head(TOP_BLIND_ZONES), cells, names),
              "admin": admin_area.assign(demand=admin_area["demand"].astype(float)) if len(admin_area) else
              pd.DataFrame(columns=["adcode", "name", "demand", "n_cells"])}
    notes: list[str] = []
    if not len(area_cells):
        notes.append("该地区没有需求数据（热点），覆盖率等指标无从计算 / no demand (hotspots) in this area")
    if not demand.has_time:
        notes.append("热点没有时间信息：各小时的需求相同，只有站点开放时间随小时变化 / the hotspots carry no time: "
                     "every hour has the same demand")

    # -- charts and map ----------------------------------------------------------------------------------
    hours = coverage_by_hour(stations, local_demand, metric=metric, group=group, threshold_m=threshold,
                             network=network) if hourly and len(local_demand.table) else None
    plan = None
    if years:
        plan = _plan(result, area_cells, years=years, per_year=per_year, first_year=first_year or year + 1)
        tables["plan"] = pd.DataFrame([{"year": y.year, "k": int(y.k), "sites": len(y.sites), "gain": float(y.gain),
                                        "share_after": float(y.share_after)} for y in plan.years])
        figures["plan_share_before"] = float(plan.share_before)
    comparison = change = None
    if compare_with is not None:
        comparison = _compare(compare_with, result, stations, demand_res=demand.res, metric=metric, group=group,
                              threshold=threshold, thresholds=thresholds, network=network, floor=floor,
                              name=compare_name, source=source)
        change = _change_section(comparison, area, level)
        figures["change"] = change["figures"]
        tables["change_units"] = change["units"]
        tables["change_zones"] = change["zones"]
    images, map_res = _charts(area=area, level=level, area_cells=area_cells, stations=stations, units=units,
                              threshold=threshold, hours=hours, types=types, plan=plan,
                              target=(annual_targets.get("covered_share") or {}).get(group), change=change)

    figures["map_res"] = map_res
    p = result.params
    params = [
        ("地区 area", f"{area_name}（{area}，{LEVEL_ZH.get(level, level)}）"),
        ("劳动者群体 worker group", group or "全部 / all"),
        ("距离度量 metric", {"great-circle": "球面直线距离 great-circle", "grid": "H3 网格步数 grid",
                            "network": "道路网络 network"}.get(p["metric"], p["metric"])),
        ("覆盖阈值 threshold", f"{threshold:.0f} 米 / m"),
        ("H3 分辨率 resolution", str(p["res"])),
        ("空白点需求下限 blank-spot floor", f"{p.get('floor', 0):g}"),
        ("热点数据 hotspots", source or "—"),
        ("热点数 hotspot points", f"{int(p.get('n_points', 0))}"),
        ("参与分析的站点 stations used", f"{int(p.get('n_stations', 0))}（全部分析范围，在运营且服务该群体 / whole "
                                    "analysis, in service and serving the group）"),
        ("距离分级 distance classes", "、".join(_class_labels(threshold))),
        ("统计年度 year", f"{year}（时区 {tz}）"),
        ("生成时间 generated", now.strftime("%Y-%m-%d %H:%M")),
    ]
    if plan is not None:
        params.append(("逐年规划 plan", f"{len(plan.years)} 年，每年 {'、'.join(str(y.k) for y in plan.years)} 个新站点，"
                                     "候选点为该地区未覆盖网格中心，贪心求解 / greedy, candidates at uncovered cells"))
    from .. import __version__

    if comparison is not None:
        params.append(("对比数据 compared with", f"{figures['change']['before_name']}（变化 = 本报告数据 − 对比数据 / "
                                               "change = this report's data − the earlier data）"))
    params.append(("软件 software", f"驿站通 yizhan {__version__}"))
    return Report(area, area_name, level, now, figures, tables, images, params, notes, result, comparison)


def report_from_registry(registry: Any, demand: DemandGrid | pd.DataFrame, *, area: str,
                         config: dict[str, Any] | None = None, now: datetime | None = None, **options: Any) -> Report:
    """:func:`build_report` with the registry's stations, proposals and this year's new stations,
    and the thresholds, time zone and ``ANNUAL_TARGETS`` of ``config`` (a :func:`yizhan.config.load_config`
    dict; defaults when None).  ``options`` go to :func:`build_report`."""
    from ..config import DEFAULTS
    from ..stations.model import normalize_annual_targets
    from ..stations.proposals import listing

    config = config or {}
    tz = config.get("TIMEZONE") or DEFAULTS["TIMEZONE"]
    zone = ZoneInfo(tz)
    now = datetime.now(zone) if now is None else now
    year = (now.astimezone(zone) if now.tzinfo else now).year
    targets = config.get("ANNUAL_TARGETS", DEFAULTS["ANNUAL_TARGETS"])
    settings: dict[str, Any] = {"proposals": listing(registry),
                                "created": station_creations(registry, year=year, tz=tz),
                                "annual_targets": normalize_annual_targets(targets),
                                "thresholds": config.get("THRESHOLDS_M"), "tz": tz}
    return build_report(registry.stations(), demand, area=area, now=now, **(settings | options))


# -- tables -------------------------------------------------------------------------------------------

def _area_row(summary: pd.DataFrame, area: str, level: str) -> pd.Series:
    """The summary row of the area (zeros and NaN when it has neither demand nor stations)."""
    hit = summary[(summary["adcode"] == area) & (summary["level"] == level)]
    if len(hit):
        return hit.iloc[0]
    empty = {c: 0 for c in summary.columns}
    empty.update(adcode=area, level=level, covered_share=float("nan"), mean_distance_m=float("nan"))
    return pd.Series(empty)


def _zones_touching(zones: pd.DataFrame, area: str) -> np.ndarray:
    """True for each blind zone with a cell in ``area`` (its ``districts`` list names a district of it)."""
    if not len(zones):
        return np.zeros(0, dtype=bool)
    parts = zones["districts"].fillna("").astype(str).str.split("、").explode()
    hit = pd.Series(_inside(parts.to_numpy(dtype=object), area), index=parts.index)
    return hit.groupby(level=0).any().reindex(zones.index, fill_value=False).to_numpy(dtype=bool)


def _units(summary: pd.DataFrame, area: str, level: str) -> pd.DataFrame:
    """The summary rows one level below the area (cities of a province, districts of a city; the
    district itself for a district), then the area's own row."""
    below = {"province": "city"}.get(level, "district")
    rows = summary[(summary["level"] == below) & (summary["adcode"] != "") & _inside(summary["adcode"], area)]
    own = summary[(summary["adcode"] == area) & (summary["level"] == level)]
    if level == "district" or (level == "city" and len(rows) == 1 and rows["adcode"].iloc[0] == area):
        rows = rows.iloc[:0]          # a district (or 东莞: a city that is its own district): the area row only
    out = pd.concat([rows.sort_values("adcode"), own.assign(name=own["name"] + "（合计）")], ignore_index=True)
    return out[["adcode", "name", "level", "n_stations", "demand", "covered_demand", "covered_share",
                "mean_distance_m", "n_cells", "n_blank_spots", "n_blind_zones"]]


def _type_table(st_area: pd.DataFrame, row: pd.Series) -> pd.DataFrame:
    """Stations of the area by type (rows) and status (columns), with totals and the stations the
    analysis used (the summary's ``stations_<type>``)."""
    rows = []
    for t in model.STATION_TYPES:
        sub = st_area[st_area["type"] == t] if len(st_area) else st_area
        item = {"type": t}
        for s in model.STATUSES:
            item[s] = int((sub["status"] == s).sum()) if len(sub) else 0
        item["total"] = int(len(sub))
        item["used"] = int(row.get(f"stations_{t}", 0))
        rows.append(item)
    frame = pd.DataFrame(rows)
    total = {"type": "合计"} | {c: int(frame[c].sum()) for c in frame.columns if c != "type"}
    return pd.concat([frame, pd.DataFrame([total])], ignore_index=True)


def _station_name(station_id: Any, names: dict[str, str]) -> str:
    if station_id is None or (isinstance(station_id, float) and math.isnan(station_id)) or station_id is pd.NA:
        return ""
    return names.get(str(station_id), str(station_id))


def _district_names(codes: str) -> str:
    from ..geodata.boundaries import name_of

    return "、".join(name_of(c) or c for c in str(codes or "").split("、") if c) or "—"


def _blank_table(blank: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    from ..geodata.boundaries import name_of

    return pd.DataFrame({
        "rank": np.arange(1, len(blank) + 1), "h3": blank.get("h3", pd.Series(dtype=str)).astype(str).to_numpy(),
        "district": [name_of(a) or "—" if a else "—" for a in blank.get("adcode", [])],
        "lon": blank.get("lon", pd.Series(dtype=float)).to_numpy(dtype=float),
        "lat": blank.get("lat", pd.Series(dtype=float)).to_numpy(dtype=float),
        "demand": blank.get("demand", pd.Series(dtype=float)).to_numpy(dtype=float),
        "distance_m": blank.get("distance_m", pd.Series(dtype=float)).to_numpy(dtype=float),
        "nearest": [_station_name(s, names) for s in blank.get("nearest_id", [])],
    })


def _zone_table(zones: pd.DataFrame, cells: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """The largest blind zones with their districts and the station nearest to any of their cells."""
    if "zone" in cells and len(zones):
        near = cells[cells["zone"].isin(zones["zone"])].sort_values(["zone", "distance_m"]).drop_duplicates("zone")
        nearest = dict(zip(near["zone"], near["nearest_id"]))
        gap = dict(zip(near["zone"], near["distance_m"]))
    else:
        nearest, gap = {}, {}
    return pd.DataFrame({
        "zone": zones["zone"].to_numpy(dtype=int), "districts": [_district_names(d) for d in zones["districts"]],
        "n_cells": zones["n_cells"].to_numpy(dtype=int), "area_km2": zones["area_km2"].to_numpy(dtype=float),
        "demand": zones["demand"].to_numpy(dtype=float),
        "lon": zones["lon"].to_numpy(dtype=float), "lat": zones["lat"].to_numpy(dtype=float),
        "nearest": [_station_name(nearest.get(z), names) for z in zones["zone"]],
        "nearest_m": [float(gap.get(z, np.nan)) for z in zones["zone"]],
    })


def _progress(targets: dict[str, dict[str, Any]], new: pd.DataFrame, stations: pd.DataFrame,
              local_demand: DemandGrid, *, group: str | None, row: pd.Series, metric: str,
              threshold_m: float | None, thresholds: dict[str, float] | None, network: Any) -> pd.DataFrame:
    """Progress against ``ANNUAL_TARGETS``: new stations of each type this year vs the yearly
    target, and the covered share of each target group vs its target (the report's own share for
    its group; for another group, measured on the area's demand of that group)."""
    rows = []
    for kind, target in (targets.get("new_stations") or {}).items():
        done = int((new["type"] == kind).sum()) if len(new) else 0
        rows.append({"item": f"新建{kind}", "kind": "count", "done": done, "target": int(target),
                     "ratio": done / target if target else float("nan")})
    for g, target in (targets.get("covered_share") or {}).items():
        if g == group:
            share = float(row["covered_share"])
        else:
            per_cell = local_demand.cells(group=g)
            total = float(per_cell["demand"].sum())
            if total > 0:
                used = select_stations(stations, group=g)
                d = measure(per_cell["cell"].to_numpy(dtype=np.uint64), used, metric=metric, res=local_demand.res,
                            network=network)
                limit = threshold_for(g, None, thresholds)
                share = float(per_cell["demand"].to_numpy()[d.distance_m <= limit].sum() / total)
            else:
                share = float("nan")
        rows.append({"item": f"{g}需求覆盖率", "kind": "share", "done": share, "target": float(target),
                     "ratio": share / target if target else float("nan")})
    return pd.DataFrame(rows, columns=["item", "kind", "done", "target", "ratio"])


def _plan(result: CoverageResult, area_cells: pd.DataFrame, *, years: int, per_year: int | Sequence[int] | None,
          first_year: int):  # noqa: ANN202
    from .plan import plan_years

    if per_year is None:
        raise ReportError("逐年规划需要每年新站点数（per_year）/ a plan year by year needs per_year")
    counts = [int(per_year)] * int(years) if isinstance(per_year, (int, np.integer)) else [int(k) for k in per_year]
    if len(counts) == 1:
        counts = counts * int(years)
    if len(counts) != int(years):
        raise ReportError(f"per_year 给出 {len(counts)} 个数，但 years 为 {years} / per_year lists {len(counts)} values "
                          f"for {years} years")
    local = replace(result, cells=area_cells)
    try:
        return plan_years(local, None, per_year=counts, first_year=first_year, solver="greedy")
    except ValueError as exc:
        raise ReportError(str(exc)) from None


# -- change over time --------------------------------------------------------------------------------

#: Colours of the cell changes on the change map (and in its legend).
CHANGE_COLOURS: dict[str, str] = {"lost_coverage": "#d7191c", "new_uncovered_demand": "#fdae61",
                                  "gained_coverage": "#1a9641", "demand_gone": "#74add1"}


def _compare(compare_with: Any, result: CoverageResult, stations: pd.DataFrame, *, demand_res: int, metric: str,
             group: str | None, threshold: float, thresholds: dict[str, float] | None, network: Any, floor: float,
             name: str | None, source: str | None):  # noqa: ANN202
    """The comparison of the earlier data (analysed here unless given as an analysis) with ``result``."""
    from .compare import compare_results

    if isinstance(compare_with, CoverageResult):
        before = compare_with
    else:
        grid = compare_with if isinstance(compare_with, DemandGrid) else aggregate(compare_with, demand_res)
        try:
            before = analyze(stations, grid, metric=metric, group=group, hour=result.params.get("hour"),
                             weekday=result.params.get("weekday", 0), threshold_m=threshold, thresholds=thresholds,
                             network=network, floor=floor)
        except ValueError as exc:
            raise ReportError(str(exc)) from None
    try:
        return compare_results(before, result, before_name=name or "对比数据", after_name=source)
    except ValueError as exc:
        raise ReportError(str(exc)) from None


def _change_section(comparison: Any, area: str, level: str) -> dict[str, Any]:
    """The figures, tables and map data of the change section for ``area``: the area's row of the
    comparison, the units one level below (as :func:`_units`), the changed cells in the area and the
    new blind zones touching it (largest demand first)."""
    from .compare import CHANGES

    d = comparison.districts
    own = d[(d["adcode"] == area) & (d["level"] == level)]
    below = {"province": "city"}.get(level, "district")
    rows = d[(d["level"] == below) & (d["adcode"] != "") & _inside(d["adcode"], area)]
    if level == "district" or (level == "city" and len(rows) == 1 and rows["adcode"].iloc[0] == area):
        rows = rows.iloc[:0]
    units = pd.concat([rows.sort_values("adcode"), own.assign(name=own["name"] + "（合计）")], ignore_index=True)
    units = units[["adcode", "name", "level", "demand_before", "demand_after", "covered_share_before",
                   "covered_share_after", "change_pp"] + [f"n_{k}" for k in CHANGES] + ["n_new_zones"]]
    cells = comparison.cells
    area_cells = cells[_inside(cells["adcode"], area)].reset_index(drop=True)
    counts = area_cells["change"].value_counts()
    new, gone = comparison.new_zones, comparison.gone_zones
    new_area = new[_zones_touching(new, area)].reset_index(drop=True)
    gone_area = gone[_zones_touching(gone, area)].reset_index(drop=True)
    first = own.iloc[0] if len(own) else None

    def value(col: str) -> float:
        return float(first[col]) if first is not None else float("nan")

    h = comparison.headline
    figures: dict[str, Any] = {
        "before_name": h.get("before_name") or "对比数据", "after_name": h.get("after_name") or "本报告数据",
        "covered_share_before": value("covered_share_before"), "covered_share_after": value("covered_share_after"),
        "change_pp": value("change_pp"), "demand_before": value("demand_before"), "demand_after": value("demand_after"),
        **{f"n_{k}": int(counts.get(k, 0)) for k in CHANGES},
        "n_new_zones": int(len(new_area)), "n_gone_zones": int(len(gone_area)),
    }
    figures["n_became_uncovered"] = figures["n_lost_coverage"] + figures["n_new_uncovered_demand"]
    figures["n_became_covered"] = figures["n_gained_coverage"]
    zones = pd.DataFrame({
        "zone": new_area["zone"].to_numpy(dtype=int), "districts": new_area["district_names"].astype(str).to_numpy(),
        "n_cells": new_area["n_cells"].to_numpy(dtype=int), "area_km2": new_area["area_km2"].to_numpy(dtype=float),
        "demand": new_area["demand"].to_numpy(dtype=float),
        "n_lost_coverage": new_area["n_lost_coverage"].to_numpy(dtype=int),
        "n_new_uncovered_demand": new_area["n_new_uncovered_demand"].to_numpy(dtype=int),
        "lon": new_area["lon"].to_numpy(dtype=float), "lat": new_area["lat"].to_numpy(dtype=float),
    }).head(TOP_BLIND_ZONES)
    after = comparison.after.cells
    return {"figures": figures, "units": units, "zones": zones, "cells": area_cells, "new_zones": new_area,
            "now_cells": after[_inside(after["adcode"], area)]}


# -- formatting ----------------------------------------------------------------------------------------

def _pct(value: Any, digits: int = 1) -> str:
    """``0.8035`` -> ``80.4%``; ``—`` for NaN/None."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if not math.isfinite(v) else f"{v:.{digits}%}"


def _signed_pp(value: Any, digits: int = 1) -> str:
    """A change in percentage points with its sign: ``+1.2``, ``-3.0``, ``0.0``; ``—`` for NaN/None."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(v):
        return "—"
    text = f"{v:+.{digits}f}"
    return text[1:] if float(text) == 0 else text


def _num(value: Any, digits: int = 0) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if not math.isfinite(v) else f"{v:.{digits}f}"


def _metres(value: Any) -> str:
    """Metres as ``850 米`` or ``2.4 公里``; ``无可达站点`` for infinity."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    if math.isnan(v):
        return "—"
    if math.isinf(v):
        return "无可达站点"
    return f"{v:.0f} 米" if v < 10_000 else f"{v / 1000:.1f} 公里"


def _km_label(m: float) -> str:
    return f"{m:.0f} 米" if m < 1000 else f"{m / 1000:g} 公里"


def _class_labels(threshold: float) -> list[str]:
    bounds = [f * threshold for f in DISTANCE_CLASSES]
    return [f"≤{_km_label(b)}" for b in bounds] + [f">{_km_label(bounds[-1])} 或无可达站点"]


def _distance_class(distance: np.ndarray, threshold: float) -> np.ndarray:
    """0.. len(DISTANCE_CLASSES): the class of each distance (NaN/inf in the last)."""
    d = np.where(np.isfinite(distance), distance, np.inf)
    return np.searchsorted(np.array(DISTANCE_CLASSES) * threshold, d, side="left")


# -- fonts ---------------------------------------------------------------------------------------------

_DATA_URI = re.compile(r"data:[a-z/+-]+;base64,[A-Za-z0-9+/=]+")
#: The family name of the embedded subset fonts in the report's CSS.
EMBEDDED_FAMILY = "YZ Noto Sans CJK SC"


def _cjk_font_file(bold: bool) -> tuple[str, int] | None:
    """(file, index in the collection) of Noto Sans CJK SC regular or bold, from fontconfig; None
    when fontconfig finds no Noto Sans CJK."""
    if not shutil.which("fc-match"):
        return None
    pattern = "Noto Sans CJK SC:style=Bold" if bold else "Noto Sans CJK SC:style=Regular"
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}|%{index}|%{family}", pattern], capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    path, _, rest = out.partition("|")
    index, _, family = rest.partition("|")
    if "CJK" not in family or not Path(path).is_file():
        return None
    return path, int(index or 0)


@functools.lru_cache(maxsize=8)
def _subset_font(path: str, index: int, chars: str) -> bytes | None:
    """An OpenType subset of one font of a collection holding only ``chars`` (no layout features:
    Chinese text needs none; ~1 s for a CJK font).  None when fontTools is missing or fails."""
    try:
        from fontTools import subset
    except ImportError:
        return None
    options = subset.Options()
    options.font_number = index
    options.layout_features = []
    options.hinting = False
    options.notdef_outline = True
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6]
    try:
        font = subset.load_font(path, options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=chars)
        subsetter.subset(font)
        buffer = io.BytesIO()
        subset.save_font(font, buffer, options)
    except Exception:             # a font fontTools cannot subset: the page falls back to system fonts
        return None
    return buffer.getvalue()


def font_css(chars: str) -> str:
    """``@font-face`` rules embedding Noto Sans CJK SC (regular and bold) subset to ``chars``, as
    ``data:`` URIs under the family :data:`EMBEDDED_FAMILY`; "" when the fonts are not available."""
    rules = []
    for bold in (False, True):
        found = _cjk_font_file(bold)
        data = _subset_font(found[0], found[1], chars) if found else None
        if data:
            rules.append(f'@font-face {{ font-family: "{EMBEDDED_FAMILY}"; font-weight: {700 if bold else 400}; '
                         f'src: url("data:font/otf;base64,{base64.b64encode(data).decode("ascii")}") '
                         'format("opentype"); }')
    return "\n".join(rules)


# -- charts --------------------------------------------------------------------------------------------

def _cjk_font() -> str | None:
    """The family name of a Noto Sans CJK (or another CJK) font matplotlib can use, registering
    the file fc-match finds when matplotlib's cache does not know it; None when there is none."""
    from matplotlib import font_manager as fm

    known = {f.name for f in fm.fontManager.ttflist}
    for name in ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei"):
        if name in known:
            return name
    if shutil.which("fc-match"):
        try:
            path = subprocess.run(["fc-match", "-f", "%{file}", "Noto Sans CJK SC:lang=zh-cn"], capture_output=True,
                                  text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            path = ""
        if path and Path(path).is_file():
            fm.fontManager.addfont(path)
            return fm.FontProperties(fname=path).get_name()
    return None


def _figure(figsize: tuple[float, float], axes: bool = True) -> Any:
    """A matplotlib Figure on its own Agg canvas (no pyplot: no global figure list, no backend
    switch in a notebook or a web thread); with ``axes``, ``(figure, axes)``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return (fig, fig.add_subplot()) if axes else fig


def _png(fig: Any, dpi: int = 150) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    return buffer.getvalue()


def _charts(*, area: str, level: str, area_cells: pd.DataFrame, stations: pd.DataFrame, units: pd.DataFrame,
            threshold: float, hours: pd.DataFrame | None, types: pd.DataFrame, plan: Any,
            target: float | None, change: dict[str, Any] | None = None) -> tuple[dict[str, bytes], int | None]:
    """The map and the charts (PNG) and the H3 resolution the map shows."""
    import matplotlib

    font = _cjk_font()
    rc = {"font.family": [font, "DejaVu Sans"] if font else ["DejaVu Sans"], "axes.unicode_minus": False,
          "font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "svg.fonttype": "none"}
    images: dict[str, bytes] = {}
    # matplotlib's settings are global: one report draws at a time (web threads)
    with _DRAW_LOCK, matplotlib.rc_context(rc):
        images["map"], map_res = _map_png(area, level, area_cells, stations, threshold)
        images["units"] = _units_png(units, target)
        images["distance"] = _distance_png(area_cells, threshold)
        images["hours"] = _hours_png(hours)
        images["types"] = _types_png(types)
        if plan is not None:
            images["plan"] = _plan_png(plan)
        if change is not None:
            images["change_map"] = _change_map_png(area, level, change, stations)
    return images, map_res


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666666", fontsize=11)
    ax.set_xticks([])
    ax.set_yticks([])


def _display_res(km_per_px: float, res: int) -> int:
    """The finest H3 resolution (at most ``res``) whose hexagons are at least ~2.5 pixels across."""
    import h3

    for r in range(res, 0, -1):
        if 2 * h3.average_hexagon_edge_length(r, unit="km") >= 2.5 * km_per_px:
            return r
    return 0


def _hexagons(area_cells: pd.DataFrame, threshold: float, finest: int) -> tuple[Any, np.ndarray, int]:
    """Hexagon polygons of the area's cells, their distance class and the resolution shown: cells
    finer than ``finest`` (too small to see) or more than MAP_MAX_CELLS are drawn as their parents,
    each in the demand-weighted median class of its cells (half its demand is in that class or a
    nearer one)."""
    import pyarrow as pa
    import shapely
    from h3ronpy.vector import cells_to_wkb_polygons

    from . import hexgrid

    cells = hexgrid.str_to_cells(area_cells["h3"].to_numpy(dtype=object))
    cls = _distance_class(area_cells["distance_m"].to_numpy(dtype=float), threshold)
    if not len(cells):
        return np.empty(0, dtype=object), cls, finest
    res = int(hexgrid.cell_resolution(cells[:1])[0])
    target = min(res, max(int(finest), 0))
    while target > 0 and len(np.unique(hexgrid.parents(cells, target) if target < res else cells)) > MAP_MAX_CELLS:
        target -= 1
    if target < res:
        frame = pd.DataFrame({"cell": hexgrid.parents(cells, target), "cls": cls,
                              "w": area_cells["demand"].to_numpy(dtype=float)}).sort_values(["cell", "cls"])
        cum = frame.groupby("cell")["w"].cumsum()
        half = frame.groupby("cell")["w"].transform("sum") / 2
        median = frame[cum >= half].drop_duplicates("cell")
        cells, cls, res = median["cell"].to_numpy(dtype=np.uint64), median["cls"].to_numpy(), target
    wkb = pa.array(cells_to_wkb_polygons(pa.array(cells))).to_numpy(zero_copy_only=False)
    return shapely.from_wkb(np.asarray(wkb, dtype=object)), cls, res


def _map_png(area: str, level: str, area_cells: pd.DataFrame, stations: pd.DataFrame,
             threshold: float) -> tuple[bytes, int | None]:
    """The map (PNG) and the H3 resolution its hexagons are drawn at (None without demand)."""
    import geopandas as gpd
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from ..geodata.boundaries import geometry_of, load_boundaries
    from . import hexgrid

    outline = geometry_of(area)
    height, km_per_px = 7.8, 0.0
    if outline is not None:          # the figure as tall as the area needs (the legends need ~4.4 in)
        west, south, east, north = outline.bounds
        width_km = (east - west) * 111.32 * math.cos(math.radians((south + north) / 2))
        ratio = (north - south) * 111.32 / max(width_km, 1e-9)
        height = float(np.clip(5.8 * ratio, 4.4, 9.0))
        km_per_px = width_km / (min(5.7, 9.0 / max(ratio, 1e-9)) * MAP_DPI)      # the map is ~5.7 in wide
    fig = _figure(figsize=(7.6, height), axes=False)
    grid = fig.add_gridspec(1, 2, width_ratios=[5.0, 1.55], wspace=0.03)
    ax = fig.add_subplot(grid[0])
    key = fig.add_subplot(grid[1])
    key.axis("off")
    districts = load_boundaries("district", within=area)
    data_res = int(hexgrid.cell_resolution(hexgrid.str_to_cells(area_cells["h3"].iloc[:1].to_numpy(dtype=object)))[0]) \
        if len(area_cells) else 9
    hexes, cls, shown = _hexagons(area_cells, threshold, _display_res(km_per_px, data_res) if km_per_px else data_res)
    if len(hexes):
        import shapely
        from matplotlib.collections import PolyCollection

        coords, index = shapely.get_coordinates(shapely.get_exterior_ring(hexes), return_index=True)
        rings = np.split(coords, np.flatnonzero(np.diff(index)) + 1)
        ax.add_collection(PolyCollection(rings, facecolors=np.array(CLASS_COLOURS, dtype=object)[cls],
                                         edgecolors="none", linewidths=0, zorder=1))
    if len(districts):
        districts.boundary.plot(ax=ax, color="#555555", linewidth=0.5)
    if level == "province":
        load_boundaries("city", within=area).boundary.plot(ax=ax, color="#222222", linewidth=0.9)
    if outline is not None:
        gpd.GeoSeries([outline], crs=4326).boundary.plot(ax=ax, color="#111111", linewidth=1.3)
    # district names at a point inside each district (a province shows its cities' names)
    labels = load_boundaries("city", within=area) if level == "province" else districts
    labels = labels[labels["level"] == ("city" if level == "province" else "district")]
    if outline is not None and len(labels) > 1:      # names of the units not too small to hold one
        import shapely

        labels = labels[shapely.area(labels.geometry.to_numpy()) >= 0.01 * shapely.area(outline)]
    if len(labels) <= 40:
        for name, pt in zip(labels["name"], labels.geometry.representative_point()):
            ax.annotate(str(name), (pt.x, pt.y), ha="center", va="center", fontsize=7.5, color="#111111", zorder=7,
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75})
    st = stations
    if len(st):                      # every located station on the map, those beyond the border too (they cover)
        lon = pd.to_numeric(st["lon"], errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(st["lat"], errors="coerce").to_numpy(dtype=float)
        keep = np.isfinite(lon) & np.isfinite(lat)
        if outline is not None:
            west, south, east, north = outline.bounds
            keep &= (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
        st = st[keep]
    present = []
    size = float(np.clip(2500 / max(len(st), 1), 4, 16))        # smaller markers where there are many
    for t in model.STATION_TYPES:
        sub = st[st["type"] == t] if len(st) else st
        if not len(sub):
            continue
        present.append(t)
        on = sub[sub["status"] == "在运营"]
        planned = sub[sub["status"] == "筹建中"]
        off = sub[~sub["status"].isin(["在运营", "筹建中"])]
        colour = TYPE_COLOURS.get(t, "#000000")
        ax.scatter(on["lon"], on["lat"], s=size, c=colour, edgecolors="white", linewidths=0.3, zorder=5)
        ax.scatter(planned["lon"], planned["lat"], s=size * 1.3, facecolors="none", edgecolors=colour,
                   linewidths=0.8, marker="^", zorder=5)
        ax.scatter(off["lon"], off["lat"], s=size, c="#888888", marker="x", linewidths=0.7, zorder=5)
    if outline is not None:
        west, south, east, north = outline.bounds
        pad_x, pad_y = (east - west) * 0.03, (north - south) * 0.03
        ax.set_xlim(west - pad_x, east + pad_x)
        ax.set_ylim(south - pad_y, north + pad_y)
    _frame_map(ax)
    classes = [Patch(facecolor=c, label=lbl) for c, lbl in zip(CLASS_COLOURS, _class_labels(threshold))]
    kinds = [Line2D([], [], marker="o", linestyle="", markerfacecolor=TYPE_COLOURS[t], markeredgecolor="white",
                    markersize=6, label=t) for t in present]
    states = [Line2D([], [], marker="o", linestyle="", color="#444444", markersize=5, label="在运营"),
              Line2D([], [], marker="^", linestyle="", markerfacecolor="none", markeredgecolor="#444444",
                     markersize=6, label="筹建中"),
              Line2D([], [], marker="x", linestyle="", color="#888888", markersize=5, label="停用")]
    # one legend in three parts (headings are blank entries in bold): it stacks without overlaps
    handles, headings = [], []
    for title, part in (("需求网格距最近站点", classes), ("站点类型", kinds), ("站点状态", states)):
        if part:
            headings.append(len(handles))
            handles += [Line2D([], [], linestyle="", marker="", label=title), *part]
    legend = key.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, 1.0), frameon=False, fontsize=8,
                        borderaxespad=0.0, handlelength=1.4, labelspacing=0.45)
    for i in headings:
        legend.get_texts()[i].set_fontweight("bold")
        legend.get_texts()[i].set_x(-18)
    return _png(fig, dpi=MAP_DPI), (shown if len(area_cells) else None)


def _frame_map(ax) -> None:  # noqa: ANN001
    """A map axis as the report draws it: degrees scaled by the cosine of the mid latitude, no
    ticks or labels, a grey frame and a scale bar."""
    ax.set_aspect(1 / max(math.cos(math.radians(sum(ax.get_ylim()) / 2)), 0.1), adjustable="box", anchor="NE")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color("#999999")
    _scale_bar(ax)


def _scale_bar(ax: Any) -> None:
    """A scale bar in the lower left corner (kilometres at the map's middle latitude)."""
    west, east = ax.get_xlim()
    south, north = ax.get_ylim()
    km_per_deg = 111.32 * math.cos(math.radians((south + north) / 2))
    width_km = (east - west) * km_per_deg
    nice = max((v for v in (1, 2, 5, 10, 20, 50, 100, 200, 500) if v <= width_km / 4), default=1)
    x0, y0 = west + (east - west) * 0.04, south + (north - south) * 0.04
    x1 = x0 + nice / km_per_deg
    ax.plot([x0, x1], [y0, y0], color="#111111", linewidth=2, solid_capstyle="butt", zorder=6)
    ax.text((x0 + x1) / 2, y0 + (north - south) * 0.012, f"{nice} 公里", ha="center", va="bottom", fontsize=8, zorder=6,
            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})


def _change_map_png(area: str, level: str, change: dict[str, Any], stations: pd.DataFrame) -> bytes:
    """The change map (PNG): the area's demand cells now in light grey, the changed cells coloured by
    change, the outlines of the new blind zones, district outlines and the stations in service."""
    import geopandas as gpd
    import h3
    import shapely
    from matplotlib.collections import PolyCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from ..geodata.boundaries import geometry_of, load_boundaries
    from . import hexgrid
    from .compare import CHANGE_LABELS, CHANGES

    outline = geometry_of(area)
    height, km_per_px = 6.0, 0.0
    if outline is not None:
        west, south, east, north = outline.bounds
        width_km = (east - west) * 111.32 * math.cos(math.radians((south + north) / 2))
        ratio = (north - south) * 111.32 / max(width_km, 1e-9)
        height = float(np.clip(5.8 * ratio, 4.0, 8.0))
        km_per_px = width_km / (min(5.7, 8.0 / max(ratio, 1e-9)) * MAP_DPI)
    fig = _figure(figsize=(7.6, height), axes=False)
    grid = fig.add_gridspec(1, 2, width_ratios=[5.0, 1.55], wspace=0.03)
    ax = fig.add_subplot(grid[0])
    key = fig.add_subplot(grid[1])
    key.axis("off")

    def rings(h3_ids: Any) -> list[np.ndarray]:
        polys = hexgrid.cell_polygons(hexgrid.str_to_cells(np.asarray(h3_ids, dtype=object)))
        if not len(polys):
            return []
        coords, index = shapely.get_coordinates(shapely.get_exterior_ring(polys), return_index=True)
        return np.split(coords, np.flatnonzero(np.diff(index)) + 1)

    now = change["now_cells"]
    if len(now):
        ax.add_collection(PolyCollection(rings(now["h3"]), facecolors="#e3e3e3", edgecolors="none", zorder=1))
    cells = change["cells"]
    present = []
    # cells narrower than ~7 pixels (a city or a province) are also marked with a hexagon of that size
    res = int(hexgrid.cell_resolution(hexgrid.str_to_cells(cells["h3"].iloc[:1].to_numpy(dtype=object)))[0]) \
        if len(cells) else 9
    small = km_per_px > 0 and 2 * h3.average_hexagon_edge_length(res, unit="km") < 7 * km_per_px
    for k in CHANGES:
        sub = cells[cells["change"] == k]
        if not len(sub):
            continue
        present.append(k)
        colour = CHANGE_COLOURS[k]
        ax.add_collection(PolyCollection(rings(sub["h3"]), facecolors=colour, edgecolors=colour, linewidths=0.4,
                                         zorder=4))
        if small:
            ax.scatter(sub["lon"], sub["lat"], s=14, marker="h", c=colour, edgecolors="none", zorder=4)
    zones = change["new_zones"]
    if len(zones):
        if small:                        # zones of a few cells would be dots: ringed at their centre
            ax.scatter(zones["lon"], zones["lat"], s=18, facecolors="none", edgecolors="#67001f", linewidths=0.6,
                       zorder=5)
        gpd.GeoSeries(zones.geometry.to_numpy(), crs=4326).boundary.plot(ax=ax, color="#67001f", linewidth=0.9,
                                                                          zorder=5)
    districts = load_boundaries("district", within=area)
    if len(districts):
        districts.boundary.plot(ax=ax, color="#777777", linewidth=0.5, zorder=2)
    if level == "province":
        load_boundaries("city", within=area).boundary.plot(ax=ax, color="#333333", linewidth=0.9, zorder=2)
    if outline is not None:
        gpd.GeoSeries([outline], crs=4326).boundary.plot(ax=ax, color="#111111", linewidth=1.3, zorder=2)
    st = stations
    if len(st):
        lon = pd.to_numeric(st["lon"], errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(st["lat"], errors="coerce").to_numpy(dtype=float)
        keep = np.isfinite(lon) & np.isfinite(lat) & (st["status"] == "在运营").to_numpy()
        if outline is not None:
            west, south, east, north = outline.bounds
            keep &= (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
        ax.scatter(lon[keep], lat[keep], s=float(np.clip(600 / max(int(keep.sum()), 1), 1.5, 8)), c="#1f4e9c",
                   alpha=0.6, edgecolors="none", zorder=3)
    if outline is not None:
        west, south, east, north = outline.bounds
        pad_x, pad_y = (east - west) * 0.03, (north - south) * 0.03
        ax.set_xlim(west - pad_x, east + pad_x)
        ax.set_ylim(south - pad_y, north + pad_y)
    else:
        ax.autoscale_view()
    _frame_map(ax)
    handles = [Line2D([], [], linestyle="", marker="", label="网格变化")]
    handles += [Patch(facecolor=CHANGE_COLOURS[k], label=CHANGE_LABELS[k][0]) for k in present]
    if not present:
        handles.append(Line2D([], [], linestyle="", marker="", label="（没有变化）"))
    handles += [Patch(facecolor="#e3e3e3", label="现有需求网格"),
                Line2D([], [], marker="o", markerfacecolor="none", markeredgecolor="#67001f", linestyle="", markersize=6,
                       label="新盲区（圈出）") if small else
                Line2D([], [], color="#67001f", linewidth=1.1, label="新盲区边界"),
                Line2D([], [], marker="o", linestyle="", markerfacecolor="#1f4e9c", markeredgecolor="none",
                       alpha=0.6, markersize=4, label="在运营站点")]
    legend = key.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, 1.0), frameon=False, fontsize=8,
                        borderaxespad=0.0, handlelength=1.4, labelspacing=0.45)
    legend.get_texts()[0].set_fontweight("bold")
    legend.get_texts()[0].set_x(-18)
    return _png(fig, dpi=MAP_DPI)


def _units_png(units: pd.DataFrame, target: float | None) -> bytes:
    rows = units[units["demand"] > 0]
    fig, ax = _figure(figsize=(7.2, max(2.4, 0.32 * len(rows) + 1.0)))
    if not len(rows):
        _empty(ax, "没有需求数据")
        return _png(fig)
    names = list(rows["name"].astype(str))
    share = rows["covered_share"].to_numpy(dtype=float) * 100
    colours = ["#2c7fb8" if "（合计）" not in n else "#253494" for n in names]
    y = np.arange(len(rows))[::-1]
    ax.barh(y, share, color=colours, height=0.65)
    for yi, v in zip(y, share):
        ax.text(min(v, 100) + 1, yi, f"{v:.1f}%", va="center", fontsize=8)
    ax.set_yticks(y, names)
    ax.set_xlim(0, 112)
    ax.set_xlabel("需求覆盖率（%）")
    if target:
        ax.axvline(target * 100, color="#d73027", linestyle="--", linewidth=1)
        ax.text(target * 100, len(rows) - 0.4, f"目标 {target:.0%}", color="#d73027", fontsize=8, ha="center")
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    return _png(fig)


def _distance_png(area_cells: pd.DataFrame, threshold: float) -> bytes:

    fig, ax = _figure(figsize=(7.2, 3.0))
    total = float(area_cells["demand"].sum()) if len(area_cells) else 0.0
    if total <= 0:
        _empty(ax, "没有需求数据")
        return _png(fig)
    d = area_cells["distance_m"].to_numpy(dtype=float)
    w = area_cells["demand"].to_numpy(dtype=float)
    top = 4 * threshold
    edges = np.linspace(0, top, 17)
    hist, _ = np.histogram(np.clip(np.where(np.isfinite(d), d, top), 0, top - 1e-9), bins=edges, weights=w)
    share = hist / total * 100
    mids = (edges[:-1] + edges[1:]) / 2
    colours = [CLASS_COLOURS[i] for i in _distance_class(mids, threshold)]
    ax.bar(mids / 1000, share, width=(edges[1] - edges[0]) / 1000 * 0.92, color=colours)
    ax.axvline(threshold / 1000, color="#333333", linestyle="--", linewidth=1)
    ax.text(threshold / 1000, share.max() * 1.02, f" 覆盖阈值 {_km_label(threshold)}", fontsize=8, va="bottom")
    ax.set_xlabel(f"距最近站点（公里；最后一档含 ≥{_km_label(top)} 与无可达站点）")
    ax.set_ylabel("需求占比（%）")
    ax.set_ylim(0, share.max() * 1.18 + 0.1)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    return _png(fig)


def _hours_png(hours: pd.DataFrame | None) -> bytes:

    fig, ax = _figure(figsize=(7.2, 3.0))
    if hours is None or not len(hours):
        _empty(ax, "没有需求数据")
        return _png(fig)
    right = ax.twinx()
    right.bar(hours["hour"], hours["open_stations"], color="#c6dbef", width=0.7, label="开放站点数")
    right.set_ylabel("开放站点数")
    right.spines["right"].set_visible(True)
    ax.set_zorder(right.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.plot(hours["hour"], hours["covered_share"] * 100, color="#08519c", marker="o", markersize=3.5, linewidth=1.6,
            label="需求覆盖率")
    ax.set_ylim(0, 105)
    ax.set_xlim(-0.6, 23.6)
    ax.set_xticks(range(0, 24, 2), [f"{h:02d}时" for h in range(0, 24, 2)])
    ax.set_ylabel("需求覆盖率（%）")
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    lines = ax.get_legend_handles_labels()
    bars = right.get_legend_handles_labels()
    ax.legend(lines[0] + bars[0], lines[1] + bars[1], loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2,
              fontsize=8, frameon=False)
    return _png(fig)


def _types_png(types: pd.DataFrame) -> bytes:

    rows = types[(types["type"] != "合计") & (types["total"] > 0)]
    fig, ax = _figure(figsize=(7.2, max(2.2, 0.42 * len(rows) + 1.0)))
    if not len(rows):
        _empty(ax, "该地区没有站点")
        return _png(fig)
    y = np.arange(len(rows))[::-1]
    left = np.zeros(len(rows))
    status_colours = {"在运营": "#2c7fb8", "筹建中": "#fdae61", "停用": "#bdbdbd", "待定位": "#9e9ac8"}
    for s in model.STATUSES:
        vals = rows[s].to_numpy(dtype=float)
        if vals.sum() == 0:
            continue
        ax.barh(y, vals, left=left, color=status_colours.get(s, "#999999"), height=0.6, label=s)
        left += vals
    for yi, v in zip(y, left):
        ax.text(v + left.max() * 0.01, yi, f"{v:.0f}", va="center", fontsize=8)
    ax.set_yticks(y, list(rows["type"]))
    ax.set_xlim(0, left.max() * 1.12 + 1)
    ax.set_xlabel("站点数")
    ax.legend(loc="lower right", fontsize=8, frameon=False, ncol=4)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    return _png(fig)


def _plan_png(plan: Any) -> bytes:

    fig, ax = _figure(figsize=(7.2, 2.8))
    years = [y.year for y in plan.years]
    right = ax.twinx()
    ax.bar(years, [len(y.sites) for y in plan.years], color="#9ecae1", width=0.6, label="新站点数")
    ax.set_ylabel("新站点数")
    shares = [plan.share_before * 100] + [y.share_after * 100 for y in plan.years]
    right.plot([years[0] - 1] + years, shares, color="#08519c", marker="o", markersize=4, label="累计需求覆盖率")
    for x, v in zip([years[0] - 1] + years, shares):
        right.text(x, v + 2, f"{v:.1f}%", ha="center", fontsize=8, color="#08519c")
    right.set_ylim(0, 110)
    right.set_ylabel("累计需求覆盖率（%）")
    right.spines["right"].set_visible(True)
    ax.set_xticks([years[0] - 1] + years, ["现状"] + [f"{y}年" for y in years])
    ax.set_xlim(years[0] - 1.6, years[-1] + 0.6)
    return _png(fig)


# -- PDF ----------------------------------------------------------------------------------------------------

def find_chromium() -> str | None:
    """The Chromium (or Chrome) executable: ``YIZHAN_CHROMIUM``, else the first on PATH, else
    ``/usr/bin/chromium``; None when there is none."""
    configured = os.environ.get("YIZHAN_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() and os.access(configured, os.X_OK) else None
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    fallback = Path("/usr/bin/chromium")
    return str(fallback) if fallback.is_file() and os.access(fallback, os.X_OK) else None


def html_to_pdf(html: str, path: str | Path, *, chromium: str | None = None, timeout_s: float = 180.0) -> Path:
    """Print an HTML page to ``path`` with headless Chromium (A4 from the page's CSS, no header or
    footer, network blocked, a throwaway profile); returns the path."""
    exe = chromium or find_chromium()
    if not exe or not Path(exe).exists():
        raise ReportError("未找到 Chromium，无法生成 PDF：请安装 Chromium（Debian/Ubuntu: apt install chromium）或设置 "
                          "YIZHAN_CHROMIUM，或改为输出 .html / Chromium not found, so no PDF can be made: install "
                          "Chromium (Debian/Ubuntu: apt install chromium), set YIZHAN_CHROMIUM, or write .html instead")
    out = Path(path).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="yizhan-report-") as tmp:
        page = Path(tmp, "report.html")
        page.write_text(html, encoding="utf-8")
        target = Path(tmp, "report.pdf")
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-extensions", "--disable-sync",
               "--no-default-browser-check", "--host-resolver-rules=MAP * ~NOTFOUND",
               f"--user-data-dir={Path(tmp, 'profile')}", "--no-pdf-header-footer",
               "--run-all-compositor-stages-before-draw",
               f"--print-to-pdf={target}", page.as_uri()]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                                  env={**os.environ, "HOME": tmp})
        except subprocess.TimeoutExpired:
            raise ReportError(f"Chromium 在 {timeout_s:.0f} 秒内未完成打印 / Chromium did not print the PDF within "
                              f"{timeout_s:.0f} s") from None
        except OSError as exc:
            raise ReportError(f"无法运行 Chromium（{exc}）/ cannot run Chromium: {exc}") from None
        if not target.is_file() or target.stat().st_size == 0:
            tail = (done.stderr or "").strip()[-600:]
            raise ReportError(f"Chromium 未能生成 PDF（退出码 {done.returncode}）/ Chromium did not write the PDF "
                              f"(exit status {done.returncode}): {tail}")
        shutil.move(str(target), out)
    return out
