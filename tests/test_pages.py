"""HTML pages: planner map, rider page, proposals, login — rendering, local assets only, access, escaping."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import STATION_ROWS, write_csv
from yizhan.app import create_app
from yizhan.stations import import_stations_file
from yizhan.stations import proposals as props
from yizhan.web import folium_assets

XSS = "<img src=x onerror=alert(1)>"
PASSWORD = "correct-horse-1"


def _app(home: Path, tmp_path: Path, **config):
    app = create_app({"HOME": str(home), "TESTING": True, "RATE_LIMIT_ENABLED": False, **config})
    import_stations_file(app.extensions["yizhan"].registry, write_csv(tmp_path / "s.csv", STATION_ROWS))
    return app


@pytest.fixture
def app(home: Path, tmp_path: Path):
    return _app(home, tmp_path)


@pytest.fixture
def client(app):
    return app.test_client()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, username: str, password: str = PASSWORD):
    page = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": _csrf(page)})


def _status(client, url: str) -> int:
    """Status of a GET, closing the response (static files are streamed)."""
    resp = client.get(url)
    resp.close()
    return resp.status_code


def _config(html: str) -> dict:
    raw = re.search(r'<script type="application/json" id="yz-config">(.*?)</script>', html, re.DOTALL).group(1)
    return json.loads(raw)


def _assert_no_external_assets(html: str) -> None:
    assert folium_assets.external_asset_urls(html) == []
    # an independent, cruder check: no script or stylesheet attribute points off the server
    assert not re.search(r"""<(script|link)\b[^>]*(src|href)\s*=\s*["']?(https?:)?//""", html, re.IGNORECASE)
    assert "cdn.jsdelivr" not in html and "cdnjs" not in html and "bootstrapcdn" not in html


