"""The JSON API on the embedded Guangzhou sample: every route's answers cross-checked against the
engine, and every error path (4xx with the bilingual error object, never a 500)."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlparse

import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import STATION_ROWS, clear_settings, write_csv

from yizhan.app import create_app
from yizhan.coverage import hexgrid
from yizhan.samples import load_sample
from yizhan.geodata import crs as crs_mod
from yizhan.stations import import_stations_file
from yizhan.web import geo

PASSWORD = "secret-pass-1"
pytestmark = pytest.mark.databases         # the registry behind the API: SQLite and PostgreSQL
BBOX = (113.30, 23.10, 113.36, 23.16)        # central Tianhe, WGS-84
BBOX_Q = ",".join(str(v) for v in BBOX)


@pytest.fixture(scope="module")
def app(tmp_path_factory, module_database_url):
    """The app on the Guangzhou sample, with one account per role."""
    with pytest.MonkeyPatch.context() as mp:
        clear_settings(mp)
        home = tmp_path_factory.mktemp("api") / "home"
        app = create_app({"HOME": str(home), "TESTING": True, "RATE_LIMIT_ENABLED": False,
                          "DATABASE_URL": module_database_url})
    reg = app.extensions["yizhan"].registry
    load_sample(reg, home)
    reg.create_user("plan1", PASSWORD, "planner")
    reg.create_user("admin1", PASSWORD, "admin")
    reg.create_user("tianhe", PASSWORD, "district", adcode="440106")
    reg.create_user("haizhu", PASSWORD, "district", adcode="440105")
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def svc(app):
    return app.extensions["yizhan"]


def result_for(svc, *, metric="great-circle", group=None, hour=None, res=9, threshold_m=None):
    """The coverage result the API uses for these parameters (the same cached object)."""
    return svc.coverage(metric=metric, group=group, hour=hour, res=res, threshold_m=threshold_m)


@pytest.fixture
def tiny(home: Path, tmp_path: Path, database_url):
    """Three stations plus one with unknown hours; no hotspot data."""
    app = create_app({"HOME": str(home), "TESTING": True, "RATE_LIMIT_ENABLED": False, "DATABASE_URL": database_url})
    rows = [*STATION_ROWS, "T4,无时间驿站,工会爱心驿站,广州市荔湾区,饮水,,4,,在运营,113.2800,23.1300"]
    import_stations_file(app.extensions["yizhan"].registry, write_csv(tmp_path / "s.csv", rows))
    return app


def login(client, username: str) -> str:
    """Log in through the form (with a CSRF token planted in the session); returns the new token."""
    with client.session_transaction() as s:
        s["csrf"] = "planted-token"
    resp = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": "planted-token"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    me = client.get("/api/me").get_json()
    assert me["user"]["username"] == username
    return me["csrf"]


def assert_error(resp, status: int, field: str | None = None) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    err = resp.get_json()["error"]
    assert err["zh"] and err["en"] and err["status"] == status
    if field is not None:
        assert err.get("field") == field
    return err


def coords(fc: dict) -> np.ndarray:
    return np.array([c for f in fc["features"] for c in shapely.get_coordinates(shapely.from_geojson(
        json.dumps(f["geometry"]))).tolist()])


# -- stations ---------------------------------------------------------------------------------------
def test_stations_bbox_and_out_crs(client, svc) -> None:
    frame = svc.registry.stations()
    inside = frame[(frame["lon"] >= BBOX[0]) & (frame["lon"] <= BBOX[2]) & (frame["lat"] >= BBOX[1])
                   & (frame["lat"] <= BBOX[3])]
    wgs = client.get(f"/api/stations?bbox={BBOX_Q}")
    assert wgs.status_code == 200 and wgs.mimetype == "application/geo+json"
    fc = wgs.get_json()
    assert sorted(f["id"] for f in fc["features"]) == sorted(inside["id"])
    assert len(fc["features"]) > 10
    # the reversed corners mean the same box
    again = client.get("/api/stations?bbox=" + ",".join(str(v) for v in (BBOX[2], BBOX[3], BBOX[0], BBOX[1])))
    assert len(again.get_json()["features"]) == len(fc["features"])
    gcj = client.get(f"/api/stations?bbox={BBOX_Q}&out_crs=gcj02").get_json()
    by_id = frame.set_index("id")
    for f in gcj["features"][:20]:
        lon, lat = by_id.loc[f["id"], ["lon", "lat"]]
        glon, glat = crs_mod.from_wgs84(lon, lat, "gcj02")
        assert f["geometry"]["coordinates"] == pytest.approx([float(glon), float(glat)], abs=2e-7)
        assert abs(f["geometry"]["coordinates"][0] - lon) > 1e-3        # the GCJ offset is hundreds of metres
    bd = client.get(f"/api/stations?bbox={BBOX_Q}&out_crs=bd09").get_json()["features"][0]
    lon, lat = by_id.loc[bd["id"], ["lon", "lat"]]
    assert bd["geometry"]["coordinates"] == pytest.approx([float(v) for v in crs_mod.from_wgs84(lon, lat, "bd09")],
                                                          abs=2e-7)


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "nan,0,1,1", "inf,0,1,1", "0,-100,1,1", "0,0,181,1",
                                  "1e1,0,20,1", "1,2,3,4,5", " 1,2,3,4", "1;2;3;4", "+1,2,3,4", ","])
def test_bad_bbox_is_400(client, bbox: str) -> None:
    for route in ("/api/stations", "/api/coverage/cells", "/api/coverage/blank-spots", "/api/coverage/blind-zones"):
        assert_error(client.get(route, query_string={"bbox": bbox}), 400, "bbox")


@pytest.mark.parametrize("query,field", [("out_crs=utm", "out_crs"), ("adcode=44a1", "adcode"),
                                         ("adcode=4401061", "adcode"), ("status=拆除", "status"), ("colour=red", "colour")])
def test_stations_bad_input(client, query: str, field: str) -> None:
    assert_error(client.get("/api/stations?" + query), 400, field)


# -- nearest ----------------------------------------------------------------------------------------
def test_nearest_shape_times_and_nav_links(client) -> None:
    got = client.get("/api/nearest?lon=113.3245&lat=23.1375&k=5")
    assert got.status_code == 200
    records = got.get_json()
    assert len(records) == 5
    assert [r["distance_m"] for r in records] == sorted(r["distance_m"] for r in records)
    for r in records:
        assert {"id", "name", "type", "lon", "lat", "distance_m", "address", "groups", "services", "hours", "status"} <= set(r)
        assert r["road_distance_m"] is None                     # no road network configured
        assert r["riding_time_s"] == pytest.approx(r["distance_m"] * 1.3 / (15 / 3.6), abs=0.1)
        assert r["open_now"] in (True, False, None)
        amap, baidu = r["nav"]["amap"], r["nav"]["baidu"]
        glon, glat = (float(v) for v in crs_mod.from_wgs84(r["lon"], r["lat"], "gcj02"))
        blon, blat = (float(v) for v in crs_mod.from_wgs84(r["lon"], r["lat"], "bd09"))
        name = quote(r["name"], safe="")
        assert amap.startswith("https://uri.amap.com/navigation?")
        assert f"to={glon:.6f},{glat:.6f},{name}&" in amap
        assert "mode=ride" in amap and "coordinate=gaode" in amap and "callnative=1" in amap and "src=yizhan" in amap
        assert baidu.startswith("https://api.map.baidu.com/direction?")
        assert f"destination=latlng:{blat:.6f},{blon:.6f}|name:{name}&" in baidu
        assert "mode=riding" in baidu and "coord_type=bd09ll" in baidu and "output=html" in baidu
        # the name round-trips and cannot break out of the query string
        assert unquote(parse_qs(urlparse(amap).query)["to"][0].split(",", 2)[2]) == r["name"]
        assert not re.search(r"[\s\u4e00-\u9fff]", amap + baidu)


def test_nearest_gcj02_input_matches_wgs84(client) -> None:
    glon, glat = (float(v) for v in crs_mod.from_wgs84(113.3245, 23.1375, "gcj02"))
    a = client.get("/api/nearest?lon=113.3245&lat=23.1375&k=3").get_json()
    b = client.get(f"/api/nearest?lon={glon!r}&lat={glat!r}&crs=gcj02&k=3").get_json()
    assert [r["id"] for r in a] == [r["id"] for r in b]
    assert [r["distance_m"] for r in a] == pytest.approx([r["distance_m"] for r in b], abs=0.2)


def test_nearest_open_now_uses_the_configured_clock(tiny, monkeypatch) -> None:
    from yizhan.web import api

    client = tiny.test_client()
    monday_night = datetime(2026, 11, 2, 21, 0)
    monkeypatch.setattr(api, "_now", lambda tz: monday_night)
    got = {r["id"]: r for r in client.get("/api/nearest?lon=113.33&lat=23.13&k=4").get_json()}
    assert got["T1"]["open_now"] is False          # 08:00-20:00
    assert got["T2"]["open_now"] is True           # 24h
    assert got["T4"]["open_now"] is None           # no hours recorded
    monkeypatch.setattr(api, "_now", lambda tz: monday_night.replace(hour=10))
    got = {r["id"]: r for r in client.get("/api/nearest?lon=113.33&lat=23.13&k=4").get_json()}
    assert got["T1"]["open_now"] is True
    # open_at keeps its filter and the ``open`` flag
    late = client.get("/api/nearest?lon=113.33&lat=23.13&k=4&open_at=21:00").get_json()
    assert "T1" not in {r["id"] for r in late} and all(r["open"] is True for r in late)


def test_nearest_with_a_road_network_reranks_by_road(tiny) -> None:
    from yizhan.geodata.roads import network_from_edges

    # rider R; T1 is nearer in a straight line but 17 km by road, T2 is 3.5 km by road;
    # T3 and T4 sit on nodes that no road reaches
    lon = [113.3400, 113.3245, 113.3650, 113.3000, 113.3500, 113.2800]
    lat = [23.1200, 23.1375, 23.1000, 23.2000, 23.3300, 23.1300]
    net = network_from_edges(lon, lat, [0, 0, 3], [2, 3, 1], [3500.0, 9000.0, 8000.0], [840.0, 2160.0, 1920.0],
                             mode="ebike", two_way=True)
    svc = tiny.extensions["yizhan"]
    svc._network, svc._network_tried = net, True
    client = tiny.test_client()
    gc = client.get("/api/nearest?lon=113.34&lat=23.12&k=4&crs=wgs84").get_json()
    assert [r["id"] for r in gc] == ["T2", "T1", "T4", "T3"]
    t2, t1, t4, t3 = gc
    assert t2["road_distance_m"] == pytest.approx(3500.0, abs=0.5)
    assert t1["road_distance_m"] == pytest.approx(17000.0, abs=0.5)
    assert t2["riding_time_s"] == pytest.approx(3500.0 / (15 / 3.6), abs=0.5)
    assert t4["road_distance_m"] is None and t3["road_distance_m"] is None
    assert t4["riding_time_s"] == pytest.approx(t4["distance_m"] * 1.3 / (15 / 3.6), abs=0.1)
    assert t4["distance_m"] < t3["distance_m"]
    assert t1["distance_m"] < t2["distance_m"]       # great-circle order was the other way round
    # k=1: the short list is longer than k, so the road-nearest station wins
    assert [r["id"] for r in client.get("/api/nearest?lon=113.34&lat=23.12&k=1").get_json()] == ["T2"]


@pytest.mark.parametrize("query,field", [
    ("lat=23.1", "lon"), ("lon=113", "lat"), ("lon=abc&lat=23.1", "lon"), ("lon=nan&lat=23.1", "lon"),
    ("lon=inf&lat=23.1", "lon"), ("lon=-inf&lat=23.1", "lon"), ("lon=113&lat=91", "lat"), ("lon=181&lat=23", "lon"),
    ("lon=113&lat=23&crs=utm", "crs"), ("lon=113&lat=23&k=0", "k"), ("lon=113&lat=23&k=51", "k"),
    ("lon=113&lat=23&k=1.5", "k"), ("lon=113&lat=23&open_at=25:00", "open_at"),
    ("lon=113&lat=23&open_at=2026-02-30T10:00", "open_at"), ("lon=113&lat=23&open_at=noon", "open_at"),
    ("lon=113&lat=23&group=宇航员", "group"), ("lon=113&lat=23&type=火箭站", "type"),
    ("lon=113&lat=23&service=" + "x" * 51, "service"), ("lon=113&lat=23&foo=1", "foo"),
])
def test_nearest_bad_input_is_400(client, query: str, field: str) -> None:
    assert_error(client.get("/api/nearest?" + query), 400, field)


# -- boundaries -------------------------------------------------------------------------------------
def test_boundaries_levels_parents_and_out_crs(client) -> None:
    districts = client.get("/api/boundaries?level=district&parent=440100")
    assert districts.status_code == 200 and districts.mimetype == "application/geo+json"
    fc = districts.get_json()
    assert len(fc["features"]) == 11
    assert {f["properties"]["adcode"] for f in fc["features"]} >= {"440106", "440105", "440111"}
    for f in fc["features"]:
        p = f["properties"]
        assert p["level"] == "district" and p["parent_adcode"] == "440100" and p["name"].endswith("区")
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
    cities = client.get("/api/boundaries?level=city&parent=440000").get_json()
    assert len(cities["features"]) == 21
    assert len(client.get("/api/boundaries?level=province").get_json()["features"]) == 1
    gcj = client.get("/api/boundaries?level=district&parent=440100&out_crs=gcj02").get_json()
    a, b = coords(fc), coords(gcj)
    assert a.shape == b.shape
    x, y = crs_mod.from_wgs84(a[:, 0], a[:, 1], "gcj02")
    assert np.abs(np.column_stack([x, y]) - b).max() < 1e-6
    assert np.abs(a - b).max() > 1e-3


@pytest.mark.parametrize("query,status,field", [
    ("level=country", 400, "level"), ("parent=4401", 400, "parent"), ("parent=abcdef", 400, "parent"),
    ("parent=449999", 404, "parent"), ("out_crs=mars", 400, "out_crs"), ("zoom=3", 400, "zoom")])
def test_boundaries_bad_input(client, query: str, status: int, field: str) -> None:
    assert_error(client.get("/api/boundaries?" + query), status, field)


# -- coverage hexagons --------------------------------------------------------------------------------
def test_cells_full_zoom_are_exactly_the_result_cells_in_the_bbox(client, svc) -> None:
    resp = client.get(f"/api/coverage/cells?bbox={BBOX_Q}&zoom=15")
    assert resp.status_code == 200 and resp.mimetype == "application/geo+json"
    fc = resp.get_json()
    result = result_for(svc)
    assert fc["lod"]["res"] == 9 and fc["lod"]["coarsened"] is False and fc["lod"]["aggregated"] is False
    cells = result.cells
    box = geo.expand_bbox(BBOX, geo.cell_margin_m(9))
    inside = cells[(cells["lon"] >= box[0]) & (cells["lon"] <= box[2]) & (cells["lat"] >= box[1])
                   & (cells["lat"] <= box[3])]
    got = {f["properties"]["h3"]: f for f in fc["features"]}
    assert set(got) == set(inside["h3"]) and len(got) == len(fc["features"]) == fc["lod"]["n_features"]
    # every hexagon touching the box is there
    polys = hexgrid.cell_polygons(hexgrid.str_to_cells(cells["h3"].to_numpy(dtype=object)))
    touching = set(cells["h3"][shapely.intersects(polys, shapely.box(*BBOX))])
    assert touching <= set(got) and len(touching) > 100
    threshold = result.params["threshold_m"]
    for row in inside.head(200).itertuples():
        p = got[row.h3]["properties"]
        assert p["demand"] == pytest.approx(row.demand) and p["covered"] == bool(row.covered)
        assert p["nearest_id"] == row.nearest_id and p["res"] == 9
        d = row.distance_m
        assert (p["distance_m"] is None) if not np.isfinite(d) else p["distance_m"] == pytest.approx(d)
        ratio = d / threshold
        expected = 0 if ratio <= 0.5 else 1 if ratio <= 1 else 2 if ratio <= 2 else 3 if ratio <= 4 else 4
        assert p["dclass"] == expected
        ring = shapely.from_geojson(json.dumps(got[row.h3]["geometry"]))
        assert ring.contains(shapely.Point(row.lon, row.lat))


@pytest.mark.parametrize("zoom,res", [(None, 9), (13, 9), (12.5, 8), (11, 8), (10, 7), (3, 7)])
def test_cells_level_of_detail_keeps_the_demand(client, svc, zoom, res) -> None:
    q = "" if zoom is None else f"?zoom={zoom}"
    fc = client.get("/api/coverage/cells" + q).get_json()
    result = result_for(svc)
    assert fc["lod"]["res"] == res and fc["lod"]["analysis_res"] == 9 and fc["lod"]["coarsened"] is False
    demand = sum(f["properties"]["demand"] for f in fc["features"])
    assert demand == pytest.approx(result.cells["demand"].sum())
    if res < 9:
        parents = hexgrid.cells_to_str(hexgrid.parents(hexgrid.str_to_cells(result.cells["h3"].to_numpy(dtype=object)), res))
        assert len(fc["features"]) == len(set(parents))
        big = max(fc["features"], key=lambda f: f["properties"]["n_cells"])["properties"]
        kids = result.cells[parents == big["h3"]]
        fin = kids[np.isfinite(kids["distance_m"])]
        assert big["n_cells"] == len(kids) and big["demand"] == pytest.approx(kids["demand"].sum())
        assert big["distance_m"] == pytest.approx(np.average(fin["distance_m"], weights=fin["demand"]))
        assert big["covered_share"] == pytest.approx(kids.loc[kids["covered"], "demand"].sum() / kids["demand"].sum())
        assert big["covered"] == (big["covered_share"] >= 0.5)


def test_cells_are_capped_by_coarsening(client, svc, monkeypatch) -> None:
    monkeypatch.setattr(geo, "MAX_CELL_FEATURES", 1000)
    fc = client.get("/api/coverage/cells?zoom=16").get_json()
    lod = fc["lod"]
    assert lod["coarsened"] is True and lod["zoom_res"] == 9 and lod["res"] < 8
    assert 0 < len(fc["features"]) <= 1000 and lod["max_features"] == 1000
    assert sum(f["properties"]["demand"] for f in fc["features"]) == pytest.approx(result_for(svc).cells["demand"].sum())


def test_cells_out_crs_shifts_every_vertex(client) -> None:
    wgs = client.get(f"/api/coverage/cells?bbox={BBOX_Q}&zoom=14").get_json()
    for name in ("gcj02", "bd09"):
        other = client.get(f"/api/coverage/cells?bbox={BBOX_Q}&zoom=14&out_crs={name}").get_json()
        assert [f["properties"]["h3"] for f in other["features"]] == [f["properties"]["h3"] for f in wgs["features"]]
        a, b = coords(wgs), coords(other)
        x, y = crs_mod.from_wgs84(a[:, 0], a[:, 1], name)
        assert np.abs(np.column_stack([x, y]) - b).max() < 1e-6
        assert np.abs(a - b).max() > 1e-3


def test_cells_for_a_group_and_hour(client, svc) -> None:
    fc = client.get("/api/coverage/cells?group=外卖配送员&hour=12&zoom=14").get_json()
    result = result_for(svc, group="外卖配送员", hour=12)
    assert len(fc["features"]) == len(result.cells)
    assert {f["properties"]["h3"] for f in fc["features"]} == set(result.cells["h3"])
    synonym = client.get("/api/coverage/cells?group=骑手&hour=12&zoom=14").get_json()
    assert len(synonym["features"]) == len(fc["features"])


COVERAGE_ROUTES = ["/api/coverage/cells", "/api/coverage/blank-spots", "/api/coverage/blind-zones",
                   "/api/coverage/summary", "/api/coverage/download", "/api/impact?lon=113.3&lat=23.1",
                   "/api/siting"]


@pytest.mark.parametrize("query,field", [
    ("res=6", "res"), ("res=12", "res"), ("res=abc", "res"), ("res=9.5", "res"), ("hour=24", "hour"),
    ("hour=-1", "hour"), ("hour=nan", "hour"), ("metric=manhattan", "metric"), ("threshold_m=0", "threshold_m"),
    ("threshold_m=-5", "threshold_m"), ("threshold_m=nan", "threshold_m"), ("threshold_m=inf", "threshold_m"),
    ("threshold_m=1e7", "threshold_m"), ("group=宇航员", "group"), ("bogus=1", "bogus")])
def test_coverage_parameters_are_checked_everywhere(client, query: str, field: str) -> None:
    for route in COVERAGE_ROUTES:
        sep = "&" if "?" in route else "?"
        assert_error(client.get(route + sep + query), 400, field)


@pytest.mark.parametrize("query,field", [("zoom=25", "zoom"), ("zoom=abc", "zoom"), ("zoom=-1", "zoom"),
                                         ("out_crs=utm", "out_crs"), ("limit=5", "limit")])
def test_cells_bad_input(client, query: str, field: str) -> None:
    assert_error(client.get("/api/coverage/cells?" + query), 400, field)


def test_network_metric_without_osm_file_is_409(client) -> None:
    for route in ["/api/coverage/cells", "/api/coverage/summary", "/api/coverage/hourly", "/api/siting",
                  "/api/impact?lon=113.3&lat=23.1"]:
        sep = "&" if "?" in route else "?"
        assert_error(client.get(route + sep + "metric=network"), 409, "metric")


def test_no_hotspot_data_is_404(tiny) -> None:
    client = tiny.test_client()
    for route in ["/api/coverage/cells", "/api/coverage/blank-spots", "/api/coverage/blind-zones",
                  "/api/coverage/summary", "/api/coverage/hourly", "/api/coverage/download?what=cells",
                  "/api/impact?lon=113.3&lat=23.1", "/api/siting?k=2"]:
        err = assert_error(client.get(route), 404)
        assert "热点" in err["zh"] and "hotspot" in err["en"]


# -- blank spots and blind zones ------------------------------------------------------------------------
def test_blank_spots_ranked_in_the_bbox(client, svc) -> None:
    result = result_for(svc)
    blank = result.blank_spots
    inside = blank[(blank["lon"] >= BBOX[0]) & (blank["lon"] <= BBOX[2]) & (blank["lat"] >= BBOX[1])
                   & (blank["lat"] <= BBOX[3])]
    fc = client.get(f"/api/coverage/blank-spots?bbox={BBOX_Q}&limit=10&zoom=13").get_json()
    assert fc["total"] == len(inside) > 10 and fc["returned"] == 10
    assert [f["properties"]["h3"] for f in fc["features"]] == list(inside["h3"].head(10))
    ranks = [f["properties"]["rank"] for f in fc["features"]]
    assert ranks == sorted(ranks)
    first, row = fc["features"][0], inside.iloc[0]
    assert set(first["properties"]) == {"rank", "h3", "demand", "distance_m", "excess_m", "nearest_id", "adcode"}
    assert first["geometry"]["coordinates"] == pytest.approx([row["lon"], row["lat"]], abs=1e-7)
    assert first["properties"]["excess_m"] == pytest.approx(row["distance_m"] - result.params["threshold_m"])
    everything = client.get("/api/coverage/blank-spots?limit=100000").get_json()
    assert everything["total"] == everything["returned"] == len(blank)
    assert len(client.get("/api/coverage/blank-spots").get_json()["features"]) == 500
    gcj = client.get(f"/api/coverage/blank-spots?bbox={BBOX_Q}&limit=10&out_crs=gcj02").get_json()
    x, y = crs_mod.from_wgs84(row["lon"], row["lat"], "gcj02")
    assert gcj["features"][0]["geometry"]["coordinates"] == pytest.approx([float(x), float(y)], abs=2e-7)


@pytest.mark.parametrize("query,field", [("limit=0", "limit"), ("limit=100001", "limit"), ("limit=x", "limit"),
                                         ("min_cells=1", "min_cells")])
def test_blank_spots_bad_input(client, query: str, field: str) -> None:
    assert_error(client.get("/api/coverage/blank-spots?" + query), 400, field)


def test_blind_zones_filters(client, svc) -> None:
    zones = result_for(svc).blind_zones
    fc = client.get("/api/coverage/blind-zones?min_cells=5&min_demand=10&limit=3").get_json()
    big = zones[(zones["n_cells"] >= 5) & (zones["demand"] >= 10)]
    assert fc["total"] == len(big) and fc["returned"] == len(fc["features"]) == min(3, len(big))
    assert [f["properties"]["zone"] for f in fc["features"]] == list(big["zone"].head(3))
    p = fc["features"][0]["properties"]
    assert set(p) >= {"zone", "n_cells", "demand", "area_km2", "districts", "district_names", "lon", "lat"}
    assert isinstance(p["districts"], list) and all(re.fullmatch(r"\d{6}", d) for d in p["districts"])
    assert len(p["district_names"]) == len(p["districts"])
    assert fc["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    # bbox: zones whose outline's bounding box overlaps it
    b = shapely.bounds(np.asarray(zones.geometry.to_numpy(), dtype=object))
    overlapping = (b[:, 0] <= BBOX[2]) & (b[:, 2] >= BBOX[0]) & (b[:, 1] <= BBOX[3]) & (b[:, 3] >= BBOX[1])
    inbox = client.get(f"/api/coverage/blind-zones?bbox={BBOX_Q}&limit=100000").get_json()
    assert inbox["total"] == int(overlapping.sum()) == len(inbox["features"])
    # a low zoom simplifies outlines but keeps every zone
    low = client.get(f"/api/coverage/blind-zones?bbox={BBOX_Q}&limit=100000&zoom=8").get_json()
    assert [f["properties"]["zone"] for f in low["features"]] == [f["properties"]["zone"] for f in inbox["features"]]
    assert len(client.get("/api/coverage/blind-zones").get_json()["features"]) == min(2000, len(zones))


@pytest.mark.parametrize("query,field", [("min_cells=-1", "min_cells"), ("min_demand=nan", "min_demand"),
                                         ("min_demand=-1", "min_demand"), ("limit=0", "limit"), ("zoom=99", "zoom")])
def test_blind_zones_bad_input(client, query: str, field: str) -> None:
    assert_error(client.get("/api/coverage/blind-zones?" + query), 400, field)


# -- summary, hourly, downloads -------------------------------------------------------------------------
def test_summary_matches_the_result(client, svc) -> None:
    data = client.get("/api/coverage/summary?group=外卖配送员").get_json()
    result = result_for(svc, group="外卖配送员")
    assert data["params"]["group"] == "外卖配送员" and data["params"]["threshold_m"] == 1000.0
    assert data["covered_share"] == pytest.approx(result.covered_share)
    assert len(data["rows"]) == len(result.summary)
    assert [r["name"] for r in data["rows"]] == list(result.summary["name"])
    tianhe = next(r for r in data["rows"] if r["adcode"] == "440106")
    assert tianhe["name"] == "天河区" and tianhe["level"] == "district" and 0 <= tianhe["covered_share"] <= 1
    assert data["rows"][-1]["level"] == "total"
    assert data["n_blank_spots"] == len(result.blank_spots) and data["n_blind_zones"] == len(result.blind_zones)


def test_hourly_has_24_rows_and_matches_the_analysis(client, svc, app) -> None:
    resp = client.get("/api/coverage/hourly?group=外卖配送员")
    rows = resp.get_json()
    assert resp.status_code == 200 and [r["hour"] for r in rows] == list(range(24))
    assert set(rows[0]) == {"hour", "open_stations", "demand", "covered_demand", "covered_share", "uncovered_cells"}
    noon = result_for(svc, group="外卖配送员", hour=12)
    assert rows[12]["covered_share"] == pytest.approx(noon.covered_share)
    assert rows[12]["open_stations"] == noon.params["n_stations"]
    assert client.get("/api/coverage/hourly?group=外卖配送员").get_json() == rows     # cached
    assert len(app.extensions["yizhan_api"]["hourly"]) >= 1
    assert_error(client.get("/api/coverage/hourly?hour=3"), 400, "hour")


def _attachment(resp, ext: str) -> None:
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and f".{ext}" in disposition


def test_downloads_parse(client, svc) -> None:
    import openpyxl

    result = result_for(svc)
    resp = client.get("/api/coverage/download?what=summary&format=csv")
    _attachment(resp, "csv")
    assert resp.data.startswith(b"\xef\xbb\xbf")
    frame = pd.read_csv(io.BytesIO(resp.data), encoding="utf-8-sig")
    assert len(frame) == len(result.summary) and "covered_share" in frame.columns

    resp = client.get("/api/coverage/download?what=cells&format=csv&out_crs=gcj02")
    _attachment(resp, "csv")
    cells = pd.read_csv(io.BytesIO(resp.data), encoding="utf-8-sig", dtype={"adcode": str})
    assert len(cells) == len(result.cells) and list(cells["h3"]) == list(result.cells["h3"])
    x, _ = crs_mod.from_wgs84(result.cells["lon"].to_numpy(), result.cells["lat"].to_numpy(), "gcj02")
    assert np.abs(cells["lon"].to_numpy() - x).max() < 1e-6

    for what, sheet, n in [("summary", "区县汇总", len(result.summary)), ("blank-spots", "空白点", len(result.blank_spots)),
                           ("blind-zones", "盲区", len(result.blind_zones))]:
        resp = client.get(f"/api/coverage/download?what={what}&format=xlsx")
        _attachment(resp, "xlsx")
        book = openpyxl.load_workbook(io.BytesIO(resp.data), read_only=True)
        assert sheet in book.sheetnames and "参数" in book.sheetnames
        assert book[sheet].max_row == n + 1

    for what, n, kind in [("cells", len(result.cells), "Polygon"), ("blank-spots", len(result.blank_spots), "Point"),
                          ("blind-zones", len(result.blind_zones), None)]:
        resp = client.get(f"/api/coverage/download?what={what}&format=geojson")
        _attachment(resp, "geojson")
        fc = json.loads(resp.data)
        assert fc["type"] == "FeatureCollection" and len(fc["features"]) == n
        if kind:
            assert fc["features"][0]["geometry"]["type"] == kind


@pytest.mark.parametrize("query,field", [("what=summary&format=geojson", "format"), ("what=stations", "what"),
                                         ("format=pdf", "format"), ("what=cells&format=csv&bbox=1,2,3,4", "bbox"),
                                         ("what=cells&out_crs=utm", "out_crs")])
def test_download_bad_combinations(client, query: str, field: str) -> None:
    assert_error(client.get("/api/coverage/download?" + query), 400, field)


def test_download_neutralises_formulas(home: Path, tmp_path: Path) -> None:
    hotspots = tmp_path / "hot.csv"
    hotspots.write_text("lon,lat\n113.3246,23.1376\n113.3250,23.1380\n113.4500,23.3000\n", encoding="utf-8")
    app = create_app({"HOME": str(home), "TESTING": True, "RATE_LIMIT_ENABLED": False, "HOTSPOTS_FILE": str(hotspots)})
    rows = ["=1+1,=HYPERLINK(1),工会爱心驿站,,,24h,,,在运营,113.3245,23.1375"]
    import_stations_file(app.extensions["yizhan"].registry, write_csv(tmp_path / "s.csv", rows))
    client = app.test_client()
    text = client.get("/api/coverage/download?what=cells&format=csv").data.decode("utf-8-sig")
    assert "'=1+1" in text and "\n=1+1" not in text and ",=1+1" not in text
    cells = client.get("/api/coverage/cells").get_json()
    assert "=1+1" in {f["properties"]["nearest_id"] for f in cells["features"]}      # JSON keeps the raw text


# -- impact and siting ----------------------------------------------------------------------------------
def test_impact_on_an_uncovered_cell_and_on_a_station(client, svc) -> None:
    result = result_for(svc)
    spot = result.blank_spots.iloc[0]
    got = client.get("/api/impact", query_string={"lon": float(spot["lon"]), "lat": float(spot["lat"])}).get_json()
    assert got["new_demand"] > 0 and got["blank_spots_removed"] >= 1 and spot["h3"] in got["blank_spot_cells"]
    assert got["covered_after"] - got["covered_before"] == pytest.approx(got["new_demand"])
    assert got["site"] == {"lon": pytest.approx(spot["lon"]), "lat": pytest.approx(spot["lat"])}
    assert got["share_after"] > got["share_before"] and got["params"]["metric"] == "great-circle"
    station = result.stations.iloc[0]
    zero = client.get("/api/impact", query_string={"lon": float(station["lon"]), "lat": float(station["lat"])}).get_json()
    assert zero["new_demand"] == 0 and zero["blank_spots_removed"] == 0 and zero["districts"] == []
    glon, glat = (float(v) for v in crs_mod.from_wgs84(spot["lon"], spot["lat"], "gcj02"))
    shifted = client.get(f"/api/impact?lon={glon!r}&lat={glat!r}&crs=gcj02").get_json()
    assert shifted["site"]["lon"] == pytest.approx(spot["lon"], abs=1e-6)
    assert shifted["new_demand"] == pytest.approx(got["new_demand"])


def test_impact_far_away_with_the_grid_metric_is_quick_and_empty(client) -> None:
    import time

    client.get("/api/coverage/summary?metric=grid")           # build the grid result first
    start = time.perf_counter()
    got = client.get("/api/impact?lon=0.5&lat=0.5&metric=grid").get_json()
    assert got["new_demand"] == 0 and got["params"]["metric"] == "grid"
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("query,field", [("lat=23", "lon"), ("lon=113", "lat"), ("lon=113&lat=91", "lat"),
                                         ("lon=nan&lat=23", "lon"), ("lon=113&lat=23&crs=mars", "crs"),
                                         ("lon=113&lat=23&zoom=3", "zoom")])
def test_impact_bad_input(client, query: str, field: str) -> None:
    assert_error(client.get("/api/impact?" + query), 400, field)


def test_siting_mclp_and_lscp(client) -> None:
    plan = client.get("/api/siting?k=3").get_json()
    sites = plan["sites"]
    assert len(sites) == 3 and [s["rank"] for s in sites] == [1, 2, 3]
    gains = [s["gain"] for s in sites]
    assert gains == sorted(gains, reverse=True) and gains[-1] > 0
    assert plan["covered_after"] - plan["covered_before"] == pytest.approx(sum(gains))
    assert plan["objective"] == "mclp" and plan["solver"] == "greedy" and plan["share_after"] > plan["share_before"]
    assert {"lon", "lat", "gain", "rank", "share"} <= set(sites[0])
    lscp = client.get("/api/siting?objective=lscp&target_share=0.7").get_json()
    assert lscp["objective"] == "lscp" and lscp["share_after"] >= 0.7 and lscp["sites"]


@pytest.mark.parametrize("query,field", [
    ("k=0", "k"), ("k=201", "k"), ("k=two", "k"), ("objective=pmedian", "objective"), ("target_share=0", "target_share"),
    ("target_share=1.5", "target_share"), ("target_share=nan", "target_share"), ("solver=cplex", "solver"),
    ("time_limit_s=21", "time_limit_s"), ("time_limit_s=0", "time_limit_s"), ("out_crs=gcj02", "out_crs")])
def test_siting_bad_input(client, query: str, field: str) -> None:
    assert_error(client.get("/api/siting?" + query), 400, field)


# -- public routes, methods, me --------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["/api/stations", "/api/nearest?lon=113.32&lat=23.13", "/api/health", "/api/me",
                                 "/api/boundaries", "/api/coverage/cells?zoom=9", "/api/coverage/blank-spots",
                                 "/api/coverage/blind-zones", "/api/coverage/summary", "/api/impact?lon=113.32&lat=23.13",
                                 "/api/siting?k=1", "/api/coverage/download", "/openapi.json"])
def test_rider_and_planner_reads_need_no_login(client, url: str) -> None:
    resp = client.get(url)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]


def test_methods_not_allowed(client) -> None:
    for method, url in [("post", "/api/nearest?lon=1&lat=2"), ("get", "/api/proposals/1/review"),
                        ("get", "/api/proposals/1/build"), ("delete", "/api/stations"), ("put", "/api/proposals"),
                        ("post", "/api/coverage/cells"), ("post", "/openapi.json")]:
        resp = getattr(client, method)(url)
        assert_error(resp, 405)
        assert resp.headers.get("Allow")
    assert "POST" in client.get("/api/proposals/1/review").headers["Allow"]
    assert_error(client.get("/api/nope"), 404)
    assert_error(client.get("/api/proposals/abc"), 404)
    assert_error(client.get("/api/proposals/99999999999999999999"), 404)


def test_me(client) -> None:
    assert client.get("/api/me").get_json() == {"user": None, "csrf": None}
    token = login(client, "tianhe")
    me = client.get("/api/me").get_json()
    assert me["user"] == {"username": "tianhe", "role": "district", "adcode": "440106"}
    with client.session_transaction() as s:
        assert me["csrf"] == token == s["csrf"]


# -- proposals --------------------------------------------------------------------------------------------
def _site_in(svc, adcode: str) -> tuple[float, float]:
    """An uncovered demand cell centre in district ``adcode`` (a site with a positive impact)."""
    blank = result_for(svc).blank_spots
    row = blank[blank["adcode"] == adcode].iloc[0]
    return float(row["lon"]), float(row["lat"])


def test_proposals_need_login_and_csrf(client, svc) -> None:
    assert_error(client.get("/api/proposals"), 401)
    assert_error(client.get("/api/proposals/1"), 401)
    body = {"lon": 113.3245, "lat": 23.1375, "name": "站", "type": "工会爱心驿站"}
    assert_error(client.post("/api/proposals", json=body), 403)                  # no CSRF token at all
    with client.session_transaction() as s:
        s["csrf"] = "anon-token"
    assert_error(client.post("/api/proposals", json=body, headers={"X-CSRF-Token": "anon-token"}), 401)
    token = login(client, "tianhe")
    assert_error(client.post("/api/proposals", json=body), 403)                  # logged in, header missing
    assert_error(client.post("/api/proposals", json=body, headers={"X-CSRF-Token": token + "x"}), 403)
    assert_error(client.post("/api/proposals/1/review", json={"accept": True}, headers={"X-CSRF-Token": token}), 403)


def test_proposal_workflow(app, svc) -> None:
    district, planner, other = app.test_client(), app.test_client(), app.test_client()
    t_tok, p_tok, o_tok = login(district, "tianhe"), login(planner, "plan1"), login(other, "haizhu")
    lon, lat = _site_in(svc, "440106")
    glon, glat = (float(v) for v in crs_mod.from_wgs84(lon, lat, "gcj02"))
    resp = district.post("/api/proposals", headers={"X-CSRF-Token": t_tok},
                         json={"lon": glon, "lat": glat, "crs": "gcj02", "name": "天河北驿站", "type": "爱心驿站",
                               "host": "超市", "services": ["饮水", "微波炉"], "reason": "午间订单多", "group": ""})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    prop = resp.get_json()
    assert resp.headers["Location"] == f"/api/proposals/{prop['id']}"
    assert prop["status"] == "待审核" and prop["adcode"] == "440106" and prop["type"] == "工会爱心驿站"
    assert prop["host"] == "商超" and prop["services"] == ["饮水", "热饭"] and prop["submitted_by"] == "tianhe"
    assert prop["lon"] == pytest.approx(lon, abs=1e-6) and prop["lat"] == pytest.approx(lat, abs=1e-6)
    assert prop["impact"]["new_demand"] > 0 and prop["impact"]["params"]["metric"] == "great-circle"

    # scoping: Haizhu's union sees nothing of Tianhe's and cannot propose there
    assert [p["id"] for p in district.get("/api/proposals").get_json()] == [prop["id"]]
    assert other.get("/api/proposals").get_json() == []
    assert_error(other.get(f"/api/proposals/{prop['id']}"), 403)
    err = assert_error(other.post("/api/proposals", headers={"X-CSRF-Token": o_tok},
                                  json={"lon": lon, "lat": lat, "name": "越界站", "type": "工会爱心驿站"}), 403)
    assert "440105" in err["en"]
    assert prop["id"] in [p["id"] for p in planner.get("/api/proposals?status=pending").get_json()]
    assert planner.get("/api/proposals?status=已驳回").get_json() == []
    assert_error(planner.get("/api/proposals?status=lost"), 400, "status")

    # review: planners only, booleans only
    url = f"/api/proposals/{prop['id']}"
    assert_error(district.post(url + "/review", json={"accept": True}, headers={"X-CSRF-Token": t_tok}), 403)
    assert_error(planner.post(url + "/review", json={"accept": "yes"}, headers={"X-CSRF-Token": p_tok}), 400, "accept")
    assert_error(planner.post(url + "/review", json={"accept": True, "extra": 1}, headers={"X-CSRF-Token": p_tok}),
                 400, "extra")
    assert_error(planner.post("/api/proposals/999999/review", json={"accept": True}, headers={"X-CSRF-Token": p_tok}), 404)
    assert_error(planner.post(url + "/build", headers={"X-CSRF-Token": p_tok}), 409)          # not accepted yet
    reviewed = planner.post(url + "/review", json={"accept": True, "comment": "同意"}, headers={"X-CSRF-Token": p_tok})
    assert reviewed.status_code == 200 and reviewed.get_json()["status"] == "已采纳"
    err = assert_error(planner.post(url + "/review", json={"accept": False}, headers={"X-CSRF-Token": p_tok}), 409)
    assert err["en"] == "already reviewed" and "已审核" in err["zh"]

    # build: the new station
    assert_error(district.post(url + "/build", headers={"X-CSRF-Token": t_tok}), 403)
    assert_error(planner.post(url + "/build", json={"x": 1}, headers={"X-CSRF-Token": p_tok}), 400, "x")
    built = planner.post(url + "/build", json={}, headers={"X-CSRF-Token": p_tok})
    assert built.status_code == 201
    station = built.get_json()
    assert station["id"] == f"P{prop['id']:06d}" and station["status"] == "筹建中" and station["name"] == "天河北驿站"
    assert_error(planner.post(url + "/build", headers={"X-CSRF-Token": p_tok}), 409)          # only once
    assert_error(planner.post("/api/proposals/999999/build", headers={"X-CSRF-Token": p_tok}), 404)

    detail = district.get(url).get_json()
    assert detail["status"] == "已采纳" and detail["station_id"] == station["id"]
    assert [h["action"] for h in detail["history"]] == ["submit", "accept", "build"]
    assert detail["history"][1]["user"] == "plan1" and detail["history"][1]["note"] == "同意"
    assert_error(planner.get("/api/proposals/999999"), 404)


def test_planner_may_propose_anywhere_and_admin_reviews(app, svc) -> None:
    planner, admin = app.test_client(), app.test_client()
    p_tok, a_tok = login(planner, "plan1"), login(admin, "admin1")
    lon, lat = _site_in(svc, "440105")
    resp = planner.post("/api/proposals", headers={"X-CSRF-Token": p_tok},
                        json={"lon": lon, "lat": lat, "name": "海珠站", "type": "快递员之家", "services": "饮水、充电",
                              "group": "快递员"})
    assert resp.status_code == 201
    prop = resp.get_json()
    assert prop["adcode"] == "440105" and prop["impact"]["params"]["group"] == "快递员"
    rejected = admin.post(f"/api/proposals/{prop['id']}/review", json={"accept": False, "comment": "重复"},
                          headers={"X-CSRF-Token": a_tok})
    assert rejected.status_code == 200 and rejected.get_json()["status"] == "已驳回"


VALID = {"lon": 113.3245, "lat": 23.1375, "name": "站", "type": "工会爱心驿站"}


@pytest.mark.parametrize("body,field", [
    ({**VALID, "lon": "113.3"}, "lon"), ({**VALID, "lon": True}, "lon"), ({**VALID, "lat": 95}, "lat"),
    ({k: v for k, v in VALID.items() if k != "lat"}, "lat"), ({**VALID, "lon": None}, "lon"),
    ({**VALID, "name": ""}, "name"), ({**VALID, "name": "  "}, "name"), ({**VALID, "name": "x" * 201}, "name"),
    ({**VALID, "name": 5}, "name"), ({k: v for k, v in VALID.items() if k != "type"}, "type"),
    ({**VALID, "type": "火箭站"}, "type"), ({**VALID, "crs": "utm"}, "crs"), ({**VALID, "crs": 4326}, "crs"),
    ({**VALID, "services": ["饮水"] * 31}, "services"), ({**VALID, "services": [1, 2]}, "services"),
    ({**VALID, "services": {"a": 1}}, "services"), ({**VALID, "reason": "x" * 2001}, "reason"),
    ({**VALID, "host": ["超市"]}, "host"), ({**VALID, "group": "宇航员"}, "group"), ({**VALID, "colour": "red"}, "colour"),
])
def test_proposal_body_errors(app, body: dict, field: str) -> None:
    client = app.test_client()
    token = login(client, "plan1")
    assert_error(client.post("/api/proposals", json=body, headers={"X-CSRF-Token": token}), 400, field)


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", b'"text"', b"12", b"null", b"\xff\xfe", b'{"lon": NaN}'])
def test_proposal_bodies_that_are_not_objects(app, data: bytes) -> None:
    client = app.test_client()
    token = login(client, "plan1")
    resp = client.post("/api/proposals", data=data, content_type="application/json", headers={"X-CSRF-Token": token})
    assert_error(resp, 400)
    empty = client.post("/api/proposals", data=b"", content_type="application/json", headers={"X-CSRF-Token": token})
    assert_error(empty, 400, "lon")


def test_proposal_body_too_large(app) -> None:
    client = app.test_client()
    token = login(client, "plan1")
    resp = client.post("/api/proposals", json={**VALID, "reason": "x" * 70_000}, headers={"X-CSRF-Token": token})
    assert_error(resp, 413)


# -- the OpenAPI document ------------------------------------------------------------------------------------
def _example(param: dict) -> str:
    named = {"lon": "113.3245", "lat": "23.1375", "bbox": BBOX_Q, "open_at": "12:00", "parent": "440100",
             "adcode": "4401", "service": "饮水", "threshold_m": "1000", "zoom": "12", "k": "3", "limit": "5",
             "hour": "12", "time_limit_s": "5", "min_demand": "1", "target_share": "0.5"}
    if param["name"] in named:
        return named[param["name"]]
    schema = param["schema"]
    schema = schema.get("anyOf", [schema])[0]
    if "enum" in schema:
        return next(v for v in schema["enum"] if v)
    if "default" in schema:
        return str(schema["default"])
    return str(schema.get("minimum", 1))


def test_openapi_covers_every_route_and_parameter(client, app) -> None:
    resp = client.get("/openapi.json")
    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["openapi"].startswith("3.0")
    assert "Error" in doc["components"]["schemas"]
    rules = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") or rule.rule == "/openapi.json":
            path = re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", rule.rule)
            rules.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    assert {p: set(ops) for p, ops in doc["paths"].items()} == rules
    params = doc["components"]["parameters"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            declared = [params[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p for p in op["parameters"]]
            assert all(p["in"] in ("query", "path", "header") and "schema" in p for p in declared)
            for code, answer in op["responses"].items():
                if code.startswith("4"):
                    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
            if method != "get" or "{" in path or op.get("security") or path == "/openapi.json":
                continue       # the login-only routes are exercised in test_manage / test_permissions
            query = {p["name"]: _example(p) for p in declared if p["in"] == "query"}
            if path == "/api/coverage/download":
                query["format"] = "csv"
            if path == "/api/corridors":
                # this app has no highway file (404, documented); tests/test_corridors_api.py
                # exercises every parameter of the route with one
                query["adcode"] = "440100"  # an area here, not a prefix: 6 digits
                assert client.get(path, query_string=query).status_code == 404
                continue
            ok = client.get(path, query_string=query)
            assert ok.status_code == 200, (path, query, ok.get_data(as_text=True)[:300])
            bad = client.get(path, query_string={**query, "zz_unknown": "1"})
            assert_error(bad, 400, "zz_unknown")
    bodies = doc["components"]["schemas"]
    assert bodies["ProposalInput"]["additionalProperties"] is False
    assert set(bodies["ProposalInput"]["properties"]) == {"lon", "lat", "crs", "name", "type", "host", "services",
                                                          "reason", "group"}
    assert bodies["ReviewInput"]["additionalProperties"] is False
    bbox = next(p for p in params.values() if p["name"] == "bbox")["schema"]["pattern"]
    assert bbox == geo.BBOX_PATTERN


def test_pre_encoded_nearest_answer_equals_the_general_path_byte_for_byte(app, svc) -> None:
    """/api/nearest without a road network is assembled from per-station JSON fragments; it must be
    the exact bytes of encoding the index's records (every filter, open_at, stations open, closed and
    with unknown hours, at several clock times)."""
    from yizhan.stations.nearest import OpenAt
    from yizhan.web import api as api_mod

    index = svc.station_index()
    rng = np.random.default_rng(11)
    whens = [None, OpenAt.parse("03:00"), OpenAt.parse("12:30")]
    filters = [{}, {"type": "司机之家"}, {"group": "外卖配送员"}, {"service": "饮水"}]
    compared, seen = 0, set()
    with app.test_request_context("/api/nearest"):
        for hour in (2, 9, 21):
            now = datetime(2026, 11, 23, hour, 15, tzinfo=api_mod.ZoneInfo("Asia/Shanghai"))
            for _ in range(25):
                lon, lat = 113.1 + rng.random() * 0.5, 22.95 + rng.random() * 0.4
                k = int(rng.integers(1, 12))
                when = whens[int(rng.integers(len(whens)))]
                f = filters[int(rng.integers(len(filters)))]
                pos, dist = index.nearest_positions(lon, lat, k=k, open_at=when, **f)
                fast = api_mod._encoded_nearest(index, pos, dist, now, when is not None)
                records = index.nearest(lon, lat, k=k, open_at=when, **f)
                general = api_mod._records_response(records, now).get_data(as_text=True)
                assert fast == general
                compared += len(records)
                seen |= {r["open_now"] for r in records}
    assert compared > 300 and seen == {True, False}           # the sample's stations all state their hours
