"""Coverage engine: metrics against brute force, blind zones on hand-built layouts, hours, groups,
input formats and coordinate systems, and the summary against a recomputation from the cells."""

from __future__ import annotations

import json
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pytest
from conftest import shared_data

from yizhan.coverage import aggregate, analyze, coverage_by_hour, read_hotspots
from yizhan.coverage import distances, gaps, hexgrid
from yizhan.stations import ImportValidationError, model
from yizhan.geodata.crs import from_wgs84
from yizhan.geodata.sphere import haversine_m


def _stations(rows: list[tuple]) -> pd.DataFrame:
    """rows: (id, type, lon, lat, hours) -> a registry frame."""
    frame = model.empty_frame().reindex(range(len(rows)))
    frame["id"] = [r[0] for r in rows]
    frame["name"] = [f"站{r[0]}" for r in rows]
    frame["type"] = [r[1] for r in rows]
    frame["groups"] = [model.SEP.join(model.DEFAULT_GROUPS_BY_TYPE[r[1]]) for r in rows]
    frame["lon"] = [r[2] for r in rows]
    frame["lat"] = [r[3] for r in rows]
    frame["hours"] = [r[4] if len(r) > 4 else "24h" for r in rows]
    frame["status"] = "在运营"
    for c in ("address", "adcode", "host", "services", "phone", "source", "updated_at", "orig_crs"):
        frame[c] = ""
    return frame


def _points(lon, lat, **extra) -> pd.DataFrame:
    n = len(lon)
    frame = pd.DataFrame({"lon": np.asarray(lon, float), "lat": np.asarray(lat, float),
                          "weight": extra.get("weight", np.ones(n)), "hour": extra.get("hour", np.full(n, -1, np.int8)),
                          "group": extra.get("group", [""] * n)})
    frame["hour"] = frame["hour"].astype(np.int8)
    return frame


