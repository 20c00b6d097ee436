"""Siting optimiser: coverage matrices, MCLP/LSCP against brute force, OSM and user candidates."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import INPUT, shared_data

from yizhan.coverage import siting
from yizhan.coverage.siting import (
    SitingResult,
    coverage_matrix,
    exact_curve,
    grid_coverage_matrix,
    grid_steps_for,
    lscp,
    marginal_curve,
    mclp,
    network_coverage_matrix,
    credit_sites,
)
from yizhan.stations._errors import ImportValidationError
from yizhan.geodata.sphere import haversine_m

LON0, LAT0 = 113.3245, 23.1375


def _points(rng: np.random.Generator, n: int, spread_deg: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    return LON0 + rng.uniform(-spread_deg, spread_deg, n), LAT0 + rng.uniform(-spread_deg, spread_deg, n)


def _random_instance(seed: int, n: int = 40, m: int = 12) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray]:
    rng = np.random.default_rng(seed)
    A = sp.csr_matrix((rng.random((n, m)) < rng.uniform(0.05, 0.3)).astype(np.int8))
    weights = rng.integers(0, 10, n).astype(float)
    covered = rng.random(n) < 0.25
    return weights, A, covered


def _brute_mclp(weights: np.ndarray, A: sp.csr_matrix, k: int, covered: np.ndarray) -> float:
    dense = A.toarray() > 0
    free = np.where(covered, 0.0, weights)
    return max(float(free[dense[:, list(s)].any(axis=1)].sum()) for s in itertools.combinations(range(A.shape[1]), k))


def _brute_lscp(weights: np.ndarray, A: sp.csr_matrix, target: float, covered: np.ndarray) -> int | None:
    dense = A.toarray() > 0
    total = weights.sum()
    for k in range(0, A.shape[1] + 1):
        for s in itertools.combinations(range(A.shape[1]), k):
            hit = covered | dense[:, list(s)].any(axis=1) if k else covered
            if weights[hit].sum() >= target * total - 1e-9:
                return k
    return None


# -- coverage matrices --------------------------------------------------------------------------

@pytest.mark.parametrize("threshold_m", [300.0, 1000.0, 2500.0])
def test_coverage_matrix_equals_haversine_brute_force(threshold_m: float) -> None:
    rng = np.random.default_rng(7)
    d_lon, d_lat = _points(rng, 300)
    c_lon, c_lat = _points(rng, 80)
    A = coverage_matrix(d_lon, d_lat, c_lon, c_lat, threshold_m)
    assert isinstance(A, sp.csr_matrix) and A.shape == (300, 80) and A.dtype == np.int8
    assert set(np.unique(A.data)) <= {1}
    brute = haversine_m(d_lon[:, None], d_lat[:, None], c_lon[None, :], c_lat[None, :]) <= threshold_m
    assert A.nnz > 0
    np.testing.assert_array_equal(A.toarray() > 0, brute)


def test_coverage_matrix_edge_cases() -> None:
    A = coverage_matrix([LON0], [LAT0], [], [], 1000)
    assert A.shape == (1, 0) and A.nnz == 0
    # a candidate on the demand point covers it even with threshold 0
    assert coverage_matrix([LON0], [LAT0], [LON0], [LAT0], 0).toarray().tolist() == [[1]]
    with pytest.raises(ValueError, match="coordinate"):
        coverage_matrix([np.nan], [LAT0], [LON0], [LAT0], 1000)
    with pytest.raises(ValueError, match="threshold"):
        coverage_matrix([LON0], [LAT0], [LON0], [LAT0], -1)


def test_grid_coverage_matrix_equals_grid_distance() -> None:
    import h3

    from yizhan.coverage import hexgrid

    rng = np.random.default_rng(3)
    d_lon, d_lat = _points(rng, 400, 0.02)
    demand = np.unique(hexgrid.points_to_cells(d_lon, d_lat, 9))
    c_lon, c_lat = _points(rng, 12, 0.02)
    cands = hexgrid.points_to_cells(c_lon, c_lat, 9)
    cands = np.concatenate([cands, cands[:2]])           # two candidates share cells
    A = grid_coverage_matrix(demand, cands, 3)
    d_str, c_str = hexgrid.cells_to_str(demand), hexgrid.cells_to_str(cands)
    brute = np.array([[h3.grid_distance(a, b) <= 3 for b in c_str] for a in d_str])
    np.testing.assert_array_equal(A.toarray() > 0, brute)
    # hex strings work too, and k = 0 means the same cell
    np.testing.assert_array_equal(grid_coverage_matrix(d_str, c_str, 3).toarray(), A.toarray())
    same = grid_coverage_matrix(demand, cands, 0).toarray() > 0
    np.testing.assert_array_equal(same, demand[:, None] == cands[None, :])
    with pytest.raises(ValueError, match="resolution"):
        grid_coverage_matrix(demand, hexgrid.points_to_cells(c_lon, c_lat, 8), 1)


def test_grid_steps_for() -> None:
    from yizhan.coverage.hexgrid import spacing_m

    assert grid_steps_for(spacing_m(9) * 3, 9) == 3
    assert grid_steps_for(spacing_m(9) * 3 - 1, 9) == 2
    assert grid_steps_for(0, 9) == 0


def test_network_coverage_matrix_matches_per_candidate_dijkstra() -> None:
    from yizhan.coverage.network import nearest_on_network
    from yizhan.geodata.roads import network_from_edges

    # a 6 x 6 street grid, ~110 m blocks, with one-way streets along the rows (eastwards only)
    n_side, step = 6, 0.001
    lon = np.repeat(LON0 + step * np.arange(n_side), n_side)
    lat = np.tile(LAT0 + step * np.arange(n_side), n_side)
    node = np.arange(n_side * n_side).reshape(n_side, n_side)       # node[x, y]
    src, dst = [], []
    for x in range(n_side):
        for y in range(n_side):
            if y + 1 < n_side:                                      # north-south: both ways
                src += [node[x, y], node[x, y + 1]]
                dst += [node[x, y + 1], node[x, y]]
            if x + 1 < n_side:                                      # east only
                src.append(node[x, y])
                dst.append(node[x + 1, y])
    src, dst = np.array(src), np.array(dst)
    length = haversine_m(lon[src], lat[src], lon[dst], lat[dst])
    network = network_from_edges(lon, lat, src, dst, length, length / 5.0, mode="car")
    rng = np.random.default_rng(11)
    d_lon, d_lat = LON0 + rng.uniform(0, 0.005, 50), LAT0 + rng.uniform(0, 0.005, 50)
    c_lon, c_lat = LON0 + rng.uniform(0, 0.005, 9), LAT0 + rng.uniform(0, 0.005, 9)
    threshold = 400.0
    A = network_coverage_matrix(network, d_lon, d_lat, c_lon, c_lat, threshold, max_block_bytes=1)
    expected = np.column_stack([
        nearest_on_network(network, [c_lon[j]], [c_lat[j]], d_lon, d_lat).distance_m <= threshold
        for j in range(len(c_lon))])
    assert 0 < expected.sum() < expected.size
    np.testing.assert_array_equal(A.toarray() > 0, expected)


# -- MCLP ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(8))
def test_mclp_exact_equals_brute_force_and_greedy_is_bounded(seed: int) -> None:
    weights, A, covered = _random_instance(seed)
    for use_covered in (False, True):
        cov = covered if use_covered else np.zeros(len(weights), dtype=bool)
        for k in range(1, 5):
            best = _brute_mclp(weights, A, k, cov)
            exact = mclp(weights, A, k, covered=cov if use_covered else None, solver="exact")
            greedy = mclp(weights, A, k, covered=cov if use_covered else None)
            assert exact.status == "optimal" and exact.gap == pytest.approx(0.0, abs=1e-9)
            assert exact.objective == pytest.approx(best)
            assert greedy.objective <= best + 1e-9
            assert greedy.objective >= (1 - 1 / np.e) * best - 1e-9
            for res in (exact, greedy):
                assert res.n_selected <= k and len(set(res.selected.tolist())) == res.n_selected
                assert res.gains.sum() == pytest.approx(res.objective)
                assert np.all(res.gains > 0) and np.all(np.diff(res.gains) <= 1e-9)
                assert res.covered_after == pytest.approx(res.covered_before + res.objective)
                assert res.covered_before == pytest.approx(weights[cov].sum())
                assert res.total_demand == pytest.approx(weights.sum())


def test_greedy_can_be_beaten_and_exact_finds_the_optimum() -> None:
    # rows 0..5 of weight 1; candidate 0 = {1,2,3,4} is the greedy bait, 1 = {0,1,2}, 2 = {3,4,5}
    A = _matrix(6, [[1, 2, 3, 4], [0, 1, 2], [3, 4, 5]])
    w = np.ones(6)
    greedy = mclp(w, A, 2)
    exact = mclp(w, A, 2, solver="exact")
    assert greedy.selected.tolist() == [0, 1] and greedy.objective == 5
    assert sorted(exact.selected.tolist()) == [1, 2] and exact.objective == 6
    assert exact.solver == "exact" and greedy.solver == "greedy" and greedy.gap is None
    assert lscp(w, A, 1.0).objective == 3
    assert lscp(w, A, 1.0, solver="exact").objective == 2


def _matrix(n: int, columns: list[list[int]]) -> sp.csr_matrix:
    rows = [r for col in columns for r in col]
    cols = [j for j, col in enumerate(columns) for _ in col]
    return sp.csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, len(columns)))


def test_existing_stations_exclude_covered_demand() -> None:
    A = _matrix(3, [[0, 1], [2]])
    w = np.array([5.0, 5.0, 6.0])
    assert mclp(w, A, 1).selected.tolist() == [0]
    for solver in ("greedy", "exact"):
        res = mclp(w, A, 1, covered=np.array([True, False, False]), solver=solver)
        assert res.selected.tolist() == [1] and res.objective == 6
        assert res.covered_before == 5 and res.covered_after == 11 and res.total_demand == 16
        assert res.share_after == pytest.approx(11 / 16)
    # everything already covered: nothing to add
    res = mclp(w, A, 2, covered=np.ones(3, dtype=bool), solver="exact")
    assert res.n_selected == 0 and res.objective == 0 and res.status == "optimal"


def test_mclp_small_k_and_validation() -> None:
    A = _matrix(4, [[0], [1], [2, 3], []])
    w = np.array([1.0, 2.0, 3.0, 4.0])
    res = mclp(w, A, 10, solver="exact")                      # more sites than useful candidates
    assert res.selected.tolist() == [2, 1, 0] and res.objective == 10 and res.status == "optimal"
    assert mclp(w, A, 0, solver="exact").n_selected == 0
    with pytest.raises(TypeError):
        mclp(w, A.toarray(), 1)
    with pytest.raises(ValueError, match="weights"):
        mclp(-w, A, 1)
    with pytest.raises(ValueError, match="solver"):
        mclp(w, A, 1, solver="cbc")
    with pytest.raises(ValueError, match="covered"):
        mclp(w, A, 1, covered=np.zeros(3, dtype=bool))


def test_exact_time_limit_falls_back_to_greedy() -> None:
    rng = np.random.default_rng(0)
    A = sp.random(3000, 500, density=0.01, format="csr", random_state=1)
    w = rng.random(3000)
    res = mclp(w, A, 30, solver="exact", time_limit_s=1e-6)
    assert res.status in ("time_limit", "optimal")
    assert res.objective >= mclp(w, A, 30).objective - 1e-9
    if res.status == "time_limit":
        assert "HiGHS" in res.message


def test_to_frame_and_site_impact() -> None:
    weights, A, covered = _random_instance(2, n=60, m=10)
    res = mclp(weights, A, 3, covered=covered, solver="exact")
    cand = pd.DataFrame({"lon": np.arange(10) + 100.0, "lat": np.arange(10) + 20.0,
                         "name": [f"站{j}" for j in range(10)], "host": ["商超"] * 10})
    table = res.to_frame(cand)
    assert table.columns.tolist() == ["rank", "candidate", "lon", "lat", "name", "host", "gain", "covered", "share"]
    assert table["rank"].tolist() == list(range(1, res.n_selected + 1))
    assert table["name"].tolist() == [f"站{j}" for j in res.selected]
    assert table["covered"].iloc[-1] == pytest.approx(res.covered_after)
    assert table["share"].iloc[-1] == pytest.approx(res.share_after)
    assert res.to_frame()["name"].isna().all()

    cells = pd.DataFrame({"demand": weights, "covered": covered}, index=np.arange(100, 160))
    impact = credit_sites(cells, None, A, res.selected)
    assert impact.index.equals(cells.index)
    assert cells.loc[impact["newly_covered"], "demand"].sum() == pytest.approx(res.objective)
    by_site = cells["demand"].groupby(impact["site"]).sum()
    for j, gain in zip(res.selected, res.gains):
        assert by_site[j] == pytest.approx(gain)
    assert (impact["rank"][impact["newly_covered"]] > 0).all() and (impact["site"][~impact["newly_covered"]] == -1).all()
    assert not (impact["covered_before"] & impact["newly_covered"]).any()


def test_result_is_frozen() -> None:
    res = mclp(np.ones(2), _matrix(2, [[0], [1]]), 1)
    assert isinstance(res, SitingResult)
    with pytest.raises(AttributeError):
        res.objective = 3  # type: ignore[misc]


def test_marginal_and_exact_curves() -> None:
    weights, A, covered = _random_instance(5, n=50, m=10)
    curve = marginal_curve(weights, A, 5, covered=covered)
    assert curve.columns.tolist() == ["k", "candidate", "gain", "new_covered", "covered", "share"]
    for k in range(1, len(curve) + 1):                          # nested: the first k picks are the k-site greedy
        res = mclp(weights, A, k, covered=covered)
        assert res.selected.tolist() == curve["candidate"].iloc[:k].tolist()
        assert curve["new_covered"].iloc[k - 1] == pytest.approx(res.objective)
    assert np.all(np.diff(curve["share"]) >= 0)
    exact = exact_curve(weights, A, 4, covered=covered)
    assert exact["k"].tolist() == [1, 2, 3, 4]
    for k in range(1, 5):
        assert exact["new_covered"].iloc[k - 1] == pytest.approx(_brute_mclp(weights, A, k, covered))
    assert (exact["greedy_ratio"] <= 1 + 1e-9).all() and (exact["greedy_ratio"] >= 1 - 1 / np.e).all()


# -- LSCP ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_lscp_exact_is_minimal(seed: int) -> None:
    weights, A, covered = _random_instance(seed + 100, n=30, m=10)
    reachable = covered | (np.asarray(A.sum(axis=1)).ravel() > 0)
    best_share = weights[reachable].sum() / weights.sum()
    for target in (0.3, 0.6, round(best_share - 0.01, 4), best_share, min(best_share + 0.01, 1.0)):
        expected = _brute_lscp(weights, A, target, covered)
        exact = lscp(weights, A, target, covered=covered, solver="exact")
        greedy = lscp(weights, A, target, covered=covered)
        if target > best_share + 1e-12:
            assert expected is None and exact.status == greedy.status == "infeasible"
            continue
        assert expected is not None
        assert exact.status == "optimal" and exact.objective == expected
        assert exact.share_after >= target - 1e-9 and greedy.share_after >= target - 1e-9
        assert greedy.objective >= exact.objective and greedy.n_selected == greedy.objective


def test_lscp_infeasible_and_trivial() -> None:
    A = _matrix(4, [[0, 1], [1, 2]])                            # row 3 is out of reach
    w = np.array([1.0, 1.0, 1.0, 7.0])
    for solver in ("greedy", "exact"):
        res = lscp(w, A, 0.9, solver=solver)
        assert res.status == "infeasible" and np.isnan(res.objective)
        assert res.covered_after == 3 and res.share_after == pytest.approx(0.3)
        assert "unreachable" in res.message and "无法达到" in res.message and "30.0%" in res.message
    # already reached by the existing stations: no new site
    res = lscp(w, A, 0.7, covered=np.array([False, False, False, True]), solver="exact")
    assert res.n_selected == 0 and res.objective == 0 and res.status == "optimal"
    with pytest.raises(ValueError, match="target_share"):
        lscp(w, A, 1.5)


# -- candidates ---------------------------------------------------------------------------------

EXPECTED_OSM = [
    (113.3245, 23.1375, "天河南街道党群服务中心", "党群服务中心", "node", 1, "amenity=community_centre"),
    (113.3260, 23.1380, "中国工商银行体育西路支行", "银行网点", "node", 2, "amenity=bank"),
    (113.3400, 23.1400, "中国石化天河加油站", "加油站", "node", 3, "amenity=fuel"),
    (113.3270, 23.1390, "中国邮政天河营业所", "快递分拣站点", "node", 5, "amenity=post_office"),
    (113.3305, 23.1303, "华润万家超市", "商超", "way", 10, "shop=supermarket"),
    (113.3510, 23.3305, "白云物流园", "物流园区", "way", 20, "landuse=industrial"),
    (113.3620, 23.3405, "太和物流园区", "物流园区", "relation", 30, "landuse=industrial"),
]


def _check_expected(frame: pd.DataFrame, expected: list[tuple]) -> None:
    from yizhan.coverage.candidates import CANDIDATE_COLUMNS

    assert frame.columns.tolist() == list(CANDIDATE_COLUMNS)
    assert len(frame) == len(expected)
    for row, exp in zip(frame.itertuples(index=False), expected):
        assert row.lon == pytest.approx(exp[0], abs=1e-9) and row.lat == pytest.approx(exp[1], abs=1e-9)
        assert (row.name, row.host, row.osm_type, row.osm_id, row.osm_tag) == exp[2:]


def test_candidates_from_hand_made_osm_xml() -> None:
    from yizhan.coverage.candidates import candidates_from_osm

    _check_expected(candidates_from_osm(INPUT / "candidates.osm"), EXPECTED_OSM)
    only = candidates_from_osm(INPUT / "candidates.osm", kinds=["物流园区", "银行"])   # alias 银行 -> 银行网点
    _check_expected(only, [e for e in EXPECTED_OSM if e[3] in ("物流园区", "银行网点")])
    with pytest.raises(ValueError, match="unknown candidate kinds"):
        candidates_from_osm(INPUT / "candidates.osm", kinds=["医院"])
    with pytest.raises(FileNotFoundError):
        candidates_from_osm(INPUT / "missing.osm")


def test_candidates_from_pbf_equal_xml(tmp_path: Path) -> None:
    import osmium

    from yizhan.coverage.candidates import candidates_from_osm

    pbf = tmp_path / "candidates.osm.pbf"
    writer = osmium.SimpleWriter(str(pbf))
    for obj in osmium.FileProcessor(str(INPUT / "candidates.osm")):
        if obj.is_node():
            writer.add_node(obj)
        elif obj.is_way():
            writer.add_way(obj)
        elif obj.is_relation():
            writer.add_relation(obj)
    writer.close()
    _check_expected(candidates_from_osm(pbf), EXPECTED_OSM)


def test_classify_host_rules() -> None:
    from yizhan.coverage.candidates import classify_host

    assert classify_host({"office": "government", "name": "五山街道华工社区居委会"}) == ("党群服务中心", "office=government")
    assert classify_host({"office": "government", "name": "广州市税务局"}) is None
    assert classify_host({"building": "yes", "name": "石牌街党群服务站"}) == ("党群服务中心", "name~党群服务")
    assert classify_host({"shop": "convenience", "name": "美宜佳"}) == ("商超", "shop=convenience")
    assert classify_host({"office": "courier", "name": "顺丰速运"}) == ("快递分拣站点", "office=courier")
    assert classify_host({"shop": "yes", "name": "菜鸟驿站（华景店）"}) == ("快递分拣站点", "name~快递")
    assert classify_host({"building": "warehouse", "name": "京东物流仓"}) == ("物流园区", "building=warehouse")
    assert classify_host({"building": "warehouse"}) is None
    assert classify_host({"industrial": "logistics"}) == ("物流园区", "industrial=logistics")
    assert classify_host({"amenity": "restaurant", "name": "兰州拉面"}) is None


def test_candidates_from_real_helsinki_pois() -> None:
    from yizhan.coverage.candidates import candidates_from_osm

    frame = candidates_from_osm(shared_data("osm/helsinki.osm.pbf"))
    banks = frame[frame["host"] == "银行网点"]
    shops = frame[(frame["host"] == "商超") & (frame["osm_tag"] == "shop=supermarket")]
    assert len(banks) >= 5 and len(shops) >= 3
    assert (banks["name"] != "").all() and (shops["name"] != "").sum() >= 3
    assert frame["lon"].between(24.8, 25.1).all() and frame["lat"].between(60.1, 60.25).all()
    assert set(frame["osm_type"]) <= {"node", "way", "relation"}
    assert not frame.duplicated(["osm_type", "osm_id"]).any()


def test_read_candidates_csv_gbk_and_bad_rows(tmp_path: Path) -> None:
    from yizhan.coverage.candidates import read_candidates

    text = "名称,依托单位,经度,纬度\n天河城,超市,113.3245,23.1375\n工行支行,银行,113.33,23.14\n无名点,,113.34,23.15\n"
    utf8 = tmp_path / "candidates.csv"
    utf8.write_text(text, encoding="utf-8")
    gbk = tmp_path / "candidates_gbk.csv"
    gbk.write_bytes(text.encode("gbk"))
    for path in (utf8, gbk):
        frame = read_candidates(path)
        assert frame.columns.tolist() == ["lon", "lat", "name", "host", "row"]
        assert frame["name"].tolist() == ["天河城", "工行支行", "无名点"]
        assert frame["host"].tolist() == ["商超", "银行网点", ""]
        assert frame["lon"].tolist() == [113.3245, 113.33, 113.34]
        assert frame["row"].tolist() == [2, 3, 4]
    # GCJ-02 input is converted to WGS-84 (a few hundred metres in Guangzhou)
    shifted = read_candidates(utf8, crs="gcj02")
    moved = haversine_m(shifted["lon"], shifted["lat"], frame["lon"], frame["lat"])
    assert (moved > 100).all() and (moved < 1000).all()

    bad = tmp_path / "bad.csv"
    bad.write_text("name,lon,lat\nA,113.3,23.1\nB,abc,23.1\nC,23.1,113.3\nD,,23.2\n", encoding="utf-8")
    with pytest.raises(ImportValidationError) as info:
        read_candidates(bad)
    found = {(p.row, p.column, p.code) for p in info.value.problems}
    assert found == {(3, "lon", "not_number"), (4, "lat", "swapped"), (5, "lon", "missing_coord")}
    assert "第 3 行" in info.value.report() and "row 4" in info.value.report()

    no_coords = tmp_path / "no_coords.csv"
    no_coords.write_text("名称,地址\n天河城,天河路\n", encoding="utf-8")
    with pytest.raises(ImportValidationError, match="missing column 'lon'"):
        read_candidates(no_coords)


def test_siting_module_has_no_dense_fallback() -> None:
    """The public API refuses dense matrices (they would not scale to a province)."""
    assert "coverage_matrix" in siting.__all__
    with pytest.raises(TypeError, match="sparse"):
        lscp(np.ones(2), np.eye(2), 0.5)
