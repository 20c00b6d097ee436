"""HTML pages (blueprint ``pages``): planner map ``/``, rider page ``/nearest``, proposals ``/proposals``,
registry management ``/registry`` (planners: stations, imports, history with undo, placing the
stations waiting for a location) with its printable list of those ``/registry/waiting``, and accounts
``/admin/users`` (admins).

The pages hold no data beyond names for the filters: every layer, list and table is loaded by the
page's script from the JSON API (``web/api.py``).  The planner map's skeleton (centre, zoom, layer
groups, layer control, full-screen button, legend) is built with folium and embedded in the page;
``static/planner.js`` fills the layers for the current view.  Every script and stylesheet is served
from ``static/`` (see :mod:`yizhan.web.folium_assets`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, url_for

from ..stations import model
from . import folium_assets, regions
from .auth import ROLE_NAMES, current_user, require, scope_prefix
from .services import services

bp = Blueprint("pages", __name__)

#: Marker colour and Font Awesome icon per station type (awesome-markers colours; ``hex`` for legends and lists).
STATION_STYLES: dict[str, dict[str, str]] = {
    "工会爱心驿站": {"color": "red", "icon": "heart", "hex": "#d63e2a"},
    "司机之家": {"color": "blue", "icon": "truck", "hex": "#38aadd"},
    "快递员之家": {"color": "orange", "icon": "box", "hex": "#f69730"},
    "网约送餐员之家": {"color": "green", "icon": "motorcycle", "hex": "#72b026"},
    "职工服务中心": {"color": "purple", "icon": "building", "hex": "#d252b9"},
    "户外劳动者服务站点": {"color": "cadetblue", "icon": "mug-hot", "hex": "#436978"},
}
#: Distance classes of the coverage hexagons (``dclass`` 0..4): colour and bilingual label.
DISTANCE_CLASSES: list[dict[str, str]] = [
    {"color": "#1a9850", "zh": "≤半阈值", "en": "≤ half the threshold", "short": "≤ ½×"},
    {"color": "#91cf60", "zh": "≤阈值", "en": "≤ threshold", "short": "≤ 1×"},
    {"color": "#fee08b", "zh": "≤2倍", "en": "≤ 2 × threshold", "short": "≤ 2×"},
    {"color": "#fc8d59", "zh": "≤4倍", "en": "≤ 4 × threshold", "short": "≤ 4×"},
    {"color": "#d73027", "zh": "更远/不可达", "en": "farther / unreachable", "short": "farther"},
]
#: Length classes of the highway corridor gaps (km, upper bound exclusive; None: no bound): colour
#: and bilingual label, for the planner map's corridor layer and its legend.
CORRIDOR_CLASSES: list[dict[str, Any]] = [
    {"max": 25, "color": "#fdae61", "zh": "<25 公里", "en": "< 25 km"},
    {"max": 50, "color": "#f46d43", "zh": "25–50 公里", "en": "25–50 km"},
    {"max": 100, "color": "#d73027", "zh": "50–100 公里", "en": "50–100 km"},
    {"max": None, "color": "#7f0000", "zh": ">100 公里", "en": "> 100 km"},
]
#: Short English station-type names for the map legend.
_TYPE_SHORT_EN = {"工会爱心驿站": "union station", "司机之家": "drivers' home", "快递员之家": "couriers' home",
                  "网约送餐员之家": "riders' home", "职工服务中心": "service centre", "户外劳动者服务站点": "outdoor workers"}
METRICS: list[tuple[str, str]] = [
    ("great-circle", "直线距离 / great-circle"),
    ("grid", "网格步数 / H3 grid"),
    ("network", "道路网络 / road network"),
]
CRS_CHOICES: list[tuple[str, str]] = [
    ("gcj02", "高德/腾讯 (GCJ-02)"),
    ("bd09", "百度 (BD-09)"),
    ("wgs84", "GPS (WGS-84)"),
]
#: Paths under ``static/`` that base.html loads on every page (folium must not load them again).
BASE_ASSETS = ("vendor/bootstrap/css/bootstrap.min.css",)
#: The map area when nothing else says where to look (see :mod:`yizhan.web.regions`).
DEFAULT_CITY = regions.FALLBACK_AREA


def _boundary_names(area: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Cities of the area's province and districts of the area's city (adcode, name, parent) for
    the filters; names only, no geometry."""
    from ..geodata.boundaries import city_of, province_of, units

    province = province_of(area) or ""
    frame = units("city", within=province) if province else units("city").iloc[:0]
    cities = [{"adcode": str(a), "name": str(n)} for a, n in zip(frame["adcode"], frame["name"])]
    city = city_of(area) or ""
    return cities, regions.district_names(city) if city else []