# -- metrics ------------------------------------------------------------------------------------
def test_great_circle_matches_pairwise_haversine() -> None:
    rng = np.random.default_rng(1)
    slon, slat = rng.uniform(113.1, 113.6, 60), rng.uniform(22.9, 23.4, 60)
    clon, clat = rng.uniform(113.0, 113.7, 5000), rng.uniform(22.8, 23.5, 5000)
    d = distances.great_circle(clon, clat, slon, slat)
    full = haversine_m(clon[:, None], clat[:, None], slon[None, :], slat[None, :])
    np.testing.assert_allclose(d.distance_m, full.min(axis=1), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(full[np.arange(len(clon)), d.station], full.min(axis=1), rtol=1e-9)


def test_grid_matches_h3_grid_distance() -> None:
    rng = np.random.default_rng(2)
    slon, slat = rng.uniform(113.25, 113.40, 12), rng.uniform(23.05, 23.20, 12)
    plon, plat = rng.uniform(113.2, 113.45, 1500), rng.uniform(23.0, 23.25, 1500)
    cells = np.unique(hexgrid.points_to_cells(plon, plat, 9))
    d = distances.grid(cells, slon, slat, 9)
    scells = [h3.latlng_to_cell(la, lo, 9) for lo, la in zip(slon, slat)]
    for i, c in enumerate(cells):
        cs = h3.int_to_str(int(c))
        steps = [h3.grid_distance(cs, s) for s in scells]
        assert d.grid_steps[i] == min(steps)
        assert steps[d.station[i]] == min(steps)
    assert np.allclose(d.distance_m, d.grid_steps * hexgrid.spacing_m(9))


def test_grid_reports_unreached_cells_as_uncovered() -> None:
    cells = hexgrid.points_to_cells(np.array([113.3, 116.4]), np.array([23.1, 39.9]), 9)
    d = distances.grid(cells, np.array([113.3]), np.array([23.1]), 9, max_steps=50)
    assert d.grid_steps[0] == 0 and np.isinf(d.distance_m[1]) and d.station[1] == -1


def test_points_to_cells_and_aggregation_match_h3_loop() -> None:
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(113.2, 113.4, 3000), rng.uniform(23.0, 23.2, 3000)
    cells = hexgrid.points_to_cells(lon, lat, 9)
    assert list(hexgrid.cells_to_str(cells)) == [h3.latlng_to_cell(b, a, 9) for a, b in zip(lon, lat)]
    weight = rng.integers(1, 5, 3000).astype(float)
    grid = aggregate(_points(lon, lat, weight=weight), 9)
    expected = pd.Series(weight).groupby([h3.latlng_to_cell(b, a, 9) for a, b in zip(lon, lat)]).sum()
    got = grid.cells().set_index(pd.Index(hexgrid.cells_to_str(grid.cells()["cell"])))["demand"]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    clon, clat = hexgrid.cells_to_lonlat(cells[:10])
    for c, a, b in zip(cells[:10], clon, clat):
        la, lo = h3.cell_to_latlng(h3.int_to_str(int(c)))
        assert abs(la - b) < 1e-12 and abs(lo - a) < 1e-12


def test_parents_match_h3() -> None:
    cells = hexgrid.points_to_cells(np.linspace(113.2, 113.5, 50), np.linspace(23.0, 23.3, 50), 11)
    for res in (7, 9):
        got = hexgrid.cells_to_str(hexgrid.parents(cells, res))
        assert list(got) == [h3.cell_to_parent(h3.int_to_str(int(c)), res) for c in cells]


# -- blind zones on hand-built layouts ---------------------------------------------------------------
def _cells_frame(cell_ids: list[str], covered: set[str] = frozenset()) -> pd.DataFrame:
    lat_lon = [h3.cell_to_latlng(c) for c in cell_ids]
    return pd.DataFrame({"h3": cell_ids, "demand": 1.0, "distance_m": [0.0 if c in covered else 5000.0 for c in cell_ids],
                         "covered": [c in covered for c in cell_ids], "nearest_id": "S",
                         "lon": [p[1] for p in lat_lon], "lat": [p[0] for p in lat_lon], "adcode": "440106"})


def test_two_separate_clusters_are_two_zones() -> None:
    a = h3.latlng_to_cell(23.13, 113.32, 9)
    b = h3.latlng_to_cell(23.20, 113.45, 9)
    cells = list(h3.grid_disk(a, 1)) + list(h3.grid_disk(b, 2))
    zones, _ = gaps.blind_zones(_cells_frame(cells))
    assert len(zones) == 2
    assert sorted(zones["n_cells"]) == [7, 19]
    assert zones.iloc[0]["demand"] == 19  # largest demand first
    assert zones.geometry.is_valid.all() and (zones.geometry.geom_type == "Polygon").all()
    exact = sum(h3.cell_area(c, "km^2") for c in h3.grid_disk(b, 2))
    assert abs(zones.iloc[0]["area_km2"] - exact) < 1e-3 * exact


def test_ring_around_covered_centre_is_one_zone_with_a_hole() -> None:
    centre = h3.latlng_to_cell(23.13, 113.32, 9)
    ring = list(h3.grid_ring(centre, 1))
    zones, cell_zone = gaps.blind_zones(_cells_frame([centre] + ring, covered={centre}))
    assert len(zones) == 1 and zones.iloc[0]["n_cells"] == 6
    assert list(cell_zone) == [0] + [1] * 6
    poly = zones.geometry.iloc[0]
    assert len(poly.interiors) == 1  # the covered centre is a hole in the outline


def test_cells_touching_only_at_a_corner_do_not_exist_in_h3_but_gaps_split() -> None:
    # Two cells two steps apart (a covered cell between them) are two zones.
    a = h3.latlng_to_cell(23.13, 113.32, 9)
    mid = list(h3.grid_ring(a, 1))[0]
    far = [c for c in h3.grid_ring(mid, 1) if h3.grid_distance(a, c) == 2][0]
    zones, _ = gaps.blind_zones(_cells_frame([a, mid, far], covered={mid}))
    assert len(zones) == 2


def test_blank_spots_ranking_and_floor() -> None:
    frame = _cells_frame([h3.latlng_to_cell(23.1 + i * 0.01, 113.3, 9) for i in range(4)])
    frame["demand"] = [5.0, 9.0, 5.0, 1.0]
    frame["distance_m"] = [1500.0, 1200.0, 3000.0, 9000.0]
    spots = gaps.blank_spots(frame, threshold_m=1000, floor=1.0)
    assert list(spots["demand"]) == [9.0, 5.0, 5.0]
    assert list(spots["excess_m"]) == [200.0, 2000.0, 500.0]
    assert list(spots["rank"]) == [1, 2, 3]


# -- whole analyses --------------------------------------------------------------------------------
def test_hours_station_closed_at_night_does_not_cover() -> None:
    stations = _stations([("DAY", "工会爱心驿站", 113.3245, 23.1375, "08:00-20:00"),
                          ("NIGHT", "工会爱心驿站", 113.40, 23.20, "24h")])
    pts = _points([113.3250, 113.3250], [23.1380, 23.1380], hour=np.array([12, 23]))
    grid = aggregate(pts, 9)
    noon = analyze(stations, grid, hour=12)
    night = analyze(stations, grid, hour=23)
    assert noon.cells["covered"].all() and noon.cells["nearest_id"].iloc[0] == "DAY"
    assert not night.cells["covered"].any() and night.cells["nearest_id"].iloc[0] == "NIGHT"
    assert len(night.blind_zones) == 1
    table = coverage_by_hour(stations, grid)
    assert table.loc[table["hour"] == 12, "covered_share"].item() == 1.0
    assert table.loc[table["hour"] == 23, "covered_share"].item() == 0.0
    assert table.loc[table["hour"] == 5, "demand"].item() == 0


def test_worker_group_filtering_and_thresholds() -> None:
    stations = _stations([("DRV", "司机之家", 113.3245, 23.1375), ("LOVE", "工会爱心驿站", 113.3245, 23.1600)])
    pts = _points([113.3246, 113.3246], [23.1376, 23.1376], group=["外卖配送员", "货车司机"])
    grid = aggregate(pts, 9)
    riders = analyze(stations, grid, group="外卖配送员")
    assert riders.cells["nearest_id"].iloc[0] == "LOVE"      # a drivers' home does not serve riders
    assert not riders.cells["covered"].iloc[0]               # 2.5 km > 1 km rider threshold
    trucks = analyze(stations, grid, group="货车司机")
    assert trucks.cells["nearest_id"].iloc[0] == "DRV" and trucks.params["threshold_m"] == 30000
    everyone = analyze(stations, grid, threshold_m=3000)
    assert everyone.cells["covered"].all() and everyone.cells["demand"].iloc[0] == 2


def test_summary_matches_recomputation(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    stations = _stations([(f"S{i}", "工会爱心驿站", lo, la) for i, (lo, la) in
                          enumerate(zip(rng.uniform(113.25, 113.40, 20), rng.uniform(23.05, 23.20, 20)))])
    from yizhan.geodata.boundaries import district_of

    stations["adcode"] = district_of(stations["lon"], stations["lat"])
    pts = _points(rng.uniform(113.15, 113.55, 4000), rng.uniform(22.95, 23.30, 4000), weight=rng.integers(1, 4, 4000))
    result = analyze(stations, aggregate(pts, 9))
    s = result.summary[result.summary["level"] == "district"].set_index("adcode")
    cells = result.cells
    for adcode, sub in cells[cells["adcode"] != ""].groupby("adcode"):
        row = s.loc[adcode]
        assert row["demand"] == sub["demand"].sum()
        assert row["covered_share"] == pytest.approx(sub.loc[sub["covered"], "demand"].sum() / sub["demand"].sum())
        assert row["mean_distance_m"] == pytest.approx((sub["distance_m"] * sub["demand"]).sum() / sub["demand"].sum())
        assert row["n_blank_spots"] == (~sub["covered"]).sum()
        assert row["n_stations"] == (stations["adcode"] == adcode).sum()
    total = result.summary[result.summary["level"] == "total"].iloc[0]
    assert total["demand"] == cells["demand"].sum() and total["n_blind_zones"] == len(result.blind_zones)
    assert result.covered_share == pytest.approx(total["covered_share"])
    # every uncovered cell belongs to exactly one zone
    assert result.blind_zones["n_cells"].sum() == (~cells["covered"]).sum()


# -- input formats and coordinate systems --------------------------------------------------------------
def _sample_points(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(9)
    return pd.DataFrame({"lon": rng.uniform(113.25, 113.4, n).round(6), "lat": rng.uniform(23.05, 23.2, n).round(6),
                         "weight": rng.integers(1, 4, n), "time": [f"2026-11-02T{h:02d}:15:00" for h in rng.integers(0, 24, n)],
                         "group": rng.choice(["外卖配送员", "快递员", "骑手"], n)})


def _grid_of(path: Path, **kw) -> pd.DataFrame:
    return aggregate(read_hotspots(path, **kw), 9).table


def test_every_input_format_gives_the_same_grid(tmp_path: Path) -> None:
    import geopandas as gpd

    pts = _sample_points()
    pts.to_csv(tmp_path / "p.csv", index=False)
    reference = _grid_of(tmp_path / "p.csv")
    assert set(reference["group"]) == {"外卖配送员", "快递员"}  # 骑手 -> 外卖配送员
    zh = pts.rename(columns={"lon": "经度", "lat": "纬度", "weight": "权重", "time": "时间"})
    zh.to_csv(tmp_path / "gbk.csv", index=False, encoding="gbk")
    pts.to_parquet(tmp_path / "p.parquet")
    gdf = gpd.GeoDataFrame(pts.drop(columns=["lon", "lat"]), geometry=gpd.points_from_xy(pts.lon, pts.lat), crs=4326)
    gdf.to_parquet(tmp_path / "p.geoparquet.parquet")
    gdf.to_file(tmp_path / "p.geojson", driver="GeoJSON")
    for name in ("gbk.csv", "p.parquet", "p.geoparquet.parquet", "p.geojson"):
        pd.testing.assert_frame_equal(_grid_of(tmp_path / name), reference, check_dtype=False, obj=name)
    # aggregated input: h3 + weight (res 11 cells rolled up to res 9)
    cells11 = hexgrid.cells_to_str(hexgrid.points_to_cells(pts.lon, pts.lat, 11))
    pd.DataFrame({"h3": cells11, "weight": pts.weight}).to_csv(tmp_path / "agg.csv", index=False)
    agg = aggregate(read_hotspots(tmp_path / "agg.csv"), 9).cells()
    # H3 children are not exactly inside their parent, so compare with h3-py's cell_to_parent
    expected = pts.weight.groupby([h3.cell_to_parent(c, 9) for c in cells11]).sum().sort_index()
    assert list(hexgrid.cells_to_str(agg["cell"])) == list(expected.index)
    assert list(agg["demand"]) == list(expected.astype(float))


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_hotspot_crs_converted(tmp_path: Path, system: str) -> None:
    pts = _sample_points()
    x, y = from_wgs84(pts.lon.to_numpy(), pts.lat.to_numpy(), system)
    pts.assign(lon=x, lat=y).to_csv(tmp_path / "s.csv", index=False, float_format="%.9f")
    got = read_hotspots(tmp_path / "s.csv", crs=system)
    assert haversine_m(got.lon, got.lat, pts.lon, pts.lat).max() < 0.5


def test_hours_parsed_from_each_time_format(tmp_path: Path) -> None:
    frame = pd.DataFrame({"lon": [113.3] * 5, "lat": [23.1] * 5,
                          "time": ["2026-11-02T07:05:00", "23:59", "05-01 08:30:00", "2026-11-02T00:30:00Z", ""]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    assert list(read_hotspots(tmp_path / "t.csv")["hour"]) == [7, 23, 8, 8, -1]  # 00:30Z = 08:30 in Beijing


@pytest.mark.parametrize("row,code", [
    ("113.3,abc,1,", "bad_coord"), ("23.1,113.3,1,", "swapped"), ("2.35,48.85,1,", "outside_china"),
    ("113.3,23.1,-2,", "bad_weight"), ("113.3,23.1,1,25:99", "bad_time"), ("113.3,nan,1,", "bad_coord"),
])
def test_bad_hotspot_rows_are_reported(tmp_path: Path, row: str, code: str) -> None:
    (tmp_path / "h.csv").write_text("lon,lat,weight,time\n113.3,23.1,1,12:00\n" + row + "\n", encoding="utf-8")
    with pytest.raises(ImportValidationError) as info:
        read_hotspots(tmp_path / "h.csv")
    assert any(p.code == code and p.row == 3 for p in info.value.problems), [p.format() for p in info.value.problems]
    kept = read_hotspots(tmp_path / "h.csv", skip_bad_rows=True)
    assert len(kept) == 1


# -- real data ------------------------------------------------------------------------------------------
def test_lade_courier_pickups_with_times() -> None:
    path = shared_data("hotspots/lade_courier_pickups_5cities.csv")
    raw = pd.read_csv(path, dtype=str)
    pts = read_hotspots(path, crs="gcj02")
    assert len(pts) == len(raw)
    expected_hours = raw["accept_time"].str.slice(6, 8).astype(int).to_numpy()
    np.testing.assert_array_equal(pts["hour"].to_numpy(), expected_hours)
    grid = aggregate(pts, 9)
    stations = _stations([("SH", "快递员之家", 121.47, 31.23), ("CQ", "快递员之家", 106.55, 29.56),
                          ("HZ", "快递员之家", 120.16, 30.27)])
    result = analyze(stations, grid, group="快递员")
    per_city = result.cells.assign(city=np.select([result.cells.lon < 110, result.cells.lat > 40], ["cq", "jl"], "other"))
    assert result.cells["demand"].sum() == len(raw)
    assert (per_city.loc[per_city.city == "jl", "distance_m"] > 500_000).all()   # Jilin is far from all three
    morning = analyze(stations, grid, group="快递员", hour=9)
    assert morning.cells["demand"].sum() == (expected_hours == 9).sum()


def test_shanghai_network_coverage_against_networkx(tmp_path: Path) -> None:
    """Road-network coverage of central Shanghai restaurants, a sample of cells checked with networkx."""
    import networkx as nx

    from yizhan.geodata.roads import graph_from_file, load_network

    osm = shared_data("osm/shanghai_center.osm")
    food = pd.read_csv(shared_data("hotspots/shanghai_food_poi.csv"))
    box = food[(food.lon > 121.41) & (food.lon < 121.55) & (food.lat > 31.18) & (food.lat < 31.278)]
    pts = _points(box["lon"].to_numpy(), box["lat"].to_numpy())
    grid = aggregate(pts, 9)
    rng = np.random.default_rng(12)
    pick = rng.choice(len(box), 15, replace=False)
    stations = _stations([(f"R{i}", "网约送餐员之家", float(box.lon.iloc[j]), float(box.lat.iloc[j])) for i, j in enumerate(pick)])
    network = load_network(osm, mode="ebike", cache_dir=tmp_path / "cache")
    result = analyze(stations, grid, metric="network", group="外卖配送员", network=network)
    cells = result.cells
    assert len(cells) > 1000 and np.isfinite(cells["distance_m"]).all()
    assert (cells["distance_m"] + 1e-6 >= result.cells.pipe(lambda c: distances.great_circle(
        c.lon.to_numpy(), c.lat.to_numpy(), stations.lon.to_numpy(), stations.lat.to_numpy()).distance_m)).all()
    # independent check: osmnx graph, brute-force snapping, networkx Dijkstra per station
    G = graph_from_file(osm, mode="ebike")
    G = G.subgraph(max(nx.weakly_connected_components(G), key=len)).copy()
    nodes = np.array(list(G.nodes))
    nlon = np.array([G.nodes[n]["x"] for n in nodes])
    nlat = np.array([G.nodes[n]["y"] for n in nodes])
    U = nx.Graph()
    for a, b, data in G.edges(data=True):
        w = data["length"]
        if not U.has_edge(a, b) or U[a][b]["length"] > w:
            U.add_edge(a, b, length=w)

    def snap_bf(lon: float, lat: float) -> tuple[int, float]:
        d = haversine_m(lon, lat, nlon, nlat)
        i = int(np.argmin(d))
        return nodes[i], float(d[i])

    station_snaps = [snap_bf(lo, la) for lo, la in zip(stations.lon, stations.lat)]
    from_station = [nx.single_source_dijkstra_path_length(U, n, weight="length") for n, _ in station_snaps]
    sample = cells.sample(60, random_state=3)
    for row in sample.itertuples():
        node, leg = snap_bf(row.lon, row.lat)
        best = min(leg + dist.get(node, np.inf) + s_leg for dist, (_, s_leg) in zip(from_station, station_snaps))
        assert row.distance_m == pytest.approx(best, rel=1e-6), row.h3
    assert 0 < result.covered_share < 1 and "time_s" in cells


def test_impact_equals_a_rerun_with_the_site_added() -> None:
    rng = np.random.default_rng(21)
    stations = _stations([(f"S{i}", "工会爱心驿站", lo, la) for i, (lo, la) in
                          enumerate(zip(rng.uniform(113.25, 113.40, 8), rng.uniform(23.05, 23.20, 8)))])
    pts = _points(rng.uniform(113.2, 113.45, 3000), rng.uniform(23.0, 23.25, 3000), weight=rng.integers(1, 4, 3000))
    grid = aggregate(pts, 9)
    from yizhan.coverage.impact import site_impact

    for metric in ("great-circle", "grid"):
        before = analyze(stations, grid, metric=metric)
        sites = before.blank_spots.head(3)
        imp = site_impact(before, sites["lon"], sites["lat"])
        added = pd.concat([stations, _stations([(f"N{i}", "工会爱心驿站", lo, la) for i, (lo, la) in
                                                enumerate(zip(sites["lon"], sites["lat"]))])], ignore_index=True)
        after = analyze(added, grid, metric=metric)
        np.testing.assert_allclose(imp.cells["new_distance_m"], after.cells["distance_m"])
        assert imp.covered_after == pytest.approx(after.cells.loc[after.cells.covered, "demand"].sum())
        assert imp.new_demand > 0 and set(sites["h3"]) <= set(imp.blank_spots_removed["h3"])
        assert len(imp.blank_spots_removed) == len(before.blank_spots) - len(after.blank_spots)
        d_after = after.summary[after.summary.level == "district"].set_index("adcode")["covered_demand"]
        for r in imp.districts.itertuples():
            assert r.covered_after == pytest.approx(d_after[r.adcode])


def test_points_geojson_writer_escapes_and_handles_missing(tmp_path: Path) -> None:
    from yizhan.coverage.outputs import write_points_geojson

    frame = pd.DataFrame({"lon": [113.1, 113.2], "lat": [23.1, 23.2], "name": ['a"b\\c</script>', None],
                          "d": [1.5, np.inf], "ok": [True, False], "n": [3, 4]})
    write_points_geojson(frame, tmp_path / "p.geojson", columns=["name", "d", "ok", "n"])
    doc = json.loads((tmp_path / "p.geojson").read_text(encoding="utf-8"))
    props = [f["properties"] for f in doc["features"]]
    assert props == [{"name": 'a"b\\c</script>', "d": 1.5, "ok": True, "n": 3}, {"name": None, "d": None, "ok": False, "n": 4}]
    assert doc["features"][1]["geometry"] == {"type": "Point", "coordinates": [113.2, 23.2]}


def test_chunked_writers_equal_geopandas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GeoJSON and GeoParquet written in chunks read back as geopandas' own single-piece files do."""
    import geopandas as gpd
    import shapely

    from yizhan.coverage import outputs

    monkeypatch.setattr(outputs, "GEOJSON_CHUNK", 70)      # several chunks, the last one short
    rng = np.random.default_rng(3)
    n = 333
    frame = pd.DataFrame({"h3": [f"c{i}" for i in range(n)], "demand": rng.random(n) * 10,
                          "lon": 113 + rng.random(n), "lat": 23 + rng.random(n),
                          "excess_m": np.where(rng.random(n) < 0.1, np.nan, rng.random(n))})
    outputs.write_points_geoparquet(frame, tmp_path / "p.parquet")
    ours = gpd.read_parquet(tmp_path / "p.parquet")
    ref = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=4326)
    pd.testing.assert_frame_equal(pd.DataFrame(ours.drop(columns="geometry")), pd.DataFrame(ref.drop(columns="geometry")))
    assert ours.crs == ref.crs and ours.geometry.geom_equals(ref.geometry).all()

    cells = [h3.latlng_to_cell(23.1 + 0.004 * i, 113.3, 9) for i in range(n)]
    zones = gpd.GeoDataFrame({"zone": np.arange(1, n + 1), "districts": "440106", "max_distance_m": rng.random(n)},
                             geometry=[shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in cells],
                             crs=4326)
    outputs.write_features_geojson(zones, tmp_path / "z.geojson", columns=["zone", "districts", "max_distance_m"],
                                   geometry=zones.geometry.to_numpy())
    back = gpd.read_file(tmp_path / "z.geojson")
    assert list(back["zone"]) == list(zones["zone"]) and np.allclose(back["max_distance_m"], zones["max_distance_m"])
    assert back.geometry.geom_equals_exact(zones.geometry, 1e-12).all()


def test_zone_outlines_and_districts_against_unions() -> None:
    """One-cell zones (h3ronpy) and larger zones (h3 shapes) outline the union of their hexagons;
    the joined district codes equal a per-zone sorted join."""
    import shapely

    rng = np.random.default_rng(5)
    centre = h3.latlng_to_cell(23.13, 113.32, 9)
    disk = list(h3.grid_disk(centre, 12))
    picked = [c for c in disk if rng.random() < 0.35]          # many single cells and a few larger zones
    frame = _cells_frame(picked)
    frame["adcode"] = rng.choice(["440103", "440104", "440106"], len(frame))
    zones, cell_zone = gaps.blind_zones(frame)
    assert (zones["n_cells"] == 1).any() and (zones["n_cells"] > 3).any()
    for z in zones.itertuples():
        members = [c for c, k in zip(picked, cell_zone) if k == z.zone]
        union = shapely.union_all([shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in members])
        assert z.geometry.is_valid and z.geometry.symmetric_difference(union).area < 1e-6 * union.area
        codes = sorted(set(frame.loc[cell_zone == z.zone, "adcode"]))
        assert z.districts == "、".join(codes)


def test_blank_spot_ties_ordered_by_cell_id() -> None:
    cells = sorted(h3.grid_disk(h3.latlng_to_cell(23.13, 113.32, 9), 2))
    frame = _cells_frame(list(reversed(cells)))
    spots = gaps.blank_spots(frame, threshold_m=1000)
    assert list(spots["h3"]) == cells      # equal demand and distance: by id, as strings sort
