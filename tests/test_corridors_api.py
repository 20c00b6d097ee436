"""``GET /api/corridors``: the corridor list (the same as ``yizhan corridors --json``, checked against
the independent computation of :mod:`test_corridors_cli`), the gap lines, the area filter, the
cache, and the errors (400 for bad parameters, 404 without a highway file, never a 500)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import shapely
import shapely.geometry
from click.testing import CliRunner
from conftest import STATION_HEADER, write_csv
from test_corridors_cli import assert_matches, expected, load_world, write_osm

from yizhan.app import create_app
from yizhan.cli import main
from yizhan.stations import import_stations_file


def make_app(home: Path, **config):
    return create_app({"HOME": str(home), "TESTING": True, "RATE_LIMIT_ENABLED": False, **config})


@pytest.fixture
def world(home: Path, tmp_path: Path):
    """An app on the test stations with HIGHWAYS_FILE set, and the OSM file."""
    app = make_app(home, HIGHWAYS_FILE=str(tmp_path / "highways.osm"))
    osm = load_world(app.extensions["yizhan"].registry, tmp_path)
    return app, osm


def get(app, query: str = ""):
    return app.test_client().get("/api/corridors" + (f"?{query}" if query else ""))


def assert_error(resp, status: int, field: str | None = None) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    err = resp.get_json()["error"]
    assert err["status"] == status and err["zh"] and err["en"]
    assert err.get("field") == field
    return err


# -- the answer -------------------------------------------------------------------------------------------

def test_corridors_and_gap_lines(world) -> None:
    app, _ = world
    resp = get(app)
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    data = resp.get_json()
    assert set(data) == {"corridors", "gaps", "params"}
    assert_matches(data["corridors"], expected({"A", "B"}))
    assert data["params"]["group"] == "货车司机" and data["params"]["n_stations"] == 2
    fc = data["gaps"]
    assert fc["type"] == "FeatureCollection" and fc["crs_name"] == "wgs84"
    gaps = [(c["ref"], c["name"], g) for c in data["corridors"] for g in c["gaps"]]
    assert len(fc["features"]) == len(gaps)
    lengths = [f["properties"]["length_km"] for f in fc["features"]]
    assert lengths == sorted(lengths, reverse=True)                      # longest first
    by_key = {(ref, g["direction"], g["piece"], g["from_km"]): (name, g) for ref, name, g in gaps}
    for f in fc["features"]:
        p = f["properties"]
        assert {"ref", "name", "length_km", "from_km", "to_km", "direction", "piece"} <= set(p)
        name, g = by_key[(p["ref"], p["direction"], p["piece"], p["from_km"])]
        assert p["name"] == name and p["to_km"] == g["to_km"] and p["length_km"] == g["length_km"]
        assert (p["from_station"], p["to_station"], p["over_max"]) == (g["from_station"], g["to_station"],
                                                                       g["over_max"])
        coords = np.array(f["geometry"]["coordinates"])
        assert f["geometry"]["type"] == "LineString"
        assert coords[0] == pytest.approx([g["from_lon"], g["from_lat"]], abs=2e-6)
        assert coords[-1] == pytest.approx([g["to_lon"], g["to_lat"]], abs=2e-6)


def test_the_same_as_the_cli(world, home: Path) -> None:
    app, osm = world
    runner = CliRunner()
    for query, args in [("", []), ("ref=G4", ["--ref", "G4"]), ("group=快递员&reach_km=5&max_gap_km=20",
                                                                  ["--group", "快递员", "--reach-km", "5",
                                                                   "--max-gap-km", "20"]),
                        ("station_radius_m=50", ["--station-radius-m", "50"])]:
        cli = runner.invoke(main, ["--home", str(home), "corridors", "--osm", str(osm), "--json", *args])
        assert cli.exit_code == 0, cli.output
        assert get(app, query).get_json()["corridors"] == json.loads(cli.stdout), query


@pytest.mark.parametrize("query", ["ref=G4&ref=G107", "ref=G4,G107", "ref=g107;%EF%BC%A7%EF%BC%94", "ref=&ref=G4,G107"])
def test_refs_repeated_or_listed(world, query: str) -> None:
    app, _ = world
    assert get(app, query).get_json()["corridors"] == get(app).get_json()["corridors"]


def test_one_ref_and_group(world) -> None:
    app, _ = world
    assert_matches(get(app, "ref=G4").get_json()["corridors"], expected({"A", "B"}, refs=("G4",)))
    data = get(app, "group=快递员").get_json()
    assert_matches(data["corridors"], expected({"B", "D"}))
    assert data["params"]["group"] == "快递员"


def test_out_crs_shifts_every_vertex(world) -> None:
    from yizhan.geodata.crs import from_wgs84

    app, _ = world
    wgs = get(app).get_json()["gaps"]
    gcj = get(app, "out_crs=gcj02").get_json()["gaps"]
    assert gcj["crs_name"] == "gcj02"
    for a, b in zip(wgs["features"], gcj["features"]):
        xy = np.array(a["geometry"]["coordinates"])
        x, y = from_wgs84(xy[:, 0], xy[:, 1], "gcj02")
        assert np.array(b["geometry"]["coordinates"]) == pytest.approx(np.column_stack([x, y]), abs=1e-6)
        assert a["properties"] == b["properties"]          # from_lon ... stay WGS-84 (in the corridor list)


def test_adcode_keeps_what_touches_the_area(world) -> None:
    from yizhan.geodata.boundaries import load_boundaries

    app, _ = world
    full = get(app).get_json()
    frame = load_boundaries()
    for adcode in ("440106", "440112", "440118", "440303"):          # Tianhe, Huangpu, Zengcheng, Luohu
        area = frame[frame["adcode"] == adcode].geometry.iloc[0]
        touching = [f for f in full["gaps"]["features"] if shapely.geometry.shape(f["geometry"]).intersects(area)]
        data = get(app, f"adcode={adcode}").get_json()
        refs = {f["properties"]["ref"] for f in touching}
        assert {c["ref"] for c in data["corridors"]} >= refs
        assert [f["properties"] for f in data["gaps"]["features"]] == [f["properties"] for f in touching]
        for c in data["corridors"]:
            whole = next(w for w in full["corridors"] if w["ref"] == c["ref"])
            assert {k: v for k, v in c.items() if k != "gaps"} == {k: v for k, v in whole.items() if k != "gaps"}
            assert c["gaps"] == [g for g in whole["gaps"] if any(
                f["properties"]["ref"] == c["ref"] and f["properties"]["from_km"] == g["from_km"]
                and f["properties"]["direction"] == g["direction"] for f in touching)]
    assert get(app, "adcode=440106").get_json()["corridors"][0]["ref"] == "G107"
    assert get(app, "adcode=440303").get_json() | {"params": None} == {
        "corridors": [], "gaps": {"type": "FeatureCollection", "crs_name": "wgs84", "features": []}, "params": None}


def test_results_are_cached_until_the_registry_changes(world, tmp_path: Path) -> None:
    app, _ = world
    svc = app.extensions["yizhan"]
    with app.app_context():
        first = svc.corridors()
        assert svc.corridors() is first
        assert svc.corridors(refs=("G4",)) is not first
    import_stations_file(svc.registry, write_csv(tmp_path / "more.csv", [
        "E,广园东司机之家,司机之家,广州市,饮水,24h,4,,在运营,113.6500,23.1500"], header=STATION_HEADER), user="test")
    svc.invalidate()
    with app.app_context():
        assert svc.corridors() is not first
    assert_matches(get(app).get_json()["corridors"], _with_station_e())


def _with_station_e() -> list[dict]:
    """``expected`` with an extra truck drivers' home E on G107 at 113.65 E."""
    import test_corridors_cli as t

    saved = list(t.STATIONS)
    t.STATIONS.append(("E", "广园东司机之家", "司机之家", "在运营", 113.65, 23.15))
    try:
        return expected({"A", "B", "E"})
    finally:
        t.STATIONS[:] = saved


