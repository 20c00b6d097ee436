"""Headless-Chromium check of placing stations that wait for a location (待定位) on ``/registry``.

The Guangzhou sample plus stations imported without coordinates.  A planner picks a waiting
station in the registry page's new panel, clicks the map where it stands (the uncovered demand cell
ranked first among the blank spots), saves, and the coverage counts it: the station is in service,
the nearest station to that cell, the cell is covered, and the district's covered demand grew by
exactly what ``/api/impact`` predicted for a station there before it was placed.  The history's undo
button takes it back (coverage as before).  Then a geocoder's candidate is accepted with one button.
Same browser set-up as ``test_browser.py`` (Debian's Chromium, every request recorded, other hosts
aborted, no JavaScript error, no failed request).
"""

from __future__ import annotations

import json

import pytest
from conftest import clear_settings, write_csv
from test_browser import PASSWORD, Recorder, _shot, serve_app
from test_browser import browser as chromium  # noqa: F401  test_browser's Chromium fixture, named chromium here

pytestmark = [pytest.mark.browser, pytest.mark.slow]
XSS = "<img src=x onerror=alert(1)>"
HEADER = "编号,名称,类型,地址,adcode,状态,经度,纬度\n"


def _summary_row(client, adcode: str) -> dict:
    resp = client.get("/api/coverage/summary")
    assert resp.status_code == 200
    return next(r for r in resp.get_json()["rows"] if r["adcode"] == adcode and r["level"] == "district")


def _cell(client, lon: float, lat: float, h3: str) -> dict:
    bbox = f"{lon - 0.003},{lat - 0.003},{lon + 0.003},{lat + 0.003}"
    fc = client.get(f"/api/coverage/cells?bbox={bbox}&zoom=18").get_json()
    return next(f["properties"] for f in fc["features"] if f["properties"]["h3"] == h3)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """The Guangzhou sample, three stations waiting for a location in the district of the two
    blank spots ranked first, and a planner; served on 127.0.0.1:<free port>."""
    from yizhan.app import create_app
    from yizhan.samples import load_sample
    from yizhan.stations import import_stations_file

    home = tmp_path_factory.mktemp("waiting-home")
    with pytest.MonkeyPatch.context() as mp:
        clear_settings(mp)
        app = create_app({"HOME": str(home), "TILES": "none", "RATE_LIMIT_ENABLED": False})
    reg = app.extensions["yizhan"].registry
    load_sample(reg, home)
    spots = [f for f in app.test_client().get("/api/coverage/blank-spots?limit=10").get_json()["features"]]
    first = spots[0]
    adcode = first["properties"]["adcode"]
    second = next(f for f in spots[1:] if f["properties"]["adcode"] == adcode)
    rows = [f"WB1,待定位驿站一号,工会爱心驿站,某路1号,{adcode},在运营,,",
            f"WB2,待定位驿站二号,快递员之家,某路2号,{adcode},在运营,,",
            f"WB3,{XSS},工会爱心驿站,某路3号,{adcode},在运营,,"]
    import_stations_file(reg, write_csv(home / "waiting.csv", rows, header=HEADER), user="seed")
    reg.create_user("planner", PASSWORD, "planner")
    with serve_app(app) as url:
        yield {"url": url, "app": app, "registry": reg, "adcode": adcode,
               "spots": [(s["geometry"]["coordinates"], s["properties"]) for s in (first, second)]}


