"""The analysis on Dask equals the single-machine path: on a LocalCluster of two worker processes and
on a real ``dask scheduler`` with two ``dask worker`` processes started here on loopback.

Inputs: the embedded Guangzhou sample hotspots split into hive-partitioned Parquet (and CSV)
files, and a hand-built case whose blind zone crosses bucket borders, checked against an
independent computation (h3-py per point, brute-force haversine, networkx components).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import h3
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from yizhan.coverage import aggregate, analyze, coverage_by_hour, read_hotspots
from yizhan.coverage.cluster import analyze_on_cluster, bucket_of, connect
from yizhan.geodata.sphere import haversine_m
from yizhan.stations import ImportValidationError, model

INPUT = Path(__file__).resolve().parent / "input_data"
GROUP = "外卖配送员"


# -- clusters -------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask_command() -> list[str]:
    """The venv's ``dask`` entry point (installed with distributed)."""
    exe = Path(sys.executable).with_name("dask")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "dask"]


@pytest.fixture(scope="module")
def local_client():
    """A distributed.LocalCluster of two worker processes (one thread each)."""
    with connect("local", workers=2, threads_per_worker=1) as client:
        yield client


@pytest.fixture(scope="module")
def tcp_address(tmp_path_factory):
    """A real ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1 (stopped afterwards)."""
    folder = tmp_path_factory.mktemp("dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    procs = [subprocess.Popen([*_dask_command(), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=open(folder / "scheduler.log", "w"),
                              cwd=folder, env=env)]
    for i in range(2):
        procs.append(subprocess.Popen([*_dask_command(), "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                                       "--no-dashboard", "--local-directory", str(folder / f"w{i}")],
                                      stdout=subprocess.DEVNULL, stderr=open(folder / f"worker{i}.log", "w"),
                                      cwd=folder, env=env))
    try:
        from distributed import Client

        deadline = time.monotonic() + 90
        while True:
            try:
                with Client(address, timeout="5s") as c:
                    c.wait_for_workers(2, timeout=60)
                    break
            except OSError:
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture(scope="module")
def tcp_client(tcp_address):
    with connect(tcp_address, workers=2) as client:
        yield client


@pytest.fixture(params=["local", "tcp"])
def client(request):
    """Each test runs on both clusters."""
    return request.getfixturevalue(f"{request.param}_client")


# -- inputs ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample_stations(tmp_path_factory) -> pd.DataFrame:
    """The Guangzhou sample stations as the registry returns them."""
    from yizhan.samples import load_sample
    from yizhan.stations.storage import Registry

    home = tmp_path_factory.mktemp("home")
    registry = Registry(f"sqlite:///{home / 'yizhan.sqlite'}")
    load_sample(registry, home)
    return registry.stations()


@pytest.fixture(scope="module")
def hive(tmp_path_factory) -> Path:
    """The Guangzhou sample hotspots in hive folders date=…/, three Parquet files each, with small row groups."""
    from yizhan.samples.guangzhou import generate_hotspots

    root = tmp_path_factory.mktemp("hive")
    hot = generate_hotspots()
    days = np.array(["2026-11-01", "2026-11-02", "2026-11-03"])[np.arange(len(hot)) % 3]
    for day in np.unique(days):
        folder = root / f"date={day}"
        folder.mkdir()
        part = hot[days == day]
        for i in range(3):
            part.iloc[i::3].to_parquet(folder / f"part-{i}.parquet", index=False, row_group_size=4000)
    (root / "_SUCCESS").write_text("")
    (root / "date=2026-11-01" / ".part-0.parquet.crc").write_text("x")
    return root


def _single(stations, source, **kw):
    hourly = kw.pop("hourly", False)
    points = read_hotspots(str(source), crs=kw.pop("crs", "wgs84"), skip_bad_rows=kw.pop("skip_bad_rows", False))
    demand = aggregate(points, kw.pop("res", 9))
    result = analyze(stations, demand, **kw)
    table = coverage_by_hour(stations, demand, metric=kw.get("metric", "great-circle"), group=kw.get("group"),
                             threshold_m=kw.get("threshold_m"), network=kw.get("network")) if hourly else None
    return result, table, points


def _assert_same(a, b, *, exact: bool = True) -> None:
    """Cells, blank spots, blind zones (outlines too), districts without stations, summary and params."""
    for name in ("cells", "blank_spots", "admin_blind_zones", "summary"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=exact, rtol=1e-12)
    za, zb = pd.DataFrame(a.blind_zones), pd.DataFrame(b.blind_zones)
    pd.testing.assert_frame_equal(za.drop(columns="geometry"), zb.drop(columns="geometry"), check_exact=exact,
                                  rtol=1e-12)
    assert shapely.equals_exact(za["geometry"].to_numpy(), zb["geometry"].to_numpy(), tolerance=0).all()
    assert a.params == b.params


# -- the sample: identical results ------------------------------------------------------------------------------
def test_sample_on_dask_equals_single_machine(client, sample_stations, hive) -> None:
    single, single_hourly, points = _single(sample_stations, hive, group=GROUP, hourly=True)
    assert len(points) == 60_000 and points.attrs["partitions"] == 9           # _SUCCESS and .crc ignored
    run = analyze_on_cluster(client, str(hive), sample_stations, group=GROUP, hourly=True,
                             rows_per_partition=4000)
    _assert_same(single, run.result)
    pd.testing.assert_frame_equal(single_hourly, run.hourly, check_exact=True)
    assert run.info["partitions"] > 9                  # files were split at row-group borders
    assert run.info["input_rows"] == 60_000 and run.info["workers"] == 2
    assert len(single.blind_zones) > 100 and single.cells["covered"].any() and not single.cells["covered"].all()
    # against the input itself: every point counted once, demand = sum of the group's weights
    raw = pd.concat([pd.read_parquet(f) for f in sorted(hive.rglob("part-*.parquet"))])
    mine = raw["group"].isin([GROUP, ""])
    assert run.result.cells["points"].sum() == mine.sum()
    assert run.result.cells["demand"].sum() == raw.loc[mine, "weight"].sum()


def test_hour_and_glob_on_dask(client, sample_stations, hive) -> None:
    """A glob (with hive folders still read as columns) and one hour of the day."""
    pattern = f"file://{hive}/date=2026-11-0[12]/*.parquet"
    single, _, points = _single(sample_stations, pattern, group="快递员", hour=10)
    assert len(points) == 40_000
    run = analyze_on_cluster(client, pattern, sample_stations, group="快递员", hour=10)
    _assert_same(single, run.result)
    assert run.info["input_rows"] == 40_000


# -- the hand-built case -------------------------------------------------------------------------------------------
def _crossing_zone(buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """A line of res-9 cells across a res-5 parent border whose two sides fall in different buckets,
    and the cells of a covered neighbourhood around a station."""
    start = h3.latlng_to_cell(23.30, 113.55, 9)
    for target_lat in np.arange(23.31, 23.60, 0.01):
        end = h3.latlng_to_cell(float(target_lat), 113.55, 9)
        line = np.array([h3.str_to_int(c) for c in h3.grid_path_cells(start, end)], dtype=np.uint64)
        if len(set(bucket_of(line, buckets).tolist())) >= 2:
            return line, np.array([h3.str_to_int(c) for c in h3.grid_disk(h3.latlng_to_cell(23.10, 113.30, 9), 2)],
                                  dtype=np.uint64)
    raise AssertionError("no crossing line found")


def _hand_built(folder: Path, buckets: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    line, near = _crossing_zone(buckets)
    rng = np.random.default_rng(11)
    cells = np.concatenate([np.repeat(line, 3), np.repeat(near, 2)])
    lat_lng = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells])
    lon = lat_lng[:, 1] + rng.uniform(-2e-4, 2e-4, len(cells))
    lat = lat_lng[:, 0] + rng.uniform(-2e-4, 2e-4, len(cells))
    groups = rng.choice(["外卖配送员", "骑手", "快递员", ""], size=len(cells))
    frame = pd.DataFrame({"经度": lon.round(7), "纬度": lat.round(7), "权重": rng.choice([0.25, 0.5, 1.5, 2.0], len(cells)),
                          "时间": [f"2026-11-02T{h:02d}:15:00+08:00" for h in rng.integers(0, 24, len(cells))],
                          "人群": groups})
    for i in range(3):     # three CSV files in hive folders, one with a BOM
        sub = folder / f"region=r{i}"
        sub.mkdir(parents=True)
        text = frame.iloc[i::3].to_csv(index=False)
        (sub / "part.csv").write_bytes((b"\xef\xbb\xbf" if i == 1 else b"") + text.encode("utf-8"))
    stations = model.empty_frame().reindex(range(2))
    stations["id"] = ["A", "B"]
    stations["name"] = ["站A", "站B"]
    stations["type"] = "工会爱心驿站"
    stations["groups"] = model.SEP.join(model.GROUPS)
    stations["status"] = "在运营"
    stations["lon"], stations["lat"] = [113.3001, 113.3400], [23.1001, 23.1200]
    for c in ("hours", "services", "address", "adcode", "host", "phone", "source", "updated_at", "orig_crs"):
        stations[c] = ""
    return frame, stations


def test_hand_built_case_against_independent_computation(client, tmp_path) -> None:
    buckets = 8
    frame, stations = _hand_built(tmp_path / "in", buckets)
    run = analyze_on_cluster(client, str(tmp_path / "in"), stations, group=GROUP, buckets=buckets)
    single, _, _ = _single(stations, tmp_path / "in", group=GROUP)
    _assert_same(single, run.result, exact=False)      # fractional weights: sums within rounding
    cells = run.result.cells
    # independent: h3-py per point, brute-force haversine, networkx components
    mine = frame[frame["人群"].isin(["外卖配送员", "骑手", ""])]
    ids = [h3.latlng_to_cell(la, lo, 9) for lo, la in zip(mine["经度"], mine["纬度"])]
    expected = mine.assign(h3=ids).groupby("h3")["权重"].sum()
    got = cells.set_index("h3")["demand"]
    assert sorted(got.index) == sorted(expected.index)
    np.testing.assert_allclose(got.reindex(expected.index), expected, rtol=1e-12)
    dist = haversine_m(cells["lon"].to_numpy()[:, None], cells["lat"].to_numpy()[:, None],
                       stations["lon"].to_numpy()[None], stations["lat"].to_numpy()[None]).min(axis=1)
    np.testing.assert_allclose(cells["distance_m"], dist, rtol=1e-9)
    assert (cells["covered"] == (dist <= 1000)).all()
    graph = nx.Graph()
    uncovered = set(cells.loc[~cells["covered"], "h3"])
    graph.add_nodes_from(uncovered)
    graph.add_edges_from((a, b) for a in uncovered for b in h3.grid_ring(a, 1) if b in uncovered)
    components = list(nx.connected_components(graph))
    assert len(run.result.blind_zones) == len(components) == 1
    zone_cells = np.array([h3.str_to_int(c) for c in components[0]], dtype=np.uint64)
    assert len(zone_cells) > 20
    assert len(set(bucket_of(zone_cells, buckets).tolist())) >= 2       # the zone crosses buckets ...
    assert (cells.loc[~cells["covered"], "zone"] == 1).all()            # ... and is one zone
    assert run.result.blind_zones["n_cells"].iloc[0] == len(zone_cells)


def test_grid_and_network_metrics_on_dask(client, tmp_path) -> None:
    """The client-side metrics after the distributed reduction (tiny Shanghai network)."""
    from yizhan.geodata.roads import load_network

    rng = np.random.default_rng(3)
    folder = tmp_path / "sh"
    for i in range(2):
        (folder / f"day={i}").mkdir(parents=True)
        pd.DataFrame({"lon": rng.uniform(121.4695, 121.4735, 300), "lat": rng.uniform(31.1985, 31.2025, 300),
                      "weight": rng.integers(1, 4, 300)}).to_parquet(folder / f"day={i}" / "p.parquet")
    stations = model.empty_frame().reindex(range(1))
    stations["id"], stations["name"], stations["type"] = ["S"], ["站"], "工会爱心驿站"
    stations["groups"], stations["status"] = model.SEP.join(model.GROUPS), "在运营"
    stations["lon"], stations["lat"] = [121.4700], [31.1990]
    for c in ("hours", "services", "address", "adcode", "host", "phone", "source", "updated_at", "orig_crs"):
        stations[c] = ""
    network = load_network(INPUT / "tiny_roads.osm", mode="walk", cache_dir=tmp_path / "cache")
    for metric, extra in (("grid", {"threshold_m": 300}), ("network", {"threshold_m": 250, "network": network})):
        single, table, _ = _single(stations, folder, res=11, metric=metric, hourly=True, **extra)
        run = analyze_on_cluster(client, str(folder), stations, res=11, metric=metric, hourly=True, **extra)
        _assert_same(single, run.result)
        pd.testing.assert_frame_equal(table, run.hourly, check_exact=True)
        assert single.cells["covered"].any() and not single.cells["covered"].all()


# -- problems are reported as on one machine -------------------------------------------------------------------------
def test_bad_rows_name_file_and_row_on_both_engines(local_client, sample_stations, tmp_path) -> None:
    folder = tmp_path / "bad"
    for day, rows in (("01", "113.3,23.1,1\n113.31,23.11,2\n"), ("02", "113.3,23.1,1\n23.1,113.3,1\n113.3,,1\n")):
        (folder / f"date=2026-11-{day}").mkdir(parents=True)
        (folder / f"date=2026-11-{day}" / "a.csv").write_text("lon,lat,weight\n" + rows)
    with pytest.raises(ImportValidationError) as one:
        read_hotspots(str(folder))
    with pytest.raises(ImportValidationError) as dask_run:
        analyze_on_cluster(local_client, str(folder), sample_stations)
    assert [p.as_dict() for p in one.value.problems] == [p.as_dict() for p in dask_run.value.problems]
    assert sorted((p.row, p.code) for p in one.value.problems) == [(3, "swapped"), (4, "bad_coord")]
    assert "文件 date=2026-11-02/a.csv" in one.value.report() and "file date=2026-11-02/a.csv" in one.value.report()
    single, _, _ = _single(sample_stations, folder, skip_bad_rows=True)
    run = analyze_on_cluster(local_client, str(folder), sample_stations, skip_bad_rows=True)
    _assert_same(single, run.result)
    assert run.info["n_skipped"] == 2 and run.info["points"] == 3
    with pytest.raises(ImportValidationError, match="no Parquet/CSV hotspot files match"):
        analyze_on_cluster(local_client, str(tmp_path / "nothing-*.parquet"), sample_stations)
    with pytest.raises(ImportValidationError, match="no Parquet/CSV hotspot files match"):
        read_hotspots(str(tmp_path / "nothing-*.parquet"))


def test_aggregated_h3_files_on_dask(local_client, sample_stations, hive, tmp_path) -> None:
    """Files of h3 + weight (finer cells than the analysis) give the same answer on both engines."""
    points = pd.concat([pd.read_parquet(f) for f in sorted(hive.rglob("part-*.parquet"))], ignore_index=True)
    points = points[points["group"] == GROUP]
    cells = [h3.latlng_to_cell(la, lo, 10) for lo, la in zip(points["lon"], points["lat"])]
    table = points.assign(h3=cells).groupby("h3", as_index=False)["weight"].sum()
    for i in range(2):
        (tmp_path / f"part={i}").mkdir()
        table.iloc[i::2].to_parquet(tmp_path / f"part={i}" / "cells.parquet", index=False)
    single, _, _ = _single(sample_stations, tmp_path, group=GROUP)
    run = analyze_on_cluster(local_client, str(tmp_path), sample_stations, group=GROUP)
    _assert_same(single, run.result)
    assert run.result.cells["demand"].sum() == table["weight"].sum()


# -- the command line ------------------------------------------------------------------------------------------------
def _cli(home: Path, *args: str):
    from yizhan.cli import main

    result = CliRunner().invoke(main, ["--home", str(home), *args], catch_exceptions=False)
    return result


def _outputs_equal(a: Path, b: Path) -> None:
    for name in ("summary.csv", "blank_spots.geojson", "blind_zones.geojson", "hourly.csv", "params.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    for name in ("cells.parquet", "blank_spots.parquet", "blind_zones.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(a / name), pd.read_parquet(b / name), check_exact=True)
    for sheet in ("区县汇总", "空白点", "盲区", "无站点区县", "分时覆盖"):
        pd.testing.assert_frame_equal(pd.read_excel(a / "summary.xlsx", sheet_name=sheet),
                                      pd.read_excel(b / "summary.xlsx", sheet_name=sheet), check_exact=True)


def test_cli_analyze_and_site_on_dask_write_the_same_outputs(tcp_address, hive, tmp_path) -> None:
    home = tmp_path / "home"
    assert _cli(home, "demo").exit_code == 0
    common = ["analyze", "--hotspots", str(hive), "--group", GROUP, "--hourly", "--quiet"]
    one = _cli(home, *common, "--out", str(tmp_path / "single"))
    assert one.exit_code == 0, one.output
    tcp = _cli(home, *common, "--out", str(tmp_path / "tcp"), "--scheduler", tcp_address, "--workers", "2")
    assert tcp.exit_code == 0, tcp.output
    local = _cli(home, *common, "--out", str(tmp_path / "local"), "--scheduler", "local", "--workers", "2")
    assert local.exit_code == 0, local.output
    assert one.output.replace("single", "X") == tcp.output.replace("tcp", "X") == local.output.replace("local", "X")
    _outputs_equal(tmp_path / "single", tmp_path / "tcp")
    _outputs_equal(tmp_path / "single", tmp_path / "local")
    runs = {k: json.loads((tmp_path / k / "run.json").read_text()) for k in ("single", "tcp", "local")}
    assert runs["single"]["engine"] == "single" and runs["single"]["scheduler"] is None
    assert runs["single"]["partitions"] == 9 and runs["single"]["input_rows"] == 60_000
    assert set(runs["single"]["steps"]) == {"read", "aggregate", "coverage", "hourly", "outputs"}
    for key, scheduler in (("tcp", tcp_address), ("local", "local")):
        run = runs[key]
        assert run["engine"] == "dask" and run["scheduler"] == scheduler and run["workers"] == 2
        assert run["partitions"] == 9 and run["input_rows"] == 60_000 and run["points"] == 60_000
        assert {"read_aggregate", "cells", "zones_summary", "outputs"} <= set(run["steps"])
        assert len(run["peak_rss_mib"]["workers"]) == 2 and run["peak_rss_mib"]["client"] > 0
    # the real cluster's scheduler and workers are processes of their own
    pids = runs["tcp"]["peak_rss_mib"]["pids"]
    assert len({pids["client"], pids["scheduler"], *pids["workers"].values()}) == 4
    # site: the same plan with the demand step on Dask
    args = ["site", "--hotspots", str(hive), "--group", GROUP, "--k", "3", "--json"]
    plan_single = _cli(home, *args)
    plan_dask = _cli(home, *args, "--scheduler", tcp_address)
    assert plan_single.exit_code == plan_dask.exit_code == 0
    assert json.loads(plan_single.output) == json.loads(plan_dask.output)


def test_cli_usage_errors(tmp_path) -> None:
    home = tmp_path / "home"
    bad = _cli(home, "analyze", "--hotspots", "x.csv", "--out", str(tmp_path / "o"), "--workers", "2")
    assert bad.exit_code == 2 and "--workers needs --scheduler" in bad.output
    bad = _cli(home, "analyze", "--hotspots", "x.csv", "--out", str(tmp_path / "o"), "--scheduler", "nowhere")
    assert bad.exit_code == 2 and "--scheduler must be" in bad.output
    bad = _cli(home, "analyze", "--hotspots", "x.csv", "--out", str(tmp_path / "o"), "--storage-options", "[1]")
    assert bad.exit_code == 2 and "JSON object" in bad.output
    shutil.rmtree(home, ignore_errors=True)