def test_the_sample_highways_file_is_the_default(home: Path, tmp_path: Path) -> None:
    app = make_app(home)
    osm = load_world(app.extensions["yizhan"].registry, tmp_path)
    assert_error(get(app), 404)                                   # nothing configured, no sample file
    (home / "sample").mkdir()
    shutil.copy(osm, home / "sample" / "highways.osm")
    assert_matches(get(app).get_json()["corridors"], expected({"A", "B"}))


# -- errors --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "field"), [
    ("station_radius_m=0", "station_radius_m"), ("station_radius_m=-1", "station_radius_m"),
    ("station_radius_m=abc", "station_radius_m"), ("station_radius_m=nan", "station_radius_m"),
    ("station_radius_m=1e9", "station_radius_m"), ("reach_km=-1", "reach_km"), ("reach_km=inf", "reach_km"),
    ("max_gap_km=0", "max_gap_km"), ("max_gap_km=x", "max_gap_km"), ("group=宇航员", "group"),
    ("ref=S999", "ref"), ("ref=G4&ref=NOPE", "ref"), ("ref=;", "ref"), ("ref=" + "G" * 51, "ref"),
    ("&".join(f"ref=G{i}" for i in range(51)), "ref"), ("adcode=4401", "adcode"), ("adcode=abcdef", "adcode"),
    ("out_crs=utm", "out_crs"), ("bbox=1,2,3,4", "bbox"),
])
def test_bad_parameters_are_400(world, query: str, field: str) -> None:
    app, _ = world
    err = assert_error(get(app, query), 400, field)
    if field == "ref" and "S999" in query:
        assert "S999" in err["zh"] and "S999" in err["en"]


