"""Any province, not just Guangdong: the REGION setting, the map selectors, boundaries of any area,
registry scoping by area prefix, district accounts outside Guangdong, summary names.

Expected names and counts are facts about the administrative divisions (西宁市 has 7 districts and
counties, 青海省 8 prefecture-level units, 重庆市's counties are 5002xx), not read back from the code
under test; station adcodes come from the point-in-polygon lookup of the import path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import STATION_ROWS, write_csv

from yizhan.app import create_app
from yizhan.coverage.gaps import admin_blind_zones
from yizhan.coverage.summary import district_summary
from yizhan.geodata.boundaries import district_of, geometry_of
from yizhan.stations import import_stations_file
from yizhan.stations import proposals as props
from yizhan.stations.storage import in_scope, scope_prefix
from yizhan.web import regions

PASSWORD = "secret-pass-1"
XINING_DISTRICTS = {"630102": "城东区", "630103": "城中区", "630104": "城西区", "630105": "城北区",
                    "630106": "湟中区", "630121": "大通回族土族自治县", "630123": "湟源县"}
QINGHAI_CITIES = {"630100": "西宁市", "630200": "海东市", "632200": "海北藏族自治州", "632300": "黄南藏族自治州",
                  "632500": "海南藏族自治州", "632600": "果洛藏族自治州", "632700": "玉树藏族自治州",
                  "632800": "海西蒙古族藏族自治州"}


def inside(adcode: str) -> tuple[float, float]:
    """A WGS-84 point well inside a district (checked with the point lookup)."""
    geom = geometry_of(adcode)
    point = shapely.point_on_surface(shapely.buffer(geom, -0.005) if shapely.area(geom) > 1e-3 else geom)
    assert str(district_of(point.x, point.y)) == adcode
    return float(point.x), float(point.y)


def station_row(sid: str, name: str, adcode: str) -> str:
    lon, lat = inside(adcode)
    return f"{sid},{name},工会爱心驿站,,饮水,08:00-20:00,4,,在运营,{lon:.6f},{lat:.6f}"


def make_app(home: Path, tmp_path: Path, rows: list[str] | None = None, **config):
    app = create_app({"HOME": str(home), "TESTING": True, "RATE_LIMIT_ENABLED": False, **config})
    if rows:
        import_stations_file(app.extensions["yizhan"].registry, write_csv(tmp_path / "s.csv", rows))
    return app


def page_config(html: str) -> dict:
    raw = re.search(r'<script type="application/json" id="yz-config">(.*?)</script>', html, re.DOTALL).group(1)
    return json.loads(raw)


def selected(html: str, name: str) -> list[str]:
    """Values of the selected options of ``<select name=...>`` in the filter form."""
    block = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.DOTALL).group(1)
    return re.findall(r'<option value="([^"]*)"[^>]*\bselected\b', block)


def options(html: str, name: str) -> dict[str, str]:
    block = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.DOTALL).group(1)
    return {v: t.strip() for v, t in re.findall(r'<option value="([^"]+)"[^>]*>([^<]*)</option>', block)}


def login(app, username: str):
    client = app.test_client()
    with client.session_transaction() as s:
        s["csrf"] = "planted"
    resp = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": "planted"})
    assert resp.status_code == 302
    client.h = {"X-CSRF-Token": client.get("/api/me").get_json()["csrf"]}
    return client


def assert_error(resp, status: int, field: str | None = None) -> None:
    assert resp.status_code == status, resp.get_data(as_text=True)[:400]
    err = resp.get_json()["error"]
    assert err["zh"] and err["en"] and err["status"] == status
    if field:
        assert err["field"] == field


# -- the REGION setting -----------------------------------------------------------------------------------
@pytest.mark.parametrize("value,adcode", [("qinghai", "630000"), ("Guangzhou", "440100"), ("630100", "630100"),
                                          (" 632800 ", "632800"), ("西宁市", "630100"), (None, None), ("", None)])
def test_region_values(value, adcode) -> None:
    assert regions.resolve_region(value) == adcode


@pytest.mark.parametrize("value", ["mars", "639999", "000000", "6301", "朝阳区"])
def test_invalid_region_stops_the_app_with_a_bilingual_message(home: Path, value: str) -> None:
    with pytest.raises(ValueError) as info:
        create_app({"HOME": str(home), "TESTING": True, "REGION": value})
    text = str(info.value)
    assert "REGION" in text and "无效" in text and "invalid" in text


def test_region_from_the_environment(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YIZHAN_REGION", "nowhere")
    with pytest.raises(ValueError):
        create_app({"HOME": str(home), "TESTING": True})
    monkeypatch.setenv("YIZHAN_REGION", "qinghai")
    html = create_app({"HOME": str(home), "TESTING": True}).test_client().get("/").get_data(as_text=True)
    assert selected(html, "province") == ["630000"]


def test_default_area_order(home: Path, tmp_path: Path) -> None:
    # no setting, no sample: the city holding most stations (two in 西宁, one in 广州)
    rows = [station_row("Q1", "城东驿站", "630102"), station_row("Q2", "城西驿站", "630104"), STATION_ROWS[0]]
    app = make_app(home, tmp_path, rows)
    with app.test_request_context("/"):
        assert regions.current_area() == "630100"
    assert selected(app.test_client().get("/").get_data(as_text=True), "city") == ["630100"]
    # the recorded sample region wins over the stations
    (home / "sample").mkdir()
    (home / "sample" / "REGION").write_text("guangzhou\n", encoding="utf-8")
    with app.test_request_context("/"):
        assert regions.current_area() == "440100"
    # REGION wins over both
    with make_app(home, tmp_path, None, REGION="630102").test_request_context("/"):
        assert regions.current_area() == "630102"
    # an unknown recorded region is ignored
    (home / "sample" / "REGION").write_text("atlantis\n", encoding="utf-8")
    with app.test_request_context("/"):
        assert regions.current_area() == "630100"
    # nothing at all: Guangzhou
    with make_app(tmp_path / "other", tmp_path).test_request_context("/"):
        assert regions.current_area() == "440100"


def test_busiest_city_counts_cities_not_code_heads() -> None:
    # 仙桃 429004 and 潜江 429005 are two cities; 重庆's districts 5001xx and counties 5002xx are one
    codes = pd.Series(["429004", "429005", "429005", "500101", "500230", "500231", "", None, "999999"])
    assert regions.busiest_city(codes) == "500100"
    assert regions.busiest_city(pd.Series(["429004", "429005", "429005"])) == "429005"
    assert regions.busiest_city(pd.Series(["", None])) is None


# -- planner page ---------------------------------------------------------------------------------------------
def test_planner_page_with_region_qinghai_preselects_the_province(home: Path, tmp_path: Path) -> None:
    html = make_app(home, tmp_path, STATION_ROWS, REGION="qinghai").test_client().get("/").get_data(as_text=True)
    assert selected(html, "province") == ["630000"]
    assert options(html, "city") == QINGHAI_CITIES            # the province's cities, none chosen
    assert selected(html, "city") == [] and options(html, "district") == {}
    cfg = page_config(html)
    assert cfg["area"]["adcode"] == "630000" and cfg["city"] == "" and cfg["fit_area"] is True
    (s, w), (n, e) = cfg["bounds"]                               # the view is Qinghai's, not the stations'
    assert 31 < s < 33 and 39 < n < 40 and 89 < w < 90.5 and 103 < e < 104
    provinces = dict(cfg["areas"]["provinces"])
    assert len(provinces) == 31 and provinces["630000"] == "青海省" and provinces["500000"] == "重庆市"
    cities = {c[0]: c for c in cfg["areas"]["cities"]}
    assert cities["630100"][1:] == ["西宁市", "6301"] and cities["500100"][2] == "50"
    assert cities["429004"][2] == "429004"
    assert "全国" in html and "Guangdong" not in html


@pytest.mark.parametrize("region,city,district", [("630100", "630100", ""), ("630102", "630100", "630102"),
                                                  ("632800", "632800", "")])
def test_planner_page_with_a_qinghai_city_or_district(home: Path, tmp_path: Path, region, city, district) -> None:
    html = make_app(home, tmp_path, STATION_ROWS, REGION=region).test_client().get("/").get_data(as_text=True)
    assert selected(html, "province") == ["630000"]
    assert selected(html, "city") == [city]
    assert selected(html, "district") == ([district] if district else [])
    got = options(html, "district")
    if city == "630100":
        assert got == XINING_DISTRICTS
    else:
        assert "格尔木市" in got.values() and all(code.startswith("6328") for code in got)
    assert page_config(html)["city"] == city


def test_planner_page_sends_names_only(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No boundary geometry is built for the page, and it does not list the whole country's districts."""
    from yizhan.geodata import boundaries

    def no_geometry(*a, **k):
        raise AssertionError("the planner page must not build boundary geometry")

    monkeypatch.setattr(boundaries, "_with_geometry", no_geometry)
    monkeypatch.setattr(boundaries, "load_boundaries", no_geometry)
    html = make_app(home, tmp_path, STATION_ROWS).test_client().get("/").get_data(as_text=True)
    assert selected(html, "province") == ["440000"] and selected(html, "city") == ["440100"]
    assert len(options(html, "district")) == 11 and options(html, "district")["440106"] == "天河区"
    assert html.count("<option") < 600                         # not 2,848 districts
    assert len(html.encode()) < 400_000


