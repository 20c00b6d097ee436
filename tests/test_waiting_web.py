"""Stations waiting for a location (status 待定位) in the web app: listed by the API with a null
geometry and their geocoder's candidate as an object; placed with a PATCH (in WGS-84, GCJ-02 or
BD-09; at the candidate; far from the stated district refused), the candidate rejected; who may place
what; absent from nearest-station answers until placed; undo; If-Match; the printable list.

Every stored location is checked against :mod:`yizhan.geodata.crs` (the conversion of the point
sent), every refused request against an unchanged registry."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import STATION_ROWS, write_csv
from test_manage import PASSWORD, client_for

from yizhan.app import create_app
from yizhan.geodata import crs as crs_mod
from yizhan.stations import import_stations_file

pytestmark = pytest.mark.databases         # every test on SQLite and on PostgreSQL
XSS = "<img src=x onerror=alert(1)>"
WAITING_HEADER = "编号,名称,类型,地址,区县,城市,状态,定位后状态,经度,纬度\n"
#: Stations known by name and address only: three in 天河区 (W1 in service once located), one in
#: 海珠区 (筹建中 once located), one filed under 广州市 (district left empty) with a name that is
#: markup, one of no known district.
WAITING_ROWS = [
    "W1,天河北路驿站,工会爱心驿站,广州市天河区天河北路100号,天河区,广州市,在运营,,,",
    "W2,新港东路快递员之家,快递员之家,广州市海珠区新港东路8号,海珠区,广州市,待定位,筹建中,,",
    f"W3,{XSS},工会爱心驿站,广州市某路,,广州市,,,,",
    "W4,无名区驿站,工会爱心驿站,不详,,,,,,",
    "W5,林和西驿站,工会爱心驿站,广州市天河区林和西路,天河区,广州市,,,,",
    "W6,天河东驿站,司机之家,广州市天河区天河东路,天河区,广州市,,,,",
]
#: WGS-84 points: three in 天河区 (away from T1), one in 海珠区, one in 白云区 (10 km from 天河区).
TIANHE = [(113.3300, 23.1420), (113.3400, 23.1450), (113.3500, 23.1400)]
HAIZHU = (113.3400, 23.0950)
BAIYUN = (113.2700, 23.2900)
CANDIDATE = {"lon": HAIZHU[0], "lat": HAIZHU[1], "precision": "poi", "level": "兴趣点", "score": 0.92,
             "label": "新港东路8号院", "provider": "amap", "at": "2025-05-01T10:00:00", "query": "新港东路8号"}


@pytest.fixture
def app(home: Path, tmp_path: Path, database_url):
    app = create_app({"HOME": str(home), "TESTING": True, "RATE_LIMIT_ENABLED": False, "DATABASE_URL": database_url})
    reg = app.extensions["yizhan"].registry
    import_stations_file(reg, write_csv(tmp_path / "s.csv", STATION_ROWS), user="seed")
    result = import_stations_file(reg, write_csv(tmp_path / "w.csv", WAITING_ROWS, header=WAITING_HEADER), user="seed")
    assert result["created"] == len(WAITING_ROWS) and result["waiting"] == len(WAITING_ROWS)
    # the geocoder's answer for W2, waiting for a person (what `yizhan geocode` stores)
    reg.update_station("W2", {"candidate": json.dumps(CANDIDATE, ensure_ascii=False)}, user="geocoder")
    for name, role, code in (("admin1", "admin", ""), ("plan1", "planner", ""), ("gzplan", "planner", "440100"),
                             ("szplan", "planner", "440300"), ("tianhe", "district", "440106"),
                             ("haizhu", "district", "440105")):
        reg.create_user(name, PASSWORD, role, adcode=code)
    return app


@pytest.fixture
def reg(app):
    return app.extensions["yizhan"].registry




def snapshot(reg) -> tuple:
    """The station rows (all columns) and the number of history rows."""
    frame = reg.stations()
    rows = tuple(sorted(json.dumps({k: (None if v is None or pd.isna(v) else v) for k, v in r.items()},
                                   ensure_ascii=False, default=str, sort_keys=True)
                        for r in frame.to_dict("records")))
    return rows, len(reg.history(limit=100_000))


def error(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:600]
    e = resp.get_json()["error"]
    assert e["zh"] and e["en"] and e["status"] == status
    return e


def nearest_ids(client, lon: float, lat: float) -> list[str]:
    resp = client.get(f"/api/nearest?lon={lon}&lat={lat}&k=50")
    assert resp.status_code == 200
    return [s["id"] for s in resp.get_json()]


# -- listing ----------------------------------------------------------------------------------------------
def test_the_status_filter_lists_waiting_stations_with_a_null_geometry_and_the_candidate(app, reg) -> None:
    c = app.test_client()
    resp = c.get("/api/stations?status=待定位")
    assert resp.status_code == 200 and resp.mimetype == "application/geo+json"
    assert "NaN" not in resp.get_data(as_text=True)
    fc = resp.get_json()
    by_id = {f["id"]: f for f in fc["features"]}
    assert sorted(by_id) == ["W1", "W2", "W3", "W4", "W5", "W6"]
    assert all(f["type"] == "Feature" and f["geometry"] is None for f in fc["features"])
    assert by_id["W2"]["properties"]["candidate"] == CANDIDATE           # an object, not JSON text
    assert all(by_id[i]["properties"]["candidate"] is None for i in ("W1", "W3", "W4", "W5", "W6"))
    props = by_id["W2"]["properties"]
    assert (props["status"], props["located_status"], props["adcode"], props["precision"]) == ("待定位", "筹建中", "440105", "")
    assert props["groups"] == ["快递员"] and "lon" not in props
    assert by_id["W3"]["properties"]["adcode"] == "440100" and by_id["W4"]["properties"]["adcode"] == ""
    # the English alias and the other datums: the candidate's coordinates follow out_crs
    for out_crs in ("gcj02", "bd09"):
        other = c.get(f"/api/stations?status=waiting&out_crs={out_crs}").get_json()
        cand = {f["id"]: f for f in other["features"]}["W2"]["properties"]["candidate"]
        want = crs_mod.from_wgs84(CANDIDATE["lon"], CANDIDATE["lat"], out_crs)
        assert cand["lon"] == pytest.approx(float(want[0]), abs=1e-7)
        assert cand["lat"] == pytest.approx(float(want[1]), abs=1e-7)
        assert cand["label"] == CANDIDATE["label"] and all(f["geometry"] is None for f in other["features"])
    # every station: the waiting ones without, the located ones with a point
    everything = c.get("/api/stations").get_json()["features"]
    assert {f["id"] for f in everything if f["geometry"] is None} == set(by_id)
    assert {f["id"] for f in everything if f["geometry"]} == {"T1", "T2", "T3"}
    # a box never holds a station without a location; other filters keep them
    boxed = c.get("/api/stations?bbox=73,18,135,54").get_json()["features"]
    assert {f["id"] for f in boxed} == {"T1", "T2", "T3"}
    tianhe = c.get("/api/stations?status=待定位&adcode=440106&type=工会爱心驿站").get_json()["features"]
    assert {f["id"] for f in tianhe} == {"W1", "W5"}
    # one station: the registry record, lon/lat null
    one = c.get("/api/stations/W1")
    assert one.status_code == 200 and one.headers["ETag"] == '"1"'
    assert one.get_json() == reg.get("W1") and one.get_json()["lon"] is None and one.get_json()["status"] == "待定位"


def test_pages_and_answers_never_see_a_waiting_station_as_a_point(app) -> None:
    c = app.test_client()
    ids = nearest_ids(c, *TIANHE[0])
    assert set(ids) == {"T1", "T2", "T3"}
    for page in ("/", "/nearest"):
        resp = c.get(page)
        assert resp.status_code == 200 and "NaN" not in resp.get_data(as_text=True)


def test_a_registry_of_waiting_stations_only_still_serves_every_page(home, tmp_path, database_url) -> None:
    app = create_app({"HOME": str(home), "TESTING": True, "RATE_LIMIT_ENABLED": False, "DATABASE_URL": database_url})
    reg = app.extensions["yizhan"].registry
    import_stations_file(reg, write_csv(tmp_path / "w.csv", WAITING_ROWS, header=WAITING_HEADER), user="seed")
    reg.create_user("plan1", PASSWORD, "planner")
    c = client_for(app, "plan1")
    for page in ("/", "/nearest", "/proposals", "/registry", "/registry/waiting"):
        resp = c.get(page)
        text = resp.get_data(as_text=True)
        assert resp.status_code == 200 and "NaN" not in text, page
        config = re.search(r'<script type="application/json" id="yz-config">(.*?)</script>', text, re.S)
        json.loads(config.group(1))                                   # strict JSON: no NaN bounds
    assert c.get("/api/nearest?lon=113.33&lat=23.14").get_json() == []
    assert [f["geometry"] for f in c.get("/api/stations").get_json()["features"]] == [None] * len(WAITING_ROWS)


# -- placing ------------------------------------------------------------------------------------------------
def test_placing_in_each_datum_stores_the_converted_point(app, reg) -> None:
    c = client_for(app, "plan1")
    for sid, crs, (lon, lat) in zip(("W1", "W5", "W6"), ("wgs84", "gcj02", "bd09"), TIANHE, strict=True):
        sent_lon, sent_lat = (float(v) for v in crs_mod.from_wgs84(lon, lat, crs))
        resp = c.patch(f"/api/stations/{sid}", json={"lon": sent_lon, "lat": sent_lat, "crs": crs}, headers=c.h)
        assert resp.status_code == 200, resp.get_data(as_text=True)[:600]
        want_lon, want_lat = (float(v) for v in crs_mod.to_wgs84(sent_lon, sent_lat, crs))
        row = reg.get(sid)
        assert resp.get_json() == row and resp.headers["ETag"] == f'"{row.version}"'
        assert row["lon"] == pytest.approx(want_lon, abs=1e-9) and row["lat"] == pytest.approx(want_lat, abs=1e-9)
        assert row["lon"] == pytest.approx(lon, abs=1e-6) and row["lat"] == pytest.approx(lat, abs=1e-6)
        assert (row["orig_lon"], row["orig_lat"], row["orig_crs"]) == (sent_lon, sent_lat, crs)
        assert (row["status"], row["precision"], row["located_status"], row["candidate"], row["adcode"]) == \
            ("在运营", "manual", "", "", "440106")
        entry = reg.history(sid, limit=1).iloc[0]
        assert (entry["action"], entry["note"], entry["user"]) == ("update", "placed on the map", "plan1")
    # a note sent goes to the history instead; the status it waited for is taken (筹建中)
    resp = c.patch("/api/stations/W2", json={"lon": 113.3420, "lat": 23.0940, "note": "核实后标注"}, headers=c.h)
    assert resp.status_code == 200 and resp.get_json()["status"] == "筹建中"
    assert reg.history("W2", limit=1).iloc[0]["note"] == "核实后标注"
    # a station filed under its city lies in a district once placed; one of no district finds it
    resp = c.patch("/api/stations/W3", json={"lon": 113.2900, "lat": 23.1300}, headers=c.h)
    assert resp.status_code == 200 and resp.get_json()["adcode"] == "440104"
    resp = c.patch("/api/stations/W4", json={"lon": 113.3600, "lat": 23.1300}, headers=c.h)
    assert resp.status_code == 200 and resp.get_json()["adcode"] == "440106" and resp.get_json()["status"] == "在运营"
    # the located stations keep how they were located when edited later
    resp = c.patch("/api/stations/W1", json={"hours": "24h"}, headers=c.h)
    assert resp.status_code == 200 and reg.get("W1")["precision"] == "manual"


def test_far_from_the_stated_district_is_refused_and_nothing_changes(app, reg) -> None:
    c = client_for(app, "plan1")
    before = snapshot(reg)
    e = error(c.patch("/api/stations/W1", json={"lon": BAIYUN[0], "lat": BAIYUN[1]}, headers=c.h), 400)
    assert "far_from_district" in [p["code"] for p in e["problems"]] and e["field"] == "adcode"
    assert snapshot(reg) == before and reg.get("W1")["status"] == "待定位"
    # so is a point outside China, and lon without lat
    error(c.patch("/api/stations/W1", json={"lon": 2.35, "lat": 48.85}, headers=c.h), 400)
    assert error(c.patch("/api/stations/W1", json={"lon": 113.33}, headers=c.h), 400)["field"] == "lat"
    assert snapshot(reg) == before


def test_accepting_and_rejecting_the_candidate_are_recorded_and_undone(app, reg) -> None:
    c = client_for(app, "plan1")
    before = reg.get("W2")
    resp = c.patch("/api/stations/W2", json={"accept_candidate": True}, headers={**c.h, "If-Match": '"2"'})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:600]
    row = reg.get("W2")
    assert (row["lon"], row["lat"]) == (CANDIDATE["lon"], CANDIDATE["lat"])
    assert (row["status"], row["precision"], row["candidate"], row["located_status"], row["adcode"]) == \
        ("筹建中", "poi", "", "", "440105")
    entry = reg.history("W2", limit=1).iloc[0]
    assert entry["note"] == "accepted the geocoder's candidate"
    undo = c.post(f"/api/history/{int(entry['id'])}/undo", json={}, headers=c.h)
    assert undo.status_code == 200 and undo.get_json()["station"]["status"] == "待定位"
    assert {k: v for k, v in reg.get("W2").items() if k != "updated_at"} == \
        {k: v for k, v in before.items() if k != "updated_at"}
    assert json.loads(reg.get("W2")["candidate"]) == CANDIDATE

    # rejecting: the candidate goes, the station keeps waiting; undo brings the candidate back
    resp = c.patch("/api/stations/W2", json={"candidate": None}, headers=c.h)
    assert resp.status_code == 200 and resp.get_json()["candidate"] == "" and resp.get_json()["status"] == "待定位"
    entry = reg.history("W2", limit=1).iloc[0]
    assert entry["note"] == "rejected the geocoder's candidate"
    listed = {f["id"]: f["properties"] for f in c.get("/api/stations?status=待定位").get_json()["features"]}
    assert listed["W2"]["candidate"] is None
    assert c.post(f"/api/history/{int(entry['id'])}/undo", json={}, headers=c.h).status_code == 200
    assert json.loads(reg.get("W2")["candidate"]) == CANDIDATE

    # nothing to accept, or nothing usable: 400 and nothing changes
    state = snapshot(reg)
    assert error(c.patch("/api/stations/W1", json={"accept_candidate": True}, headers=c.h), 400)["field"] == "accept_candidate"
    assert error(c.patch("/api/stations/T1", json={"accept_candidate": True}, headers=c.h), 400)["field"] == "accept_candidate"
    assert error(c.patch("/api/stations/W2", json={"candidate": {"lon": 1}}, headers=c.h), 400)["field"] == "candidate"
    assert error(c.patch("/api/stations/W2", json={"accept_candidate": "yes"}, headers=c.h), 400)["field"] == "accept_candidate"
    assert error(c.patch("/api/stations/W2", json={"accept_candidate": True, "lon": 113.34, "lat": 23.09},
                         headers=c.h), 400)["field"] == "accept_candidate"
    assert error(c.put("/api/stations/W2", json={"name": "x", "type": "快递员之家", "lon": 113.34, "lat": 23.09,
                                                 "accept_candidate": True}, headers=c.h), 400)
    assert snapshot(reg) == state
    reg.update_station("W1", {"candidate": json.dumps({**CANDIDATE, "lon": 113.33, "lat": 23.13,
                                                       "precision": "district"})}, user="geocoder")
    state = snapshot(reg)
    e = error(c.patch("/api/stations/W1", json={"accept_candidate": True}, headers=c.h), 400)
    assert e["field"] == "accept_candidate" and "district" in e["en"]
    assert snapshot(reg) == state


def test_who_may_place_what(app, reg) -> None:
    tianhe, haizhu = client_for(app, "tianhe"), client_for(app, "haizhu")
    gz, sz, planner = client_for(app, "gzplan"), client_for(app, "szplan"), client_for(app, "plan1")
    state = snapshot(reg)
    # a district union: only its own district's waiting stations, only their location
    assert error(tianhe.patch("/api/stations/W2", json={"accept_candidate": True}, headers=tianhe.h), 403)
    assert error(tianhe.patch("/api/stations/T1", json={"lon": 113.33, "lat": 23.14}, headers=tianhe.h), 403)
    assert error(tianhe.patch("/api/stations/W1", json={"lon": 113.33, "lat": 23.142, "name": "改名"},
                              headers=tianhe.h), 403)["field"] == "name"
    assert error(tianhe.put("/api/stations/W1", json={"name": "x", "type": "工会爱心驿站", "lon": 113.33, "lat": 23.142},
                            headers=tianhe.h), 403)
    assert error(tianhe.patch("/api/stations/W4", json={"lon": 113.36, "lat": 23.13}, headers=tianhe.h), 403)
    assert error(tianhe.patch("/api/stations/W3", json={"lon": 113.33, "lat": 23.142}, headers=tianhe.h), 403)
    # a planner of another city: not Guangzhou's stations, nor one of no district placed in Guangzhou
    assert error(sz.patch("/api/stations/W3", json={"lon": 113.29, "lat": 23.13}, headers=sz.h), 403)
    assert error(sz.patch("/api/stations/W4", json={"lon": 113.36, "lat": 23.13}, headers=sz.h), 403)
    assert error(sz.patch("/api/stations/W4", json={"name": "改名"}, headers=sz.h), 403)
    assert error(haizhu.patch("/api/stations/W1", json={"lon": 113.33, "lat": 23.142}, headers=haizhu.h), 403)
    anonymous = client_for(app, None)
    assert error(anonymous.patch("/api/stations/W1", json={"lon": 113.33, "lat": 23.142}, headers=anonymous.h), 401)
    assert snapshot(reg) == state
    # allowed: the union its own station (and the candidate of its own), Guangzhou's planner its city's
    ok = tianhe.patch("/api/stations/W1", json={"lon": TIANHE[0][0], "lat": TIANHE[0][1]}, headers=tianhe.h)
    assert ok.status_code == 200 and ok.get_json()["status"] == "在运营" and ok.get_json()["adcode"] == "440106"
    assert reg.history("W1", limit=1).iloc[0]["user"] == "tianhe"
    assert haizhu.patch("/api/stations/W2", json={"candidate": None}, headers=haizhu.h).status_code == 200
    assert haizhu.patch("/api/stations/W2", json={"lon": 113.3420, "lat": 23.0940, "crs": "wgs84", "note": "到场核实"},
                        headers=haizhu.h).status_code == 200
    assert error(tianhe.patch("/api/stations/W1", json={"lon": 113.3301, "lat": 23.1421}, headers=tianhe.h), 403)
    assert gz.patch("/api/stations/W3", json={"lon": 113.2900, "lat": 23.1300}, headers=gz.h).status_code == 200
    assert planner.patch("/api/stations/W4", json={"lon": 113.3600, "lat": 23.1300}, headers=planner.h).status_code == 200
    assert reg.get("W4")["adcode"] == "440106"
    # district unions still read the history only through planners
    assert error(tianhe.get("/api/history"), 403)


def test_a_waiting_station_joins_the_nearest_answers_once_placed_and_leaves_on_undo(app, reg) -> None:
    c = client_for(app, "plan1")
    lon, lat = TIANHE[0]
    assert "W1" not in nearest_ids(c, lon, lat)
    assert c.get("/api/stations?status=在运营&adcode=440106").get_json()["features"][0]["id"] == "T1"
    resp = c.patch("/api/stations/W1", json={"lon": lon, "lat": lat}, headers=c.h)
    assert resp.status_code == 200
    answer = c.get(f"/api/nearest?lon={lon}&lat={lat}&k=3").get_json()
    assert answer[0]["id"] == "W1" and answer[0]["distance_m"] < 0.01
    assert {f["id"] for f in c.get("/api/stations?status=在运营").get_json()["features"]} == {"T1", "T2", "T3", "W1"}
    # the history's undo of the placement: waiting again, gone from the answers
    entry = reg.history("W1", limit=1).iloc[0]
    assert entry["note"] == "placed on the map"
    undone = c.post(f"/api/history/{int(entry['id'])}/undo", json={}, headers=c.h)
    assert undone.status_code == 200
    row = reg.get("W1")
    assert (row["status"], row["lon"], row["lat"], row["precision"], row["located_status"]) == \
        ("待定位", None, None, "", "在运营")
    assert "W1" not in nearest_ids(c, lon, lat)
    assert "W1" in {f["id"] for f in c.get("/api/stations?status=待定位").get_json()["features"]}


def test_if_match_guards_a_placement(app, reg) -> None:
    c = client_for(app, "plan1")
    got = c.get("/api/stations/W1")
    tag = got.headers["ETag"]
    reg.update_station("W1", {"phone": "020-88888888"}, user="someone-else")
    state = snapshot(reg)
    resp = c.patch("/api/stations/W1", json={"lon": TIANHE[0][0], "lat": TIANHE[0][1]}, headers={**c.h, "If-Match": tag})
    e = error(resp, 412)
    assert e["current"]["phone"] == "020-88888888" and e["current"]["status"] == "待定位" and e["version"] == 2
    assert resp.headers["ETag"] == '"2"' and snapshot(reg) == state
    resp = c.patch("/api/stations/W1", json={"lon": TIANHE[0][0], "lat": TIANHE[0][1]},
                   headers={**c.h, "If-Match": '"2"'})
    assert resp.status_code == 200 and resp.headers["ETag"] == '"3"'
    row = reg.get("W1")
    assert row["phone"] == "020-88888888" and row["status"] == "在运营"


def test_editing_a_waiting_station_keeps_it_waiting_with_its_candidate(app, reg) -> None:
    c = client_for(app, "plan1")
    resp = c.patch("/api/stations/W2", json={"hours": "09:00-18:00", "status": "在运营"}, headers=c.h)
    assert resp.status_code == 200
    row = reg.get("W2")
    assert (row["status"], row["located_status"], row["hours"], row["lon"]) == ("待定位", "在运营", "09:00-18:00", None)
    assert json.loads(row["candidate"]) == CANDIDATE
    resp = c.patch("/api/stations/W2", json={"name": "新港东路快递员之家（二期）"}, headers=c.h)
    assert resp.status_code == 200 and reg.get("W2")["located_status"] == "在运营"


# -- the printable list -----------------------------------------------------------------------------------
def test_the_printable_list_groups_by_district_and_escapes_names(app, reg) -> None:
    assert client_for(app, None).get("/registry/waiting").status_code == 302
    assert client_for(app, "tianhe").get("/registry/waiting").status_code == 403
    c = client_for(app, "plan1")
    page = c.get("/registry")
    assert page.status_code == 200 and 'href="/registry/waiting"' in page.get_data(as_text=True)
    resp = c.get("/registry/waiting")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "@media print" in c.get("/static/yizhan.css").get_data(as_text=True)
    groups = re.findall(r'<section class="panel waiting-group" data-adcode="(\d*)"', html)
    assert groups == ["440100", "440105", "440106", ""]                 # by adcode, no known district last
    sections = dict(zip(groups, re.split(r'<section class="panel waiting-group"', html)[1:], strict=True))
    assert re.findall(r'<tr data-id="(\w+)">', sections["440106"]) == ["W6", "W1", "W5"]      # by name
    assert "天河区" in sections["440106"] and "3 个" in sections["440106"]
    assert "海珠区" in sections["440105"] and "1 个" in sections["440105"]
    assert "广州市" in sections["440100"] and "未知区县" in sections[""]
    # the candidate: precision, label and coordinates
    w2 = sections["440105"]
    assert "兴趣点" in w2 and CANDIDATE["label"] in w2 and f"{CANDIDATE['lon']:.6f}, {CANDIDATE['lat']:.6f}" in w2
    # placed stations leave the list; a planner of another city sees only the stations of no district
    assert c.patch("/api/stations/W2", json={"accept_candidate": True}, headers=c.h).status_code == 200
    html = c.get("/registry/waiting").get_data(as_text=True)
    assert 'data-id="W2"' not in html and 'data-adcode="440105"' not in html
    sz = client_for(app, "szplan").get("/registry/waiting").get_data(as_text=True)
    assert re.findall(r'<tr data-id="(\w+)">', sz) == ["W4"]
