"""Headless-Chromium check that hostile text from station files, proposals and reviews is shown as TEXT.

Stations whose name, address, host, services and id carry XSS payloads (and a spreadsheet formula) are
imported through the ordinary import path next to a known point, a district user with a hostile
username proposes a site with a hostile name/host/reason, and a planner rejects it with a hostile
comment.  Every place that shows that text is opened: the planner map's station, hexagon and
blank-spot popups, the rider page's cards and map tooltips, the proposals table and map tooltips
(with and without JavaScript).  Each page fails the test when an ``alert`` opens, when the payloads'
``window.__xss`` flag is set, when an injected ``<img src=x>``, ``<script>``, ``on*=`` attribute or
``javascript:`` link is in the DOM, or when the injected image is requested; and the payloads must be
found verbatim in the element's text.  Same browser set-up as ``test_browser.py`` (Debian's Chromium,
no download, every request recorded, other hosts aborted).
"""

from __future__ import annotations

import csv
import io
import os

import pytest
from conftest import STATION_HEADER, STATION_ROWS, write_csv
from test_browser import (
    HERE,
    SHOTS,
    PASSWORD,
    TIMEOUT_MS,
    Recorder,
    _login,
    _pick_site_in_tianhe,
    _shot,
    serve_app,
)
from test_browser import browser as chromium  # noqa: F401  test_browser's Chromium fixture, named chromium here

pytestmark = [pytest.mark.browser, pytest.mark.slow]

IMG = "<img src=x onerror=alert(1)>"
FLAG = '<img src=x onerror="window.__xss=1">'
SCRIPT = '"><script>alert(2)</script>'
JS_URL = "javascript:alert(3)"
FORMULA = "=cmd|' /C calc'!A0"

LON, LAT = HERE
#: id -> hostile fields (WGS-84 positions about 600 m around HERE, where T1 stands)
HOSTILE = {
    "XSS1": {"name": "驿站" + IMG + FLAG, "address": SCRIPT + "广州市天河区体育西路", "host": FLAG,
             "services": "饮水、" + IMG, "phone": "020-12345678", "lon": LON, "lat": LAT + 0.0050},
    "XSS2": {"name": FORMULA, "address": JS_URL, "host": FORMULA, "services": "充电、=1+1",
             "phone": "", "lon": LON - 0.0060, "lat": LAT},
    'X3"><img src=x onerror="window.__xss=3">': {
        "name": SCRIPT + '<img src=x onerror="window.__xss=3">', "address": FORMULA, "host": SCRIPT,
        "services": "休息座椅", "phone": "", "lon": LON + 0.0060, "lat": LAT},
}
NAMES = [s["name"] for s in HOSTILE.values()]
#: demand: a little next to each hostile station (covered hexagons) and two far points whose nearest
#: station is XSS1 (3.3 km north) and the X3 one (3.4 km east): blank spots
HOTSPOTS = [(s["lon"], s["lat"], 20) for s in HOSTILE.values()] + [(LON, LAT + 0.0350, 30), (LON + 0.0390, LAT, 30)]
DISTRICT_USER = '"><img src=x onerror="window.__xss=7">'
PROPOSAL = {"name": "提议" + IMG + FORMULA, "host": SCRIPT + FLAG, "reason": JS_URL + " " + IMG + " " + FORMULA}
COMMENT = "驳回" + FLAG + SCRIPT + FORMULA

# what a page must not contain after hostile text was put into it
INJECTED_JS = """() => ({
  img: document.querySelectorAll('img[src="x"]').length,
  scripts: [...document.querySelectorAll('script')].filter(s => s.textContent.includes('alert(')).length,
  handlers: [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(
    a => a.name.startsWith('on') && /alert\\(|__xss/.test(a.value))).length,
  jsLinks: [...document.querySelectorAll('[href], [src], [action]')].map(e => e.getAttribute('href') || e.getAttribute('src')
    || e.getAttribute('action')).filter(u => /^\\s*(javascript|data:text\\/html)/i.test(u)),
  flag: window.__xss === undefined ? null : String(window.__xss),
})"""