def test_rider_page_outlines_the_region(home: Path, tmp_path: Path) -> None:
    html = make_app(home, tmp_path, STATION_ROWS, REGION="qinghai").test_client().get("/nearest").get_data(as_text=True)
    assert page_config(html)["city"] == "630000"
    lon, lat = (float(v) for v in re.search(r'id="coords"[^>]*placeholder="([^"]+)"', html).group(1).split(","))
    assert 89 < lon < 104 and 31 < lat < 40                     # the example coordinates lie in Qinghai
    cfg = page_config(make_app(home, tmp_path, STATION_ROWS, REGION="632800").test_client()
                      .get("/nearest").get_data(as_text=True))
    assert cfg["city"] == "632800"


# -- boundaries API -------------------------------------------------------------------------------------------
@pytest.fixture
def qinghai(home: Path, tmp_path: Path):
    """An app with REGION=qinghai, stations in Qinghai, 仙桃, 潜江 and Chongqing (a district and a
    county), and accounts of every scope kind."""
    rows = [station_row("Q1", "城东驿站", "630102"), station_row("Q2", "城西驿站", "630104"),
            station_row("Q3", "格尔木驿站", "632801"), station_row("X1", "仙桃驿站", "429004"),
            station_row("X2", "潜江驿站", "429005"), station_row("C1", "万州驿站", "500101"),
            station_row("C2", "丰都驿站", "500230"), *STATION_ROWS]
    app = make_app(home, tmp_path, rows, REGION="qinghai")
    reg = app.extensions["yizhan"].registry
    reg.create_user("admin1", PASSWORD, "admin")
    reg.create_user("chengdong", PASSWORD, "district", adcode="630102")
    reg.create_user("chengxi", PASSWORD, "district", adcode="630104")
    reg.create_user("xnplan", PASSWORD, "planner", adcode="630100")
    reg.create_user("qhplan", PASSWORD, "planner", adcode="630000")
    reg.create_user("cqplan", PASSWORD, "planner", adcode="500100")
    reg.create_user("xtplan", PASSWORD, "planner", adcode="429004")
    reg.create_user("gzplan", PASSWORD, "planner", adcode="440100")
    return app