def test_a_planner_places_a_waiting_station_and_the_coverage_counts_it(chromium, server) -> None:  # noqa: F811
    reg, api = server["registry"], server["app"].test_client()
    adcode = server["adcode"]
    (lon, lat), spot = server["spots"][0]
    # before: the cell is a blank spot; what a station there would add (the impact API)
    before = _summary_row(api, adcode)
    assert _cell(api, lon, lat, spot["h3"])["covered"] is False
    impact = api.get(f"/api/impact?lon={lon}&lat={lat}").get_json()
    assert impact["new_demand"] >= spot["demand"] > 0
    assert all(s["id"] != "WB1" for s in api.get(f"/api/nearest?lon={lon}&lat={lat}&k=10").get_json())

    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1000})
    rec = Recorder(context)
    page = context.new_page()
    rec.watch(page)
    page.on("dialog", lambda d: d.accept())                         # the page's own "undo?" question
    patches: list[tuple[str, str | None, dict]] = []
    page.on("request", lambda r: r.method == "PATCH" and
            patches.append((r.url.rsplit("/", 1)[1], r.headers.get("if-match"), json.loads(r.post_data or "{}"))))
    page.goto(server["url"] + "/login?next=/registry")
    page.fill("input[name=username]", "planner")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/registry"))
    page.wait_for_selector('#waiting-table tr[data-id="WB1"]', timeout=60_000)

    # the panel: three stations in one district, the markup name shown as text
    assert page.locator("#waiting-table tbody tr[data-id]").count() == 3
    assert page.locator("#waiting-table img").count() == 0
    assert XSS in page.inner_text('#waiting-table tr[data-id="WB3"]')
    assert page.inner_text(f'#wait-counts li[data-adcode="{adcode}"] strong') == "3"
    assert page.get_attribute("#wait-print", "href") == "/registry/waiting"

    # pick WB1, click the map where it stands, save
    page.click('#waiting-table tr[data-id="WB1"] button')
    page.wait_for_selector('#wait-map[data-picked="WB1"]', timeout=30_000)
    assert page.locator("#wait-candidate").is_hidden()
    page.evaluate("([lon, lat]) => { window.YIZHAN_WAITING_MAP.setView(YZ.toMap(lon, lat), 18, {animate: false}); }",
                  [lon, lat])
    # where the spot is on the screen (the map scrolled into view at once: no smooth scrolling under the click)
    x, y = page.evaluate("([lon, lat]) => { const box = document.getElementById('wait-map');"
                         " box.scrollIntoView({block: 'center', behavior: 'instant'});"
                         " const r = box.getBoundingClientRect();"
                         " const p = window.YIZHAN_WAITING_MAP.latLngToContainerPoint(YZ.toMap(lon, lat));"
                         " return [r.left + p.x, r.top + p.y]; }", [lon, lat])
    page.mouse.click(x, y)
    page.wait_for_function("() => !document.querySelector('#wait-save').disabled")
    assert page.input_value("#wait-form [name=crs]") == "wgs84"                # TILES = none: WGS-84 tiles
    assert abs(float(page.input_value("#wait-form [name=lon]")) - lon) < 2e-5
    _shot(page, "registry-waiting-placing.png")
    page.click("#wait-save")
    page.wait_for_selector("#wait-msg.is-ok", timeout=30_000)
    page.wait_for_function("() => !document.querySelector('#waiting-table tr[data-id=\"WB1\"]')", timeout=30_000)
    assert patches[0][:2] == ("WB1", '"1"') and patches[0][2]["crs"] == "wgs84"
    row = reg.get("WB1")
    assert (row["status"], row["precision"], row["located_status"], row["adcode"]) == ("在运营", "manual", "", adcode)
    assert abs(row["lon"] - lon) < 2e-5 and abs(row["lat"] - lat) < 2e-5          # within ~2 m of the click
    page.wait_for_selector('#history-table tr[data-action="update"] li[data-field="status"]', timeout=30_000)
    assert "placed on the map" in page.inner_text("#history-table tbody tr:first-child")

    # the coverage counts it: in service, the cell's nearest station, the district's demand covered
    assert "WB1" in {f["id"] for f in api.get("/api/stations?status=在运营").get_json()["features"]}
    nearest = api.get(f"/api/nearest?lon={lon}&lat={lat}&k=1").get_json()[0]
    assert nearest["id"] == "WB1" and nearest["distance_m"] < 5
    cell = _cell(api, lon, lat, spot["h3"])
    assert cell["covered"] is True and cell["nearest_id"] == "WB1" and cell["distance_m"] < 5
    after = _summary_row(api, adcode)
    assert after["n_stations"] == before["n_stations"] + 1
    assert after["covered_demand"] == pytest.approx(before["covered_demand"] + impact["new_demand"], abs=1e-6)
    assert after["n_blank_spots"] < before["n_blank_spots"]

    # the history's undo takes the placement back: waiting again, the coverage as before
    page.click('#history-table tbody tr:first-child button[data-undo]')
    page.wait_for_selector('#waiting-table tr[data-id="WB1"]', timeout=30_000)
    assert reg.get("WB1")["status"] == "待定位" and reg.get("WB1")["lon"] is None
    assert _summary_row(api, adcode) == before
    assert all(s["id"] != "WB1" for s in api.get(f"/api/nearest?lon={lon}&lat={lat}&k=10").get_json())

    # a geocoder's candidate (what `yizhan geocode` stores) is accepted with one button
    (clon, clat), _ = server["spots"][1]
    reg.update_station("WB2", {"candidate": json.dumps({"lon": clon, "lat": clat, "precision": "poi", "level": "兴趣点",
                                                        "score": 0.9, "label": "某路2号院", "provider": "test",
                                                        "at": "2025-05-01T10:00:00", "query": "某路2号"},
                                                       ensure_ascii=False)}, user="geocoder")
    page.reload()
    page.wait_for_selector('#waiting-table tr[data-id="WB2"]', timeout=60_000)
    assert "兴趣点" in page.inner_text('#waiting-table tr[data-id="WB2"]')
    page.click('#waiting-table tr[data-id="WB2"] button')
    page.wait_for_selector('#wait-map[data-picked="WB2"]', timeout=30_000)
    assert page.locator("#wait-candidate").is_visible()
    assert "兴趣点" in page.inner_text("#wait-cand-precision") and "某路2号院" in page.inner_text("#wait-cand-label")
    _shot(page, "registry-waiting-candidate.png")
    page.click("#wait-accept")
    page.wait_for_selector("#wait-msg.is-ok", timeout=30_000)
    row = reg.get("WB2")
    assert (row["lon"], row["lat"], row["precision"], row["status"]) == (clon, clat, "poi", "在运营")
    assert patches[-1][:2] == ("WB2", '"2"') and patches[-1][2]["accept_candidate"] is True
    page.wait_for_function("() => !document.querySelector('#waiting-table tr[data-id=\"WB2\"]')", timeout=30_000)
    assert page.locator("#waiting-table tbody tr[data-id]").count() == 2
    rec.check()
    context.close()
