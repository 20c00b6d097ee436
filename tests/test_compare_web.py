"""Change over time and annual targets on the web: ``/api/coverage/compare`` checked against
:func:`yizhan.coverage.compare.compare_results` of two independent analyses, its errors and
permissions; ``/api/targets`` checked against the registry history and the coverage summary."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from conftest import STATION_ROWS, clear_settings, write_csv
from test_browser import browser as chromium  # noqa: F401  test_browser's Chromium fixture

from yizhan.app import create_app
from yizhan.samples import load_sample
from yizhan.stations import import_stations_file

PASSWORD = "secret-pass-1"
TIANHE = "440106"
GROUP = "外卖配送员"
TARGETS = {"new_stations": {"工会爱心驿站": 200, "快递员之家": 5}, "covered_share": {GROUP: 0.9, "快递员": 0.8}}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The sample, a few stations imported this year, and two datasets: the sample's hotspots, and
    the same without Tianhe's."""
    from yizhan.geodata.boundaries import district_of

    with pytest.MonkeyPatch.context() as mp:
        clear_settings(mp)
        tmp = tmp_path_factory.mktemp("cmpweb")
        home = tmp / "home"
        app = create_app({"HOME": str(home), "TESTING": True, "RATE_LIMIT_ENABLED": False,
                          "ANNUAL_TARGETS": TARGETS})
    svc = app.extensions["yizhan"]
    reg = svc.registry
    load_sample(reg, home)
    import_stations_file(reg, write_csv(tmp / "new.csv", STATION_ROWS), user="plan1")
    reg.create_user("plan1", PASSWORD, "planner")
    reg.create_user("tianhe", PASSWORD, "district", adcode=TIANHE)
    frame = pd.read_csv(home / "sample" / "hotspots.csv")
    frame.to_csv(tmp / "all.csv", index=False)
    codes = district_of(frame["lon"].to_numpy(dtype=float), frame["lat"].to_numpy(dtype=float))
    assert (codes == TIANHE).sum() > 100
    frame[codes != TIANHE].to_csv(tmp / "without.csv", index=False)
    store = svc.datasets()
    first = store.add(tmp / "all.csv", name="2026年9月 全部")
    second = store.add(tmp / "without.csv", name="2026年10月 无天河")
    svc.datasets_changed()
    return app, first, second


def login(client, username: str):
    with client.session_transaction() as s:
        s["csrf"] = "planted-token"
    resp = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": "planted-token"})
    assert resp.status_code == 302
    return client


@pytest.fixture
def planner(world):
    return login(world[0].test_client(), "plan1")


def assert_error(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    err = resp.get_json()["error"]
    assert err["zh"] and err["en"] and err["status"] == status
    return err


def _same(a, b) -> None:
    """Equal JSON values, floats to 1e-9."""
    if isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) and isinstance(b, (int, float)):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12)
    else:
        assert a == b


def _expected(app, first, second, group=None):
    from yizhan.coverage import analyze
    from yizhan.coverage.compare import compare_results

    svc = app.extensions["yizhan"]
    store, stations = svc.datasets(), svc.registry.stations()
    th = app.config["THRESHOLDS_M"]
    before = analyze(stations, store.demand(first["id"], 9), group=group, thresholds=th)
    after = analyze(stations, store.demand(second["id"], 9), group=group, thresholds=th)
    return compare_results(before, after, before_name=first["name"], after_name=second["name"])