def features(resp) -> dict[str, dict]:
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    return {f["properties"]["adcode"]: f for f in resp.get_json()["features"]}


def test_boundaries_of_a_qinghai_city(qinghai) -> None:
    c = qinghai.test_client()
    xining = features(c.get("/api/boundaries?level=district&parent=630100"))
    assert {a: f["properties"]["name"] for a, f in xining.items()} == XINING_DISTRICTS
    for code, f in xining.items():
        assert f["properties"]["parent_adcode"] == "630100" and f["properties"]["level"] == "district"
        # the outline really is that district: a point inside it is found there
        lon, lat = inside(code)
        assert shapely.intersects_xy(shapely.geometry.shape(f["geometry"]), lon, lat)
    haixi = features(c.get("/api/boundaries?level=district&parent=632800"))
    assert {"632801", "632802"} <= set(haixi) and all(a.startswith("6328") for a in haixi)
    assert set(features(c.get("/api/boundaries?level=city&parent=630000"))) == set(QINGHAI_CITIES)
    # every district of the province, and a county-level city's own row
    # 44 county-level units, plus 大柴旦 (632825, "海西蒙古族藏族自治州直辖") which Amap lists apart
    qinghai_all = features(c.get("/api/boundaries?level=district&parent=630000"))
    assert len(qinghai_all) == 45 and qinghai_all["632825"]["properties"]["parent_adcode"] == "632800"
    assert set(features(c.get("/api/boundaries?level=district&parent=429004"))) == {"429004"}
    chongqing = features(c.get("/api/boundaries?level=district&parent=500100"))
    assert "500101" in chongqing and "500230" in chongqing and len(chongqing) == 38