def _station_view(stations) -> tuple[list[list[float]] | None, str]:
    """Bounds ``[[south, west], [north, east]]`` of the map's first view (WGS-84) and the default
    area (adcode, see :mod:`yizhan.web.regions`).  The view holds the bulk of the stations (2nd..98th
    percentile), or the area's extent when ``REGION`` is set or no station has a location (stations
    waiting for one, 待定位, count for the area by their district but not for the view)."""
    import numpy as np
    import pandas as pd

    frame = stations if stations is not None else pd.DataFrame()
    area = regions.current_area(frame)
    if len(frame):
        frame = frame[np.isfinite(frame["lon"].to_numpy(dtype=float)) & np.isfinite(frame["lat"].to_numpy(dtype=float))]
    if not len(frame) or regions.resolve_region(current_app.config.get("REGION")):
        return regions.area_bounds(area), area
    lon, lat = frame["lon"].astype(float), frame["lat"].astype(float)
    q = 0.02 if len(frame) >= 50 else 0.0
    bounds = [[float(lat.quantile(q)), float(lon.quantile(q))], [float(lat.quantile(1 - q)), float(lon.quantile(1 - q))]]
    return bounds, area


def _centre(bounds: list[list[float]] | None) -> list[float]:
    """``[lat, lon]`` of the middle of ``bounds`` (广州 without bounds)."""
    if not bounds:
        return [23.13, 113.32]
    (south, west), (north, east) = bounds
    return [(south + north) / 2, (west + east) / 2]


def _map_parent(area: str) -> str:
    """The area whose districts a page's map outlines: the area's city, or the province itself."""
    info = regions.area_info(area)
    return info["city"] or info["province"]


def _page_config(**extra: Any) -> dict[str, Any]:
    """Settings the page scripts read (embedded as JSON): base map, display CRS, styles, thresholds."""
    cfg = current_app.config
    out = {
        "crs": folium_assets.display_crs(cfg),
        "tiles": folium_assets.tile_layers(cfg),
        "styles": STATION_STYLES,
        "dclasses": DISTANCE_CLASSES,
        "thresholds": dict(cfg.get("THRESHOLDS_M") or {}),
        "default_threshold": float(cfg.get("DEFAULT_THRESHOLD_M") or 1000.0),
        "network": bool(cfg.get("OSM_FILE")),
        "here_icon": url_for("static", filename="icons/here.svg"),
    }
    out.update(extra)
    return out