def _station_row(sid: str, s: dict) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(
        [sid, s["name"], "工会爱心驿站", s["address"], s["services"], "24h", 8, s["phone"], "在运营", s["lon"], s["lat"],
         s["host"]])
    return out.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """A fresh home: STATION_ROWS plus the hostile stations (ordinary import), a small hotspot file,
    a district user with a hostile name and a planner; served on 127.0.0.1:<free port>."""
    from yizhan.app import create_app
    from yizhan.stations import ImportValidationError, import_stations_file

    home = tmp_path_factory.mktemp("xss-home")
    hotspots = home / "hotspots.csv"
    hotspots.write_text("lon,lat,weight\n" + "".join(f"{x:.6f},{y:.6f},{w}\n" for x, y, w in HOTSPOTS), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("YIZHAN_")]:
            mp.delenv(key)
        app = create_app({"HOME": str(home), "TILES": "none", "RATE_LIMIT_ENABLED": False, "HOTSPOTS_FILE": str(hotspots)})
    reg = app.extensions["yizhan"].registry
    header = STATION_HEADER.rstrip("\n") + ",依托单位\n"
    rows = [r + "," for r in STATION_ROWS] + [_station_row(sid, s) for sid, s in HOSTILE.items()]
    result = import_stations_file(reg, write_csv(home / "stations.csv", rows, header=header))
    assert result["created"] == len(rows), result
    for sid, s in HOSTILE.items():                                   # stored verbatim, not "sanitised"
        got = reg.get(sid)
        assert (got["name"], got["address"], got["host"]) == (s["name"], s["address"], s["host"]), got
    # a javascript: phone is refused by the import; put it in the database anyway (an old or restored
    # registry): the pages must still never make a javascript: link of it
    bad = dict(HOSTILE["XSS2"], phone=JS_URL, lat=LAT - 0.01)
    with pytest.raises(ImportValidationError) as refused:
        import_stations_file(reg, write_csv(home / "bad.csv", [_station_row("XSS9", bad)], header=header))
    assert [p.code for p in refused.value.problems] == ["bad_phone"]
    reg.update_station("XSS2", {"phone": JS_URL}, note="test: a value that bypassed validation")
    reg.create_user(DISTRICT_USER, PASSWORD, "district", adcode="440106")
    reg.create_user("planner", PASSWORD, "planner")
    reg.create_user("admin", PASSWORD, "admin")
    with serve_app(app) as url:
        yield {"url": url, "registry": reg}


class Watch(Recorder):
    """Recorder that also fails on alert/confirm/prompt dialogs and on requests for the injected image."""

    def __init__(self, context) -> None:
        super().__init__(context)
        self.dialogs: list[str] = []

    def watch(self, page) -> None:
        super().watch(page)
        page.on("dialog", self._dialog)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def assert_clean(self, page, where: str) -> None:
        page.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=10_000)
        page.wait_for_timeout(300)                                   # let any onerror handler run
        found = page.evaluate(INJECTED_JS)
        assert found == {"img": 0, "scripts": 0, "handlers": 0, "jsLinks": [], "flag": None}, (where, found)
        assert self.dialogs == [], (where, self.dialogs)
        assert not [u for u in self.requests if u.split("?")[0].endswith("/x")], (where, self.requests)


def _new(chromium, **options):  # noqa: F811
    context = chromium.new_context(locale="zh-CN", **({"viewport": {"width": 1280, "height": 800}} | options))
    rec = Watch(context)
    page = context.new_page()
    rec.watch(page)
    return context, rec, page


def _services(registry, sid: str) -> list[str]:
    from yizhan.stations.model import split_list

    return split_list(registry.get(sid)["services"])


