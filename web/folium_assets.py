"""folium without CDNs: every script and stylesheet a folium map asks for is served from ``static/``.

folium puts CDN URLs in ``Map.default_js`` / ``Map.default_css`` and in each plugin's lists.
:func:`localize` rewrites them, on the instances only (folium's class lists are left alone), to
``url_for('static', filename=...)`` paths using :data:`LOCAL_ASSETS`, the table of
``static/vendor/README.md``.  An external URL that is not in the table raises
:class:`ExternalAssetError`: a new folium version or plugin must be vendored first, never loaded from
the network.  :func:`render_map` localises, renders and splits a map into the three parts a page
template embeds, and :func:`external_asset_urls` finds any ``http(s)://`` script or stylesheet left
in a page.

Base-map tiles are a setting (``TILES``): ``none`` (default: no tile layer at all, the map works
offline on a plain background), ``osm``, ``amap`` (GCJ-02: overlays are then requested with
``out_crs=gcj02``) or ``tianditu`` (needs ``TIANDITU_KEY``).  Tile URLs are the only external URLs
a page may contain.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: folium 0.20 default URL -> local path under ``static/`` (static/vendor/README.md, "folium default → local path").
LOCAL_ASSETS: dict[str, str] = {
    # Map (JS)
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": "vendor/leaflet/leaflet.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "vendor/jquery/jquery.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js":
        "vendor/bootstrap/js/bootstrap.bundle.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js":
        "vendor/leaflet.awesome-markers/leaflet.awesome-markers.js",
    # Map (CSS)
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css": "vendor/leaflet/leaflet.css",
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css": "vendor/bootstrap/css/bootstrap.min.css",
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css":
        "vendor/bootstrap-glyphicons/css/bootstrap-glyphicons.min.css",
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css":
        "vendor/fontawesome-free/css/all.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css":
        "vendor/leaflet.awesome-markers/leaflet.awesome-markers.css",
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css":
        "vendor/leaflet.awesome.rotate/leaflet.awesome.rotate.min.css",
    # plugins.MarkerCluster
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/leaflet.markercluster.js":
        "vendor/leaflet.markercluster/leaflet.markercluster.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.css":
        "vendor/leaflet.markercluster/MarkerCluster.css",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/MarkerCluster.Default.css":
        "vendor/leaflet.markercluster/MarkerCluster.Default.css",
    # plugins.Fullscreen
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js":
        "vendor/leaflet.fullscreen/Control.FullScreen.js",
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css":
        "vendor/leaflet.fullscreen/Control.FullScreen.css",
    # plugins.LocateControl
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet-locatecontrol/0.66.2/L.Control.Locate.min.js":
        "vendor/leaflet.locatecontrol/L.Control.Locate.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet-locatecontrol/0.66.2/L.Control.Locate.min.css":
        "vendor/leaflet.locatecontrol/L.Control.Locate.min.css",
    # plugins.HeatMap
    "https://cdn.jsdelivr.net/gh/python-visualization/folium@main/folium/templates/leaflet_heat.min.js":
        "vendor/leaflet.heat/leaflet_heat.min.js",
}


class ExternalAssetError(ValueError):
    """A folium element asks for a script or stylesheet that is not vendored under ``static/``."""


def _static_url(path: str) -> str:
    from flask import url_for

    return url_for("static", filename=path)


def _walk(element: Any) -> Iterable[Any]:
    """The element and all its descendants (branca ``_children``), depth first."""
    stack = [element]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        stack.extend(reversed(list(getattr(item, "_children", {}).values())))


def _local_list(pairs: list[tuple[str, str]], to_url: Callable[[str], str], omit: set[str],
                owner: str) -> list[tuple[str, str]]:
    out = []
    for name, url in pairs:
        if not re.match(r"^(https?:)?//", url):
            out.append((name, url))  # already a local path
            continue
        path = LOCAL_ASSETS.get(url)
        if path is None:
            raise ExternalAssetError(
                f"{owner} 需要的资源未在本地提供：{url}（请先放入 static/vendor/ 并登记）/ "
                f"{owner} asks for {url}, which is not vendored: add it to static/vendor/ and LOCAL_ASSETS")
        if path not in omit:
            out.append((name, to_url(path)))
    return out


def localize(element: Any, *, to_url: Callable[[str], str] | None = None, omit: Iterable[str] = ()) -> Any:
    """Point every ``default_js``/``default_css`` of ``element`` (a folium Map) and its children at local files.

    ``to_url`` turns a path under ``static/`` into a URL (default ``url_for('static', filename=...)``,
    which needs an app context).  ``omit``: local paths the page template already loads; they are
    dropped from the map's lists so the page does not load them twice.  Returns ``element``.
    Raises :class:`ExternalAssetError` for an external URL missing from :data:`LOCAL_ASSETS`.
    """
    to_url = to_url or _static_url
    skip = set(omit)
    for item in _walk(element):
        owner = type(item).__name__
        for attr in ("default_js", "default_css"):
            pairs = getattr(item, attr, None)
            if pairs:
                # an instance attribute: folium's class-level lists stay untouched
                setattr(item, attr, _local_list(list(pairs), to_url, skip, owner))
    return element


_ASSET_RE = re.compile(
    r"""<script\b[^>]*\bsrc\s*=\s*["']?(?P<js>[^"'\s>]+)"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']?(?P<css>[^"'\s>]+)"""
    r"""|@import\s+(?:url\()?\s*["']?(?P<imp>[^"')\s;]+)""",
    re.IGNORECASE,
)


def external_asset_urls(html: str) -> list[str]:
    """Script, stylesheet (any ``<link href>``) and CSS ``@import`` URLs in ``html`` that leave the server.

    Absolute (``http://``, ``https://``) and protocol-relative (``//host``) URLs count; tile URLs in
    scripts are not scripts or stylesheets and are not listed.
    """
    urls = []
    for match in _ASSET_RE.finditer(html):
        url = match.group("js") or match.group("css") or match.group("imp") or ""
        if re.match(r"^(https?:)?//", url.strip(), re.IGNORECASE):
            urls.append(url)
    return urls


def assert_local(html: str) -> str:
    """``html`` unchanged when it loads no external script or stylesheet, else :class:`ExternalAssetError`."""
    found = external_asset_urls(html)
    if found:
        raise ExternalAssetError("页面引用了外部脚本或样式 / the page loads external assets: " + ", ".join(found))
    return html


@dataclass(frozen=True)
class MapParts:
    """A rendered folium map, split for a page template: ``header`` (links, styles) goes in ``<head>``,
    ``html`` (the map ``<div>``) in the body, ``script`` (JavaScript, without ``<script>`` tags) after it.
    ``name`` is the JavaScript variable holding the Leaflet map."""

    header: str
    html: str
    script: str
    name: str


_META_RE = re.compile(r"<meta\b[^>]*>\s*", re.IGNORECASE)


def render_map(m: Any, *, to_url: Callable[[str], str] | None = None, omit: Iterable[str] = ()) -> MapParts:
    """Localise and render folium map ``m``; the page's own ``<meta>`` tags replace folium's
    (folium's viewport forbids zooming the page on phones)."""
    localize(m, to_url=to_url, omit=omit)
    root = m.get_root()
    root.render()
    header = _META_RE.sub("", root.header.render())
    assert_local(header)
    html = root.html.render()
    assert_local(html)
    return MapParts(header=header, html=html, script=root.script.render(), name=m.get_name())


# -- base-map tiles -----------------------------------------------------------------------------------
TILE_CHOICES = ("none", "osm", "amap", "tianditu")

_TIANDITU = ("https://t{s}.tianditu.gov.cn/%s_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=%s"
             "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=%s")


def tile_layers(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The base-map tile layers for setting ``TILES`` (``[]`` for none): dicts with ``url``,
    ``attribution``, ``subdomains``, ``max_zoom``, ``name`` — usable by folium and by Leaflet pages."""
    choice = str(config.get("TILES") or "none").strip().lower()
    if choice not in TILE_CHOICES:
        log.warning("unknown TILES %r: no base map", choice)
        return []
    if choice == "osm":
        return [{"name": "OpenStreetMap", "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                 "attribution": "© OpenStreetMap contributors", "subdomains": "abc", "max_zoom": 19}]
    if choice == "amap":
        return [{"name": "高德地图 / Amap",
                 "url": "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
                 "attribution": "© 高德地图 AutoNavi", "subdomains": "1234", "max_zoom": 18}]
    if choice == "tianditu":
        key = str(config.get("TIANDITU_KEY") or "").strip()
        if not key or not re.fullmatch(r"[0-9A-Za-z]+", key):
            log.warning("TILES=tianditu needs TIANDITU_KEY: no base map")
            return []
        attribution = "© 天地图 Tianditu"
        return [{"name": "天地图 / Tianditu", "url": _TIANDITU % ("vec", "vec", key), "attribution": attribution,
                 "subdomains": "01234567", "max_zoom": 18},
                {"name": "天地图注记 / labels", "url": _TIANDITU % ("cva", "cva", key), "attribution": attribution,
                 "subdomains": "01234567", "max_zoom": 18, "overlay": True}]
    return []


def display_crs(config: dict[str, Any]) -> str:
    """Coordinate system of the base map, in which overlays must be drawn: ``gcj02`` for Amap, else ``wgs84``."""
    return "gcj02" if str(config.get("TILES") or "").strip().lower() == "amap" else "wgs84"


def add_tiles(m: Any, config: dict[str, Any]) -> Any:
    """Add the configured base map to folium map ``m`` (nothing for ``TILES = none``)."""
    import folium

    for layer in tile_layers(config):
        folium.TileLayer(tiles=layer["url"], attr=layer["attribution"], name=layer["name"],
                         subdomains=layer["subdomains"], max_zoom=layer["max_zoom"],
                         overlay=bool(layer.get("overlay")), control=True).add_to(m)
    return m