# -- planner map ------------------------------------------------------------------------------------
def _legend_element(corridors: bool = False):
    """The map legend: a Leaflet control (branca MacroElement) built with DOM text nodes; with
    ``corridors`` also the length classes of the corridor gaps."""
    from branca.element import MacroElement
    from jinja2 import Template

    class Legend(MacroElement):
        _template = Template("""
            {% macro script(this, kwargs) %}
            (function () {
              var data = {{ this.data|tojson }};
              var legend = L.control({position: 'bottomright'});
              function el(tag, cls, text) {
                var e = document.createElement(tag);
                if (cls) e.className = cls;
                if (text) e.textContent = text;
                return e;
              }
              legend.onAdd = function () {
                var box = L.DomUtil.create('details', 'yz-legend');
                box.open = window.innerWidth >= 768;
                L.DomEvent.disableClickPropagation(box);
                L.DomEvent.disableScrollPropagation(box);
                box.appendChild(el('summary', '', '图例 / Legend'));
                var head = el('div', 'yz-legend-head', '到最近站点的距离 ');
                head.appendChild(el('small', '', 'distance to the nearest station'));
                var th = el('div', 'yz-legend-threshold'); th.setAttribute('data-threshold', '');
                box.appendChild(head); box.appendChild(th);
                var scale = el('div', 'yz-legend-scale');
                data.classes.forEach(function (c) {
                  var cell = el('div', 'yz-legend-step');
                  var sw = el('span', 'yz-sw'); sw.style.background = c.color;
                  cell.appendChild(sw); cell.appendChild(el('span', '', c.zh)); cell.appendChild(el('small', '', c.short));
                  scale.appendChild(cell);
                });
                box.appendChild(scale);
                var h2 = el('div', 'yz-legend-head', '站点类型 '); h2.appendChild(el('small', '', 'station types'));
                box.appendChild(h2);
                var grid = el('div', 'yz-legend-grid');
                function item(swatchClass, color, zh, en) {
                  var row = el('div', 'yz-legend-row');
                  var sw = el('span', swatchClass); sw.style.background = color;
                  var t = el('span', 'yz-legend-text', zh); t.appendChild(el('small', '', en));
                  row.appendChild(sw); row.appendChild(t); grid.appendChild(row);
                }
                data.types.forEach(function (t) { item('yz-sw yz-sw-round', t.hex, t.zh, t.en); });
                item('yz-sw yz-sw-round yz-sw-blank', '#6a1b9a', '空白点', 'blank spot');
                item('yz-sw yz-sw-zone', 'transparent', '盲区', 'blind zone');
                box.appendChild(grid);
                if (data.corridors) {
                  var h3 = el('div', 'yz-legend-head', '高速走廊空白 '); h3.appendChild(el('small', '', 'corridor gaps'));
                  box.appendChild(h3);
                  var lines = el('div', 'yz-legend-grid');
                  grid = lines;
                  data.corridors.forEach(function (c) { item('yz-sw yz-sw-line', c.color, c.zh, c.en); });
                  box.appendChild(lines);
                }
                return box;
              };
              legend.addTo({{ this._parent.get_name() }});
            })();
            {% endmacro %}
        """)

        def __init__(self, data: dict[str, Any]) -> None:
            super().__init__()
            self._name = "Legend"
            self.data = data

    types = [{"zh": t, "en": _TYPE_SHORT_EN.get(t, ""), "hex": STATION_STYLES[t]["hex"]} for t in model.STATION_TYPES]
    return Legend({"classes": DISTANCE_CLASSES, "types": types, "corridors": CORRIDOR_CLASSES if corridors else None})


def _bridge_element(layers: dict[str, Any]):
    """Publishes the Leaflet map and its (empty) layer groups to static/planner.js as ``window.YIZHAN_MAP``."""
    from branca.element import MacroElement
    from jinja2 import Template

    class Bridge(MacroElement):
        _template = Template("""
            {% macro script(this, kwargs) %}
            window.YIZHAN_MAP = {map: {{ this._parent.get_name() }}, layers: {
              {%- for key, layer in this.layers.items() %}{{ key|tojson }}: {{ layer.get_name() }}{{ "," if not loop.last }}{% endfor -%}
            }};
            {% endmacro %}
        """)

        def __init__(self, layers: dict[str, Any]) -> None:
            super().__init__()
            self._name = "YizhanBridge"
            self.layers = layers

    return Bridge(layers)


def planner_map(bounds: list[list[float]] | None, *, corridors: bool = False):
    """The planner map skeleton (folium): base map per ``TILES``, empty layer groups that planner.js
    fills, clustered station layer, layer control, full-screen button, scale and legend.  With
    ``corridors`` (a highway file is configured) also the corridor-gap layer and its legend."""
    import folium
    from folium import plugins

    # minZoom/maxZoom as map options (folium's min_zoom/max_zoom only reach its own tile layer; markercluster
    # needs the map's maxZoom when there is no tile layer)
    m = folium.Map(location=_centre(bounds), zoom_start=10, tiles=None, prefer_canvas=True, control_scale=True,
                   minZoom=5, maxZoom=18)
    folium_assets.add_tiles(m, current_app.config)
    if bounds:
        m.fit_bounds(bounds)
    layers = {
        "boundaries": folium.FeatureGroup(name="行政区划 / boundaries"),
        "cells": folium.FeatureGroup(name="覆盖网格 / coverage hexagons"),
        "zones": folium.FeatureGroup(name="盲区 / blind zones"),
        **({"corridors": folium.FeatureGroup(name="高速走廊空白 / corridor gaps")} if corridors else {}),
        "stations": plugins.MarkerCluster(name="站点 / stations",
                                          options={"chunkedLoading": True, "showCoverageOnHover": False,
                                                   "maxClusterRadius": 50}),
        "blank": folium.FeatureGroup(name="空白点 / blank spots"),
    }
    for layer in layers.values():
        layer.add_to(m)
    plugins.Fullscreen(position="topleft", title="全屏 / full screen", title_cancel="退出全屏 / exit full screen").add_to(m)
    folium.LayerControl(position="topright", collapsed=True).add_to(m)
    _legend_element(corridors).add_to(m)
    _bridge_element(layers).add_to(m)
    return m