def test_boundaries_default_to_the_region(qinghai) -> None:
    c = qinghai.test_client()
    assert set(features(c.get("/api/boundaries?level=province"))) == {"630000"}
    assert set(features(c.get("/api/boundaries?level=city"))) == set(QINGHAI_CITIES)
    assert len(features(c.get("/api/boundaries"))) == 45
    assert c.get("/api/boundaries").get_json()["parent"] == "630000"


@pytest.mark.parametrize("query,status,field", [
    ("parent=639999", 404, "parent"), ("parent=000000", 404, "parent"), ("parent=999999", 404, "parent"),
    ("parent=6301", 400, "parent"), ("level=county&parent=630100", 400, "level")])
def test_boundaries_unknown_adcodes(qinghai, query, status, field) -> None:
    assert_error(qinghai.test_client().get("/api/boundaries?" + query), status, field)


# -- stations and scopes by area prefix ---------------------------------------------------------------------
def ids(resp) -> set[str]:
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    return {f["properties"]["id"] for f in resp.get_json()["features"]}


def test_station_filter_by_any_area(qinghai) -> None:
    c = qinghai.test_client()
    assert ids(c.get("/api/stations?adcode=630000")) == {"Q1", "Q2", "Q3"}
    assert ids(c.get("/api/stations?adcode=630100")) == {"Q1", "Q2"}
    assert ids(c.get("/api/stations?adcode=630102")) == {"Q1"}
    assert ids(c.get("/api/stations?adcode=500100")) == {"C1", "C2"}        # districts and counties
    assert ids(c.get("/api/stations?adcode=429004")) == {"X1"}
    assert ids(c.get("/api/stations?adcode=420000")) == {"X1", "X2"}
    assert ids(c.get("/api/stations?adcode=4290")) == {"X1", "X2"}          # a raw prefix
    assert_error(c.get("/api/stations?adcode=639999"), 404, "adcode")


@pytest.mark.parametrize("role,adcode,prefix", [
    ("planner", "500100", "50"), ("planner", "429004", "429004"), ("planner", "630000", "63"),
    ("planner", "630100", "6301"), ("planner", "441900", "4419"), ("planner", "", ""), ("admin", "", ""),
    ("district", "630102", "630102"), ("district", "429004", "429004")])
def test_scope_prefix_of_any_area(role, adcode, prefix) -> None:
    assert scope_prefix({"role": role, "adcode": adcode}) == prefix