# -- planner map ------------------------------------------------------------------------------------------
OPEN_STATION_POPUPS = """async (names) => {
  const {layers} = window.YIZHAN_MAP, out = {};
  for (const name of names) {
    const m = layers.stations.getLayers().find(l => l.options.title === name);
    if (!m) { out[name] = null; continue; }
    await Promise.race([new Promise(r => layers.stations.zoomToShowLayer(m, r)), new Promise(r => setTimeout(r, 20000))]);
    m.openPopup();
    const el = m.getPopup().getElement();
    out[name] = {text: el.querySelector('.leaflet-popup-content').textContent, title: m.getElement().getAttribute('title')};
  }
  return out;
}"""
OPEN_COVERAGE_POPUPS = """(ids) => {
  const {layers} = window.YIZHAN_MAP, out = {cells: {}, blank: {}};
  for (const kind of ['cells', 'blank']) {
    layers[kind].eachLayer(g => g.eachLayer(l => {
      const id = ((l.feature || {}).properties || {}).nearest_id;
      if (!ids.includes(id) || out[kind][id] !== undefined) return;
      l.openPopup();
      out[kind][id] = l.getPopup().getElement().querySelector('.leaflet-popup-content').textContent;
      l.closePopup();
    }));
  }
  return out;
}"""


def test_planner_map_popups_show_hostile_text_as_text(chromium, server) -> None:  # noqa: F811
    reg = server["registry"]
    context, rec, page = _new(chromium)
    page.goto(server["url"] + "/")
    ready = ("(layer) => { const b = document.getElementById('planner-map');"
             " return b.dataset.state === 'ready' && +b.dataset[layer] > 0; }")
    page.wait_for_function(ready, arg="stations", timeout=TIMEOUT_MS)
    # hexagons and blank spots name their nearest station (name and id) in the popup
    page.evaluate("([lon, lat]) => window.YIZHAN_MAP.map.setView(YZ.toMap(lon, lat), 13, {animate: false})", [LON, LAT])
    page.wait_for_function(ready, arg="blank", timeout=TIMEOUT_MS)
    found = page.evaluate(OPEN_COVERAGE_POPUPS, list(HOSTILE))
    assert set(found["cells"]) == set(HOSTILE), found
    assert {"XSS1", 'X3"><img src=x onerror="window.__xss=3">'} <= set(found["blank"]), found
    for kind in ("cells", "blank"):
        for sid, text in found[kind].items():
            assert f"{HOSTILE[sid]['name']}（{sid}）" in text, (kind, sid, text)
    rec.assert_clean(page, "coverage popups")

    # station markers: zoom the cluster apart, open each popup
    popups = page.evaluate(OPEN_STATION_POPUPS, NAMES)
    for sid, s in HOSTILE.items():
        got = popups[s["name"]]
        assert got is not None, f"no marker titled {s['name']!r}"
        assert got["title"] == s["name"]                             # the marker's tooltip attribute
        for value in (s["name"], s["address"], s["host"], "、".join(_services(reg, sid))):
            assert value in got["text"], (sid, value, got["text"])
    assert "电话phone" + JS_URL in popups[FORMULA]["text"]            # shown, but as plain text
    _shot(page, "xss-planner-popup.png")
    assert "天河区" in page.locator("#summary tbody").inner_text()    # the tables hold no user text
    rec.assert_clean(page, "planner map")
    rec.check()
    context.close()


# -- rider page --------------------------------------------------------------------------------------------
CARDS = """() => Object.fromEntries([...document.querySelectorAll('#results li.station-card')].map(li => [li.dataset.id, {
  text: li.textContent, chips: [...li.querySelectorAll('ul.chips li')].map(c => c.textContent),
  links: [...li.querySelectorAll('a')].map(a => a.getAttribute('href'))}]))"""