# -- compare -----------------------------------------------------------------------------------------
def test_compare_equals_compare_results_of_the_two_analyses(world, planner) -> None:
    app, first, second = world
    resp = planner.get(f"/api/coverage/compare?before={first['id']}&after={second['id']}")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    got = resp.get_json()
    comp = _expected(app, first, second)
    want = json.loads(json.dumps(comp.to_json(), allow_nan=False, default=str))
    _same(got["headline"], want["headline"])
    _same(got["districts"], want["districts"])
    assert got["before"] == {"id": first["id"], "name": first["name"]}
    # Tianhe's demand is gone in the later dataset: its share of the demand is gone, not lost
    assert got["headline"]["n_demand_gone"] > 0 and got["headline"]["demand_after"] < got["headline"]["demand_before"]
    tianhe = next(r for r in got["districts"] if r["adcode"] == TIANHE and r["level"] == "district")
    assert tianhe["demand_after"] < 0.05 * tianhe["demand_before"]      # (cells on its border keep a little)
    # the cells: the changed cells of compare_results, with their change
    cells = got["cells"]
    assert cells["type"] == "FeatureCollection"
    want_cells = {f["properties"]["h3"]: f["properties"]["change"] for f in comp.to_geojson_cells()["features"]}
    assert {f["properties"]["h3"]: f["properties"]["change"] for f in cells["features"]} == want_cells
    assert len(want_cells) == len(comp.cells)
    assert all(f["geometry"]["type"] == "Polygon" and f["properties"]["change_zh"] for f in cells["features"])
    assert len(got["new_zones"]["features"]) == len(comp.new_zones) == got["headline"]["n_new_zones"]


def test_compare_the_other_way_round_with_a_group_and_a_bbox(world, planner) -> None:
    app, first, second = world
    url = f"/api/coverage/compare?before={second['id']}&after={first['id']}&group={GROUP}"
    got = planner.get(url).get_json()
    comp = _expected(app, second, first, group=GROUP)
    _same(got["headline"], json.loads(json.dumps(comp.to_json(), allow_nan=False, default=str))["headline"])
    assert got["headline"]["group"] == GROUP
    assert got["headline"]["n_cells_after"] > got["headline"]["n_cells_before"]
    assert len(got["cells"]["features"]) == len(comp.cells)
    # a bbox keeps the cells near it only
    box = (113.30, 23.115, 113.37, 23.16)
    part = planner.get(url + "&bbox=" + ",".join(map(str, box))).get_json()["cells"]["features"]
    assert 0 < len(part) < len(got["cells"]["features"])
    for f in part:
        ring = np.asarray(f["geometry"]["coordinates"][0])
        assert box[0] - 0.02 < ring[:, 0].mean() < box[2] + 0.02 and box[1] - 0.02 < ring[:, 1].mean() < box[3] + 0.02
    # GCJ-02 output moves the coordinates, not the cells
    gcj = planner.get(url + "&out_crs=gcj02").get_json()["cells"]["features"]
    assert [f["properties"]["h3"] for f in gcj] == [f["properties"]["h3"] for f in got["cells"]["features"]]
    assert gcj[0]["geometry"]["coordinates"][0][0] != got["cells"]["features"][0]["geometry"]["coordinates"][0][0]


def test_compare_errors(world, planner) -> None:
    app, first, second = world
    for query in ("", f"before={first['id']}", f"after={second['id']}", f"before=abc&after={second['id']}",
                  f"before={first['id']}&after={first['id']}", f"before={first['id']}&after=-1",
                  f"before={first['id']}&after={second['id']}&res=99",
                  f"before={first['id']}&after={second['id']}&bbox=1,2,3",
                  f"before={first['id']}&after={second['id']}&dataset={first['id']}",
                  f"before={first['id']}&after={second['id']}&nonsense=1"):
        assert_error(planner.get(f"/api/coverage/compare?{query}"), 400)
    err = assert_error(planner.get(f"/api/coverage/compare?before={first['id']}&after=999999"), 404)
    assert err["field"] == "after"
    err = assert_error(planner.get(f"/api/coverage/compare?before=999999&after={second['id']}"), 404)
    assert err["field"] == "before"
    anon = app.test_client()
    assert_error(anon.get(f"/api/coverage/compare?before={first['id']}&after={second['id']}"), 401)
    assert_error(anon.get(f"/api/targets?area={TIANHE}"), 401)