def test_in_scope_by_area() -> None:
    chongqing = {"role": "planner", "adcode": "500100"}
    assert in_scope(chongqing, "500230") and in_scope(chongqing, "500101") and not in_scope(chongqing, "510104")
    xiantao = {"role": "planner", "adcode": "429004"}
    assert in_scope(xiantao, "429004") and not in_scope(xiantao, "429005") and not in_scope(xiantao, "420102")
    assert not in_scope(None, "630102") and not in_scope({"role": "district", "adcode": "630102"}, "630104")


def test_proposals_of_a_qinghai_district_union(qinghai) -> None:
    reg = qinghai.extensions["yizhan"].registry
    admin = {"username": "admin1", "role": "admin", "adcode": ""}
    for name, code in [("城东一号", "630102"), ("城东二号", "630102"), ("城西一号", "630104"), ("格尔木一号", "632801"),
                       ("重庆县城", "500230")]:
        lon, lat = inside(code)
        assert props.submit(reg, admin, lon=lon, lat=lat, name=name, type="工会爱心驿站")["adcode"] == code
    names = {u: sorted(p["name"] for p in login(qinghai, u).get("/api/proposals").get_json())
             for u in ("chengdong", "chengxi", "xnplan", "qhplan", "cqplan", "gzplan")}
    assert names == {"chengdong": ["城东一号", "城东二号"], "chengxi": ["城西一号"],
                     "xnplan": ["城东一号", "城东二号", "城西一号"],
                     "qhplan": ["城东一号", "城东二号", "城西一号", "格尔木一号"], "cqplan": ["重庆县城"], "gzplan": []}
    # the union of 城东区 proposes in its district only
    c = login(qinghai, "chengdong")
    lon, lat = inside("630102")
    resp = c.post("/api/proposals", json={"lon": lon, "lat": lat, "crs": "wgs84", "name": "城东三号", "type": "工会爱心驿站"},
                  headers=c.h)
    assert resp.status_code == 201 and resp.get_json()["adcode"] == "630102"
    lon, lat = inside("630104")
    resp = c.post("/api/proposals", json={"lon": lon, "lat": lat, "crs": "wgs84", "name": "越界", "type": "工会爱心驿站"},
                  headers=c.h)
    assert_error(resp, 403, "lon")
    assert "城东区（630102）" in resp.get_json()["error"]["zh"] and "城西区（630104）" in resp.get_json()["error"]["zh"]
    # one of another district is out of reach
    other = next(p for p in props.listing(reg).to_dict("records") if p["adcode"] == "630104")
    assert_error(c.get(f"/api/proposals/{other['id']}"), 403)
    # the proposals page centres on the union's own city and names its district
    html = c.get("/proposals").get_data(as_text=True)
    cfg = page_config(html)
    assert cfg["area"] == {"adcode": "630102", "name": "城东区", "city": "630100"}
    assert cfg["district_names"]["630104"] == "城西区"
    # a planner of Chongqing sees its area's districts (and the county) on the proposals page
    cfg = page_config(login(qinghai, "cqplan").get("/proposals").get_data(as_text=True))
    assert cfg["area"]["city"] == "500100" and cfg["district_names"]["500230"] == "丰都县"


def test_registry_scope_of_chongqing_and_xiantao_planners(qinghai) -> None:
    for user, allowed, denied in [("cqplan", "C2", "X1"), ("xtplan", "X1", "X2")]:
        c = login(qinghai, user)
        ok = c.patch(f"/api/stations/{allowed}", json={"phone": "023-1234567"}, headers=c.h)
        assert ok.status_code == 200, ok.get_data(as_text=True)[:300]
        assert_error(c.patch(f"/api/stations/{denied}", json={"phone": "023-1234567"}, headers=c.h), 403)
    assert "您的辖区：<strong>重庆市</strong>" in login(qinghai, "cqplan").get("/registry").get_data(as_text=True)