def test_rider_page_cards_and_tooltips_show_hostile_text_as_text(chromium, server) -> None:  # noqa: F811
    reg = server["registry"]
    context, rec, page = _new(chromium, geolocation={"latitude": LAT, "longitude": LON})
    context.grant_permissions(["geolocation"])
    page.goto(server["url"] + "/nearest")
    page.wait_for_function("() => document.querySelectorAll('#results li.station-card').length >= 4", timeout=TIMEOUT_MS)
    cards = page.evaluate(CARDS)
    assert set(HOSTILE) <= set(cards), list(cards)
    for sid, s in HOSTILE.items():
        card = cards[sid]
        assert s["name"] in card["text"] and s["address"] in card["text"], (sid, card["text"])
        assert card["chips"] == _services(reg, sid)
        nav = [u for u in card["links"] if not u.startswith("tel:")]
        assert len(nav) == 2 and all(u.startswith(("https://uri.amap.com/", "https://api.map.baidu.com/")) for u in nav), nav
        assert not any(c in u for u in nav for c in '<>"\' '), nav       # the name is percent-encoded
    assert "tel:020-12345678" in cards["XSS1"]["links"]
    assert not [u for u in cards["XSS2"]["links"] if u.startswith("tel:")]   # no digits: no phone link at all
    _shot(page, "xss-nearest.png")
    rec.assert_clean(page, "rider cards")

    # the small map (opened by hand) labels the stations with tooltips on hover
    page.evaluate("document.getElementById('manual').open = true")
    page.wait_for_selector("#tap-map.leaflet-container", state="attached", timeout=30_000)
    page.click("#locate")
    page.wait_for_function("() => document.querySelectorAll('#tap-map path.leaflet-interactive').length >= 4", timeout=TIMEOUT_MS)
    page.evaluate("() => document.querySelectorAll('#tap-map path.leaflet-interactive').forEach("
                  "p => p.dispatchEvent(new MouseEvent('mouseover', {bubbles: true, clientX: 10, clientY: 10})))")
    tips = page.locator("#tap-map .leaflet-tooltip").all_text_contents()
    for name in NAMES:
        assert any(name in t for t in tips), (name, tips)
    rec.assert_clean(page, "rider map tooltips")
    rec.check()
    context.close()


# -- proposals ------------------------------------------------------------------------------------------------
OPEN_TOOLTIPS = """() => { window.YIZHAN_PROPOSALS_MAP.eachLayer(l => { if (l.getTooltip && l.getTooltip()) l.openTooltip(); });
  return [...document.querySelectorAll('#pick-map .leaflet-tooltip')].map(t => t.textContent); }"""


def _row_text(page, status: str) -> str:
    page.wait_for_function("(s) => [...document.querySelectorAll('#proposal-table tbody tr')].some(r => r.dataset.status === s)",
                           arg=status, timeout=30_000)
    return page.locator(f'#proposal-table tbody tr[data-status="{status}"]').first.inner_text()


def test_proposals_show_hostile_name_host_user_and_comment_as_text(chromium, server) -> None:  # noqa: F811
    base = server["url"]
    context, rec, page = _new(chromium)
    _login(page, base, DISTRICT_USER)
    assert DISTRICT_USER in page.locator("#yz-user").inner_text()
    assert page.locator("form.yz-logout button").get_attribute("title").startswith(DISTRICT_USER)
    _pick_site_in_tianhe(page)
    page.fill("#proposal-form input[name=name]", PROPOSAL["name"])
    page.fill("#proposal-form input[name=host]", PROPOSAL["host"])
    page.fill("#proposal-form textarea[name=reason]", PROPOSAL["reason"])
    page.click("#submit-btn")
    page.wait_for_selector("#form-msg.is-ok", timeout=TIMEOUT_MS)
    text = _row_text(page, "待审核")
    for value in (PROPOSAL["name"], PROPOSAL["host"], DISTRICT_USER):
        assert value in text, (value, text)
    stored = server["registry"]
    from yizhan.stations import proposals as props

    row = props.listing(stored).iloc[0]
    assert (row["name"], row["host"], row["reason"]) == (PROPOSAL["name"], PROPOSAL["host"], PROPOSAL["reason"])
    tips = page.evaluate(OPEN_TOOLTIPS)                               # stations and proposals on the map
    for name in NAMES + [PROPOSAL["name"]]:
        assert any(name in t for t in tips), (name, tips)
    rec.assert_clean(page, "proposals (district)")
    page.click("form.yz-logout button")
    page.wait_for_url(lambda url: url.rstrip("/") == base)

    _login(page, base, "planner")
    tr = page.locator('#proposal-table tbody tr[data-status="待审核"]').first
    tr.locator("button.act-reject").wait_for(timeout=30_000)
    tr.locator("input").fill(COMMENT)
    tr.locator("button.act-reject").click()
    text = _row_text(page, "已驳回")
    for value in (PROPOSAL["name"], PROPOSAL["host"], DISTRICT_USER, COMMENT):
        assert value in text, (value, text)
    page.evaluate(OPEN_TOOLTIPS)
    _shot(page, "xss-proposals.png")
    rec.assert_clean(page, "proposals (planner)")
    rec.check()
    context.close()

    # the table as the server renders it (Jinja), before any script runs
    context, rec, page = _new(chromium, java_script_enabled=False)
    _login(page, base, "planner")
    text = page.locator("#proposal-table tbody").inner_text()
    for value in (PROPOSAL["name"], PROPOSAL["host"], DISTRICT_USER, COMMENT):
        assert value in text, (value, text)
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator("#proposal-table script").count() == 0
    assert rec.dialogs == [] and rec.external == []
    context.close()