# -- annual targets -----------------------------------------------------------------------------------
def _created_this_year(reg, area: str, tz: str) -> dict[str, int]:
    """Stations created this year (in tz) in the area, by type, straight from the history."""
    hist = reg.history(action="create", limit=1_000_000)
    year = datetime.now(ZoneInfo(tz)).year
    counts: dict[str, int] = {}
    seen = set()
    for at, sid, after in zip(hist["at"], hist["station_id"], hist["after"]):
        values = json.loads(after)
        local = pd.Timestamp(at).tz_localize("UTC").tz_convert(tz)
        if local.year != year or not str(values.get("adcode") or "").startswith(area.rstrip("0")[:6]) or sid in seen:
            continue
        seen.add(sid)
        counts[values["type"]] = counts.get(values["type"], 0) + 1
    return counts


@pytest.mark.parametrize("area", ["440100", TIANHE])
def test_targets_count_this_years_stations_and_the_groups_share(world, planner, area) -> None:
    app, first, second = world
    reg = app.extensions["yizhan"].registry
    tz = app.config["TIMEZONE"]
    got = planner.get(f"/api/targets?area={area}&dataset={first['id']}")
    assert got.status_code == 200, got.get_data(as_text=True)[:500]
    got = got.get_json()
    assert got["year"] == datetime.now(ZoneInfo(tz)).year and got["area"] == area
    assert got["dataset"]["id"] == first["id"]
    counts = _created_this_year(reg, area if area != "440100" else "4401", tz)
    assert counts.get("工会爱心驿站", 0) > 0
    by_type = {r["type"]: r for r in got["new_stations"]}
    assert set(by_type) == set(TARGETS["new_stations"])
    for kind, target in TARGETS["new_stations"].items():
        row = by_type[kind]
        assert row["done"] == counts.get(kind, 0) and row["target"] == target
        assert row["progress"] == pytest.approx(min(counts.get(kind, 0) / target, 1.0))
    shares = {r["group"]: r for r in got["covered_share"]}
    assert set(shares) == set(TARGETS["covered_share"])
    for g, target in TARGETS["covered_share"].items():
        summary = planner.get(f"/api/coverage/summary?group={g}&dataset={first['id']}").get_json()
        level = "city" if area == "440100" else "district"
        want = next(r for r in summary["rows"] if r["adcode"] == area and r["level"] == level)["covered_share"]
        assert shares[g]["current"] == pytest.approx(want, abs=1e-12) and shares[g]["target"] == target
        assert shares[g]["progress"] == pytest.approx(min(want / target, 1.0))
        assert 0 <= shares[g]["progress"] <= 1


def test_targets_agree_with_the_report(world) -> None:
    from yizhan.coverage.report import report_from_registry

    app, first, second = world
    svc = app.extensions["yizhan"]
    client = login(app.test_client(), "plan1")
    got = client.get(f"/api/targets?area={TIANHE}&dataset={first['id']}").get_json()
    made = report_from_registry(svc.registry, svc.datasets().hotspots(first["id"]), area=TIANHE, config=app.config,
                                group=GROUP, hourly=False)
    progress = made.tables["progress"]
    for r in got["new_stations"]:
        assert int(progress.loc[progress["item"] == f"新建{r['type']}", "done"].iloc[0]) == r["done"]
    for r in got["covered_share"]:
        want = float(progress.loc[progress["item"] == f"{r['group']}需求覆盖率", "done"].iloc[0])
        assert r["current"] == pytest.approx(want, abs=1e-9)


def test_targets_errors_and_scope(world, planner) -> None:
    app, first, second = world
    for query in ("", "area=abc", "area=4401", "area=440106&x=1", "area=440106&dataset=abc"):
        assert_error(planner.get(f"/api/targets?{query}"), 400)
    assert_error(planner.get("/api/targets?area=999999"), 404)
    assert_error(planner.get("/api/targets?area=440106&dataset=999999"), 404)
    district = login(app.test_client(), "tianhe")
    assert district.get(f"/api/targets?area={TIANHE}").status_code == 200
    assert_error(district.get("/api/targets?area=440105"), 403)