def test_accounts_for_any_province(qinghai) -> None:
    c = login(qinghai, "admin1")
    resp = c.post("/api/users", json={"username": "haixi", "password": PASSWORD, "role": "district", "adcode": "632801"},
                  headers=c.h)
    assert resp.status_code == 201 and resp.get_json()["area_name"] == "格尔木市"
    resp = c.post("/api/users", json={"username": "dg", "password": PASSWORD, "role": "district", "adcode": "441900"},
                  headers=c.h)
    assert resp.status_code == 201                              # 东莞: a city without districts
    for role, code in [("district", "639999"), ("district", "630100"), ("planner", "630102"), ("planner", "639900")]:
        resp = c.post("/api/users", json={"username": "x" + code, "password": PASSWORD, "role": role, "adcode": code},
                      headers=c.h)
        assert_error(resp, 400, "adcode")
    html = c.get("/admin/users").get_data(as_text=True)
    assert 'value="630102"' in html and 'value="630000"' in html and 'placeholder="630102"' in html
    assert 'value="500100"' in html and html.count("<option") < 600


# -- summaries name any province's districts and cities --------------------------------------------------------------
def test_summary_names_any_province() -> None:
    codes = ["630102", "630102", "429004", "500230", "500101", "632801"]
    pts = [inside(c) for c in dict.fromkeys(codes)]
    located = [str(district_of(x, y)) for x, y in pts]
    assert located == list(dict.fromkeys(codes))
    cells = pd.DataFrame({"adcode": codes, "demand": [10.0, 5.0, 7.0, 3.0, 2.0, 4.0],
                          "covered": [True, False, False, True, False, False],
                          "distance_m": [100.0, 5000.0, np.inf, 200.0, 9000.0, 20000.0]})
    stations = pd.DataFrame({"adcode": ["630102", "500230"], "type": ["工会爱心驿站", "司机之家"]})
    blank = pd.DataFrame({"adcode": ["429004", "632801"]})
    zones = pd.DataFrame({"districts": ["429004", "500101、500230"]})
    s = district_summary(cells, stations, blank, zones).set_index(["level", "adcode"])
    names = s["name"].to_dict()
    assert names[("district", "630102")] == "城东区" and names[("city", "630100")] == "西宁市"
    assert names[("province", "630000")] == "青海省" and names[("city", "632800")] == "海西蒙古族藏族自治州"
    assert names[("district", "429004")] == "仙桃市" and names[("city", "429004")] == "仙桃市"
    assert names[("province", "420000")] == "湖北省"
    assert names[("district", "500230")] == "丰都县" and names[("city", "500100")] == "重庆市"
    assert names[("province", "500000")] == "重庆市"
    assert ("city", "500200") not in names and ("city", "429000") not in names    # no code-head cities
    # figures roll up: 重庆市 holds a district and a county
    assert s.loc[("city", "500100"), "demand"] == 5.0 and s.loc[("city", "500100"), "n_stations"] == 1
    assert s.loc[("city", "500100"), "n_blind_zones"] == 1 and s.loc[("province", "630000"), "demand"] == 19.0
    assert s.loc[("city", "630100"), "n_stations"] == 1 and s.loc[("province", "420000"), "n_blank_spots"] == 1
    assert s.loc[("total", ""), "demand"] == 31.0 and s.loc[("total", ""), "name"] == "合计 / total"
    admin = admin_blind_zones(cells.assign(h3=range(len(cells))), stations["adcode"])
    assert dict(zip(admin["adcode"], admin["name"])) == {"429004": "仙桃市", "632801": "格尔木市", "500101": "万州区"}


def test_coverage_summary_api_has_province_rows(home: Path, tmp_path: Path) -> None:
    from yizhan.samples import load_sample

    app = make_app(home, tmp_path)
    load_sample(app.extensions["yizhan"].registry, home)
    rows = app.test_client().get("/api/coverage/summary").get_json()["rows"]
    levels = {r["level"] for r in rows}
    assert levels == {"district", "city", "province", "total"}
    province = next(r for r in rows if r["level"] == "province")
    assert province["adcode"] == "440000" and province["name"] == "广东省"
    assert province["demand"] == pytest.approx(sum(r["demand"] for r in rows if r["level"] == "city"))