# -- registry (planner) and accounts (admin) ------------------------------------------------------------------
class ConfirmingWatch(Watch):
    """Watch that answers the pages' own confirm() questions with OK (any other dialog still fails)."""

    def _dialog(self, dialog) -> None:
        if dialog.type == "confirm":
            dialog.accept()
        else:
            super()._dialog(dialog)


def _open_as(chromium, server, username: str, path: str, height: int = 900):  # noqa: F811
    """A new context (confirm() answered OK) with ``username`` logged in on ``path``."""
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": height})
    rec = ConfirmingWatch(context)
    page = context.new_page()
    rec.watch(page)
    _login_to(page, server["url"], username, path)
    return context, rec, page


def _login_to(page, base: str, username: str, path: str) -> None:
    page.goto(base + "/login?next=" + path)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(lambda url: url.endswith(path))


def test_registry_page_edits_shows_history_as_text_and_undoes(chromium, server) -> None:  # noqa: F811
    reg = server["registry"]
    context, rec, page = _open_as(chromium, server, "planner", "/registry")
    page.wait_for_selector("#station-table tbody tr[data-id]", timeout=30_000)
    names = page.locator("#station-table td.s-name").all_inner_texts()
    for name in NAMES:
        assert name in names
    rec.assert_clean(page, "registry: station list")
    # edit the hostile station XSS1 through the form
    before = reg.get("XSS1")
    page.locator('#station-table tr[data-id="XSS1"] button').click()
    page.wait_for_function("() => document.querySelector('#station-form [name=name]').value.length > 0")
    assert page.input_value("#station-form [name=name]") == HOSTILE["XSS1"]["name"]
    assert page.input_value("#station-form [name=address]") == HOSTILE["XSS1"]["address"]
    page.fill("#station-form [name=hours]", "07:00-22:00")
    page.fill("#station-form [name=note]", "备注" + FLAG)
    page.click("#st-save")
    page.wait_for_selector("#form-msg.is-ok", timeout=30_000)
    assert reg.get("XSS1")["hours"] == "07:00-22:00" and reg.get("XSS1")["lon"] == before["lon"]
    first = page.locator("#history-table tbody tr").first
    page.wait_for_function("() => document.querySelector('#history-table tbody tr').textContent.includes('07:00-22:00')",
                           timeout=30_000)
    text = first.inner_text()
    assert HOSTILE["XSS1"]["name"] in text and "备注" + FLAG in text and "24h" in text and "07:00-22:00" in text
    rec.assert_clean(page, "registry: after the edit")
    # undo it from the history table
    first.locator("button[data-undo]").click()
    page.wait_for_function("() => document.querySelector('#history-table tbody tr').dataset.action === 'undo'",
                           timeout=30_000)
    assert reg.get("XSS1") == before
    assert "已撤销" in page.locator("#history-table tbody tr").nth(1).inner_text()
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "registry-history.png"), full_page=True)
    # a new station with a hostile name through the form: shown as text in the list and the history
    page.click("#st-new")
    page.fill("#station-form [name=name]", "新站" + FLAG)
    page.fill("#station-form [name=lon]", "113.3300")
    page.fill("#station-form [name=lat]", "23.1200")
    page.click("#st-save")
    page.wait_for_selector("#form-msg.is-ok", timeout=30_000)
    page.fill("#st-search", "新站")
    # the list reloads after the save and filters as one types: wait until it shows only the match
    page.wait_for_function("() => { const n = [...document.querySelectorAll('#station-table td.s-name')];"
                           " return n.length > 0 && n.every(td => td.textContent.startsWith('新站')); }",
                           timeout=30_000)
    assert page.locator("#station-table td.s-name").all_inner_texts() == ["新站" + FLAG]
    # a bad value: the problems are listed by field, nothing is written
    count = reg.count()
    page.click("#st-new")
    page.fill("#station-form [name=name]", "坏站")
    page.fill("#station-form [name=hours]", "25:00-26:00")
    page.fill("#station-form [name=lon]", "113.3400")
    page.fill("#station-form [name=lat]", "23.1210")
    page.click("#st-save")
    page.wait_for_selector("#form-problems li", timeout=30_000)
    assert "hours" in page.locator("#form-problems").inner_text() and reg.count() == count
    assert [u.split(" ")[0] for u in rec.failed] == ["400"]                  # that refusal, and nothing else
    rec.failed.clear()
    rec.errors = [e for e in rec.errors if "status of 400" not in e]         # the console's note of it
    _shot(page, "registry.png")
    rec.assert_clean(page, "registry: new station")
    rec.check()
    context.close()


