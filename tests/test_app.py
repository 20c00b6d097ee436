"""Flask app: pages and JSON API, including every API error path (4xx, never 500)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import STATION_ROWS, write_csv

from yizhan.app import create_app
from yizhan.stations import import_stations_file


@pytest.fixture
def app(home: Path, tmp_path: Path):
    app = create_app({"HOME": str(home), "TESTING": True})
    reg = app.extensions["yizhan"].registry
    import_stations_file(reg, write_csv(tmp_path / "s.csv", STATION_ROWS))
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def test_index_page_uses_only_local_assets(client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "驿站通" in html
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    for asset in ("/static/vendor/leaflet/leaflet.js", "/static/vendor/leaflet/leaflet.css", "/static/stations_map.js"):
        assert asset in html
        assert client.get(asset).status_code == 200


def test_api_stations_geojson(client) -> None:
    fc = client.get("/api/stations").get_json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 3
    only = client.get("/api/stations?type=司机之家").get_json()
    assert [f["id"] for f in only["features"]] == ["T3"]


def test_api_nearest_matches_cli_shape(client) -> None:
    got = client.get("/api/nearest?lon=113.324&lat=23.137&k=2").get_json()
    assert [r["id"] for r in got] == ["T1", "T2"]
    assert {"id", "name", "type", "lon", "lat", "distance_m"} <= set(got[0])


@pytest.mark.parametrize("query,field", [
    ("lat=23.1", "lon"), ("lon=abc&lat=23.1", "lon"), ("lon=nan&lat=23.1", "lon"), ("lon=inf&lat=23.1", "lon"),
    ("lon=113&lat=91", "lat"), ("lon=113&lat=23&crs=utm", "crs"), ("lon=113&lat=23&k=0", "k"),
    ("lon=113&lat=23&k=1000", "k"), ("lon=113&lat=23&k=-1", "k"), ("lon=113&lat=23&open_at=25:00", "open_at"),
    ("lon=113&lat=23&group=宇航员", "group"), ("lon=113&lat=23&type=火箭站", "type"),
    ("lon=113&lat=23&foo=1", "foo"),
])
def test_api_nearest_bad_input_is_400(client, query: str, field: str) -> None:
    resp = client.get("/api/nearest?" + query)
    assert resp.status_code == 400
    err = resp.get_json()["error"]
    assert err["field"] == field and err["zh"] and err["en"]


def test_api_unknown_route_and_method(client) -> None:
    assert client.get("/api/nope").status_code == 404
    assert client.get("/api/nope").get_json()["error"]["status"] == 404
    assert client.post("/api/nearest?lon=1&lat=2").status_code == 405
    assert client.get("/api/stations?colour=red").status_code == 400
    assert client.get("/api/health").get_json()["stations"] == 3


def test_rate_limits_answer_429(home: Path, tmp_path: Path) -> None:
    limited = create_app({"HOME": str(home), "TESTING": True, "RATE_LIMIT_NEAREST": "3 per minute",
                          "RATE_LIMIT_LOGIN": "2 per minute"})
    import_stations_file(limited.extensions["yizhan"].registry, write_csv(tmp_path / "s.csv", STATION_ROWS))
    c = limited.test_client()
    codes = [c.get("/api/nearest?lon=113.3&lat=23.1").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    body = c.get("/api/nearest?lon=113.3&lat=23.1").get_json()
    assert body["error"]["status"] == 429 and body["error"]["zh"]
    assert c.get("/api/stations").status_code == 200          # other public routes are not limited
    with c.session_transaction() as s:
        s["csrf"] = "tok"
    logins = [c.post("/login", data={"username": "x", "password": "y", "csrf_token": "tok"}).status_code for _ in range(4)]
    assert logins[:2] == [401, 401] and logins[2:] == [429, 429]


def test_405_names_allowed_methods(client) -> None:
    resp = client.post("/api/nearest?lon=1&lat=2")
    assert resp.status_code == 405 and "GET" in resp.headers["Allow"]


def test_new_coverage_analyses_by_anonymous_clients_are_limited(home: Path, tmp_path: Path) -> None:
    hotspots = tmp_path / "h.csv"
    hotspots.write_text("lon,lat,weight\n113.3245,23.1375,5\n113.3650,23.1000,3\n113.4000,23.2000,2\n",
                        encoding="utf-8")
    app = create_app({"HOME": str(home), "TESTING": True, "RATE_LIMIT_ANALYSIS": "2 per minute",
                      "HOTSPOTS_FILE": str(hotspots)})
    reg = app.extensions["yizhan"].registry
    import_stations_file(reg, write_csv(tmp_path / "s.csv", STATION_ROWS))
    c = app.test_client()
    summary = lambda t: c.get(f"/api/coverage/summary?threshold_m={t}").status_code  # noqa: E731
    assert [summary(500), summary(500), summary(500), summary(600)] == [200, 200, 200, 200]   # cached: not counted
    assert c.get("/api/coverage/cells?threshold_m=500").status_code == 200                 # same result, cached
    resp = c.get("/api/coverage/summary?threshold_m=700")
    assert resp.status_code == 429 and resp.get_json()["error"]["status"] == 429 and "Retry-After" in resp.headers
    assert c.get("/api/coverage/hourly?threshold_m=500").status_code == 429
    assert c.get("/api/nearest?lon=113.3&lat=23.1").status_code == 200                    # its own limit
    reg.create_user("plan1", "secret-pass-1", "planner")
    with c.session_transaction() as s:
        s["csrf"] = "tok"
    assert c.post("/login", data={"username": "plan1", "password": "secret-pass-1", "csrf_token": "tok"}).status_code == 302
    assert summary(700) == 200 and summary(800) == 200                                      # logged-in users: no limit