def test_unknown_adcode_is_404(world) -> None:
    app, _ = world
    assert_error(get(app, "adcode=999999"), 404, "adcode")


def test_no_highway_file_is_404(home: Path, tmp_path: Path) -> None:
    err = assert_error(get(make_app(home)), 404)
    assert "HIGHWAYS_FILE" in err["zh"] and "HIGHWAYS_FILE" in err["en"]
    assert_error(get(make_app(home, HIGHWAYS_FILE=str(tmp_path / "missing.osm"))), 404)


@pytest.mark.parametrize("content", [b"not xml at all", b"", b"\x00\xff\x00"])
def test_an_unreadable_highway_file_is_404_not_500(home: Path, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.osm"
    path.write_bytes(content)
    app = make_app(home, HIGHWAYS_FILE=str(path))
    err = assert_error(get(app), 404)
    assert "无法读取" in err["zh"] and "cannot be read" in err["en"]
    assert_error(get(app), 404)                                   # remembered, not read again
    write_osm(path)                                               # repaired: read again
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert get(app).status_code == 200


def test_a_relative_highways_file_is_under_the_home(home: Path, tmp_path: Path) -> None:
    write_osm(home / "roads.osm")
    assert get(make_app(home, HIGHWAYS_FILE="roads.osm")).status_code == 200


def test_anonymous_new_analyses_are_rate_limited(world, home: Path, tmp_path: Path) -> None:
    _, osm = world
    app = create_app({"HOME": str(home), "TESTING": True, "HIGHWAYS_FILE": str(osm),
                      "RATE_LIMIT_ANALYSIS": "2 per minute"})
    client = app.test_client()
    assert client.get("/api/corridors?reach_km=1").status_code == 200
    assert client.get("/api/corridors?reach_km=2").status_code == 200
    assert client.get("/api/corridors?reach_km=1").status_code == 200     # cached: free
    assert_error(client.get("/api/corridors?reach_km=3"), 429)