def test_registry_page_imports_a_file_and_undoes_the_whole_import(chromium, server, tmp_path) -> None:  # noqa: F811
    reg = server["registry"]
    start = reg.stations()
    context, rec, page = _open_as(chromium, server, "planner", "/registry")
    page.wait_for_selector("#station-table tbody tr[data-id]", timeout=30_000)
    bad = write_csv(tmp_path / "bad.csv", ["B1,坏行,茶馆,,,,,,,113.33,23.12"])
    page.set_input_files("#import-file", str(bad))
    page.click("#import-go")
    page.wait_for_selector("#import-problems li", timeout=30_000)
    assert "第 2 行" in page.locator("#import-problems").inner_text() and reg.count() == len(start)
    assert [u.split(" ")[0] for u in rec.failed] == ["400"]                  # that refusal, and nothing else
    rec.failed.clear()
    rec.errors = [e for e in rec.errors if "status of 400" not in e]         # the console's note of it
    good = write_csv(tmp_path / "good.csv", ["N1,猎德驿站" + IMG + ",工会爱心驿站,,饮水,24h,4,,在运营,113.3350,23.1150",
                                             "N2,冼村驿站,工会爱心驿站,,饮水,24h,4,,在运营,113.3380,23.1250"])
    page.set_input_files("#import-file", str(good))
    page.click("#import-check")
    page.wait_for_selector("#import-msg.is-ok", timeout=30_000)
    assert reg.count() == len(start)                                          # check only
    page.click("#import-go")
    page.wait_for_function("() => document.getElementById('import-msg').textContent.includes('已导入')",
                           timeout=30_000)
    assert reg.count() == len(start) + 2
    page.wait_for_selector("#history-table button[data-undo-batch]", timeout=30_000)
    page.locator("#history-table button[data-undo-batch]").first.click()
    page.wait_for_function("() => document.getElementById('hist-msg').textContent.includes('整批')", timeout=30_000)
    assert reg.stations().equals(start)
    rec.assert_clean(page, "registry: import")
    rec.check()
    context.close()


def test_accounts_page_lists_hostile_usernames_as_text_and_manages_accounts(chromium, server) -> None:  # noqa: F811
    reg = server["registry"]
    context, rec, page = _open_as(chromium, server, "admin", "/admin/users", 800)
    page.wait_for_selector("body[data-users-loaded]", timeout=30_000)
    assert DISTRICT_USER in page.locator("#user-table td.u-name").all_inner_texts()
    page.fill("#user-form [name=username]", "yuexiu")
    page.fill("#user-form [name=password]", "long-enough-1")
    page.select_option("#user-form [name=role]", "district")
    page.fill("#user-form [name=adcode]", "440104")
    page.click("#user-form button[type=submit]")
    page.wait_for_selector("#user-msg.is-ok", timeout=30_000)
    assert reg.check_user("yuexiu", "long-enough-1")["adcode"] == "440104"
    row = page.locator("#user-table tr", has=page.locator("td.u-name", has_text="yuexiu"))
    row.locator("button", has_text="停用").click()
    page.wait_for_selector("#list-msg.is-ok", timeout=30_000)
    assert reg.check_user("yuexiu", "long-enough-1") is None
    _shot(page, "users.png")
    rec.assert_clean(page, "accounts")
    rec.check()
    context.close()