@bp.route("/")
def index():
    """Planner map: coverage hexagons, stations, gaps, filters and the per-district summary."""
    reg = services().registry
    stations = reg.stations()
    bounds, area = _station_view(stations)
    info = regions.area_info(area)
    corridors = services().highways_file() is not None
    parts = folium_assets.render_map(planner_map(bounds, corridors=corridors), omit=BASE_ASSETS)
    cities, districts = _boundary_names(area)
    lists = regions.selector_lists()
    return render_template("index.html", map=parts, types=model.STATION_TYPES, types_en=model.STATION_TYPES_EN,
                           groups=model.GROUPS, groups_en=model.GROUPS_EN, metrics=METRICS,
                           provinces=lists["provinces"], cities=cities, districts=districts, area=info,
                           city=info["city"], count=len(stations),
                           page_config=_page_config(city=info["city"], area=info, areas=lists, bounds=bounds,
                                                    fit_area=bool(regions.resolve_region(current_app.config.get("REGION"))),
                                                    corridors=corridors, corridor_classes=CORRIDOR_CLASSES))


# -- rider page ---------------------------------------------------------------------------------------
@bp.route("/nearest")
def nearest():
    """Rider page: the nearest stations to the phone's position, with navigation links."""
    bounds, area = _station_view(services().registry.stations())
    centre = _centre(bounds)
    return render_template("nearest.html", groups=model.GROUPS, groups_en=model.GROUPS_EN, crs_choices=CRS_CHOICES,
                           example=f"{centre[1]:.4f}, {centre[0]:.4f}",
                           page_config=_page_config(city=_map_parent(area), bounds=bounds,
                                                    k=int(current_app.config.get("NEAREST_K") or 5)))


# -- proposals ----------------------------------------------------------------------------------------
def _names_of(codes: Any) -> dict[str, str]:
    """adcode -> Chinese name of each known code among ``codes``."""
    from ..geodata.boundaries import name_of

    out = {}
    for code in {str(c or "").strip() for c in codes}:
        name = name_of(code) if code else None
        if name:
            out[code] = name
    return out


@bp.route("/proposals")
@require()
def proposals():
    """Proposals: district unions propose sites; planners and admins review them."""
    from ..geodata.boundaries import city_of, is_known, name_of
    from ..stations import proposals as props

    user = current_user()
    reg = services().registry
    rows = props.listing(reg, user).to_dict("records")
    reviewer = user["role"] in props.REVIEWERS
    bounds, default = _station_view(reg.stations())
    own = str(user.get("adcode") or "")
    adcode = own if user["role"] == "district" else ""
    if adcode:
        parent = city_of(adcode) or adcode
    else:   # a planner scoped to a province or city sees that area; everyone else the default area
        parent = _map_parent(own if own and is_known(own) else default)
    if own and is_known(own):
        bounds = regions.area_bounds(own) or bounds
    area = {"adcode": adcode, "name": name_of(adcode) or "", "city": parent}
    names = {d["adcode"]: d["name"] for d in regions.district_names(parent)}
    names.update(_names_of(r.get("adcode") for r in rows))
    return render_template("proposals.html", proposals=rows, reviewer=reviewer, area=area, adcode_names=names,
                           types=model.STATION_TYPES, hosts=model.HOSTS, services_list=model.SERVICES,
                           groups=model.GROUPS, groups_en=model.GROUPS_EN, statuses=props.STATUSES,
                           page_config=_page_config(city=area["city"], bounds=bounds, area=area, reviewer=reviewer, district_names=names,
                                                    user={"username": user["username"], "role": user["role"]}))


# -- registry management and accounts ----------------------------------------------------------------
def _area_names(*codes: Any) -> dict[str, str]:
    """Names of the provinces and cities (for the area fields) and of the given adcodes."""
    lists = regions.selector_lists()
    names = {a: n for a, n in lists["provinces"]}
    names.update({c[0]: c[1] for c in lists["cities"]})
    for group in codes:
        names.update(_names_of(group))
    return names