# -- pages render, in Chinese first --------------------------------------------------------------------
@pytest.mark.parametrize("path,title", [
    ("/", "覆盖规划地图"), ("/nearest", "找最近的驿站"), ("/login", "登录"),
])
def test_public_pages_render_with_chinese_title(client, path: str, title: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert re.search(r"<title>[^<]*" + title, html)
    assert '<html lang="zh-CN">' in html
    for label in ("地图", "找驿站", "选址建议", "登录"):
        assert label in html                      # the shared nav bar
    _assert_no_external_assets(html)


def test_proposals_page_renders_for_a_district_union(app, client) -> None:
    app.extensions["yizhan"].registry.create_user("tianhe", PASSWORD, "district", adcode="440106")
    assert login(client, "tianhe").status_code == 302
    resp = client.get("/proposals")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert re.search(r"<title>[^<]*选址建议", html)
    assert "天河区" in html and "退出" in html
    _assert_no_external_assets(html)
    cfg = _config(html)
    assert cfg["area"] == {"adcode": "440106", "name": "天河区", "city": "440100"}
    assert cfg["reviewer"] is False


def test_every_local_asset_of_every_page_is_served(app, client) -> None:
    app.extensions["yizhan"].registry.create_user("boss", PASSWORD, "planner")
    login(client, "boss")
    for path in ("/", "/nearest", "/proposals", "/login"):
        html = client.get(path).get_data(as_text=True)
        urls = re.findall(r"""<(?:script|link)\b[^>]*(?:src|href)=["']([^"']+)""", html)
        assert urls, path
        for url in urls:
            assert url.startswith("/static/"), url
            assert _status(client, url) == 200, url


def test_planner_page_embeds_the_folium_skeleton_without_data(client) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "window.YIZHAN_MAP" in html and "L.markerClusterGroup" in html and "L.control.fullscreen" in html
    assert "L.control.layers" in html and "yz-legend" in html
    assert "/static/planner.js" in html and "/static/vendor/leaflet.markercluster/leaflet.markercluster.js" in html
    assert html.count("/static/vendor/bootstrap/css/bootstrap.min.css") == 1   # base.html's, not folium's again
    assert '"type": "FeatureCollection"' not in html and '"type":"FeatureCollection"' not in html
    assert "天体中心" not in html and "天河体育中心工会爱心驿站" not in html        # stations come from the API
    assert "user-scalable=no" not in html                                       # folium's viewport dropped
    cfg = _config(html)
    assert cfg["crs"] == "wgs84" and cfg["tiles"] == [] and cfg["city"] == "440100"
    assert [c["zh"] for c in cfg["dclasses"]] == ["≤半阈值", "≤阈值", "≤2倍", "≤4倍", "更远/不可达"]
    assert "L.tileLayer" not in html                                             # TILES = none: no base map


def test_tiles_setting(home: Path, tmp_path: Path) -> None:
    osm = _app(home, tmp_path, TILES="osm").test_client().get("/").get_data(as_text=True)
    assert "tile.openstreetmap.org" in osm and "L.tileLayer" in osm
    _assert_no_external_assets(osm)                     # a tile URL is not a script or stylesheet


@pytest.mark.parametrize("tiles,key,crs,hosts", [
    ("amap", "", "gcj02", ["autonavi.com"]),
    ("tianditu", "", "wgs84", []),                      # no key: no base map rather than a broken one
    ("tianditu", "abc123", "wgs84", ["tianditu.gov.cn"]),
])
def test_tile_choices_reach_the_page_scripts(home: Path, tmp_path: Path, tiles, key, crs, hosts) -> None:
    html = _app(home, tmp_path, TILES=tiles, TIANDITU_KEY=key).test_client().get("/nearest").get_data(as_text=True)
    cfg = _config(html)
    assert cfg["crs"] == crs
    assert [h for h in hosts if all(h not in t["url"] for t in cfg["tiles"])] == []
    assert bool(cfg["tiles"]) == bool(hosts)
    _assert_no_external_assets(html)


# -- access --------------------------------------------------------------------------------------------
def test_proposals_redirects_anonymous_users_to_login(client) -> None:
    resp = client.get("/proposals")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login?next=/proposals")


def test_login_form_returns_to_the_proposals_page(app, client) -> None:
    app.extensions["yizhan"].registry.create_user("boss", PASSWORD, "planner")
    page = client.get("/login?next=/proposals").get_data(as_text=True)
    resp = client.post("/login?next=/proposals", data={"username": "boss", "password": PASSWORD, "csrf_token": _csrf(page)})
    assert resp.status_code == 302 and resp.headers["Location"] == "/proposals"
    html = client.get("/proposals").get_data(as_text=True)
    assert "全部选址建议" in html and _config(html)["reviewer"] is True


def test_logout_is_a_post_form_with_the_csrf_token(app, client) -> None:
    app.extensions["yizhan"].registry.create_user("boss", PASSWORD, "planner")
    login(client, "boss")
    html = client.get("/nearest").get_data(as_text=True)
    form = re.search(r'<form method="post" action="/logout"[^>]*>(.*?)</form>', html, re.DOTALL)
    assert form and 'name="csrf_token"' in form.group(1)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 403             # no token
    assert client.post("/logout", data={"csrf_token": _csrf(html)}).status_code == 302
    assert client.get("/proposals").status_code == 302           # logged out


# -- escaping --------------------------------------------------------------------------------------------
def test_user_supplied_names_are_escaped_in_server_rendered_html(app, client) -> None:
    reg = app.extensions["yizhan"].registry
    reg.create_user(XSS, PASSWORD, "district", adcode="440106")
    user = {"username": XSS, "role": "district", "adcode": "440106"}
    props.submit(reg, user, lon=113.3245, lat=23.1375, name=XSS, type="工会爱心驿站", host=XSS, reason=XSS)
    assert login(client, XSS).status_code == 302
    for path in ("/proposals", "/", "/nearest"):
        html = client.get(path).get_data(as_text=True)
        assert "<img src=x" not in html, path
        assert "&lt;img src=x onerror=alert(1)&gt;" in html, path            # shown, as text (nav bar, list)
    html = client.get("/proposals").get_data(as_text=True)
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") >= 3             # name, host, submitter, nav
    assert _config(html)["user"]["username"] == XSS                         # JSON config: escaped by tojson


def test_json_config_cannot_close_its_script_tag(app, client) -> None:
    name = "</script><script>alert(1)</script>"
    app.extensions["yizhan"].registry.create_user(name, PASSWORD, "planner")
    login(client, name)
    html = client.get("/proposals").get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert _config(html)["user"]["username"] == name


# -- folium asset localisation ------------------------------------------------------------------------
def _full_map():
    import folium
    from folium import plugins

    m = folium.Map(location=[23.13, 113.32], zoom_start=10, tiles=None)
    folium.Marker([23.13, 113.32], icon=folium.Icon(icon="info-sign")).add_to(m)
    cluster = plugins.MarkerCluster().add_to(m)
    folium.Marker([23.14, 113.33], icon=folium.Icon(prefix="fa", icon="truck", angle=30)).add_to(cluster)
    plugins.Fullscreen().add_to(m)
    plugins.LocateControl().add_to(m)
    plugins.HeatMap([[23.13, 113.32, 1.0]]).add_to(m)
    folium.LayerControl().add_to(m)
    return m


def test_localize_maps_every_folium_default_to_a_served_file(app, client) -> None:
    import folium
    from folium import plugins

    before = (list(folium.Map.default_js), list(plugins.MarkerCluster.default_css))
    with app.test_request_context():
        parts = folium_assets.render_map(_full_map())
    assert folium_assets.external_asset_urls(parts.header) == []
    local = re.findall(r"""(?:src|href)=["']([^"']+)""", parts.header)
    assert len(local) == len(set(folium_assets.LOCAL_ASSETS.values()))        # every table entry used, once
    for url in local:
        assert _status(client, url) == 200, url
    # folium's own class-level lists are untouched (only the instances were rewritten)
    assert (list(folium.Map.default_js), list(plugins.MarkerCluster.default_css)) == before
    assert folium.Map.default_js[0][1].startswith("https://")


def test_localize_refuses_assets_that_are_not_vendored() -> None:
    import folium

    m = folium.Map(tiles=None)
    m.default_js = [*m.default_js, ("evil", "https://cdn.example.com/evil.js")]
    with pytest.raises(folium_assets.ExternalAssetError, match="evil.js"):
        folium_assets.localize(m, to_url=lambda p: "/static/" + p)


def test_external_asset_urls_finds_scripts_styles_and_imports() -> None:
    html = """<script src="https://a.example/x.js"></script><script src='/static/ok.js'></script>
              <link rel="stylesheet" href="//b.example/y.css"><link href="/static/z.css" rel="stylesheet">
              <style>@import url("http://c.example/z.css");</style>
              <script>L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png")</script>"""
    assert folium_assets.external_asset_urls(html) == ["https://a.example/x.js", "//b.example/y.css",
                                                       "http://c.example/z.css"]
    with pytest.raises(folium_assets.ExternalAssetError):
        folium_assets.assert_local(html)


@pytest.mark.parametrize("role,links", [("district", set()), ("planner", {"/registry"}),
                                        ("admin", {"/registry", "/admin/users"})])
def test_navigation_offers_the_management_pages_by_role(app, client, role, links) -> None:
    app.extensions["yizhan"].registry.create_user("u1", PASSWORD, role, adcode="440106" if role == "district" else "")
    assert login(client, "u1").status_code == 302
    html = client.get("/nearest").get_data(as_text=True)
    nav = re.search(r'<nav class="yz-links".*?</nav>', html, re.DOTALL).group(0)
    shown = {h for h in ("/registry", "/admin/users") if f'href="{h}"' in nav}
    assert shown == links
    for path in ("/registry", "/admin/users"):
        page = client.get(path)
        assert page.status_code == (200 if path in links else 403)
        if path in links:
            body = page.get_data(as_text=True)
            assert re.search(r'<script src="/static/(registry|users)\.js">', body)
            assert "https://" not in re.sub(r'placeholder="[^"]*"', "", body.split("<body")[1])