def test_routes_are_in_the_openapi_document(world) -> None:
    doc = world[0].test_client().get("/openapi.json").get_json()
    for path in ("/api/coverage/compare", "/api/targets"):
        op = doc["paths"][path]["get"]
        assert op["security"] and "401" in op["responses"]
    names = {p.get("name") for p in doc["paths"]["/api/coverage/compare"]["get"]["parameters"]}
    assert {"before", "after"} <= names


# -- the planner page (headless Chromium) ---------------------------------------------------------------
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from test_browser import serve_app

    from yizhan.geodata.boundaries import district_of

    home = tmp_path_factory.mktemp("cmp-browser") / "home"
    with pytest.MonkeyPatch.context() as mp:
        clear_settings(mp)
        app = create_app({"HOME": str(home), "TILES": "none", "RATE_LIMIT_ENABLED": False,
                          "ANNUAL_TARGETS": TARGETS})
    svc = app.extensions["yizhan"]
    load_sample(svc.registry, home)
    svc.registry.create_user("plan1", PASSWORD, "planner")
    frame = pd.read_csv(home / "sample" / "hotspots.csv")
    codes = district_of(frame["lon"].to_numpy(dtype=float), frame["lat"].to_numpy(dtype=float))
    frame.to_csv(home / "all.csv", index=False)
    frame[codes != TIANHE].to_csv(home / "without.csv", index=False)
    first = svc.datasets().add(home / "all.csv", name="九月 <b>全部</b>")
    second = svc.datasets().add(home / "without.csv", name="十月 无天河")
    svc.datasets_changed()
    with serve_app(app) as url:
        yield {"url": url, "app": app, "first": first, "second": second}


@pytest.mark.browser
@pytest.mark.slow
def test_the_planner_compares_two_datasets_and_shows_the_targets(chromium, served) -> None:  # noqa: F811
    from test_browser import TIMEOUT_MS, Recorder, _shot

    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    rec = Recorder(context)
    page = context.new_page()
    rec.watch(page)
    page.goto(served["url"] + "/login?next=/")
    page.fill("input[name=username]", "plan1")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(lambda url: url.rstrip("/") == served["url"])
    page.wait_for_selector("#filters [data-compare-wrap]:not([hidden])", timeout=TIMEOUT_MS)
    assert page.locator("#compare-panel").is_hidden()
    page.select_option("#filters select[name=compare]", str(served["first"]["id"]))
    page.wait_for_selector("#compare-panel:not([hidden])", timeout=TIMEOUT_MS)
    page.wait_for_function("() => { const b = document.getElementById('planner-map');"
                           " return b.dataset.state === 'ready' && +b.dataset.compare > 0; }", timeout=TIMEOUT_MS)
    api = served["app"].test_client()
    login(api, "plan1")
    want = api.get(f"/api/coverage/compare?before={served['first']['id']}&after={served['second']['id']}").get_json()
    assert int(page.get_attribute("#planner-map", "data-compare")) == len(want["cells"]["features"])
    legend = page.inner_text("#compare-legend")
    for text in ("失去覆盖", "新增未覆盖需求", "新获覆盖", "lost coverage"):
        assert text in legend
    assert "九月 <b>全部</b>" in page.inner_text("#compare-head")          # shown as text
    assert page.locator("#compare-panel b").count() == 0
    assert page.locator("#compare-table tbody tr").count() > 0
    # a district: the targets panel and the district's row of the table
    page.select_option("#filters select[name=city]", "440100")
    page.wait_for_selector("#filters select[name=district] option[value='440106']", state="attached",
                           timeout=TIMEOUT_MS)
    page.select_option("#filters select[name=district]", TIANHE)
    page.wait_for_selector("#targets-panel:not([hidden]) .target-row", timeout=TIMEOUT_MS)
    assert page.locator("#targets .target-row").count() == len(TARGETS["new_stations"]) + len(TARGETS["covered_share"])
    assert "年度目标进度" in page.inner_text("#targets-panel")
    assert page.locator(f"#compare-table tbody tr[data-adcode='{TIANHE}']").count() == 1
    _shot(page, "planner-compare.png")
    rec.check()
    context.close()