@bp.route("/registry")
@require("planner", "admin")
def registry():
    """Registry management: import a file, add/edit/delete stations, the change history with undo."""
    from ..geodata.boundaries import is_known

    user = current_user()
    scope = scope_prefix(user) or ""
    stations = services().registry.stations()
    names = _names_of([*(stations["adcode"] if len(stations) else []), user.get("adcode") or ""])
    # the map of the stations waiting for a location: the user's area, else the maps' default area
    bounds, area = _station_view(stations)
    own = str(user.get("adcode") or "")
    if own and is_known(own):
        bounds, area = regions.area_bounds(own) or bounds, own
    return render_template("registry.html", types=model.STATION_TYPES, statuses=model.STATUSES,
                           groups=model.GROUPS, hosts=model.HOSTS, services_list=model.SERVICES,
                           scope_name=names.get(user.get("adcode") or "", ""),
                           page_config=_page_config(scope=scope, user_adcode=user.get("adcode") or "",
                                                    area_names=names, user={"username": user["username"],
                                                                            "role": user["role"]},
                                                    bounds=bounds, city=_map_parent(area),
                                                    precision_names=model.PRECISION_NAMES))


def _waiting_groups(stations: Any, prefix: str) -> list[dict[str, Any]]:
    """The stations waiting for a location (待定位) a user with adcode ``prefix`` may place, grouped by
    their stated district (adcode order; no known district last): adcode, name, stations (name,
    address, type, located_status and the geocoder's candidate)."""
    from ..geodata.boundaries import level_of
    from .geo import candidate_of

    frame = stations[stations["status"] == model.STATUS_WAITING] if len(stations) else stations
    groups: dict[str, list[dict[str, Any]]] = {}
    for rec in frame.sort_values(["adcode", "name", "id"]).to_dict("records") if len(frame) else []:
        code = str(rec.get("adcode") or "")
        if code and not code.startswith(prefix):
            continue
        cand = candidate_of(rec.get("candidate"))
        if cand is not None:
            precision = str(cand.get("precision") or "")
            cand["precision_name"] = model.PRECISION_NAMES.get(precision, precision)
        groups.setdefault(code, []).append({"id": rec["id"], "name": rec["name"], "address": rec.get("address") or "",
                                            "type": rec.get("type") or "",
                                            "located_status": rec.get("located_status") or "", "candidate": cand})
    names = _names_of(groups)
    order = sorted(groups, key=lambda c: (c == "", c))
    return [{"adcode": c, "name": names.get(c, ""), "level": level_of(c) if c else None, "stations": groups[c]}
            for c in order]


@bp.route("/datasets")
@require("planner", "admin")
def datasets():
    """Hotspot datasets (planners, admins): upload with the validation report, list, rename, delete."""
    limit = int(current_app.config.get("DATASET_MAX_BYTES") or 0)
    return render_template("datasets.html", max_mb=round(limit / 1048576) if limit else None,
                           page_config=_page_config(max_bytes=limit))


@bp.route("/registry/waiting")
@require("planner", "admin")
def registry_waiting():
    """Printable list of the stations still waiting for a location, by district (planners and admins)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    user = current_user()
    groups = _waiting_groups(services().registry.stations(status=model.STATUS_WAITING), scope_prefix(user) or "")
    try:
        now = datetime.now(ZoneInfo(current_app.config.get("TIMEZONE") or "Asia/Shanghai"))
    except (KeyError, ValueError):
        now = datetime.now()
    return render_template("registry_waiting.html", groups=groups, total=sum(len(g["stations"]) for g in groups),
                           printed_at=now.strftime("%Y-%m-%d %H:%M"))


@bp.route("/admin/users")
@require("admin")
def users():
    """Accounts: create, change role/area, reset password, deactivate (admins)."""
    area = regions.current_area()
    lists = regions.selector_lists()
    districts = regions.district_names(_map_parent(area))
    accounts = services().registry.users()
    return render_template("users.html", roles=ROLE_NAMES, provinces=lists["provinces"], cities=lists["cities"],
                           districts=districts, example=districts[0]["adcode"] if districts else area,
                           page_config=_page_config(role_names=ROLE_NAMES,
                                                    area_names=_area_names(accounts["adcode"] if len(accounts) else [],
                                                                           [d["adcode"] for d in districts]),
                                                    me=current_user()["id"]))
