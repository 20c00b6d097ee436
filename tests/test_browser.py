"""Headless-Chromium tests of the three pages, on the Guangzhou sample, with every request recorded.

Debian's Chromium (``/usr/bin/chromium``) through Playwright; no browser is downloaded.  The app
runs in a thread (werkzeug ``make_server`` on 127.0.0.1, a free port) on a temporary home with the
sample loaded and ``TILES = none``.  Every request the pages make is recorded and requests to any
other host are aborted: the tests assert that none was even attempted.  Screenshots go to
``tests/screenshots/`` (git-ignored).  Without Chromium the tests skip locally and fail in CI
(``CI=true``).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
SHOTS = Path(__file__).resolve().parent / "screenshots"
PASSWORD = "browser-test-1"
TIMEOUT_MS = 180_000      # the first coverage analysis of the sample takes a while on a small machine
HERE = (113.3245, 23.1375)  # lon, lat (WGS-84): 天河体育中心


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: browser tests must run; install Debian's chromium)")
    pytest.skip(message)


@contextlib.contextmanager
def serve_app(app):
    """``app`` served on 127.0.0.1:<free port> in a thread; yields its base URL."""
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        thread.join(10)


@contextlib.contextmanager
def _serving(home: Path, region: str | None = None, **config):
    """The app on ``home`` with the sample of ``region`` loaded, served on 127.0.0.1:<free port>;
    yields ``{"url", "app", "registry"}``."""
    from yizhan.app import create_app
    from yizhan.samples import load_sample

    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("YIZHAN_"):
                mp.delenv(key)
        app = create_app({"HOME": str(home), "TILES": "none", "RATE_LIMIT_ENABLED": False, **config})
    reg = app.extensions["yizhan"].registry
    load_sample(reg, home, region=region or "guangzhou")
    with serve_app(app) as url:
        yield {"url": url, "app": app, "registry": reg}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """The app on a temporary home with the Guangzhou sample and two accounts."""
    with _serving(tmp_path_factory.mktemp("browser-home")) as srv:
        srv["registry"].create_user("tianhe-union", PASSWORD, "district", adcode="440106")
        srv["registry"].create_user("planner", PASSWORD, "planner")
        yield srv


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file() or not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"Chromium not found at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


class Recorder:
    """Every request of a browser context; requests leaving 127.0.0.1 are aborted and listed."""

    def __init__(self, context) -> None:
        self.requests: list[str] = []
        self.external: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        context.route("**/*", self._route)
        context.on("request", lambda r: self.requests.append(r.url))
        context.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}"))

    @staticmethod
    def is_local(url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return True
        return parts.scheme in ("http", "https", "ws", "wss") and parts.hostname == "127.0.0.1"

    def _route(self, route) -> None:
        if self.is_local(route.request.url):
            route.continue_()
        else:
            self.external.append(route.request.url)
            route.abort()

    def watch(self, page) -> None:
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))

    def check(self) -> None:
        assert self.external == [], f"requests to other hosts were attempted: {self.external}"
        assert [u for u in self.requests if not self.is_local(u)] == []
        assert self.failed == [], f"failed requests: {self.failed}"
        assert self.errors == [], f"JavaScript errors: {self.errors}"


def _shot(page, name: str) -> Path:
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / name
    page.screenshot(path=str(path))
    return path


# -- (a) planner map --------------------------------------------------------------------------------------
def test_planner_map_shows_hexagons_and_stations_offline(browser, server) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    rec = Recorder(context)
    page = context.new_page()
    rec.watch(page)
    page.goto(server["url"] + "/")
    page.wait_for_function(
        """() => { const b = document.getElementById('planner-map');
                   return b && b.dataset.state === 'ready' && +b.dataset.hexagons > 0 && +b.dataset.stations > 0; }""",
        timeout=TIMEOUT_MS)
    box = page.locator("#planner-map")
    hexagons = int(box.get_attribute("data-hexagons"))
    stations = int(box.get_attribute("data-stations"))
    assert hexagons > 50
    assert stations == server["registry"].count()
    assert page.locator(".leaflet-marker-icon").count() > 0                 # clusters and station markers
    assert page.locator(".awesome-marker, .marker-cluster").count() > 0
    # the summary table and download links follow the filters
    page.wait_for_selector("#summary tbody tr[data-adcode]", timeout=TIMEOUT_MS)
    assert "天河区" in page.locator("#summary tbody").inner_text()
    href = page.locator('#downloads a[data-what="summary"][data-format="csv"]').get_attribute("href")
    assert href.startswith("/api/coverage/download?") and "what=summary" in href
    assert page.locator(".yz-legend").inner_text().count("≤") >= 4
    _shot(page, "planner.png")

    # a filter change reloads the layers; choosing a district zooms to it
    page.select_option("#filters select[name=group]", "外卖配送员")
    page.wait_for_function("() => document.getElementById('planner-map').dataset.state === 'ready'", timeout=TIMEOUT_MS)
    zoom = page.evaluate("window.YIZHAN_MAP.map.getZoom()")
    page.select_option("#filters select[name=district]", "440106")
    page.wait_for_function("(z) => window.YIZHAN_MAP.map.getZoom() > z"
                           " && document.getElementById('planner-map').dataset.state === 'ready'",
                           arg=zoom, timeout=TIMEOUT_MS)
    assert page.locator("#summary tbody tr.table-active").inner_text().startswith("天河区")
    assert int(box.get_attribute("data-hexagons")) > 0
    _shot(page, "planner-tianhe.png")
    rec.check()
    assert any("/api/coverage/cells?" in u for u in rec.requests)
    context.close()


def test_planner_map_on_a_phone(browser, server) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="zh-CN")
    rec = Recorder(context)
    page = context.new_page()
    rec.watch(page)
    page.goto(server["url"] + "/")
    page.wait_for_function("() => +document.getElementById('planner-map').dataset.hexagons > 0", timeout=TIMEOUT_MS)
    map_box = page.locator("#planner-map").bounding_box()
    side_box = page.locator(".planner-side").bounding_box()
    assert side_box["y"] >= map_box["y"] + map_box["height"] - 1             # the table is below the map
    assert map_box["width"] <= 390
    _shot(page, "planner-phone.png")
    rec.check()
    context.close()


# -- (b) rider page ----------------------------------------------------------------------------------------
def test_rider_page_lists_the_nearest_station_with_amap_link(browser, server) -> None:
    from yizhan.geodata.crs import wgs84_to_gcj02
    from yizhan.stations.nearest import StationIndex

    expected = StationIndex(server["registry"].stations()).nearest(*HERE, k=1, group="外卖配送员")[0]
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  device_scale_factor=1, locale="zh-CN",
                                  geolocation={"latitude": HERE[1], "longitude": HERE[0]})
    context.grant_permissions(["geolocation"])
    rec = Recorder(context)
    page = context.new_page()
    rec.watch(page)
    page.goto(server["url"] + "/nearest")
    page.wait_for_selector("#results li.station-card", timeout=TIMEOUT_MS)
    first = page.locator("#results li.station-card").first
    assert first.get_attribute("data-id") == expected["id"]
    assert expected["name"] in first.inner_text()
    assert page.locator("#results li.station-card").count() == 5
    text = first.inner_text()
    assert "米" in text or "公里" in text
    assert "高德导航" in text and "百度导航" in text
    href = first.locator("a.nav-amap").get_attribute("href")
    numbers = [float(x) for x in re.findall(r"\d+\.\d+", href)]
    pairs = [(numbers[i], numbers[i + 1]) for i in range(len(numbers) - 1) if 73 < numbers[i] < 136 and 3 < numbers[i + 1] < 54]
    assert pairs, href
    glon, glat = wgs84_to_gcj02(expected["lon"], expected["lat"])
    assert (round(pairs[-1][0], 5), round(pairs[-1][1], 5)) == (round(float(glon), 5), round(float(glat), 5)), href
    assert first.locator("a.nav-baidu").get_attribute("href")
    # big tap targets
    for sel in ("a.nav-amap", "a.nav-baidu"):
        assert first.locator(sel).bounding_box()["height"] >= 44
    assert page.locator("#locate").bounding_box()["height"] >= 44
    assert page.evaluate("document.documentElement.scrollWidth") <= 390         # no sideways scrolling
    _shot(page, "nearest.png")
    rec.check()
    context.close()


def test_rider_page_without_geolocation_uses_a_tap_on_the_map(browser, server) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="zh-CN")
    rec = Recorder(context)                      # no permission granted: geolocation is refused
    page = context.new_page()
    rec.watch(page)
    page.goto(server["url"] + "/nearest")
    page.wait_for_function("() => document.getElementById('manual').open", timeout=60_000)
    assert "地图" in page.locator("#rider-status").inner_text()
    page.wait_for_selector("#tap-map .leaflet-interactive, #tap-map .yz-area-label", timeout=60_000)
    box = page.locator("#tap-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector("#results li.station-card", timeout=TIMEOUT_MS)
    assert page.locator("#results li.station-card").count() >= 1
    # typed Amap coordinates
    glon, glat = (float(v) for v in __import__("yizhan.geodata.crs", fromlist=["x"]).wgs84_to_gcj02(*HERE))
    page.fill("#coords", f"{glon:.6f}, {glat:.6f}")
    page.check('input[name="crs"][value="gcj02"]', force=True)
    page.click("#coord-form button[type=submit]")
    page.wait_for_function("() => document.getElementById('rider-status').textContent.includes('输入的位置')", timeout=60_000)
    _shot(page, "nearest-manual.png")
    rec.check()
    context.close()


# -- (c) proposal flow ----------------------------------------------------------------------------------------
def _login(page, base: str, username: str) -> None:
    page.goto(base + "/proposals")
    assert "/login" in page.url                                            # anonymous: sent to the login form
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(re.compile(r"/proposals$"))


def _inside_tianhe() -> tuple[float, float]:
    from yizhan.geodata.boundaries import geometry_of

    point = geometry_of("440106").representative_point()
    return point.x, point.y


def _pick_site_in_tianhe(page) -> None:
    """Click a point inside 天河区 on the proposals map and wait for its impact."""
    page.wait_for_function("() => document.getElementById('pick-map').dataset.boundaries === '1'", timeout=60_000)
    lon, lat = _inside_tianhe()
    xy = page.evaluate("([lat, lon]) => { const p = window.YIZHAN_PROPOSALS_MAP.latLngToContainerPoint([lat, lon]);"
                       " return [p.x, p.y]; }", [lat, lon])
    page.locator("#pick-map").click(position={"x": xy[0], "y": xy[1]})
    page.wait_for_selector("#impact[data-ready='1']", timeout=TIMEOUT_MS)


def test_proposal_flow_submit_review_accept_build(browser, server) -> None:
    base = server["url"]
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    rec = Recorder(context)
    page = context.new_page()
    rec.watch(page)
    _login(page, base, "tianhe-union")
    _pick_site_in_tianhe(page)
    impact = page.locator("#impact").inner_text()
    assert "覆盖率" in impact and "新增覆盖需求" in impact
    name = "体育西路爱心驿站 <b>测试</b>"
    page.fill("#proposal-form input[name=name]", name)
    page.select_option("#proposal-form select[name=type]", "工会爱心驿站")
    page.fill("#proposal-form input[name=host]", "党群服务中心")
    page.fill("#proposal-form textarea[name=reason]", "午餐时段骑手集中，最近驿站超过 1 公里")
    page.click("#submit-btn")
    page.wait_for_selector("#form-msg.is-ok", timeout=TIMEOUT_MS)
    row = page.locator("#proposal-table tbody tr", has_text="体育西路爱心驿站")
    row.wait_for(timeout=30_000)
    assert name in row.inner_text()                                        # shown as text, not markup
    assert "待审核" in row.inner_text() and "天河区" in row.inner_text()
    assert page.locator("#proposal-table b").count() == 0
    page.evaluate("window.scrollTo(0, 0)")
    _shot(page, "proposals.png")
    page.click("form.yz-logout button")                                   # logout: a POST with the token
    page.wait_for_url(re.compile(r"/$"))

    _login(page, base, "planner")
    row = page.locator("#proposal-table tbody tr", has_text="体育西路爱心驿站")
    row.locator("button.act-accept").wait_for(timeout=30_000)
    row.locator("input").fill("位置合适，同意 / agreed")
    row.locator("button.act-accept").click()
    page.wait_for_function("() => [...document.querySelectorAll('#proposal-table tbody tr')]"
                           ".some(r => r.textContent.includes('体育西路') && r.dataset.status === '已采纳')", timeout=30_000)
    row = page.locator("#proposal-table tbody tr", has_text="体育西路爱心驿站")
    row.locator("button.act-build").click()
    page.wait_for_function("() => [...document.querySelectorAll('#proposal-table tbody tr')]"
                           ".some(r => r.textContent.includes('体育西路') && r.textContent.includes('站点 P'))", timeout=30_000)
    row.scroll_into_view_if_needed()
    _shot(page, "proposals-review.png")
    station = [s for s in server["registry"].stations().to_dict("records") if s["name"] == name]
    assert len(station) == 1 and station[0]["status"] == "筹建中" and station[0]["adcode"] == "440106"
    rec.check()
    context.close()


# -- (d) a second province: the Qinghai sample with highway corridors --------------------------------------
@pytest.fixture(scope="module")
def qinghai_server(tmp_path_factory: pytest.TempPathFactory):
    """The app on a home with the Qinghai sample (stations, hotspots, highways.osm), REGION=qinghai."""
    with _serving(tmp_path_factory.mktemp("browser-qinghai"), "qinghai", REGION="qinghai") as srv:
        yield srv


#: Gap lines drawn in the corridor layer (canvas renderer: counted from the Leaflet layers, with
#: the share of them inside the current view).
DRAWN_GAPS = """() => { let n = 0, inView = 0; const m = window.YIZHAN_MAP;
  m.layers.corridors.eachLayer(g => g.eachLayer(l => { n += 1;
    if (m.map.getBounds().intersects(l.getBounds())) inView += 1; }));
  return [n, inView]; }"""


def _ready(page, extra: str = "true") -> None:
    page.wait_for_function(
        "() => { const b = document.getElementById('planner-map');"
        " return b && b.dataset.state === 'ready' && " + extra + "; }", timeout=TIMEOUT_MS)


def test_qinghai_map_with_a_city_selected_draws_hexagons_stations_and_corridor_gaps(browser, qinghai_server) -> None:
    from yizhan.geodata.boundaries import in_area

    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    rec = Recorder(context)
    page = context.new_page()
    rec.watch(page)
    page.goto(qinghai_server["url"] + "/")
    # REGION=qinghai: the province is preselected and its cities are offered
    assert page.locator("#filters select[name=province]").input_value() == "630000"
    cities = page.locator("#filters select[name=city] option").all_inner_texts()
    assert "西宁市" in cities and "海西蒙古族藏族自治州" in cities
    _ready(page, "+b.dataset.hexagons > 0 && +b.dataset.stations > 0 && +b.dataset.corridors > 0")
    box = page.locator("#planner-map")
    assert int(box.get_attribute("data-stations")) == qinghai_server["registry"].count()
    gaps_province = int(box.get_attribute("data-corridors"))
    assert page.evaluate(DRAWN_GAPS)[0] == gaps_province
    assert page.locator(".leaflet-yz-corridors-pane canvas").count() == 1
    assert "走廊空白" in page.locator(".yz-legend").inner_text()
    _shot(page, "qinghai.png")

    # 海西州: the corridors run through it (G6, G109, G315); hexagons of truck stops, stations along the roads
    zoom = page.evaluate("window.YIZHAN_MAP.map.getZoom()")
    page.select_option("#filters select[name=city]", "632800")
    page.wait_for_function("(z) => window.YIZHAN_MAP.map.getZoom() >= z", arg=zoom, timeout=TIMEOUT_MS)
    page.select_option("#filters select[name=group]", "货车司机")
    _ready(page, "+b.dataset.hexagons > 0 && +b.dataset.corridors > 0")
    bounds = page.evaluate("window.YIZHAN_MAP.map.getBounds().toBBoxString()")
    west, south, east, north = (float(v) for v in bounds.split(","))
    assert west < 97.37 < east and south < 37.37 < north              # 德令哈 is in view
    assert page.evaluate(DRAWN_GAPS)[1] > 0
    assert page.locator(".awesome-marker, .marker-cluster").count() > 0
    _shot(page, "qinghai-haixi.png")

    # 西宁市: riders' hexagons and the city's stations; the summary lists its districts
    page.select_option("#filters select[name=group]", "外卖配送员")
    page.select_option("#filters select[name=city]", "630100")
    _ready(page, "+b.dataset.hexagons > 0")
    page.wait_for_selector("#summary tbody tr[data-adcode='630102']", timeout=TIMEOUT_MS)
    assert "城东区" in page.locator("#summary tbody").inner_text()
    codes = page.eval_on_selector_all("#summary tbody tr[data-adcode]", "rs => rs.map(r => r.dataset.adcode)")
    assert codes and in_area([c for c in codes if c != "630100"], "630100").all()
    assert page.locator(".awesome-marker, .marker-cluster").count() > 0
    _shot(page, "qinghai-xining.png")
    rec.check()
    assert any("/api/corridors?" in u for u in rec.requests)
    context.close()
